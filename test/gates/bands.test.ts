import { featureAlarmSpecs, compositeMembers, phaseGateMetrics, resolveBand, type GateMetric } from '../../lambdas/core/gates/gate-metrics';
import { evaluateBands, evaluateMetric, formatFigure, sustainedBreach, worstDecision, type MetricObservation } from '../../lambdas/core/gates/gates';
import { parsePlan } from '../../lambdas/core/plan/validate';
import type { Band } from '../../lambdas/core/plan/schema';

const END = '2026-11-02T12:00:00.000Z';

const metric = (band: Band, extra: Partial<GateMetric> = {}): GateMetric => ({
  id: 'error-rate',
  kind: 'error-rate',
  label: 'error rate',
  unit: 'fraction',
  statistic: 'Sum',
  band: resolveBand(band),
  ...extra,
});

/** A series of one-minute points ending at END, oldest first. */
const minutes = (values: readonly number[]): { at: string; value: number }[] =>
  values.map((value, i) => ({ at: new Date(Date.parse(END) - (values.length - i) * 60_000).toISOString(), value }));

describe('evaluateMetric: three bands', () => {
  // [what, band, observation, context, decision, reason must contain]
  const rows: [string, Band, MetricObservation | undefined, { invocations?: number; minInvocations?: number; baseline?: number }, string, string][] = [
    ['lower is better, below proceed', { proceedBelow: 0.005, rollbackAbove: 0.01 }, { value: 0.002, detail: '2 error(s) / 1000 invocation(s)' }, {}, 'PROCEED', 'error rate 0.2 % (2 error(s) / 1000 invocation(s)): proceed, below 0.5 %'],
    ['lower is better, in the hold band', { proceedBelow: 0.005, rollbackAbove: 0.01 }, { value: 0.007 }, {}, 'HOLD', 'hold, between 0.5 % and 1 %'],
    ['lower is better, at the proceed threshold holds', { proceedBelow: 0.005, rollbackAbove: 0.01 }, { value: 0.005 }, {}, 'HOLD', 'hold'],
    ['lower is better, at the rollback threshold holds', { proceedBelow: 0.005, rollbackAbove: 0.01 }, { value: 0.01 }, {}, 'HOLD', 'hold'],
    ['lower is better, above rollback', { proceedBelow: 0.005, rollbackAbove: 0.01 }, { value: 0.013 }, {}, 'ROLLBACK', 'error rate 1.3 %: roll back, above 1 %'],
    ['a zero-width band: proceed below, roll back above the same value', { proceedBelow: 0.001, rollbackAbove: 0.001 }, { value: 0.0009 }, {}, 'PROCEED', 'proceed'],
    ['missing data holds, never rolls back', { proceedBelow: 0.005, rollbackAbove: 0.01 }, undefined, {}, 'HOLD', 'no data in the bake window'],
    ['a NaN value is missing data', { proceedBelow: 0.005, rollbackAbove: 0.01 }, { value: Number.NaN }, {}, 'HOLD', 'no data'],
    ['too few invocations hold even far above rollback', { proceedBelow: 0.005, rollbackAbove: 0.01 }, { value: 0.5 }, { invocations: 4, minInvocations: 20 }, 'HOLD', 'only 4 invocation(s) in the bake, 20 needed'],
    ['enough invocations decide', { proceedBelow: 0.005, rollbackAbove: 0.01 }, { value: 0.5 }, { invocations: 20, minInvocations: 20 }, 'ROLLBACK', 'roll back'],
    ['baseline: within 1.2x proceeds', { proceedBelow: 5000, rollbackAbove: 10000, baseline: { proceedWithin: 1.2, rollbackBeyond: 1.5 } }, { value: 1100 }, { baseline: 1000 }, 'PROCEED', '1.1x the baseline'],
    ['baseline: 1.3x holds though the band proceeds', { proceedBelow: 5000, rollbackAbove: 10000, baseline: { proceedWithin: 1.2, rollbackBeyond: 1.5 } }, { value: 1300 }, { baseline: 1000 }, 'HOLD', 'hold, 1.3x the baseline'],
    ['baseline: 1.6x rolls back though the band proceeds', { proceedBelow: 5000, rollbackAbove: 10000, baseline: { proceedWithin: 1.2, rollbackBeyond: 1.5 } }, { value: 1600 }, { baseline: 1000 }, 'ROLLBACK', 'roll back, 1.6x the baseline'],
    ['baseline missing: the band alone decides and says so', { proceedBelow: 5000, rollbackAbove: 10000, baseline: { rollbackBeyond: 1.5 } }, { value: 1600 }, {}, 'PROCEED', 'no baseline to compare with'],
  ];
  it.each(rows)('%s', (_what, band, observation, context, decision, reason) => {
    const unit = band.proceedBelow !== undefined && band.proceedBelow >= 1 ? 'ms' : 'fraction';
    const m = metric(band, unit === 'ms' ? { id: 'p95-ms', kind: 'p95-ms', label: 'p95 duration', unit: 'ms', statistic: 'p95' } : {});
    const verdict = evaluateMetric(m, observation, { ...context, windowEnd: END });
    expect(verdict.decision).toBe(decision);
    expect(verdict.reason).toContain(reason);
  });

  const higher: [string, number | undefined, string, string][] = [
    ['above proceed', 0.92, 'PROCEED', 'cache-hit-rate 0.92: proceed, above 0.85'],
    ['between', 0.8, 'HOLD', 'hold, between 0.85 and 0.7'],
    ['below rollback', 0.6, 'ROLLBACK', 'roll back, below 0.7'],
    ['no data', undefined, 'HOLD', 'no data'],
  ];
  it.each(higher)('higher is better (cache hit rate): %s', (_what, value, decision, reason) => {
    const m = metric({ proceedAbove: 0.85, rollbackBelow: 0.7 }, { id: 'cache-hit-rate', kind: 'custom', label: 'cache-hit-rate', unit: 'value', statistic: 'Average' });
    const verdict = evaluateMetric(m, value === undefined ? undefined : { value }, { windowEnd: END });
    expect([verdict.decision, verdict.reason]).toEqual([decision, expect.stringContaining(reason)]);
  });

  it.each([
    ['throttles', 'count', { proceedBelow: 0.25, rollbackAbove: 0.5 }, 1, 'throttles 1: roll back, above 0.5'],
    ['p95 duration', 'ms', { proceedBelow: 150.5, rollbackAbove: 200.25 }, 180, 'hold, between 150.5 ms and 200.25 ms'],
    ['LLM spend', 'usd', { proceedBelow: 0.005, rollbackAbove: 0.0125 }, 0.02, 'roll back, above $0.0125'],
    ['error rate', 'fraction', { proceedBelow: 0.00001, rollbackAbove: 0.000015 }, 0.00002, 'roll back, above 0.0015 %'],
  ] as const)('states the thresholds of %s exactly as the plan has them', (label, unit, band, value, reason) => {
    const m = metric(band, { id: label, kind: 'custom', label, unit });
    expect(evaluateMetric(m, { value }, { windowEnd: END }).reason).toContain(reason);
  });

  it('higher is better with a baseline: a success rate falling to half the baseline rolls back', () => {
    const m = metric({ proceedAbove: 0.5, rollbackBelow: 0.1, baseline: { rollbackBeyond: 1.5 } }, { id: 'success', kind: 'custom', label: 'success', unit: 'value' });
    expect(evaluateMetric(m, { value: 0.45 }, { baseline: 0.9, windowEnd: END }).decision).toBe('ROLLBACK');
  });

  it('a custom metric holds until it has its minimum sample (e.g. 20 successful flows)', () => {
    const m = metric({ proceedAbove: 0.95, rollbackBelow: 0.9 }, { id: 'flows', kind: 'custom', label: 'flows', unit: 'value', minSamples: 20 });
    expect(evaluateMetric(m, { value: 0.5, samples: 19 }, { windowEnd: END })).toMatchObject({ decision: 'HOLD', reason: expect.stringContaining('only 19 sample(s) in the bake, 20 needed') });
    expect(evaluateMetric(m, { value: 0.99, samples: 20 }, { windowEnd: END }).decision).toBe('PROCEED');
  });
});

