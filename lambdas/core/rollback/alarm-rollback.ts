import { parseAlarmName } from '../gates/alarm-names';
import { ALARM_STATE_CHANGE } from '../contract';
import { FlagWriteError } from '../errors';
import { findRollbackAlarm } from '../gates/gate-metrics';
import {
  ROLLBACK_CONTINUATION_KIND,
  rollBack,
  type ExecutionSettlement,
  type RollbackContinuationRequest,
  type RollbackPorts,
} from './rollback';
import { rollBackSubFeature } from './sub-feature';
import type { Actor } from '../rollout/rollout-state';

/**
 * Automatic rollback from a CloudWatch alarm: the EventBridge event `CloudWatch Alarm State Change` for one of a
 * stage's rollback alarms rolls its feature back (or, for an LLM daily-cost alarm, only that sub-feature).
 * EventBridge delivers at least once and out of order, so every outcome is safe to repeat: an event that finds the
 * work done changes nothing.
 */

/** A CloudWatch alarm state (`ALARM`, `OK`, `INSUFFICIENT_DATA`) as the event carries it. */
export interface AlarmEventState {
  readonly value: string;
  readonly reason?: string;
  readonly reasonData?: string;
  readonly timestamp: string;
}

/** The event CloudWatch sends to EventBridge when an alarm changes state (the fields Phasegate reads). */
export interface AlarmStateChangeEvent {
  readonly version?: string;
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  /** The alarm's ARN. Optional here: an event without it still rolls back (it is only recorded). */
  readonly resources?: readonly string[];
  readonly detail: {
    readonly alarmName: string;
    readonly state: AlarmEventState;
    readonly previousState?: AlarmEventState;
    readonly configuration?: Record<string, unknown>;
  };
}

/** What the alarm-rollback function knows about its stage (from its environment). */
export interface AlarmRollbackContext {
  readonly stage: string;
  /** The stage's features (`PHASEGATE_FEATURES`). */
  readonly features: readonly string[];
}

/** What one alarm event did. */
export type AlarmRollbackOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string; readonly alarmName?: string; readonly feature?: string }
  | {
      readonly outcome: 'rolled-back';
      readonly feature: string;
      readonly alarmName: string;
      readonly timeToSafeMs: number;
      readonly flags: Readonly<Record<string, string>>;
      readonly targets: readonly { functionName: string; ok: boolean; ms: number }[];
      readonly execution?: ExecutionSettlement;
    }
  | {
      readonly outcome: 'sub-feature-rolled-back';
      readonly feature: string;
      readonly subFeature: string;
      readonly alarmName: string;
      readonly timeToSafeMs: number;
      readonly flags: Readonly<Record<string, string>>;
      readonly targets: readonly { functionName: string; ok: boolean; ms: number }[];
    }
  | { readonly outcome: 'already-rolled-back'; readonly feature: string; readonly alarmName: string; readonly subFeature?: string }
  | {
      readonly outcome: 'rollback-in-progress';
      readonly feature: string;
      readonly alarmName: string;
      readonly subFeature?: string;
      /** Targets not yet safe; a follow-up invocation continues with them. */
      readonly pendingTargets: readonly { functionName: string; error: string }[];
    }
  | {
      readonly outcome: 'rollback-failed';
      readonly feature: string;
      readonly alarmName: string;
      readonly subFeature?: string;
      readonly message: string;
      readonly failedTargets: readonly { functionName: string; error: string }[];
    };

function inProgress(
  feature: string,
  alarmName: string,
  targets: readonly { functionName: string; ok: boolean; error?: string }[],
  subFeature?: string,
): AlarmRollbackOutcome {
  return {
    outcome: 'rollback-in-progress',
    feature,
    alarmName,
    ...(subFeature ? { subFeature } : {}),
    pendingTargets: targets.filter((t) => !t.ok).map((t) => ({ functionName: t.functionName, error: t.error ?? 'unknown' })),
  };
}

/** Read an EventBridge event as an alarm state change, or say why it is not one. */
export function parseAlarmEvent(event: unknown): AlarmStateChangeEvent | { problem: string } {
  const e = event as Partial<AlarmStateChangeEvent> | null | undefined;
  if (!e || typeof e !== 'object') return { problem: 'the event is not an object' };
  if (e.source !== ALARM_STATE_CHANGE.source || e['detail-type'] !== ALARM_STATE_CHANGE.detailType) {
    return { problem: `not a CloudWatch alarm state change (source ${String(e.source)}, detail-type ${String(e['detail-type'])})` };
  }
  const d = e.detail;
  if (!d || typeof d.alarmName !== 'string' || !d.state || typeof d.state.value !== 'string') {
    return { problem: 'the event has no detail.alarmName or detail.state.value' };
  }
  return e as AlarmStateChangeEvent;
}

