/**
 * `npm run bench -- discord`: the Discord interactions handler.
 *
 * - bundle: the esbuild bundle as the stack builds it (minified, AWS SDK external);
 * - cold start: module load to the first response, in a fresh Node process that requires that bundle and answers
 *   a signed Approve click: signature check, DynamoDB on dynalite, SendTaskSuccess to a local HTTP stub (the SDK
 *   and its HTTP stack load and connect for real);
 * - warm: p50/p99 of an Approve click through the handler, same work, after warm-up.
 */
import '../local/node-compat';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { DynamoRolloutStore } from '../lambdas/adapters/dynamo-state-store';
import { ENV } from '../lambdas/core/contract';
import { stagePlanOf } from '../lambdas/core/discord/directory';
import { approvalRequestMessage } from '../lambdas/core/discord/messages';
import type { Plan } from '../lambdas/core/plan/schema';
import { parsePlan } from '../lambdas/core/plan/validate';
import { approvalRequested, beginPhase, gateEvaluated, phaseApplied, startRollout, type RolloutState } from '../lambdas/core/rollout/rollout-state';
import { createStateTable, localDynamoClient, startLocalDynamo } from '../local/dynamo';
import { discordUser, localDiscordSettings, startLocalDiscord, type RecordedMessage } from '../local/discord';
import { FakeStepFunctions } from '../local/fakes/step-functions';

const ROOT = resolve(__dirname, '..');
const GOALS = { warmP99Ms: 50, coldMs: 300, bundleKb: 150 } as const;
const WARM_RUNS = 300;
const WARM_UP = 30;
const COLD_RUNS = 5;

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const mark = (ok: boolean): string => (ok ? 'ok' : 'OVER GOAL');

function plan(feature: string): Plan {
  return parsePlan(
    {
      feature,
      targets: [`${feature}-api`],
      phases: [
        { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] } },
        { name: 'ga', roles: ['all'], bake: 'PT1H', approval: { required: false } },
      ],
      discord: localDiscordSettings(),
    },
    { stage: 'bench' },
  );
}

/** Put a feature in "phase admin waits for approval" with the given task token, directly through the state store. */
async function waitingForApproval(store: DynamoRolloutStore, p: Plan, executionId: string, token: string): Promise<void> {
  let at = Date.now();
  const next = () => new Date(at++).toISOString();
  const started = startRollout(undefined, { plan: p, stage: 'bench', executionId, actor: { id: 'bench', via: 'cli' }, at: next() })!;
  await store.saveTransition(undefined, started);
  let state: RolloutState = started.next;
  const steps = [
    (s: RolloutState) => beginPhase(s, 0, next())!,
    (s: RolloutState) => phaseApplied(s, 0, next(), {})!,
    (s: RolloutState) => gateEvaluated(s, 0, next(), 'PROCEED', ['bench']),
    (s: RolloutState) => approvalRequested(s, 0, next())!,
  ];
  for (const step of steps) {
    const t = step(state);
    await store.saveTransition(state, t);
    state = t.next;
  }
  await store.putApprovalRequest({ feature: p.feature, executionId, phaseIndex: 0, phaseName: 'admin', taskToken: token, requestedAt: next() });
}

/** The approval request message the notifier would have posted, for the signer to click. */
function approvalMessage(feature: string, executionId: string): RecordedMessage {
  const m = approvalRequestMessage({ feature, stage: 'bench', executionId, phase: 'admin', approvers: ['pm'] });
  return { id: '1574000000000000099', channelId: '1', origin: 'bot', ephemeral: false, createdAt: new Date(), embeds: [...(m.embeds ?? [])], components: [...(m.components ?? [])], pending: false, deleted: false, history: [] };
}

/** A Function URL event for a signed interaction. */
function urlEvent(headers: Readonly<Record<string, string>>, body: string): Record<string, unknown> {
  return { version: '2.0', rawPath: '/', headers, body, isBase64Encoded: false, requestContext: { http: { method: 'POST', path: '/' } } };
}