describe('sustained-for: "above 0.1 % for more than 1 hour"', () => {
  const band = resolveBand({ proceedBelow: 0.001, rollbackAbove: 0.001, sustainedFor: 'PT1H' });
  const m = metric({ proceedBelow: 0.001, rollbackAbove: 0.001, sustainedFor: 'PT1H' });
  const rows: [string, number[], string][] = [
    ['60 minutes above', Array(60).fill(0.002), 'ROLLBACK'],
    ['59 minutes above holds', [0.0005, ...Array(59).fill(0.002)], 'HOLD'],
    ['a dip in the last hour resets it', [...Array(30).fill(0.002), 0.0005, ...Array(29).fill(0.002)], 'HOLD'],
    ['above for 2 hours', Array(120).fill(0.002), 'ROLLBACK'],
  ];
  it.each(rows)('%s', (_what, values, decision) => {
    const verdict = evaluateMetric(m, { value: 0.002, series: minutes(values), periodSeconds: 60 }, { windowEnd: END });
    expect(verdict.decision).toBe(decision);
  });

  it('a gap in the series is not a breach', () => {
    const series = minutes(Array(60).fill(0.002)).filter((_, i) => i !== 10);
    expect(sustainedBreach(band, { series, periodSeconds: 60 }, END)).toEqual({ sustained: false, breachedSeconds: 49 * 60 });
  });

  it('an old breach that stopped is not current', () => {
    const series = minutes([...Array(60).fill(0.002), ...Array(5).fill(0)]);
    expect(sustainedBreach(band, { series, periodSeconds: 60 }, END).sustained).toBe(false);
  });

  it('says how long it has breached in the reason', () => {
    const verdict = evaluateMetric(m, { value: 0.002, series: minutes(Array(20).fill(0.002)), periodSeconds: 60 }, { windowEnd: END });
    expect(verdict.reason).toBe('error rate 0.2 %: hold, above 0.1 % but only for 20 min of the 60 min that roll back');
  });
});

