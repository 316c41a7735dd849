/**
 * `npm run rehearse -- [--plan <file>] [--stage <stage>] [--reject-at <phase>] [--bake-ms <ms>] [--json]`
 *
 * Rolls a feature out end to end on this machine: see local/rehearsal.ts. Prints a timeline, or a JSON summary
 * with --json. Exits 0 when the run ends as expected, 1 when it does not, 2 on unusable arguments.
 */
import { parseArgs } from 'node:util';
import { closeRehearsalResources, rehearse, RehearsalInputError, type RehearsalResult } from './rehearsal';

const USAGE = `usage: npm run rehearse -- [options]

  --plan <file>        rollout plan to rehearse (default rollouts/ux-update.json)
  --stage <stage>      stage whose settings apply: dev, staging, prod (default dev)
  --reject-at <phase>  the PM rejects this phase: exercises the rollback path
  --bake-ms <ms>       how long each compressed bake lasts (default 150)
  --alarm-at <phase>   raise the feature's rollback alarm during this phase: automatic rollback
  --llm-spend <usd/h>  simulate a day of LLM calls at this rate through the budget guard in the LLM phase
  --llm-cap-usd <usd>  the cap variable the LLM calls see (default: the plan's); above the hard limit, the
                       daily-cost alarm turns the LLM flag off
  --manual             no automatic PM: approve or reject from another terminal with
                       npx phasegate approve|reject <feature> --local
  --json               print a machine-readable summary instead of the timeline
  --help               show this help`;

function fail(message: string): never {
  process.stderr.write(`rehearse: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function printTimeline(r: RehearsalResult): void {
  const out: string[] = [];
  out.push(`Phasegate rehearsal: ${r.feature} on ${r.stage} (state machine ${r.stateMachine}, from the synthesized template)`);
  out.push('');
  for (const e of r.timeline) {
    const at = `+${(e.atMs / 1000).toFixed(2)}s`.padStart(8);
    const phase = (e.phase ?? '-').padEnd(12);
    e.text.split('\n').forEach((line, i) => out.push(`${i === 0 ? at : ' '.repeat(8)}  ${i === 0 ? phase : ' '.repeat(12)}  ${line}`));
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
  for (const [target, flags] of Object.entries(r.targets)) {
    out.push(`  ${target}`);
    for (const [name, value] of Object.entries(flags)) out.push(`    ${name}=${value}`);
  }
  out.push('');
  out.push(
    `Execution ${r.execution.status}${r.execution.error ? ` (${r.execution.error})` : ''} after ${r.execution.states} states; ` +
      `rollout ${r.outcome}; expected ${r.expected}; ${(r.elapsedMs / 1000).toFixed(1)} s`,
  );
  if (r.alarm) out.push(`Alarm ${r.alarm.name} in phase ${r.alarm.phase}: ${r.alarm.outcome}${r.alarm.timeToSafeMs !== undefined ? `, time-to-safe ${r.alarm.timeToSafeMs} ms` : ''}`);
  if (r.llmSpend) {
    const rep = r.llmSpend.report;
    out.push(
      `LLM spend: ${rep.calls.succeeded} call(s) ran, ${rep.calls.fellBack} fell back, ${rep.calls.skipped} skipped after the flag went off; ` +
        `spent $${rep.spentUsd.toFixed(2)} (cap $${rep.capUsd}, hard limit $${rep.hardLimitUsd}); LLM flag rolled back: ${r.llmSpend.subFeatureRolledBack ? 'yes' : 'no'}`,
    );
  }
  if (r.asExpected) out.push('As expected.');
  else out.push(`NOT as expected:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        plan: { type: 'string' },
        stage: { type: 'string' },
        'reject-at': { type: 'string' },
        'bake-ms': { type: 'string' },
        'alarm-at': { type: 'string' },
        'llm-spend': { type: 'string' },
        'llm-cap-usd': { type: 'string' },
        json: { type: 'boolean', default: false },
        manual: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      allowPositionals: false,
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const bakeMs = args['bake-ms'] === undefined ? undefined : Number(args['bake-ms']);
  if (bakeMs !== undefined && (!Number.isInteger(bakeMs) || bakeMs < 0 || bakeMs > 60_000)) {
    fail(`--bake-ms must be a whole number of milliseconds from 0 to 60000, got ${JSON.stringify(args['bake-ms'])}`);
  }
  const usd = (name: 'llm-spend' | 'llm-cap-usd'): number | undefined => {
    const raw = args[name];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0 || value > 10_000) fail(`--${name} must be a number of US dollars above 0, got ${JSON.stringify(raw)}`);
    return value;
  };
  const llmSpendUsdPerHour = usd('llm-spend');
  const llmCapUsd = usd('llm-cap-usd');
  if (llmCapUsd !== undefined && llmSpendUsdPerHour === undefined) fail('--llm-cap-usd goes with --llm-spend');
  // The functions' own structured logs go to stderr, so stdout carries only the timeline or the JSON summary.
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  const restoreStdout = (): void => {
    process.stdout.write = stdoutWrite;
  };
  try {
    const result = await rehearse({
      planFile: args.plan,
      stage: args.stage,
      rejectAt: args['reject-at'],
      alarmAt: args['alarm-at'],
      llmSpendUsdPerHour,
      llmCapUsd,
      bakeMs,
      manual: args.manual,
      log: (line) => process.stderr.write(`rehearse: ${line}\n`),
    });
    restoreStdout();
    if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else printTimeline(result);
    process.exitCode = result.asExpected ? 0 : 1;
  } catch (err) {
    if (err instanceof RehearsalInputError || (err as Error).name === 'AppConfigError' || (err as Error).name === 'PlansInvalidError') {
      process.stderr.write(`rehearse: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  } finally {
    restoreStdout();
    await closeRehearsalResources();
  }
}

void main();
