import { functionNameOf } from '../flags/target';
import { alarmName, compositeAlarmName } from './alarm-names';
import { METRICS } from '../contract';
import { durationToSeconds, formatSeconds } from '../plan/duration';
import type { Band, Plan } from '../plan/schema';
import { ownValue } from '../own';

/**
 * What a phase's gates measure, resolved from the plan: one {@link GateMetric} per band, and per feature the
 * rollback alarms the stack creates from those bands. Pure data; the gate step reads the metrics, the constructs
 * build the alarms, and the alarm-rollback function maps an alarm name back to its metric and phases.
 */

/** The kinds of gate metric: the targets' own Lambda metrics, a plan-named metric, or a sub-feature's LLM spend. */
export type GateMetricKind = 'error-rate' | 'p95-ms' | 'duration-ms' | 'throttles' | 'custom' | 'llm-spend';

/** How a metric's figures are shown in reasons. */
export type GateUnit = 'fraction' | 'ms' | 'count' | 'usd' | 'value';

/** Which side of a band is good. */
export type BandDirection = 'lower-is-better' | 'higher-is-better';

/** A band with its direction made explicit. */
export interface ResolvedBand {
  readonly direction: BandDirection;
  readonly proceed: number;
  /** Past this the gate rolls back; undefined for a metric that is only watched (a warning band alone). */
  readonly rollback?: number;
  /** Past this the channel is warned; the gate neither holds nor rolls back for it. */
  readonly warn?: number;
  readonly sustainedSeconds?: number;
  /** The thresholds are per this many seconds: the bake's total is scaled to it (a rate such as "5 per hour"). */
  readonly perSeconds?: number;
  /** No data in the bake reads as 0 (a count that emits nothing while healthy) instead of holding. */
  readonly missingAsZero?: boolean;
  readonly baseline?: {
    readonly proceedWithin: number;
    readonly rollbackBeyond: number;
    readonly windowSeconds: number;
    /** The baseline the plan states (measured before the rollout): used instead of the captured one, and alarmed on. */
    readonly value?: number;
  };
}

/** One metric a phase's gate checks. */
export interface GateMetric {
  /** `error-rate`, `p95-ms`, `duration-ms`, `throttles`, a custom metric's name, or `llm-spend-<sub-feature>`. */
  readonly id: string;
  readonly kind: GateMetricKind;
  /** Human name for reasons: `error rate`, `p95 duration`, `cache-hit-rate`, ... */
  readonly label: string;
  readonly unit: GateUnit;
  readonly statistic: string;
  readonly band: ResolvedBand;
  /** A custom metric: where it lives. */
  readonly custom?: { readonly namespace: string; readonly metricName: string; readonly dimensions: Readonly<Record<string, string>> };
  /** Hold until the metric has this many samples in the bake. */
  readonly minSamples?: number;
  /** The LLM sub-feature whose spend this is. */
  readonly subFeature?: string;
}

/** Default look-back of a baseline when the band does not say. */
export const DEFAULT_BASELINE_WINDOW_SECONDS = 86_400;

/** A plan's band with its direction resolved (the validator guarantees one complete direction). */
export function resolveBand(band: Band & { per?: string; missingData?: 'hold' | 'zero' }): ResolvedBand {
  const lower = band.proceedBelow !== undefined;
  const rollback = lower ? band.rollbackAbove : band.rollbackBelow;
  const warn = lower ? band.warnAbove : band.warnBelow;
  return {
    direction: lower ? 'lower-is-better' : 'higher-is-better',
    proceed: lower ? band.proceedBelow! : band.proceedAbove!,
    ...(rollback !== undefined ? { rollback } : {}),
    ...(warn !== undefined ? { warn } : {}),
    ...(band.sustainedFor ? { sustainedSeconds: durationToSeconds(band.sustainedFor) } : {}),
    ...(band.per ? { perSeconds: durationToSeconds(band.per) } : {}),
    ...(band.missingData === 'zero' ? { missingAsZero: true } : {}),
    ...(band.baseline
      ? {
          baseline: {
            proceedWithin: band.baseline.proceedWithin ?? band.baseline.rollbackBeyond,
            rollbackBeyond: band.baseline.rollbackBeyond,
            windowSeconds: band.baseline.window ? durationToSeconds(band.baseline.window) : DEFAULT_BASELINE_WINDOW_SECONDS,
            ...(band.baseline.value !== undefined ? { value: band.baseline.value } : {}),
          },
        }
      : {}),
  };
}

