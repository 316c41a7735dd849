/**
 * `npm run bench -- rollback`: how fast an alarm makes every target safe, for 1, 10 and 50 targets, with a
 * simulated latency L on every call to the Lambda configuration API (plus jitter in a second pass).
 *
 * What runs is the real path: the alarm event goes through `handleAlarmEvent` (the alarm-rollback function's core)
 * with the real DynamoDB store on an in-process dynalite, the real LambdaFlagWriter against the stateful fake
 * Lambda control plane, and the fake Step Functions for stopping the execution. Each target costs three calls in
 * sequence: GetFunctionConfiguration (RevisionId and current variables), UpdateFunctionConfiguration, and
 * GetFunctionConfiguration until LastUpdateStatus is Successful (here the first read after the update says so).
 * So one target's write takes at least 3 x L; the targets are written in parallel.
 */
import '../local/node-compat';
import { CloudWatchAlarmReader } from '../lambdas/adapters/cloudwatch-alarm-reader';
import { DynamoRolloutStore } from '../lambdas/adapters/dynamo-state-store';
import { LambdaFlagWriter } from '../lambdas/adapters/lambda-flag-writer';
import { SfnExecutionStopper } from '../lambdas/adapters/sfn-execution-stopper';
import { handleAlarmEvent } from '../lambdas/core/alarm-rollback';
import { alarmName } from '../lambdas/core/alarm-names';
import { offFlagValues } from '../lambdas/core/flags';
import type { RollbackPorts } from '../lambdas/core/operations';
import { parsePlan } from '../lambdas/core/plan/validate';
import { systemClock } from '../lambdas/core/ports';
import { applyPhaseStep, startRolloutStep, type StepPorts } from '../lambdas/core/steps';
import { createStateTable, localDynamoClient, startLocalDynamo } from '../local/dynamo';
import { FakeCloudWatch } from '../local/fakes/cloudwatch';
import { FakeLambdaControlPlane } from '../local/fakes/lambda-control-plane';
import { FakeStepFunctions } from '../local/fakes/step-functions';
import { alarmStateChangeEvent } from '../local/scenarios/alarm';

/** Simulated latency of one Lambda configuration API call, in ms. */
const L = 100;
/** Extra uniformly random latency per call in the jitter pass, in ms. */
const JITTER = 30;
/** Calls per target on the critical path: read, update, read-until-Successful. */
const CALLS_PER_TARGET = 3;
const TARGET_COUNTS = [1, 10, 50];
const REPEATS = 3;
/** Goal: Phasegate's own time (total minus the simulated API time on the critical path). */
const OVERHEAD_GOAL_MS = 50;

