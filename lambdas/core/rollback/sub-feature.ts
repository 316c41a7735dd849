import { METRICS } from '../contract';
import { ConflictError, FlagWriteError, RefusedError } from '../errors';
import { subFeatureOffValues } from '../flags/flags';
import { notifySafely } from '../ports';
import { subFeatureRolledBack, type Actor, type RolloutState } from '../rollout/rollout-state';
import {
  continuationRequest,
  MAX_ROLLBACK_CONTINUATIONS,
  TIME_TO_SAFE_DIMENSIONS,
  writeSafeValues,
  type RollbackPorts,
  type RollbackTargetResult,
} from './rollback';

/**
 * Rolling back one sub-feature alone (its LLM daily cost passed the hard limit), with the same deadlines, follow-ups
 * and posts as a whole rollback.
 */

/** The outcome of {@link rollBackSubFeature}. */
export interface SubFeatureRollbackOutcome {
  readonly feature: string;
  readonly subFeature: string;
  readonly status: 'ROLLED_BACK' | 'ALREADY_OFF' | 'NOT_ACTIVE' | 'IN_PROGRESS';
  readonly flags: Readonly<Record<string, string>>;
  readonly targets: readonly RollbackTargetResult[];
  readonly timeToSafeMs?: number;
}

/**
 * Roll back one sub-feature only (its LLM daily cost passed the hard limit): record it as off with a conditional
 * write (so every later phase keeps it off), then write its flags off on every target in parallel. The rest of the
 * feature, and the execution, go on where they are. Bounded by `input.deadline` and continued like {@link rollBack}.
 * A target that cannot be written is announced loudly, audited, and thrown as a {@link FlagWriteError}; the
 * sub-feature stays recorded as off, so the next phase writes it off again.
 */
