import { authorize } from './authorize';
import { ApprovalRejectedError, ConflictError, FlagWriteError, RefusedError } from './errors';
import { METRICS } from './contract';
import { safeFlagValues, subFeatureOffValues } from './flags';
import type { PhasegateRole } from './plan/schema';
import {
  notifySafely,
  type RolloutStarter,
  type ApprovalDecision,
  type ApprovalRecord,
  type Clock,
  type ExecutionStopper,
  type FlagWriter,
  type MetricSink,
  type Notifier,
  type RolloutStore,
  type TaskTokens,
} from './ports';
import {
  approvalGranted,
  isTerminal,
  rollbackFinished,
  rollbackStarted,
  rolloutPaused,
  rolloutResumed,
  refusalEvent,
  subFeatureRolledBack,
  type Actor,
  type RolloutState,
} from './rollout-state';

/**
 * The operations people invoke (through Discord, the CLI or the rehearsal). They share the state machine's
 * rules and its store, so every path is audited the same way.
 */

/** After this long, a decision that was claimed but never handed to Step Functions counts as abandoned. */
const ABANDONED_DECISION_MS = 60_000;

/**
 * A decision younger than this is still being handed back by the request that claimed it (SendTask* and one
 * conditional write take well under a second); its author's repeated click waits for that rather than handing it
 * back a second time.
 */
const DECISION_IN_FLIGHT_MS = 15_000;

/** A person acting, with the Phasegate roles they hold (mapped from Discord roles or given by the CLI). */
export interface Person extends Actor {
  readonly roles: readonly PhasegateRole[];
}

/** What {@link decide} needs. */
export interface DecidePorts {
  readonly store: RolloutStore;
  readonly tokens: TaskTokens;
  readonly clock: Clock;
  readonly notifier?: Notifier;
}

/** A decision request. */
export interface DecideRequest {
  readonly feature: string;
  /** Name of the phase the decision is for; a decision for any other phase is refused (stale button). */
  readonly phase: string;
  readonly decision: ApprovalDecision;
  readonly actor: Person;
  readonly note?: string;
  /** When set, the decision only applies to this execution (a button remembers the execution it was made for). */
  readonly executionId?: string;
}

/** The outcome of a decision that took effect. */
export interface DecideResult {
  readonly feature: string;
  readonly phase: string;
  readonly decision: ApprovalDecision;
  readonly approval: ApprovalRecord;
}

async function refuse(
  store: RolloutStore,
  clock: Clock,
  req: { feature: string; actor: Person; decision?: string; action?: string; phase?: string },
  state: RolloutState | undefined,
  error: RefusedError,
): Promise<never> {
  const action = req.action ?? req.decision ?? 'request';
  const what = req.phase ? `${action} of phase ${req.phase}` : action;
  // The refusal changes nothing but is still on record.
  if (state) {
    await store.appendAudit(refusalEvent({ feature: req.feature, state, actor: req.actor, at: clock.now().toISOString(), request: action, what, error }));
  }
  throw error;
}

