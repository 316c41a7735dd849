import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { offFlagValues, phaseFlagValues } from '../../lambdas/core/flags/flags';
import { loadPlanFile } from '../../lambdas/core/plan/load';
import { closeRehearsalResources, rehearse, RehearsalInputError } from '../../local/rehearsal';

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);

// Hang guards, not speed limits (the suite must pass on a busy machine): see jest.config.js.
jest.setTimeout(600_000);

afterAll(() => closeRehearsalResources());

describe('the rehearsal runs the synthesized state machine end to end', () => {
  it('rolls ux-update out admin -> pm -> developer -> llm-canary -> ga with a PM approving each phase', async () => {
    const reportDir = mkdtempSync(join(tmpdir(), 'phasegate-report-'));
    const result = await rehearse({ planFile: join(ROOT, 'rollouts/ux-update.json'), stage: 'dev', bakeMs: 20, reportDir });
    const plan = loadPlanFile(join(ROOT, 'rollouts/ux-update.json'), 'dev');
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'COMPLETED', asExpected: true, execution: { status: 'SUCCEEDED' } });
    expect(result.phases.map((p) => [p.name, p.outcome, p.decidedBy])).toEqual(
      plan.phases.map((p) => [p.name, 'passed', 'Pat (PM)']),
    );
    expect(result.targets['valine-orchestrator-discord-dev']).toEqual(phaseFlagValues(plan, plan.phases.length - 1));
    // The timeline tells the story in order.
    const actions = result.timeline.map((e) => e.action).filter((a) => a !== 'discord');
    expect(actions[0]).toBe('rollout-started');
    expect(actions.at(-1)).toBe('rollout-completed');
    expect(actions.filter((a) => a === 'flags-applied')).toHaveLength(plan.phases.length);
    expect(actions.filter((a) => a === 'approved')).toHaveLength(plan.phases.length);
    expect(result.timeline.find((e) => e.phase === 'llm-canary' && e.action === 'flags-applied')?.text).toContain('USE_LLM_PARSING=true');
    // The PM approved through signed clicks on the approval requests the steps posted to the Discord channel.
    const channel = result.timeline.filter((e) => e.action === 'discord').map((e) => e.text);
    for (const phase of plan.phases.map((p) => p.name)) {
      expect(channel).toContainEqual(expect.stringMatching(new RegExp(`phase ${phase} approved \\| Approved by \\*\\*Pat \\(PM\\)\\*\\*`)));
    }
    expect(channel.some((t) => /completed/i.test(t))).toBe(true);
    // Before each phase's first gate, the daily report went to the channel with its picture, saved to a file.
    const reports = result.timeline.filter((e) => e.action === 'daily-report');
    expect(reports.map((e) => e.phase)).toEqual(plan.phases.map((p) => p.name));
    for (const r of reports) {
      const path = /picture saved to (\S+\.png)$/.exec(r.text)?.[1];
      expect(path?.startsWith(reportDir)).toBe(true);
      expect([...readFileSync(path!).subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    }
    for (let i = 1; i < result.timeline.length; i++) expect(result.timeline[i]!.atMs).toBeGreaterThanOrEqual(result.timeline[i - 1]!.atMs);
  });

  it('rolls cohort-analyzer back to the previous phase when the PM rejects the ramp', async () => {
    const result = await rehearse({ planFile: join(ROOT, 'rollouts/cohort-analyzer.json'), rejectAt: 'ramp', bakeMs: 20 });
    const plan = loadPlanFile(join(ROOT, 'rollouts/cohort-analyzer.json'), 'dev');
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'ROLLED_BACK', expected: 'ROLLED_BACK', asExpected: true, execution: { status: 'FAILED', error: 'PhasegateRolledBack' } });
    expect(result.phases.map((p) => p.outcome)).toEqual(['passed', 'rejected', 'not-reached']);
    for (const target of plan.targets) expect(result.targets[target]).toEqual(phaseFlagValues(plan, 0));
    expect(result.timeline.map((e) => e.action).filter((a) => a !== 'discord').slice(-3)).toEqual(['rejected', 'rollback-started', 'rolled-back']);
  });

  it('turns every flag off when a plan that rolls back to "off" is rejected in its first phase', async () => {
    const result = await rehearse({ planFile: join(ROOT, 'rollouts/ux-update.json'), rejectAt: 'admin', bakeMs: 0 });
    const plan = loadPlanFile(join(ROOT, 'rollouts/ux-update.json'), 'dev');
    expect(result.asExpected).toBe(true);
    expect(result.targets['valine-orchestrator-discord-dev']).toEqual(offFlagValues(plan));
    expect(result.targets['valine-orchestrator-discord-dev']!.DISABLE_UX_UPDATES).toBe('true');
  });

  it('rolls back on its own when the rollback alarm goes off during a bake, and reports time-to-safe', async () => {
    const result = await rehearse({ planFile: join(ROOT, 'rollouts/ux-update.json'), alarmAt: 'pm', bakeMs: 20 });
    const plan = loadPlanFile(join(ROOT, 'rollouts/ux-update.json'), 'dev');
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'ROLLED_BACK', asExpected: true, alarm: { phase: 'pm', outcome: 'rolled-back' } });
    expect(result.alarm!.name).toBe('phasegate-dev_ux-update-error-rate-pm');
    expect(result.alarm!.timeToSafeMs).toBeGreaterThan(0);
    expect(result.targets['valine-orchestrator-discord-dev']).toEqual(offFlagValues(plan));
    expect(result.phases.map((p) => p.outcome)).toEqual(['passed', 'rolled-back', 'not-reached', 'not-reached', 'not-reached']);
    expect(result.timeline.map((e) => e.action)).toEqual(expect.arrayContaining(['alarm', 'rollback-started', 'rolled-back']));
    // The automatic rollback is posted to the channel, with its time-to-safe.
    const posts = result.timeline.filter((e) => e.action === 'discord').map((e) => e.text);
    expect(posts).toContainEqual(expect.stringMatching(/ux-update: rolled back .*alarm phasegate-dev\\?_ux-update-error-rate-pm.*Time to safe/));
  });

  it('holds LLM spend at the cap: calls past it fall back and the flag stays on', async () => {
    const result = await rehearse({ planFile: join(ROOT, 'rollouts/ux-update.json'), llmSpendUsdPerHour: 2, bakeMs: 0 });
    expect(result.problems).toEqual([]);
    const { report, subFeatureRolledBack } = result.llmSpend!;
    expect(report.capUsd).toBe(5);
    expect(report.calls.fellBack).toBeGreaterThan(0);
    expect(report.overshootUsd).toBe(0);
    expect(report.hardLimitPassedAt).toBeNull();
    expect(subFeatureRolledBack).toBe(false);
    expect(result.targets['valine-orchestrator-discord-dev']!.USE_LLM_PARSING).toBe('true');
  });

  it('turns off only the LLM flag when spend passes the hard limit, and the rollout still completes', async () => {
    const result = await rehearse({ planFile: join(ROOT, 'rollouts/ux-update.json'), llmSpendUsdPerHour: 2, llmCapUsd: 20, bakeMs: 0 });
    expect(result.problems).toEqual([]);
    expect(result.outcome).toBe('COMPLETED');
    expect(result.llmSpend!.subFeatureRolledBack).toBe(true);
    expect(result.llmSpend!.report.calls.skipped).toBeGreaterThan(0);
    const flags = result.targets['valine-orchestrator-discord-dev']!;
    expect(flags).toMatchObject({ USE_LLM_PARSING: 'false', LLM_PARSING_ROLES: '', UX_UPDATE_ROLES: '*', DISABLE_UX_UPDATES: 'false' });
    expect(result.timeline.some((e) => /sub-feature llm-parsing of ux-update rolled back/.test(e.text))).toBe(true);
  });

  it.each([
    [{ rejectAt: 'beta' }, /no phase "beta"/],
    [{ alarmAt: 'pm', rejectAt: 'admin' }, /choose one/],
    [{ planFile: join(ROOT, 'rollouts/cohort-analyzer.json'), llmSpendUsdPerHour: 1 }, /no LLM sub-feature/],
    [{ planFile: join(ROOT, 'rollouts/cohort-analyzer.json'), rejectAt: 'canary' }, /needs no approval/],
    [{ planFile: join(ROOT, 'rollouts/missing.json') }, /cannot read plan/],
  ])('refuses unusable input %p before running anything', async (options, message) => {
    await expect(rehearse(options)).rejects.toThrow(RehearsalInputError);
    await expect(rehearse(options)).rejects.toThrow(message);
  });
});