/**
 * The threshold of a band's immediate baseline alarm: the stated baseline times `rollbackBeyond` (lower is better),
 * or divided by it (higher is better); undefined when the plan states no baseline value.
 */
export function baselineAlarmThreshold(band: ResolvedBand): number | undefined {
  const b = band.baseline;
  if (b?.value === undefined) return undefined;
  return band.direction === 'lower-is-better' ? b.value * b.rollbackBeyond : b.value / b.rollbackBeyond;
}

/** The metrics phase `phaseIndex` gates on, in a stable order: the targets' metrics, custom metrics, LLM spend. */
export function phaseGateMetrics(plan: Plan, phaseIndex: number): GateMetric[] {
  const phase = plan.phases[phaseIndex];
  if (!phase) throw new RangeError(`plan "${plan.feature}" has no phase ${phaseIndex}`);
  const g = phase.gates;
  const out: GateMetric[] = [];
  if (g.errorRate) out.push({ id: 'error-rate', kind: 'error-rate', label: 'error rate', unit: 'fraction', statistic: 'Sum', band: resolveBand(g.errorRate) });
  if (g.p95Ms) out.push({ id: 'p95-ms', kind: 'p95-ms', label: 'p95 duration', unit: 'ms', statistic: 'p95', band: resolveBand(g.p95Ms) });
  if (g.durationMs) {
    const stat = g.durationMs.statistic;
    out.push({ id: 'duration-ms', kind: 'duration-ms', label: `${stat} duration`, unit: 'ms', statistic: stat, band: resolveBand(g.durationMs) });
  }
  if (g.throttles) {
    // Lambda publishes no Throttles datapoint in a period without throttles: no data is zero, always.
    const band = resolveBand({ ...g.throttles, missingData: 'zero' });
    out.push({ id: 'throttles', kind: 'throttles', label: band.perSeconds ? `throttles per ${formatSeconds(band.perSeconds)}` : 'throttles', unit: 'count', statistic: 'Sum', band });
  }
  for (const m of g.metrics ?? []) {
    out.push({
      id: m.name,
      kind: 'custom',
      label: m.per ? `${m.name} per ${formatSeconds(durationToSeconds(m.per))}` : m.name,
      unit: 'value',
      statistic: m.statistic,
      band: resolveBand(m),
      custom: { namespace: m.namespace, metricName: m.metric, dimensions: m.dimensions },
      ...(m.minSamples !== undefined ? { minSamples: m.minSamples } : {}),
    });
  }
  for (const sub of plan.subFeatures) {
    const explicit = ownValue(g.llmSpendUsd, sub.id);
    // An LLM sub-feature that is on in this phase is gated on its spend, by default between its cap and hard limit.
    const band: Band | undefined =
      explicit ?? (sub.llm && ownValue(phase.subFeatures, sub.id) !== undefined ? { proceedBelow: sub.llm.dailyCapUsd, rollbackAbove: sub.llm.hardLimitUsd } : undefined);
    if (!band) continue;
    out.push({ id: `llm-spend-${sub.id}`, kind: 'llm-spend', label: `LLM spend of ${sub.id} today`, unit: 'usd', statistic: 'Sum', band: resolveBand(band), subFeature: sub.id });
  }
  return out;
}

/** The CloudWatch metric of a sub-feature's LLM spend, as the runtime budget guard emits it (EMF). */
export function llmSpendMetric(feature: string, subFeature: string): { namespace: string; metricName: string; dimensions: Record<string, string> } {
  return {
    namespace: METRICS.namespace,
    metricName: METRICS.llmSpendUsd,
    dimensions: { [METRICS.dimensions.feature]: feature, [METRICS.dimensions.subFeature]: subFeature },
  };
}

