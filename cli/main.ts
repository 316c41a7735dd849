#!/usr/bin/env node
/**
 * `phasegate`: operate staged rollouts from a terminal, with your AWS credentials, or against a local rehearsal
 * with `--local`. Argument parsing, help and exit codes live here; the commands in ./commands.ts; the rules in
 * lambdas/core. `main(argv, io)` is what the bin runs and what tests drive in-process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { connectLocal } from '../local/session';
import { connectAws, type AwsConnectOptions, type LambdaTime } from './aws';
import type { Backend } from './backend';
import { COMMANDS, GLOBAL_OPTIONS, type CommandContext, type CommandSpec, type OptionSpec } from './commands';
import { COMPLETION_SHELLS, completionScript, type CompletionShell } from './completion';
import { EXIT, UsageError, reportError, type ExitCode } from './errors';
import { DEFAULT_WIDTH, wrap } from './format';
import { ansi, colourWanted, didYouMean, plain } from './terminal';

/** Where the CLI writes, what environment it reads, and where it runs: injectable so tests need no child process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Width of human output. @default 80 */
  readonly columns?: number;
  /** @default the system clock */
  readonly now?: () => Date;
  /** Whether stdout is a terminal: colour (unless NO_COLOR) and `--watch` redraws in place. @default false */
  readonly isTTY?: boolean;
  /** Waits between `--watch` redraws. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Aborted on Ctrl-C: `--watch` stops. */
  readonly signal?: AbortSignal;
  /** The time of the flag writer talking to Lambda (see {@link AwsConnectOptions.lambdaTime}). @default real time */
  readonly lambdaTime?: LambdaTime;
}

/** The process's own streams, environment and directory. */
export function processIo(): CliIo {
  const interrupted = new AbortController();
  // The first Ctrl-C ends a --watch cleanly; a second one (or one outside --watch) ends the process as usual.
  process.once('SIGINT', () => {
    interrupted.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    columns: process.stdout.isTTY ? Math.min(Math.max(process.stdout.columns ?? DEFAULT_WIDTH, 60), 120) : DEFAULT_WIDTH,
    isTTY: process.stdout.isTTY === true,
    signal: interrupted.signal,
  };
}

/** The version of the installed Phasegate: the package.json above this file (cli/ in source, dist/cli/ built). */
export function phasegateVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'phasegate' && pkg.version) return pkg.version;
  }
  return 'unknown';
}

const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0  done',
  '  1  refused or failed: no permission, unknown feature, stale state, a rollback',
  '     that left a target unsafe, an invalid plan',
  '  2  usage error: unknown command or option, missing or malformed argument',
  '  3  AWS or configuration error: stack not found, no credentials or region,',
  '     access denied, AWS unreachable, no rehearsal running',
  '  4  unexpected error (a bug in Phasegate)',
];

/** `  flag  help` lines, the help wrapped under itself to fit the width. */
function twoColumns(entries: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...entries.map(([left]) => left.length));
  return entries.flatMap(([left, help]) =>
    wrap(help, DEFAULT_WIDTH - width - 4).map((line, i) => `  ${(i === 0 ? left : '').padEnd(width)}  ${line}`),
  );
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  return twoColumns(Object.entries(options).map(([name, o]) => [`--${name}${o.value ? ` <${o.value}>` : ''}`, o.help] as const));
}

function synopsis(spec: CommandSpec): string {
  const args = spec.args.map((a) => (a.optional ? `[${a.name}]` : `<${a.name}>`));
  return ['phasegate', ...spec.path, ...args].join(' ');
}

/** The help of one command. */
export function commandHelp(spec: CommandSpec): string {
  const summary = `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.`;
  const lines = [`usage: ${synopsis(spec)} [options]`, '', ...wrap(`${summary} ${spec.details}`, DEFAULT_WIDTH), ''];
  if (Object.keys(spec.options).length) lines.push('Options:', ...optionLines(spec.options), '');
  lines.push('Global options:', ...optionLines(GLOBAL_OPTIONS[spec.scope]));
  return `${lines.join('\n')}\n`;
}