/** Hand the decision to Step Functions and record that it was. Safe to repeat until it succeeds once. */
async function settle(ports: DecidePorts, state: RolloutState, approval: ApprovalRecord): Promise<void> {
  const { store, tokens, clock } = ports;
  const who = approval.decidedBy?.name ?? approval.decidedBy?.id ?? 'someone';
  try {
    if (approval.status === 'APPROVED') {
      if (state.status === 'AWAITING_APPROVAL' && state.phaseIndex === approval.phaseIndex) {
        const t = approvalGranted(state, approval.phaseIndex, approval.decidedAt ?? clock.now().toISOString(), approval.decidedBy!, approval.note);
        await store.saveTransition(state, t);
      }
      await tokens.succeed(approval.taskToken, { decision: 'approve', by: approval.decidedBy, note: approval.note ?? null });
    } else {
      const rejection = new ApprovalRejectedError(`${who} rejected phase ${approval.phaseName}${approval.note ? `: ${approval.note}` : ''}`);
      // One decision, one event: a hand-back repeated after a lost reply writes the same record again.
      await store.appendAudit({
        feature: state.feature,
        at: approval.decidedAt ?? clock.now().toISOString(),
        actor: approval.decidedBy ?? { id: 'unknown', via: 'state-machine' },
        action: 'rejected',
        key: `decision#${approval.executionId}#${approval.phaseIndex}`,
        executionId: state.executionId,
        fromPhase: approval.phaseName,
        toPhase: approval.phaseName,
        message: rejection.message,
        detail: approval.note ? { note: approval.note } : undefined,
      });
      await tokens.fail(approval.taskToken, rejection.name, rejection.message);
    }
  } catch (err) {
    if (err instanceof ConflictError) {
      throw new RefusedError('STALE', `the rollout of ${state.feature} changed while deciding (a rollback may be under way); decision not applied`);
    }
    const name = (err as { name?: string }).name;
    if (name === 'TaskTimedOut' || name === 'InvalidToken' || name === 'TaskDoesNotExist') {
      throw new RefusedError('STALE', `the execution no longer waits for this approval (${name}); it may have been stopped or rolled back`);
    }
    throw err;
  }
  await store.markApprovalSettled(approval.feature, approval.executionId, approval.phaseIndex);
  await notifySafely(ports.notifier, {
    kind: 'approval-decided',
    feature: state.feature,
    stage: state.stage,
    executionId: approval.executionId,
    phase: approval.phaseName,
    phaseIndex: approval.phaseIndex,
    decision: approval.status === 'APPROVED' ? 'approve' : 'reject',
    by: approval.decidedBy ?? { id: 'unknown', via: 'state-machine' },
    at: approval.decidedAt ?? clock.now().toISOString(),
    ...(approval.note ? { note: approval.note } : {}),
  });
}

/**
 * Approve or reject the phase a feature waits on. Checks that the phase is the one waiting (a stale button or
 * command is refused), that the person holds one of the phase's approver roles, and that nobody decided
 * first; exactly one of several concurrent decisions wins. Every refusal is audited and changes nothing.
 */
export async function decide(ports: DecidePorts, req: DecideRequest): Promise<DecideResult> {
  const { store, clock } = ports;
  const state = await store.getState(req.feature);
  if (!state) throw new RefusedError('NOT_FOUND', `feature "${req.feature}" has no rollout`);
  const phaseIndex = state.plan.phases.findIndex((p) => p.name === req.phase);
  if (phaseIndex < 0) {
    return refuse(store, clock, req, state, new RefusedError('INVALID', `feature "${req.feature}" has no phase "${req.phase}"`));
  }
  if (req.executionId !== undefined && req.executionId !== state.executionId) {
    return refuse(store, clock, req, state, new RefusedError('STALE', `this request was made for an earlier rollout of ${req.feature}`));
  }

  /** A decision already taken: its author's repeat gets it back (finishing a lost hand-back), anyone else a refusal. */
  const alreadyDecided = async (existing: ApprovalRecord): Promise<DecideResult> => {
    const who = existing.decidedBy?.name ?? existing.decidedBy?.id ?? 'someone';
    const sameDecision = existing.decidedBy?.id === req.actor.id && (existing.status === 'APPROVED') === (req.decision === 'approve');
    // A decision whose hand-back was lost (a crash, a dropped reply) is finished, never taken again: by its
    // author retrying, or by anyone once it is clearly abandoned. While the request that claimed it is still
    // handing it back, a repeat changes nothing and records nothing: one decision, one hand-back, one event.
    const age = clock.now().getTime() - Date.parse(existing.decidedAt ?? '');
    const abandoned = age > ABANDONED_DECISION_MS;
    if (!existing.settled && ((sameDecision && age > DECISION_IN_FLIGHT_MS) || abandoned)) {
      await settle(ports, state, existing);
      existing = { ...existing, settled: true };
    }
    if (sameDecision) return { feature: req.feature, phase: req.phase, decision: req.decision, approval: existing };
    return refuse(store, clock, req, state, new RefusedError('ALREADY_DECIDED', `phase ${req.phase} was already ${existing.status.toLowerCase()} by ${who} at ${existing.decidedAt}`));
  };

  const existing = await store.getApproval(req.feature, state.executionId, phaseIndex);
  if (existing && existing.status !== 'PENDING') return alreadyDecided(existing);
  if (state.status !== 'AWAITING_APPROVAL' || state.phaseIndex !== phaseIndex || !existing) {
    const current = state.plan.phases[state.phaseIndex]?.name ?? 'none';
    return refuse(
      store,
      clock,
      req,
      state,
      new RefusedError('NOT_PENDING', `phase ${req.phase} of ${req.feature} is not waiting for approval (status ${state.status}, phase ${current})`),
    );
  }

  const allowed = authorize(req.decision, req.actor, { phase: state.plan.phases[phaseIndex], startedBy: state.startedBy.id });
  if (!allowed.ok) return refuse(store, clock, req, state, new RefusedError('FORBIDDEN', allowed.reason));
  if (state.paused && req.decision === 'approve') {
    const who = state.paused.by.name ?? state.paused.by.id;
    return refuse(store, clock, req, state, new RefusedError('NOT_PENDING', `${req.feature} is paused by ${who}; resume it before approving`));
  }
  if (req.decision === 'reject' && !req.note?.trim()) {
    return refuse(store, clock, req, state, new RefusedError('INVALID', 'a rejection needs a reason'));
  }

  let approval: ApprovalRecord;
  try {
    approval = await store.claimApproval({
      feature: req.feature,
      executionId: state.executionId,
      phaseIndex,
      decision: req.decision,
      actor: { id: req.actor.id, name: req.actor.name, via: req.actor.via },
      note: req.note,
      at: clock.now().toISOString(),
    });
  } catch (err) {
    if (!(err instanceof RefusedError)) throw err;
    // Race: another click read PENDING too and claimed first. If it was this person's own click, it is their decision.
    const winner = err.code === 'ALREADY_DECIDED' ? await store.getApproval(req.feature, state.executionId, phaseIndex) : undefined;
    if (winner && winner.status !== 'PENDING') return alreadyDecided(winner);
    return refuse(store, clock, req, state, err);
  }
  await settle(ports, state, approval);
  return { feature: req.feature, phase: req.phase, decision: req.decision, approval: { ...approval, settled: true } };
}

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
}

