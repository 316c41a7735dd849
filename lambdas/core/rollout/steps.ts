import { RollbackIncompleteError, StaleExecutionError, TransientError } from '../errors';
import { phaseFlagValues, subFeatureOffValues } from '../flags/flags';
import { phaseGateMetrics, type GateMetric } from '../gates/gate-metrics';
import { observeGateMetrics } from '../gates/gate-observations';
import { evaluateBands, worstDecision, type BandEvaluation, type MetricVerdict } from '../gates/gates';
import { holdPolicy } from './hold';
import { rollBack, type RollbackOutcome } from './operations';
import { durationToSeconds } from '../plan/duration';
import type { Plan } from '../plan/schema';
import { notifySafely, type AlarmReader, type Clock, type FlagWriter, type MetricSink, type MetricsReader, type Notifier, type RolloutStore } from '../ports';
import {
  SYSTEM_ACTOR,
  approvalRequested,
  assertOwnedBy,
  beginPhase,
  gateEvaluated,
  phaseApplied,
  phaseRuns,
  phaseSkipped,
  rolloutCompleted,
  startRollout,
  type RolloutBaseline,
  type RolloutState,
} from './rollout-state';
import { reconcileFeature, unknownCause } from '../drift/reconcile';
import { nextPhaseStart } from './schedule';
import { requirePhaseIndex, type StepPayload } from './step-payload';
import { ownValue } from '../own';

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
  /** Where phase starts, gate results, approval requests and rollbacks are announced. @default - nowhere */
  readonly notifier?: Notifier;
  /** Reads the gates' metrics (GetMetricData). @default - none: a gate with metric bands holds */
  readonly metrics?: MetricsReader;
  /** Publishes Phasegate's own metrics (time-to-safe of a rollback). @default - none */
  readonly metricSink?: MetricSink;
  /**
   * When this invocation must have recorded its outcome (the Lambda's remaining time less a margin): flag writes stop
   * here rather than be killed by the timeout. @default - the flag writer's own limit
   */
  readonly deadline?: Date;
}

const now = (ports: { clock: Clock }): string => ports.clock.now().toISOString();

/** `Start rollout`: claim the feature for this execution. Refuses while another rollout is active. */
export async function startRolloutStep(ports: StepPorts, p: StepPayload): Promise<{ feature: string; version: number }> {
  const previous = await ports.store.getState(p.plan.feature);
  const at = now(ports);
  const alreadyStarted = previous?.executionId === p.executionId;
  const baseline = alreadyStarted ? undefined : await captureBaseline(ports, p.plan, new Date(at));
  const t = startRollout(previous, {
    plan: p.plan,
    stage: p.stage,
    executionId: p.executionId,
    actor: p.startedBy,
    at,
    ...(baseline ? { baseline } : {}),
    ...(p.startAt ? { startAt: p.startAt } : {}),
  });
  if (t) await ports.store.saveTransition(previous, t);
  return { feature: p.plan.feature, version: t?.next.version ?? previous!.version };
}

/**
 * `<phase>: schedule`: when a phase with a `start` (a time of day in a time zone) may begin, now that the phase before
 * it is done; the state machine waits until then. A phase that will be skipped (optional, nobody opted in) starts at
 * once: it only records the skip.
 */
export async function schedulePhaseStep(ports: StepPorts, p: StepPayload): Promise<{ phase: string; startAt: string }> {
  const phaseIndex = requirePhaseIndex(p);
  const state = assertOwnedBy(await ports.store.getState(p.plan.feature), p.plan.feature, p.executionId);
  const phase = state.plan.phases[phaseIndex]!;
  const at = ports.clock.now();
  const startAt = phase.start && phaseRuns(state, phaseIndex) ? nextPhaseStart(phase.start, at) : at;
  return { phase: phase.name, startAt: startAt.toISOString() };
}

/**
 * `<phase>: bake`: the phase's bake is a task that waits for its token, so `promote` can end it early by handing the
 * token back; otherwise the task times out when the bake is over (the state machine goes on to the gate either way).
 * This step only keeps the token where `promote` finds it, keyed by execution and phase.
 */
