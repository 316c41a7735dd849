import { join } from 'node:path';
import { offFlagValues, phaseFlagValues } from '../../lambdas/core/flags/flags';
import { featureAlarmSpecs } from '../../lambdas/core/gates/gate-metrics';
import { loadPlanFile } from '../../lambdas/core/plan/load';
import { closeRehearsalResources, rehearse, RehearsalInputError } from '../../local/rehearsal';

/**
 * One plan per seed runbook (rollouts/examples/), each rehearsed end to end on the synthesized state machine: the happy
 * path to completion, and the runbook's own rollback trigger (`breach`) to the safe state. Outcomes only: nothing here
 * depends on how fast the machine is.
 */
const EXAMPLES = join(__dirname, '..', '..', 'rollouts', 'examples');

jest.setTimeout(180_000);
afterAll(() => closeRehearsalResources());

const CASES = [
  { file: '000-skills-launch.json', trigger: 'error-rate@canary' },
  { file: '001-skills-deployment.json', trigger: 'circuit-breaker@canary' },
  { file: '002-analyzer-canary.json', trigger: 'duration-ms@canary' },
  { file: '003-analytics-canary.json', trigger: 'p1-errors@alpha' },
  { file: '004-ux-agent.json', trigger: 'error-rate@admin' },
] as const;

describe.each(CASES)('runbook example $file', ({ file, trigger }) => {
  const planFile = join(EXAMPLES, file);
  const plan = loadPlanFile(planFile, 'dev');

  it('rolls out to completion with every gate fed and every approval given', async () => {
    const result = await rehearse({ planFile, bakeMs: 10 });
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'COMPLETED', asExpected: true, execution: { status: 'SUCCEEDED' } });
    // Every gate that decided a phase proceeded on data, never on "no data".
    for (const phase of result.phases.filter((p) => p.outcome === 'passed')) {
      expect(phase.gate?.decision).toBe('PROCEED');
      for (const reason of phase.gate?.reasons ?? []) expect(reason).not.toMatch(/no data in the bake window|no metrics reader/);
    }
    const last = plan.phases.length - 1;
    for (const target of plan.targets) expect(result.targets[target]).toEqual(phaseFlagValues(plan, last));
  });

  it(`rolls back on the runbook's trigger (${trigger}) to the safe state`, async () => {
    const [metric, phase] = trigger.split('@') as [string, string];
    // The metric's own rollback alarm in that phase (not its baseline alarm).
    const alarm = featureAlarmSpecs(plan, 'dev').find((s) => s.metricId === metric && !s.baseline && s.phases.includes(phase))!.name;
    const result = await rehearse({ planFile, bakeMs: 10, breach: trigger });
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'ROLLED_BACK', expected: 'ROLLED_BACK', asExpected: true, alarm: { name: alarm, phase, outcome: 'rolled-back' } });
    expect(result.phases.find((p) => p.name === phase)?.outcome).toBe('rolled-back');
    const safe = plan.rollback.to === 'off' || plan.phases.findIndex((p) => p.name === phase) === 0 ? offFlagValues(plan) : undefined;
    if (safe) for (const target of plan.targets) expect(result.targets[target]).toEqual(safe);
  });
});

