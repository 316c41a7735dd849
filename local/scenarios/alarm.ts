/**
 * Rehearsal building block: a rollback alarm goes off during a phase. Flips the feature's alarm to ALARM in the
 * fake CloudWatch, builds the exact event CloudWatch sends to EventBridge, checks that the synthesized EventBridge
 * rule matches it and targets the alarm-rollback function, invokes the real handler with the function's template
 * environment, and reports what happened: the outcome, time-to-safe and the targets' final flags.
 */
import { ENV } from '../../lambdas/core/contract';
import { randomUUID } from 'node:crypto';
import { alarmPartName } from '../../lambdas/core/gates/alarm-names';
import type { AlarmRollbackOutcome, AlarmStateChangeEvent } from '../../lambdas/core/rollback/alarm-rollback';
import { ALARM_STATE_CHANGE } from '../../lambdas/core/contract';
import { planFlagNames } from '../../lambdas/core/flags/flags';
import { featureAlarmSpecs, type RollbackAlarmSpec } from '../../lambdas/core/gates/gate-metrics';
import type { Plan } from '../../lambdas/core/plan/schema';
import { LOCAL_AWS, functionsFromTemplate, type CloudFormationTemplate, type ResolveOptions } from '../asl';
import type { FakeCloudWatch } from '../fakes/cloudwatch';
import type { FakeLambdaControlPlane } from '../fakes/lambda-control-plane';
import { servedEnvironment } from './drift';

/** An alarm state as the event carries it. */
export interface EventAlarmState {
  readonly value: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  readonly reason: string;
  readonly timestamp: string;
}

/** What {@link alarmStateChangeEvent} needs. */
export interface AlarmEventInput {
  readonly alarmName: string;
  /** @default 'ALARM' */
  readonly state?: EventAlarmState['value'];
  /** @default 'OK' */
  readonly previousState?: EventAlarmState['value'];
  /** @default a threshold-crossed reason like CloudWatch's */
  readonly reason?: string;
  /** When the alarm changed state. @default now */
  readonly at?: Date;
  /** @default LOCAL_AWS.region */
  readonly region?: string;
  /** @default LOCAL_AWS.accountId */
  readonly account?: string;
  /** The alarm's configuration (metrics, description), as the event carries it. @default a minimal one */
  readonly configuration?: Record<string, unknown>;
}

/** CloudWatch's timestamp format in alarm events: `2026-11-02T09:00:00.000+0000`. */
function cloudWatchTimestamp(at: Date): string {
  return at.toISOString().replace('Z', '+0000');
}

/**
 * The event CloudWatch sends to EventBridge when an alarm changes state, field for field: `version`, `id`,
 * `detail-type` "CloudWatch Alarm State Change", `source` aws.cloudwatch, `account`, `time`, `region`,
 * `resources` [the alarm ARN], and `detail` with `alarmName`, `state` and `previousState` (value, reason,
 * reasonData, timestamp) and `configuration`.
 */