export async function bakePhaseStep(ports: StepPorts, p: StepPayload): Promise<{ phase: string }> {
  const phaseIndex = requirePhaseIndex(p);
  const state = assertOwnedBy(await ports.store.getState(p.plan.feature), p.plan.feature, p.executionId);
  const phase = state.plan.phases[phaseIndex]!;
  if (!p.taskToken) throw new Error(`the bake of phase ${phase.name} was given no task token: its task must pass $$.Task.Token`);
  await ports.store.putBake({ feature: p.plan.feature, executionId: p.executionId, phaseIndex, phaseName: phase.name, taskToken: p.taskToken, startedAt: now(ports) });
  return { phase: phase.name };
}

/** The targets' flags after a phase was applied. */
export interface ApplyResult {
  readonly phase: string;
  /** The phase was optional and nobody opted in: nothing was written, the state machine goes on to the next phase. */
  readonly skipped?: boolean;
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
  if (!phaseRuns(state, phaseIndex)) {
    const skip = phaseSkipped(state, phaseIndex, now(ports));
    if (skip) await ports.store.saveTransition(state, skip);
    return { phase: state.plan.phases[phaseIndex]!.name, skipped: true, flags: {}, targets: [] };
  }
  const begin = beginPhase(state, phaseIndex, now(ports));
  if (begin) {
    await ports.store.saveTransition(state, begin);
    state = begin.next;
    const phase = state.plan.phases[phaseIndex]!;
    await notifySafely(ports.notifier, {
      kind: 'phase-started',
      feature,
      stage: state.stage,
      executionId: p.executionId,
      phase: phase.name,
      phaseIndex,
      phases: state.plan.phases.length,
      roles: phase.roles,
      percent: phase.percent,
      bake: phase.bake,
    });
  }
  const values = phaseFlagValues(state.plan, phaseIndex, { subFeaturesOff: state.subFeaturesOff });
  const deadline = ports.deadline ? { deadline: ports.deadline } : {};
  const report = await ports.flags.applyAll(state.plan.targets, values, deadline);

