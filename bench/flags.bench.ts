/**
 * Flag evaluation and the runtime package's weight:
 * - the Phasegate reader (names from the manifest Phasegate writes), against unleash-client evaluating the same
 *   gradual rollout (10 %, sticky on user id, same group id) from a local bootstrap; they agree on every user.
 *   Goal: the reader at least 3x faster per evaluation than unleash-client, with no I/O on the hot path.
 * - the OpenFeature provider through the OpenFeature client, against OpenFeature's own InMemoryProvider through
 *   the same client in the same run (the SDK's floor). Goal: within 1.5x of that floor.
 * - bundle sizes of each entry point as a target function bundles them (esbuild, minified, peers external).
 * Implementations are measured in alternating blocks, so that each sees the same machine load; the median block
 * is reported.
 */
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { InMemoryProvider, OpenFeature } from '@openfeature/server-sdk';
import { buildSync } from 'esbuild';
import { InMemStorageProvider, Unleash } from 'unleash-client';
import { phaseFlagValues } from '../lambdas/core/flags/flags';
import { loadPlanFile } from '../lambdas/core/plan/load';
import { bucketOf, createFlagReader } from '../runtime';
import { PhasegateProvider } from '../runtime/openfeature';

const USERS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const BLOCKS = 7;
const ROUNDS_PER_BLOCK = 4;
const FEATURE = 'cohort-analyzer';

interface Figure {
  readonly name: string;
  readonly nsPerEval: number;
  readonly enabledShare: number;
}

type Evaluator = { readonly name: string; readonly run: (userId: string) => boolean | Promise<boolean> };

/** Nanoseconds per evaluation of one block of `ROUNDS_PER_BLOCK` passes over the users. */
async function block(evaluate: Evaluator['run']): Promise<number> {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS_PER_BLOCK; r++) {
    for (const u of USERS) {
      const on = evaluate(u);
      if (typeof on === 'boolean' ? on : await on) sink++;
    }
  }
  const ns = Number(process.hrtime.bigint() - start) / (ROUNDS_PER_BLOCK * USERS.length);
  if (sink < 0) console.log(sink);
  return ns;
}

async function measureAll(evaluators: readonly Evaluator[]): Promise<Figure[]> {
  const shares: number[] = [];
  for (const e of evaluators) {
    let enabled = 0;
    for (const u of USERS) if (await e.run(u)) enabled++; // warm-up, and the share each implementation enables
    shares.push(enabled / USERS.length);
  }
  const samples: number[][] = evaluators.map(() => []);
  for (let b = 0; b < BLOCKS; b++) for (const [i, e] of evaluators.entries()) samples[i]!.push(await block(e.run));
  return evaluators.map((e, i) => {
    const sorted = [...samples[i]!].sort((x, y) => x - y);
    return { name: e.name, nsPerEval: sorted[Math.floor(sorted.length / 2)]!, enabledShare: shares[i]! };
  });
}

async function startUnleash(): Promise<Unleash> {
  const unleash = new Unleash({
    // Nothing listens here: the toggle comes from the bootstrap, and evaluations never touch the network.
    url: 'http://127.0.0.1:9/api/',
    appName: 'phasegate-bench',
    disableMetrics: true,
    refreshInterval: 0,
    storageProvider: new InMemStorageProvider(),
    bootstrap: {
      data: [
        {
          name: FEATURE,
          enabled: true,
          type: 'release',
          project: 'default',
          stale: false,
          impressionData: false,
          variants: [],
          strategies: [{ name: 'flexibleRollout', parameters: { rollout: '10', stickiness: 'userId', groupId: FEATURE }, constraints: [] }],
        },
      ] as never,
    },
  });
  unleash.on('error', () => undefined);
  await new Promise<void>((resolve) => unleash.once('ready', () => resolve()));
  return unleash;
}

/** Minified bundle of an entry point as a target function would bundle it, with its peers external. */
function bundleSize(entry: string, external: string[]): { bytes: number; gzip: number } {
  const out = buildSync({
    absWorkingDir: join(__dirname, '..'),
    entryPoints: [entry],
    bundle: true,
    minify: true,
    write: false,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external,
    logLevel: 'silent',
  }).outputFiles[0]!.contents;
  return { bytes: out.byteLength, gzip: gzipSync(out).byteLength };
}

