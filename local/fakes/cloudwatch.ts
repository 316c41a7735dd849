import { randomUUID } from 'node:crypto';
import {
  CloudWatchClient,
  CloudWatchServiceException,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  GetMetricWidgetImageCommand,
  InvalidNextToken,
  InvalidParameterCombinationException,
  InvalidParameterValueException,
  type AlarmType,
  type CompositeAlarm,
  type DescribeAlarmsCommandInput,
  type DescribeAlarmsCommandOutput,
  type GetMetricDataCommandInput,
  type GetMetricDataCommandOutput,
  type GetMetricWidgetImageCommandInput,
  type GetMetricWidgetImageCommandOutput,
  type MetricAlarm,
  type MetricDataQuery,
  type MetricDataResult,
  type StateValue,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { Raster, type Rgb } from '../png';

const REGION = 'us-east-1';
const ACCOUNT_ID = '123456789012';
const DEFAULT_MAX_RECORDS = 50;
const MAX_ALARM_NAMES = 100;
const QUERY_ID_PATTERN = /^[a-z][a-zA-Z0-9_]*$/;

/** One datapoint returned by a {@link MetricDataSource}. */
export interface MetricDatapoint {
  readonly timestamp: Date;
  readonly value: number;
}

/**
 * Supplies the datapoints of one `MetricDataQuery` for GetMetricData. The fake keeps only points inside
 * `[startTime, endTime)` and orders them by the request's `ScanBy`, as the service does.
 */
export type MetricDataSource = (
  query: MetricDataQuery,
  window: { readonly startTime: Date; readonly endTime: Date },
) => readonly MetricDatapoint[];

/** What {@link steadyLambdaTraffic} reports for every function, per minute. */
export interface SteadyTrafficOptions {
  /** Invocations per minute. @default 10000 */
  readonly invocationsPerMinute?: number;
  /** Errors per minute. @default 0 */
  readonly errorsPerMinute?: number;
  /** Duration in ms, for every statistic (average and percentiles alike). @default 120 */
  readonly durationMs?: number;
  /** Throttles per minute. @default 0 */
  readonly throttlesPerMinute?: number;
}

/**
 * A healthy, steady Lambda service: every `AWS/Lambda` metric of any function gets one datapoint per requested
 * period (Sum-like statistics scaled by the period's minutes), and every other namespace has no data. The fake's
 * default source, so a local gate over Lambda metrics sees traffic unless a test says otherwise.
 */
export function steadyLambdaTraffic(options: SteadyTrafficOptions = {}): MetricDataSource {
  const perMinute: Record<string, number> = {
    Invocations: options.invocationsPerMinute ?? 10_000,
    Errors: options.errorsPerMinute ?? 0,
    Throttles: options.throttlesPerMinute ?? 0,
  };
  return (query, window) => {
    const stat = query.MetricStat;
    if (!stat || stat.Metric?.Namespace !== 'AWS/Lambda') return [];
    const period = stat.Period ?? 60;
    const name = stat.Metric.MetricName ?? '';
    const points: MetricDatapoint[] = [];
    for (let t = window.startTime.getTime(); t < window.endTime.getTime(); t += period * 1000) {
      let value: number;
      if (name === 'Duration') value = stat.Stat === 'SampleCount' ? (perMinute.Invocations! * period) / 60 : (options.durationMs ?? 120);
      else if (name in perMinute) value = stat.Stat === 'Sum' || stat.Stat === 'SampleCount' ? (perMinute[name]! * period) / 60 : perMinute[name]! > 0 ? 1 : 0;
      else continue;
      points.push({ timestamp: new Date(t), value });
    }
    return points;
  };
}

/** Properties of an alarm created with {@link FakeCloudWatch.addAlarm}. */
export interface FakeAlarmOptions {
  /** @default 'MetricAlarm' */
  readonly type?: AlarmType;
  /** @default 'INSUFFICIENT_DATA', the state CloudWatch gives a new alarm */
  readonly state?: StateValue;
  /** @default a reason like the service's for a new alarm */
  readonly reason?: string;
  /** Extra service fields returned as-is (MetricName, Namespace, Threshold, AlarmRule, actions...). */
  readonly fields?: Partial<MetricAlarm & CompositeAlarm>;
}

/** The commands the fake serves. */
export type CloudWatchCommandName = 'DescribeAlarms' | 'GetMetricData' | 'GetMetricWidgetImage';

/** One call the fake received. */
export interface CloudWatchCallRecord {
  readonly command: CloudWatchCommandName;
  readonly input: unknown;
  readonly at: Date;
  /** `'ok'`, or the `name` of the error the call got. */
  readonly outcome: string;
}

interface FakeAlarm {
  readonly type: AlarmType;
  readonly name: string;
  state: StateValue;
  reason: string;
  stateUpdated: Date;
  stateTransitioned: Date;
  readonly fields: Partial<MetricAlarm & CompositeAlarm>;
}

function metadata(httpStatusCode: number) {
  return { httpStatusCode, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 };
}

function validationError(message: string): CloudWatchServiceException {
  return new CloudWatchServiceException({ name: 'ValidationError', $fault: 'client', $metadata: metadata(400), message });
}

/**
 * A stateful fake of the CloudWatch alarm and metric read APIs (DescribeAlarms, GetMetricData), installed at the
 * SDK boundary with aws-sdk-client-mock. Alarms are kept by name with a state that tests flip with
 * {@link FakeCloudWatch.setAlarm}; DescribeAlarms filters, sorts and pages like the service, and names it does not
 * know are simply absent from the answer.
 */
export class FakeCloudWatch {
  private readonly alarms = new Map<string, FakeAlarm>();
  private readonly callLog: CloudWatchCallRecord[] = [];
  private metricData: MetricDataSource = steadyLambdaTraffic();
  private stub?: { restore(): void };

  /** Every call received so far, oldest first. */
  get calls(): readonly CloudWatchCallRecord[] {
    return this.callLog;
  }

  /** Creates an alarm. Throws if one with this name exists. */
  addAlarm(name: string, options: FakeAlarmOptions = {}): void {
    if (this.alarms.has(name)) throw new Error(`fake CloudWatch: alarm ${name} already exists`);
    const now = new Date();
    this.alarms.set(name, {
      type: options.type ?? 'MetricAlarm',
      name,
      state: options.state ?? 'INSUFFICIENT_DATA',
      reason: options.reason ?? 'Unchecked: Initial alarm creation',
      stateUpdated: now,
      stateTransitioned: now,
      fields: options.fields ?? {},
    });
  }

  /**
   * Sets an alarm's state (creating a metric alarm if the name is new), as `SetAlarmState` or a metric evaluation
   * would. `StateUpdatedTimestamp` changes on every call, `StateTransitionedTimestamp` only when the state changes.
   */
  setAlarm(name: string, state: StateValue, reason = `Threshold Crossed: set to ${state} by a local test`): void {
    if (!this.alarms.has(name)) this.addAlarm(name, { state, reason });
    const alarm = this.alarms.get(name)!;
    const now = new Date();
    if (alarm.state !== state) alarm.stateTransitioned = now;
    alarm.state = state;
    alarm.reason = reason;
    alarm.stateUpdated = now;
  }

  /** Deletes an alarm, as DeleteAlarms would. */
  removeAlarm(name: string): void {
    this.alarms.delete(name);
  }

  /** The alarm's current state, or `undefined` if it does not exist. */
  stateOf(name: string): StateValue | undefined {
    return this.alarms.get(name)?.state;
  }

  /**
   * Sets where GetMetricData reads datapoints from; `() => []` for a world without traffic.
   * @default {@link steadyLambdaTraffic}: a healthy Lambda service, no other metrics
   */
  setMetricData(source: MetricDataSource): void {
    this.metricData = source;
  }

  /** Routes every `CloudWatchClient` to this fake; other commands fail loudly. */
  install(): this {
    if (this.stub) throw new Error('fake CloudWatch: already installed');
    const stub = mockClient(CloudWatchClient);
    // Registered first so the command-specific routes below take precedence over it.
    stub.onAnyCommand().callsFake(async (input: unknown) => {
      throw new Error(`fake CloudWatch: this command is not faked (input ${JSON.stringify(input)})`);
    });
    stub.on(DescribeAlarmsCommand).callsFake(async (input) => this.record('DescribeAlarms', input, () => this.describeAlarms(input)));
    stub.on(GetMetricDataCommand).callsFake(async (input) => this.record('GetMetricData', input, () => this.getMetricData(input)));
    stub.on(GetMetricWidgetImageCommand).callsFake(async (input) => this.record('GetMetricWidgetImage', input, () => this.getMetricWidgetImage(input)));
    this.stub = stub;
    return this;
  }

  /** Gives `CloudWatchClient` its real `send` back. */
  restore(): void {
    this.stub?.restore();
    this.stub = undefined;
  }

  private record<T>(command: CloudWatchCommandName, input: unknown, serve: () => T): T {
    try {
      const output = serve();
      this.callLog.push({ command, input, at: new Date(), outcome: 'ok' });
      return output;
    } catch (error) {
      this.callLog.push({ command, input, at: new Date(), outcome: (error as Error).name });
      throw error;
    }
  }

  private describeAlarms(input: DescribeAlarmsCommandInput): DescribeAlarmsCommandOutput {
    if (input.ChildrenOfAlarmName !== undefined || input.ParentsOfAlarmName !== undefined || input.ActionPrefix !== undefined) {
      throw new Error('fake CloudWatch: ChildrenOfAlarmName, ParentsOfAlarmName and ActionPrefix are not faked');
    }
    if (input.AlarmNames && input.AlarmNamePrefix !== undefined) {
      throw new InvalidParameterCombinationException({
        message: 'AlarmNames and AlarmNamePrefix cannot be specified together.',
        $metadata: metadata(400),
      });
    }
    if (input.AlarmNames && input.AlarmNames.length > MAX_ALARM_NAMES) {
      throw validationError(
        `1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ALARM_NAMES}`,
      );
    }
    const maxRecords = input.MaxRecords ?? DEFAULT_MAX_RECORDS;
    if (maxRecords < 1 || maxRecords > 100) {
      throw validationError(
        `1 validation error detected: Value '${maxRecords}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100`,
      );
    }
    // Without AlarmTypes the service returns metric alarms only, even when composite alarms match.
    const types = new Set<AlarmType>(input.AlarmTypes ?? ['MetricAlarm']);
    const names = input.AlarmNames ? new Set(input.AlarmNames) : undefined;
    const matching = [...this.alarms.values()]
      .filter((a) => types.has(a.type))
      .filter((a) => !names || names.has(a.name))
      .filter((a) => input.AlarmNamePrefix === undefined || a.name.startsWith(input.AlarmNamePrefix))
      .filter((a) => input.StateValue === undefined || a.state === input.StateValue)
      .sort((a, b) => (a.type === b.type ? (a.name < b.name ? -1 : 1) : a.type === 'MetricAlarm' ? -1 : 1));

    const start = input.NextToken === undefined ? 0 : this.decodeToken(input.NextToken);
    const page = matching.slice(start, start + maxRecords);
    const next = start + maxRecords < matching.length ? Buffer.from(String(start + maxRecords)).toString('base64') : undefined;
    return {
      MetricAlarms: page.filter((a) => a.type === 'MetricAlarm').map((a) => this.describe(a)),
      CompositeAlarms: page.filter((a) => a.type === 'CompositeAlarm').map((a) => this.describe(a)),
      ...(next !== undefined && { NextToken: next }),
      $metadata: metadata(200),
    };
  }

  private decodeToken(token: string): number {
    const index = Number(Buffer.from(token, 'base64').toString('utf8'));
    if (!Number.isInteger(index) || index < 0) {
      throw new InvalidNextToken({ message: 'The service cannot process the NextToken provided.', $metadata: metadata(400) });
    }
    return index;
  }

  private describe(alarm: FakeAlarm): MetricAlarm & CompositeAlarm {
    return {
      ActionsEnabled: true,
      AlarmActions: [],
      OKActions: [],
      InsufficientDataActions: [],
      ...alarm.fields,
      AlarmName: alarm.name,
      AlarmArn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT_ID}:alarm:${alarm.name}`,
      StateValue: alarm.state,
      StateReason: alarm.reason,
      StateUpdatedTimestamp: alarm.stateUpdated,
      StateTransitionedTimestamp: alarm.stateTransitioned,
    };
  }

  private getMetricData(input: GetMetricDataCommandInput): GetMetricDataCommandOutput {
    const queries = input.MetricDataQueries ?? [];
    if (!input.StartTime || !input.EndTime || queries.length === 0) {
      throw validationError('MetricDataQueries, StartTime and EndTime are required.');
    }
    if (input.StartTime.getTime() >= input.EndTime.getTime()) {
      throw new InvalidParameterValueException({
        message: 'The parameter StartTime must be less than the parameter EndTime.',
        $metadata: metadata(400),
      });
    }
    const ids = queries.map((q) => q.Id ?? '');
    const badId = ids.find((id) => !QUERY_ID_PATTERN.test(id));
    if (badId !== undefined) {
      throw validationError(`The value ${badId} for parameter MetricDataQueries.member.Id is invalid: it must start with a lowercase letter.`);
    }
    if (new Set(ids).size !== ids.length) {
      throw validationError('The values for parameter MetricDataQueries.member.Id must be unique.');
    }
    const window = { startTime: input.StartTime, endTime: input.EndTime };
    const descending = (input.ScanBy ?? 'TimestampDescending') === 'TimestampDescending';
    const results: MetricDataResult[] = queries
      .filter((q) => q.ReturnData !== false)
      .map((q) => {
        const points = this.metricData(q, window)
          .filter((p) => p.timestamp >= window.startTime && p.timestamp < window.endTime)
          .sort((a, b) => (descending ? b.timestamp.getTime() - a.timestamp.getTime() : a.timestamp.getTime() - b.timestamp.getTime()));
        return {
          Id: q.Id,
          Label: q.Label ?? q.MetricStat?.Metric?.MetricName ?? q.Id,
          Timestamps: points.map((p) => p.timestamp),
          Values: points.map((p) => p.value),
          StatusCode: 'Complete',
          Messages: [],
        };
      });
    return { MetricDataResults: results, Messages: [], $metadata: metadata(200) };
  }

  /**
   * GetMetricWidgetImage: draws the widget's metrics (from the same source as GetMetricData) over its time range as
   * a real PNG, left- and right-axis series scaled separately, vertical annotations as dashed lines and horizontal
   * ones as solid lines. The MetricWidget JSON follows "CloudWatch Metric Widget Structure" (CloudWatch API
   * reference): `metrics` rows of namespace, metric name, dimension pairs and an options object; `start` and `end`;
   * `period`; `annotations.vertical` / `.horizontal`; `width` / `height` in pixels (default 600 x 395). Only
   * absolute ISO 8601 `start` / `end` and the `png` output format are faked.
   */
  private getMetricWidgetImage(input: GetMetricWidgetImageCommandInput): GetMetricWidgetImageCommandOutput {
    let widget: WidgetInput;
    try {
      widget = JSON.parse(input.MetricWidget ?? '') as WidgetInput;
    } catch {
      throw validationError('The MetricWidget parameter is not valid JSON.');
    }
    if ((input.OutputFormat ?? 'png') !== 'png') throw new Error(`fake CloudWatch: OutputFormat ${input.OutputFormat} is not faked`);
    if (!Array.isArray(widget.metrics) || widget.metrics.length === 0) throw validationError('The MetricWidget must have at least one metric in "metrics".');
    const start = new Date(widget.start ?? '');
    const end = new Date(widget.end ?? '');
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) {
      throw new Error(`fake CloudWatch: only absolute ISO 8601 start and end are faked, got ${JSON.stringify([widget.start, widget.end])}`);
    }
    if (start >= end) throw validationError('The start of the MetricWidget must be before its end.');
    const width = widget.width ?? 600;
    const height = widget.height ?? 395;
    if (width < 1 || width > 2000 || height < 1 || height > 2000) throw validationError('MetricWidget width and height must be between 1 and 2000.');
    const period = widget.period ?? 300;
    const series = widget.metrics.map((row, i) => {
      const options = (typeof row[row.length - 1] === 'object' ? row[row.length - 1] : {}) as { stat?: string; yAxis?: string };
      const parts = row.filter((part: unknown): part is string => typeof part === 'string');
      const [namespace, metricName, ...pairs] = parts;
      const dimensions = [];
      for (let d = 0; d + 1 < pairs.length; d += 2) dimensions.push({ Name: pairs[d]!, Value: pairs[d + 1]! });
      const query: MetricDataQuery = {
        Id: `m${i}`,
        MetricStat: { Metric: { Namespace: namespace, MetricName: metricName, Dimensions: dimensions }, Period: period, Stat: options.stat ?? 'Average' },
      };
      const points = this.metricData(query, { startTime: start, endTime: end })
        .filter((p) => p.timestamp >= start && p.timestamp < end)
        .sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime());
      return { axis: options.yAxis === 'right' ? 'right' : 'left', points };
    });
    const raster = new Raster(width, height);
    const plot = { left: 40, right: width - 40, top: 20, bottom: height - 30 };
    raster.line(plot.left, plot.bottom, plot.right, plot.bottom, [60, 60, 60]);
    raster.line(plot.left, plot.top, plot.left, plot.bottom, [60, 60, 60]);
    raster.line(plot.right, plot.top, plot.right, plot.bottom, [60, 60, 60]);
    const horizontal = widget.annotations?.horizontal ?? [];
    const maxOf = (axis: string): number =>
      Math.max(1e-9, ...series.filter((s) => s.axis === axis).flatMap((s) => s.points.map((p) => p.value)), ...horizontal.filter((h) => (h.yAxis ?? 'left') === axis).map((h) => h.value));
    const max = { left: maxOf('left') * 1.1, right: maxOf('right') * 1.1 };
    const x = (t: number): number => plot.left + ((t - start.getTime()) / (end.getTime() - start.getTime())) * (plot.right - plot.left);
    const y = (v: number, axis: string): number => plot.bottom - (v / (axis === 'right' ? max.right : max.left)) * (plot.bottom - plot.top);
    for (const v of widget.annotations?.vertical ?? []) {
      const t = Date.parse(v.value);
      if (Number.isFinite(t) && t >= start.getTime() && t <= end.getTime()) raster.line(x(t), plot.top, x(t), plot.bottom, hexColour(v.color, [127, 127, 127]), 4);
    }
    for (const h of horizontal) {
      const axis = h.yAxis ?? 'left';
      raster.line(plot.left, y(h.value, axis), plot.right, y(h.value, axis), hexColour(h.color, [214, 39, 40]));
    }
    series.forEach((s, i) => {
      const colour = PALETTE[i % PALETTE.length]!;
      s.points.forEach((p, j) => {
        const prev = s.points[j - 1];
        if (prev) raster.line(x(prev.timestamp.getTime()), y(prev.value, s.axis), x(p.timestamp.getTime()), y(p.value, s.axis), colour);
        else raster.set(x(p.timestamp.getTime()), y(p.value, s.axis), colour);
      });
    });
    return { MetricWidgetImage: new Uint8Array(raster.toPng()), $metadata: metadata(200) };
  }

}

/** The MetricWidget JSON, as far as the fake reads it. */
interface WidgetInput {
  readonly metrics?: readonly (readonly (string | number | Record<string, unknown>)[])[];
  readonly start?: string;
  readonly end?: string;
  readonly period?: number;
  readonly width?: number;
  readonly height?: number;
  readonly annotations?: {
    readonly vertical?: readonly { readonly value: string; readonly color?: string }[];
    readonly horizontal?: readonly { readonly value: number; readonly color?: string; readonly yAxis?: 'left' | 'right' }[];
  };
}

/** CloudWatch's default line colours, in order. */
const PALETTE: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
];

function hexColour(hex: string | undefined, fallback: Rgb): Rgb {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex ?? '');
  return m ? [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16)] : fallback;
}
