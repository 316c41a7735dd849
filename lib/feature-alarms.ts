import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmRule,
  AlarmState,
  AlarmStatusWidget,
  ComparisonOperator,
  CompositeAlarm,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { alarmPartName, compositeAlarmName, dashboardName } from '../lambdas/core/gates/alarm-names';
import { MAX_COMPOSITE_ALARMS, groupThreshold, maxTargets, metricsPerTarget, targetGroups } from '../lambdas/core/gates/alarm-groups';
import {
  compositeMembers,
  featureAlarmSpecs,
  llmSpendMetric,
  phaseGateMetrics,
  targetFunctionName,
  type RollbackAlarmSpec,
  alarmSpecOf,
} from '../lambdas/core/gates/gate-metrics';
import { formatFigure } from '../lambdas/core/gates/gates';
import type { Plan } from '../lambdas/core/plan/schema';
import { validatePlan } from '../lambdas/core/plan/validate';
import { throwIfProblems } from './props-problems';

/** An alarm evaluates at most one day of periods. */
const MAX_ALARM_SPAN_SECONDS = 86_400;

/** Props of {@link FeatureAlarms}. */
export interface FeatureAlarmsProps {
  /** The feature's plan, resolved for {@link FeatureAlarmsProps.stage}. */
  readonly plan: Plan;
  /** Deployment stage: alarm names are `phasegate-<stage>-<feature>-<metric>`. */
  readonly stage: string;
}

/**
 * The period and number of periods of a rollback alarm: one-minute periods (five beyond an hour of sustained-for),
 * as many as the plan's sustained-for spans; one period when the plan has none. An LLM cost alarm sums one day.
 */
export function alarmEvaluation(spec: RollbackAlarmSpec): { period: Duration; evaluationPeriods: number } {
  if (spec.kind === 'llm-spend') return { period: Duration.days(1), evaluationPeriods: 1 };
  // A rate ("5 per hour") sums one period of its own length.
  if (spec.perSeconds) return { period: Duration.seconds(spec.perSeconds), evaluationPeriods: 1 };
  const sustained = spec.sustainedSeconds ?? 0;
  const periodSeconds = sustained > 3600 ? 300 : 60;
  return { period: Duration.seconds(periodSeconds), evaluationPeriods: Math.max(1, Math.ceil(sustained / periodSeconds)) };
}

/**
 * A feature's CloudWatch alarms and dashboard, from its plan's gates: one rollback alarm per distinct rollback rule
 * (error rate as Errors / Invocations of the targets, a duration statistic as the worst target's, throttles summed,
 * any custom metric the plan names), a daily cost alarm per LLM sub-feature at its `hardLimitUsd`, one composite
 * alarm per feature, and a dashboard with each phase's thresholds. Every rollback alarm treats missing data as not
 * breaching: no data never rolls back. Names come from `lambdas/core/gates/alarm-names.ts`, so the alarm-rollback
 * function maps an alarm back to its feature, metric and phases.
 */