  const after = await ports.store.getState(feature);
  try {
    state = assertOwnedBy(after, feature, p.executionId);
  } catch (err) {
    if (after?.safeFlags && after.executionId === p.executionId) await ports.flags.forceAll(after.plan.targets, after.safeFlags, deadline);
    throw err;
  }
  // A sub-feature rolled back while these flags were being written (its cost alarm) must not be turned back on.
  for (const id of state.subFeaturesOff ?? []) {
    const off = subFeatureOffValues(state.plan, id);
    if (Object.entries(off).some(([name, value]) => values[name] !== value)) await ports.flags.forceAll(state.plan.targets, off, deadline);
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

/**
 * A gate's verdict: go on, keep baking and check again, roll back, or (held past the plan's limit) ask a person.
 * The state machine's Choice after the gate routes on it.
 */
export type GateDecision = 'PROCEED' | 'HOLD' | 'ROLLBACK' | 'ASK';

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

/**
 * Pure: the verdict after holds are accounted for. A paused rollout holds without limit; a HOLD that has
 * lasted the plan's limit becomes ASK, so a person decides whether the phase goes on.
 */
export function applyHoldRules(
  result: GateResult,
  context: { paused?: { by: { name?: string; id: string }; reason?: string }; holdingSince?: string; now: string; maxHoldSeconds: number },
): GateResult & { countsTowardLimit: boolean } {
  if (context.paused && result.decision !== 'ROLLBACK') {
    const who = context.paused.by.name ?? context.paused.by.id;
    return { decision: 'HOLD', reasons: [`paused by ${who}${context.paused.reason ? `: ${context.paused.reason}` : ''}`], countsTowardLimit: false };
  }
  if (result.decision !== 'HOLD') return { ...result, countsTowardLimit: true };
  const heldSeconds = context.holdingSince ? (Date.parse(context.now) - Date.parse(context.holdingSince)) / 1000 : 0;
  if (heldSeconds >= context.maxHoldSeconds) {
    return {
      decision: 'ASK',
      reasons: [...result.reasons, `held for ${Math.round(heldSeconds)} s, the plan's limit: a person decides whether to go on`],
      countsTowardLimit: true,
    };
  }
  return { ...result, countsTowardLimit: true };
}

/** `<phase>: gate`: after the bake, decide whether the rollout may go on. */
export async function gateStep(ports: StepPorts, p: StepPayload): Promise<GateResult> {
  const phaseIndex = requirePhaseIndex(p);
  const feature = p.plan.feature;
  // Drift backstop: a target redeployed during the bake is put back before the phase is judged.
  await reconcileFeature(ports, { feature, cause: unknownCause('gate') }).catch((err: unknown) => {
    if (err instanceof TransientError) throw err;
    console.warn(JSON.stringify({ message: 'drift check at the gate failed', feature, error: (err as Error).message }));
  });
  const state = assertOwnedBy(await ports.store.getState(feature), feature, p.executionId);
  const phase = state.plan.phases[phaseIndex]!;
  const watched = phase.gates.alarms;
  const at = now(ports);
  const alarms = alarmGate(watched, watched.length > 0 ? await ports.alarms.alarmsInAlarm(watched) : []);
  const bands = await evaluatePhaseBands(ports, state, phaseIndex, new Date(at));
  const combined: GateResult = bands
    ? {
        decision: worstDecision([alarms.decision as 'PROCEED' | 'ROLLBACK', bands.decision]),
        reasons: [...(watched.length > 0 ? alarms.reasons : []), ...bands.reasons],
      }
    : alarms;
  const verdict = applyHoldRules(combined, {
    paused: state.paused,
    holdingSince: state.holdingSince,
    now: at,
    maxHoldSeconds: holdPolicy(phase).maxSeconds,
  });
  const result: GateResult = { decision: verdict.decision, reasons: verdict.reasons };
  const figures = bands?.metrics.map((m) => ({ metric: m.metric, decision: m.decision, value: m.value ?? null, ...(m.baseline !== undefined ? { baseline: m.baseline } : {}) }));
  await ports.store.saveTransition(
    state,
    gateEvaluated(state, phaseIndex, at, result.decision, result.reasons, {
      countsTowardLimit: verdict.countsTowardLimit,
      ...(figures ? { detail: { metrics: figures, ...(bands?.window ? { window: bands.window } : {}) } } : {}),
    }),
  );
  const repeatHold = result.decision === 'HOLD' && state.lastGate?.decision === 'HOLD';
  if (!repeatHold) {
    await notifySafely(ports.notifier, {
      kind: 'gate-evaluated',
      feature,
      stage: state.stage,
      executionId: p.executionId,
      phase: phase.name,
      decision: result.decision,
      reasons: result.reasons,
    });
  }
  return result;
}

/**
 * The verdict of a phase's metric bands over its bake window (from when its flags were on every target until now),
 * or undefined when the phase has none. Without a metrics reader the bands cannot be checked, so the gate holds.
 * An LLM sub-feature over its hard limit holds the gate: its own cost alarm rolls back only that sub-feature, and
 * the gate never rolls the whole feature back for it; a sub-feature already rolled back is not gated any more.
 */
export async function evaluatePhaseBands(
  ports: Pick<StepPorts, 'metrics'>,
  state: RolloutState,
  phaseIndex: number,
  at: Date,
): Promise<(BandEvaluation & { window?: { start: string; end: string }; invocations?: number }) | undefined> {
  const phase = state.plan.phases[phaseIndex]!;
  const metrics = phaseGateMetrics(state.plan, phaseIndex).filter((m) => !(m.subFeature && state.subFeaturesOff?.includes(m.subFeature)));
  if (metrics.length === 0) return undefined;
  if (!ports.metrics) {
    return { decision: 'HOLD', reasons: ['metric bands cannot be checked: no metrics reader is configured'], metrics: [] };
  }
  const bakeStart = state.phaseAppliedAt ? Date.parse(state.phaseAppliedAt) : at.getTime() - durationToSeconds(phase.bake) * 1000;
  const window = { start: new Date(Math.min(bakeStart, at.getTime() - 60_000)), end: at };
  const observed = await observeGateMetrics(ports.metrics, state.plan, metrics, window);
  const evaluation = evaluateBands({
    metrics,
    observations: observed.observations,
    invocations: observed.invocations,
    minInvocations: phase.gates.minInvocations,
    baseline: state.baseline?.values,
    windowEnd: at.toISOString(),
    windowStart: window.start.toISOString(),
  });
  const adjusted: MetricVerdict[] = evaluation.metrics.map((m) =>
    m.subFeature && m.decision === 'ROLLBACK'
      ? { ...m, decision: 'HOLD', reason: `${m.reason}; the gate holds: the daily cost alarm rolls back sub-feature ${m.subFeature} on its own` }
      : m,
  );
  return {
    decision: worstDecision(adjusted.map((m) => m.decision)),
    reasons: adjusted.map((m) => m.reason),
    metrics: adjusted,
    window: { start: window.start.toISOString(), end: window.end.toISOString() },
    // Read only when a band is on the targets' own metrics (error rate, durations, throttles).
    ...(metrics.some((m) => m.kind !== 'custom' && m.kind !== 'llm-spend') ? { invocations: observed.invocations } : {}),
  };
}

/**
 * Metric values from before the rollout, for the bands that compare with a baseline: each read over its band's
 * window ending now, before any flag changes. A read that fails for good leaves the reason instead (the bands then
 * skip the comparison); a throttled read is retried by the state machine.
 */
export async function captureBaseline(ports: Pick<StepPorts, 'metrics'>, plan: Plan, at: Date): Promise<RolloutBaseline | undefined> {
  const wanted = new Map<string, GateMetric>();
  plan.phases.forEach((_, i) => {
    for (const m of phaseGateMetrics(plan, i)) {
      const current = wanted.get(m.id);
      if (m.band.baseline && (!current || m.band.baseline.windowSeconds > current.band.baseline!.windowSeconds)) wanted.set(m.id, m);
    }
  });
  if (wanted.size === 0 || !ports.metrics) return undefined;
  const values: Record<string, number | null> = {};
  try {
    for (const m of wanted.values()) {
      const window = { start: new Date(at.getTime() - m.band.baseline!.windowSeconds * 1000), end: at };
      const observed = await observeGateMetrics(ports.metrics, plan, [m], window);
      values[m.id] = ownValue(observed.observations, m.id)?.value ?? null;
    }
  } catch (err) {
    if (err instanceof TransientError) throw err;
    return { capturedAt: at.toISOString(), values, error: (err as Error).message };
  }
  return { capturedAt: at.toISOString(), values };
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
  if (t) {
    await ports.store.saveTransition(state, t);
    await notifySafely(ports.notifier, {
      kind: 'approval-requested',
      feature,
      stage: state.stage,
      executionId: p.executionId,
      phase: phase.name,
      phaseIndex,
      approvers: phase.approval.approvers,
      ...(state.lastGate ? { gate: { decision: state.lastGate.decision, reasons: state.lastGate.reasons } } : {}),
      ...(state.lastGate?.decision === 'ASK' ? { heldTooLong: true } : {}),
    });
  }
  return { phase: phase.name };
}

/** `Complete rollout`: every phase passed. */
export async function finishRolloutStep(ports: StepPorts, p: StepPayload): Promise<{ feature: string; status: string }> {
  const feature = p.plan.feature;
  const state = assertOwnedBy(await ports.store.getState(feature), feature, p.executionId);
  const t = rolloutCompleted(state, now(ports));
  if (t) {
    await ports.store.saveTransition(state, t);
    await notifySafely(ports.notifier, { kind: 'rollout-completed', feature, stage: state.stage, executionId: p.executionId });
  }
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

/**
 * `Roll back`: put every target back in the safe state. A rollout owned by another execution is left alone. When the
 * invocation's deadline comes with targets not yet safe, the progress is recorded (and announced the first time) and
 * the step fails with {@link RollbackIncompleteError}: the state machine retries it and the retry continues where this
 * one stopped, until every target is safe or, after the last follow-up, ROLLBACK_FAILED names each target.
 */
export async function rollbackStep(ports: StepPorts, p: StepPayload): Promise<RollbackOutcome | { skipped: string }> {
  const state: RolloutState | undefined = await ports.store.getState(p.plan.feature);
  if (!state || state.executionId !== p.executionId) {
    return { skipped: `execution ${p.executionId} does not own ${p.plan.feature}; nothing rolled back` };
  }
  const progress = state.status === 'ROLLING_BACK' || state.status === 'ROLLBACK_FAILED' ? state.rollbackProgress : undefined;
  return rollBack(
    {
      ...ports,
      continuation: {
        continueRollback: async (request) => {
          throw new RollbackIncompleteError(`rollback of ${request.feature} not finished by this invocation's deadline; the state machine retries it (follow-up ${request.attempt})`);
        },
      },
    },
    {
      feature: p.plan.feature,
      actor: SYSTEM_ACTOR,
      reason: progress && state.reason ? state.reason : describeFailure(p.context),
      executionId: p.executionId,
      knownState: state,
      ...(progress ? { attempt: progress.attempt + 1, receivedAt: new Date(Date.parse(state.updatedAt) - progress.elapsedMs) } : {}),
      ...(ports.deadline ? { deadline: ports.deadline } : {}),
    },
  );
}
