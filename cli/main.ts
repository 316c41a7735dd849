#!/usr/bin/env node
/**
 * `phasegate`: operate staged rollouts from a terminal, with your AWS credentials, or against a local rehearsal
 * with `--local`. Argument parsing, help and exit codes live here; the commands in ./commands.ts; the rules in
 * lambdas/core. `main(argv, io)` is what the bin runs and what tests drive in-process.
 */
import { parseArgs } from 'node:util';
import { connectLocal } from '../local/session';
import { connectAws } from './aws';
import type { Backend } from './backend';
import { COMMANDS, GLOBAL_OPTIONS, type CommandContext, type CommandSpec, type OptionSpec } from './commands';
import { EXIT, UsageError, reportError, type ExitCode } from './errors';
import { DEFAULT_WIDTH, wrap } from './format';

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
}

/** The process's own streams, environment and directory. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    columns: process.stdout.isTTY ? Math.min(Math.max(process.stdout.columns ?? DEFAULT_WIDTH, 60), 120) : DEFAULT_WIDTH,
  };
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
    'Help on a command: phasegate <command> --help',
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
    throw new UsageError(words.length === 1 ? 'plan needs a subcommand: validate or show' : `unknown plan subcommand "${words[1]}" (validate, show)`);
  }
  throw new UsageError(`unknown command "${words[0]}" (commands: ${[...new Set(COMMANDS.map((c) => c.path[0]))].join(', ')})`);
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
  const { words, rest } = splitCommand(argv);
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
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''), spec.path);
  }
  const needed = spec.args.filter((a) => !a.optional).length;
  if (parsed.positionals.length < needed) throw new UsageError(`missing <${spec.args[parsed.positionals.length]!.name}>`, spec.path);
  if (parsed.positionals.length > spec.args.length) throw new UsageError(`unexpected argument "${parsed.positionals[spec.args.length]}"`, spec.path);
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (typeof values.stage === 'string' && !STAGE.test(values.stage)) throw new UsageError(`--stage must be a stage name (lowercase a-z, 0-9, -), got "${values.stage}"`, spec.path);
  if (values.local && values.region !== undefined) throw new UsageError('--region has no meaning with --local: the rehearsal runs on this machine', spec.path);
  return { spec, values, positionals: parsed.positionals };
}

/**
 * Run the CLI: parse `argv` (without `node` and the script), run the command, write to `io`, and resolve with
 * the exit code ({@link EXIT}). Never throws and never exits the process.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  const json = argv.includes('--json');
  const fail = (err: unknown): ExitCode => {
    const reported = reportError(err);
    if (json) io.stdout(`${JSON.stringify({ error: { code: reported.code, message: reported.message, exit: reported.exit } }, null, 2)}\n`);
    io.stderr(`phasegate: ${reported.message}\n`);
    if (err instanceof UsageError) {
      const spec = err.command ? COMMANDS.find((c) => c.path.join(' ') === err.command!.join(' ')) : undefined;
      io.stderr(spec ? `\nusage: ${synopsis(spec)} [options]\nMore: ${['phasegate', ...spec.path].join(' ')} --help\n` : `\n${topHelp()}`);
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
        : await connectAws({ stage: typeof values.stage === 'string' ? values.stage : 'dev', ...(typeof values.region === 'string' ? { region: values.region } : {}) });
      return backend;
    },
    print: (lines, document) => io.stdout(values.json ? `${JSON.stringify(document, null, 2)}\n` : `${lines.join('\n')}\n`),
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
