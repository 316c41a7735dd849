import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  InvalidParameterCombinationException,
  PutMetricAlarmCommand,
  type DescribeAlarmsCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { FakeCloudWatch } from '../../local/fakes/cloudwatch';

describe('FakeCloudWatch', () => {
  let fake: FakeCloudWatch;
  const cloudwatch = new CloudWatchClient({});
  const describeAlarms = (input: DescribeAlarmsCommandInput) => cloudwatch.send(new DescribeAlarmsCommand(input));
  const names = (out: { MetricAlarms?: { AlarmName?: string }[] }) => (out.MetricAlarms ?? []).map((a) => a.AlarmName);

  beforeEach(() => {
    fake = new FakeCloudWatch().install();
    fake.setAlarm('checkout-errors', 'OK');
    fake.setAlarm('checkout-latency', 'ALARM', 'p99 above 800 ms');
    fake.setAlarm('search-errors', 'OK');
    fake.addAlarm('checkout-composite', { type: 'CompositeAlarm', state: 'ALARM', fields: { AlarmRule: 'ALARM(checkout-errors)' } });
  });
  afterEach(() => fake.restore());

  it('returns the named alarms, sorted, with service-shaped fields, leaving unknown names out', async () => {
    const out = await describeAlarms({ AlarmNames: ['search-errors', 'checkout-latency', 'does-not-exist'] });
    expect(names(out)).toEqual(['checkout-latency', 'search-errors']);
    expect(out.MetricAlarms?.[0]).toMatchObject({
      AlarmName: 'checkout-latency',
      AlarmArn: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-latency',
      StateValue: 'ALARM',
      StateReason: 'p99 above 800 ms',
      StateUpdatedTimestamp: expect.any(Date),
    });
    expect(out.CompositeAlarms).toEqual([]);
  });

  it('filters by prefix and by state', async () => {
    expect(names(await describeAlarms({ AlarmNamePrefix: 'checkout-' }))).toEqual(['checkout-errors', 'checkout-latency']);
    expect(names(await describeAlarms({ StateValue: 'OK' }))).toEqual(['checkout-errors', 'search-errors']);
    expect(names(await describeAlarms({ AlarmNamePrefix: 'checkout-', StateValue: 'ALARM' }))).toEqual(['checkout-latency']);
  });

  it('returns composite alarms only when AlarmTypes asks for them', async () => {
    expect((await describeAlarms({ AlarmNamePrefix: 'checkout-comp' })).CompositeAlarms).toEqual([]);
    const out = await describeAlarms({ AlarmNamePrefix: 'checkout-', AlarmTypes: ['CompositeAlarm'] });
    expect(out.MetricAlarms).toEqual([]);
    expect(out.CompositeAlarms?.map((a) => [a.AlarmName, a.StateValue, a.AlarmRule])).toEqual([
      ['checkout-composite', 'ALARM', 'ALARM(checkout-errors)'],
    ]);
  });

  it('reflects state changes, moving StateTransitionedTimestamp only when the state changes', async () => {
    const [before] = (await describeAlarms({ AlarmNames: ['checkout-errors'] })).MetricAlarms ?? [];
    await new Promise((r) => setTimeout(r, 5));
    fake.setAlarm('checkout-errors', 'OK', 'still fine');
    const [same] = (await describeAlarms({ AlarmNames: ['checkout-errors'] })).MetricAlarms ?? [];
    expect(same.StateTransitionedTimestamp).toEqual(before.StateTransitionedTimestamp);
    expect(same.StateUpdatedTimestamp!.getTime()).toBeGreaterThan(before.StateUpdatedTimestamp!.getTime());

    fake.setAlarm('checkout-errors', 'ALARM');
    const [changed] = (await describeAlarms({ AlarmNames: ['checkout-errors'] })).MetricAlarms ?? [];
    expect(changed.StateValue).toBe('ALARM');
    expect(changed.StateTransitionedTimestamp!.getTime()).toBeGreaterThan(before.StateTransitionedTimestamp!.getTime());

    fake.removeAlarm('checkout-errors');
    expect(names(await describeAlarms({ AlarmNames: ['checkout-errors'] }))).toEqual([]);
  });

  it('pages with MaxRecords and NextToken', async () => {
    const first = await describeAlarms({ MaxRecords: 2 });
    expect(names(first)).toEqual(['checkout-errors', 'checkout-latency']);
    expect(first.NextToken).toBeDefined();
    const second = await describeAlarms({ MaxRecords: 2, NextToken: first.NextToken });
    expect(names(second)).toEqual(['search-errors']);
    expect(second.NextToken).toBeUndefined();
    await expect(describeAlarms({ NextToken: 'garbage' })).rejects.toMatchObject({ name: 'InvalidNextToken' });
  });

  it('rejects AlarmNames with AlarmNamePrefix, and more than 100 names', async () => {
    await expect(describeAlarms({ AlarmNames: ['a'], AlarmNamePrefix: 'a' })).rejects.toBeInstanceOf(
      InvalidParameterCombinationException,
    );
    const many = Array.from({ length: 101 }, (_, i) => `alarm-${i}`);
    await expect(describeAlarms({ AlarmNames: many })).rejects.toMatchObject({ name: 'ValidationError' });
    expect(fake.calls.map((c) => c.outcome)).toEqual(['InvalidParameterCombinationException', 'ValidationError']);
  });

  it('serves GetMetricData from the data source, windowed and ordered by ScanBy', async () => {
    const t = (min: number) => new Date(Date.UTC(2025, 0, 1, 0, min));
    fake.setMetricData((query) =>
      query.MetricStat?.Metric?.MetricName === 'Errors'
        ? [
            { timestamp: t(1), value: 1 },
            { timestamp: t(3), value: 3 },
            { timestamp: t(2), value: 2 },
            { timestamp: t(9), value: 9 },
          ]
        : [],
    );
    const metric = (name: string) => ({ Namespace: 'AWS/Lambda', MetricName: name });
    const out = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: t(0),
        EndTime: t(5),
        MetricDataQueries: [
          { Id: 'errors', MetricStat: { Metric: metric('Errors'), Period: 60, Stat: 'Sum' } },
          { Id: 'invocations', MetricStat: { Metric: metric('Invocations'), Period: 60, Stat: 'Sum' } },
          { Id: 'hidden', MetricStat: { Metric: metric('Errors'), Period: 60, Stat: 'Sum' }, ReturnData: false },
        ],
      }),
    );
    expect(out.MetricDataResults).toEqual([
      { Id: 'errors', Label: 'Errors', Timestamps: [t(3), t(2), t(1)], Values: [3, 2, 1], StatusCode: 'Complete', Messages: [] },
      { Id: 'invocations', Label: 'Invocations', Timestamps: [], Values: [], StatusCode: 'Complete', Messages: [] },
    ]);
    const ascending = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: t(0),
        EndTime: t(5),
        ScanBy: 'TimestampAscending',
        MetricDataQueries: [{ Id: 'errors', MetricStat: { Metric: metric('Errors'), Period: 60, Stat: 'Sum' } }],
      }),
    );
    expect(ascending.MetricDataResults?.[0].Values).toEqual([1, 2, 3]);
    await expect(
      cloudwatch.send(new GetMetricDataCommand({ StartTime: t(5), EndTime: t(0), MetricDataQueries: [{ Id: 'errors' }] })),
    ).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
  });

  it('fails loudly on a command it does not fake', async () => {
    await expect(cloudwatch.send(new PutMetricAlarmCommand({ AlarmName: 'x', EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold' }))).rejects.toThrow(
      /not faked/,
    );
  });
});
