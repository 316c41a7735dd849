import type { Plan } from '../plan/schema';

/**
 * The picture of a rollout so far, as a CloudWatch metric widget (the JSON `GetMetricWidgetImage` takes, "Metric
 * Widget Structure" in the CloudWatch API reference): the targets' errors and p95 duration over the rollout, a
 * vertical line where each phase started, and the current phase's rollback threshold as a horizontal line. Pure.
 */

/** A vertical annotation: a moment on the time axis. */
export interface VerticalAnnotation {
  readonly value: string;
  readonly label: string;
  readonly color?: string;
}

/** A horizontal annotation: a value on the y axis. */
export interface HorizontalAnnotation {
  readonly value: number;
  readonly label: string;
  readonly color?: string;
  readonly yAxis?: 'left' | 'right';
}

/** One metric line: namespace, metric name, dimension name/value pairs, then its rendering options. */
export type WidgetMetric = [...(string | number)[], { readonly stat: string; readonly label: string; readonly yAxis?: 'left' | 'right'; readonly color?: string }];

/** The metric widget: what `MetricWidget` carries, as JSON. */
export interface MetricWidget {
  readonly title: string;
  readonly view: 'timeSeries';
  readonly width: number;
  readonly height: number;
  readonly start: string;
  readonly end: string;
  readonly period: number;
  readonly metrics: readonly WidgetMetric[];
  readonly annotations: { readonly vertical: readonly VerticalAnnotation[]; readonly horizontal: readonly HorizontalAnnotation[] };
  readonly yAxis: { readonly left: { readonly label: string; readonly min: number }; readonly right: { readonly label: string; readonly min: number } };
}

/** When a phase started. */
export interface PhaseMark {
  readonly phase: string;
  readonly at: string;
}

/** Picks a period so the window has at most about 360 points; CloudWatch periods are multiples of 60 s. */
export function widgetPeriodSeconds(startMs: number, endMs: number): number {
  const seconds = Math.max(60, (endMs - startMs) / 1000 / 360);
  return Math.ceil(seconds / 60) * 60;
}

/** The widget of a feature's rollout from its start to `end`, with the current phase's thresholds. */
export function rolloutWidget(input: {
  readonly plan: Plan;
  readonly stage: string;
  readonly start: string;
  readonly end: string;
  readonly phases: readonly PhaseMark[];
  readonly currentPhaseIndex: number;
}): MetricWidget {
  const { plan } = input;
  const metrics: WidgetMetric[] = [];
  for (const target of plan.targets) {
    const fn = target.split(':')[0]!;
    metrics.push(['AWS/Lambda', 'Errors', 'FunctionName', fn, { stat: 'Sum', label: `${fn} errors`, yAxis: 'left' }]);
    metrics.push(['AWS/Lambda', 'Duration', 'FunctionName', fn, { stat: 'p95', label: `${fn} p95 ms`, yAxis: 'right' }]);
  }
  const phase = plan.phases[input.currentPhaseIndex];
  const horizontal: HorizontalAnnotation[] = [];
  const p95 = phase?.gates.p95Ms as { rollbackAbove?: number; proceedBelow?: number } | undefined;
  if (p95?.rollbackAbove !== undefined) horizontal.push({ value: p95.rollbackAbove, label: `p95 rollback above ${p95.rollbackAbove} ms`, color: '#d62728', yAxis: 'right' });
  if (p95?.proceedBelow !== undefined) horizontal.push({ value: p95.proceedBelow, label: `p95 proceed below ${p95.proceedBelow} ms`, color: '#2ca02c', yAxis: 'right' });
  return {
    title: `${plan.feature} on ${input.stage}${phase ? `: phase ${phase.name}` : ''}`,
    view: 'timeSeries',
    width: 800,
    height: 400,
    start: input.start,
    end: input.end,
    period: widgetPeriodSeconds(Date.parse(input.start), Date.parse(input.end)),
    metrics,
    annotations: { vertical: input.phases.map((p) => ({ value: p.at, label: p.phase, color: '#7f7f7f' })), horizontal },
    yAxis: { left: { label: 'errors', min: 0 }, right: { label: 'ms', min: 0 } },
  };
}
