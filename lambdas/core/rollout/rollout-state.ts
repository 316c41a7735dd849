import { ConflictError, RolloutActiveError, StaleExecutionError } from '../errors';
import type { Plan } from '../plan/schema';

/**
 * The rollout state machine as plain data: statuses, the state record and the transitions between them.
 * Every function here is pure; the store persists what they return with a conditional write on `version`.
 */

/** Where a feature's rollout stands. */
export const ROLLOUT_STATUSES = [
  'RUNNING',
  'AWAITING_APPROVAL',
  'COMPLETED',
  'ROLLING_BACK',
  'ROLLED_BACK',
  'ROLLBACK_FAILED',
] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

/** What a running rollout is doing inside its current phase. */
export type RolloutStep = 'starting' | 'applying' | 'baking' | 'gating' | 'awaiting-approval' | 'approved' | 'done';

/** Statuses no execution moves on from: a new rollout may start. */
export function isTerminal(status: RolloutStatus): boolean {
  return status === 'COMPLETED' || status === 'ROLLED_BACK' || status === 'ROLLBACK_FAILED';
}

/** Statuses in which a rollback is still possible and meaningful. */
export function canRollBack(status: RolloutStatus): boolean {
  return status === 'RUNNING' || status === 'AWAITING_APPROVAL' || status === 'COMPLETED' || status === 'ROLLBACK_FAILED';
}

/** Who did something: a person (through Discord or the CLI) or Phasegate itself. */
export interface Actor {
  /** Stable id: a Discord user id, an AWS principal ARN, or `phasegate`. */
  readonly id: string;
  /** Name to show. */
  readonly name?: string;
  readonly via: 'discord' | 'cli' | 'state-machine' | 'alarm' | 'rehearsal';
}

/** Phasegate itself, acting from its state machine. */
export const SYSTEM_ACTOR: Actor = { id: 'phasegate', name: 'Phasegate', via: 'state-machine' };

/** Kinds of audit event. */
export type AuditAction =
  | 'rollout-started'
  | 'phase-started'
  | 'phase-skipped'
  | 'opted-in'
  | 'flags-applied'
  | 'gate-evaluated'
  | 'approval-requested'
  | 'approved'
  | 'rejected'
  | 'rollout-completed'
  | 'rollback-started'
  | 'rolled-back'
  | 'rollback-in-progress'
  | 'rollback-failed'
  | 'sub-feature-rolled-back'
  | 'paused'
  | 'resumed'
  | 'promoted'
  | 'budget-cap-changed'
  | 'drift-repaired'
  | 'drift-backed-off'
  | 'refused';

/** One line of the append-only audit trail. */
export interface AuditEvent {
  readonly feature: string;
  readonly at: string;
  readonly actor: Actor;
  readonly action: AuditAction;
  readonly executionId?: string;
  /** Phase the feature was in before the action (null before the first phase). */
  readonly fromPhase: string | null;
  /** Phase the feature is in after the action. */
  readonly toPhase: string | null;
  readonly fromStatus?: RolloutStatus;
  readonly toStatus?: RolloutStatus;
  /** State version the action produced, for transitions. */
  readonly version?: number;
  /**
   * Names an event that is not a transition but may be written more than once (a decision handed back again after
   * its reply was lost): every write of the same key lands on one record. @default - each write is a new event
   */
  readonly key?: string;
  readonly message: string;
  readonly detail?: Record<string, unknown>;
}