describe('the runbooks\' own language at work in the rehearsal', () => {
  it('000: the Product Owner (a team role) approves every phase; secondary metrics are watched, never holding', async () => {
    const result = await rehearse({ planFile: join(EXAMPLES, '000-skills-launch.json'), bakeMs: 10 });
    expect(result.asExpected).toBe(true);
    const canary = result.phases.find((p) => p.name === 'canary')!;
    expect(canary.gate!.reasons).toEqual(expect.arrayContaining([expect.stringMatching(/^cache-hit-rate 0\.7: proceed, above 0\.4$/), expect.stringMatching(/^cost-per-request 0\.01: proceed, below 0\.02; 0\.33x the baseline 0\.03$/)]));
    // Both scheduled phases waited for their time of day (compressed) before their flags went on.
    const states = result.timeline.map((e) => e.action);
    expect(states.filter((a) => a === 'flags-applied')).toHaveLength(3);
  });

  it('004: the dark phase writes the off values; the optional LLM canary is skipped and recorded as skipped', async () => {
    const planFile = join(EXAMPLES, '004-ux-agent.json');
    const plan = loadPlanFile(planFile, 'dev');
    const result = await rehearse({ planFile, bakeMs: 10 });
    expect(result.asExpected).toBe(true);
    expect(result.phases.map((p) => [p.name, p.outcome])).toEqual([
      ['infra', 'passed'],
      ['admin', 'passed'],
      ['pm', 'passed'],
      ['developer', 'passed'],
      ['llm-canary', 'skipped'],
      ['ga', 'passed'],
    ]);
    const infra = result.timeline.find((e) => e.phase === 'infra' && e.action === 'flags-applied')!;
    expect(infra.text).toContain(`DISABLE_UX_UPDATES=${offFlagValues(plan).DISABLE_UX_UPDATES}`);
    expect(result.timeline.find((e) => e.action === 'phase-skipped')?.text).toBe('phase llm-canary skipped: it is optional and nobody opted in');
    expect(result.targets['valine-orchestrator-discord']!.USE_LLM_PARSING).toBe('false');
  });

  it('004: the PM opts in to the LLM canary; its spend gate reads what the budget guard recorded', async () => {
    const result = await rehearse({ planFile: join(EXAMPLES, '004-ux-agent.json'), bakeMs: 10, optIn: ['llm-canary'], llmSpendUsdPerHour: 2 });
    expect(result.problems).toEqual([]);
    expect(result.timeline.map((e) => e.action)).toContain('opted-in');
    const canary = result.phases.find((p) => p.name === 'llm-canary')!;
    expect(canary.outcome).toBe('passed');
    const spent = result.llmSpend!.report.days.at(-1)!;
    expect(spent.spentUsd).toBeGreaterThan(4);
    expect(canary.gate!.reasons).toContainEqual(`LLM spend of llm-parsing today $${spent.spentUsd.toFixed(2)}: proceed, below $5.00`);
  });

  it('003: starts at phase gamma (a long rollout carried into a fresh execution), recording alpha and beta as skipped', async () => {
    const result = await rehearse({ planFile: join(EXAMPLES, '003-analytics-canary.json'), bakeMs: 10, startAt: 'gamma' });
    expect(result.asExpected).toBe(true);
    expect(result.phases.map((p) => p.outcome)).toEqual(['skipped', 'skipped', 'passed', 'passed', 'passed']);
    expect(result.timeline.find((e) => e.action === 'rollout-started')?.text).toMatch(/starting at phase gamma, skipped alpha, beta$/);
  });

  it('a run that cannot end says why and fails within its wall-clock limit', async () => {
    const result = await rehearse({ planFile: join(EXAMPLES, '001-skills-deployment.json'), bakeMs: 10, manual: true, wallClockLimitMs: 1_500, sessionFile: join(require('node:os').tmpdir(), `phasegate-stuck-${process.pid}.json`) });
    expect(result.asExpected).toBe(false);
    expect(result.execution).toMatchObject({ status: 'ABORTED', error: 'PhasegateRehearsalStuck' });
    expect(result.problems[0]).toMatch(/^stuck: still AWAITING_APPROVAL \(awaiting-approval\) in phase canary after 2 s of wall-clock time; last gate PROCEED: /);
  });

  it('refuses a breach of a metric the phase has no rollback band on, naming the ones it has', async () => {
    await expect(rehearse({ planFile: join(EXAMPLES, '000-skills-launch.json'), breach: 'cache-hit-rate@canary' })).rejects.toThrow(RehearsalInputError);
    await expect(rehearse({ planFile: join(EXAMPLES, '000-skills-launch.json'), breach: 'cache-hit-rate@canary' })).rejects.toThrow(
      /^--breach: phase canary of skills-launch has no rollback alarm for cache-hit-rate \(alarms: error-rate, p95-ms, skills-api-success, cost-per-request, cost-per-request\)/,
    );
  });
});