/** The actor recorded for an alarm-driven rollback. */
export function alarmActor(alarmName: string): Actor {
  return { id: `alarm:${alarmName}`, name: `alarm ${alarmName}`, via: 'alarm' };
}

/**
 * Handle one alarm event. Only `ALARM` acts. An alarm that is not one of this stage's rollback alarms, a feature
 * with no rollout, an alarm of another phase than the current one, an alarm that went off before this rollout
 * started, and a rollout already rolled back or completed are ignored (and say why). A late event whose alarm is
 * back to OK by now still rolls back: the alarm did cross the rollback band for as long as the plan says matters.
 * Never throws for an event it ignores; throws only what the rollback could not survive (the store unreachable).
 */
export async function handleAlarmEvent(
  ports: RollbackPorts,
  context: AlarmRollbackContext,
  event: unknown,
  receivedAt: Date = ports.clock.now(),
  options: { readonly deadline?: Date } = {},
): Promise<AlarmRollbackOutcome> {
  const parsed = parseAlarmEvent(event);
  if ('problem' in parsed) return { outcome: 'ignored', reason: parsed.problem };
  const alarmName = parsed.detail.alarmName;
  const state = parsed.detail.state;
  if (state.value !== 'ALARM') {
    return { outcome: 'ignored', alarmName, reason: `alarm state is ${state.value}: only ALARM rolls back` };
  }
  const owner = parseAlarmName(alarmName, context.stage, context.features);
  if (!owner) return { outcome: 'ignored', alarmName, reason: `not a rollback alarm of a ${context.stage} feature (${context.features.join(', ') || 'none'})` };
  const feature = owner.feature;
  const rollout = await ports.store.getState(feature);
  if (!rollout) return { outcome: 'ignored', alarmName, feature, reason: `${feature} has no rollout` };
  const spec = findRollbackAlarm(rollout.plan, context.stage, alarmName);
  if (!spec) return { outcome: 'ignored', alarmName, feature, reason: `not one of the rollback alarms of the plan ${feature}'s rollout runs` };
  const wentOffAt = Date.parse(state.timestamp || parsed.time);
  if (Number.isFinite(wentOffAt) && wentOffAt < Date.parse(rollout.startedAt)) {
    return { outcome: 'ignored', alarmName, feature, reason: `the alarm went off at ${state.timestamp}, before this rollout started (${rollout.startedAt})` };
  }
  const trigger = {
    alarmName,
    ...(Array.isArray(parsed.resources) && typeof parsed.resources[0] === 'string' ? { alarmArn: parsed.resources[0] } : {}),
    eventId: parsed.id,
    state: state.value,
    stateReason: state.reason,
    stateTimestamp: state.timestamp,
    previousState: parsed.detail.previousState?.value,
  };
  const reason = `alarm ${alarmName} is in ALARM${state.reason ? `: ${state.reason}` : ''}`;
  const actor = alarmActor(alarmName);

  try {
    if (spec.subFeature) {
      const out = await rollBackSubFeature(ports, { feature, subFeature: spec.subFeature, actor, reason, receivedAt, trigger, ...options });
      if (out.status === 'ALREADY_OFF') return { outcome: 'already-rolled-back', feature, alarmName, subFeature: spec.subFeature };
      if (out.status === 'IN_PROGRESS') return inProgress(feature, alarmName, out.targets, spec.subFeature);
      if (out.status === 'NOT_ACTIVE') return { outcome: 'ignored', alarmName, feature, reason: `${feature} is not rolling out (${rollout.status})` };
      return {
        outcome: 'sub-feature-rolled-back',
        feature,
        subFeature: spec.subFeature,
        alarmName,
        timeToSafeMs: out.timeToSafeMs ?? 0,
        flags: out.flags,
        targets: out.targets,
      };
    }
    if (rollout.status === 'ROLLED_BACK') {
      // A repeat of the event that rolled it back: finish that rollback's wrap-up if its invocation died before it.
      await rollBack(ports, { feature, actor, reason, receivedAt, trigger, knownState: rollout });
      return { outcome: 'already-rolled-back', feature, alarmName };
    }
    if (rollout.status === 'COMPLETED') {
      return { outcome: 'ignored', alarmName, feature, reason: `the rollout of ${feature} completed; a completed rollout is rolled back by a person (rollback command)` };
    }
    const phase = rollout.plan.phases[rollout.phaseIndex]?.name;
    const inFlight = rollout.status === 'ROLLING_BACK' || rollout.status === 'ROLLBACK_FAILED';
    if (!inFlight && (phase === undefined || !spec.phases.includes(phase))) {
      return {
        outcome: 'ignored',
        alarmName,
        feature,
        reason: `the alarm watches phase(s) ${spec.phases.join(', ')}; ${feature} is in ${phase ?? 'no phase yet'}`,
      };
    }
    const out = await rollBack(ports, {
      feature,
      actor,
      reason,
      receivedAt,
      trigger,
      knownState: rollout,
      // The alarm was checked against this phase: a rollback to the previous phase must never land on it.
      ...(inFlight ? {} : { triggerPhaseIndex: rollout.phaseIndex }),
      ...options,
    });
    if (out.status === 'ALREADY_ROLLED_BACK') return { outcome: 'already-rolled-back', feature, alarmName };
    if (out.status === 'IN_PROGRESS') return inProgress(feature, alarmName, out.targets);
    return {
      outcome: 'rolled-back',
      feature,
      alarmName,
      timeToSafeMs: out.timeToSafeMs ?? 0,
      flags: out.safeFlags,
      targets: out.targets,
      ...(out.execution ? { execution: out.execution } : {}),
    };
  } catch (err) {
    if (err instanceof FlagWriteError) {
      return { outcome: 'rollback-failed', feature, alarmName, ...(spec.subFeature ? { subFeature: spec.subFeature } : {}), message: err.message, failedTargets: err.failures };
    }
    throw err;
  }
}

