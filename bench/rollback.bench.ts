/**
 * `npm run bench -- rollback`: how fast an alarm makes every target safe under Lambda's account quotas, for 10, 50
 * and 200 targets, alone and with another feature's phase apply competing for the same quota.
 *
 * What runs is the real path: the alarm event goes through `handleAlarmEvent` (the alarm-rollback function's core)
 * with the real DynamoDB store on an in-process dynalite, and the real LambdaFlagWriter with its own
 * LambdaCallScheduler and a DynamoRollbackActivity, against the stateful fake Lambda control plane with its quotas
 * on: 15 control-plane calls per second, burst 15, shared by every caller; GetFunction 100 per second (Lambda quotas
 * page, "Lambda API requests", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). Every update
 * stays InProgress for 1 s. A target costs one control-plane call (UpdateFunctionConfiguration), so N targets cannot
 * be safe in less than N / 15 s: the floor each time-to-safe is compared with.
 *
 * In the competing runs the apply-phase function's own writer and scheduler (sharing the DynamoRollbackActivity, so
 * it yields to the rollback) starts applying another feature's flags to its own N targets a moment before the
 * alarm. Each simulated function has its own scheduler, as on AWS: nothing is shared but the account's quota and the
 * stage's rollback marker.
 *
 * Real time throughout (it is a benchmark). Exits non-zero when a goal is missed.
 */
import '../local/node-compat';
import { CloudWatchAlarmReader } from '../lambdas/adapters/cloudwatch-alarm-reader';
import { DynamoRollbackActivity } from '../lambdas/adapters/dynamo-rollback-activity';
import { DynamoRolloutStore } from '../lambdas/adapters/dynamo-state-store';
import { LambdaCallScheduler, type LambdaQuota, type SchedulerStats } from '../lambdas/adapters/lambda-call-scheduler';
import { LambdaFlagWriter } from '../lambdas/adapters/lambda-flag-writer';
import { SfnExecutionStopper } from '../lambdas/adapters/sfn-execution-stopper';
import { handleAlarmEvent } from '../lambdas/core/rollback/alarm-rollback';
import { alarmName } from '../lambdas/core/gates/alarm-names';
import { offFlagValues, phaseFlagValues } from '../lambdas/core/flags/flags';
import type { Plan } from '../lambdas/core/plan/schema';
import { parsePlan } from '../lambdas/core/plan/validate';
import { systemClock } from '../lambdas/core/ports';
import type { RollbackPorts } from '../lambdas/core/rollback/rollback';
import { applyPhaseStep, startRolloutStep, type StepPorts } from '../lambdas/core/rollout/steps';
import { createStateTable, localDynamoClient, startLocalDynamo } from '../local/dynamo';
import { FakeCloudWatch } from '../local/fakes/cloudwatch';
import { FakeLambdaControlPlane } from '../local/fakes/lambda-control-plane';
import type { QuotaCounts } from '../local/fakes/lambda-quotas';
import { FakeStepFunctions } from '../local/fakes/step-functions';
import { alarmStateChangeEvent } from '../local/scenarios/alarm';

const STAGE = 'bench';
const TARGET_COUNTS = [10, 50, 200];
/** Lambda's control-plane quota, calls per second (Lambda quotas page, "Lambda API requests"). */
const CONTROL_PLANE_PER_SECOND = 15;
/** How long each update stays InProgress in the fake. */
const IN_PROGRESS_MS = 1000;
/** How long the competing apply runs before the alarm goes off. */
const APPLY_HEAD_START_MS = 300;
/**
 * Goals on time-to-safe / floor, alone and with an apply competing, from 50 targets up. Below that the floor (10
 * targets: 0.67 s) is shorter than one update's InProgress time, so the ratio says nothing about the scheduling.
 */
const GOAL_ALONE = 1.2;
const GOAL_COMPETING = 1.5;
const GOAL_FROM_TARGETS = 50;

interface Measurement {
  readonly targets: number;
  readonly competing: boolean;
  readonly timeToSafeMs: number;
  readonly floorMs: number;
  /** 429s the fake answered during the run, per quota bucket. */
  readonly throttled: Readonly<Record<'controlPlane' | 'getFunction', number>>;
  readonly rollbackScheduler: Readonly<Record<LambdaQuota, SchedulerStats>>;
  readonly applyScheduler?: Readonly<Record<LambdaQuota, SchedulerStats>>;
  /** The competing apply: how long it took in all, and how it ended. */
  readonly apply?: { readonly ms: number; readonly outcome: string };
  /** Control-plane calls the apply made before the rollback's last target was safe. */
  readonly applyCallsBeforeSafe?: number;
  readonly problems: readonly string[];
  readonly goal?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const fmtS = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

function rollbackPlan(feature: string, targets: number): Plan {
  return parsePlan({
    feature,
    targets: Array.from({ length: targets }, (_, i) => `${feature}-fn-${i}`),
    phases: [{ name: 'canary', roles: ['admin'], percent: 5, bake: 'PT1H', gates: { errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } } }],
  });
}