/** The top-level help. */
export function topHelp(): string {
  const lines = [
    'phasegate: operate staged rollouts from a terminal, also when Discord is down',
    '',
    'usage: phasegate <command> [arguments] [options]',
  ];
  for (const group of ['Read', 'Act', 'Plans'] as const) {
    lines.push('', `${group}:`);
    lines.push(...twoColumns(COMMANDS.filter((x) => x.group === group).map((c) => [synopsis(c).slice('phasegate '.length), c.summary] as const)));
  }
  lines.push('', 'Shell:', ...twoColumns([['completion <bash|zsh>', 'print a completion script: source <(phasegate completion bash)']]));
  lines.push(
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS.stage),
    '',
    ...wrap(
      'With AWS, the CLI finds the stage in the outputs of the stack phasegate-<stage> and acts as your AWS identity ' +
        '(STS GetCallerIdentity): the plan\'s "principals" say which Phasegate roles you hold. With --local it acts as ' +
        'local:<os user> on the running rehearsal (npm run rehearse -- --manual), holding every role unless the plan ' +
        'maps that principal.',
      DEFAULT_WIDTH,
    ),
    '',
    ...EXIT_CODES_HELP,
    '',
    'Help on a command: phasegate <command> --help. The version: phasegate --version.',
  );
  return `${lines.join('\n')}\n`;
}

/** Global string options that may come before the command word, with their value. */
const VALUE_OPTIONS = new Set(['--stage', '--region']);

/** The command words (`status`, `plan show`) and every other token, wherever the command word stands. */
function splitCommand(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    // `plan` and `help` take the next word too: `plan show`, `help rollback`, `help plan show`.
    const prefix = words[0] === 'help' ? words.slice(1) : words;
    const wantWord = words.length === 0 || prefix.length === 0 || ((prefix[0] === 'plan' || prefix[0] === 'flags') && prefix.length === 1);
    if (token.startsWith('-') || !wantWord) {
      rest.push(token);
      if (VALUE_OPTIONS.has(token) && i + 1 < argv.length) rest.push(argv[++i]!);
      continue;
    }
    words.push(token);
  }
  return { words, rest };
}

function findCommand(words: readonly string[]): CommandSpec {
  if (words.length === 0) throw new UsageError('no command given');
  const spec = COMMANDS.find((c) => c.path.join(' ') === words.join(' '));
  if (spec) return spec;
  if (words[0] === 'plan') {
    if (words.length === 1) throw new UsageError('plan needs a subcommand: validate or show');
    const subs = COMMANDS.filter((c) => c.path[0] === 'plan').map((c) => c.path[1]!);
    throw new UsageError(`unknown plan subcommand "${words[1]}"${meant(words[1]!, subs)} (${subs.join(', ')})`);
  }
  const names = [...new Set([...COMMANDS.map((c) => c.path[0]!), 'completion'])];
  const suggestion = meant(words[0]!, names);
  throw new UsageError(`unknown command "${words[0]}"${suggestion || ` (commands: ${names.join(', ')})`}`);
}

/** `: did you mean "status"?`, or nothing when no candidate is close. */
function meant(word: string, candidates: readonly string[]): string {
  const close = didYouMean(word, candidates).slice(0, 2);
  return close.length ? `: did you mean ${close.map((c) => `"${c}"`).join(' or ')}?` : '';
}

const STAGE = /^[a-z][a-z0-9-]*$/;

interface Parsed {
  readonly spec: CommandSpec;
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
}

/** The help for `phasegate <words> --help` and `phasegate help <words>`. */
function helpFor(words: readonly string[]): string {
  if (words.length === 0) return topHelp();
  if (words.length === 1 && words[0] === 'plan') return COMMANDS.filter((c) => c.path[0] === 'plan').map(commandHelp).join('\n');
  return commandHelp(findCommand(words));
}

function parseCommandLine(argv: readonly string[]): Parsed | { help: string } {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version')) return { help: `phasegate ${phasegateVersion()}\n` };
  const { words, rest } = splitCommand(argv);
  if (words[0] === 'completion') return { help: completion(words, rest) };
  if (words[0] === 'help') return { help: helpFor(words.slice(1)) };
  if (rest.some((t) => t === '--help' || t === '-h')) return { help: helpFor(words) };
  const spec = findCommand(words);
  const options = { ...GLOBAL_OPTIONS[spec.scope], ...spec.options };
  let parsed;
  try {
    parsed = parseArgs({
      args: [...rest],
      options: { ...Object.fromEntries(Object.entries(options).map(([name, o]) => [name, { type: o.type }])), help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    const unknown = /^Unknown option '(--?[^']+)'/.exec(message);
    const suggestion = unknown ? meant(unknown[1]!.replace(/^-+/, ''), Object.keys(options)).replace(/"([^"]+)"/g, '"--$1"') : '';
    throw new UsageError(unknown ? `unknown option ${unknown[1]} for ${spec.path.join(' ')}${suggestion}` : message, spec.path);
  }
  const needed = spec.args.filter((a) => !a.optional).length;
  if (parsed.positionals.length < needed) throw new UsageError(`missing <${spec.args[parsed.positionals.length]!.name}>`, spec.path);
  if (parsed.positionals.length > spec.args.length) throw new UsageError(`unexpected argument "${parsed.positionals[spec.args.length]}"`, spec.path);
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (typeof values.stage === 'string' && !STAGE.test(values.stage)) throw new UsageError(`--stage must be a stage name (lowercase a-z, 0-9, -), got "${values.stage}"`, spec.path);
  if (values.local && values.region !== undefined) throw new UsageError('--region has no meaning with --local: the rehearsal runs on this machine', spec.path);
  return { spec, values, positionals: parsed.positionals };
}