export class FeatureAlarms extends Construct {
  /**
   * The rollback alarms by name. A rollback alarm over more targets than one CloudWatch alarm reads is a composite
   * of its parts ({@link FeatureAlarms.parts}), under the same name.
   */
  public readonly alarms: Readonly<Record<string, Alarm | CompositeAlarm>>;
  /** The part alarms of each split rollback alarm, by the rollback alarm's name (`<name>~1`, `<name>~2`, ...). */
  public readonly parts: Readonly<Record<string, readonly Alarm[]>>;
  /** What each alarm watches, as the runtime sees it. */
  public readonly specs: readonly RollbackAlarmSpec[];
  /** The feature's composite alarm; undefined when the plan has no rollback alarms. */
  public readonly composite?: CompositeAlarm;
  /** The feature's dashboard. */
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: FeatureAlarmsProps) {
    super(scope, id);
    const problems: string[] = [];
    if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
    const checked = validatePlan(props.plan);
    if (!checked.ok) problems.push(...checked.problems.map((p) => `plan.${p}`));
    throwIfProblems(`FeatureAlarms ${this.node.path}`, problems);

    const { plan, stage } = props;
    this.specs = featureAlarmSpecs(plan, stage);
    throwIfProblems(`FeatureAlarms ${this.node.path}`, this.specs.flatMap((spec) => specProblems(spec, plan)));

    const alarms: Record<string, Alarm | CompositeAlarm> = {};
    const parts: Record<string, Alarm[]> = {};
    this.specs.forEach((spec, i) => {
      const { period, evaluationPeriods } = alarmEvaluation(spec);
      const threshold = formatFigure(spec.threshold, spec.unit);
      const description =
        `Phasegate rollback alarm of ${plan.feature} (${stage}): ${spec.label} ${spec.direction === 'lower-is-better' ? 'above' : 'below'} ${threshold}` +
        (spec.sustainedSeconds ? ` for ${Math.round(spec.sustainedSeconds / 60)} min` : '') +
        (spec.subFeature ? `; rolls back sub-feature ${spec.subFeature} only.` : `; rolls the feature back in phase(s) ${spec.phases.join(', ')}.`);
      const alarmOf = (id: string, name: string, targets: readonly string[], groupCount: number, text: string): Alarm =>
        new Alarm(this, id, {
          alarmName: name,
          alarmDescription: text,
          metric: alarmMetric(spec, plan, period, targets),
          threshold: groupThreshold(spec.kind, spec.threshold, groupCount),
          comparisonOperator: spec.direction === 'lower-is-better' ? ComparisonOperator.GREATER_THAN_THRESHOLD : ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods,
          datapointsToAlarm: evaluationPeriods,
          // No data (no traffic, a metric not published yet) must never roll back.
          treatMissingData: TreatMissingData.NOT_BREACHING,
        });
      const groups = metricsPerTarget(spec.kind) === 0 ? [plan.targets] : targetGroups(spec.kind, plan.targets);
      if (groups.length === 1) {
        alarms[spec.name] = alarmOf(`Alarm${i}`, spec.name, plan.targets, 1, description);
        return;
      }
      // More targets than one alarm reads: one alarm per group, and the rollback alarm is their composite (see
      // lambdas/core/gates/alarm-groups.ts for what a group alarm means per metric). Ids are stable per group.
      parts[spec.name] = groups.map((group, g) =>
        alarmOf(`Alarm${i}Part${g + 1}`, alarmPartName(spec.name, g + 1), group, groups.length, `Part ${g + 1} of ${groups.length} (${group.length} targets) of ${spec.name}; not a rollback alarm itself.`),
      );
      alarms[spec.name] = new CompositeAlarm(this, `Alarm${i}`, {
        compositeAlarmName: spec.name,
        alarmDescription: `${description} Over ${plan.targets.length} targets: in ALARM when any of its ${groups.length} parts is.`,
        alarmRule: AlarmRule.anyOf(...parts[spec.name]!.map((part) => AlarmRule.fromAlarm(part, AlarmState.ALARM))),
      });
    });
    this.alarms = alarms;
    this.parts = parts;

    const members = compositeMembers(this.specs);
    if (members.length > 0) {
      this.composite = new CompositeAlarm(this, 'Composite', {
        compositeAlarmName: compositeAlarmName(stage, plan.feature),
        alarmDescription:
          `Phasegate: ${plan.feature} (${stage}) breaches a rollback band whatever phase it is in ` +
          `(the loosest rule per metric, and every LLM daily cost alarm).`,
        alarmRule: AlarmRule.anyOf(...members.map((m) => AlarmRule.fromAlarm(alarms[m.name]!, AlarmState.ALARM))),
      });
    }

    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: dashboardName(stage, plan.feature), defaultInterval: Duration.days(1) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# ${plan.feature} (${stage})\nPhases: ${plan.phases.map((p) => `**${p.name}** (${p.roles.join(', ')}, ${p.percent}%)`).join(' → ')}`,
        width: 24,
        height: 2,
      }),
    );
    if (this.composite || this.specs.length > 0) {
      this.dashboard.addWidgets(
        // An alarm status widget shows at most 100 alarms: the composites stand for their parts.
        new AlarmStatusWidget({ title: 'Rollback alarms', alarms: [...(this.composite ? [this.composite] : []), ...Object.values(alarms)].slice(0, MAX_COMPOSITE_ALARMS), width: 24, height: 3 }),
      );
    }
    for (const widget of graphWidgets(plan, stage, this.specs)) this.dashboard.addWidgets(widget);
  }
}

function specProblems(spec: RollbackAlarmSpec, plan: Plan): string[] {
  const problems: string[] = [];
  if (plan.targets.length > maxTargets(spec.kind)) {
    problems.push(
      `alarm ${spec.name}: ${spec.label} over ${plan.targets.length} targets needs more than ${MAX_COMPOSITE_ALARMS} alarms of ` +
        `${maxTargets(spec.kind) / MAX_COMPOSITE_ALARMS} targets; a composite alarm combines at most ${MAX_COMPOSITE_ALARMS}`,
    );
  }
  const { period, evaluationPeriods } = alarmEvaluation(spec);
  if (period.toSeconds() * evaluationPeriods > MAX_ALARM_SPAN_SECONDS) {
    problems.push(`alarm ${spec.name}: sustained for ${spec.sustainedSeconds} s, longer than the one day a CloudWatch alarm can evaluate`);
  }
  return problems;
}