/** How a rollback from outside the state machine ended the rollout's execution. */
export type ExecutionSettlement = 'token-failed' | 'stopped' | 'left-running';

/** The outcome of a rollback. */
export interface RollbackOutcome {
  readonly feature: string;
  readonly status: 'ROLLED_BACK' | 'ALREADY_ROLLED_BACK';
  readonly safeFlags: Readonly<Record<string, string>>;
  readonly targets: readonly { functionName: string; ok: boolean; ms: number; error?: string }[];
  /** Milliseconds spent writing the flags (every target read, updated and seen Successful). */
  readonly ms: number;
  /** Milliseconds from `receivedAt` (the trigger) until every target served the safe flags. */
  readonly timeToSafeMs?: number;
  /** What happened to the execution, for a rollback from outside the state machine. */
  readonly execution?: ExecutionSettlement;
}

/** What started a rollback from outside the state machine: a person, or an alarm. */
export interface RollbackInput {
  readonly feature: string;
  readonly actor: Actor;
  readonly reason: string;
  /** Set by the state machine's own `Roll back` step: only that execution's rollout is rolled back, and it is not stopped. */
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
}

/** The error an execution ends with when a rollback from outside took its rollout (the state machine's `Rolled back`). */
export const ROLLED_BACK_ERROR = 'PhasegateRolledBack';

const TIME_TO_SAFE_DIMENSIONS = (state: RolloutState): Record<string, string> => ({
  [METRICS.dimensions.feature]: state.feature,
  [METRICS.dimensions.stage]: state.stage,
});

/**
 * Put every target of the feature back into the safe state, in parallel, and record it. Wins every race: it
 * re-reads and retries its transition until it lands, and an approval decided at the same moment loses (its
 * transition is conditional on the version the rollback already changed). A rollback from outside the state
 * machine (an alarm, a person) then ends the execution: it fails the pending approval's task token, or stops the
 * execution. A target that cannot be written marks the feature ROLLBACK_FAILED, notifies loudly and throws a
 * {@link FlagWriteError} naming it. A feature already rolled back is left as it is (duplicates change nothing).
 */