/** The target metrics the construct alarms on, with the Lambda metric each reads. */
export type TargetAlarmKind = Exclude<GateMetricKind, 'custom' | 'llm-spend'>;

/** One rollback alarm of a feature. */
export interface RollbackAlarmSpec {
  /** `phasegate-<stage>-<feature>-<metric>`. */
  readonly name: string;
  readonly feature: string;
  /** The gate metric it watches (`error-rate`, a custom metric's name, `llm-spend-<id>`). */
  readonly metricId: string;
  readonly kind: GateMetricKind;
  readonly label: string;
  readonly unit: GateUnit;
  readonly statistic: string;
  /** The rollback threshold; `direction` says which side breaches. */
  readonly threshold: number;
  /** The alarm compares with the plan's stated baseline (`threshold` is the baseline times rollbackBeyond). */
  readonly baseline?: { readonly value: number; readonly rollbackBeyond: number };
  /** The alarm sums periods of this length (a rate such as "5 per hour"). */
  readonly perSeconds?: number;
  /** The alarm reads missing data as 0 (FILL), as the gate does. */
  readonly missingAsZero?: boolean;
  readonly direction: BandDirection;
  /** How long the value must stay in the rollback band before the alarm fires. */
  readonly sustainedSeconds?: number;
  /** Phases in which this alarm rolls the feature back; an alarm of another phase is ignored. */
  readonly phases: readonly string[];
  /** Set for an LLM daily-cost alarm: only this sub-feature is rolled back, in whatever phase. */
  readonly subFeature?: string;
  readonly custom?: GateMetric['custom'];
}

/**
 * The rollback alarms of a feature. Thresholds tighten as exposure grows, so one alarm per metric would be wrong
 * for every phase but one: each distinct rollback rule (threshold, direction, statistic, sustained-for) gets its own
 * alarm, shared by the phases that use it, and only the alarms of the rollout's current phase roll it back. A metric
 * whose rule is the same in every phase gets one alarm named after the metric (`...-error-rate`); otherwise each
 * rule's alarm is named after the first phase that uses it (`...-error-rate-canary`). Each LLM sub-feature gets a
 * daily cost alarm at its `hardLimitUsd` that applies in every phase.
 */
/** The rollback alarm spec of a gate metric: its rollback band becomes the alarm threshold. */
export function alarmSpecOf(feature: string, metric: GateMetric, name: string, phases: string[], rule: 'band' | 'baseline' = 'band'): RollbackAlarmSpec {
  const b = metric.band;
  // A metric that is only watched has no rollback threshold: its spec (for a dashboard graph) carries the warning one.
  const threshold = rule === 'baseline' ? baselineAlarmThreshold(b) : (b.rollback ?? b.warn ?? b.proceed);
  if (threshold === undefined) throw new RangeError(`gate metric ${metric.id} states no baseline value to alarm on`);
  return {
    name,
    feature,
    metricId: metric.id,
    kind: metric.kind,
    label: rule === 'baseline' ? `${metric.label} against its baseline` : metric.label,
    unit: metric.unit,
    statistic: metric.statistic,
    threshold,
    ...(rule === 'baseline' ? { baseline: { value: b.baseline!.value!, rollbackBeyond: b.baseline!.rollbackBeyond } } : {}),
    ...(b.perSeconds ? { perSeconds: b.perSeconds } : {}),
    ...(b.missingAsZero ? { missingAsZero: true } : {}),
    direction: metric.band.direction,
    ...(metric.band.sustainedSeconds ? { sustainedSeconds: metric.band.sustainedSeconds } : {}),
    phases,
    ...(metric.subFeature ? { subFeature: metric.subFeature } : {}),
    ...(metric.custom ? { custom: metric.custom } : {}),
  };
}

