import { CloudWatchMetricsReader } from '../../lambdas/adapters/cloudwatch-metrics-reader';
import { CloudWatchWidgetImages } from '../../lambdas/adapters/cloudwatch-widget-images';
import { DiscordApiClient } from '../../lambdas/adapters/discord-api';
import type { MetricWidget } from '../../lambdas/core/gates/metric-widget';
import { FakeDiscordApi } from '../../local/discord';
import { parseDailyReportEvent, phaseReportOf, postDailyReports, reportMessage, type DailyReportPorts } from '../../lambdas/core/gates/daily-report';
import type { DiscordMessage, DiscordRest } from '../../lambdas/core/discord/ports';
import type { Person } from '../../lambdas/core/rollout/operations';
import type { Plan } from '../../lambdas/core/plan/schema';
import { parsePlan, validatePlan } from '../../lambdas/core/plan/validate';
import { RECOMMENDATION_COLOURS, buildPhaseReport, formatElapsed, renderPhaseReport, reportEmbed } from '../../lambdas/core/gates/report';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, startRolloutStep, type StepPorts } from '../../lambdas/core/rollout/steps';
import type { MetricDataSource } from '../../local/fakes/cloudwatch';
import { startLocalAws, type LocalAws } from '../support/local-aws';

const admin: Person = { id: 'u-ada', name: 'Ada', via: 'discord', roles: ['admin'] };
const CHANNEL = '123456789012345678';
let aws: LocalAws;
let ports: StepPorts;
let n = 0;

beforeAll(async () => {
  aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
});
afterAll(async () => aws.stop());
beforeEach(() => {
  ports = { ...aws.ports, metrics: new CloudWatchMetricsReader() };
});

/**
 * FIXED Lambda metrics for every function, one datapoint per requested period: `invocations` and `errors` per
 * minute (Sum scales with the period), Duration p95 `p95`; an error rate of errors / invocations.
 */
function fixedMetrics(m: { invocations: number; errors: number; p95: number }): MetricDataSource {
  return (query, window) => {
    const stat = query.MetricStat!;
    if (stat.Metric?.Namespace !== 'AWS/Lambda') return [];
    const period = stat.Period ?? 60;
    const perMinute: Record<string, number> = { Invocations: m.invocations, Errors: m.errors };
    const name = stat.Metric.MetricName!;
    const points = [];
    for (let t = window.startTime.getTime(); t < window.endTime.getTime(); t += period * 1000) {
      const value = name === 'Duration' ? m.p95 : ((perMinute[name] ?? 0) * period) / 60;
      points.push({ timestamp: new Date(t), value });
    }
    return points;
  };
}

function plan(extra: Record<string, unknown> = {}): Plan {
  const feature = `report-${++n}`;
  return parsePlan({
    feature,
    targets: [`${feature}-api`],
    discord: { channelId: CHANNEL },
    report: { time: '09:00', timeZone: 'Europe/Berlin' },
    phases: [
      {
        name: 'canary',
        roles: ['admin'],
        percent: 10,
        bake: 'PT24H',
        gates: { minInvocations: 100, errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 }, p95Ms: { proceedBelow: 500, rollbackAbove: 1000 } },
      },
      { name: 'ga', roles: ['all'], bake: 'PT1H' },
    ],
    ...extra,
  });
}

/** Start the rollout and apply its first phase, then let `hours` pass in the phase. */
async function inCanary(p: Plan, hours = 26): Promise<void> {
  for (const t of p.targets) aws.lambda.addFunction(t);
  const payload: StepPayload = { plan: p, stage: 'dev', executionId: `arn:exec:${p.feature}`, startedBy: admin };
  await startRolloutStep(ports, payload);
  await applyPhaseStep(ports, { ...payload, phaseIndex: 0 });
  aws.clock.advance(hours * 3600_000);
}