interface Sample {
  readonly targets: number;
  readonly jitterMs: number;
  /** Event received -> every UpdateFunctionConfiguration answered. */
  readonly writesIssuedMs: number;
  /** Event received -> every target Successful (the rollback's time-to-safe). */
  readonly allSuccessfulMs: number;
  /** Simulated API time of the slowest target (its three calls), measured from the fake's call log. */
  readonly apiCriticalPathMs: number;
  readonly handlerMs: number;
  /** Event received -> the first Lambda API call sent (DynamoDB reads and the conditional ROLLING_BACK write). */
  readonly beforeFirstCallMs: number;
  /** Of that, time spent in DynamoDB calls (the state read, the conditional write and its audit event). */
  readonly storeBeforeFirstCallMs: number;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function run(): Promise<void> {
  const dynamo = await startLocalDynamo();
  const tableName = 'phasegate-bench';
  await createStateTable(dynamo.endpoint, tableName);
  const lambda = new FakeLambdaControlPlane({ readsWhileInProgress: 0 }).install();
  const cloudwatch = new FakeCloudWatch().install();
  const sfn = new FakeStepFunctions().install();
  const client = localDynamoClient(dynamo.endpoint);
  const store = new DynamoRolloutStore(tableName, client);
  const flags = new LambdaFlagWriter();
  const stepPorts: StepPorts = { store, flags, alarms: new CloudWatchAlarmReader(), clock: systemClock };
  // The store as the handler uses it, timing every DynamoDB call so the overhead can be split into store and compute.
  const storeCalls: { start: number; end: number }[] = [];
  const timedStore = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const start = Date.now();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          storeCalls.push({ start, end: Date.now() });
        }
      };
    },
  });
  const ports: RollbackPorts = { store: timedStore, flags, clock: systemClock, stopper: new SfnExecutionStopper() };
  let n = 0;

  const once = async (targets: number, jitterMs: number): Promise<Sample> => {
    const feature = `bench-${++n}`;
    const plan = parsePlan({
      feature,
      targets: Array.from({ length: targets }, (_, i) => `${feature}-fn-${i}`),
      phases: [{ name: 'canary', roles: ['all'], percent: 5, bake: 'PT1H', gates: { errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } } }],
    });
    lambda.setLatency({});
    for (const t of plan.targets) lambda.addFunction(t, { LOG_LEVEL: 'info' });
    const executionArn = `arn:aws:states:us-east-1:123456789012:execution:phasegate-bench-${feature}:run`;
    sfn.registerExecution({ executionArn, stateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-bench-${feature}`, name: 'run', input: '{}' }, () => undefined);
    const payload = { plan, stage: 'bench', executionId: executionArn, startedBy: { id: 'bench', via: 'rehearsal' as const } };
    await startRolloutStep(stepPorts, payload);
    await applyPhaseStep(stepPorts, { ...payload, phaseIndex: 0 });

    lambda.setLatency({ latencyMs: L, jitterMs });
    const firstCall = lambda.calls.length;
    storeCalls.length = 0;
    const event = alarmStateChangeEvent({ alarmName: alarmName('bench', feature, 'error-rate') });
    const received = new Date();
    const outcome = await handleAlarmEvent(ports, { stage: 'bench', features: [feature] }, event, received);
    const handlerMs = Date.now() - received.getTime();
    if (outcome.outcome !== 'rolled-back') throw new Error(`bench: expected a rollback, got ${JSON.stringify(outcome)}`);
    for (const t of plan.targets) {
      const env = lambda.environmentOf(t);
      for (const [k, v] of Object.entries(offFlagValues(plan))) if (env[k] !== v) throw new Error(`bench: ${t} not safe`);
    }
    const calls = lambda.calls.slice(firstCall);
    const updates = calls.filter((c) => c.command === 'UpdateFunctionConfiguration');
    // The fake logs each call when it answers; a target's three calls are sequential, so the API time of a target
    // is from its first call's start (answer minus one call's latency is not known with jitter) to its last answer.
    // With no jitter every call takes exactly L, so the critical path is CALLS_PER_TARGET x L.
    const perTarget = plan.targets.map((t) => calls.filter((c) => c.functionName === t).length);
    return {
      targets,
      jitterMs,
      writesIssuedMs: Math.max(...updates.map((c) => c.at.getTime())) - received.getTime(),
      allSuccessfulMs: outcome.timeToSafeMs,
      apiCriticalPathMs: Math.max(...perTarget) * L,
      handlerMs,
      beforeFirstCallMs: Math.min(...calls.map((c) => c.at.getTime())) - L - received.getTime(),
      storeBeforeFirstCallMs: storeCalls
        .filter((c) => c.end <= Math.min(...calls.map((x) => x.at.getTime())) - L + 1)
        .reduce((sum, c) => sum + (c.end - c.start), 0),
    };
  };

  console.log(`Rollback latency, alarm event -> every target safe. L = ${L} ms per Lambda configuration API call`);
  console.log(`(each target: GetFunctionConfiguration + UpdateFunctionConfiguration + GetFunctionConfiguration until Successful = ${CALLS_PER_TARGET} calls = ${CALLS_PER_TARGET * L} ms at least).`);
  console.log(`Real DynamoDB store on dynalite; median of ${REPEATS} runs; targets written in parallel.\n`);
  const header = ['targets', 'jitter', 'writes issued', 'all Successful', 'serial would be', 'API critical path', 'Phasegate overhead', 'before 1st call (DynamoDB)', 'goals'];
  const rows: string[][] = [];
  for (const jitterMs of [0, JITTER]) {
    for (const targets of TARGET_COUNTS) {
      const samples: Sample[] = [];
      for (let i = 0; i < REPEATS; i++) samples.push(await once(targets, jitterMs));
      const issued = median(samples.map((s) => s.writesIssuedMs));
      const safe = median(samples.map((s) => s.allSuccessfulMs));
      const api = CALLS_PER_TARGET * L;
      // With jitter, the slowest target's calls take up to L + JITTER each: the API part is not exactly known, so
      // overhead is only reported for the jitter-free pass.
      const overhead = jitterMs === 0 ? safe - api : undefined;
      const before = median(samples.map((s) => s.beforeFirstCallMs));
      const beforeStore = median(samples.map((s) => s.storeBeforeFirstCallMs));
      const perTargetGoal = 1.5 * CALLS_PER_TARGET * L;
      const goals = [
        `safe <= 1.5 x (3L) = ${perTargetGoal} ms: ${safe <= perTargetGoal ? 'met' : 'MISSED'}`,
        ...(overhead !== undefined ? [`overhead < ${OVERHEAD_GOAL_MS} ms: ${overhead < OVERHEAD_GOAL_MS ? 'met' : 'MISSED'}`] : []),
      ];
      rows.push([
        String(targets),
        `${jitterMs} ms`,
        `${issued} ms`,
        `${safe} ms`,
        `${targets * api} ms`,
        `${api} ms`,
        overhead !== undefined ? `${overhead} ms` : '(n/a with jitter)',
        `${before} ms (${beforeStore} ms)`,
        goals.join('; '),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
  console.log(
    `\n"writes issued": the last UpdateFunctionConfiguration answered (2 calls into each target's write, so >= 2L). ` +
      `"all Successful": time-to-safe as the handler records it (>= 3L). Phasegate overhead = all Successful - 3L ` +
      `(DynamoDB conditional writes before the flag writes, scheduling of 50 parallel writes, the fakes' own work). ` +
      `"before 1st call": event received -> first Lambda call sent; in brackets the part spent waiting on DynamoDB ` +
      `(dynalite here: one consistent read, the conditional ROLLING_BACK write and its audit event).`,
  );

  lambda.restore();
  cloudwatch.restore();
  sfn.restore();
  client.destroy();
  await dynamo.stop();
}