describe('evaluateBands: the worst metric decides, every metric gives its reason', () => {
  const metrics = [metric({ proceedBelow: 0.005, rollbackAbove: 0.01 }), metric({ proceedBelow: 5000, rollbackAbove: 10000 }, { id: 'p95-ms', kind: 'p95-ms', label: 'p95 duration', unit: 'ms', statistic: 'p95' })];
  it.each([
    [{ 'error-rate': { value: 0.001 }, 'p95-ms': { value: 800 } }, 'PROCEED'],
    [{ 'error-rate': { value: 0.001 }, 'p95-ms': { value: 6000 } }, 'HOLD'],
    [{ 'error-rate': { value: 0.02 }, 'p95-ms': { value: 6000 } }, 'ROLLBACK'],
    [{ 'error-rate': { value: 0.02 } }, 'ROLLBACK'],
    [{ 'p95-ms': { value: 800 } }, 'HOLD'],
  ] as const)('%j -> %s', (observations, decision) => {
    const result = evaluateBands({ metrics, observations, windowEnd: END });
    expect(result.decision).toBe(decision);
    expect(result.reasons).toHaveLength(2);
  });

  it('worstDecision orders ROLLBACK over HOLD over PROCEED', () => {
    expect(worstDecision([])).toBe('PROCEED');
    expect(worstDecision(['PROCEED', 'HOLD'])).toBe('HOLD');
    expect(worstDecision(['HOLD', 'ROLLBACK', 'PROCEED'])).toBe('ROLLBACK');
  });

  it.each([
    [0.0042, 'fraction', '0.42 %'],
    [812.4, 'ms', '812 ms'],
    [4.2, 'usd', '$4.20'],
    [3, 'count', '3'],
  ] as const)('formats %p as %s', (value, unit, text) => expect(formatFigure(value, unit)).toBe(text));
});

