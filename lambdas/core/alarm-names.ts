import { ALARM_NAME_PREFIX } from './contract';

/**
 * The one naming helper for Phasegate's CloudWatch alarms. The constructs name alarms with it and the
 * alarm-rollback function reads names back with it, so the two can never disagree.
 */

/** `phasegate-<stage>-<feature>-<metric>`, e.g. `phasegate-prod-ux-update-error-rate`. */
export function alarmName(stage: string, feature: string, metric: string): string {
  return `${ALARM_NAME_PREFIX}-${stage}-${feature}-${metric}`;
}

/** `phasegate-<stage>-`: every alarm of a stage starts with this; the EventBridge rule matches on it. */
export function stageAlarmPrefix(stage: string): string {
  return `${ALARM_NAME_PREFIX}-${stage}-`;
}

/** The composite alarm of a feature: `phasegate-<stage>-<feature>-composite`. */
export function compositeAlarmName(stage: string, feature: string): string {
  return alarmName(stage, feature, 'composite');
}

/** The CloudWatch dashboard of a feature: `phasegate-<stage>-<feature>` (dashboard names allow no more). */
export function dashboardName(stage: string, feature: string): string {
  return `${ALARM_NAME_PREFIX}-${stage}-${feature}`;
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