export async function run(): Promise<void> {
  // The cohort-analyzer plan's ramp phase (10 % of everyone) exactly as Phasegate writes it: its variables are
  // renamed (ULTRA_FAST_ANALYZER_*), and the reader finds them through the manifest.
  const plan = loadPlanFile(join(__dirname, '..', 'rollouts', `${FEATURE}.json`));
  const env = phaseFlagValues(plan, 1);
  const reader = createFlagReader({ env });
  Object.assign(process.env, env);
  const envReader = createFlagReader();
  const snapshotReader = createFlagReader({ snapshot: true });

  await OpenFeature.setProviderAndWait('phasegate', new PhasegateProvider({ env }));
  await OpenFeature.setProviderAndWait(
    'in-memory',
    new InMemoryProvider({
      [FEATURE]: { variants: { on: true, off: false }, defaultVariant: 'off', disabled: false },
      split: {
        variants: { on: true, off: false },
        defaultVariant: 'off',
        disabled: false,
        contextEvaluator: (ctx) => (typeof ctx.targetingKey === 'string' && bucketOf(FEATURE, ctx.targetingKey) < 10 ? 'on' : 'off'),
      },
    }),
  );
  const phasegateClient = OpenFeature.getClient('phasegate');
  const memoryClient = OpenFeature.getClient('in-memory');
  const unleash = await startUnleash();

  let disagreements = 0;
  for (const u of USERS) if (reader.isEnabled(FEATURE, { userId: u }) !== unleash.isEnabled(FEATURE, { userId: u })) disagreements++;

  const readers = await measureAll([
    { name: 'phasegate reader (plain env object)', run: (u) => reader.isEnabled(FEATURE, { userId: u }) },
    { name: 'phasegate reader (process.env)', run: (u) => envReader.isEnabled(FEATURE, { userId: u }) },
    { name: 'phasegate reader (process.env, snapshot)', run: (u) => snapshotReader.isEnabled(FEATURE, { userId: u }) },
    { name: 'unleash-client (bootstrap, flexibleRollout 10%)', run: (u) => unleash.isEnabled(FEATURE, { userId: u }) },
  ]);
  const providers = await measureAll([
    { name: 'OpenFeature client + PhasegateProvider (10 % split)', run: (u) => phasegateClient.getBooleanValue(FEATURE, false, { targetingKey: u }) },
    { name: 'OpenFeature client + InMemoryProvider (static flag)', run: (u) => memoryClient.getBooleanValue(FEATURE, false, { targetingKey: u }) },
    { name: 'OpenFeature client + InMemoryProvider (same split)', run: (u) => memoryClient.getBooleanValue('split', false, { targetingKey: u }) },
  ]);
  unleash.destroy();
  await OpenFeature.close();

  const unleashNs = readers.at(-1)!.nsPerEval;
  console.log(`${USERS.length} users x ${ROUNDS_PER_BLOCK} rounds x ${BLOCKS} alternating blocks per implementation (median block), 10 % gradual rollout`);
  for (const f of readers) {
    console.log(
      `  ${f.name.padEnd(52)} ${f.nsPerEval.toFixed(0).padStart(7)} ns/eval  ${(1e3 / f.nsPerEval).toFixed(2).padStart(6)} M evals/s  ` +
        `enabled ${(f.enabledShare * 100).toFixed(1)} %  ${(unleashNs / f.nsPerEval).toFixed(1)}x unleash-client`,
    );
  }
  const ratio = unleashNs / readers[2]!.nsPerEval;
  console.log(
    `goal: reader >= 3x faster than unleash-client per evaluation -> ${ratio.toFixed(1)}x with the Lambda set-up ` +
      `(process.env snapshot) (${ratio >= 3 ? 'met' : 'NOT met'}); evaluations do no I/O`,
  );
  console.log(`agreement with unleash-client at 10 %: ${USERS.length - disagreements}/${USERS.length} users get the same answer`);

  const floorNs = providers[1]!.nsPerEval;
  for (const f of providers) {
    console.log(
      `  ${f.name.padEnd(52)} ${f.nsPerEval.toFixed(0).padStart(7)} ns/eval  enabled ${(f.enabledShare * 100).toFixed(1).padStart(5)} %  ` +
        `${(f.nsPerEval / floorNs).toFixed(2)}x the InMemoryProvider floor`,
    );
  }
  const overhead = providers[0]!.nsPerEval / floorNs;
  console.log(`goal: PhasegateProvider within 1.5x of OpenFeature's InMemoryProvider floor -> ${overhead.toFixed(2)}x (${overhead <= 1.5 ? 'met' : 'NOT met'})`);

  const sizes: [string, string, string[]][] = [
    ['@phasegate/runtime (reader)', 'runtime/index.ts', []],
    ['@phasegate/runtime/openfeature (provider + reader)', 'runtime/openfeature.ts', ['@openfeature/*']],
    ['@phasegate/runtime/llm-budget (guard)', 'runtime/llm-budget.ts', ['@aws-sdk/*']],
  ];
  console.log('bundle sizes (esbuild, minified, peers external):');
  for (const [name, entry, external] of sizes) {
    const { bytes, gzip } = bundleSize(entry, external);
    console.log(`  ${name.padEnd(52)} ${(bytes / 1024).toFixed(1).padStart(6)} KB  ${(gzip / 1024).toFixed(1).padStart(5)} KB gzip`);
  }
}