/** The persisted state of a feature's rollout. One record per feature. */
export interface RolloutState {
  readonly feature: string;
  readonly stage: string;
  readonly status: RolloutStatus;
  readonly step: RolloutStep;
  /** Index of the current phase; -1 before the first phase is applied. */
  readonly phaseIndex: number;
  readonly executionId: string;
  /** Incremented by every transition; every write is conditional on the version it read. */
  readonly version: number;
  /** The stage-resolved plan this execution runs. */
  readonly plan: Plan;
  readonly startedAt: string;
  readonly startedBy: Actor;
  readonly updatedAt: string;
  /** The event of the transition that produced this version: lets a lost audit write be repaired. */
  readonly lastEvent: AuditEvent;
  /** When the current phase's gate first said HOLD (cleared when a phase starts). */
  readonly holdingSince?: string;
  /** Outcome of the last gate in this phase. */
  readonly lastGate?: { readonly decision: string; readonly reasons: readonly string[]; readonly at: string };
  /** Why the rollout was rolled back or failed. */
  readonly reason?: string;
  /** Set while a person has paused the rollout: gates hold and approvals wait until it is resumed. */
  readonly paused?: { readonly by: Actor; readonly at: string; readonly reason?: string };
  /** Set while a rollback that ran out of time continues in a follow-up: which targets are safe, which not yet and why. */
  readonly rollbackProgress?: RollbackProgress;
  /** The flag values a rollback writes: recorded so a step racing the rollback can restore them. */
  readonly safeFlags?: Readonly<Record<string, string>>;
  /** When the current phase's flags were on every target: the gate's bake window starts here. */
  readonly phaseAppliedAt?: string;
  /** Metric values captured before the rollout started, for gates that compare with a baseline. */
  readonly baseline?: RolloutBaseline;
  /**
   * Sub-features rolled back on their own (an LLM daily-cost alarm): they stay off in every later phase of this
   * execution while the rest of the feature goes on.
   */
  readonly subFeaturesOff?: readonly string[];
  /** The phase this execution started at (`startAt` in the execution input); the phases before it were skipped. */
  readonly startAt?: number;
  /** Phases this execution skipped: before its `startAt`, and optional phases nobody opted in to. */
  readonly skippedPhases?: readonly string[];
  /** Optional phases an approver opted in to: they run instead of being skipped. */
  readonly optedIn?: readonly string[];
}

/** Gate metric values from before the rollout started. */
export interface RolloutBaseline {
  readonly capturedAt: string;
  /** Metric id -> value over the baseline window; null when the metric had no data then. */
  readonly values: Readonly<Record<string, number | null>>;
  /** Why no baseline could be read, when it could not. */
  readonly error?: string;
}

/** Name of the phase at `index`, or null outside the plan. */
export function phaseName(plan: Plan, index: number): string | null {
  return plan.phases[index]?.name ?? null;
}

/** A transition: a new state record and the audit event that describes it. */
export interface Transition {
  readonly next: RolloutState;
  readonly event: AuditEvent;
}

function advance(
  state: RolloutState,
  changes: Partial<Omit<RolloutState, 'version' | 'lastEvent' | 'updatedAt'>>,
  at: string,
  actor: Actor,
  action: AuditAction,
  message: string,
  detail?: Record<string, unknown>,
): Transition {
  const merged = { ...state, ...changes };
  const event: AuditEvent = {
    feature: state.feature,
    at,
    actor,
    action,
    executionId: merged.executionId,
    fromPhase: phaseName(state.plan, state.phaseIndex),
    toPhase: phaseName(merged.plan, merged.phaseIndex),
    fromStatus: state.status,
    toStatus: merged.status,
    version: state.version + 1,
    message,
    ...(detail ? { detail } : {}),
  };
  return { next: { ...merged, version: state.version + 1, updatedAt: at, lastEvent: event }, event };
}

/** Throws unless `executionId` owns the rollout and it is still active. */
export function assertOwnedBy(state: RolloutState | undefined, feature: string, executionId: string): RolloutState {
  if (!state) throw new StaleExecutionError(`feature "${feature}" has no rollout state; execution ${executionId} cannot continue`);
  if (state.executionId !== executionId) {
    throw new StaleExecutionError(`feature "${feature}" is now run by execution ${state.executionId}, not ${executionId}`);
  }
  if (isTerminal(state.status) || state.status === 'ROLLING_BACK') {
    throw new StaleExecutionError(`feature "${feature}" is ${state.status}; execution ${executionId} stops here`);
  }
  return state;
}

/**
 * The phases from `from` up to (not including) `to`: what "start at phase N" skips. One function for every way a
 * rollout skips phases: a start at a later phase (carrying a long rollout into a fresh execution, retrying from a
 * phase after a rollback) and an optional phase nobody opted in to.
 */
export function phasesBetween(plan: Plan, from: number, to: number): string[] {
  return plan.phases.slice(Math.max(0, from), Math.max(0, to)).map((p) => p.name);
}

