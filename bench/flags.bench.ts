/**
 * Flag evaluation throughput: the Phasegate runtime reader, the OpenFeature provider over it, and
 * unleash-client evaluating an equivalent gradual-rollout flag (10 % of users, sticky on user id) from a local
 * bootstrap. One run, same machine, same user ids. Goal: the reader at least 3x faster per evaluation than
 * unleash-client, with no I/O on the hot path.
 */
import { OpenFeature } from '@openfeature/server-sdk';
import { InMemStorageProvider, Unleash } from 'unleash-client';
import { createFlagReader } from '../runtime';
import { PhasegateProvider } from '../runtime/openfeature';

const USERS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const ROUNDS = 30;
const FEATURE = 'cohort-analyzer';
const ENV = { COHORT_ANALYZER_ENABLED: 'true', COHORT_ANALYZER_ROLES: '*', COHORT_ANALYZER_PERCENT: '10' };

interface Figure {
  readonly name: string;
  readonly nsPerEval: number;
  readonly perSecond: number;
  readonly enabledShare: number;
}

async function measure(name: string, evaluate: (userId: string) => boolean | Promise<boolean>): Promise<Figure> {
  let enabled = 0;
  for (const u of USERS) if (await evaluate(u)) enabled++; // warm-up, and the share each implementation enables
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) for (const u of USERS) if (await evaluate(u)) sink++;
  const ns = Number(process.hrtime.bigint() - start) / (ROUNDS * USERS.length);
  if (sink < 0) console.log(sink);
  return { name, nsPerEval: ns, perSecond: 1e9 / ns, enabledShare: enabled / USERS.length };
}

function syncMeasure(name: string, evaluate: (userId: string) => boolean): Figure {
  let enabled = 0;
  for (const u of USERS) if (evaluate(u)) enabled++;
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) for (const u of USERS) if (evaluate(u)) sink++;
  const ns = Number(process.hrtime.bigint() - start) / (ROUNDS * USERS.length);
  if (sink < 0) console.log(sink);
  return { name, nsPerEval: ns, perSecond: 1e9 / ns, enabledShare: enabled / USERS.length };
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

export async function run(): Promise<void> {
  const reader = createFlagReader({ env: ENV });
  process.env.COHORT_ANALYZER_ENABLED = ENV.COHORT_ANALYZER_ENABLED;
  process.env.COHORT_ANALYZER_ROLES = ENV.COHORT_ANALYZER_ROLES;
  process.env.COHORT_ANALYZER_PERCENT = ENV.COHORT_ANALYZER_PERCENT;
  const envReader = createFlagReader();
  const snapshotReader = createFlagReader({ snapshot: true });
  await OpenFeature.setProviderAndWait('bench', new PhasegateProvider({ env: ENV }));
  const client = OpenFeature.getClient('bench');
  const unleash = await startUnleash();

  const figures = [
    syncMeasure('phasegate reader (plain env object)', (u) => reader.isEnabled(FEATURE, { userId: u })),
    syncMeasure('phasegate reader (process.env)', (u) => envReader.isEnabled(FEATURE, { userId: u })),
    syncMeasure('phasegate reader (process.env, snapshot)', (u) => snapshotReader.isEnabled(FEATURE, { userId: u })),
    await measure('OpenFeature + PhasegateProvider', (u) => client.getBooleanValue(FEATURE, false, { targetingKey: u })),
    syncMeasure('unleash-client (bootstrap, flexibleRollout 10%)', (u) => unleash.isEnabled(FEATURE, { userId: u })),
  ];
  unleash.destroy();
  await OpenFeature.close();

  const unleashNs = figures.at(-1)!.nsPerEval;
  console.log(`${USERS.length} users x ${ROUNDS} rounds per implementation, 10 % gradual rollout`);
  for (const f of figures) {
    console.log(
      `  ${f.name.padEnd(48)} ${f.nsPerEval.toFixed(0).padStart(7)} ns/eval  ${(f.perSecond / 1e6).toFixed(2).padStart(6)} M evals/s  ` +
        `enabled ${(f.enabledShare * 100).toFixed(1)} %  ${(unleashNs / f.nsPerEval).toFixed(1)}x unleash-client`,
    );
  }
  const ratio = unleashNs / figures[2]!.nsPerEval;
  console.log(
    `goal: reader >= 3x faster than unleash-client per evaluation -> ${ratio.toFixed(1)}x with the Lambda set-up ` +
      `(process.env snapshot) (${ratio >= 3 ? 'met' : 'NOT met'}); evaluations do no I/O`,
  );
}