/** What one follow-up of a rollback did. */
export type ContinuationOutcome =
  | { readonly outcome: 'continued'; readonly feature: string; readonly subFeature?: string; readonly status: string; readonly attempt: number }
  | { readonly outcome: 'ignored'; readonly reason: string }
  | {
      readonly outcome: 'rollback-failed';
      readonly feature: string;
      readonly subFeature?: string;
      readonly message: string;
      readonly failedTargets: readonly { functionName: string; error: string }[];
    };

/** Read an event as a rollback follow-up, or say why it is not one. */
export function parseContinuation(event: unknown): RollbackContinuationRequest | { problem: string } {
  const e = event as Partial<RollbackContinuationRequest> | null | undefined;
  if (!e || typeof e !== 'object' || e.kind !== ROLLBACK_CONTINUATION_KIND) return { problem: 'not a rollback follow-up' };
  const problems: string[] = [];
  if (typeof e.feature !== 'string' || !e.feature) problems.push('feature: expected a feature id');
  if (typeof e.executionId !== 'string' || !e.executionId) problems.push('executionId: expected an execution ARN');
  if (typeof e.attempt !== 'number' || !Number.isInteger(e.attempt) || e.attempt < 1) problems.push('attempt: expected an integer >= 1');
  if (typeof e.receivedAt !== 'string' || !Number.isFinite(Date.parse(e.receivedAt))) problems.push('receivedAt: expected an ISO 8601 time');
  if (typeof e.reason !== 'string') problems.push('reason: expected a string');
  if (!e.actor || typeof e.actor !== 'object' || typeof (e.actor as { id?: unknown }).id !== 'string') problems.push('actor: expected { id, via }');
  if (e.subFeature !== undefined && typeof e.subFeature !== 'string') problems.push('subFeature: expected a string');
  if (problems.length > 0) return { problem: `rollback follow-up is malformed: ${problems.join('; ')}` };
  return e as RollbackContinuationRequest;
}

/**
 * Continue a rollback that an earlier invocation could not finish before its deadline: the same rollback (or
 * sub-feature rollback) of the same execution, counting time-to-safe from the original trigger. A follow-up for a
 * rollout that has moved on (a newer execution) changes nothing.
 */
export async function handleContinuation(
  ports: RollbackPorts,
  request: RollbackContinuationRequest,
  options: { readonly deadline?: Date } = {},
): Promise<ContinuationOutcome> {
  const state = await ports.store.getState(request.feature);
  if (!state || state.executionId !== request.executionId) {
    return { outcome: 'ignored', reason: `${request.feature} is no longer rolled out by ${request.executionId}` };
  }
  const common = {
    feature: request.feature,
    actor: request.actor,
    reason: request.reason,
    receivedAt: new Date(request.receivedAt),
    attempt: request.attempt,
    ...(request.trigger ? { trigger: request.trigger } : {}),
    ...options,
  };
  try {
    if (request.subFeature) {
      const out = await rollBackSubFeature(ports, { ...common, subFeature: request.subFeature, executionId: request.executionId });
      return { outcome: 'continued', feature: request.feature, subFeature: request.subFeature, status: out.status, attempt: request.attempt };
    }
    const out = await rollBack(ports, { ...common, executionId: request.executionId, endsExecution: true, knownState: state });
    return { outcome: 'continued', feature: request.feature, status: out.status, attempt: request.attempt };
  } catch (err) {
    if (err instanceof FlagWriteError) {
      return {
        outcome: 'rollback-failed',
        feature: request.feature,
        ...(request.subFeature ? { subFeature: request.subFeature } : {}),
        message: err.message,
        failedTargets: err.failures,
      };
    }
    throw err;
  }
}
