import { METRICS } from '../contract';
import { ConflictError, FlagWriteError, RefusedError } from '../errors';
import { offFlagValues, safeFlagValues } from '../flags/flags';
import {
  notifySafely,
  type Clock,
  type ExecutionStopper,
  type FlagWriteReport,
  type FlagWriter,
  type MetricSink,
  type Notifier,
  type RolloutStore,
  type TaskTokens,
} from '../ports';
import {
  rollbackFinished,
  rollbackProgressed,
  rollbackStarted,
  type Actor,
  type RolloutState,
} from '../rollout/rollout-state';
import type { Plan } from '../plan/schema';

/**
 * Rollback: every target of a feature (or one sub-feature's flags) back to the safe values, recorded with conditional
 * writes, announced in the channel, bounded by a deadline and continued in a follow-up until every target is safe or a
 * person has been told it cannot be.
 */

/** What {@link rollBack} needs. */
export interface RollbackPorts {
  readonly store: RolloutStore;
  readonly flags: FlagWriter;
  readonly clock: Clock;
  readonly notifier?: Notifier;
  /** Fails a pending approval's task token, so the execution leaves its wait. @default - not settled */
  readonly tokens?: TaskTokens;
  /** Stops the execution when no approval token can end it. @default - not stopped */
  readonly stopper?: ExecutionStopper;
  /** Where time-to-safe is published (EMF). @default - not published */
  readonly metricSink?: MetricSink;
  /**
   * Continues a rollback that reached its deadline with targets not yet safe (an asynchronous invocation of the
   * rollback worker). @default - none: a deadline with targets pending is recorded as ROLLBACK_FAILED
   */
  readonly continuation?: RollbackContinuation;
}

/** The event that continues a rollback in a fresh invocation. */
export interface RollbackContinuationRequest {
  readonly kind: typeof ROLLBACK_CONTINUATION_KIND;
  readonly feature: string;
  /** The rollout execution whose rollback this continues: a newer rollout is never touched. */
  readonly executionId: string;
  /** Set for a sub-feature (LLM cost) rollback. */
  readonly subFeature?: string;
  /** 1 for the first follow-up. */
  readonly attempt: number;
  /** When the trigger arrived (ISO 8601): time-to-safe still counts from here. */
  readonly receivedAt: string;
  readonly reason: string;
  readonly actor: Actor;
  readonly trigger?: Record<string, unknown>;
}

/** `kind` of a {@link RollbackContinuationRequest}. */
export const ROLLBACK_CONTINUATION_KIND = 'phasegate.rollback-continuation';

/** Hands a rollback's remaining work to a fresh invocation. */
export interface RollbackContinuation {
  continueRollback(request: RollbackContinuationRequest): Promise<void>;
}

/**
 * Follow-ups after the first attempt before targets still not safe are declared failed. Each attempt runs until its
 * invocation's deadline (minutes), so this is about half an hour of trying.
 */
export const MAX_ROLLBACK_CONTINUATIONS = 6;

/** How a rollback from outside the state machine ended the rollout's execution. */
export type ExecutionSettlement = 'token-failed' | 'stopped' | 'left-running';

/** One target's outcome in a rollback. */
export interface RollbackTargetResult {
  readonly functionName: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
  /** Not safe yet, still being worked on by a follow-up. */
  readonly pending?: boolean;
}

/** The outcome of a rollback. */
export interface RollbackOutcome {
  readonly feature: string;
  /** IN_PROGRESS: the deadline came with targets not yet safe; a follow-up continues the work. */
  readonly status: 'ROLLED_BACK' | 'ALREADY_ROLLED_BACK' | 'IN_PROGRESS';
  readonly safeFlags: Readonly<Record<string, string>>;
  readonly targets: readonly RollbackTargetResult[];
  /** Milliseconds spent writing the flags in this attempt. */
  readonly ms: number;
  /** Milliseconds from `receivedAt` (the trigger) until every target served the safe flags. */
  readonly timeToSafeMs?: number;
  /** What happened to the execution, for a rollback from outside the state machine. */
  readonly execution?: ExecutionSettlement;
}

