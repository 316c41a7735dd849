import { ALARM_NAME_PREFIX } from '../contract';

/**
 * The one naming helper for Phasegate's CloudWatch alarms. The constructs name alarms with it and the
 * alarm-rollback function reads names back with it, so the two can never disagree.
 *
 * Stage and feature are joined by {@link STAGE_SEPARATOR}, a character that neither a stage nor a feature id may
 * contain (both are `a-z`, `0-9` and `-`). With `-` there, `phasegate-prod-` was a prefix of every alarm of a stage
 * `prod-eu`, and stage `prod` with feature `eu-x` named the same alarm as stage `prod-eu` with feature `x`.
 */

/** Ends the stage part of an alarm or dashboard name; CloudWatch allows it in both (dashboards: `A-Za-z0-9_-`). */
export const STAGE_SEPARATOR = '_';

/** `phasegate-<stage>_<feature>-<metric>`, e.g. `phasegate-prod_ux-update-error-rate`. */
export function alarmName(stage: string, feature: string, metric: string): string {
  return `${stageAlarmPrefix(stage)}${feature}-${metric}`;
}

/**
 * `phasegate-<stage>_`: every alarm of a stage starts with this, and no alarm of another stage does, whatever the
 * stages are called; the EventBridge rule matches on it.
 */
export function stageAlarmPrefix(stage: string): string {
  return `${ALARM_NAME_PREFIX}-${stage}${STAGE_SEPARATOR}`;
}

/** The composite alarm of a feature: `phasegate-<stage>-<feature>-composite`. */
export function compositeAlarmName(stage: string, feature: string): string {
  return alarmName(stage, feature, 'composite');
}

/** The CloudWatch dashboard of a feature: `phasegate-<stage>_<feature>` (dashboard names allow no more). */
export function dashboardName(stage: string, feature: string): string {
  return `${stageAlarmPrefix(stage)}${feature}`;
}

/**
 * A part of a rollback alarm that watches more targets than one CloudWatch alarm can (see `lib/feature-alarms.ts`):
 * `<alarm>~<n>`, 1-based. Parts start with the stage's prefix but are no rollback alarm: the feature's rollback alarm
 * is the composite of its parts, under the plain name.
 */
export function alarmPartName(rollbackAlarmName: string, part: number): string {
  return `${rollbackAlarmName}~${part}`;
}

/**
 * Which feature of `features` an alarm name belongs to, and the metric part after it; undefined for a name that is
 * not one of this stage's. Feature ids may contain `-`, so the longest matching feature wins.
 */
export function parseAlarmName(
  name: string,
  stage: string,
  features: readonly string[],
): { feature: string; metric: string } | undefined {
  const prefix = stageAlarmPrefix(stage);
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  const feature = [...features]
    .sort((a, b) => b.length - a.length)
    .find((f) => rest.startsWith(`${f}-`) && rest.length > f.length + 1);
  return feature === undefined ? undefined : { feature, metric: rest.slice(feature.length + 1) };
}
