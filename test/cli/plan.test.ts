import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { phaseFlagValues } from '../../lambdas/core/flags/flags';
import { durationToSeconds } from '../../lambdas/core/plan/duration';
import { loadPlanFile } from '../../lambdas/core/plan/load';
import type { PlanTimeline, PlanValidationReport } from '../../cli/plan-view';
import { overlong, runCli } from './support';

/** `plan validate` and `plan show` on the example plans and on broken ones. */

const ROOT = join(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'phasegate-plans-'));
const inRoot = { cwd: ROOT };

function planFile(name: string, plan: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof plan === 'string' ? plan : JSON.stringify(plan));
  return file;
}

const broken = planFile('broken.json', {
  feature: 'broken',
  targets: [],
  principals: { bob: ['pm'] },
  phases: [
    { name: 'one', roles: ['admin'], bake: '2 days' },
    { name: 'one', roles: ['wizards'], bake: 'PT1H' },
  ],
  stages: { prod: { phases: { beta: { bake: 'PT1H' } } } },
});

// Valid as written and on dev; prod turns off the approval of the phase that first turns the LLM on.
const prodOnly = planFile('prod-only.json', {
  feature: 'prod-only',
  targets: ['fn-a'],
  subFeatures: [{ id: 'llm', llm: { dailyCapUsd: 1, hardLimitUsd: 2 } }],
  phases: [
    { name: 'base', roles: ['admin'], bake: 'PT1H' },
    { name: 'canary', roles: ['admin'], bake: 'PT1H', subFeatures: { llm: {} } },
  ],
  stages: { dev: { phases: { canary: { bake: 'PT5M' } } }, prod: { phases: { base: { approval: { required: false } } } } },
});

