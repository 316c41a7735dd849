/**
 * `npm run bench`: every benchmark, one after another, each printing its figures. Goals are printed next to
 * the figures; a benchmark that misses a goal it must meet sets a non-zero `process.exitCode`, and the run exits
 * with it after every chosen benchmark ran. `npm run bench -- <name>` runs one (discord, rollback, budget, flags, drift, scale).
 */
import '../local/node-compat';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

interface Benchmark {
  readonly name: string;
  readonly run: () => Promise<void>;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const files = readdirSync(__dirname).filter((f) => f.endsWith('.bench.ts')).sort();
  const benches: Benchmark[] = files.map((f) => ({ name: f.replace(/\.bench\.ts$/, ''), run: (require(join(__dirname, f)) as { run: () => Promise<void> }).run }));
  const chosen = only.length > 0 ? benches.filter((b) => only.includes(b.name)) : benches;
  if (chosen.length === 0) {
    console.error(`no benchmark named ${only.join(', ')} (have: ${benches.map((b) => b.name).join(', ')})`);
    process.exit(2);
  }
  for (const bench of chosen) {
    console.log(`\n== ${bench.name} ==`);
    await bench.run();
  }
}

void main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
