/**
 * `npm run bench -- budget`: what the LLM budget guard adds to a call (one reserve and one settle on dynalite,
 * in process), what a refused call costs, and the overshoot of 200 concurrent reservations against a small cap.
 * dynalite is slower than DynamoDB per request but has no network: the figures are the guard's own work plus a
 * local round trip, not a production latency.
 */
import { performance } from 'node:perf_hooks';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { reserveUpdate, settleUpdate } from '../lambdas/adapters/dynamo-budget-item';
import { DynamoLlmBudgetStore } from '../lambdas/adapters/dynamo-budget-store';
import { LLM_BUDGET } from '../lambdas/core/contract';
import { dailyCapVariable, subFeatureKey } from '../lambdas/core/flags/flags';
import { createLlmBudget, type LlmBudget } from '../runtime/llm-budget';
import { createStateTable, localDynamoClient, startLocalDynamo } from '../local/dynamo';

const SUB = 'llm-parsing';
const LATENCY_CALLS = 1000;
const REFUSED_CALLS = 300;
const CONCURRENT = 200;
const TRIALS = 5;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, mean ${mean.toFixed(2)} ms (n=${samples.length})`;
}

/** Prints the guard's added latency per call and the overshoot under concurrency. */
export async function run(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dynamo = await startLocalDynamo();
  const tableName = 'phasegate-bench-budget';
  await createStateTable(dynamo.endpoint, tableName);
  const client = localDynamoClient(dynamo.endpoint);
  const store = new DynamoLlmBudgetStore(tableName, client);
  const guardFor = (feature: string, capUsd: number): LlmBudget =>
    createLlmBudget({
      env: { [LLM_BUDGET.tableNameEnv]: tableName, [dailyCapVariable(subFeatureKey(feature, SUB))]: String(capUsd) },
      client,
      emitMetric: () => undefined,
    });
  const instant = async () => ({ value: null, costUsd: 0.004 });

  try {
    // Added latency: the LLM call itself takes no time, so all that is measured is reserve + settle. Interleaved
    // with the same two requests sent bare (no guard) and with one minimal UpdateItem, so that all three see the
    // same machine load: on dynalite the requests dominate (it parses every expression), not the guard's code.
    const guard = guardFor('bench-latency', 1_000_000);
    for (let i = 0; i < 50; i++) await guard.withLlmBudget({ feature: 'bench-latency', subFeature: SUB, estimateUsd: 0.01 }, instant);
    const ref = { feature: 'bench-bare', subFeature: SUB, day: new Date().toISOString().slice(0, 10) };
    const added: number[] = [];
    const bare: number[] = [];
    const minimal: number[] = [];
    for (let i = 0; i < LATENCY_CALLS; i++) {
      let t0 = performance.now();
      const result = await guard.withLlmBudget({ feature: 'bench-latency', subFeature: SUB, estimateUsd: 0.01 }, instant);
      added.push(performance.now() - t0);
      if (!result.ok) throw new Error(`bench call refused: ${result.reason}`);

      const reservation = { id: `bare${i}`, micros: 10_000, reservedAt: Date.now(), expiresAt: Date.now() + 60_000 };
      t0 = performance.now();
      await client.send(new UpdateItemCommand({ TableName: tableName, ...reserveUpdate(ref, reservation, 1e12) }));
      await client.send(new UpdateItemCommand({ TableName: tableName, ...settleUpdate(ref, reservation, 4_000) }));
      bare.push(performance.now() - t0);

      t0 = performance.now();
      await client.send(
        new UpdateItemCommand({ TableName: tableName, Key: { pk: { S: 'bench' }, sk: { S: 'counter' } }, UpdateExpression: 'ADD n :one', ExpressionAttributeValues: { ':one': { N: '1' } } }),
      );
      minimal.push(performance.now() - t0);
    }
    console.log(`guard added latency per call (reserve + settle): ${summary(added)}`);
    console.log(`  the same reserve + settle requests without the guard: ${summary(bare)}`);
    console.log(`  one minimal UpdateItem (ADD n :one) on dynalite: ${summary(minimal)}`);

    // A refused call: the failed conditional reserve, plus the read that checks for expired reservations
    // (real DynamoDB returns the item with the failure, ReturnValuesOnConditionCheckFailure, so no read there).
    const exhausted = guardFor('bench-refused', 0.01);
    await exhausted.withLlmBudget({ feature: 'bench-refused', subFeature: SUB, estimateUsd: 0.01 }, instant);
    const refused: number[] = [];
    for (let i = 0; i < REFUSED_CALLS; i++) {
      const t0 = performance.now();
      const result = await exhausted.withLlmBudget({ feature: 'bench-refused', subFeature: SUB, estimateUsd: 0.01 }, instant);
      refused.push(performance.now() - t0);
      if (result.ok) throw new Error('bench call should have been refused');
    }
    console.log(`refused call (budget exhausted, falls back): ${summary(refused)}`);

    // Overshoot: 200 reservations at once against a $0.50 cap with $0.01 estimates; every call that got
    // through holds its reservation until all 200 have been answered, then settles its full estimate.
    let worstOvershootMicros = 0;
    const ran: number[] = [];
    const wall: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const feature = `bench-concurrent-${trial}`;
      const guard = guardFor(feature, 0.5);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let answered = 0;
      let admitted = 0;
      const t0 = performance.now();
      const calls = Array.from({ length: CONCURRENT }, () =>
        guard
          .withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, async () => {
            admitted++;
            if (++answered === CONCURRENT) release();
            await gate;
            return { value: null, costUsd: 0.01 };
          })
          .then((result) => {
            if (!result.ok && ++answered === CONCURRENT) release();
            return result;
          }),
      );
      const results = await Promise.all(calls);
      wall.push(performance.now() - t0);
      const day = (await store.getDay(feature, SUB, new Date().toISOString().slice(0, 10)))!;
      worstOvershootMicros = Math.max(worstOvershootMicros, day.spentMicros + day.reservedMicros - day.capMicros);
      ran.push(results.filter((r) => r.ok).length);
      if (admitted !== ran[ran.length - 1]) throw new Error('admitted and settled calls differ');
    }
    console.log(
      `${CONCURRENT} concurrent reservations, $0.50 cap, $0.01 each (${TRIALS} trials): ${ran.join(', ')} ran (50 fit); ` +
        `overshoot $${(Math.max(0, worstOvershootMicros) / 1e6).toFixed(6)} (goal: $0); ${summary(wall).replace(/ \(n=\d+\)/, '')} per burst`,
    );
  } finally {
    client.destroy();
    await dynamo.stop();
  }
}
