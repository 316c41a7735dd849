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
        json: { type: 'boolean', default: false },
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
  try {
    const result = await rehearse({ planFile: args.plan, stage: args.stage, rejectAt: args['reject-at'], bakeMs });
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
    await closeRehearsalResources();
  }
}

void main();