function lambdaMetric(metricName: string, statistic: string, target: string, period: Duration): Metric {
  return new Metric({ namespace: 'AWS/Lambda', metricName, statistic, period, dimensionsMap: { FunctionName: targetFunctionName(target) } });
}

/**
 * The metric (or math expression over the targets' metrics) an alarm watches: over `targets` (default every target
 * of the plan; a part of a split alarm passes its group).
 */
export function alarmMetric(spec: RollbackAlarmSpec, plan: Plan, period: Duration, targets: readonly string[] = plan.targets): IMetric {
  const ids = (prefix: string): string[] => targets.map((_, i) => `${prefix}${i}`);
  switch (spec.kind) {
    case 'error-rate': {
      const usingMetrics: Record<string, IMetric> = {};
      targets.forEach((t, i) => {
        usingMetrics[`e${i}`] = lambdaMetric('Errors', 'Sum', t, period);
        usingMetrics[`i${i}`] = lambdaMetric('Invocations', 'Sum', t, period);
      });
      return new MathExpression({
        expression: `(${ids('e').join('+')})/(${ids('i').join('+')})`,
        usingMetrics,
        period,
        label: 'error rate (errors / invocations)',
      });
    }
    case 'p95-ms':
    case 'duration-ms':
    case 'throttles': {
      const name = spec.kind === 'throttles' ? 'Throttles' : 'Duration';
      if (targets.length === 1) return lambdaMetric(name, spec.statistic, targets[0]!, period);
      const usingMetrics = Object.fromEntries(targets.map((t, i) => [`m${i}`, lambdaMetric(name, spec.statistic, t, period)]));
      return new MathExpression({
        // A percentile does not add up across functions: the worst target counts. Throttles add up.
        expression: `${spec.kind === 'throttles' ? 'SUM' : 'MAX'}([${ids('m').join(',')}])`,
        usingMetrics,
        period,
        label: spec.label,
      });
    }
    case 'custom': {
      const metric = new Metric({
        namespace: spec.custom!.namespace,
        metricName: spec.custom!.metricName,
        dimensionsMap: { ...spec.custom!.dimensions },
        statistic: spec.statistic,
        period,
      });
      // A count that emits nothing while healthy reads missing periods as 0, as the gate does.
      if (!spec.missingAsZero) return metric;
      return new MathExpression({ expression: 'FILL(m0, 0)', usingMetrics: { m0: metric }, period, label: `${spec.label} (no data = 0)` });
    }
    case 'llm-spend': {
      const m = llmSpendMetric(plan.feature, spec.subFeature!);
      return new Metric({ namespace: m.namespace, metricName: m.metricName, dimensionsMap: m.dimensions, statistic: 'Sum', period });
    }
  }
}

/** One graph per gate metric, with every phase's proceed and rollback thresholds drawn on it. */
function graphWidgets(plan: Plan, stage: string, specs: readonly RollbackAlarmSpec[]): GraphWidget[] {
  const widgets: GraphWidget[] = [];
  const seen = new Set<string>();
  plan.phases.forEach((_, i) => {
    for (const metric of phaseGateMetrics(plan, i)) {
      if (seen.has(metric.id)) continue;
      seen.add(metric.id);
      const spec = specs.find((s) => s.metricId === metric.id) ?? alarmSpecOf(plan.feature, metric, metric.id, []);
      const period = metric.kind === 'llm-spend' ? Duration.hours(1) : Duration.minutes(5);
      const annotations = plan.phases.flatMap((phase, p) => {
        const band = phaseGateMetrics(plan, p).find((m) => m.id === metric.id)?.band;
        const worse = band?.direction === 'lower-is-better' ? '>' : '<';
        return band
          ? [
              ...(band.rollback !== undefined
                ? [{ value: band.rollback, label: `${phase.name}: roll back ${worse} ${formatFigure(band.rollback, metric.unit)}`, color: '#d62728' }]
                : []),
              ...(band.warn !== undefined ? [{ value: band.warn, label: `${phase.name}: warn ${worse} ${formatFigure(band.warn, metric.unit)}`, color: '#ff7f0e' }] : []),
              { value: band.proceed, label: `${phase.name}: proceed ${band.direction === 'lower-is-better' ? '<' : '>'} ${formatFigure(band.proceed, metric.unit)}`, color: '#2ca02c' },
            ]
          : [];
      });
      widgets.push(
        new GraphWidget({
          title: `${metric.label} (${plan.feature}, ${stage})`,
          left: [alarmMetric(spec, plan, period)],
          leftAnnotations: annotations,
          width: 12,
          height: 6,
        }),
      );
    }
  });
  return widgets;
}
