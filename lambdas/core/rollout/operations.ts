import { authorize } from './authorize';
import { durationToSeconds } from '../plan/duration';
import { ApprovalRejectedError, ConflictError, RefusedError } from '../errors';
import type { PhasegateRole } from '../plan/schema';
import {
  notifySafely,
  type RolloutStarter,
  type ApprovalDecision,
  type ApprovalRecord,
  type Clock,
  type Notifier,
  type RolloutStore,
  type TaskTokens,
} from '../ports';
import {
  optionalPhaseOptedIn,
  approvalGranted,
  isTerminal,
  rolloutPaused,
  rolloutResumed,
  refusalEvent,
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
  /**
   * Set by the deferred job that carries on a decision its own earlier attempt may have claimed and not handed back
   * (a Function URL Lambda is frozen once it has answered): a fresh, unsettled decision of the same person is handed
   * back at once instead of being left to the attempt that claimed it. @default false
   */
  readonly resume?: boolean;
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
    if (!existing.settled && ((sameDecision && (req.resume || age > DECISION_IN_FLIGHT_MS)) || abandoned)) {
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

export {
  absentIsSafe,
  MAX_ROLLBACK_CONTINUATIONS,
  ROLLBACK_CONTINUATION_KIND,
  ROLLED_BACK_ERROR,
  rollBack,
  type ExecutionSettlement,
  type RollbackContinuation,
  type RollbackContinuationRequest,
  type RollbackInput,
  type RollbackOutcome,
  type RollbackPorts,
  type RollbackTargetResult,
} from '../rollback/rollback';
export { rollBackSubFeature, type SubFeatureRollbackOutcome } from '../rollback/sub-feature';

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

/** What {@link promoteRollout} needs. */
export interface PromotePorts {
  readonly store: RolloutStore;
  readonly tokens: TaskTokens;
  readonly clock: Clock;
}

/** The outcome of a promotion that took effect. */
export interface PromoteResult {
  readonly feature: string;
  readonly phase: string;
  readonly executionId: string;
  /** When the bake would have ended on its own (its start plus the phase's bake). */
  readonly bakeUntil?: string;
}

/**
 * End the current phase's bake now (Argo Rollouts' promote): the state machine goes on to the phase's gate, which
 * still decides (proceed, hold, ask or roll back). pm or admin; only a RUNNING rollout whose phase is baking; two
 * promotes at once hand the bake back once. Every refusal is audited and changes nothing.
 */
export async function promoteRollout(ports: PromotePorts, req: { feature: string; actor: Person }): Promise<PromoteResult> {
  const { store, tokens, clock } = ports;
  const state = await store.getState(req.feature);
  if (!state) throw new RefusedError('NOT_FOUND', `feature "${req.feature}" has no rollout`);
  const audit = { ...req, action: 'promote' };
  const allowed = authorize('promote', req.actor);
  if (!allowed.ok) return refuse(store, clock, audit, state, new RefusedError('FORBIDDEN', allowed.reason));
  if (state.status !== 'RUNNING' || state.phaseIndex < 0) {
    return refuse(store, clock, audit, state, new RefusedError('NOT_PENDING', `${req.feature} is ${state.status}; only a running rollout's bake can be ended early`));
  }
  const phase = state.plan.phases[state.phaseIndex]!;
  const bake = await store.getBake(req.feature, state.executionId, state.phaseIndex);
  const notBaking = new RefusedError('NOT_PENDING', `${req.feature} is not baking phase ${phase.name} now (its gate or approval has the phase)`);
  if (!bake) return refuse(store, clock, { ...audit, phase: phase.name }, state, notBaking);
  const actor = { id: req.actor.id, ...(req.actor.name ? { name: req.actor.name } : {}), via: req.actor.via };
  const at = clock.now().toISOString();
  try {
    await store.claimBakePromotion({ feature: req.feature, executionId: state.executionId, phaseIndex: state.phaseIndex, actor, at });
  } catch (err) {
    if (err instanceof RefusedError) return refuse(store, clock, { ...audit, phase: phase.name }, state, err);
    throw err;
  }
  try {
    await tokens.succeed(bake.taskToken, { promotedBy: actor, at });
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'TaskTimedOut' || name === 'InvalidToken' || name === 'TaskDoesNotExist') {
      return refuse(store, clock, { ...audit, phase: phase.name }, state, new RefusedError('STALE', `the bake of phase ${phase.name} of ${req.feature} is already over (${name}); its gate decides`));
    }
    throw err;
  }
  await store.appendAudit({
    feature: req.feature,
    at,
    actor,
    action: 'promoted',
    key: `promote#${state.executionId}#${state.phaseIndex}`,
    executionId: state.executionId,
    fromPhase: phase.name,
    toPhase: phase.name,
    message: `${actor.name ?? actor.id} ended the bake of phase ${phase.name} early; its gate decides`,
  });
  const bakeUntil = new Date(Date.parse(bake.startedAt) + durationToSeconds(phase.bake) * 1000);
  return { feature: req.feature, phase: phase.name, executionId: state.executionId, ...(Number.isNaN(bakeUntil.getTime()) ? {} : { bakeUntil: bakeUntil.toISOString() }) };
}

/** What {@link requestStart} needs. */
export interface StartPorts {
  readonly store: RolloutStore;
  readonly starter: RolloutStarter;
  readonly clock: Clock;
}

/**
 * A person opts in to an optional phase (004's LLM canary) before it starts: it then runs instead of being skipped.
 * Only the approvers of the phase before it may, as they are the ones who decide to go on (they opt in, then
 * approve). Refusals are audited like every other.
 */
export async function optInToPhase(
  ports: { readonly store: RolloutStore; readonly clock: Clock },
  req: { feature: string; phase: string; actor: Person },
): Promise<{ feature: string; phase: string }> {
  const { store, clock } = ports;
  const state = await store.getState(req.feature);
  if (!state) throw new RefusedError('NOT_FOUND', `feature "${req.feature}" has no rollout`);
  const base = { feature: req.feature, actor: req.actor, action: 'opt-in', phase: req.phase };
  const phaseIndex = state.plan.phases.findIndex((p) => p.name === req.phase);
  const phase = state.plan.phases[phaseIndex];
  if (!phase?.optional) return refuse(store, clock, base, state, new RefusedError('INVALID', `phase ${req.phase} of ${req.feature} is not an optional phase`));
  const before = state.plan.phases[phaseIndex - 1]!;
  const allowed = authorize('approve', req.actor, { phase: before, startedBy: state.startedBy.id });
  if (!allowed.ok) return refuse(store, clock, base, state, new RefusedError('FORBIDDEN', allowed.reason.replace(/approve phase \S+/, `opt in to phase ${phase.name}`)));
  let t;
  try {
    t = optionalPhaseOptedIn(state, phaseIndex, clock.now().toISOString(), { id: req.actor.id, ...(req.actor.name ? { name: req.actor.name } : {}), via: req.actor.via });
  } catch (err) {
    if (err instanceof ConflictError) return refuse(store, clock, base, state, new RefusedError('NOT_PENDING', err.message));
    throw err;
  }
  if (t) await store.saveTransition(state, t);
  return { feature: req.feature, phase: phase.name };
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

/**
 * Start a feature again after a rollback, at phase `from` (default: the phase it was rolled back in), not at phase 1:
 * a new execution whose input carries `startAt`, so the state machine skips the phases already passed. Refused
 * (and audited) unless the person may start rollouts and the last rollout ended ROLLED_BACK: after a completed
 * rollout there is nothing to retry, and after ROLLBACK_FAILED the targets must be made safe first.
 */
export async function requestRetry(
  ports: StartPorts,
  req: { feature: string; actor: Person; knownFeatures: readonly string[]; from?: string },
): Promise<{ executionId: string; phase: string; phaseIndex: number }> {
  const { store, clock } = ports;
  if (!req.knownFeatures.includes(req.feature)) {
    throw new RefusedError('NOT_FOUND', `no plan for feature "${req.feature}" on this stage (features: ${req.knownFeatures.join(', ') || 'none'})`);
  }
  const state = await store.getState(req.feature);
  const audit = { ...req, action: 'retry' };
  if (!state) throw new RefusedError('NOT_FOUND', `${req.feature} has never rolled out: start it with start`);
  const allowed = authorize('start', req.actor);
  if (!allowed.ok) return refuse(store, clock, audit, state, new RefusedError('FORBIDDEN', allowed.reason));
  if (state.status !== 'ROLLED_BACK') {
    const why =
      state.status === 'COMPLETED'
        ? 'its last rollout completed: start a new one with start'
        : state.status === 'ROLLBACK_FAILED'
          ? 'its rollback failed: make the targets safe (rollback again) first'
          : `it is ${state.status}: only a rolled-back rollout can be retried`;
    return refuse(store, clock, audit, state, new RefusedError('NOT_PENDING', `${req.feature} cannot be retried: ${why}`));
  }
  const phases = state.plan.phases;
  const phaseIndex = req.from !== undefined ? phases.findIndex((p) => p.name === req.from) : Math.max(0, state.phaseIndex);
  if (phaseIndex < 0) {
    return refuse(store, clock, audit, state, new RefusedError('INVALID', `${req.feature} has no phase "${req.from}" (phases: ${phases.map((p) => p.name).join(', ')})`));
  }
  const started = await ports.starter.start(req.feature, { actor: { id: req.actor.id, name: req.actor.name, via: req.actor.via }, startAt: phaseIndex });
  return { ...started, phase: phases[phaseIndex]!.name, phaseIndex };
}