/** Start a rollout. Returns null when this execution already started it (a retried step). */
export function startRollout(
  previous: RolloutState | undefined,
  input: { plan: Plan; stage: string; executionId: string; actor: Actor; at: string; baseline?: RolloutBaseline; startAt?: number },
): Transition | null {
  if (previous && previous.executionId === input.executionId) return null;
  if (previous && !isTerminal(previous.status)) throw new RolloutActiveError(input.plan.feature, previous.executionId);
  const startAt = input.startAt ?? 0;
  if (!Number.isInteger(startAt) || startAt < 0 || startAt >= input.plan.phases.length) {
    throw new RangeError(`startAt ${startAt}: plan "${input.plan.feature}" has phases 0 to ${input.plan.phases.length - 1}`);
  }
  const skipped = phasesBetween(input.plan, 0, startAt);
  const first = input.plan.phases[startAt]!;
  const version = (previous?.version ?? 0) + 1;
  const event: AuditEvent = {
    feature: input.plan.feature,
    at: input.at,
    actor: input.actor,
    action: 'rollout-started',
    executionId: input.executionId,
    fromPhase: null,
    toPhase: null,
    ...(previous ? { fromStatus: previous.status } : {}),
    toStatus: 'RUNNING',
    version,
    message:
      `rollout of ${input.plan.feature} started on ${input.stage}: ${input.plan.phases.map((p) => p.name).join(' -> ')}` +
      (startAt > 0 ? `; starting at phase ${first.name}, skipped ${skipped.join(', ')}` : ''),
    ...(startAt > 0 ? { detail: { startAt, skipped } } : {}),
  };
  const next: RolloutState = {
    feature: input.plan.feature,
    stage: input.stage,
    status: 'RUNNING',
    step: 'starting',
    phaseIndex: -1,
    executionId: input.executionId,
    version,
    plan: input.plan,
    startedAt: input.at,
    startedBy: input.actor,
    updatedAt: input.at,
    lastEvent: event,
    ...(input.baseline ? { baseline: input.baseline } : {}),
    ...(startAt > 0 ? { startAt, skippedPhases: skipped } : {}),
    // Whoever starts at an optional phase chose to run it.
    ...(first.optional && startAt > 0 ? { optedIn: [first.name] } : {}),
  };
  return { next, event };
}

/** Whether phase `phaseIndex` of the rollout runs: not optional, opted in to, or the phase this execution started at. */
export function phaseRuns(state: RolloutState, phaseIndex: number): boolean {
  const phase = state.plan.phases[phaseIndex];
  if (!phase) throw new RangeError(`plan "${state.feature}" has no phase ${phaseIndex}`);
  return !phase.optional || (state.optedIn ?? []).includes(phase.name) || (state.startAt ?? 0) === phaseIndex;
}

/** Whether the rollout's current phase is finished (approved, or gated when it needs no approval), or was skipped. */
function currentPhaseDone(state: RolloutState): boolean {
  const current = state.plan.phases[state.phaseIndex];
  if (!current) return false;
  if ((state.skippedPhases ?? []).includes(current.name)) return true;
  return current.approval.required ? state.step === 'approved' : state.step === 'gating' || state.step === 'approved';
}

/**
 * Skip optional phase `phaseIndex` nobody opted in to: it is recorded as skipped and counts as done, so the next phase
 * may begin. Returns null when it is already skipped (a retried step).
 */
export function phaseSkipped(state: RolloutState, phaseIndex: number, at: string): Transition | null {
  const phase = state.plan.phases[phaseIndex];
  if (!phase) throw new RangeError(`plan "${state.feature}" has no phase ${phaseIndex}`);
  if (state.phaseIndex === phaseIndex && (state.skippedPhases ?? []).includes(phase.name)) return null;
  if (phaseRuns(state, phaseIndex)) throw new ConflictError(`phase ${phase.name} of ${state.feature} runs; it cannot be skipped`);
  if (state.phaseIndex !== phaseIndex - 1 || state.status !== 'RUNNING' || !currentPhaseDone(state)) {
    throw new ConflictError(`feature "${state.feature}" is ${state.status} (${state.step}) in phase ${state.phaseIndex}; cannot skip phase ${phase.name}`);
  }
  return advance(
    state,
    { step: 'approved', phaseIndex, lastGate: undefined, holdingSince: undefined, skippedPhases: [...(state.skippedPhases ?? []), phase.name] },
    at,
    SYSTEM_ACTOR,
    'phase-skipped',
    `phase ${phase.name} skipped: it is optional and nobody opted in`,
    { skipped: [phase.name] },
  );
}

/**
 * A person opts in to optional phase `phaseIndex` before it starts (the approver of the phase before, as they
 * approve). Returns null when already opted in.
 */