/** What started a rollback: a person, an alarm, the state machine, or a follow-up of an earlier attempt. */
export interface RollbackInput {
  readonly feature: string;
  readonly actor: Actor;
  readonly reason: string;
  /** Set by the state machine's own `Roll back` step and by follow-ups: only that execution's rollout is rolled back. */
  readonly executionId?: string;
  /** When the trigger arrived (the alarm event was received): time-to-safe counts from here. @default - now */
  readonly receivedAt?: Date;
  /** Facts about the trigger for the audit trail (the alarm, its reason). */
  readonly trigger?: Record<string, unknown>;
  /**
   * The state the caller just read, to save a read on the path to safety. Only a starting point: the conditional
   * write still fails (and is retried with a fresh read) if the state moved on since.
   */
  readonly knownState?: RolloutState;
  /**
   * The phase the trigger was checked against (an alarm watching that phase). With `rollback.to: previous-phase` the
   * safe values never land on this phase or a later one, even if an approval moved the rollout on meanwhile.
   */
  readonly triggerPhaseIndex?: number;
  /** Stop writing here (the invocation's remaining time less a margin) and record what is safe and what is not. */
  readonly deadline?: Date;
  /** 0 for the first attempt, n for the n-th follow-up. @default 0 */
  readonly attempt?: number;
  /**
   * Whether this rollback ends the rollout's execution (fails its pending approval or stops it). The state machine's
   * own `Roll back` step ends its execution itself. @default - true unless `executionId` is set (the state machine)
   */
  readonly endsExecution?: boolean;
}

/** The error an execution ends with when a rollback from outside took its rollout (the state machine's `Rolled back`). */
export const ROLLED_BACK_ERROR = 'PhasegateRolledBack';

/** The dimensions of the time-to-safe metric of a rollout. */
export const TIME_TO_SAFE_DIMENSIONS = (state: RolloutState): Record<string, string> => ({
  [METRICS.dimensions.feature]: state.feature,
  [METRICS.dimensions.stage]: state.stage,
});

/** The safe values of a rollout: bounded by the phase the trigger was checked against. */
function safeValuesOf(state: RolloutState, triggerPhaseIndex: number | undefined): Record<string, string> {
  const phase = triggerPhaseIndex === undefined ? state.phaseIndex : Math.min(state.phaseIndex, triggerPhaseIndex);
  return safeFlagValues(state.plan, Math.max(phase, 0), { subFeaturesOff: state.subFeaturesOff });
}

/** The variables of `values` that hold their off value: a target without them is already safe for them. */
export function absentIsSafe(plan: Plan, values: Readonly<Record<string, string>>): string[] {
  const off = offFlagValues(plan);
  return Object.keys(values).filter((name) => off[name] !== undefined && off[name] === values[name]);
}

/**
 * Write safe values to every target of the plan, bounded by the deadline, and sort the targets into safe, failed (no
 * retry fixes it) and pending (not done by the deadline).
 */
export async function writeSafeValues(ports: RollbackPorts, plan: Plan, values: Readonly<Record<string, string>>, deadline: Date | undefined, receivedAt: Date) {
  const report = await ports.flags.forceAll(plan.targets, values, { ...(deadline ? { deadline } : {}), absentIsSafe: absentIsSafe(plan, values) });
  const safeAt = ports.clock.now();
  const elapsedMs = Math.max(0, safeAt.getTime() - receivedAt.getTime());
  const split = splitResults(report);
  return { report, safeAt, elapsedMs, ...split, safeTargets: split.targets.filter((t) => t.ok).map((t) => t.functionName) };
}

function splitResults(report: FlagWriteReport): { targets: RollbackTargetResult[]; failed: RollbackTargetResult[]; pending: RollbackTargetResult[] } {
  const targets = report.results.map((r) => ({
    functionName: r.functionName,
    ok: r.ok,
    ms: r.ms,
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.ok ? {} : { pending: r.pending === true }),
  }));
  return { targets, failed: targets.filter((t) => !t.ok && !t.pending), pending: targets.filter((t) => !t.ok && t.pending) };
}

