import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { offFlagValues, phaseFlagValues } from '../../lambdas/core/flags';
import { loadPlanFile } from '../../lambdas/core/plan/load';
import { closeRehearsalResources, rehearse, RehearsalInputError } from '../../local/rehearsal';

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);

afterAll(() => closeRehearsalResources());

describe('the rehearsal runs the synthesized state machine end to end', () => {
  it('rolls ux-update out admin -> pm -> developer -> llm-canary -> ga with a PM approving each phase', async () => {
    const result = await rehearse({ planFile: join(ROOT, 'rollouts/ux-update.json'), stage: 'dev', bakeMs: 20 });
    const plan = loadPlanFile(join(ROOT, 'rollouts/ux-update.json'), 'dev');
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'COMPLETED', asExpected: true, execution: { status: 'SUCCEEDED' } });
    expect(result.phases.map((p) => [p.name, p.outcome, p.decidedBy])).toEqual(
      plan.phases.map((p) => [p.name, 'passed', 'Pat (PM)']),
    );
    expect(result.targets['valine-orchestrator-discord-dev']).toEqual(phaseFlagValues(plan, plan.phases.length - 1));
    // The timeline tells the story in order.
    const actions = result.timeline.map((e) => e.action);
    expect(actions[0]).toBe('rollout-started');
    expect(actions.at(-1)).toBe('rollout-completed');
    expect(actions.filter((a) => a === 'flags-applied')).toHaveLength(plan.phases.length);
    expect(actions.filter((a) => a === 'approved')).toHaveLength(plan.phases.length);
    expect(result.timeline.find((e) => e.phase === 'llm-canary' && e.action === 'flags-applied')?.text).toContain('USE_LLM_PARSING=true');
    for (let i = 1; i < result.timeline.length; i++) expect(result.timeline[i]!.atMs).toBeGreaterThanOrEqual(result.timeline[i - 1]!.atMs);
  });

  it('rolls cohort-analyzer back to the previous phase when the PM rejects the ramp', async () => {
    const result = await rehearse({ planFile: join(ROOT, 'rollouts/cohort-analyzer.json'), rejectAt: 'ramp', bakeMs: 20 });
    const plan = loadPlanFile(join(ROOT, 'rollouts/cohort-analyzer.json'), 'dev');
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'ROLLED_BACK', expected: 'ROLLED_BACK', asExpected: true, execution: { status: 'FAILED', error: 'PhasegateRolledBack' } });
    expect(result.phases.map((p) => p.outcome)).toEqual(['passed', 'rejected', 'not-reached']);
    for (const target of plan.targets) expect(result.targets[target]).toEqual(phaseFlagValues(plan, 0));
    expect(result.timeline.map((e) => e.action).slice(-3)).toEqual(['rejected', 'rollback-started', 'rolled-back']);
  });

  it('turns every flag off when a plan that rolls back to "off" is rejected in its first phase', async () => {
    const result = await rehearse({ planFile: join(ROOT, 'rollouts/ux-update.json'), rejectAt: 'admin', bakeMs: 0 });
    const plan = loadPlanFile(join(ROOT, 'rollouts/ux-update.json'), 'dev');
    expect(result.asExpected).toBe(true);
    expect(result.targets['valine-orchestrator-discord-dev']).toEqual(offFlagValues(plan));
    expect(result.targets['valine-orchestrator-discord-dev']!.DISABLE_UX_UPDATES).toBe('true');
  });

  it.each([
    [{ rejectAt: 'beta' }, /no phase "beta"/],
    [{ planFile: join(ROOT, 'rollouts/cohort-analyzer.json'), rejectAt: 'canary' }, /needs no approval/],
    [{ planFile: join(ROOT, 'rollouts/missing.json') }, /cannot read plan/],
  ])('refuses unusable input %p before running anything', async (options, message) => {
    await expect(rehearse(options)).rejects.toThrow(RehearsalInputError);
    await expect(rehearse(options)).rejects.toThrow(message);
  });
});

describe('npm run rehearse (the command line)', () => {
  const cli = (args: string[]) =>
    run(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'local/rehearse.ts'), ...args], { cwd: ROOT }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('prints a JSON summary and exits 0 when the run ends as expected', async () => {
    const { code, stdout } = await cli(['--plan', 'rollouts/cohort-analyzer.json', '--stage', 'prod', '--bake-ms', '0', '--json']);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary).toMatchObject({ feature: 'cohort-analyzer', stage: 'prod', outcome: 'COMPLETED', asExpected: true });
    expect(Object.keys(summary.targets)).toEqual(['cohort-api-prod', 'cohort-worker-prod']);
    expect(summary.phases.map((p: { name: string; outcome: string }) => `${p.name}:${p.outcome}`)).toEqual(['canary:passed', 'ramp:passed', 'full:passed']);
  });

  it.each([
    [['--stage', 'qa'], /unknown stage "qa"/],
    [['--bake-ms', 'soon'], /--bake-ms must be a whole number/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
  ])('exits 2 with a clear message for %p', async (args, message) => {
    const { code, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });
});
