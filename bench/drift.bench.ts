/**
 * Drift repair under Lambda's quotas: a `sam deploy` of a target stack replaces the environment of all 10 targets of a
 * feature that is baking, CloudTrail reports one event per function, and each event invokes the reconcile handler
 * (real code, dynalite, the Lambda fake with its 15 req/s control-plane quota and updates InProgress for a while).
 * Measured: event -> the flags back on that target, and the worst over the 10. Goal: under 5 s for 10 targets.
 */
import { DynamoDriftLedger } from '../lambdas/adapters/dynamo-drift-ledger';
import { DynamoRolloutStore } from '../lambdas/adapters/dynamo-state-store';
import { LambdaFlagWriter } from '../lambdas/adapters/lambda-flag-writer';
import { handleReconcileEvent } from '../lambdas/core/drift/drift-events';
import { phaseFlagValues } from '../lambdas/core/flags/flags';
import { parsePlan } from '../lambdas/core/plan/validate';
import { systemClock } from '../lambdas/core/ports';
import { applyPhaseStep, startRolloutStep } from '../lambdas/core/rollout/steps';
import { createStateTable, localDynamoClient, startLocalDynamo } from '../local/dynamo';
import { FakeLambdaControlPlane } from '../local/fakes/lambda-control-plane';
import { lambdaApiCallEvent, redeployTarget } from '../local/scenarios/drift';

const TARGETS = 10;
const GOAL_MS = 5_000;
/** How long a configuration update stays InProgress (the deploy's, and Phasegate's repair). */
const IN_PROGRESS_MS = 1_000;

export async function run(): Promise<void> {
  const dynamo = await startLocalDynamo();
  await createStateTable(dynamo.endpoint, 'phasegate-bench-drift');
  const lambda = new FakeLambdaControlPlane({ inProgressMs: IN_PROGRESS_MS }).install();
  const client = localDynamoClient(dynamo.endpoint);
  try {
    const store = new DynamoRolloutStore('phasegate-bench-drift', client);
    const plan = parsePlan({
      feature: 'drift-bench',
      targets: Array.from({ length: TARGETS }, (_, i) => `drift-bench-${i}`),
      phases: [{ name: 'canary', roles: ['admin'], percent: 10, bake: 'PT1H' }],
    });
    for (const t of plan.targets) lambda.addFunction(t, { LOG_LEVEL: 'info' });
    const flags = new LambdaFlagWriter();
    const ports = { store, flags, clock: systemClock, alarms: { alarmsInAlarm: async () => [] } };
    const payload = { plan, stage: 'bench', executionId: 'arn:aws:states:us-east-1:123456789012:execution:phasegate-bench-drift-bench:1', startedBy: { id: 'bench', via: 'rehearsal' as const } };
    await startRolloutStep(ports, payload);
    await applyPhaseStep(ports, { ...payload, phaseIndex: 0 });
    await new Promise((r) => setTimeout(r, 1_100)); // quota buckets full again

    // The deploy: every target's environment replaced at once (one UpdateFunctionConfiguration each).
    const deployedAt = new Date();
    await Promise.all(plan.targets.map((t) => redeployTarget(t, { LOG_LEVEL: 'debug' })));
    // One reconcile invocation per CloudTrail event, concurrently, each with its own writer (its own execution environment).
    const context = { stage: 'bench', features: [plan.feature], ownRoles: [] };
    const times = await Promise.all(
      plan.targets.map(async (t) => {
        const event = lambdaApiCallEvent({ functionName: t, at: deployedAt });
        const receivedAt = new Date();
        const outcome = await handleReconcileEvent(
          { store, flags: new LambdaFlagWriter(), clock: systemClock, ledger: new DynamoDriftLedger('phasegate-bench-drift', client) },
          context,
          event,
          receivedAt,
        );
        const ok = outcome.outcome === 'reconciled' && outcome.features[0]?.outcome === 'repaired';
        return { target: t, ok, ms: Date.now() - receivedAt.getTime() };
      }),
    );
    const expected = phaseFlagValues(plan, 0);
    const allBack = plan.targets.every((t) => Object.entries(expected).every(([k, v]) => lambda.environmentOf(t)[k] === v) && lambda.environmentOf(t).LOG_LEVEL === 'debug');
    const worst = Math.max(...times.map((t) => t.ms));
    const sorted = times.map((t) => t.ms).sort((a, b) => a - b);
    const throttled = lambda.calls.filter((c) => c.outcome !== 'ok' && /TooManyRequests/.test(c.outcome)).length;
    console.log(`drift repair, ${TARGETS} targets redeployed at once (updates InProgress ${IN_PROGRESS_MS} ms, Lambda API quota 15 req/s):`);
    console.log(`  event -> flags back: median ${sorted[Math.floor(sorted.length / 2)]} ms, worst ${worst} ms (goal < ${GOAL_MS} ms) ${worst < GOAL_MS && allBack ? 'OK' : 'MISSED'}`);
    console.log(`  every target repaired: ${times.every((t) => t.ok) && allBack ? 'yes' : 'NO'}; the deploy's own variables kept: ${allBack ? 'yes' : 'NO'}; 429s: ${throttled}`);
    if (worst >= GOAL_MS || !allBack) process.exitCode = 1;
  } finally {
    lambda.restore();
    client.destroy();
    await dynamo.stop();
  }
}