describe('the daily phase report from fixed metric data', () => {
  it('recommends Proceed when every band proceeds, with the figures and the time in phase', async () => {
    const p = plan();
    aws.cloudwatch.setMetricData(fixedMetrics({ invocations: 1000, errors: 1, p95: 240 }));
    await inCanary(p);
    const report = (await phaseReportOf(ports, p.feature))!;
    expect(report).toMatchObject({
      feature: p.feature,
      stage: 'dev',
      status: 'RUNNING',
      phase: { name: 'canary', index: 0, count: 2, percent: 10, roles: ['admin'] },
      timeInPhaseSeconds: 26 * 3600,
      recommendation: { decision: 'PROCEED', label: 'Proceed' },
    });
    // The window's whole-period statistic rounds up to the next minute: 26 h of phase and the minute it began in.
    expect(report.requests).toBe(1000 * (26 * 60 + 1));
    expect(report.metrics.map((m) => [m.id, m.figure, m.decision])).toEqual([
      ['error-rate', '0.1 %', 'PROCEED'],
      ['p95-ms', '240 ms', 'PROCEED'],
    ]);
    expect(report.recommendation.reasons).toEqual([
      'error rate 0.1 % (1561 error(s) / 1561000 invocation(s)): proceed, below 0.5 %',
      'p95 duration 240 ms: proceed, below 500 ms',
    ]);

    const md = renderPhaseReport(report);
    expect(md).toContain(`## Phase report: ${p.feature} on dev`);
    expect(md).toContain('- Phase: **canary** (1 of 2), 10 % of admin, bake PT24H');
    expect(md).toContain('- Time in phase: 1 d 2 h');
    expect(md).toContain('- Requests with the feature (target invocations): 1,561,000');
    expect(md).toContain('- Error rate: 0.1 %; band: proceed below 0.5 %, roll back above 1 %: **proceed**');
    expect(md).toContain('- P95 duration: 240 ms; band: proceed below 500 ms, roll back above 1000 ms: **proceed**');
    expect(md).toContain('### Recommendation\n\n**Proceed**\n\n- error rate 0.1 %');
    expect(md).not.toMatch(/\[[x ]\]/);

    const embed = reportEmbed(report, { image: 'p.png' });
    expect(embed.title).toBe(`🟢 Proceed: ${p.feature} on dev`);
    expect(embed.color).toBe(RECOMMENDATION_COLOURS.PROCEED);
    expect(embed.image).toEqual({ url: 'attachment://p.png' });
    expect(embed.fields?.map((f) => f.name)).toEqual(['Requests with the feature', 'Error rate', 'P95 duration', 'Recommendation: Proceed']);
    expect(embed.fields?.[1]?.value).toBe('**0.1 %**: 🟢 proceed\nband: proceed below 0.5 %, roll back above 1 %');
    expect(JSON.stringify(embed)).not.toMatch(/\[[x ]\]/);
  });

  it('recommends Hold and investigate between the bands, naming the metric and comparing with the baseline', async () => {
    const p = plan({
      phases: [
        {
          name: 'canary',
          roles: ['admin'],
          bake: 'PT24H',
          gates: {
            errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01, baseline: { proceedWithin: 3, rollbackBeyond: 10 } },
            p95Ms: { proceedBelow: 500, rollbackAbove: 1000 },
          },
        },
      ],
    });
    // Before the rollout: 0.2 % errors is the baseline the start step captures.
    aws.cloudwatch.setMetricData(fixedMetrics({ invocations: 1000, errors: 2, p95: 240 }));
    for (const t of p.targets) aws.lambda.addFunction(t);
    const payload: StepPayload = { plan: p, stage: 'dev', executionId: `arn:exec:${p.feature}`, startedBy: admin };
    await startRolloutStep(ports, payload);
    await applyPhaseStep(ports, { ...payload, phaseIndex: 0 });
    aws.clock.advance(5 * 3600_000);
    aws.cloudwatch.setMetricData(fixedMetrics({ invocations: 1000, errors: 7, p95: 700 }));

    const report = (await phaseReportOf(ports, p.feature))!;
    expect(report.recommendation.decision).toBe('HOLD');
    expect(report.metrics.find((m) => m.id === 'error-rate')).toMatchObject({ figure: '0.7 %', baselineFigure: '0.2 %', decision: 'HOLD' });
    expect(report.recommendation.reasons).toEqual([
      'error rate 0.7 % (2107 error(s) / 301000 invocation(s)): hold, between 0.5 % and 1 %; 3.5x the baseline 0.2 %',
      'p95 duration 700 ms: hold, between 500 ms and 1000 ms',
    ]);
    const md = renderPhaseReport(report);
    expect(md).toContain('- Error rate: 0.7 % (baseline: 0.2 %); band: proceed below 0.5 %, roll back above 1 %; within 3x of the baseline, roll back beyond 10x: **hold and investigate**');
    expect(md).toContain('**Hold and investigate**');
    expect(md).toContain('### Recommendation\n\n**Hold and investigate**');
    expect(reportEmbed(report)).toMatchObject({ color: RECOMMENDATION_COLOURS.HOLD, title: `🟡 Hold and investigate: ${p.feature} on dev` });
    expect(md).toContain('- p95 duration 700 ms: hold, between 500 ms and 1000 ms');
  });

  it('recommends Roll back when a band breaches, with the reason; the other metrics still give theirs', async () => {
    const p = plan();
    aws.cloudwatch.setMetricData(fixedMetrics({ invocations: 1000, errors: 30, p95: 260 }));
    await inCanary(p, 3);
    const report = (await phaseReportOf(ports, p.feature))!;
    expect(report.recommendation).toEqual({
      decision: 'ROLLBACK',
      label: 'Roll back',
      reasons: ['error rate 3 % (5430 error(s) / 181000 invocation(s)): roll back, above 1 %', 'p95 duration 260 ms: proceed, below 500 ms'],
    });
    const md = renderPhaseReport(report);
    expect(md).toContain('**Roll back**');
    expect(md).toContain('### Recommendation\n\n**Roll back**');
    expect(reportEmbed(report)).toMatchObject({ color: RECOMMENDATION_COLOURS.ROLLBACK, title: `🔴 Roll back: ${p.feature} on dev` });
    expect(md).toContain('- Error rate: 3 %; band: proceed below 0.5 %, roll back above 1 %: **roll back**');
  });

  it('holds without enough requests, and shows LLM spend today against the cap and hard limit', async () => {
    const p = plan({
      subFeatures: [{ id: 'llm-parsing', llm: { dailyCapUsd: 5, hardLimitUsd: 10, dailyCapVariable: 'LLM_PARSING_DAILY_CAP_USD' } }],
      phases: [{ name: 'canary', roles: ['admin'], bake: 'PT1H', subFeatures: { 'llm-parsing': { percent: 100 } }, gates: { minInvocations: 100, errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } } }],
    });
    const lambda = fixedMetrics({ invocations: 0, errors: 0, p95: 100 });
    aws.cloudwatch.setMetricData((query, window) =>
      query.MetricStat?.Metric?.MetricName === 'LlmSpendUsd' ? [{ timestamp: new Date(window.startTime.getTime() + 60_000), value: 4.2 }] : lambda(query, window),
    );
    await inCanary(p, 2);
    const report = (await phaseReportOf(ports, p.feature))!;
    expect(report.recommendation.decision).toBe('HOLD');
    expect(report.recommendation.reasons[0]).toBe('error rate: hold, only 0 invocation(s) in the bake, 100 needed before deciding');
    expect(report.metrics.find((m) => m.id === 'llm-spend-llm-parsing')).toMatchObject({ figure: '$4.20', decision: 'PROCEED', llm: { capUsd: 5, hardLimitUsd: 10, capSource: 'plan' } });
    expect(renderPhaseReport(report)).toContain('- LLM spend of llm-parsing today: $4.20 (cap $5.00, hard limit $10.00); band: proceed below $5.00, roll back above $10.00: **proceed**');
  });

  it('has no report for a rollout that is not active, or never started', async () => {
    const p = plan();
    await inCanary(p, 1);
    const state = (await ports.store.getState(p.feature))!;
    for (const status of ['COMPLETED', 'ROLLED_BACK', 'ROLLBACK_FAILED', 'ROLLING_BACK'] as const) {
      expect(buildPhaseReport({ state: { ...state, status }, at: new Date() })).toBeUndefined();
    }
    expect(await phaseReportOf(ports, 'never-started')).toBeUndefined();
  });

  it('holds a phase without metric bands and says why', async () => {
    const p = plan({ phases: [{ name: 'only', roles: ['all'], bake: 'PT1H' }] });
    await inCanary(p, 1);
    const report = (await phaseReportOf(ports, p.feature))!;
    expect(report.recommendation).toEqual({ decision: 'HOLD', label: 'Hold and investigate', reasons: ["phase only has no metric bands: check its alarms and the feature's dashboard before deciding"] });
    expect(renderPhaseReport(report)).toContain('- Requests with the feature (target invocations): not measured');
  });

  it('formats time in phase', () => {
    expect([59, 600, 3 * 3600 + 60, 50 * 3600].map(formatElapsed)).toEqual(['0 min', '10 min', '3 h 1 min', '2 d 2 h']);
  });
});