describe('plan validate', () => {
  it.each(['rollouts/ux-update.json', 'rollouts/cohort-analyzer.json'])('accepts %s with every stage it overrides (exit 0)', async (file) => {
    const run = await runCli(['plan', 'validate', file], inRoot);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${file} is a valid plan (checked with the overrides of dev, staging, prod).\n`);
  });

  it('finds a plan by feature id in rollouts/', async () => {
    const run = await runCli(['plan', 'validate', 'ux-update', '--json'], inRoot);
    expect(run.json<PlanValidationReport>()).toEqual({ file: join('rollouts', 'ux-update.json'), valid: true, stages: ['dev', 'staging', 'prod'], problems: [] });
  });

  it('reports every problem of a broken plan with its field path (exit 1)', async () => {
    const text = await runCli(['plan', 'validate', broken]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/is invalid: 6 problems/);
    expect(overlong(text.stdout)).toEqual([]);

    const json = (await runCli(['plan', 'validate', broken, '--json'])).json<PlanValidationReport>();
    expect(json.valid).toBe(false);
    expect(json.problems.map((p) => p.path).sort()).toEqual(
      ['targets', 'principals.bob', 'phases[0].bake', 'phases[1].roles[0]', 'phases[1].name', 'stages.prod.phases.beta'].sort(),
    );
    expect(json.problems.find((p) => p.path === 'phases[0].bake')!.message).toContain('expected ISO 8601 duration, got "2 days"');
    expect(json.problems.find((p) => p.path === 'principals.bob')!.message).toContain('expected an IAM principal ARN pattern');
  });

  it.each(['constructor'])('checks a plan on stage %j, which it does not override, as written (exit 0)', async (stage) => {
    const run = await runCli(['plan', 'validate', 'rollouts/ux-update.json', '--stage', stage, '--json'], inRoot);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.json<PlanValidationReport>()).toMatchObject({ valid: true, stages: [stage], problems: [] });
  });

  it('checks the plan as each stage resolves it: --stage picks one, the default checks every overridden stage', async () => {
    expect((await runCli(['plan', 'validate', prodOnly, '--stage', 'dev'])).code).toBe(0);
    const prod = await runCli(['plan', 'validate', prodOnly, '--stage', 'prod', '--json']);
    expect(prod.code).toBe(1);
    expect(prod.json<PlanValidationReport>().problems).toEqual([
      {
        path: 'phases[0].approval.required',
        message: expect.stringMatching(/turns on the LLM sub-feature "llm", so the approval of phase base that leads into it must be required \(after stages\.prod overrides\)$/),
      },
    ]);
    const every = await runCli(['plan', 'validate', prodOnly]);
    expect(every.code).toBe(1);
    expect(every.stdout).toContain('checked with the overrides of dev, prod');
  });

  it('reports a file that is not JSON as an invalid plan (exit 1), and a missing file as a usage error (exit 2)', async () => {
    const notJson = await runCli(['plan', 'validate', planFile('nope.json', '{ "feature": ')]);
    expect(notJson.code).toBe(1);
    expect(notJson.stdout).toContain('(file): not JSON');
    const missing = await runCli(['plan', 'validate', join(dir, 'missing.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no plan file');
  });
});

describe('plan show', () => {
  it('shows every field that affects a decision: samples, dimensions, baselines, warnings, rates, missing data, ranges, schedules, dark and optional phases', async () => {
    const run = await runCli(['plan', 'show', 'rollouts/examples/004-ux-agent.json', '--json'], inRoot);
    expect(run.code).toBe(0);
    const text = (await runCli(['plan', 'show', 'rollouts/examples/004-ux-agent.json'], inRoot)).stdout.replace(/\s+/g, ' ');
    expect(text).toContain('who nobody: dark, the feature stays off (a dry run)');
    expect(text).toContain('bake 2d to 3d (PT48H to PT72H): proceed after the first when the gate passes, hold up to the second, then ask');
    expect(text).toContain('optional runs only when the approver of the phase before opts in; otherwise skipped');
    expect(text).toContain('dynamodb-throttles (AWS/DynamoDB ThrottledRequests [TableName=ux-agent-conversations] Sum): proceed at 0, roll back > 5, per 1h, no data reads as 0');
    expect(text).toContain('error rate: proceed at 0, roll back > 0.01');
    const skills = (await runCli(['plan', 'show', 'rollouts/examples/000-skills-launch.json'], inRoot)).stdout.replace(/\s+/g, ' ');
    expect(skills).toContain('starts at 09:00 UTC, once the phase before is done');
    expect(skills).toContain('cache-hit-rate (LegalPlatform/Skills CacheHitRate Average): proceed > 0.4, warn < 0.3, watched only (never holds or rolls back)');
    expect(skills).toContain('against the stated baseline 0.03 (alarmed at once): proceed within 1.5x, roll back beyond 1.5x');
    const ux = (await runCli(['plan', 'show', 'rollouts/ux-update.json'], inRoot)).stdout.replace(/\s+/g, ' ');
    expect(ux).toContain('against the baseline of the 1d before the start: proceed within 1.2x, roll back beyond 1.5x');
  });

  it('lays the phases of ux-update out as a timeline that fits 80 columns', async () => {
    const plan = loadPlanFile(join(ROOT, 'rollouts/ux-update.json'), 'staging');
    const run = await runCli(['plan', 'show', 'rollouts/ux-update.json', '--stage', 'staging'], inRoot);
    expect(run.code).toBe(0);
    expect(overlong(run.stdout)).toEqual([]);
    expect(run.stdout).toContain(`ux-update on staging (rollouts/ux-update.json)\n  ${plan.phases.length} phases, at least `);
    expect(run.stdout).toContain(`targets     ${plan.targets.join(', ')}`);
    plan.phases.forEach((phase, i) => expect(run.stdout).toContain(`${i + 1}. ${phase.name}: from `));
    expect(run.stdout).toMatch(/who\s+roles admin, 100% of them/);
    expect(run.stdout).toMatch(/who\s+every user, 100% of them/);
    expect(run.stdout).toMatch(/approval\s+pm must approve/);
    expect(run.stdout).toMatch(/sub-features\s+llm-parsing off/);
    expect(run.stdout).toMatch(/sub-features\s+llm-parsing on \(admin, 100%\)/);
    expect(run.stdout).toMatch(/gates\s+error rate: proceed < /);
    expect(run.stdout).toMatch(/on failure\s+roll back to off/);
  });

  it('gives the timeline as JSON: cumulative times, sub-features per phase, flags and the rollback target', async () => {
    const plan = loadPlanFile(join(ROOT, 'rollouts/ux-update.json'), 'dev');
    const tl = (await runCli(['plan', 'show', 'ux-update', '--json'], inRoot)).json<PlanTimeline>();
    expect(tl).toMatchObject({ feature: 'ux-update', stage: 'dev', targets: plan.targets, rollback: 'off' });
    let at = 0;
    tl.phases.forEach((p, i) => {
      expect(p).toMatchObject({ index: i, name: plan.phases[i]!.name, startsAfterSeconds: at, rollbackTo: { kind: 'off' } });
      at += durationToSeconds(plan.phases[i]!.bake);
      expect(p.endsAfterSeconds).toBe(at);
      expect(p.flags).toEqual(phaseFlagValues(plan, i));
      expect(p.subFeatures['llm-parsing']!.on).toBe(plan.phases[i]!.subFeatures['llm-parsing'] !== undefined);
    });
    expect(tl.minimumSeconds).toBe(at);
    expect(tl.phases[0]!.subFeatures['llm-parsing']).toEqual({ on: false });
  });

  it('shows what each phase of cohort-analyzer rolls back to (the previous phase)', async () => {
    const plan = loadPlanFile(join(ROOT, 'rollouts/cohort-analyzer.json'), 'prod');
    const tl = (await runCli(['plan', 'show', 'cohort-analyzer', '--stage', 'prod', '--json'], inRoot)).json<PlanTimeline>();
    expect(tl.phases.map((p) => p.rollbackTo)).toEqual([{ kind: 'off' }, { kind: 'previous-phase', phase: plan.phases[0]!.name }, { kind: 'previous-phase', phase: plan.phases[1]!.name }]);
    expect(tl.phases[1]!.safeFlags).toEqual(phaseFlagValues(plan, 0));
    expect((await runCli(['plan', 'show', 'cohort-analyzer', '--stage', 'prod'], inRoot)).stdout).toContain(`roll back to phase ${plan.phases[0]!.name}'s flags`);
  });

  it('shows the CLI principals and Discord roles the plan maps', async () => {
    const file = planFile('roles.json', {
      feature: 'roles',
      targets: ['fn-a'],
      principals: { 'arn:aws:sts::*:assumed-role/OnCall/*': ['on-call'] },
      discord: { roles: { '111111111111111111': ['pm'] } },
      phases: [{ name: 'all', roles: ['all'], bake: 'PT1H', approval: { required: false } }],
    });
    const run = await runCli(['plan', 'show', file]);
    expect(run.stdout).toContain('roles       arn:aws:sts::*:assumed-role/OnCall/* -> on-call; Discord role');
    expect(run.stdout).toMatch(/approval\s+not needed/);
  });

  it('refuses to show an invalid plan, listing its problems (exit 1)', async () => {
    const run = await runCli(['plan', 'show', broken]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('phases[0].bake');
  });
});