/**
 * Put every target of the feature back into the safe state, in parallel, and record it. Wins every race: it
 * re-reads and retries its transition until it lands, and an approval decided at the same moment loses (its
 * transition is conditional on the version the rollback already changed). A rollback from outside the state
 * machine (an alarm, a person) then ends the execution: it fails the pending approval's task token, or stops the
 * execution.
 *
 * Bounded by `input.deadline`: targets not safe by then are recorded (the rollout stays ROLLING_BACK, the channel is
 * told after the first deadline) and the work goes to {@link RollbackPorts.continuation}, until every target is safe
 * or, after {@link MAX_ROLLBACK_CONTINUATIONS} follow-ups, ROLLBACK_FAILED names each target and its last error. A
 * target that no retry can fix (no permission, no such function) marks ROLLBACK_FAILED at once, is announced loudly
 * and thrown as a {@link FlagWriteError}. The recorded status follows the targets: a later attempt that makes every
 * target safe records ROLLED_BACK, also after ROLLBACK_FAILED. A feature already rolled back is left as it is, but its
 * wrap-up (the audit event, the open approval) is finished if an earlier attempt crashed before it.
 */
export async function rollBack(ports: RollbackPorts, input: RollbackInput): Promise<RollbackOutcome> {
  const { store, clock } = ports;
  const receivedAt = input.receivedAt ?? clock.now();
  const attempt = input.attempt ?? 0;
  const endsExecution = input.endsExecution ?? input.executionId === undefined;
  let state: RolloutState | undefined;
  for (let tries = 0; ; tries++) {
    state = tries === 0 && input.knownState?.feature === input.feature ? input.knownState : await store.getState(input.feature);
    if (!state) throw new RefusedError('NOT_FOUND', `feature "${input.feature}" has no rollout`);
    if (input.executionId !== undefined && state.executionId !== input.executionId) {
      throw new RefusedError('STALE', `execution ${input.executionId} no longer owns ${input.feature}`);
    }
    if (state.status === 'ROLLED_BACK') {
      const execution = endsExecution ? await wrapUp(ports, state, input) : undefined;
      return { feature: input.feature, status: 'ALREADY_ROLLED_BACK', safeFlags: state.safeFlags ?? {}, targets: [], ms: 0, ...(execution ? { execution } : {}) };
    }
    // A follow-up works on the rollback as recorded, failed or not: it does not start it again.
    if (state.status === 'ROLLBACK_FAILED' && attempt > 0) break;
    const t = rollbackStarted(state, clock.now().toISOString(), input.actor, input.reason, state.safeFlags ?? safeValuesOf(state, input.triggerPhaseIndex));
    if (!t) break; // already ROLLING_BACK: finish that rollback.
    try {
      // Race prevented: an approval (or a phase step) writing version N+1 at the same moment. One lands; the loser
      // re-reads. If the approval landed, this rollback still goes on from its new version (with safe values bounded
      // by the phase the trigger was checked against); if the rollback landed, the approval's transition fails and
      // decide reports that a rollback is under way.
      await store.saveTransition(state, t);
      state = t.next;
      break;
    } catch (err) {
      if (!(err instanceof ConflictError) || tries >= 9) throw err;
    }
  }

  const safeFlags = state.safeFlags ?? safeValuesOf(state, input.triggerPhaseIndex);
  const { report, safeAt, elapsedMs, targets, failed, pending, safeTargets } = await writeSafeValues(ports, state.plan, safeFlags, input.deadline, receivedAt);

  if (pending.length > 0 && failed.length === 0 && ports.continuation && attempt < MAX_ROLLBACK_CONTINUATIONS) {
    return continueLater(ports, state, input, { attempt, receivedAt, elapsedMs, targets, pending, safeTargets, safeFlags, ms: report.ms });
  }

  const unsafe = [...failed, ...pending];
  const detail = {
    targets,
    ms: report.ms,
    attempt,
    ...(unsafe.length === 0 ? { timeToSafeMs: elapsedMs } : {}),
    ...(input.trigger ? { trigger: input.trigger } : {}),
  };
  const outcome =
    unsafe.length === 0
      ? ({ ok: true, detail } as const)
      : ({ ok: false, failedTargets: unsafe.map((f) => `${f.functionName} (${f.error ?? 'unknown'})`), detail } as const);
  let recorded = false;
  for (let tries = 0; ; tries++) {
    const finished = rollbackFinished(state, safeAt.toISOString(), outcome);
    if (!finished) break; // ROLLED_BACK already: a concurrent attempt recorded it.
    try {
      await store.saveTransition(state, finished);
      recorded = true;
      state = finished.next;
      break;
    } catch (err) {
      // Race: a concurrent delivery of the same trigger recorded its own outcome first. What the targets hold now is
      // what this attempt just saw, so the record follows it: ROLLED_BACK when every target is safe, whatever the
      // other attempt recorded.
      if (!(err instanceof ConflictError) || tries >= 9) throw err;
      const now = await store.getState(input.feature);
      if (!now || now.executionId !== state.executionId) throw err;
      state = now;
    }
  }
  if (recorded) {
    if (unsafe.length === 0) {
      ports.metricSink?.put({ name: METRICS.timeToSafeMs, value: elapsedMs, unit: 'Milliseconds', dimensions: TIME_TO_SAFE_DIMENSIONS(state), at: safeAt });
    }
    await notifySafely(
      ports.notifier,
      unsafe.length === 0
        ? {
            kind: 'rolled-back',
            feature: input.feature,
            stage: state.stage,
            executionId: state.executionId,
            reason: input.reason,
            by: input.actor,
            targets,
            timeToSafeMs: elapsedMs,
          }
        : {
            kind: 'rollback-failed',
            feature: input.feature,
            stage: state.stage,
            executionId: state.executionId,
            reason: input.reason,
            failedTargets: unsafe.map((f) => ({ functionName: f.functionName, error: f.error ?? 'unknown' })),
            safeTargets,
          },
    );
  }
  if (pending.length > 0 && ports.continuation && attempt < MAX_ROLLBACK_CONTINUATIONS) {
    // Some targets can never be written, others are only slow: keep working on the slow ones.
    await ports.continuation.continueRollback(continuationRequest(state, input, attempt + 1, receivedAt));
  }
  // Failed or not, the execution must not go on as if nothing happened.
  const execution = endsExecution && recorded ? await endExecution(ports, state, input) : undefined;
  if (!recorded && unsafe.length === 0) {
    // A concurrent delivery of the same trigger recorded this rollback (and told people): this one only helped.
    return { feature: input.feature, status: 'ALREADY_ROLLED_BACK', safeFlags, targets, ms: report.ms };
  }
  if (unsafe.length > 0) {
    throw new FlagWriteError(
      `ROLLBACK FAILED for ${input.feature}: ${unsafe.map((f) => `${f.functionName} (${f.error ?? 'unknown'})`).join(', ')} still serve the old flags`,
      unsafe.map((f) => ({ functionName: f.functionName, error: f.error ?? 'unknown' })),
    );
  }
  return {
    feature: input.feature,
    status: 'ROLLED_BACK',
    safeFlags,
    targets,
    ms: report.ms,
    timeToSafeMs: elapsedMs,
    ...(execution ? { execution } : {}),
  };
}