export async function rollBackSubFeature(
  ports: RollbackPorts,
  input: {
    feature: string;
    subFeature: string;
    actor: Actor;
    reason: string;
    receivedAt?: Date;
    trigger?: Record<string, unknown>;
    deadline?: Date;
    /** 0 for the first attempt, n for the n-th follow-up (the sub-feature is recorded off already). @default 0 */
    attempt?: number;
    /** A follow-up only continues the rollback of this execution's rollout. */
    executionId?: string;
  },
): Promise<SubFeatureRollbackOutcome> {
  const { store, clock } = ports;
  const receivedAt = input.receivedAt ?? clock.now();
  const attempt = input.attempt ?? 0;
  let state: RolloutState | undefined;
  for (let tries = 0; ; tries++) {
    state = await store.getState(input.feature);
    if (!state) throw new RefusedError('NOT_FOUND', `feature "${input.feature}" has no rollout`);
    const off = subFeatureOffValues(state.plan, input.subFeature);
    if (input.executionId !== undefined && state.executionId !== input.executionId) {
      return { feature: input.feature, subFeature: input.subFeature, status: 'NOT_ACTIVE', flags: off, targets: [] };
    }
    if (attempt > 0 && state.subFeaturesOff?.includes(input.subFeature)) break;
    if (state.status !== 'RUNNING' && state.status !== 'AWAITING_APPROVAL') {
      return { feature: input.feature, subFeature: input.subFeature, status: 'NOT_ACTIVE', flags: off, targets: [] };
    }
    const t = subFeatureRolledBack(state, input.subFeature, clock.now().toISOString(), input.actor, input.reason, input.trigger ? { trigger: input.trigger } : undefined);
    if (!t) return { feature: input.feature, subFeature: input.subFeature, status: 'ALREADY_OFF', flags: off, targets: [] };
    try {
      // Race prevented: a phase step or an approval writing the same version. Recording the sub-feature as off first
      // means any apply that reads the state from now on leaves it off (and one already writing re-checks after).
      await store.saveTransition(state, t);
      state = t.next;
      break;
    } catch (err) {
      if (!(err instanceof ConflictError) || tries >= 9) throw err;
    }
  }
  const off = subFeatureOffValues(state.plan, input.subFeature);
  const { safeAt, elapsedMs, targets, failed, pending, safeTargets } = await writeSafeValues(ports, state.plan, off, input.deadline, receivedAt);
  const phase = state.plan.phases[state.phaseIndex]?.name ?? null;
  const unsafe = [...failed, ...pending];
  const continuing = pending.length > 0 && ports.continuation !== undefined && attempt < MAX_ROLLBACK_CONTINUATIONS;

  if (continuing && failed.length === 0) {
    const pendingTargets = pending.map((p) => ({ functionName: p.functionName, error: p.error ?? 'unknown' }));
    await store.appendAudit({
      feature: state.feature,
      at: safeAt.toISOString(),
      actor: input.actor,
      action: 'rollback-in-progress',
      executionId: state.executionId,
      fromPhase: phase,
      toPhase: phase,
      key: `sub-${input.subFeature}-${attempt}`,
      message: `sub-feature ${input.subFeature} is off on ${safeTargets.length} of ${targets.length} targets; still working on ${pending.map((p) => p.functionName).join(', ')}`,
      detail: { subFeature: input.subFeature, targets, attempt, elapsedMs },
    });
    if (attempt === 0) {
      await notifySafely(ports.notifier, {
        kind: 'rollback-in-progress',
        feature: state.feature,
        stage: state.stage,
        executionId: state.executionId,
        reason: input.reason,
        by: input.actor,
        safeTargets,
        pendingTargets,
        subFeature: input.subFeature,
        elapsedMs,
      });
    }
    await ports.continuation!.continueRollback(
      continuationRequest(state, { feature: input.feature, actor: input.actor, reason: input.reason, trigger: input.trigger }, attempt + 1, receivedAt, input.subFeature),
    );
    return { feature: input.feature, subFeature: input.subFeature, status: 'IN_PROGRESS', flags: off, targets };
  }

  await store.appendAudit({
    feature: state.feature,
    at: safeAt.toISOString(),
    actor: input.actor,
    action: unsafe.length === 0 ? 'sub-feature-rolled-back' : 'rollback-failed',
    executionId: state.executionId,
    fromPhase: phase,
    toPhase: phase,
    message:
      unsafe.length === 0
        ? `sub-feature ${input.subFeature} is off on every target (${elapsedMs} ms after the trigger)`
        : `ROLLBACK FAILED for sub-feature ${input.subFeature} of ${state.feature}: could not write ${unsafe.map((f) => `${f.functionName} (${f.error ?? 'unknown'})`).join(', ')}`,
    detail: { subFeature: input.subFeature, targets, attempt, ...(unsafe.length === 0 ? { timeToSafeMs: elapsedMs } : {}) },
  });
  if (unsafe.length > 0) {
    await notifySafely(ports.notifier, {
      kind: 'rollback-failed',
      feature: state.feature,
      stage: state.stage,
      executionId: state.executionId,
      reason: `sub-feature ${input.subFeature}: ${input.reason}`,
      failedTargets: unsafe.map((f) => ({ functionName: f.functionName, error: f.error ?? 'unknown' })),
      safeTargets,
      subFeature: input.subFeature,
    });
    if (continuing) {
      await ports.continuation!.continueRollback(
        continuationRequest(state, { feature: input.feature, actor: input.actor, reason: input.reason, trigger: input.trigger }, attempt + 1, receivedAt, input.subFeature),
      );
    }
    throw new FlagWriteError(
      `ROLLBACK FAILED for sub-feature ${input.subFeature} of ${input.feature}: ${unsafe.map((f) => `${f.functionName} (${f.error ?? 'unknown'})`).join(', ')} still serve it`,
      unsafe.map((f) => ({ functionName: f.functionName, error: f.error ?? 'unknown' })),
    );
  }
  ports.metricSink?.put({
    name: METRICS.timeToSafeMs,
    value: elapsedMs,
    unit: 'Milliseconds',
    dimensions: { ...TIME_TO_SAFE_DIMENSIONS(state), [METRICS.dimensions.subFeature]: input.subFeature },
    at: safeAt,
  });
  await notifySafely(ports.notifier, {
    kind: 'rolled-back',
    feature: state.feature,
    stage: state.stage,
    executionId: state.executionId,
    reason: `${input.reason} (only sub-feature ${input.subFeature}; the rest of ${state.feature} stays in phase ${phase ?? '(starting)'})`,
    by: input.actor,
    targets,
    subFeature: input.subFeature,
    timeToSafeMs: elapsedMs,
  });
  return { feature: input.feature, subFeature: input.subFeature, status: 'ROLLED_BACK', flags: off, targets, timeToSafeMs: elapsedMs };
}
