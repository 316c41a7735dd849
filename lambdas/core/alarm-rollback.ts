import { parseAlarmName } from './alarm-names';
import { ALARM_STATE_CHANGE } from './contract';
import { FlagWriteError } from './errors';
import { findRollbackAlarm } from './gate-metrics';
import { rollBack, rollBackSubFeature, type ExecutionSettlement, type RollbackPorts } from './operations';
import type { Actor } from './rollout-state';

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
  readonly resources: readonly string[];
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
  /** The stage's features (the keys of `PHASEGATE_STATE_MACHINES`). */
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
      readonly outcome: 'rollback-failed';
      readonly feature: string;
      readonly alarmName: string;
      readonly subFeature?: string;
      readonly message: string;
      readonly failedTargets: readonly { functionName: string; error: string }[];
    };

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
    alarmArn: parsed.resources[0],
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
      const out = await rollBackSubFeature(ports, { feature, subFeature: spec.subFeature, actor, reason, receivedAt, trigger });
      if (out.status === 'ALREADY_OFF') return { outcome: 'already-rolled-back', feature, alarmName, subFeature: spec.subFeature };
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
    if (rollout.status === 'ROLLED_BACK') return { outcome: 'already-rolled-back', feature, alarmName };
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
    const out = await rollBack(ports, { feature, actor, reason, receivedAt, trigger, knownState: rollout });
    if (out.status === 'ALREADY_ROLLED_BACK') return { outcome: 'already-rolled-back', feature, alarmName };
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
