import { validatePlan } from '../../lambdas/core/plan/validate';
import { rawPlan } from './example-plans';

/** The cohort-analyzer example with its first phase's percent (and a stage override of it) set to `percent`. */
function withPercent(percent: number): unknown {
  const raw = rawPlan('cohort-analyzer') as { phases: { percent?: number }[] };
  raw.phases[0]!.percent = percent;
  return raw;
}

const problemsOf = (raw: unknown): string[] => {
  const result = validatePlan(raw);
  return result.ok ? [] : result.problems;
};

describe('percent resolution (0.001 %)', () => {
  it.each([0, 0.001, 0.005, 1, 1.001, 12.345, 33.3, 99.999, 100])('accepts %d', (percent) => {
    expect(problemsOf(withPercent(percent))).toEqual([]);
  });

  it.each([1e-7, 0.0005, 0.0001, 12.3456, 99.9999])('refuses %d: every reader would round it', (percent) => {
    expect(problemsOf(withPercent(percent))).toEqual([`phases[0].percent: expected a percentage in steps of 0.001, got ${percent}`]);
  });

  it('refuses a finer sub-feature percentage and stage override too', () => {
    const raw = rawPlan('ux-update') as { phases: { subFeatures: Record<string, { percent?: number }> }[]; stages: { dev: { phases: Record<string, { percent?: number }> } } };
    raw.phases[3]!.subFeatures['llm-parsing']!.percent = 0.0001;
    raw.stages.dev.phases.admin!.percent = 2.5e-5;
    const problems = problemsOf(raw);
    expect(problems).toContainEqual(expect.stringMatching(/^phases\[3\]\.subFeatures\.llm-parsing\.percent: expected a percentage in steps of 0\.001/));
    expect(problems).toContainEqual(expect.stringMatching(/^stages\.dev\.phases\.admin\.percent: expected a percentage in steps of 0\.001/));
  });
});