export function featureAlarmSpecs(plan: Plan, stage: string): RollbackAlarmSpec[] {
  const rulesPerMetric = new Map<string, Set<string>>();
  const groups = new Map<string, { metric: GateMetric; phases: string[]; rule: 'band' | 'baseline'; id: string }>();
  const add = (metric: GateMetric, phase: string, rule: 'band' | 'baseline', threshold: number): void => {
    const b = metric.band;
    // A metric only watched (a warning band) has no rollback threshold: no alarm. A stated baseline gets its own.
    const id = rule === 'baseline' ? `${metric.id}-baseline` : metric.id;
    const key = JSON.stringify([id, metric.statistic, b.direction, threshold, b.sustainedSeconds ?? 0, b.perSeconds ?? 0, b.missingAsZero ?? false, metric.custom ?? null]);
    const group = groups.get(key);
    if (group) group.phases.push(phase);
    else groups.set(key, { metric, phases: [phase], rule, id });
    const rules = rulesPerMetric.get(id) ?? new Set<string>();
    rules.add(key);
    rulesPerMetric.set(id, rules);
  };
  plan.phases.forEach((phase, i) => {
    for (const metric of phaseGateMetrics(plan, i)) {
      if (metric.kind === 'llm-spend') continue;
      if (metric.band.rollback !== undefined) add(metric, phase.name, 'band', metric.band.rollback);
      const baseline = baselineAlarmThreshold(metric.band);
      if (baseline !== undefined) add(metric, phase.name, 'baseline', baseline);
    }
  });
  const specs: RollbackAlarmSpec[] = [...groups.values()].map(({ metric, phases, rule, id }) => {
    const shared = rulesPerMetric.get(id)!.size === 1;
    return alarmSpecOf(plan.feature, metric, alarmName(stage, plan.feature, shared ? id : `${id}-${phases[0]}`), phases, rule);
  });
  for (const sub of plan.subFeatures) {
    if (!sub.llm) continue;
    specs.push({
      name: alarmName(stage, plan.feature, `llm-spend-${sub.id}`),
      feature: plan.feature,
      metricId: `llm-spend-${sub.id}`,
      kind: 'llm-spend',
      label: `LLM spend of ${sub.id} today`,
      unit: 'usd',
      statistic: 'Sum',
      threshold: sub.llm.hardLimitUsd,
      direction: 'lower-is-better',
      phases: plan.phases.map((p) => p.name),
      subFeature: sub.id,
    });
  }
  return specs;
}

/**
 * The alarms the feature's composite alarm combines: per metric the loosest rule, plus every LLM cost alarm. When
 * one of them is in ALARM, the feature breaches its rollback band whatever phase it is in, so the composite never
 * sits in ALARM just because a later phase's tighter threshold is not met yet.
 */
export function compositeMembers(specs: readonly RollbackAlarmSpec[]): RollbackAlarmSpec[] {
  const loosest = new Map<string, RollbackAlarmSpec>();
  for (const spec of specs) {
    if (spec.kind === 'llm-spend') continue;
    const key = spec.baseline ? `${spec.metricId}-baseline` : spec.metricId;
    const current = loosest.get(key);
    const looser = (a: RollbackAlarmSpec, b: RollbackAlarmSpec): boolean =>
      a.direction === 'lower-is-better' ? a.threshold > b.threshold : a.threshold < b.threshold;
    if (!current || looser(spec, current) || (spec.threshold === current.threshold && (spec.sustainedSeconds ?? 0) > (current.sustainedSeconds ?? 0))) {
      loosest.set(key, spec);
    }
  }
  return [...loosest.values(), ...specs.filter((s) => s.kind === 'llm-spend')];
}

/** The feature's rollback alarm called `name`, or undefined (the composite and unknown names are not rollback alarms). */
export function findRollbackAlarm(plan: Plan, stage: string, name: string): RollbackAlarmSpec | undefined {
  if (name === compositeAlarmName(stage, plan.feature)) return undefined;
  return featureAlarmSpecs(plan, stage).find((s) => s.name === name);
}

/**
 * The function name of a target given by name or ARN, with or without an alias: what the `FunctionName` dimension
 * of its metrics holds (Lambda's function-level metrics aggregate every version and alias).
 */
export function targetFunctionName(target: string): string {
  return functionNameOf(target);
}
