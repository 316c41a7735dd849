import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery, type MetricDataResult } from '@aws-sdk/client-cloudwatch';
import { TransientError } from '../core/errors';
import type { MetricQuery, MetricReading, MetricsReader } from '../core/ports';
import { errorMessage, isTransient } from './aws-errors';

/** GetMetricData takes at most 500 queries per call. */
const QUERIES_PER_CALL = 500;

/** The window's length rounded up to whole minutes: one period that covers the window gives its statistic. */
export function wholeWindowPeriod(window: { start: Date; end: Date }): number {
  return Math.max(60, Math.ceil((window.end.getTime() - window.start.getTime()) / 60_000) * 60);
}

/** Several datapoints of one statistic (a window CloudWatch split in two periods) as one value. */
function combine(statistic: string, values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  if (statistic === 'Sum' || statistic === 'SampleCount') return values.reduce((a, b) => a + b, 0);
  if (statistic === 'Minimum') return Math.min(...values);
  // Maximum, and the conservative reading of a percentile or average split across two periods.
  return Math.max(...values);
}

/**
 * Reads metric statistics with CloudWatch GetMetricData: per query one datapoint whose period covers the whole
 * window (the statistic over the window, percentiles included), and optionally the per-period series.
 */
export class CloudWatchMetricsReader implements MetricsReader {
  constructor(private readonly cloudwatch: CloudWatchClient = new CloudWatchClient({})) {}

  async read(
    queries: readonly MetricQuery[],
    window: { readonly start: Date; readonly end: Date },
    options: { readonly seriesPeriodSeconds?: number } = {},
  ): Promise<MetricReading[]> {
    const whole = wholeWindowPeriod(window);
    const stat = (q: MetricQuery, period: number, id: string): MetricDataQuery => ({
      Id: id,
      MetricStat: {
        Metric: { Namespace: q.namespace, MetricName: q.metricName, Dimensions: Object.entries(q.dimensions).map(([Name, Value]) => ({ Name, Value })) },
        Period: period,
        Stat: q.statistic,
      },
      ReturnData: true,
    });
    const all: MetricDataQuery[] = queries.flatMap((q, i) => [
      stat(q, whole, `w${i}`),
      ...(options.seriesPeriodSeconds ? [stat(q, options.seriesPeriodSeconds, `s${i}`)] : []),
    ]);
    const results = new Map<string, { timestamps: Date[]; values: number[] }>();
    for (let i = 0; i < all.length; i += QUERIES_PER_CALL) {
      let nextToken: string | undefined;
      do {
        let page: MetricDataResult[];
        try {
          const out = await this.cloudwatch.send(
            new GetMetricDataCommand({
              MetricDataQueries: all.slice(i, i + QUERIES_PER_CALL),
              StartTime: window.start,
              EndTime: window.end,
              ScanBy: 'TimestampAscending',
              NextToken: nextToken,
            }),
          );
          page = out.MetricDataResults ?? [];
          nextToken = out.NextToken;
        } catch (err) {
          if (isTransient(err)) throw new TransientError(`reading gate metrics: ${errorMessage(err)}`, { cause: err });
          throw err;
        }
        for (const r of page) {
          const entry = results.get(r.Id ?? '') ?? { timestamps: [], values: [] };
          entry.timestamps.push(...(r.Timestamps ?? []));
          entry.values.push(...(r.Values ?? []));
          results.set(r.Id ?? '', entry);
        }
      } while (nextToken);
    }
    return queries.map((q, i) => {
      const w = results.get(`w${i}`);
      const s = results.get(`s${i}`);
      const value = combine(q.statistic, w?.values ?? []);
      const series = (s?.timestamps ?? [])
        .map((t, j) => ({ at: t.toISOString(), value: s!.values[j]! }))
        .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
      return { ...(value !== undefined ? { value } : {}), series };
    });
  }
}
