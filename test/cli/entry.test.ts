import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The `phasegate` executable as a process: exit codes are what a shell sees. */

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const ENTRY = join(ROOT, 'cli', 'main.ts');

function phasegate(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      [ENTRY, ...args],
      { cwd: ROOT, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('the phasegate executable', () => {
  it('starts with a node shebang, so the compiled dist/cli/main.js runs as `phasegate`', () => {
    expect(readFileSync(ENTRY, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('exits 0 with the help, 2 on a usage error, 3 when no rehearsal runs, 1 on an invalid plan', async () => {
    const [help, usage, local, invalid] = await Promise.all([
      phasegate(['--help']),
      phasegate(['approve']),
      phasegate(['status', '--local'], { PHASEGATE_SESSION_FILE: join(ROOT, 'test', 'no-such-session.json') }),
      phasegate(['plan', 'validate', join(ROOT, 'package.json')]),
    ]);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('usage: phasegate <command>') });
    expect(usage).toMatchObject({ code: 2, stderr: expect.stringContaining('missing <feature>') });
    expect(local).toMatchObject({ code: 3, stderr: expect.stringContaining('no rehearsal is running') });
    expect(invalid).toMatchObject({ code: 1, stdout: expect.stringContaining('is invalid') });
  });
});