/** The follow-up event that continues a rollback (or a sub-feature's) at `attempt`. */
export function continuationRequest(state: RolloutState, input: RollbackInput, attempt: number, receivedAt: Date, subFeature?: string): RollbackContinuationRequest {
  return {
    kind: ROLLBACK_CONTINUATION_KIND,
    feature: state.feature,
    executionId: state.executionId,
    ...(subFeature ? { subFeature } : {}),
    attempt,
    receivedAt: receivedAt.toISOString(),
    reason: input.reason,
    actor: input.actor,
    ...(input.trigger ? { trigger: input.trigger } : {}),
  };
}

/**
 * The deadline came with targets still not safe (in progress, throttled) and none that cannot be written: record the
 * progress (the rollout stays ROLLING_BACK), tell the channel after the first deadline, and hand the rest to a
 * follow-up invocation.
 */
async function continueLater(
  ports: RollbackPorts,
  state: RolloutState,
  input: RollbackInput,
  run: {
    attempt: number;
    receivedAt: Date;
    elapsedMs: number;
    targets: readonly RollbackTargetResult[];
    pending: readonly RollbackTargetResult[];
    safeTargets: readonly string[];
    safeFlags: Readonly<Record<string, string>>;
    ms: number;
  },
): Promise<RollbackOutcome> {
  const { store, clock } = ports;
  const pendingTargets = run.pending.map((p) => ({ functionName: p.functionName, error: p.error ?? 'unknown' }));
  const progress = rollbackProgressed(state, clock.now().toISOString(), {
    attempt: run.attempt,
    elapsedMs: run.elapsedMs,
    safeTargets: run.safeTargets,
    pendingTargets,
  });
  try {
    // Race prevented: a concurrent attempt finishing the rollback meanwhile. Its record wins; this progress is moot.
    if (progress) await store.saveTransition(state, progress);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
  }
  if (run.attempt === 0) {
    await notifySafely(ports.notifier, {
      kind: 'rollback-in-progress',
      feature: state.feature,
      stage: state.stage,
      executionId: state.executionId,
      reason: input.reason,
      by: input.actor,
      safeTargets: run.safeTargets,
      pendingTargets,
      elapsedMs: run.elapsedMs,
    });
  }
  await ports.continuation!.continueRollback(continuationRequest(state, input, run.attempt + 1, run.receivedAt));
  return { feature: state.feature, status: 'IN_PROGRESS', safeFlags: run.safeFlags, targets: run.targets, ms: run.ms };
}