/** `phasegate completion bash|zsh`. */
function completion(words: readonly string[], rest: readonly string[]): string {
  const shell = words[1] ?? rest.find((t) => !t.startsWith('-'));
  if (rest.includes('--help') || rest.includes('-h')) {
    return `usage: phasegate completion <${COMPLETION_SHELLS.join('|')}>\n\nPrint a shell completion script. Load it with: source <(phasegate completion bash)\n`;
  }
  if (shell === undefined) throw new UsageError(`completion needs a shell: ${COMPLETION_SHELLS.join(' or ')}`, ['completion']);
  if (!(COMPLETION_SHELLS as readonly string[]).includes(shell)) {
    throw new UsageError(`no completion for shell "${shell}"${meant(shell, COMPLETION_SHELLS)} (shells: ${COMPLETION_SHELLS.join(', ')})`, ['completion']);
  }
  return completionScript(shell as CompletionShell, COMMANDS, GLOBAL_OPTIONS, ['completion']);
}

/**
 * Run the CLI: parse `argv` (without `node` and the script), run the command, write to `io`, and resolve with
 * the exit code ({@link EXIT}). Never throws and never exits the process.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  const json = argv.includes('--json');
  const paint = colourWanted(io.env, io.isTTY === true) ? ansi : plain;
  let running: CommandSpec | undefined;
  const fail = (err: unknown): ExitCode => {
    const reported = reportError(err);
    if (json) io.stdout(`${JSON.stringify({ error: { code: reported.code, message: reported.message, exit: reported.exit } }, null, 2)}\n`);
    io.stderr(`${paint('bad', 'phasegate:')} ${reported.message}\n`);
    if (err instanceof UsageError) {
      // A short reminder of the usage, never the whole help: the error is what matters.
      const path = err.command ?? running?.path;
      const spec = path ? COMMANDS.find((c) => c.path.join(' ') === path.join(' ')) : undefined;
      if (spec) io.stderr(`usage: ${synopsis(spec)} [options]  (more: ${['phasegate', ...spec.path].join(' ')} --help)\n`);
      else if (path?.[0] === 'completion') io.stderr(`usage: phasegate completion <${COMPLETION_SHELLS.join('|')}>\n`);
      else io.stderr('usage: phasegate <command> [arguments] [options]  (the commands: phasegate --help)\n');
    }
    if (reported.exit === EXIT.internal && io.env.PHASEGATE_DEBUG) io.stderr(`${(err as Error)?.stack ?? ''}\n`);
    return reported.exit;
  };

  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    return fail(err);
  }
  if ('help' in parsed) {
    io.stdout(parsed.help);
    return EXIT.ok;
  }

  const { spec, values, positionals } = parsed;
  running = spec;
  let backend: Backend | undefined;
  const ctx: CommandContext = {
    options: values,
    args: positionals,
    stage: typeof values.stage === 'string' ? values.stage : undefined,
    cwd: io.cwd,
    width: io.columns ?? DEFAULT_WIDTH,
    now: (io.now ?? (() => new Date()))(),
    backend: async () => {
      backend ??= values.local
        ? connectLocal({ cwd: io.cwd, env: io.env, ...(typeof values.stage === 'string' ? { stage: values.stage } : {}) })
        : await connectAws({
            stage: typeof values.stage === 'string' ? values.stage : 'dev',
            ...(typeof values.region === 'string' ? { region: values.region } : {}),
            ...(io.lambdaTime ? { lambdaTime: io.lambdaTime } : {}),
          });
      return backend;
    },
    print: (lines, document) => io.stdout(values.json ? `${JSON.stringify(document, null, 2)}\n` : `${lines.join('\n')}\n`),
    write: (text) => io.stdout(text),
    paint,
    isTTY: io.isTTY === true,
    clock: io.now ?? (() => new Date()),
    sleep: io.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    ...(io.signal ? { signal: io.signal } : {}),
  };
  try {
    return (await spec.run(ctx)) as ExitCode;
  } catch (err) {
    return fail(err);
  } finally {
    await backend?.close().catch(() => undefined);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
