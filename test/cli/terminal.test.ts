import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { colourWanted, didYouMean, editDistance, stripAnsi } from '../../cli/terminal';
import { runCli } from './support';

/** The CLI as a person meets it in a terminal: version, suggestions, short errors, completion and colour. */

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const ENTRY = join(ROOT, 'cli', 'main.ts');
const VERSION = (JSON.parse(require('node:fs').readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('suggestions', () => {
  it.each([
    ['stauts', ['status', 'start', 'history'], ['status', 'start']],
    ['aprove', ['approve', 'reject'], ['approve']],
    ['hist', ['history', 'status'], ['history']],
    ['xyz', ['status', 'approve'], []],
  ])('%s among %j suggests %j', (word, candidates, expected) => {
    expect(didYouMean(word, candidates)).toEqual(expected);
  });

  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('stauts', 'status')).toBe(1);
    expect(editDistance('status', 'status')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });
});

describe('colour', () => {
  it.each([
    [{}, true, true],
    [{}, false, false],
    [{ NO_COLOR: '1' }, true, false],
    [{ NO_COLOR: '' }, true, true],
    [{ FORCE_COLOR: '1' }, false, true],
    [{ FORCE_COLOR: '1', NO_COLOR: '1' }, true, false],
    [{ TERM: 'dumb' }, true, false],
  ])('env %j on a terminal: %s -> %s', (env, tty, expected) => {
    expect(colourWanted(env, tty)).toBe(expected);
  });
});

describe('the command line', () => {
  it('prints the version', async () => {
    for (const flag of ['--version', '-V', 'version']) {
      const run = await runCli([flag]);
      expect(run).toMatchObject({ code: 0, stdout: `phasegate ${VERSION}\n` });
    }
  });

  it('suggests the command, subcommand or option that was meant, in a short error without the whole help', async () => {
    const command = await runCli(['stauts']);
    expect(command.code).toBe(2);
    expect(command.stderr).toBe('phasegate: unknown command "stauts": did you mean "status" or "start"?\nusage: phasegate <command> [arguments] [options]  (the commands: phasegate --help)\n');
    expect((await runCli(['plan', 'shwo', 'x'])).stderr).toContain('unknown plan subcommand "shwo": did you mean "show"?');
    const option = await runCli(['history', 'ux-update', '--limt', '3']);
    expect(option.stderr).toBe(
      'phasegate: unknown option --limt for history: did you mean "--limit"?\nusage: phasegate history <feature> [options]  (more: phasegate history --help)\n',
    );
  });

  it('answers a missing plan file with the error and the usage line only', async () => {
    const run = await runCli(['plan', 'show', 'no-such-plan.json']);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n').filter(Boolean)).toEqual([
      'phasegate: no plan file no-such-plan.json',
      'usage: phasegate plan show <file> [options]  (more: phasegate plan show --help)',
    ]);
  });
});

describe('shell completion', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phasegate-completion-'));
  let script: string;
  beforeAll(async () => {
    script = (await runCli(['completion', 'bash'])).stdout;
    writeFileSync(join(dir, 'phasegate.bash'), script);
  });

  /** What bash completes for the words typed, run in a directory with rollouts/ux-update.json. */
  function complete(words: string[]): string[] {
    const cwd = mkdtempSync(join(tmpdir(), 'phasegate-cwd-'));
    execFileSync('mkdir', ['-p', join(cwd, 'rollouts')]);
    writeFileSync(join(cwd, 'rollouts', 'ux-update.json'), '{}');
    const quoted = words.map((w) => `'${w}'`).join(' ');
    const out = execFileSync('bash', ['-c', `source ${join(dir, 'phasegate.bash')}; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _phasegate; printf '%s\\n' "\${COMPREPLY[@]}"`], { cwd, encoding: 'utf8' });
    return out.split('\n').filter(Boolean).sort();
  }

  it('completes commands, subcommands, options and feature ids in bash', () => {
    expect(complete(['phasegate', 'st'])).toEqual(['start', 'status']);
    expect(complete(['phasegate', 'plan', ''])).toEqual(['show', 'validate']);
    expect(complete(['phasegate', 'status', '--w'])).toEqual(['--watch']);
    expect(complete(['phasegate', 'approve', 'ux'])).toEqual(['ux-update']);
    expect(complete(['phasegate', 'completion', ''])).toEqual(['bash', 'zsh']);
  });

  it('writes a zsh script for the same commands and refuses other shells', async () => {
    const zsh = (await runCli(['completion', 'zsh'])).stdout;
    expect(zsh.split('\n')[0]).toBe('#compdef phasegate');
    expect(zsh).toContain('compdef _phasegate phasegate');
    expect(zsh).toContain('"plan show") opts=(--stage --json --help');
    execFileSync('bash', ['-n', join(dir, 'phasegate.bash')]);
    const fish = await runCli(['completion', 'fish']);
    expect(fish).toMatchObject({ code: 2, stderr: expect.stringContaining('no completion for shell "fish" (shells: bash, zsh)') });
  });
});

describe('in a pseudo-terminal', () => {
  /** Runs the CLI under `script`, which gives it a pseudo-terminal as stdout. */
  function inTerminal(args: string[], env: Record<string, string> = {}): Promise<string> {
    const command = [TSX, ENTRY, ...args].map((a) => `'${a}'`).join(' ');
    const childEnv: Record<string, string | undefined> = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', TERM: 'xterm', ...env };
    delete childEnv.FORCE_COLOR;
    if (env.NO_COLOR === undefined) delete childEnv.NO_COLOR;
    return new Promise((resolve, reject) => {
      execFile('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: childEnv, timeout: 30_000 }, (error, stdout) => (error && !stdout ? reject(error) : resolve(stdout)));
    });
  }

  it('colours an error on a terminal, and not with NO_COLOR', async () => {
    const [coloured, plainText] = await Promise.all([inTerminal(['stauts']), inTerminal(['stauts'], { NO_COLOR: '1' })]);
    expect(coloured).toContain('\x1b[31mphasegate:\x1b[39m unknown command "stauts"');
    expect(plainText).not.toContain('\x1b[');
    expect(stripAnsi(coloured).replace(/\r/g, '')).toBe(plainText.replace(/\r/g, ''));
  });

  it('writes no colour when stdout is not a terminal', async () => {
    const run = await runCli(['stauts'], { isTTY: false, env: { FORCE_COLOR: undefined as unknown as string } });
    expect(run.stderr).not.toContain('\x1b[');
  });
});
