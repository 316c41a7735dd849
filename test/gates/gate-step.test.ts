import { GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { CloudWatchMetricsReader, wholeWindowPeriod } from '../../lambdas/adapters/cloudwatch-metrics-reader';
import { TransientError } from '../../lambdas/core/errors';
import { pauseRollout, type Person } from '../../lambdas/core/rollout/operations';
import type { Plan, PlanInput } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import type { RolloutNotification } from '../../lambdas/core/ports';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, gateStep, startRolloutStep, type StepPorts } from '../../lambdas/core/rollout/steps';
import { steadyLambdaTraffic, type MetricDataSource } from '../../local/fakes/cloudwatch';
import { startLocalAws, type LocalAws } from '../support/local-aws';

const admin: Person = { id: 'u-ada', name: 'Ada', via: 'discord', roles: ['admin'] };
let aws: LocalAws;
let ports: StepPorts;
let notes: RolloutNotification[];
let n = 0;

beforeAll(async () => {
  aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
});
afterAll(async () => aws.stop());
beforeEach(() => {
  notes = [];
  ports = { ...aws.ports, metrics: new CloudWatchMetricsReader(), notifier: { notify: async (x) => void notes.push(x) } };
  aws.cloudwatch.setMetricData(steadyLambdaTraffic());
});

function plan(gates: NonNullable<PlanInput['phases'][number]['gates']>, extra: Partial<PlanInput> = {}): Plan {
  const feature = `gate-${++n}`;
  return parsePlan({
    feature,
    targets: [`${feature}-api`, `${feature}-worker`],
    phases: [
      { name: 'canary', roles: ['all'], percent: 1, bake: 'PT2H', gates },
      { name: 'full', roles: ['all'], bake: 'PT2H' },
    ],
    ...extra,
  });
}

async function gateOf(p: Plan, options: { beforeGate?: (payload: StepPayload) => Promise<void> } = {}) {
  for (const t of p.targets) aws.lambda.addFunction(t);
  const payload: StepPayload = { plan: p, stage: 'dev', executionId: `arn:exec:${p.feature}`, startedBy: admin };
  await startRolloutStep(ports, payload);
  await applyPhaseStep(ports, { ...payload, phaseIndex: 0 });
  aws.clock.advance(2 * 3600_000);
  await options.beforeGate?.(payload);
  return gateStep(ports, { ...payload, phaseIndex: 0 });
}

/** Lambda traffic where one function's numbers differ. */
const traffic = (perFunction: (fn: string, metric: string, stat: string) => number | undefined, base: MetricDataSource = steadyLambdaTraffic()): MetricDataSource =>
  (query, window) => {
    const fn = query.MetricStat?.Metric?.Dimensions?.find((d) => d.Name === 'FunctionName')?.Value ?? '';
    const value = perFunction(fn, query.MetricStat?.Metric?.MetricName ?? '', query.MetricStat?.Stat ?? '');
    if (value === undefined) return base(query, window);
    return base(query, window).map((p) => ({ ...p, value: value * ((query.MetricStat?.Period ?? 60) / 60) ** (query.MetricStat?.Stat === 'Sum' ? 1 : 0) }));
  };

