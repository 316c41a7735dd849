/**
 * `npm run rehearse -- [--plan <file>] [--stage <stage>] [--reject-at <phase>] [--alarm-at <phase>] [--targets <n>]
 *  [--drift-at <phase>] [--alias <name>] [--bake-ms <ms>] [--inprogress-ms <ms>] [--no-quotas] [--breach <metric>@<phase>]
 *  [--start-at <phase>] [--opt-in <phase>] [--wall-clock-limit-s <s>] [--json]`
 *
 * Rolls a feature out end to end on this machine: see local/rehearsal.ts. Prints a timeline, or a JSON summary
 * with --json. Exits 0 when the run ends as expected, 1 when it does not, 2 on unusable arguments.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  closeRehearsalResources,
  MAX_TARGET_COPIES,
  rehearse,
  RehearsalInputError,
  type RehearsalOptions,
  type RehearsalResult,
  type TimelineEntry,
} from './rehearsal';

const USAGE = `usage: npm run rehearse -- [options]

  --plan <file>        rollout plan to rehearse (default rollouts/ux-update.json)
  --stage <stage>      stage whose settings apply: dev, staging, prod (default dev)
  --reject-at <phase>  the PM rejects this phase: exercises the rollback path
  --bake-ms <ms>       how long each compressed bake lasts (default 150)
  --alarm-at <phase>   raise the feature's rollback alarm during this phase: automatic rollback
  --breach <metric>@<phase>
                       push one gate metric (error-rate, p95-ms, a custom metric's name, ...) past its rollback
                       band during that phase: its alarm goes off, as the runbook's rollback trigger
  --start-at <phase>   start the execution at this phase (the phases before it are recorded as skipped)
  --opt-in <phase>     the approver opts in to this optional phase (repeatable); otherwise it is skipped
  --wall-clock-limit-s <s>
                       stop a run that has not ended after this many seconds and say why (default 120;
                       none with --manual)
  --drift-at <phase>   during this phase a redeploy of the first target wipes its flags; its CloudTrail event
                       reaches the reconcile function, which repairs them (the timeline shows how long it took)
  --alias <name>       run the plan against alias targets <target>:<name> (a published version behind an alias,
                       as SAM AutoPublishAlias deploys it): flags reach the code by a new version and the alias moved
  --targets <n>        run the plan against n copies of each target (<target>-1..n, 1 to ${MAX_TARGET_COPIES}): watch a
                       big rollback under Lambda's quota (15 control-plane calls per second)
  --inprogress-ms <ms> how long each flag update stays InProgress in the fake Lambda (default 200)
  --no-quotas          switch the fake Lambda's request-rate quotas off; for debugging only: a rehearsal
                       must pass with them on, nothing may pass only because they are off
  --llm-spend <usd/h>  simulate a day of LLM calls at this rate through the budget guard in the LLM phase
  --llm-cap-usd <usd>  the cap variable the LLM calls see (default: the plan's); above the hard limit, the
                       daily-cost alarm turns the LLM flag off
  --manual             no automatic PM: approve or reject from another terminal with
                       npx phasegate approve|reject <feature> --local; a reject, pause or rollback of yours is an
                       expected ending; Ctrl-C ends the rehearsal, and once the rollout ends the local world stays
                       up for --local commands until you press a key
  --json               print a machine-readable summary instead of the timeline
  --log-file <file>    where the functions' JSON logs go (default <tmpdir>/phasegate-rehearsal/functions-<time>.log)
  --verbose            the functions' JSON logs on stderr instead of a file
  --help               show this help`;

function fail(message: string): never {
  process.stderr.write(`rehearse: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

/** The command line could not be used (exit 2). */
export class RehearseArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RehearseArgsError';
  }
}

