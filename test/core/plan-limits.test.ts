import { validatePlan } from '../../lambdas/core/plan/validate';
import { executionCost, MAX_HISTORY_EVENTS, phaseCost, STATE_EVENTS, TASK_RETRY } from '../../lambdas/core/plan/limits';
import type { Phase } from '../../lambdas/core/plan/schema';
import { rawPlan } from './example-plans';

const targets = (n: number): string[] => Array.from({ length: n }, (_, i) => `checkout-${i + 1}`);

function plan(phases: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { feature: 'long-haul', targets: ['checkout'], phases, ...extra };
}

function problemsOf(raw: unknown, stage?: string): string[] {
  const result = validatePlan(raw, { stage });
  return result.ok ? [] : result.problems;
}

describe('worst-case execution history', () => {
  it('refuses a plan that re-checks every minute for up to 3 days, with the figures and the fields that set them', () => {
    const problems = problemsOf(
      plan([{ name: 'everyone', roles: ['all'], bake: 'PT1H', gates: { errorRate: { proceedBelow: 0.01, rollbackAbove: 0.02 }, hold: { interval: 'PT1M', max: 'P3D' } } }]),
    );
    expect(problems).toHaveLength(1);
    // 4,320 hold checks: a hold wait, a gate task with its retries and a choice each.
    expect(problems[0]).toMatch(/^phases: the worst case is 1\d\d,\d{3} events of execution history, past the 25,000/);
    expect(problems[0]).toContain('phases[0] (everyone)');
    expect(problems[0]).toContain('4320 hold checks (phases[0].gates.hold.interval, phases[0].gates.hold.max or bakeMax)');
  });

  it('accepts the same plan checking hourly', () => {
    expect(
      problemsOf(plan([{ name: 'everyone', roles: ['all'], bake: 'PT1H', gates: { errorRate: { proceedBelow: 0.01, rollbackAbove: 0.02 }, hold: { interval: 'PT1H', max: 'P3D' } } }])),
    ).toEqual([]);
  });

  it('counts each state as Step Functions records it, every retry included', () => {
    const task = STATE_EVENTS.task + TASK_RETRY.retries * STATE_EVENTS.retry;
    const phase = { name: 'a', roles: ['all'], bake: 'PT1H', gates: { alarms: [], hold: { interval: 'PT1H', max: 'PT2H' } }, approval: { required: true, approvers: ['pm'] } } as unknown as Phase;
    // apply, bake (a token task), gate, decision, two holds (wait, gate, decision), approval (a token task).
    const tokenTask = STATE_EVENTS.tokenTask + TASK_RETRY.retries * STATE_EVENTS.retry;
    expect(phaseCost(phase)).toMatchObject({ holdChecks: 2, events: task + tokenTask + task + 2 + 2 * (2 + task + 2) + tokenTask });
    expect(task).toBe(23);
  });

  it('is applied after a stage override too, and names the stage', () => {
    const raw = plan([{ name: 'everyone', roles: ['all'], bake: 'PT1H', gates: { hold: { interval: 'PT1H', max: 'P3D' } } }], {
      stages: { prod: { phases: { everyone: { gates: { hold: { interval: 'PT1M', max: 'P3D' } } } } } },
    });
    expect(problemsOf(raw)).toEqual([]);
    expect(problemsOf(raw, 'prod')).toEqual([expect.stringMatching(/events of execution history.*\(after stages\.prod overrides\)$/)]);
  });

  it.each(['ux-update', 'cohort-analyzer'] as const)('rollouts/%s.json stays under the limit', (name) => {
    const result = validatePlan(rawPlan(name), { stage: 'prod' });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(executionCost(result.plan).events).toBeLessThan(MAX_HISTORY_EVENTS);
  });
});

describe('worst-case execution time', () => {
  it('refuses 3 phases of 60-day bake, 60-day hold and 60-day approval, naming each field', () => {
    const phase = (name: string): Record<string, unknown> => ({
      name,
      roles: ['all'],
      bake: 'P60D',
      approval: { required: true, approvers: ['pm'], timeout: 'P60D' },
      gates: { hold: { interval: 'P1D', max: 'P60D' } },
    });
    const problems = problemsOf(plan([phase('a'), phase('b'), phase('c')]));
    expect(problems).toEqual([
      expect.stringMatching(/^phases: the worst case runs 540\.\d days, past the one year a Step Functions execution may run; phases\[\d\] \(\w\): 180\.\d days \(phases\[\d\]\.bake 60 days, phases\[\d\]\.gates\.hold 60 days, phases\[\d\]\.approval\.timeout 60 days\)/),
    ]);
  });

  it('counts an approval in a phase that does not require one: a hold that lasts too long asks a person', () => {
    const phase = (name: string): Record<string, unknown> => ({
      name,
      roles: ['all'],
      bake: 'P100D',
      approval: { required: false, timeout: 'P40D' },
      gates: { hold: { interval: 'P1D', max: 'P50D' } },
    });
    // Bakes and holds alone are 300 days; the approvals a long hold asks for add 80.
    expect(problemsOf(plan([phase('a'), phase('b')]))).toEqual([expect.stringMatching(/worst case runs 380\.\d days/)]);
  });
});

describe('alarms over many targets', () => {
  it('accepts 100 targets with error-rate and latency gates', () => {
    expect(problemsOf(plan([{ name: 'all', roles: ['all'], bake: 'PT1H', gates: { errorRate: { proceedBelow: 0.01, rollbackAbove: 0.02 }, p95Ms: { proceedBelow: 200, rollbackAbove: 400 } } }], { targets: targets(100) }))).toEqual([]);
  });

  it('refuses an error-rate gate over more targets than one composite of 5-target alarms covers', () => {
    expect(problemsOf(plan([{ name: 'all', roles: ['all'], bake: 'PT1H', gates: { errorRate: { proceedBelow: 0.01, rollbackAbove: 0.02 } } }], { targets: targets(501) }))).toEqual([
      'targets: 501 targets, but phases[0].gates.errorRate alarms on at most 500 (100 alarms of 5 targets in one composite alarm)',
    ]);
  });
});
