import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/main';
import { closeRehearsalResources, rehearse } from '../../local/rehearsal';


// Hang guards, not speed limits (the suite must pass on a busy machine): see jest.config.js.
jest.setTimeout(600_000);

afterAll(() => closeRehearsalResources());

describe('phasegate promote --local through the synthesized state machine', () => {
  it('ends each bake early (a task token handed back), the gate still decides, and the rollout completes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phasegate-promote-'));
    const sessionFile = join(dir, 'session.json');
    // Ten-minute bakes rehearsed at full length (bakeMs equals the bake), one hold check at most: no phase gets past
    // its bake within this test's hang guard unless it is promoted.
    const planFile = join(dir, 'promoted.json');
    const phase = (name: string, percent: number, approval: object) => ({
      name,
      roles: ['all'],
      percent,
      bake: 'PT10M',
      approval,
      gates: { errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 }, hold: { interval: 'PT10M', max: 'PT10M' } },
    });
    writeFileSync(
      planFile,
      JSON.stringify({
        feature: 'promoted',
        description: 'Promote ends each bake early',
        owner: 'test',
        targets: ['promoted-api-dev'],
        flags: { enabled: 'PROMOTED_ENABLED', roles: 'PROMOTED_ROLES', percent: 'PROMOTED_PERCENT' },
        phases: [phase('canary', 10, { required: false }), phase('full', 100, { required: true, approvers: ['pm', 'admin'] })],
        rollback: { to: 'off' },
      }),
    );
    const waiting: string[] = [];
    const running = rehearse({ planFile, bakeMs: 600_000, manual: true, sessionFile, log: (l) => waiting.push(l) });
    let ended = false;
    let failure = '';
    running.then(
      () => (ended = true),
      (err: unknown) => {
        ended = true;
        failure = String(err);
      },
    );
    const out: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: (t: string) => out.push(t), env: { ...process.env, PHASEGATE_SESSION_FILE: sessionFile }, cwd: dir };
    const until = async (what: string, done: () => Promise<boolean> | boolean): Promise<void> => {
      while (!(await done())) {
        if (ended) throw new Error(`the rehearsal ended before ${what}: ${failure} ${waiting.join(' | ')} ${out.join('')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    // Before the session is up nothing can be promoted; while a phase applies its flags it is not baking yet (the
    // refusal is audited and changes nothing), so the promote is repeated until the phase bakes.
    const promote = async (): Promise<boolean> => (await main(['promote', 'promoted', '--local'], io)) === 0;
    await until('canary was promoted', promote);
    expect(out.join('')).toMatch(/Promoted promoted on dev: the bake of phase canary ended \(it would have run until [^)]+\); its gate decides next/);
    for (const phase of ['full']) {
      await until(`${phase} was promoted`, promote);
      // The gate decided (healthy: proceed); the phase asks for its approval as usual.
      await until(`${phase} asked for approval`, () => waiting.some((l) => l.startsWith(`phase ${phase} waits for approval`)));
      expect(await main(['approve', 'promoted', '--local'], io)).toBe(0);
    }
    const result = await running;
    expect(result.problems).toEqual([]);
    expect(result.outcome).toBe('COMPLETED');
    expect(result.phases.map((p) => p.decidedBy)).toEqual([undefined, userInfo().username]);
  });
});