export function alarmStateChangeEvent(input: AlarmEventInput): AlarmStateChangeEvent {
  const at = input.at ?? new Date();
  const region = input.region ?? LOCAL_AWS.region;
  const account = input.account ?? LOCAL_AWS.accountId;
  const value = input.state ?? 'ALARM';
  const previous = input.previousState ?? (value === 'ALARM' ? 'OK' : 'ALARM');
  const reason =
    input.reason ??
    (value === 'ALARM'
      ? 'Threshold Crossed: 1 out of the last 1 datapoints [0.042 (02/11/26 09:00:00)] was greater than the threshold (0.01) (minimum 1 datapoint for OK -> ALARM transition).'
      : 'Threshold Crossed: 1 out of the last 1 datapoints [0.0 (02/11/26 09:05:00)] was not greater than the threshold (0.01) (minimum 1 datapoint for ALARM -> OK transition).');
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': ALARM_STATE_CHANGE.detailType,
    source: ALARM_STATE_CHANGE.source,
    account,
    time: at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:cloudwatch:${region}:${account}:alarm:${input.alarmName}`],
    detail: {
      alarmName: input.alarmName,
      state: { value, reason, reasonData: JSON.stringify({ version: '1.0', queryDate: cloudWatchTimestamp(at) }), timestamp: cloudWatchTimestamp(at) },
      previousState: {
        value: previous,
        reason: 'Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching].',
        timestamp: cloudWatchTimestamp(new Date(at.getTime() - 3_600_000)),
      },
      configuration: input.configuration ?? { description: `Phasegate rollback alarm ${input.alarmName}`, metrics: [] },
    },
  };
}

/**
 * Whether `event` matches an EventBridge event pattern, for the subset CDK emits and alarm rules use: exact values
 * (strings, numbers, booleans, null) listed in arrays, `prefix`, `suffix`, `equals-ignore-case`, `anything-but`
 * (values or a prefix), `exists`, `numeric` comparisons, and nested objects. An array in the event matches when
 * any of its elements does.
 */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  if (pattern === null || typeof pattern !== 'object' || Array.isArray(pattern)) {
    throw new Error(`event pattern: expected an object, got ${JSON.stringify(pattern)}`);
  }
  for (const [key, rule] of Object.entries(pattern as Record<string, unknown>)) {
    const value = event !== null && typeof event === 'object' ? (event as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(rule)) {
      if (!matchesAny(rule, value)) return false;
    } else if (rule !== null && typeof rule === 'object') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
      if (!matchesEventPattern(rule, value)) return false;
    } else {
      throw new Error(`event pattern: ${key} must be an array or an object, got ${JSON.stringify(rule)}`);
    }
  }
  return true;
}

function matchesAny(rules: readonly unknown[], value: unknown): boolean {
  const values = Array.isArray(value) ? value : [value];
  return rules.some((rule) => {
    if (rule !== null && typeof rule === 'object') {
      const r = rule as Record<string, unknown>;
      if ('exists' in r) return r.exists ? value !== undefined : value === undefined;
      return values.some((v) => v !== undefined && matchesOperator(r, v));
    }
    return values.some((v) => v === rule);
  });
}

function matchesOperator(rule: Record<string, unknown>, value: unknown): boolean {
  const [op, arg] = Object.entries(rule)[0] ?? [];
  switch (op) {
    case 'prefix':
      return typeof value === 'string' && typeof arg === 'string' && value.startsWith(arg);
    case 'suffix':
      return typeof value === 'string' && typeof arg === 'string' && value.endsWith(arg);
    case 'equals-ignore-case':
      return typeof value === 'string' && typeof arg === 'string' && value.toLowerCase() === arg.toLowerCase();
    case 'anything-but': {
      if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) return !matchesOperator(arg as Record<string, unknown>, value);
      const excluded = Array.isArray(arg) ? arg : [arg];
      return !excluded.includes(value);
    }
    case 'numeric': {
      if (typeof value !== 'number' || !Array.isArray(arg)) return false;
      for (let i = 0; i + 1 < arg.length; i += 2) {
        const [cmp, n] = [arg[i] as string, arg[i + 1] as number];
        const ok = cmp === '<' ? value < n : cmp === '<=' ? value <= n : cmp === '>' ? value > n : cmp === '>=' ? value >= n : cmp === '=' ? value === n : false;
        if (!ok) return false;
      }
      return true;
    }
    default:
      throw new Error(`event pattern: the operator ${String(op)} is not supported locally`);
  }
}

/** An EventBridge rule of a template that matched an event. */
export interface MatchedRule {
  readonly logicalId: string;
  readonly eventPattern: Record<string, unknown>;
  /** Logical ids of the rule's Lambda targets. */
  readonly targetFunctions: readonly string[];
}

/** Every `AWS::Events::Rule` of the template whose pattern matches `event`, with the functions it targets. */
export function rulesMatching(template: CloudFormationTemplate, event: unknown): MatchedRule[] {
  return Object.entries(template.Resources ?? {})
    .filter(([, r]) => r.Type === 'AWS::Events::Rule' && r.Properties?.EventPattern !== undefined && r.Properties?.State !== 'DISABLED')
    .filter(([, r]) => matchesEventPattern(r.Properties!.EventPattern, event))
    .map(([logicalId, r]) => ({
      logicalId,
      eventPattern: r.Properties!.EventPattern as Record<string, unknown>,
      targetFunctions: ((r.Properties!.Targets ?? []) as { Arn?: { 'Fn::GetAtt'?: [string, string] } }[]).flatMap((t) =>
        t.Arn?.['Fn::GetAtt'] ? [t.Arn['Fn::GetAtt'][0]] : [],
      ),
    }));
}

/** A handler as the scenario invokes it: the real `lambdas/alarm-rollback/index.ts` handler by default. */
export type AlarmRollbackHandler = (event: unknown) => Promise<AlarmRollbackOutcome>;

/** What {@link raiseRollbackAlarm} needs. */
export interface AlarmScenarioInput {
  /** The synthesized stack template (as the rehearsal synthesizes it). */
  readonly template: CloudFormationTemplate;
  /** Local table names by logical id, so the function's `PHASEGATE_TABLE_NAME` resolves to the local table. */
  readonly tableNames?: ResolveOptions['tableNames'];
  readonly stage: string;
  /** The feature's plan, resolved for the stage. */
  readonly plan: Plan;
  /** The phase the rollout is in: the alarm raised is one that watches it. */
  readonly phase: string;
  /** Which gate metric's alarm: `error-rate`, `p95-ms`, a custom metric, `llm-spend-<sub-feature>`. @default the phase's first, error rate first */
  readonly metric?: string;
  readonly cloudwatch: FakeCloudWatch;
  /** The targets' fake control plane, for their final flags. */
  readonly lambda: FakeLambdaControlPlane;
  /** @default the real handler, loaded with the function's template environment */
  readonly handler?: AlarmRollbackHandler;
  /**
   * Variables laid over the function's template environment: the local Discord's API URL and bot token parameter, so
   * the automatic rollback is posted to the local channel as it would be to the real one. @default none
   */
  readonly environment?: Readonly<Record<string, string>>;
}

/** What {@link raiseRollbackAlarm} observed. */
export interface AlarmScenarioResult {
  readonly alarm: RollbackAlarmSpec;
  readonly event: AlarmStateChangeEvent;
  /** The synthesized rule that matched the event and targets the alarm-rollback function. */
  readonly rule: MatchedRule;
  readonly outcome: AlarmRollbackOutcome;
  /** From the handler's outcome: event received -> every target serving the safe configuration. */
  readonly timeToSafeMs?: number;
  /** Wall time of the handler invocation. */
  readonly handlerMs: number;
  /** When the alarm went off (the event's state timestamp) and when the handler returned. */
  readonly raisedAt: string;
  readonly finishedAt: string;
  /** Every target's Phasegate variables after the handler returned. */
  readonly targets: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** The scenario could not run as asked: no such alarm in the template, no rule for its event, no handler. */
export class AlarmScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AlarmScenarioError';
  }
}

/** The rollback alarm `raiseRollbackAlarm` raises for a phase: the named metric's, else error rate's, else the first. */
export function alarmForPhase(plan: Plan, stage: string, phase: string, metric?: string): RollbackAlarmSpec {
  if (!plan.phases.some((p) => p.name === phase)) {
    throw new AlarmScenarioError(`plan ${plan.feature} has no phase "${phase}" (phases: ${plan.phases.map((p) => p.name).join(', ')})`);
  }
  const specs = featureAlarmSpecs(plan, stage).filter((s) => s.phases.includes(phase));
  const chosen = metric
    ? specs.find((s) => s.metricId === metric)
    : (specs.find((s) => s.metricId === 'error-rate') ?? specs.find((s) => !s.subFeature) ?? specs[0]);
  if (!chosen) {
    throw new AlarmScenarioError(
      `phase ${phase} of ${plan.feature} has no rollback alarm${metric ? ` for ${metric}` : ''} (alarms: ${specs.map((s) => s.metricId).join(', ') || 'none: add gate bands'})`,
    );
  }
  return chosen;
}

function withEnvironment<T>(env: Readonly<Record<string, string>>, run: () => Promise<T>): Promise<T> {
  const previous = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return run().finally(() => {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

/**
 * Raise the feature's rollback alarm for `phase` and let the synthesized wiring act on it: the alarm goes to ALARM
 * in the fake CloudWatch, its state-change event must match the template's EventBridge rule that targets the
 * alarm-rollback function, and that function's real handler runs with its template environment.
 */
export async function raiseRollbackAlarm(input: AlarmScenarioInput): Promise<AlarmScenarioResult> {
  const alarm = alarmForPhase(input.plan, input.stage, input.phase, input.metric);
  const resource = Object.values(input.template.Resources ?? {}).find(
    (r) =>
      (r.Type === 'AWS::CloudWatch::Alarm' && r.Properties?.AlarmName === alarm.name) ||
      (r.Type === 'AWS::CloudWatch::CompositeAlarm' && r.Properties?.AlarmName === alarm.name),
  );
  if (!resource) throw new AlarmScenarioError(`the synthesized template has no alarm ${alarm.name}`);
  // An alarm over more targets than one alarm reads is the composite of its parts: the first part breaches, and
  // the composite, in ALARM when any part is, sends the event the rule routes.
  const part = resource.Type === 'AWS::CloudWatch::CompositeAlarm' ? alarmPartName(alarm.name, 1) : undefined;
  if (part !== undefined && !Object.values(input.template.Resources ?? {}).some((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties?.AlarmName === part)) {
    throw new AlarmScenarioError(`the synthesized template has the composite ${alarm.name} but not its part ${part}`);
  }

  const functions = functionsFromTemplate(input.template, { tableNames: input.tableNames });
  const fn = [...new Set(functions.values())].find((f) => f.phasegateFunction === 'alarm-rollback');
  if (!fn) throw new AlarmScenarioError('the synthesized template has no alarm-rollback function');

  const raisedAt = new Date();
  const reason = `Threshold Crossed: ${alarm.label} ${alarm.direction === 'lower-is-better' ? 'above' : 'below'} ${alarm.threshold} (rehearsal, phase ${input.phase})`;
  if (part !== undefined) input.cloudwatch.setAlarm(part, 'ALARM', reason);
  input.cloudwatch.setAlarm(alarm.name, 'ALARM', reason);
  const event = alarmStateChangeEvent({ alarmName: alarm.name, reason, at: raisedAt });

  const rule = rulesMatching(input.template, event).find((r) => r.targetFunctions.includes(fn.logicalId));
  if (!rule) throw new AlarmScenarioError(`no EventBridge rule of the template routes the state change of ${alarm.name} to the alarm-rollback function`);

  const started = Date.now();
  const notifies = fn.environment[ENV.discordBotTokenParameter] !== undefined;
  const outcome = await withEnvironment({ ...fn.environment, ...(notifies ? input.environment : {}) }, async () => {
    const handler =
      input.handler ?? (require('../../lambdas/alarm-rollback/index') as { handler: AlarmRollbackHandler }).handler;
    return handler(JSON.parse(JSON.stringify(event)));
  });
  const handlerMs = Date.now() - started;
  const owned = planFlagNames(input.plan);
  const targets = Object.fromEntries(
    input.plan.targets.map((t) => {
      const env = servedEnvironment(input.lambda, t);
      return [t, Object.fromEntries(owned.map((name) => [name, env[name] ?? '(unset)']))];
    }),
  );
  const timeToSafeMs = 'timeToSafeMs' in outcome ? outcome.timeToSafeMs : undefined;
  return {
    alarm,
    event,
    rule,
    outcome,
    ...(timeToSafeMs !== undefined ? { timeToSafeMs } : {}),
    handlerMs,
    raisedAt: raisedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    targets,
  };
}