export function optionalPhaseOptedIn(state: RolloutState, phaseIndex: number, at: string, actor: Actor): Transition | null {
  const phase = state.plan.phases[phaseIndex];
  if (!phase?.optional) throw new ConflictError(`phase ${phase?.name ?? phaseIndex} of ${state.feature} is not optional`);
  if ((state.optedIn ?? []).includes(phase.name)) return null;
  if (state.phaseIndex >= phaseIndex || isTerminal(state.status) || state.status === 'ROLLING_BACK') {
    throw new ConflictError(`feature "${state.feature}" is ${state.status} in phase ${state.phaseIndex}; it is too late to opt in to phase ${phase.name}`);
  }
  return advance(
    state,
    { optedIn: [...(state.optedIn ?? []), phase.name] },
    at,
    actor,
    'opted-in',
    `${actor.name ?? actor.id} opted in to optional phase ${phase.name}`,
  );
}

/** Enter phase `phaseIndex`: allowed right after the previous phase (approved or not needing approval). */
export function beginPhase(state: RolloutState, phaseIndex: number, at: string): Transition | null {
  if (state.phaseIndex === phaseIndex && state.step !== 'starting') return null;
  // The first phase of an execution started at a later phase (`startAt`).
  const starting = state.phaseIndex === -1 && state.step === 'starting';
  const startsHere = starting && (state.startAt ?? 0) === phaseIndex;
  if ((state.phaseIndex !== phaseIndex - 1 || starting) && !startsHere) {
    throw new ConflictError(
      `feature "${state.feature}" is in phase ${state.phaseIndex}, cannot enter phase ${phaseIndex} (${phaseName(state.plan, phaseIndex)})`,
    );
  }
  const phase = state.plan.phases[phaseIndex];
  if (!phase) throw new RangeError(`plan "${state.feature}" has no phase ${phaseIndex}`);
  const current = state.plan.phases[state.phaseIndex];
  if (current) {
    const done = currentPhaseDone(state);
    if (state.status !== 'RUNNING' || !done) {
      throw new ConflictError(
        `feature "${state.feature}" is ${state.status} (${state.step}) in phase ${current.name}, which is not finished${current.approval.required ? ' and approved' : ''}; cannot enter phase ${phase.name}`,
      );
    }
  }
  return advance(
    state,
    { status: 'RUNNING', step: 'applying', phaseIndex, lastGate: undefined, holdingSince: undefined },
    at,
    SYSTEM_ACTOR,
    'phase-started',
    `phase ${phase.name} started: roles ${phase.roles.join(', ')}, ${phase.percent}% of them, bake ${phase.bake}`,
  );
}

/** Flags of the current phase are written on every target; the bake begins. */
export function phaseApplied(state: RolloutState, phaseIndex: number, at: string, detail: Record<string, unknown>): Transition | null {
  if (state.phaseIndex !== phaseIndex) throw new ConflictError(`flags applied for phase ${phaseIndex}, but the feature is in ${state.phaseIndex}`);
  if (state.step !== 'applying') return null;
  return advance(state, { step: 'baking', phaseAppliedAt: at }, at, SYSTEM_ACTOR, 'flags-applied', `flags of phase ${phaseName(state.plan, phaseIndex)} written to ${state.plan.targets.length} target(s)`, detail);
}

/** The gate after the bake has decided. */
export function gateEvaluated(
  state: RolloutState,
  phaseIndex: number,
  at: string,
  decision: string,
  reasons: readonly string[],
  options: { countsTowardLimit?: boolean; detail?: Record<string, unknown> } = {},
): Transition {
  if (state.phaseIndex !== phaseIndex) throw new ConflictError(`gate for phase ${phaseIndex}, but the feature is in ${state.phaseIndex}`);
  // The hold clock runs from the first HOLD of the phase; paused holds (`countsTowardLimit` false) do not start it.
  const holdingSince = decision === 'HOLD' && options.countsTowardLimit !== false ? (state.holdingSince ?? at) : state.holdingSince;
  return advance(
    state,
    { step: 'gating', lastGate: { decision, reasons, at }, holdingSince },
    at,
    SYSTEM_ACTOR,
    'gate-evaluated',
    `gate of phase ${phaseName(state.plan, phaseIndex)}: ${decision}${reasons.length ? ` (${reasons.join('; ')})` : ''}`,
    { decision, reasons, ...options.detail },
  );
}

