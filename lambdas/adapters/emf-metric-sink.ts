import { METRICS } from '../core/contract';
import type { MetricSink, PhasegateMetric } from '../core/ports';

/** The CloudWatch Embedded Metric Format record of one metric: a JSON log line that CloudWatch Logs turns into a metric. */
export function emfRecord(metric: PhasegateMetric, namespace: string = METRICS.namespace): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: metric.at.getTime(),
      CloudWatchMetrics: [{ Namespace: namespace, Dimensions: [Object.keys(metric.dimensions)], Metrics: [{ Name: metric.name, Unit: metric.unit }] }],
    },
    ...metric.dimensions,
    [metric.name]: metric.value,
  };
}

/** Writes each metric as one EMF line on stdout, which Lambda sends to the function's log group. */
export class EmfMetricSink implements MetricSink {
  constructor(private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  put(metric: PhasegateMetric): void {
    this.write(JSON.stringify(emfRecord(metric)));
  }
}
