import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../lambdas/core/rollout/rollout-state';
import { closeRehearsalResources, personalEnding, rehearse, type TimelineEntry } from '../../local/rehearsal';

const ROOT = join(__dirname, '..', '..');

// Hang guards, not speed limits (the suite must pass on a busy machine): see jest.config.js.
jest.setTimeout(600_000);

afterAll(() => closeRehearsalResources());

/** A manual rehearsal watched as it goes: its timeline streams, and the person's own ending is expected. */

const until = async (what: string, ready: () => boolean, ended: () => boolean): Promise<void> => {
  // However long a busy machine takes; fail only if the rehearsal ended first.
  while (!ready()) {
    if (ended()) throw new Error(`the rehearsal ended before ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('a manual rehearsal, watched', () => {
  it('streams the timeline while it waits for a person, and a rollback from the CLI is an expected ending', async () => {
    const { main } = require('../../cli/main') as typeof import('../../cli/main');
    const sessionFile = join(mkdtempSync(join(tmpdir(), 'phasegate-session-')), 'session.json');
    const streamed: TimelineEntry[] = [];
    let held = 0;
    let ended = false;
    const running = rehearse({
      planFile: join(ROOT, 'rollouts/cohort-analyzer.json'),
      bakeMs: 0,
      manual: true,
      sessionFile,
      onTimeline: (e) => streamed.push(e),
      holdOpen: async () => {
        held++;
      },
    });
    running.then(
      () => (ended = true),
      () => (ended = true),
    );
    // The ramp's approval request reaches the stream while the run waits for a decision: before the run ends.
    const request = (): TimelineEntry | undefined =>
      streamed.find((e) => e.action === 'discord' && /ramp/.test(e.text) && e.display?.includes('[Approve] [Reject]'));
    await until('the ramp approval request was streamed', () => request() !== undefined, () => ended);
    expect(ended).toBe(false);
    expect(streamed.map((e) => e.action)).toEqual(expect.arrayContaining(['rollout-started', 'phase-started', 'flags-applied']));
    // Rendered for the terminal: no Discord markup or raw ids left.
    expect(request()!.display).not.toMatch(/\*\*|<@|<t:/);

    const out: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => out.push(t), env: { ...process.env, PHASEGATE_SESSION_FILE: sessionFile }, cwd: ROOT };
    expect(await main(['rollback', 'cohort-analyzer', '--reason', 'seen enough', '--local'], io)).toBe(0);

    const result = await running;
    expect(result.problems).toEqual([]);
    expect(result.asExpected).toBe(true);
    expect(result.outcome).toBe('ROLLED_BACK');
    expect(result.endedBy).toEqual({ action: 'rolled-back', by: userInfo().username, phase: 'ramp' });
    expect(held).toBe(1);
    // The rollback streamed too, after the request.
    expect(streamed.findIndex((e) => e.action === 'rolled-back')).toBeGreaterThan(streamed.indexOf(request()!));
  });
});

describe("a person's ending, from the audit trail", () => {
  const event = (action: AuditEvent['action'], via: AuditEvent['actor']['via'], phase = 'ramp'): AuditEvent => ({
    feature: 'f',
    at: '2026-12-01T00:00:00.000Z',
    actor: { id: via === 'cli' ? 'arn:aws:iam::1:user/sam' : 'phasegate', name: via === 'cli' ? 'sam' : 'Phasegate', via },
    action,
    fromPhase: phase,
    toPhase: phase,
    message: action,
  });

  it.each<[string, AuditEvent[], boolean, ReturnType<typeof personalEnding>]>([
    ['a rollback from the CLI', [event('phase-started', 'state-machine'), event('rollback-started', 'cli'), event('rolled-back', 'cli')], false, { action: 'rolled-back', by: 'sam', phase: 'ramp' }],
    ['a reject, then the rollback it causes', [event('rejected', 'cli'), event('rollback-started', 'cli')], false, { action: 'rejected', by: 'sam', phase: 'ramp' }],
    ['a pause left in place', [event('paused', 'cli')], false, { action: 'paused', by: 'sam', phase: 'ramp' }],
    ['a pause later resumed', [event('paused', 'cli'), event('resumed', 'cli')], false, undefined],
    ["Phasegate's own rollback", [event('rollback-started', 'state-machine'), event('rolled-back', 'alarm')], false, undefined],
    ['stopping the rehearsal', [event('phase-started', 'state-machine')], true, { action: 'stopped', by: 'you', phase: null }],
  ])('%s', (_, audit, stopped, expected) => {
    expect(personalEnding(audit, stopped)).toEqual(expected);
  });
});

describe('npm run rehearse, watched in a terminal', () => {
  it("streams a fitted timeline on stdout and keeps the functions' JSON logs in the file it names", async () => {
    const logFile = join(mkdtempSync(join(tmpdir(), 'phasegate-rehearse-logs-')), 'functions.log');
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'local/rehearse.ts'), '--plan', 'rollouts/cohort-analyzer.json', '--bake-ms', '0', '--log-file', logFile],
      { cwd: ROOT, timeout: 570_000, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
    );
    expect(stderr).toContain(`the functions' logs go to ${logFile}`);
    const lines = stdout.trimEnd().split('\n');
    // Not a terminal: 80 columns; no JSON log line and no Discord markup on stdout.
    expect(lines.every((l) => [...l].length <= 80)).toBe(true);
    expect(lines.some((l) => l.trimStart().startsWith('{'))).toBe(false);
    expect(stdout).not.toMatch(/\*\*|<@|<t:\d+/);
    expect(stdout).toMatch(/Approved by Pat \(PM\)/);
    expect(lines.at(-1)).toBe('As expected.');
    const logs = readFileSync(logFile, 'utf8').trim().split('\n');
    expect(logs.some((l) => /"message":"step finished"/.test(l))).toBe(true);
  });
});
