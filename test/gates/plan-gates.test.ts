import { validatePlan } from '../../lambdas/core/plan/validate';
import { rawPlan } from '../core/example-plans';

/** A copy of the cohort-analyzer plan with `mutate` applied; the problems of validating it (for `stage`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function problems(mutate: (p: any) => void, stage?: string): string[] {
  const raw = rawPlan('cohort-analyzer');
  mutate(raw);
  const result = validatePlan(raw, { stage });
  return result.ok ? [] : result.problems;
}

describe('gate bands in a plan: impossible settings are refused with the field path and the metric', () => {
  it.each([
    [
      'a rollback band inside the proceed band (lower is better)',
      (p: any) => (p.phases[0].gates.errorRate = { proceedBelow: 0.02, rollbackAbove: 0.01 }),
      'phases[0].gates.errorRate: proceedBelow must not be above rollbackAbove: proceeding below 0.02 while rolling back above 0.01 puts the rollback band inside the proceed band',
    ],
    [
      'a rollback band inside the proceed band (higher is better), naming the custom metric',
      (p: any) => (p.phases[1].gates.metrics = [{ name: 'cache-hit-rate', namespace: 'Cohorts', metric: 'CacheHitRate', proceedAbove: 0.7, rollbackBelow: 0.85 }]),
      'phases[1].gates.metrics[0]: proceedAbove must not be below rollbackBelow: proceeding above 0.7 while rolling back below 0.85 puts the rollback band inside the proceed band (values between them mean hold) (metric cache-hit-rate)',
    ],
    ['both directions at once', (p: any) => (p.phases[0].gates.throttles = { proceedBelow: 1, rollbackBelow: 0 }), 'phases[0].gates.throttles: mixes lower-is-better'],
    ['half a band', (p: any) => (p.phases[0].gates.throttles = { rollbackAbove: 5 }), 'phases[0].gates.throttles.proceedBelow: required with rollbackAbove'],
    ['an empty band', (p: any) => (p.phases[0].gates.throttles = {}), 'phases[0].gates.throttles: expected { proceedBelow, rollbackAbove }'],
    ['sustained for longer than an alarm can look', (p: any) => (p.phases[2].gates.errorRate.sustainedFor = 'P2D'), 'phases[2].gates.errorRate.sustainedFor: expected between 1 minute and 1 day'],
    ['sustained for in words', (p: any) => (p.phases[2].gates.errorRate.sustainedFor = 'an hour'), 'phases[2].gates.errorRate.sustainedFor: expected ISO 8601 duration'],
    ['a baseline band that proceeds beyond where it rolls back', (p: any) => (p.phases[2].gates.p95Ms.baseline = { proceedWithin: 2, rollbackBeyond: 1.5 }), 'phases[2].gates.p95Ms.baseline.proceedWithin: must not be above rollbackBeyond'],
    ['an unknown statistic', (p: any) => (p.phases[0].gates.durationMs.statistic = 'p95th'), 'phases[0].gates.durationMs.statistic: expected a CloudWatch statistic'],
    ['a negative minimum sample', (p: any) => (p.phases[0].gates.minInvocations = -1), 'phases[0].gates.minInvocations: expected at least 0, got -1'],
    ['a spend band for a sub-feature that is not an LLM one', (p: any) => (p.phases[0].gates.llmSpendUsd = { ghost: { proceedBelow: 1, rollbackAbove: 2 } }), 'phases[0].gates.llmSpendUsd.ghost: no LLM sub-feature "ghost"'],
    [
      'two custom metrics with one name',
      (p: any) => (p.phases[0].gates.metrics = [{ name: 'hits', namespace: 'A', metric: 'B', proceedAbove: 1, rollbackBelow: 0 }, { name: 'hits', namespace: 'A', metric: 'C', proceedAbove: 1, rollbackBelow: 0 }]),
      'phases[0].gates.metrics[1].name: "hits" is used by an earlier metric of this phase',
    ],
    ['a custom metric named like a built-in gate', (p: any) => (p.phases[0].gates.metrics = [{ name: 'error-rate', namespace: 'A', metric: 'B', proceedAbove: 1, rollbackBelow: 0 }]), 'phases[0].gates.metrics[0].name: "error-rate" is the name of a built-in gate'],
    ['a stage override that breaks a band', (p: any) => (p.stages.prod.phases = { canary: { gates: { errorRate: { proceedBelow: 0.5, rollbackAbove: 0.1 } } } }), 'stages.prod.phases.canary.gates.errorRate: proceedBelow must not be above rollbackAbove'],
  ])('%s', (_what, mutate, expected) => {
    const found = problems(mutate);
    expect(found).toEqual([expect.stringContaining(expected)]);
    expect(found[0]!.startsWith(expected.split(':')[0]!)).toBe(true);
  });

  it('accepts both directions, any statistic, sustained-for, a minimum sample, custom metrics and a baseline', () => {
    expect(
      problems((p) => {
        p.phases[1].gates.metrics = [
          { name: 'cache-hit-rate', namespace: 'Cohorts', metric: 'CacheHitRate', dimensions: { Service: 'analyzer' }, statistic: 'Average', proceedAbove: 0.85, rollbackBelow: 0.7, sustainedFor: 'PT15M' },
          { name: 'successful-flows', namespace: 'Valine', metric: 'FlowSucceeded', statistic: 'Sum', minSamples: 20, proceedAbove: 20, rollbackBelow: 0 },
        ];
        p.phases[1].gates.durationMs = { statistic: 'p99.9', proceedBelow: 150, rollbackAbove: 300 };
      }),
    ).toEqual([]);
  });

  it('tightens per phase and per stage: a stage overrides one phase\'s band and keeps the rest', () => {
    const raw = rawPlan('cohort-analyzer');
    raw.stages.prod.phases = { canary: { gates: { errorRate: { proceedBelow: 0.002, rollbackAbove: 0.004 } } } };
    const result = validatePlan(raw, { stage: 'prod' });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.plan.phases.map((p) => p.gates.errorRate?.rollbackAbove)).toEqual([0.004, 0.005, 0.001]);
    expect(result.plan.phases[0]!.gates.durationMs).toEqual({ statistic: 'p99', proceedBelow: 150, rollbackAbove: 200 });
    expect(result.plan.phases[0]!.gates.minInvocations).toBe(500);
  });
});