/** The phase waits for a person's decision. */
export function approvalRequested(state: RolloutState, phaseIndex: number, at: string): Transition | null {
  if (state.phaseIndex !== phaseIndex) throw new ConflictError(`approval for phase ${phaseIndex}, but the feature is in ${state.phaseIndex}`);
  if (state.status === 'AWAITING_APPROVAL') return null;
  const phase = state.plan.phases[phaseIndex]!;
  return advance(
    state,
    { status: 'AWAITING_APPROVAL', step: 'awaiting-approval' },
    at,
    SYSTEM_ACTOR,
    'approval-requested',
    `phase ${phase.name} waits for approval by ${phase.approval.approvers.join(' or ')}`,
  );
}

/** A person approved the phase: the rollout moves on. */
export function approvalGranted(state: RolloutState, phaseIndex: number, at: string, actor: Actor, note?: string): Transition {
  if (state.status !== 'AWAITING_APPROVAL' || state.phaseIndex !== phaseIndex) {
    throw new ConflictError(`feature "${state.feature}" is not waiting for approval of phase ${phaseIndex}`);
  }
  return advance(
    state,
    { status: 'RUNNING', step: 'approved' },
    at,
    actor,
    'approved',
    `${actor.name ?? actor.id} approved phase ${phaseName(state.plan, phaseIndex)}${note ? `: ${note}` : ''}`,
    note ? { note } : undefined,
  );
}

/** Every phase is done. */
export function rolloutCompleted(state: RolloutState, at: string): Transition | null {
  if (state.status === 'COMPLETED') return null;
  if (state.status !== 'RUNNING') throw new ConflictError(`feature "${state.feature}" is ${state.status}; it cannot complete`);
  if (state.phaseIndex !== state.plan.phases.length - 1) {
    throw new ConflictError(`feature "${state.feature}" is in phase ${state.phaseIndex}, not the last one`);
  }
  return advance(state, { status: 'COMPLETED', step: 'done' }, at, SYSTEM_ACTOR, 'rollout-completed', `rollout of ${state.feature} completed`);
}

/** A rollback begins (reject, gate, alarm, error or a person). Returns null when one is already under way or done. */
export function rollbackStarted(
  state: RolloutState,
  at: string,
  actor: Actor,
  reason: string,
  safeFlags?: Readonly<Record<string, string>>,
): Transition | null {
  if (state.status === 'ROLLING_BACK' || state.status === 'ROLLED_BACK') return null;
  return advance(
    state,
    { status: 'ROLLING_BACK', step: 'done', reason, ...(safeFlags ? { safeFlags } : {}) },
    at,
    actor,
    'rollback-started',
    `rollback of ${state.feature} by ${actor.name ?? actor.id}: ${reason}`,
  );
}

/**
 * The rollback finished: every target safe, or at least one not. From ROLLING_BACK, and from ROLLBACK_FAILED when a
 * later attempt made every target safe after all (the recorded status follows the targets).
 */
export function rollbackFinished(
  state: RolloutState,
  at: string,
  outcome: { ok: true; detail: Record<string, unknown> } | { ok: false; failedTargets: readonly string[]; detail: Record<string, unknown> },
): Transition | null {
  if (state.status !== 'ROLLING_BACK' && state.status !== 'ROLLBACK_FAILED') return null;
  return outcome.ok
    ? advance(state, { status: 'ROLLED_BACK', rollbackProgress: undefined }, at, SYSTEM_ACTOR, 'rolled-back', `${state.feature} rolled back: every target is in the safe state`, outcome.detail)
    : advance(
        state,
        { status: 'ROLLBACK_FAILED', rollbackProgress: undefined },
        at,
        SYSTEM_ACTOR,
        'rollback-failed',
        `ROLLBACK FAILED for ${state.feature}: could not make safe ${outcome.failedTargets.join(', ')}`,
        outcome.detail,
      );
}

/** Where a rollback that ran out of time stands: recorded before its follow-up takes over. */
export interface RollbackProgress {
  /** The attempt that recorded it (0: the first). */
  readonly attempt: number;
  /** Since the trigger. */
  readonly elapsedMs: number;
  readonly safeTargets: readonly string[];
  readonly pendingTargets: readonly { readonly functionName: string; readonly error: string }[];
}

