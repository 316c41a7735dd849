import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { offFlagValues } from '../../lambdas/core/flags/flags';
import { loadPlanFile } from '../../lambdas/core/plan/load';
import { parseRehearseArgs, RehearseArgsError } from '../../local/rehearse';
import { closeRehearsalResources, MAX_TARGET_COPIES, rehearse, RehearsalInputError, withTargetCopies } from '../../local/rehearsal';

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);

jest.setTimeout(180_000);

afterAll(() => closeRehearsalResources());

describe('npm run rehearse -- --targets / --inprogress-ms / --no-quotas (arguments)', () => {
  it.each([['0'], ['-1'], ['abc'], ['2.5'], [''], [' '], ['1e2'], [String(MAX_TARGET_COPIES + 1)]])('refuses --targets %p with a clear message', (value) => {
    expect(() => parseRehearseArgs([`--targets=${value}`])).toThrow(RehearseArgsError);
    expect(() => parseRehearseArgs([`--targets=${value}`])).toThrow(`--targets must be a whole number of copies from 1 to ${MAX_TARGET_COPIES}, got ${JSON.stringify(value)}`);
  });

  it('reads --targets, --inprogress-ms and --no-quotas into the rehearsal options', () => {
    expect(parseRehearseArgs(['--alarm-at', 'pm', '--targets', '50', '--inprogress-ms', '1000', '--no-quotas']).options).toMatchObject({
      alarmAt: 'pm',
      targets: 50,
      inProgressMs: 1000,
      quotas: false,
    });
    const plain = parseRehearseArgs([]).options;
    expect(plain).not.toHaveProperty('targets');
    expect(plain).not.toHaveProperty('inProgressMs');
    // Quotas stay on unless switched off.
    expect(plain).not.toHaveProperty('quotas');
  });

  it.each([['-5'], ['x'], ['60001']])('refuses --inprogress-ms %p', (value) => {
    expect(() => parseRehearseArgs([`--inprogress-ms=${value}`])).toThrow(/--inprogress-ms must be a whole number of milliseconds from 0 to 60000/);
  });

  it('exits 2 with the message and the usage for a bad --targets, before running anything', async () => {
    const outcome = await run(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'local/rehearse.ts'), '--targets', 'many'], {
      cwd: ROOT,
      timeout: 60_000,
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain('rehearse: --targets must be a whole number of copies from 1 to 500, got "many"');
    expect(outcome.stderr).toContain('--no-quotas');
    expect(outcome.stdout).toBe('');
  });
});

describe('target copies', () => {
  const plan = loadPlanFile(join(ROOT, 'rollouts/cohort-analyzer.json'), 'dev');

  it('copies every target n times, names and ARNs alike', () => {
    expect(withTargetCopies({ ...plan, targets: ['api', 'web:live', 'arn:aws:lambda:eu-west-1:123456789012:function:worker:live'] }, 2).targets).toEqual([
      'api-1',
      'api-2',
      'web-1:live',
      'web-2:live',
      'arn:aws:lambda:eu-west-1:123456789012:function:worker-1:live',
      'arn:aws:lambda:eu-west-1:123456789012:function:worker-2:live',
    ]);
  });

  it("refuses copies whose names pass Lambda's 64 characters", () => {
    expect(() => withTargetCopies({ ...plan, targets: ['f'.repeat(63)] }, 10)).toThrow(RehearsalInputError);
  });

  it.each([0, 2.5, MAX_TARGET_COPIES + 1])('the rehearsal refuses targets: %p before running anything', async (targets) => {
    await expect(rehearse({ planFile: join(ROOT, 'rollouts/ux-update.json'), alarmAt: 'pm', targets })).rejects.toThrow(/--targets must be a whole number from 1 to 500/);
  });
});

describe('a rollback alarm over many target copies, under the Lambda quota', () => {
  it('ends rolled back with every copy safe and its own variables intact', async () => {
    const planFile = join(ROOT, 'rollouts/ux-update.json');
    const result = await rehearse({ planFile, alarmAt: 'pm', targets: 6, bakeMs: 0, inProgressMs: 50 });
    const plan = loadPlanFile(planFile, 'dev');
    const copies = Array.from({ length: 6 }, (_, i) => `valine-orchestrator-discord-dev-${i + 1}`);
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'ROLLED_BACK', asExpected: true, alarm: { phase: 'pm', outcome: 'rolled-back', targets: 6 } });
    expect(result.lambdaApi).toMatchObject({ quotas: true, inProgressMs: 50 });
    // Every copy was written by the steps (two phases) and the rollback: the fake counted every update.
    expect(result.lambdaApi.counts.controlPlane.accepted).toBeGreaterThanOrEqual(3 * copies.length);
    expect(Object.keys(result.targets)).toEqual(copies);
    for (const target of copies) expect(result.targets[target]).toEqual(offFlagValues(plan));
    expect(result.timeline.find((e) => e.action === 'alarm')?.text).toMatch(/rolled-back, time-to-safe \d+ ms for 6 target\(s\)/);
  });
});