/** What the command line asks for: the rehearsal's options, and how to print. */
export interface RehearseArgs {
  readonly help: boolean;
  readonly json: boolean;
  /** The functions' JSON logs on stderr instead of a file. */
  readonly verbose: boolean;
  /** Where the functions' JSON logs go. @default - a new file under <tmpdir>/phasegate-rehearsal */
  readonly logFile?: string;
  readonly options: Omit<RehearsalOptions, 'log' | 'onTimeline'>;
}

/** Read the command line; throws {@link RehearseArgsError} for unusable arguments. */
export function parseRehearseArgs(argv: readonly string[]): RehearseArgs {
  let args;
  try {
    args = parseArgs({
      args: [...argv],
      options: {
        plan: { type: 'string' },
        stage: { type: 'string' },
        'reject-at': { type: 'string' },
        'bake-ms': { type: 'string' },
        'alarm-at': { type: 'string' },
        'drift-at': { type: 'string' },
        breach: { type: 'string' },
        'start-at': { type: 'string' },
        'opt-in': { type: 'string', multiple: true },
        'wall-clock-limit-s': { type: 'string' },
        alias: { type: 'string' },
        targets: { type: 'string' },
        'inprogress-ms': { type: 'string' },
        'no-quotas': { type: 'boolean', default: false },
        'llm-spend': { type: 'string' },
        'llm-cap-usd': { type: 'string' },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        'log-file': { type: 'string' },
        manual: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new RehearseArgsError((err as Error).message);
  }
  const wholeMs = (name: 'bake-ms' | 'inprogress-ms'): number | undefined => {
    const raw = args[name];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(value) || value < 0 || value > 60_000) {
      throw new RehearseArgsError(`--${name} must be a whole number of milliseconds from 0 to 60000, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  const bakeMs = wholeMs('bake-ms');
  const inProgressMs = wholeMs('inprogress-ms');
  let targets: number | undefined;
  if (args.verbose && args['log-file'] !== undefined) throw new RehearseArgsError('--verbose puts the logs on stderr, --log-file in a file: choose one');
  if (args.targets !== undefined) {
    targets = Number(args.targets);
    if (!/^\d+$/.test(args.targets.trim()) || !Number.isInteger(targets) || targets < 1 || targets > MAX_TARGET_COPIES) {
      throw new RehearseArgsError(`--targets must be a whole number of copies from 1 to ${MAX_TARGET_COPIES}, got ${JSON.stringify(args.targets)}`);
    }
  }
  const usd = (name: 'llm-spend' | 'llm-cap-usd'): number | undefined => {
    const raw = args[name];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0 || value > 10_000) throw new RehearseArgsError(`--${name} must be a number of US dollars above 0, got ${JSON.stringify(raw)}`);
    return value;
  };
  const llmSpendUsdPerHour = usd('llm-spend');
  const llmCapUsd = usd('llm-cap-usd');
  if (llmCapUsd !== undefined && llmSpendUsdPerHour === undefined) throw new RehearseArgsError('--llm-cap-usd goes with --llm-spend');
  let wallClockLimitMs: number | undefined;
  if (args['wall-clock-limit-s'] !== undefined) {
    const seconds = Number(args['wall-clock-limit-s']);
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
      throw new RehearseArgsError(`--wall-clock-limit-s must be a number of seconds from 1 to 3600, got ${JSON.stringify(args['wall-clock-limit-s'])}`);
    }
    wallClockLimitMs = Math.round(seconds * 1000);
  }
  return {
    help: args.help,
    json: args.json,
    verbose: args.verbose,
    ...(args['log-file'] !== undefined ? { logFile: args['log-file'] } : {}),
    options: {
      planFile: args.plan,
      stage: args.stage,
      rejectAt: args['reject-at'],
      alarmAt: args['alarm-at'],
      llmSpendUsdPerHour,
      llmCapUsd,
      bakeMs,
      manual: args.manual,
      ...(targets !== undefined ? { targets } : {}),
      ...(args['drift-at'] !== undefined ? { driftAt: args['drift-at'] } : {}),
      ...(args.breach !== undefined ? { breach: args.breach } : {}),
      ...(args['start-at'] !== undefined ? { startAt: args['start-at'] } : {}),
      ...(args['opt-in'] !== undefined ? { optIn: args['opt-in'] } : {}),
      ...(wallClockLimitMs !== undefined ? { wallClockLimitMs } : {}),
      ...(args.alias !== undefined ? { alias: args.alias } : {}),
      ...(inProgressMs !== undefined ? { inProgressMs } : {}),
      ...(args['no-quotas'] ? { quotas: false } : {}),
    },
  };
}

/** Width of a terminal that does not say (output to a file or a pipe). */
export const DEFAULT_WIDTH = 80;

/** A long line wraps onto at most this many lines; the last is cut with an ellipsis. */
const MAX_WRAPPED_LINES = 6;

/**
 * `text` after `prefix`, in lines of at most `width` characters: wrapped at spaces (a word longer than a line is cut),
 * continuation lines indented as far as the prefix, and past {@link MAX_WRAPPED_LINES} lines cut with an ellipsis.
 */
export function fitToWidth(prefix: string, text: string, width: number, maxLines: number = MAX_WRAPPED_LINES): string[] {
  const indent = ' '.repeat(prefix.length);
  // A terminal narrower than the prefix still gets something readable: the text under it.
  const room = Math.max(10, width - prefix.length);
  const chunks: string[] = [];
  let current = '';
  for (const word of text.split(/ +/)) {
    let rest = word;
    while (rest.length > 0) {
      const gap = current === '' ? '' : ' ';
      if (current.length + gap.length + rest.length <= room) {
        current += gap + rest;
        rest = '';
      } else if (current !== '') {
        chunks.push(current);
        current = '';
      } else {
        chunks.push(rest.slice(0, room));
        rest = rest.slice(room);
      }
    }
  }
  chunks.push(current);
  if (chunks.length > maxLines) {
    chunks.length = maxLines;
    const last = chunks[maxLines - 1]!;
    chunks[maxLines - 1] = `${last.length >= room ? last.slice(0, room - 1) : last}…`;
  }
  const lines = chunks.map((chunk, i) => `${i === 0 ? prefix : indent}${chunk}`.trimEnd());
  return prefix.length + 1 > width ? lines.map((l) => (l.length > width ? `${l.slice(0, Math.max(1, width - 1))}…` : l)) : lines;
}

/** One timeline entry as terminal lines of at most `width` characters: time, phase, then its text (as displayed). */
export function formatTimelineEntry(e: TimelineEntry, width: number = DEFAULT_WIDTH): string[] {
  const at = `+${(e.atMs / 1000).toFixed(2)}s`.padStart(8);
  const phase = (e.phase ?? '-').padEnd(12);
  return (e.display ?? e.text)
    .split('\n')
    .flatMap((line, i) => fitToWidth(i === 0 ? `${at}  ${phase}  ` : ' '.repeat(24), line, width));
}

/** The heading of a run's output. */
function heading(r: Pick<RehearsalResult, 'feature' | 'stage' | 'stateMachine'>): string {
  return `Phasegate rehearsal: ${r.feature} on ${r.stage} (state machine ${r.stateMachine}, from the synthesized template)`;
}

/** The whole report of a run as lines; without the timeline when it was streamed already. */
export function summaryLines(r: RehearsalResult, options: { width?: number; streamed?: boolean } = {}): string[] {
  const width = options.width ?? DEFAULT_WIDTH;
  const out: string[] = [];
  if (!options.streamed) {
    out.push(...fitToWidth('', heading(r), width));
    out.push('');
    for (const e of r.timeline) out.push(...formatTimelineEntry(e, width));
  }
  out.push('');
  out.push('Phases:');
  for (const p of r.phases) {
    const who = p.decidedBy ? `, decided by ${p.decidedBy}` : '';
    const gate = p.gate ? `, gate ${p.gate.decision}` : '';
    out.push(`  ${p.name.padEnd(12)} ${p.outcome.padEnd(12)} roles ${p.roles.join(',')} at ${p.percent}%${gate}${who}`);
  }
  out.push('');
  out.push('Final flags on every target:');
  // Targets with the same flags are listed together (many copies with --targets).
  const groups = new Map<string, { targets: string[]; flags: Readonly<Record<string, string>> }>();
  for (const [target, flags] of Object.entries(r.targets)) {
    const key = JSON.stringify(flags);
    const group = groups.get(key) ?? { targets: [], flags };
    group.targets.push(target);
    groups.set(key, group);
  }
  for (const { targets, flags } of groups.values()) {
    out.push(`  ${targets.length > 3 ? `${targets.length} targets: ${targets.slice(0, 2).join(', ')}, ..., ${targets.at(-1)}` : targets.join(', ')}`);
    for (const [name, value] of Object.entries(flags)) out.push(`    ${name}=${value}`);
  }
  out.push('');
  out.push(
    `Execution ${r.execution.status}${r.execution.error ? ` (${r.execution.error})` : ''} after ${r.execution.states} states; ` +
      `rollout ${r.outcome}; expected ${r.expected}; ${(r.elapsedMs / 1000).toFixed(1)} s`,
  );
  if (r.alarm) {
    out.push(
      `Alarm ${r.alarm.name} in phase ${r.alarm.phase}: ${r.alarm.outcome}${r.alarm.timeToSafeMs !== undefined ? `, time-to-safe ${r.alarm.timeToSafeMs} ms` : ''} ` +
        `for ${r.alarm.targets} target(s)`,
    );
  }
  const api = r.lambdaApi;
  out.push(
    `Lambda API (fake): quotas ${api.quotas ? 'on (control plane 15/s, GetFunction 100/s)' : 'OFF (--no-quotas: debugging only)'}, updates InProgress ${api.inProgressMs} ms; ` +
      `control plane ${api.counts.controlPlane.accepted} calls, ${api.counts.controlPlane.throttled} throttled (429); ` +
      `GetFunction ${api.counts.getFunction.accepted} calls, ${api.counts.getFunction.throttled} throttled`,
  );
  if (r.drift) {
    out.push(
      `Drift in phase ${r.drift.phase}: ${r.drift.target} redeployed (${r.drift.wiped.length} flag(s) wiped), ` +
        `${r.drift.events.length} CloudTrail event(s) to the reconcile function: ${r.drift.outcome}` +
        (r.drift.repairMs !== undefined ? ` ${r.drift.repairMs} ms after the event` : ''),
    );
  }
  if (r.llmSpend) {
    const rep = r.llmSpend.report;
    out.push(
      `LLM spend: ${rep.calls.succeeded} call(s) ran, ${rep.calls.fellBack} fell back, ${rep.calls.skipped} skipped after the flag went off; ` +
        `spent $${rep.spentUsd.toFixed(2)} (cap $${rep.capUsd}, hard limit $${rep.hardLimitUsd}); LLM flag rolled back: ${r.llmSpend.subFeatureRolledBack ? 'yes' : 'no'}`,
    );
  }

  if (r.endedBy) {
    const what = r.endedBy.action === 'stopped' ? 'you stopped the rehearsal' : `${r.endedBy.action} by ${r.endedBy.by}${r.endedBy.phase ? ` in phase ${r.endedBy.phase}` : ''}`;
    out.push(`Ended by a person: ${what}, an expected ending.`);
  }
  if (r.asExpected) out.push('As expected.');
  else out.push('NOT as expected:', ...r.problems.map((p) => `  - ${p}`));
  // The timeline's lines are fitted already; the summary's long lines wrap the same way.
  return out.flatMap((line) => (line.length > width ? fitToWidth(/^ */.exec(line)![0], line.trimStart(), width, 8) : [line]));
}

/**
 * Sends everything written to `process.stdout` (the functions' JSON logs) to `file` until `restore()` is called; the
 * command's own output goes through `write`, the real stdout.
 */
export function captureFunctionLogs(file: string): { readonly write: (text: string) => void; readonly restore: () => void } {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  const original = process.stdout.write;
  const write = original.bind(process.stdout) as (text: string) => void;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    if (typeof chunk === 'string') writeSync(fd, chunk);
    else writeSync(fd, chunk);
    const done = rest.find((r): r is () => void => typeof r === 'function');
    done?.();
    return true;
  }) as typeof process.stdout.write;
  let restored = false;
  return {
    write,
    restore: () => {
      if (restored) return;
      restored = true;
      process.stdout.write = original;
      closeSync(fd);
    },
  };
}

async function main(): Promise<void> {
  let parsed: RehearseArgs;
  try {
    parsed = parseRehearseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof RehearseArgsError) fail(err.message);
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  // The functions' own JSON logs go to a file (or stderr with --verbose): stdout carries the timeline or the JSON summary.
  const logFile = parsed.verbose ? undefined : (parsed.logFile ?? join(tmpdir(), 'phasegate-rehearsal', `functions-${new Date().toISOString().replace(/[:.]/g, '-')}.log`));
  const capture = logFile ? captureFunctionLogs(logFile) : undefined;
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  if (!capture) process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  const out = (text: string): void => void (capture ? capture.write(text) : stdoutWrite(text));
  const width = (): number => (process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : DEFAULT_WIDTH);
  const stream = !parsed.json;
  if (logFile) process.stderr.write(`rehearse: the functions' logs go to ${logFile} (--verbose for stderr)\n`);
  let headed = false;
  // --manual: Ctrl-C ends the rehearsal (an expected ending); once the rollout has ended, the local world stays up
  // for the CLI's --local commands until a key is pressed.
  const stop = new AbortController();
  const onInterrupt = (): void => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write('\nrehearse: stopping (Ctrl-C again to quit at once)\n');
    stop.abort();
  };
  if (parsed.options.manual) process.on('SIGINT', onInterrupt);
  const holdOpen = async ({ status }: { status: string }): Promise<void> => {
    if (!process.stdin.isTTY || stop.signal.aborted) return;
    process.stderr.write(`rehearse: the execution ended ${status}; the local world stays up for --local commands: press a key (or Ctrl-C) to end\n`);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        process.stdin.off('data', done);
        stop.signal.removeEventListener('abort', done);
        process.stdin.setRawMode?.(false);
        process.stdin.pause();
        resolve();
      };
      process.stdin.setRawMode?.(true);
      process.stdin.resume();
      process.stdin.once('data', done);
      stop.signal.addEventListener('abort', done, { once: true });
    });
  };
  try {
    const result = await rehearse({
      ...parsed.options,
      log: (line) => process.stderr.write(`rehearse: ${line}\n`),
      ...(parsed.options.manual ? { stop: stop.signal, holdOpen } : {}),
      ...(stream ? { onTimeline: (e: TimelineEntry) => out(`${formatTimelineEntry(e, width()).join('\n')}\n`), onStart: (r) => {
        headed = true;
        out(`${fitToWidth('', heading(r), width()).join('\n')}\n\n`);
      } } : {}),
    });
    if (parsed.json) out(`${JSON.stringify(result, null, 2)}\n`);
    else out(`${summaryLines(result, { width: width(), streamed: headed }).join('\n')}\n`);
    process.exitCode = result.asExpected ? 0 : 1;
  } catch (err) {
    if (err instanceof RehearsalInputError || (err as Error).name === 'AppConfigError' || (err as Error).name === 'PlansInvalidError') {
      process.stderr.write(`rehearse: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  } finally {
    process.off('SIGINT', onInterrupt);
    capture?.restore();
    process.stdout.write = stdoutWrite;
    await closeRehearsalResources();
  }
}

// Run only as the command, so tests can import the argument parser.
if (require.main === module) void main();