/**
 * Finish what a rollback that landed ROLLED_BACK may have left undone when its invocation crashed right after: the
 * audit event of the transition (keyed by its version, so writing it again is harmless) and a pending approval whose
 * task token would otherwise keep the execution waiting for days.
 */
async function wrapUp(ports: RollbackPorts, state: RolloutState, input: RollbackInput): Promise<ExecutionSettlement | undefined> {
  if (state.lastEvent) await ports.store.appendAudit(state.lastEvent);
  if (!ports.tokens || state.phaseIndex < 0) return undefined;
  const approval = await ports.store.getApproval(state.feature, state.executionId, state.phaseIndex);
  if (!approval || approval.settled) return undefined;
  return endExecution({ ...ports, stopper: undefined }, state, input);
}

const GONE_TOKEN_ERRORS = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

/**
 * End the execution of a rollout that was rolled back from outside it. A pending approval is claimed for the
 * rollback (so no later click can decide it) and its task token failed: the execution then runs its own `Roll back`
 * step, finds the work done, and ends `Rolled back`. Otherwise (baking, holding, or a token already used) the
 * execution is stopped. A step still running when it stops finds the rollout rolled back and changes nothing.
 */
async function endExecution(ports: RollbackPorts, state: RolloutState, input: RollbackInput): Promise<ExecutionSettlement> {
  const { store, tokens, stopper, clock } = ports;
  const cause = `rolled back by ${input.actor.name ?? input.actor.id}: ${input.reason}`;
  if (tokens && state.phaseIndex >= 0) {
    let approval = await store.getApproval(state.feature, state.executionId, state.phaseIndex);
    if (approval?.status === 'PENDING') {
      try {
        approval = await store.claimApproval({
          feature: state.feature,
          executionId: state.executionId,
          phaseIndex: state.phaseIndex,
          decision: 'reject',
          actor: input.actor,
          note: `rollback: ${input.reason}`,
          at: clock.now().toISOString(),
        });
      } catch (err) {
        if (!(err instanceof RefusedError)) throw err;
        approval = await store.getApproval(state.feature, state.executionId, state.phaseIndex);
      }
    }
    // Unsettled: pending until just now, or decided by a person whose decision lost to this rollback.
    if (approval && !approval.settled) {
      try {
        await tokens.fail(approval.taskToken, ROLLED_BACK_ERROR, cause);
        await store.markApprovalSettled(state.feature, state.executionId, state.phaseIndex);
        return 'token-failed';
      } catch (err) {
        if (!GONE_TOKEN_ERRORS.has((err as { name?: string }).name ?? '')) throw err;
      }
    }
  }
  if (stopper) {
    await stopper.stop(state.executionId, ROLLED_BACK_ERROR, cause);
    return 'stopped';
  }
  return 'left-running';
}
