import type { MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { holdPolicy } from '../../lambdas/core/rollout/hold';
import { parsePlan, validatePlan } from '../../lambdas/core/plan/validate';
import type { PlanInput } from '../../lambdas/core/plan/schema';
import { approverRoles, compressedApprovalTimeouts, compressPlanForRehearsal, parseBreach, RehearsalMetrics } from '../../local/rehearsal-world';

const raw: PlanInput = {
  feature: 'world',
  targets: ['world-api'],
  roles: ['product-owner'],
  gates: { metrics: [{ name: 'cache-hit', namespace: 'App', metric: 'CacheHit', proceedAbove: 0.4, warnBelow: 0.3 }] },
  phases: [
    {
      name: 'canary',
      roles: ['all'],
      percent: 5,
      bake: 'PT72H',
      approval: { approvers: ['product-owner'] },
      gates: {
        errorRate: { proceedBelow: 0.02, rollbackAbove: 0.05 },
        hold: { max: 'PT48H' },
        metrics: [
          { name: 'success', namespace: 'App', metric: 'Success', dimensions: { Skill: 'ro' }, proceedAbove: 0.95, rollbackBelow: 0.9, minSamples: 20 },
          { name: 'p1', namespace: 'App', metric: 'P1', statistic: 'Sum', missingData: 'zero', proceedBelow: 0, rollbackAbove: 0 },
        ],
      },
    },
    { name: 'full', roles: ['all'], bake: 'P5D', bakeMax: 'P7D', approval: { approvers: ['pm'], timeout: 'P14D' } },
  ],
};
const plan = parsePlan(raw);
const window = { startTime: new Date('2026-01-01T00:00:00Z'), endTime: new Date('2026-01-01T00:05:00Z') };
const query = (namespace: string, metric: string, stat: string, dims: Record<string, string> = {}): MetricDataQuery => ({
  Id: 'q',
  MetricStat: { Metric: { Namespace: namespace, MetricName: metric, Dimensions: Object.entries(dims).map(([Name, Value]) => ({ Name, Value })) }, Period: 300, Stat: stat },
});

describe('the rehearsal feeds every gate', () => {
  it('serves a custom metric healthy data inside its proceed band, with enough samples, and nothing for a count that is healthy at zero', () => {
    const m = new RehearsalMetrics(plan);
    expect(m.source(query('App', 'Success', 'Average', { Skill: 'ro' }), window)).toEqual([{ timestamp: window.startTime, value: 0.975 }]);
    expect(m.source(query('App', 'Success', 'SampleCount', { Skill: 'ro' }), window)[0]!.value).toBeGreaterThanOrEqual(20);
    expect(m.source(query('App', 'CacheHit', 'Average'), window)[0]!.value).toBe(0.7);
    expect(m.source(query('App', 'P1', 'Sum'), window)).toEqual([]);
    // Another dimension or metric is not a gate's: no data, as CloudWatch would answer.
    expect(m.source(query('App', 'Success', 'Average', { Skill: 'en' }), window)).toEqual([]);
  });

  it('pushes the breached metric past its rollback band only while its phase runs', () => {
    const m = new RehearsalMetrics(plan, parseBreach('success@canary'));
    const q = query('App', 'Success', 'Average', { Skill: 'ro' });
    expect(m.source(q, window)[0]!.value).toBe(0.975);
    m.enterState('canary: apply flags');
    expect(m.source(q, window)[0]!.value).toBe(0.45);
    m.enterState('full: apply flags');
    expect(m.source(q, window)[0]!.value).toBe(0.975);
  });

  it('breaches the targets\' error rate through their Lambda metrics', () => {
    const m = new RehearsalMetrics(plan, parseBreach('error-rate@canary'));
    m.enterState('canary: apply flags');
    const errors = m.source(query('AWS/Lambda', 'Errors', 'Sum', { FunctionName: 'world-api' }), window)[0]!.value;
    const invocations = m.source(query('AWS/Lambda', 'Invocations', 'Sum', { FunctionName: 'world-api' }), window)[0]!.value;
    expect(errors / invocations).toBeCloseTo(0.1);
  });

  it('reads the LLM spend the budget guard recorded', () => {
    const m = new RehearsalMetrics(plan);
    const q = query('Phasegate', 'LlmSpendUsd', 'Sum');
    expect(m.source(q, window)).toEqual([]);
    m.recordLlmSpend(4.93);
    expect(m.source(q, window)).toEqual([{ timestamp: window.startTime, value: 4.93 }]);
  });

  it('refuses a breach on a metric without a rollback band, or a phase the plan does not have', () => {
    expect(() => new RehearsalMetrics(plan, parseBreach('cache-hit@canary'))).toThrow('phase canary of world has no rollback band on "cache-hit" (rollback bands: error-rate, success, p1)');
    expect(() => new RehearsalMetrics(plan, parseBreach('success@beta'))).toThrow('plan world has no phase "beta"');
    expect(() => parseBreach('success')).toThrow('expected <metric>@<phase>');
  });
});

describe('every duration compressed alike', () => {
  it('compresses hold limits and bake ranges the way the bakes are, and the result is still a valid plan', () => {
    const compressed = compressPlanForRehearsal(raw as unknown as Record<string, unknown>, plan, 150);
    const result = validatePlan(compressed);
    expect(result.ok).toBe(true);
    const p = result.ok ? result.plan : plan;
    // 48 h of a 72 h bake that lasts 150 ms: 100 ms, rounded to whole seconds.
    expect(holdPolicy(p.phases[0]!).maxSeconds).toBe(0);
    expect(p.phases[1]!.bakeMax).toBe('P5D');
    expect(holdPolicy(p.phases[1]!).maxSeconds).toBe(0);
  });

  it('compresses approval timeouts like the bakes, never under the floor a click needs', () => {
    expect(compressedApprovalTimeouts(plan, 1000, 10, 7 * 86400)).toEqual({ 'canary: approval': Math.round((7 * 86400 * 1000) / (72 * 3600)), 'full: approval': 2800 });
    expect(compressedApprovalTimeouts(plan, 10, 5_000, 7 * 86400)).toEqual({ 'canary: approval': 5_000, 'full: approval': 5_000 });
  });
});

describe('the approver', () => {
  it('holds every role a phase needs, team roles included', () => {
    expect(approverRoles(plan)).toEqual(['pm', 'product-owner']);
  });
});