function applyPlan(feature: string, targets: number): Plan {
  return parsePlan({
    feature,
    targets: Array.from({ length: targets }, (_, i) => `${feature}-fn-${i}`),
    phases: [
      { name: 'canary', roles: ['admin'], percent: 5, bake: 'PT1H' },
      { name: 'ramp', roles: ['all'], percent: 50, bake: 'PT1H' },
    ],
  });
}

function subtractCounts(after: Record<string, QuotaCounts>, before: Record<string, QuotaCounts>): Record<'controlPlane' | 'getFunction', number> {
  return {
    controlPlane: after.controlPlane!.throttled - before.controlPlane!.throttled,
    getFunction: after.getFunction!.throttled - before.getFunction!.throttled,
  };
}

export async function run(): Promise<void> {
  const dynamo = await startLocalDynamo();
  const tableName = 'phasegate-bench';
  await createStateTable(dynamo.endpoint, tableName);
  const lambda = new FakeLambdaControlPlane({ inProgressMs: IN_PROGRESS_MS }).install();
  const cloudwatch = new FakeCloudWatch().install();
  const sfn = new FakeStepFunctions().install();
  const client = localDynamoClient(dynamo.endpoint);
  const store = new DynamoRolloutStore(tableName, client);
  const activity = new DynamoRollbackActivity(tableName, client);
  /** A simulated function's writer: its own scheduler, the stage's rollback marker. */
  const functionWriter = (): LambdaFlagWriter =>
    new LambdaFlagWriter(undefined, { scheduler: new LambdaCallScheduler({ rollbackActivity: activity }), rollbackActivity: activity });
  let n = 0;

  /** Wait until the account's buckets are full again, so each run starts from the same quota. */
  const quotaRested = async (): Promise<void> => {
    while (lambda.quotas.available('controlPlane') < CONTROL_PLANE_PER_SECOND - 1e-6 || lambda.quotas.available('getFunction') < 100 - 1e-6) await sleep(50);
  };

  const once = async (targets: number, competing: boolean): Promise<Measurement> => {
    const id = ++n;
    const plan = rollbackPlan(`rb-${id}`, targets);
    // The targets already serve phase canary's flags, so the setup's apply only reads them (GetFunction) and spends
    // none of the control-plane quota the measurement is about.
    for (const t of plan.targets) lambda.addFunction(t, { LOG_LEVEL: 'info', ...phaseFlagValues(plan, 0) });
    const executionArn = `arn:aws:states:us-east-1:123456789012:execution:phasegate-${STAGE}-${plan.feature}:run`;
    sfn.registerExecution(
      { executionArn, stateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-${STAGE}-${plan.feature}`, name: 'run', input: '{}' },
      () => undefined,
    );
    const setupPorts: StepPorts = { store, flags: functionWriter(), alarms: new CloudWatchAlarmReader(), clock: systemClock };
    const payload = { plan, stage: STAGE, executionId: executionArn, startedBy: { id: 'bench', via: 'rehearsal' as const } };
    await startRolloutStep(setupPorts, payload);
    await applyPhaseStep(setupPorts, { ...payload, phaseIndex: 0 });

    const other = competing ? applyPlan(`ap-${id}`, targets) : undefined;
    for (const t of other?.targets ?? []) lambda.addFunction(t, { LOG_LEVEL: 'info' });
    await quotaRested();

    const problems: string[] = [];
    const rollbackWriter = functionWriter();
    const applyWriter = other ? functionWriter() : undefined;
    const ports: RollbackPorts = { store, flags: rollbackWriter, clock: systemClock, stopper: new SfnExecutionStopper() };
    const countsBefore = lambda.quotas.counts;
    const callsBefore = lambda.calls.length;

    let applyRun: Promise<{ ms: number; outcome: string }> | undefined;
    if (other && applyWriter) {
      const started = Date.now();
      applyRun = applyWriter.applyAll(other.targets, phaseFlagValues(other, 0)).then(
        (r) => ({ ms: Date.now() - started, outcome: `ok, ${r.results.length} targets` }),
        (err: unknown) => ({ ms: Date.now() - started, outcome: `failed: ${(err as Error).message}` }),
      );
      await sleep(APPLY_HEAD_START_MS);
    }

    const received = new Date();
    const event = alarmStateChangeEvent({ alarmName: alarmName(STAGE, plan.feature, 'error-rate'), at: received });
    const outcome = await handleAlarmEvent(ports, { stage: STAGE, features: [plan.feature] }, event, received);
    const safeAt = Date.now();
    const apply = applyRun ? await applyRun : undefined;
    const countsAfter = lambda.quotas.counts;

    let timeToSafeMs = Number.NaN;
    if (outcome.outcome !== 'rolled-back') problems.push(`the rollback ended ${outcome.outcome}: ${JSON.stringify(outcome).slice(0, 300)}`);
    else {
      timeToSafeMs = outcome.timeToSafeMs;
      const failed = outcome.targets.filter((t) => !t.ok);
      if (failed.length > 0) problems.push(`${failed.length} target(s) reported not ok`);
    }
    // Every target's own environment, not the handler's word for it.
    const off = offFlagValues(plan);
    const unsafe = plan.targets.filter((t) => {
      const env = lambda.environmentOf(t);
      return Object.entries(off).some(([k, v]) => env[k] !== v) || env.LOG_LEVEL !== 'info';
    });
    if (unsafe.length > 0) problems.push(`${unsafe.length} target(s) not safe: ${unsafe.slice(0, 3).join(', ')}`);
    if (other && apply) {
      if (!apply.outcome.startsWith('ok')) problems.push(`the competing apply ${apply.outcome}`);
      const wanted = phaseFlagValues(other, 0);
      const notApplied = other.targets.filter((t) => Object.entries(wanted).some(([k, v]) => lambda.environmentOf(t)[k] !== v));
      if (notApplied.length > 0) problems.push(`the competing apply left ${notApplied.length} target(s) without its flags`);
    }
    const applyCallsBeforeSafe = other
      ? lambda.calls
          .slice(callsBefore)
          .filter((c) => c.command === 'UpdateFunctionConfiguration' && c.outcome === 'ok' && c.functionName.startsWith(`${other.feature}-`) && c.at.getTime() <= safeAt).length
      : undefined;

    return {
      targets,
      competing,
      timeToSafeMs,
      floorMs: (targets / CONTROL_PLANE_PER_SECOND) * 1000,
      throttled: subtractCounts(countsAfter, countsBefore),
      rollbackScheduler: rollbackWriter.scheduler.stats(),
      ...(applyWriter ? { applyScheduler: applyWriter.scheduler.stats() } : {}),
      ...(apply ? { apply } : {}),
      ...(applyCallsBeforeSafe !== undefined ? { applyCallsBeforeSafe } : {}),
      problems,
      ...(targets >= GOAL_FROM_TARGETS ? { goal: competing ? GOAL_COMPETING : GOAL_ALONE } : {}),
    };
  };

  console.log(
    `Rollback time-to-safe under Lambda's quotas: alarm event -> every target safe, as the alarm handler records it.\n` +
      `Fake Lambda: control plane ${CONTROL_PLANE_PER_SECOND}/s burst 15 (shared), GetFunction 100/s, each update InProgress ${IN_PROGRESS_MS} ms.\n` +
      `Floor: N / ${CONTROL_PLANE_PER_SECOND} s (one UpdateFunctionConfiguration per target). Goals: ratio <= ${GOAL_ALONE} alone ` +
      `and <= ${GOAL_COMPETING} with a phase apply of another feature competing (${GOAL_FROM_TARGETS} targets and up); every target safe.\n`,
  );
  const results: Measurement[] = [];
  for (const targets of TARGET_COUNTS) {
    for (const competing of [false, true]) {
      const m = await once(targets, competing);
      results.push(m);
      const ratio = m.timeToSafeMs / m.floorMs;
      const met = m.goal === undefined ? undefined : Number.isFinite(ratio) && ratio <= m.goal && m.problems.length === 0;
      const fake429 = m.throttled.controlPlane + m.throttled.getFunction;
      const goalText = m.goal === undefined ? '(no ratio goal below 50 targets)' : `(goal <= ${m.goal}: ${met ? 'met' : 'MISSED'})`;
      console.log(
        `rollback ${targets} targets ${competing ? 'with a competing apply' : 'alone'}: time-to-safe ${fmtS(m.timeToSafeMs)}, floor ${fmtS(m.floorMs)}, ` +
          `ratio ${ratio.toFixed(2)} ${goalText}, 429s ${fake429}`,
      );
      const sched = (s: Readonly<Record<LambdaQuota, SchedulerStats>>): string =>
        `control-plane ${s['control-plane'].calls} calls / ${s['control-plane'].throttled} 429s (rate now ${s['control-plane'].ratePerSecond.toFixed(1)}/s), ` +
        `get-function ${s['get-function'].calls} calls / ${s['get-function'].throttled} 429s`;
      console.log(`    fake 429s: control plane ${m.throttled.controlPlane}, GetFunction ${m.throttled.getFunction}`);
      console.log(`    rollback scheduler: ${sched(m.rollbackScheduler)}`);
      if (m.applyScheduler) console.log(`    apply scheduler:    ${sched(m.applyScheduler)}`);
      if (m.apply) console.log(`    competing apply: ${m.apply.outcome} in ${fmtS(m.apply.ms)}; ${m.applyCallsBeforeSafe} of its updates went before the rollback was safe`);
      for (const p of m.problems) console.log(`    PROBLEM: ${p}`);
    }
  }

  const missed = results.filter((m) => m.problems.length > 0 || (m.goal !== undefined && !(m.timeToSafeMs / m.floorMs <= m.goal)));
  console.log('');
  if (missed.length === 0) console.log('rollback: every goal met, every target safe, nothing reported failed.');
  else {
    console.log(
      `rollback: ${missed.length} goal(s) MISSED: ${missed.map((m) => `${m.targets} targets ${m.competing ? 'competing' : 'alone'}`).join('; ')}. Exiting non-zero.`,
    );
    process.exitCode = 1;
  }

  lambda.restore();
  cloudwatch.restore();
  sfn.restore();
  client.destroy();
  await dynamo.stop();
}