describe('posting the daily reports', () => {
  const discord = () => {
    const posted: { channelId: string; message: DiscordMessage }[] = [];
    const api = { postChannelMessage: async (channelId: string, message: DiscordMessage) => (posted.push({ channelId, message }), { id: 'm1' }) } as unknown as DiscordRest;
    return { api, posted };
  };
  const log = () => {
    const lines: { message: string; extra?: Record<string, unknown> }[] = [];
    return { lines, info: (message: string, extra?: Record<string, unknown>) => void lines.push({ message, extra }), warn: (message: string, extra?: Record<string, unknown>) => void lines.push({ message, extra }) };
  };

  it("posts each active rollout's report to its plan's channel, without mentions; skips inactive ones", async () => {
    const p = plan();
    aws.cloudwatch.setMetricData(fixedMetrics({ invocations: 1000, errors: 1, p95: 240 }));
    await inCanary(p, 2);
    const { api, posted } = discord();
    const outcomes = await postDailyReports({ ...ports, discord: api, log: log() }, [p.feature, 'never-started']);
    expect(outcomes).toEqual([
      { feature: p.feature, outcome: 'posted', channelId: CHANNEL, recommendation: 'PROCEED' },
      { feature: 'never-started', outcome: 'inactive' },
    ]);
    expect(posted).toHaveLength(1);
    expect(posted[0]!.channelId).toBe(CHANNEL);
    expect(posted[0]!.message.allowed_mentions).toEqual({ parse: [] });
    expect(posted[0]!.message.content).toBeUndefined();
    expect(posted[0]!.message.embeds?.[0]).toMatchObject({ title: `🟢 Proceed: ${p.feature} on dev`, color: RECOMMENDATION_COLOURS.PROCEED });
  });

  it('attaches the picture: GetMetricWidgetImage over the rollout so far, uploaded with the embed as attachment://<name>.png', async () => {
    const p = plan();
    aws.cloudwatch.setMetricData(fixedMetrics({ invocations: 1000, errors: 1, p95: 240 }));
    await inCanary(p, 2);
    const state = (await aws.ports.store.getState(p.feature))!;
    const fake = await FakeDiscordApi.start();
    try {
      const discordApi = new DiscordApiClient({ baseUrl: fake.baseUrl, botToken: async () => fake.botToken });
      const before = aws.cloudwatch.calls.length;
      const outcomes = await postDailyReports({ ...ports, discord: discordApi, widgets: new CloudWatchWidgetImages(), log: log() }, [p.feature]);
      expect(outcomes).toEqual([{ feature: p.feature, outcome: 'posted', channelId: CHANNEL, recommendation: 'PROCEED' }]);

      // The widget request: both metrics of the target, the rollout's start marked, the phase's p95 band, the time range.
      const call = aws.cloudwatch.calls.slice(before).find((c) => c.command === 'GetMetricWidgetImage')!;
      expect(call.outcome).toBe('ok');
      const widget = JSON.parse((call.input as { MetricWidget: string }).MetricWidget) as MetricWidget;
      expect(widget.metrics.map((m) => m.slice(0, 4))).toEqual([
        ['AWS/Lambda', 'Errors', 'FunctionName', `${p.feature}-api`],
        ['AWS/Lambda', 'Duration', 'FunctionName', `${p.feature}-api`],
      ]);
      expect(widget.annotations.vertical).toEqual([{ value: state.startedAt, label: 'start (canary)', color: '#7f7f7f' }]);
      expect(widget.annotations.horizontal.map((h) => [h.value, h.yAxis])).toEqual([
        [1000, 'right'],
        [500, 'right'],
      ]);
      expect(widget.start).toBe(state.startedAt);
      expect(Date.parse(widget.end) - Date.parse(widget.start)).toBeGreaterThanOrEqual(2 * 3600_000);

      // The upload: the embed shows the PNG it carries.
      const [message] = fake.channelMessages(CHANNEL);
      const name = `${p.feature}-${widget.end.slice(0, 10)}.png`;
      expect(message!.embeds[0]!.image).toEqual({ url: `attachment://${name}` });
      expect(message!.attachments).toHaveLength(1);
      expect(message!.attachments![0]).toMatchObject({ filename: name, contentType: 'image/png' });
      expect([...message!.attachments![0]!.data.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    } finally {
      await fake.stop();
    }
  });

  it('posts the report without a picture when CloudWatch cannot draw one, and says why in the log', async () => {
    const p = plan();
    await inCanary(p, 1);
    const { api, posted } = discord();
    const l = log();
    const widgets = { render: async () => Promise.reject(new Error('AccessDenied')) };
    expect((await postDailyReports({ ...ports, discord: api, widgets, log: l }, [p.feature]))[0]!.outcome).toBe('posted');
    expect(posted[0]!.message.embeds?.[0]?.image).toBeUndefined();
    expect(l.lines).toContainEqual({ message: 'daily report picture failed', extra: { feature: p.feature, error: 'AccessDenied' } });
  });

  it('is best effort: a Discord failure is logged and the next feature still gets its report', async () => {
    const a = plan();
    const b = plan();
    aws.cloudwatch.setMetricData(fixedMetrics({ invocations: 1000, errors: 1, p95: 240 }));
    await inCanary(a, 1);
    await inCanary(b, 1);
    let calls = 0;
    const api = {
      postChannelMessage: async () => {
        if (++calls === 1) throw new Error('Discord is down');
        return { id: 'm2' };
      },
    } as unknown as DiscordRest;
    const l = log();
    const outcomes = await postDailyReports({ ...ports, discord: api, log: l } as DailyReportPorts, [a.feature, b.feature]);
    expect(outcomes.map((o) => o.outcome)).toEqual(['failed', 'posted']);
    expect(l.lines).toContainEqual({ message: 'daily report failed', extra: { feature: a.feature, error: 'Discord is down' } });
  });

  it('does not post where the plan names no channel', async () => {
    const p = plan({ discord: { roles: {} } });
    await inCanary(p, 1);
    const { api, posted } = discord();
    expect(await postDailyReports({ ...ports, discord: api, log: log() }, [p.feature])).toEqual([{ feature: p.feature, outcome: 'no-channel' }]);
    expect(posted).toEqual([]);
  });

  it('cuts a report to Discord\'s 2000 characters, saying so', () => {
    const content = reportMessage('x'.repeat(3000)).content;
    expect(content.length).toBe(2000);
    expect(content).toMatch(/run `phasegate report` for the whole report\)$/);
  });

  it('takes the scheduler input { feature }', () => {
    expect(parseDailyReportEvent({ feature: 'ux-update' })).toEqual({ features: ['ux-update'] });
    expect(() => parseDailyReportEvent({})).toThrow('expected { "feature": "<id>" }');
  });
});

describe('the plan\'s report setting', () => {
  const base = { feature: 'sched', targets: ['sched-api'], phases: [{ name: 'all', roles: ['all'], bake: 'PT1H' }] };
  it('is optional: no setting, no scheduled report', () => {
    expect(parsePlan(base).report).toBeUndefined();
    expect(parsePlan({ ...base, report: { time: '07:30', timeZone: 'America/New_York' } }).report).toEqual({ time: '07:30', timeZone: 'America/New_York' });
  });

  it.each([
    [{ time: '24:00', timeZone: 'Europe/Berlin' }, 'report.time: expected a time of day as HH:MM (00:00-23:59), got "24:00"'],
    [{ time: '9:00', timeZone: 'Europe/Berlin' }, 'report.time: expected a time of day as HH:MM (00:00-23:59), got "9:00"'],
    [{ time: '09:00', timeZone: 'Mars/Olympus' }, 'report.timeZone: expected an IANA time zone such as "Europe/Berlin" or "UTC", got "Mars/Olympus"'],
    [{ time: '09:00', timeZone: 'europe/berlin' }, 'report.timeZone: expected an IANA time zone such as "Europe/Berlin" or "UTC", got "europe/berlin"'],
    [{ time: '09:00' }, 'report.timeZone'],
  ])('rejects %j with the field path', (report, problem) => {
    const result = validatePlan({ ...base, report });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems.join('\n')).toContain(problem);
  });
});