describe('gate metrics and rollback alarms from a plan', () => {
  const plan = parsePlan({
    feature: 'cohort-analyzer',
    targets: ['cohort-api', 'cohort-worker'],
    subFeatures: [{ id: 'llm-summary', llm: { dailyCapUsd: 5, hardLimitUsd: 10 } }],
    phases: [
      { name: 'canary', roles: ['all'], percent: 1, bake: 'PT2H', approval: { required: true }, gates: { errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 }, p95Ms: { proceedBelow: 150, rollbackAbove: 200 } } },
      { name: 'ramp', roles: ['all'], percent: 10, bake: 'PT4H', subFeatures: { 'llm-summary': {} }, gates: { errorRate: { proceedBelow: 0.003, rollbackAbove: 0.005 }, p95Ms: { proceedBelow: 150, rollbackAbove: 200 } } },
      {
        name: 'full',
        roles: ['all'],
        bake: 'P7D',
        subFeatures: { 'llm-summary': {} },
        gates: {
          errorRate: { proceedBelow: 0.001, rollbackAbove: 0.001, sustainedFor: 'PT1H' },
          metrics: [{ name: 'cache-hit-rate', namespace: 'Cohorts', metric: 'CacheHitRate', statistic: 'Average', proceedAbove: 0.85, rollbackBelow: 0.7 }],
        },
      },
    ],
  });

  it('gates an LLM sub-feature named like an Object property only in the phases that turn it on', () => {
    const named = parsePlan({
      feature: 'proto-names',
      targets: ['fn'],
      subFeatures: [{ id: 'constructor', llm: { dailyCapUsd: 5, hardLimitUsd: 10 } }],
      phases: [
        { name: 'canary', roles: ['all'], bake: 'PT2H' },
        { name: 'full', roles: ['all'], bake: 'PT2H', subFeatures: { constructor: {} } },
      ],
    });
    expect(phaseGateMetrics(named, 0).map((m) => m.id)).not.toContain('llm-spend-constructor');
    expect(phaseGateMetrics(named, 1).map((m) => m.id)).toContain('llm-spend-constructor');
  });

  it('resolves each phase\'s metrics, with an LLM sub-feature gated on its spend between cap and hard limit where it is on', () => {
    expect(phaseGateMetrics(plan, 0).map((m) => m.id)).toEqual(['error-rate', 'p95-ms']);
    expect(phaseGateMetrics(plan, 1).map((m) => m.id)).toEqual(['error-rate', 'p95-ms', 'llm-spend-llm-summary']);
    expect(phaseGateMetrics(plan, 1)[2]!.band).toMatchObject({ proceed: 5, rollback: 10 });
    expect(phaseGateMetrics(plan, 2).map((m) => [m.id, m.band.direction])).toEqual([
      ['error-rate', 'lower-is-better'],
      ['cache-hit-rate', 'higher-is-better'],
      ['llm-spend-llm-summary', 'lower-is-better'],
    ]);
  });

  it('gives each distinct rollback rule one alarm, shared by the phases that use it, plus a daily cost alarm per LLM sub-feature', () => {
    const specs = featureAlarmSpecs(plan, 'prod');
    expect(specs.map((s) => [s.name, s.threshold, s.phases, s.sustainedSeconds ?? null, s.subFeature ?? null])).toEqual([
      ['phasegate-prod_cohort-analyzer-error-rate-canary', 0.01, ['canary'], null, null],
      ['phasegate-prod_cohort-analyzer-p95-ms', 200, ['canary', 'ramp'], null, null],
      ['phasegate-prod_cohort-analyzer-error-rate-ramp', 0.005, ['ramp'], null, null],
      ['phasegate-prod_cohort-analyzer-error-rate-full', 0.001, ['full'], 3600, null],
      ['phasegate-prod_cohort-analyzer-cache-hit-rate', 0.7, ['full'], null, null],
      ['phasegate-prod_cohort-analyzer-llm-spend-llm-summary', 10, ['canary', 'ramp', 'full'], null, 'llm-summary'],
    ]);
  });

  it('composes the composite alarm from the loosest rule per metric and the cost alarms', () => {
    expect(compositeMembers(featureAlarmSpecs(plan, 'prod')).map((s) => s.name)).toEqual([
      'phasegate-prod_cohort-analyzer-error-rate-canary',
      'phasegate-prod_cohort-analyzer-p95-ms',
      'phasegate-prod_cohort-analyzer-cache-hit-rate',
      'phasegate-prod_cohort-analyzer-llm-spend-llm-summary',
    ]);
  });
});