describe('the gate step reads the bake window and decides on three bands', () => {
  it('PROCEEDs on a healthy bake, with a reason per metric and the figures in the audit trail and the notification', async () => {
    const p = plan({ minInvocations: 100, errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 }, p95Ms: { proceedBelow: 500, rollbackAbove: 1000 } });
    const result = await gateOf(p);
    expect(result.decision).toBe('PROCEED');
    expect(result.reasons).toEqual([
      'error rate 0 % (0 error(s) / 2420000 invocation(s)): proceed, below 0.5 %',
      'p95 duration 120 ms (worst target ' + p.targets[0] + '): proceed, below 500 ms',
    ]);
    const audit = (await aws.ports.store.listAudit(p.feature))[0]!;
    expect(audit).toMatchObject({ action: 'gate-evaluated', detail: { decision: 'PROCEED', metrics: [{ metric: 'error-rate', value: 0 }, { metric: 'p95-ms', value: 120 }], window: { start: expect.any(String), end: expect.any(String) } } });
    const window = (audit.detail as { window: { start: string; end: string } }).window;
    expect(Date.parse(window.end) - Date.parse(window.start)).toBeGreaterThanOrEqual(2 * 3600_000);
    expect(notes.at(-1)).toMatchObject({ kind: 'gate-evaluated', decision: 'PROCEED', reasons: result.reasons });
  });

  it('reads the error rate as the targets\' errors over their invocations, and the worst target\'s p95', async () => {
    const p = plan({ errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 }, p95Ms: { proceedBelow: 500, rollbackAbove: 1000 } });
    aws.cloudwatch.setMetricData(traffic((fn, metric) => (fn.endsWith('-worker') && metric === 'Errors' ? 200 : fn.endsWith('-worker') && metric === 'Duration' ? 700 : undefined)));
    const result = await gateOf(p);
    // 200 errors per minute on one of two functions of 10,000 invocations a minute each, over 121 minutes: 1 %.
    expect(result).toEqual({
      decision: 'HOLD',
      reasons: ['error rate 1 % (24200 error(s) / 2420000 invocation(s)): hold, between 0.5 % and 1 %', `p95 duration 700 ms (worst target ${p.targets[1]}): hold, between 500 ms and 1000 ms`],
    });
  });

  it('ROLLs BACK when a band says so', async () => {
    const p = plan({ errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } });
    aws.cloudwatch.setMetricData(traffic((_fn, metric) => (metric === 'Errors' ? 500 : undefined)));
    expect(await gateOf(p)).toEqual({ decision: 'ROLLBACK', reasons: ['error rate 5 % (121000 error(s) / 2420000 invocation(s)): roll back, above 1 %'] });
  });

  it('HOLDs without data, never rolls back', async () => {
    const p = plan({ errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } });
    aws.cloudwatch.setMetricData(() => []);
    expect(await gateOf(p)).toEqual({ decision: 'HOLD', reasons: ['error rate: hold, no data in the bake window'] });
  });

  it('HOLDs with too few invocations even when every one failed', async () => {
    const p = plan({ minInvocations: 20, errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } });
    aws.cloudwatch.setMetricData((q, w) => (q.MetricStat?.Period ?? 0) >= 3600 && ['Errors', 'Invocations'].includes(q.MetricStat?.Metric?.MetricName ?? '') ? [{ timestamp: w.startTime, value: 3 }] : []);
    expect(await gateOf(p)).toEqual({ decision: 'HOLD', reasons: ['error rate: hold, only 6 invocation(s) in the bake, 20 needed before deciding'] });
  });

  it('rolls back on a sustained breach only once it has lasted, reading the per-minute series', async () => {
    const p = plan({ errorRate: { proceedBelow: 0.001, rollbackAbove: 0.001, sustainedFor: 'PT1H' } });
    // 0.5 % errors for the last 30 minutes of the bake: above the line, not yet for an hour.
    const breachFrom = (minutesAgo: number) => async () => {
      const since = aws.clock.now().getTime() - minutesAgo * 60_000;
      // Errors per period: 50 for every minute of the period after `since` (the whole-window datapoint included).
      aws.cloudwatch.setMetricData((q, w) =>
        steadyLambdaTraffic()(q, w).map((pt) => {
          if (q.MetricStat?.Metric?.MetricName !== 'Errors') return pt;
          const end = pt.timestamp.getTime() + (q.MetricStat.Period ?? 60) * 1000;
          return { ...pt, value: 50 * Math.max(0, (end - Math.max(since, pt.timestamp.getTime())) / 60_000) };
        }),
      );
    };
    const result = await gateOf(p, { beforeGate: breachFrom(30) });
    expect(result.decision).toBe('HOLD');
    expect(result.reasons[0]).toMatch(/hold, above 0.1 % but only for 3\d min of the 60 min that roll back/);
    const later = await gateOf(plan({ errorRate: { proceedBelow: 0.001, rollbackAbove: 0.001, sustainedFor: 'PT1H' } }), { beforeGate: breachFrom(90) });
    expect(later.decision).toBe('ROLLBACK');
    expect(later.reasons[0]).toMatch(/roll back, above 0.1 % for \d+ min \(at least 60 min\)/);
  });

  it('compares with the baseline captured when the rollout started', async () => {
    const p = plan({ p95Ms: { proceedBelow: 5000, rollbackAbove: 10000, baseline: { proceedWithin: 1.2, rollbackBeyond: 1.5, window: 'P1D' } } });
    const result = await gateOf(p, { beforeGate: async () => aws.cloudwatch.setMetricData(steadyLambdaTraffic({ durationMs: 200 })) });
    expect(await aws.ports.store.getState(p.feature)).toMatchObject({ baseline: { values: { 'p95-ms': 120 } } });
    expect(result).toEqual({ decision: 'ROLLBACK', reasons: [expect.stringContaining('p95 duration 200 ms (worst target') ] });
    expect(result.reasons[0]).toContain('roll back, 1.67x the baseline 120 ms (worse than 1.5x)');
  });

  it('holds, and never rolls the feature back, when an LLM sub-feature is over its hard limit today', async () => {
    const p = plan({}, {
      subFeatures: [{ id: 'llm', llm: { dailyCapUsd: 5, hardLimitUsd: 10 } }],
      phases: [
        { name: 'canary', roles: ['admin'], bake: 'PT2H', subFeatures: { llm: {} } },
        { name: 'full', roles: ['all'], bake: 'PT2H' },
      ],
    });
    aws.cloudwatch.setMetricData((q, w) => (q.MetricStat?.Metric?.MetricName === 'LlmSpendUsd' ? [{ timestamp: w.startTime, value: 12.5 }] : []));
    const result = await gateOf(p);
    expect(result.decision).toBe('HOLD');
    expect(result.reasons[0]).toBe('LLM spend of llm today $12.50: roll back, above $10.00; the gate holds: the daily cost alarm rolls back sub-feature llm on its own');
    const query = aws.cloudwatch.calls.filter((c) => c.command === 'GetMetricData').at(-1)!.input as { StartTime: Date; MetricDataQueries: MetricDataQuery[] };
    expect(query.StartTime.toISOString()).toMatch(/T00:00:00.000Z$/);
    expect(query.MetricDataQueries[0]!.MetricStat).toMatchObject({ Metric: { Namespace: 'Phasegate', MetricName: 'LlmSpendUsd', Dimensions: [{ Name: 'Feature', Value: p.feature }, { Name: 'SubFeature', Value: 'llm' }] }, Stat: 'Sum' });
  });

  it('combines watched alarms with bands: an alarm in ALARM rolls back whatever the bands say', async () => {
    const p = plan({ alarms: ['orders-5xx'], errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } });
    aws.cloudwatch.setAlarm('orders-5xx', 'ALARM', 'Threshold Crossed');
    const result = await gateOf(p);
    expect(result).toEqual({ decision: 'ROLLBACK', reasons: ['alarm orders-5xx is in ALARM: Threshold Crossed', expect.stringContaining('error rate 0 %')] });
    aws.cloudwatch.setAlarm('orders-5xx', 'OK');
  });

  it('keeps the pause semantics: a paused rollout holds without counting toward the limit', async () => {
    const p = plan({ errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } });
    const result = await gateOf(p, { beforeGate: async () => void (await pauseRollout(ports, { feature: p.feature, actor: admin, reason: 'holiday' })) });
    expect(result).toEqual({ decision: 'HOLD', reasons: ['paused by Ada: holiday'] });
  });

  it('HOLDs with a clear reason when no metrics reader is configured', async () => {
    const p = plan({ errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } });
    ports = { ...ports, metrics: undefined };
    expect(await gateOf(p)).toEqual({ decision: 'HOLD', reasons: ['metric bands cannot be checked: no metrics reader is configured'] });
  });
});

