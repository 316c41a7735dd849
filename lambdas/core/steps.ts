import { StaleExecutionError } from './errors';
import { phaseFlagValues } from './flags';
import { rollBack, type RollbackOutcome } from './operations';
import type { AlarmReader, Clock, FlagWriter, RolloutStore } from './ports';
import {
  SYSTEM_ACTOR,
  approvalRequested,
  assertOwnedBy,
  beginPhase,
  gateEvaluated,
  phaseApplied,
  rolloutCompleted,
  startRollout,
  type RolloutState,
} from './rollout-state';
import { requirePhaseIndex, type StepPayload } from './step-payload';

/**
 * The state machine's steps as plain functions over ports. Each Lambda handler parses its payload and calls
 * exactly one of these. Every step is safe to retry: a repeated call finds its transition already made.
 */

/** Everything a step may touch. */
export interface StepPorts {
  readonly store: RolloutStore;
  readonly flags: FlagWriter;
  readonly alarms: AlarmReader;
  readonly clock: Clock;
}

const now = (ports: { clock: Clock }): string => ports.clock.now().toISOString();

/** `Start rollout`: claim the feature for this execution. Refuses while another rollout is active. */
export async function startRolloutStep(ports: StepPorts, p: StepPayload): Promise<{ feature: string; version: number }> {
  const previous = await ports.store.getState(p.plan.feature);
  const t = startRollout(previous, { plan: p.plan, stage: p.stage, executionId: p.executionId, actor: p.startedBy, at: now(ports) });
  if (t) await ports.store.saveTransition(previous, t);
  return { feature: p.plan.feature, version: t?.next.version ?? previous!.version };
}

/** The targets' flags after a phase was applied. */
export interface ApplyResult {
  readonly phase: string;
  readonly flags: Record<string, string>;
  readonly targets: readonly { functionName: string; changed: readonly string[]; ms: number }[];
}

/**
 * `<phase>: apply flags`: enter the phase and write its flags to every target (all or nothing). If a rollback
 * took the feature over while the flags were being written, the rollback's safe values are written again so
 * this write cannot outlive it.
 */
export async function applyPhaseStep(ports: StepPorts, p: StepPayload): Promise<ApplyResult> {
  const phaseIndex = requirePhaseIndex(p);
  const feature = p.plan.feature;
  let state = assertOwnedBy(await ports.store.getState(feature), feature, p.executionId);
  const begin = beginPhase(state, phaseIndex, now(ports));
  if (begin) {
    await ports.store.saveTransition(state, begin);
    state = begin.next;
  }
  const values = phaseFlagValues(state.plan, phaseIndex);
  const report = await ports.flags.applyAll(state.plan.targets, values);

  const after = await ports.store.getState(feature);
  try {
    state = assertOwnedBy(after, feature, p.executionId);
  } catch (err) {
    if (after?.safeFlags && after.executionId === p.executionId) await ports.flags.forceAll(after.plan.targets, after.safeFlags);
    throw err;
  }
  const applied = phaseApplied(state, phaseIndex, now(ports), {
    flags: values,
    targets: report.results.map((r) => ({ functionName: r.functionName, changed: r.changed, ms: r.ms })),
  });
  if (applied) await ports.store.saveTransition(state, applied);
  return {
    phase: state.plan.phases[phaseIndex]!.name,
    flags: values,
    targets: report.results.map((r) => ({ functionName: r.functionName, changed: r.changed, ms: r.ms })),
  };
}

/** A gate's verdict. */
export type GateDecision = 'PROCEED' | 'HOLD' | 'ROLLBACK';

/** The gate step's result, read by the state machine's Choice at `$.gate.decision`. */
export interface GateResult {
  readonly decision: GateDecision;
  readonly reasons: readonly string[];
}