export async function rollBack(ports: RollbackPorts, input: RollbackInput): Promise<RollbackOutcome> {
  const { store, flags, clock } = ports;
  const receivedAt = input.receivedAt ?? clock.now();
  let state: RolloutState | undefined;
  for (let attempt = 0; ; attempt++) {
    state = attempt === 0 && input.knownState?.feature === input.feature ? input.knownState : await store.getState(input.feature);
    if (!state) throw new RefusedError('NOT_FOUND', `feature "${input.feature}" has no rollout`);
    if (input.executionId !== undefined && state.executionId !== input.executionId) {
      throw new RefusedError('STALE', `execution ${input.executionId} no longer owns ${input.feature}`);
    }
    if (state.status === 'ROLLED_BACK') {
      return { feature: input.feature, status: 'ALREADY_ROLLED_BACK', safeFlags: state.safeFlags ?? {}, targets: [], ms: 0 };
    }
    const safe = state.safeFlags ?? safeFlagValues(state.plan, Math.max(state.phaseIndex, 0), { subFeaturesOff: state.subFeaturesOff });
    const t = rollbackStarted(state, clock.now().toISOString(), input.actor, input.reason, safe);
    if (!t) break; // already ROLLING_BACK: finish that rollback.
    try {
      // Race prevented: an approval (or a phase step) writing version N+1 at the same moment. One lands; the loser
      // re-reads. If the approval landed, this rollback still goes on from its new version; if the rollback landed,
      // the approval's transition fails and decide reports that a rollback is under way.
      await store.saveTransition(state, t);
      state = t.next;
      break;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 9) throw err;
    }
  }

  const safeFlags = state.safeFlags ?? safeFlagValues(state.plan, Math.max(state.phaseIndex, 0), { subFeaturesOff: state.subFeaturesOff });
  const report = await flags.forceAll(state.plan.targets, safeFlags);
  const safeAt = clock.now();
  const timeToSafeMs = Math.max(0, safeAt.getTime() - receivedAt.getTime());
  const failed = report.results.filter((r) => !r.ok);
  const detail = {
    targets: report.results.map((r) => ({ functionName: r.functionName, ok: r.ok, ms: r.ms, error: r.error })),
    ms: report.ms,
    ...(failed.length === 0 ? { timeToSafeMs } : {}),
    ...(input.trigger ? { trigger: input.trigger } : {}),
  };
  const finished = rollbackFinished(
    state,
    safeAt.toISOString(),
    failed.length === 0 ? { ok: true, detail } : { ok: false, failedTargets: failed.map((f) => f.functionName), detail },
  );
  let recorded = false;
  if (finished) {
    try {
      await store.saveTransition(state, finished);
      recorded = true;
    } catch (err) {
      // Race: a duplicate delivery finished the same rollback first. Its record stands; these writes were the same.
      if (!(err instanceof ConflictError)) throw err;
      const now = await store.getState(input.feature);
      if (now?.status !== 'ROLLED_BACK' && now?.status !== 'ROLLBACK_FAILED') throw err;
    }
  }
  if (recorded) {
    if (failed.length === 0) {
      ports.metricSink?.put({ name: METRICS.timeToSafeMs, value: timeToSafeMs, unit: 'Milliseconds', dimensions: TIME_TO_SAFE_DIMENSIONS(state), at: safeAt });
    }
    await notifySafely(
      ports.notifier,
      failed.length === 0
        ? { kind: 'rolled-back', feature: input.feature, stage: state.stage, executionId: state.executionId, reason: input.reason, by: input.actor, targets: detail.targets }
        : {
            kind: 'rollback-failed',
            feature: input.feature,
            stage: state.stage,
            executionId: state.executionId,
            reason: input.reason,
            failedTargets: failed.map((f) => ({ functionName: f.functionName, error: f.error ?? 'unknown' })),
          },
    );
  }
  const execution = input.executionId === undefined && recorded ? await endExecution(ports, state, input) : undefined;
  if (finished && !recorded) {
    // A concurrent delivery of the same trigger recorded this rollback (and told people): this one only helped.
    return { feature: input.feature, status: 'ALREADY_ROLLED_BACK', safeFlags, targets: detail.targets, ms: report.ms };
  }
  if (failed.length > 0) {
    throw new FlagWriteError(
      `ROLLBACK FAILED for ${input.feature}: ${failed.map((f) => `${f.functionName} (${f.error})`).join(', ')} still serve the old flags`,
      failed.map((f) => ({ functionName: f.functionName, error: f.error ?? 'unknown' })),
    );
  }
  return {
    feature: input.feature,
    status: 'ROLLED_BACK',
    safeFlags,
    targets: detail.targets,
    ms: report.ms,
    timeToSafeMs,
    ...(execution ? { execution } : {}),
  };
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