/** A Step Functions stand-in over HTTP for the cold child process: every SendTaskSuccess succeeds. */
async function sfnStub(): Promise<{ url: string; calls: () => number; stop: () => Promise<void> }> {
  let calls = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls++;
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const CHILD = `
const t0 = performance.now();
const { handler } = require(process.env.BENCH_BUNDLE);
const loaded = performance.now();
handler(JSON.parse(process.env.BENCH_EVENT)).then((r) => {
  const t1 = performance.now();
  process.stdout.write('\\nBENCH_RESULT ' + JSON.stringify({ loadMs: loaded - t0, firstResponseMs: t1 - t0, status: r.statusCode, type: JSON.parse(r.body).type }) + '\\n');
}, (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

function runChild(env: Record<string, string>): Promise<{ loadMs: number; firstResponseMs: number; status: number; type: number }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      // The handler's own log lines go to stdout too, as in Lambda.
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code === 0 && line) resolvePromise(JSON.parse(line.slice('BENCH_RESULT '.length)));
      else reject(new Error(`cold start child failed (${code}): ${err}`));
    });
  });
}

/** Run the benchmark and print its figures next to the goals. */
export async function run(): Promise<void> {
  // ---- bundle
  const outdir = mkdtempSync(join(ROOT, 'node_modules', '.phasegate-bench-'));
  const built = buildSync({
    absWorkingDir: ROOT,
    entryPoints: ['lambdas/discord-interactions/index.ts'],
    bundle: true,
    minify: true,
    sourcemap: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: ['@aws-sdk/*'],
    outfile: join(outdir, 'index.js'),
    logLevel: 'silent',
    metafile: true,
  });
  const bundleBytes = built.metafile.outputs[Object.keys(built.metafile.outputs).find((k) => k.endsWith('index.js'))!]!.bytes;

  const dynamo = await startLocalDynamo();
  const tableName = 'phasegate-bench';
  await createStateTable(dynamo.endpoint, tableName);
  const client = localDynamoClient(dynamo.endpoint);
  const store = new DynamoRolloutStore(tableName, client);
  const pm = discordUser('Bench PM', ['pm']);

  // ---- cold start: a fresh process per run, the bundle as deployed
  const features = Array.from({ length: COLD_RUNS }, (_, i) => `cold-${i}`);
  const sfn = await sfnStub();
  const cold: { loadMs: number; firstResponseMs: number }[] = [];
  const coldDiscord = await startLocalDiscord({ stage: 'bench', plans: features.map(plan), tableName, dynamo: client });
  try {
    for (const feature of features) {
      const executionId = `arn:aws:states:us-east-1:123456789012:execution:phasegate-bench-${feature}:cold`;
      await waitingForApproval(store, plan(feature), executionId, `token-${feature}`);
      const click = coldDiscord.signer.click(pm, approvalMessage(feature, executionId), 'Approve');
      const result = await runChild({
        BENCH_BUNDLE: join(outdir, 'index.js'),
        BENCH_EVENT: JSON.stringify(urlEvent(click.headers, click.body)),
        NODE_PATH: join(ROOT, 'node_modules'),
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_SFN: sfn.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        AWS_LAMBDA_FUNCTION_NAME: 'phasegate-bench-discord-interactions',
        [ENV.tableName]: tableName,
        [ENV.stage]: 'bench',
        [ENV.plans]: JSON.stringify(features.map((f) => stagePlanOf(plan(f)))),
        [ENV.stateMachineArnPrefix]: 'arn:aws:states:us-east-1:123456789012:stateMachine:',
        [ENV.discordPublicKey]: coldDiscord.keys.publicKeyHex,
        [ENV.discordApiBaseUrl]: coldDiscord.api.baseUrl,
      });
      if (result.status !== 200 || result.type !== 7) throw new Error(`cold start: expected an UPDATE_MESSAGE answer, got HTTP ${result.status} type ${result.type}`);
      cold.push(result);
    }
  } finally {
    await coldDiscord.stop();
    await sfn.stop();
    rmSync(outdir, { recursive: true, force: true });
  }

  // ---- warm: the handler in this process, the same approve, DynamoDB on dynalite
  const warmFeatures = Array.from({ length: WARM_UP + WARM_RUNS }, (_, i) => `warm-${i}`);
  const fakeSfn = new FakeStepFunctions().install();
  const discord = await startLocalDiscord({ stage: 'bench', plans: warmFeatures.map(plan), tableName, dynamo: client, customize: (ports) => ({ ...ports, log: () => undefined }) });
  const samples: number[] = [];
  try {
    for (const [i, feature] of warmFeatures.entries()) {
      const executionId = `arn:aws:states:us-east-1:123456789012:execution:phasegate-bench-${feature}:warm`;
      const token = fakeSfn.issueToken({ executionArn: executionId });
      await waitingForApproval(store, plan(feature), executionId, token);
      const click = discord.signer.click(pm, approvalMessage(feature, executionId), 'Approve');
      const event = urlEvent(click.headers, click.body);
      const t0 = performance.now();
      const result = (await discord.handler(event)) as { statusCode: number; body: string };
      const ms = performance.now() - t0;
      if (result.statusCode !== 200 || (JSON.parse(result.body) as { type: number }).type !== 7) throw new Error(`warm: unexpected answer ${result.body}`);
      if (i >= WARM_UP) samples.push(ms);
    }
  } finally {
    await discord.stop();
    fakeSfn.restore();
    client.destroy();
    await dynamo.stop();
  }

  const sorted = [...samples].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  const coldSorted = cold.map((c) => c.firstResponseMs).sort((a, b) => a - b);
  const coldMedian = percentile(coldSorted, 50);
  const coldMax = coldSorted.at(-1)!;
  const loadMedian = percentile(cold.map((c) => c.loadMs).sort((a, b) => a - b), 50);
  const kb = bundleBytes / 1024;
  console.log(`discord-interactions bundle: ${kb.toFixed(1)} KB (minified, @aws-sdk external)            goal < ${GOALS.bundleKb} KB   ${mark(kb < GOALS.bundleKb)}`);
  console.log(
    `cold start, module load -> first approve response (${COLD_RUNS} fresh processes): median ${coldMedian.toFixed(0)} ms, max ${coldMax.toFixed(0)} ms ` +
      `(of which module load ${loadMedian.toFixed(0)} ms)   goal < ${GOALS.coldMs} ms   ${mark(coldMax < GOALS.coldMs)}`,
  );
  console.log(
    `warm approve click (signature + DynamoDB on dynalite + SendTaskSuccess, ${WARM_RUNS} runs): p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ` +
      `max ${sorted.at(-1)!.toFixed(1)} ms   goal p99 < ${GOALS.warmP99Ms} ms   ${mark(p99 < GOALS.warmP99Ms)}`,
  );
}