/** Pure: the verdict from the watched alarms that are in ALARM. */
export function alarmGate(watched: readonly string[], firing: readonly { name: string; reason: string }[]): GateResult {
  if (firing.length > 0) {
    return { decision: 'ROLLBACK', reasons: firing.map((a) => `alarm ${a.name} is in ALARM: ${a.reason}`) };
  }
  return {
    decision: 'PROCEED',
    reasons: [watched.length === 0 ? 'no alarms watched in this phase' : `none of ${watched.length} watched alarm(s) in ALARM`],
  };
}

/** `<phase>: gate`: after the bake, decide whether the rollout may go on. */
export async function gateStep(ports: StepPorts, p: StepPayload): Promise<GateResult> {
  const phaseIndex = requirePhaseIndex(p);
  const feature = p.plan.feature;
  const state = assertOwnedBy(await ports.store.getState(feature), feature, p.executionId);
  const watched = state.plan.phases[phaseIndex]!.gates.alarms;
  const result = alarmGate(watched, watched.length > 0 ? await ports.alarms.alarmsInAlarm(watched) : []);
  await ports.store.saveTransition(state, gateEvaluated(state, phaseIndex, now(ports), result.decision, result.reasons));
  return result;
}

/** `<phase>: approval`: store the task token and mark the feature as waiting for a person. */
export async function requestApprovalStep(ports: StepPorts, p: StepPayload): Promise<{ phase: string }> {
  const phaseIndex = requirePhaseIndex(p);
  if (!p.taskToken) throw new StaleExecutionError('approval step called without a task token');
  const feature = p.plan.feature;
  const state = assertOwnedBy(await ports.store.getState(feature), feature, p.executionId);
  const phase = state.plan.phases[phaseIndex]!;
  await ports.store.putApprovalRequest({
    feature,
    executionId: p.executionId,
    phaseIndex,
    phaseName: phase.name,
    taskToken: p.taskToken,
    requestedAt: now(ports),
  });
  const t = approvalRequested(state, phaseIndex, now(ports));
  if (t) await ports.store.saveTransition(state, t);
  return { phase: phase.name };
}

/** `Complete rollout`: every phase passed. */
export async function finishRolloutStep(ports: StepPorts, p: StepPayload): Promise<{ feature: string; status: string }> {
  const feature = p.plan.feature;
  const state = assertOwnedBy(await ports.store.getState(feature), feature, p.executionId);
  const t = rolloutCompleted(state, now(ports));
  if (t) await ports.store.saveTransition(state, t);
  return { feature, status: 'COMPLETED' };
}

/** Why the state machine is rolling back, from the state it hands over (`error` from a Catch, or `gate`). */
export function describeFailure(context: Record<string, unknown> | undefined): string {
  const error = context?.error as { Error?: string; Cause?: string } | undefined;
  if (error?.Error) {
    let cause = error.Cause ?? '';
    try {
      const parsed = JSON.parse(cause) as { errorMessage?: string };
      if (parsed.errorMessage) cause = parsed.errorMessage;
    } catch {
      // Not JSON: a plain cause string.
    }
    return `${error.Error}${cause ? `: ${cause}` : ''}`;
  }
  const gate = context?.gate as { decision?: string; reasons?: string[] } | undefined;
  if (gate?.decision === 'ROLLBACK') return `gate decided ROLLBACK: ${(gate.reasons ?? []).join('; ')}`;
  return 'rollback requested by the state machine';
}

/** `Roll back`: put every target back in the safe state. A rollout owned by another execution is left alone. */
export async function rollbackStep(ports: StepPorts, p: StepPayload): Promise<RollbackOutcome | { skipped: string }> {
  const state: RolloutState | undefined = await ports.store.getState(p.plan.feature);
  if (!state || state.executionId !== p.executionId) {
    return { skipped: `execution ${p.executionId} does not own ${p.plan.feature}; nothing rolled back` };
  }
  return rollBack(ports, { feature: p.plan.feature, actor: SYSTEM_ACTOR, reason: describeFailure(p.context), executionId: p.executionId });
}