/** The outcome of {@link rollBackSubFeature}. */
export interface SubFeatureRollbackOutcome {
  readonly feature: string;
  readonly subFeature: string;
  readonly status: 'ROLLED_BACK' | 'ALREADY_OFF' | 'NOT_ACTIVE';
  readonly flags: Readonly<Record<string, string>>;
  readonly targets: readonly { functionName: string; ok: boolean; ms: number; error?: string }[];
  readonly timeToSafeMs?: number;
}

/**
 * Roll back one sub-feature only (its LLM daily cost passed the hard limit): record it as off with a conditional
 * write (so every later phase keeps it off), then write its flags off on every target in parallel. The rest of the
 * feature, and the execution, go on where they are. A target that cannot be written is announced loudly, audited,
 * and thrown as a {@link FlagWriteError}; the sub-feature stays recorded as off, so the next phase writes it off again.
 */
export async function rollBackSubFeature(
  ports: RollbackPorts,
  input: { feature: string; subFeature: string; actor: Actor; reason: string; receivedAt?: Date; trigger?: Record<string, unknown> },
): Promise<SubFeatureRollbackOutcome> {
  const { store, flags, clock } = ports;
  const receivedAt = input.receivedAt ?? clock.now();
  let state: RolloutState | undefined;
  for (let attempt = 0; ; attempt++) {
    state = await store.getState(input.feature);
    if (!state) throw new RefusedError('NOT_FOUND', `feature "${input.feature}" has no rollout`);
    const off = subFeatureOffValues(state.plan, input.subFeature);
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
      if (!(err instanceof ConflictError) || attempt >= 9) throw err;
    }
  }
  const off = subFeatureOffValues(state.plan, input.subFeature);
  const report = await flags.forceAll(state.plan.targets, off);
  const safeAt = clock.now();
  const timeToSafeMs = Math.max(0, safeAt.getTime() - receivedAt.getTime());
  const targets = report.results.map((r) => ({ functionName: r.functionName, ok: r.ok, ms: r.ms, error: r.error }));
  const failed = report.results.filter((r) => !r.ok);
  const phase = state.plan.phases[state.phaseIndex]?.name ?? null;
  await store.appendAudit({
    feature: state.feature,
    at: safeAt.toISOString(),
    actor: input.actor,
    action: failed.length === 0 ? 'sub-feature-rolled-back' : 'rollback-failed',
    executionId: state.executionId,
    fromPhase: phase,
    toPhase: phase,
    message:
      failed.length === 0
        ? `sub-feature ${input.subFeature} is off on every target (${timeToSafeMs} ms after the trigger)`
        : `ROLLBACK FAILED for sub-feature ${input.subFeature} of ${state.feature}: could not write ${failed.map((f) => f.functionName).join(', ')}`,
    detail: { subFeature: input.subFeature, targets, ...(failed.length === 0 ? { timeToSafeMs } : {}) },
  });
  if (failed.length > 0) {
    await notifySafely(ports.notifier, {
      kind: 'rollback-failed',
      feature: state.feature,
      stage: state.stage,
      executionId: state.executionId,
      reason: `sub-feature ${input.subFeature}: ${input.reason}`,
      failedTargets: failed.map((f) => ({ functionName: f.functionName, error: f.error ?? 'unknown' })),
    });
    throw new FlagWriteError(
      `ROLLBACK FAILED for sub-feature ${input.subFeature} of ${input.feature}: ${failed.map((f) => `${f.functionName} (${f.error})`).join(', ')} still serve it`,
      failed.map((f) => ({ functionName: f.functionName, error: f.error ?? 'unknown' })),
    );
  }
  ports.metricSink?.put({
    name: METRICS.timeToSafeMs,
    value: timeToSafeMs,
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
  });
  return { feature: input.feature, subFeature: input.subFeature, status: 'ROLLED_BACK', flags: off, targets, timeToSafeMs };
}