describe('npm run rehearse (the command line)', () => {
  const cli = (args: string[]) =>
    run(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'local/rehearse.ts'), ...args], { cwd: ROOT, timeout: 570_000 }).then(
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

describe('npm run rehearse -- --manual with the CLI', () => {
  it('waits for approvals that a person gives with `phasegate approve --local`, then completes', async () => {
    const { main } = require('../../cli/main') as typeof import('../../cli/main');
    const { mkdtempSync } = require('node:fs') as typeof import('node:fs');
    const { tmpdir } = require('node:os') as typeof import('node:os');
    const sessionFile = join(mkdtempSync(join(tmpdir(), 'phasegate-session-')), 'session.json');
    const waiting: string[] = [];
    const running = rehearse({ planFile: join(ROOT, 'rollouts/cohort-analyzer.json'), bakeMs: 0, manual: true, sessionFile, log: (l) => waiting.push(l) });
    const out: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => out.push(t), env: { ...process.env, PHASEGATE_SESSION_FILE: sessionFile }, cwd: ROOT };
    // Approve each phase as it comes up (canary needs none; ramp and full do).
    let ended = false;
    running.then(
      () => (ended = true),
      () => (ended = true),
    );
    for (const phase of ['ramp', 'full']) {
      // Wait for the request itself, however long a busy machine takes; fail only if the rehearsal ended without it.
      while (!waiting.some((l) => l.startsWith(`phase ${phase} waits for approval`))) {
        if (ended) throw new Error(`the rehearsal ended before phase ${phase} asked for approval: ${waiting.join(' | ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await main(['approve', 'cohort-analyzer', '--note', `ok ${phase}`, '--local'], io)).toBe(0);
    }
    const result = await running;
    expect(result.problems).toEqual([]);
    expect(result.outcome).toBe('COMPLETED');
    const me = (require('node:os') as typeof import('node:os')).userInfo().username;
    expect(result.phases.map((p) => p.decidedBy)).toEqual([undefined, me, me]);
    expect(await main(['status', 'cohort-analyzer', '--local'], io)).toBe(3);
  });
});
