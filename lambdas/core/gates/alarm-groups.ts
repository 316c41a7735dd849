import type { GateMetricKind } from './gate-metrics';

/**
 * How a rollback alarm over many targets is built within CloudWatch's quotas: a metric-math alarm reads at most 10
 * metrics, a composite alarm's rule names at most 100 alarms (CloudWatch quotas page, "Metric math" and
 * "Composite alarms"). Up to the limit, one alarm reads every target; beyond it, the targets are split into groups
 * that each fit one alarm, and a composite alarm under the rollback alarm's name is in ALARM when any group is.
 *
 * What a group alarm means, per metric, so that the composite never misses a breach the gate would see:
 * - duration (p95, any statistic): the worst target counts, so "any group's worst target above the threshold" is
 *   exactly "the worst target above it";
 * - error rate (sum of errors / sum of invocations of every target): the overall rate is the invocation-weighted
 *   average of the groups' rates, so whenever it is above the threshold at least one group is. Each group alarms at
 *   the plan's threshold: the composite fires for every overall breach, and also when one group breaches while the
 *   others dilute it (earlier than the gate would);
 * - throttles (summed): a total above N means some group is above N / groups, so each group alarms at that share.
 * The gate itself reads every target with GetMetricData and decides on the exact figure.
 */

/** CloudWatch: metrics in one alarm's metric math. */
export const MAX_ALARM_METRICS = 10;
/** CloudWatch: alarms named in one composite alarm's rule. */
export const MAX_COMPOSITE_ALARMS = 100;

/** How many metrics one target adds to an alarm of this kind (errors and invocations for an error rate). */
export function metricsPerTarget(kind: GateMetricKind): number {
  switch (kind) {
    case 'error-rate':
      return 2;
    case 'p95-ms':
    case 'duration-ms':
    case 'throttles':
      return 1;
    default:
      return 0;
  }
}

/** The largest number of targets one alarm of this kind can read; Infinity for kinds that read no target metric. */
export function targetsPerAlarm(kind: GateMetricKind): number {
  const per = metricsPerTarget(kind);
  return per === 0 ? Infinity : Math.floor(MAX_ALARM_METRICS / per);
}

/** The most targets a feature's alarms of this kind can cover: one composite of as many full groups as it takes. */
export function maxTargets(kind: GateMetricKind): number {
  return targetsPerAlarm(kind) * MAX_COMPOSITE_ALARMS;
}

/**
 * The targets split into the groups an alarm of `kind` reads: one group when they fit one alarm, else groups of
 * equal size (the last may be smaller), in plan order, so a group's targets stay put while others are added after.
 */
export function targetGroups<T>(kind: GateMetricKind, targets: readonly T[]): T[][] {
  const size = targetsPerAlarm(kind);
  if (targets.length <= size) return [[...targets]];
  const groups: T[][] = [];
  for (let i = 0; i < targets.length; i += size) groups.push(targets.slice(i, i + size));
  return groups;
}

/**
 * The threshold of one group's alarm, given the rollback alarm's: the same for a rate or the worst target, the
 * threshold shared out for a sum (see above).
 */
export function groupThreshold(kind: GateMetricKind, threshold: number, groups: number): number {
  return kind === 'throttles' && groups > 1 ? threshold / groups : threshold;
}