/** What {@link pauseRollout} and {@link resumeRollout} need. */
export interface ControlPorts {
  readonly store: RolloutStore;
  readonly clock: Clock;
  readonly notifier?: Notifier;
}

async function control(
  ports: ControlPorts,
  req: { feature: string; actor: Person; reason?: string },
  action: 'pause' | 'resume',
): Promise<RolloutState> {
  const { store, clock } = ports;
  const state = await store.getState(req.feature);
  if (!state) throw new RefusedError('NOT_FOUND', `feature "${req.feature}" has no rollout`);
  const allowed = authorize(action, req.actor);
  if (!allowed.ok) return refuse(store, clock, { ...req, action }, state, new RefusedError('FORBIDDEN', allowed.reason));
  if (state.status !== 'RUNNING' && state.status !== 'AWAITING_APPROVAL') {
    return refuse(store, clock, { ...req, action }, state, new RefusedError('NOT_PENDING', `${req.feature} is ${state.status}; only a running rollout can be ${action}d`));
  }
  const actor = { id: req.actor.id, name: req.actor.name, via: req.actor.via };
  const t = action === 'pause' ? rolloutPaused(state, clock.now().toISOString(), actor, req.reason) : rolloutResumed(state, clock.now().toISOString(), actor);
  if (!t) {
    return refuse(store, clock, { ...req, action }, state, new RefusedError('NOT_PENDING', `${req.feature} is ${action === 'pause' ? 'already paused' : 'not paused'}`));
  }
  try {
    await store.saveTransition(state, t);
  } catch (err) {
    if (err instanceof ConflictError) throw new RefusedError('STALE', `${req.feature} changed while you asked; try again`);
    throw err;
  }
  await notifySafely(ports.notifier, {
    kind: action === 'pause' ? 'paused' : 'resumed',
    feature: req.feature,
    stage: state.stage,
    executionId: state.executionId,
    by: actor,
    ...(req.reason ? { reason: req.reason } : {}),
  });
  return t.next;
}

/** Pause a running rollout: its gates hold (without counting toward the hold limit) and approvals wait. */
export function pauseRollout(ports: ControlPorts, req: { feature: string; actor: Person; reason?: string }): Promise<RolloutState> {
  return control(ports, req, 'pause');
}

/** Resume a paused rollout: the next gate check decides as usual. */
export function resumeRollout(ports: ControlPorts, req: { feature: string; actor: Person }): Promise<RolloutState> {
  return control(ports, req, 'resume');
}

/** What {@link requestStart} needs. */
export interface StartPorts {
  readonly store: RolloutStore;
  readonly starter: RolloutStarter;
  readonly clock: Clock;
}

/**
 * Start a rollout of a feature of this stage: refused unless the person may start rollouts and no rollout of
 * the feature is active. The execution's first step claims the feature with a conditional write, so two
 * starts racing past this check still end with one rollout.
 */
export async function requestStart(ports: StartPorts, req: { feature: string; actor: Person; knownFeatures: readonly string[] }): Promise<{ executionId: string }> {
  const { store, clock } = ports;
  if (!req.knownFeatures.includes(req.feature)) {
    throw new RefusedError('NOT_FOUND', `no plan for feature "${req.feature}" on this stage (features: ${req.knownFeatures.join(', ') || 'none'})`);
  }
  const state = await store.getState(req.feature);
  const allowed = authorize('start', req.actor);
  if (!allowed.ok) return refuse(store, clock, { ...req, action: 'start' }, state, new RefusedError('FORBIDDEN', allowed.reason));
  if (state && !isTerminal(state.status)) {
    const phase = state.plan.phases[state.phaseIndex]?.name ?? 'starting';
    return refuse(store, clock, { ...req, action: 'start' }, state, new RefusedError('NOT_PENDING', `${req.feature} is already rolling out (${state.status}, phase ${phase})`));
  }
  return ports.starter.start(req.feature, { actor: { id: req.actor.id, name: req.actor.name, via: req.actor.via } });
}