/** A rollback reached its deadline with targets not yet safe; it stays ROLLING_BACK and a follow-up continues. */
export function rollbackProgressed(state: RolloutState, at: string, progress: RollbackProgress): Transition | null {
  if (state.status !== 'ROLLING_BACK') return null;
  return advance(
    state,
    { rollbackProgress: progress },
    at,
    SYSTEM_ACTOR,
    'rollback-in-progress',
    `rollback of ${state.feature} still in progress: ${progress.safeTargets.length} target(s) safe, not yet ${progress.pendingTargets
      .map((p) => `${p.functionName} (${p.error})`)
      .join(', ')}`,
    { ...progress },
  );
}

/**
 * One sub-feature was rolled back on its own (its LLM daily cost passed the hard limit): it stays off for the rest
 * of this execution, and the rest of the feature stays where it is. Returns null when it is already off.
 */
export function subFeatureRolledBack(
  state: RolloutState,
  subFeature: string,
  at: string,
  actor: Actor,
  reason: string,
  detail?: Record<string, unknown>,
): Transition | null {
  if (!state.plan.subFeatures.some((s) => s.id === subFeature)) {
    throw new RangeError(`plan "${state.feature}" has no sub-feature "${subFeature}"`);
  }
  if (state.subFeaturesOff?.includes(subFeature)) return null;
  if (state.status !== 'RUNNING' && state.status !== 'AWAITING_APPROVAL') {
    throw new ConflictError(`feature "${state.feature}" is ${state.status}; only a running rollout can turn a sub-feature off`);
  }
  return advance(
    state,
    { subFeaturesOff: [...(state.subFeaturesOff ?? []), subFeature] },
    at,
    actor,
    'sub-feature-rolled-back',
    `sub-feature ${subFeature} of ${state.feature} rolled back by ${actor.name ?? actor.id}: ${reason}; the rest of the feature stays in phase ${phaseName(state.plan, state.phaseIndex) ?? '(starting)'}`,
    { subFeature, reason, ...detail },
  );
}

/** A person pauses the rollout: it stays in its phase until resumed. Returns null if already paused. */
export function rolloutPaused(state: RolloutState, at: string, actor: Actor, reason?: string): Transition | null {
  if (state.paused) return null;
  if (state.status !== 'RUNNING' && state.status !== 'AWAITING_APPROVAL') {
    throw new ConflictError(`feature "${state.feature}" is ${state.status}; only a running rollout can be paused`);
  }
  return advance(
    state,
    { paused: { by: actor, at, ...(reason ? { reason } : {}) } },
    at,
    actor,
    'paused',
    `${actor.name ?? actor.id} paused ${state.feature} in phase ${phaseName(state.plan, state.phaseIndex) ?? '(starting)'}${reason ? `: ${reason}` : ''}`,
  );
}

/** A person resumes a paused rollout. Returns null if it was not paused. */
export function rolloutResumed(state: RolloutState, at: string, actor: Actor): Transition | null {
  if (!state.paused) return null;
  const t = advance(state, {}, at, actor, 'resumed', `${actor.name ?? actor.id} resumed ${state.feature}`);
  const { paused: _paused, ...next } = t.next;
  return { next: next as RolloutState, event: t.event };
}

/**
 * The audit event of a refused request: it changed nothing but is on record, with the refusal's code. One shape
 * for every place that refuses (core operations, budgets, the Discord endpoint, the CLI).
 */
export function refusalEvent(input: {
  readonly feature: string;
  readonly state: RolloutState | undefined;
  readonly actor: Actor;
  readonly at: string;
  /** What was asked, as recorded in `detail.request` (`approve`, `rollback`, `set-budget`). */
  readonly request: string;
  /** How the message names it. @default request */
  readonly what?: string;
  readonly error: { readonly code: string; readonly message: string };
  readonly detail?: Record<string, unknown>;
}): AuditEvent {
  const { state, actor } = input;
  const phase = state ? (state.plan.phases[state.phaseIndex]?.name ?? null) : null;
  return {
    feature: input.feature,
    at: input.at,
    actor: { id: actor.id, ...(actor.name !== undefined ? { name: actor.name } : {}), via: actor.via },
    action: 'refused',
    ...(state ? { executionId: state.executionId } : {}),
    fromPhase: phase,
    toPhase: phase,
    message: `refused ${input.what ?? input.request} for ${actor.name ?? actor.id}: ${input.error.message}`,
    detail: { code: input.error.code, request: input.request, ...input.detail },
  };
}