describe('CloudWatchMetricsReader', () => {
  const window = { start: new Date('2026-11-02T08:00:00Z'), end: new Date('2026-11-02T10:00:30Z') };

  it('asks for one datapoint covering the whole window per query (percentiles included), and the series when asked', async () => {
    const reader = new CloudWatchMetricsReader();
    const before = aws.cloudwatch.calls.length;
    const readings = await reader.read(
      [{ namespace: 'AWS/Lambda', metricName: 'Duration', dimensions: { FunctionName: 'f' }, statistic: 'p99' }],
      window,
      { seriesPeriodSeconds: 60 },
    );
    const input = aws.cloudwatch.calls[before]!.input as { MetricDataQueries: MetricDataQuery[] };
    expect(input.MetricDataQueries.map((q) => [q.Id, q.MetricStat?.Period, q.MetricStat?.Stat])).toEqual([
      ['w0', wholeWindowPeriod(window), 'p99'],
      ['s0', 60, 'p99'],
    ]);
    expect(wholeWindowPeriod(window)).toBe(7260);
    expect(readings[0]).toMatchObject({ value: 120 });
    expect(readings[0]!.series).toHaveLength(121);
  });

  it('turns throttling into a TransientError the state machine retries', async () => {
    const reader = new CloudWatchMetricsReader({ send: async () => { throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }); } } as never);
    await expect(reader.read([{ namespace: 'A', metricName: 'B', dimensions: {}, statistic: 'Sum' }], window)).rejects.toBeInstanceOf(TransientError);
  });

  it('pages through NextToken', async () => {
    const pages = [
      { MetricDataResults: [{ Id: 'w0', Timestamps: [window.start], Values: [2] }], NextToken: 'next' },
      { MetricDataResults: [{ Id: 'w0', Timestamps: [new Date(window.start.getTime() + 3600_000)], Values: [3] }] },
    ];
    const sent: unknown[] = [];
    const reader = new CloudWatchMetricsReader({ send: async (c: GetMetricDataCommand) => (sent.push(c.input), pages.shift()) } as never);
    expect(await reader.read([{ namespace: 'A', metricName: 'B', dimensions: {}, statistic: 'Sum' }], window)).toEqual([{ value: 5, series: [] }]);
    expect(sent).toHaveLength(2);
  });
});
