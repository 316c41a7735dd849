import { llmSpendMetric, targetFunctionName, type GateMetric } from './gate-metrics';
import type { MetricObservation } from './gates';
import type { Plan } from '../plan/schema';
import type { MetricQuery, MetricReading, MetricsReader } from '../ports';

/**
 * Turns a phase's {@link GateMetric}s into CloudWatch queries, reads them through the {@link MetricsReader} port,
 * and folds the readings back into one {@link MetricObservation} per metric: the error rate is the targets' errors
 * over their invocations, a duration statistic is the worst target's, throttles add up, and an LLM sub-feature's
 * spend is the Sum since the start of the UTC day.
 */

/** The bake window a gate looks at. */
export interface GateWindow {
  readonly start: Date;
  readonly end: Date;
}

/** What the gate's metrics did in the window. */
export interface GateObservations {
  readonly observations: Record<string, MetricObservation>;
  /** The targets' invocations in the window. */
  readonly invocations: number;
  /** The series period used for sustained-for checks, in seconds. */
  readonly seriesPeriodSeconds: number;
}

const LAMBDA_NAMESPACE = 'AWS/Lambda';
const TARGET_KINDS = new Set(['error-rate', 'p95-ms', 'duration-ms', 'throttles']);

/** Series period for a window: one minute up to a day, five minutes beyond (GetMetricData returns at most 100,800 points). */
export function seriesPeriodFor(window: GateWindow): number {
  return window.end.getTime() - window.start.getTime() <= 86_400_000 ? 60 : 300;
}

/** Midnight UTC of the day `at` falls in. */
export function utcDayStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}

type Fold = (readings: readonly MetricReading[]) => MetricObservation;

interface Planned {
  readonly id: string;
  readonly queries: MetricQuery[];
  readonly fold: Fold;
}

function bySeriesTime(readings: readonly MetricReading[]): Map<string, number[]> {
  const at = new Map<string, number[]>();
  readings.forEach((r, i) => {
    for (const p of r.series) {
      const values = at.get(p.at) ?? new Array<number>(readings.length).fill(Number.NaN);
      values[i] = p.value;
      at.set(p.at, values);
    }
  });
  return new Map([...at.entries()].sort(([a], [b]) => Date.parse(a) - Date.parse(b)));
}

const sum = (values: readonly (number | undefined)[]): number => values.reduce<number>((s, v) => s + (v !== undefined && Number.isFinite(v) ? v : 0), 0);

/** Read every metric of a phase's gates over `window`. */
export async function observeGateMetrics(
  reader: MetricsReader,
  plan: Plan,
  metrics: readonly GateMetric[],
  window: GateWindow,
): Promise<GateObservations> {
  const targets = plan.targets.map(targetFunctionName);
  const lambdaQuery = (metricName: string, statistic: string, fn: string): MetricQuery => ({
    namespace: LAMBDA_NAMESPACE,
    metricName,
    dimensions: { FunctionName: fn },
    statistic,
  });
  const invocationQueries = targets.map((t) => lambdaQuery('Invocations', 'Sum', t));
  const planned: Planned[] = [];
  for (const metric of metrics) {
    if (metric.kind === 'llm-spend') continue;
    switch (metric.kind) {
      case 'error-rate':
        planned.push({
          id: metric.id,
          queries: [...targets.map((t) => lambdaQuery('Errors', 'Sum', t)), ...invocationQueries],
          fold: (readings) => {
            const errors = readings.slice(0, targets.length);
            const invocations = readings.slice(targets.length);
            const e = sum(errors.map((r) => r.value));
            const n = sum(invocations.map((r) => r.value));
            const series = [...bySeriesTime(readings).entries()].flatMap(([at, values]) => {
              const inv = sum(values.slice(targets.length));
              return inv > 0 ? [{ at, value: sum(values.slice(0, targets.length)) / inv }] : [];
            });
            return n > 0 ? { value: e / n, detail: `${e} error(s) / ${n} invocation(s)`, series } : { series };
          },
        });
        break;
      case 'p95-ms':
      case 'duration-ms':
        planned.push({
          id: metric.id,
          queries: targets.map((t) => lambdaQuery('Duration', metric.statistic, t)),
          fold: (readings) => {
            const defined = readings.map((r, i) => ({ v: r.value, t: targets[i]! })).filter((x) => x.v !== undefined);
            const series = [...bySeriesTime(readings).entries()].map(([at, values]) => ({ at, value: Math.max(...values.filter((v) => !Number.isNaN(v))) }));
            if (defined.length === 0) return { series };
            const worst = defined.reduce((a, b) => (b.v! > a.v! ? b : a));
            return { value: worst.v, series, ...(targets.length > 1 ? { detail: `worst target ${worst.t}` } : {}) };
          },
        });
        break;
      case 'throttles':
        planned.push({
          id: metric.id,
          queries: targets.map((t) => lambdaQuery('Throttles', 'Sum', t)),
          fold: (readings) => {
            const series = [...bySeriesTime(readings).entries()].map(([at, values]) => ({ at, value: sum(values) }));
            // Lambda publishes no Throttles datapoint in a period without throttles.
            return { value: sum(readings.map((r) => r.value)), series };
          },
        });
        break;
      case 'custom': {
        const c = metric.custom!;
        const query: MetricQuery = { namespace: c.namespace, metricName: c.metricName, dimensions: c.dimensions, statistic: metric.statistic };
        const queries = metric.minSamples !== undefined ? [query, { ...query, statistic: 'SampleCount' }] : [query];
        planned.push({
          id: metric.id,
          queries,
          fold: (readings) => ({
            ...(readings[0]!.value !== undefined ? { value: readings[0]!.value } : {}),
            ...(readings[1] ? { samples: readings[1].value ?? 0 } : {}),
            series: readings[0]!.series,
          }),
        });
        break;
      }
    }
  }

  const needsTargets = metrics.some((m) => TARGET_KINDS.has(m.kind));
  const queries = [...(needsTargets ? invocationQueries : []), ...planned.flatMap((p) => p.queries)];
  const seriesPeriodSeconds = seriesPeriodFor(window);
  const wantsSeries = metrics.some((m) => m.band.sustainedSeconds !== undefined);
  const readings = queries.length > 0 ? await reader.read(queries, window, wantsSeries ? { seriesPeriodSeconds } : {}) : [];

  const observations: Record<string, MetricObservation> = {};
  let offset = needsTargets ? invocationQueries.length : 0;
  const invocations = needsTargets ? sum(readings.slice(0, invocationQueries.length).map((r) => r.value)) : 0;
  for (const p of planned) {
    observations[p.id] = { ...p.fold(readings.slice(offset, offset + p.queries.length)), periodSeconds: seriesPeriodSeconds };
    offset += p.queries.length;
  }

  // LLM spend counts from midnight UTC: the budget guard's day, not the bake.
  const llm = metrics.filter((m) => m.kind === 'llm-spend');
  if (llm.length > 0) {
    const day = { start: utcDayStart(window.end), end: window.end };
    if (day.end.getTime() > day.start.getTime()) {
      const spend = await reader.read(
        llm.map((m) => ({ ...llmSpendMetric(plan.feature, m.subFeature!), statistic: 'Sum' })),
        day,
      );
      llm.forEach((m, i) => {
        const value = spend[i]?.value;
        observations[m.id] = value === undefined ? { value: 0, detail: 'no spend recorded today' } : { value };
      });
    } else {
      for (const m of llm) observations[m.id] = { value: 0, detail: 'the UTC day just began' };
    }
  }
  return { observations, invocations, seriesPeriodSeconds };
}
