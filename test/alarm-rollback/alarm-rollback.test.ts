import { CloudWatchMetricsReader } from '../../lambdas/adapters/cloudwatch-metrics-reader';
import { SfnExecutionStopper } from '../../lambdas/adapters/sfn-execution-stopper';
import { alarmActor, handleAlarmEvent, handleContinuation, parseContinuation, type AlarmRollbackContext } from '../../lambdas/core/rollback/alarm-rollback';
import { DynamoRolloutStore } from '../../lambdas/adapters/dynamo-state-store';
import { MAX_ROLLBACK_CONTINUATIONS, ROLLBACK_CONTINUATION_KIND, type RollbackContinuationRequest } from '../../lambdas/core/rollback/rollback';
import { rollbackFinished, rollbackStarted, type AuditEvent, type RolloutState } from '../../lambdas/core/rollout/rollout-state';
import { localDynamoClient } from '../../local/dynamo';
import { parseTarget } from '../../lambdas/core/flags/target';
import { alarmName } from '../../lambdas/core/gates/alarm-names';
import { offFlagValues, phaseFlagValues, subFeatureOffValues } from '../../lambdas/core/flags/flags';
import { decide, rollBack, type Person, type RollbackPorts } from '../../lambdas/core/rollout/operations';
import type { Plan } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import type { MetricSink, PhasegateMetric, RolloutNotification, RolloutStore } from '../../lambdas/core/ports';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, gateStep, requestApprovalStep, rollbackStep, startRolloutStep, type StepPorts } from '../../lambdas/core/rollout/steps';
import { alarmStateChangeEvent } from '../../local/scenarios/alarm';
import { startLocalAws, type LocalAws } from '../support/local-aws';

const priya: Person = { id: 'u-priya', name: 'Priya', via: 'discord', roles: ['pm'] };
const STAGE = 'dev';
let aws: LocalAws;
let n = 0;
let notes: RolloutNotification[];
let metrics: PhasegateMetric[];
let ports: StepPorts & RollbackPorts & { tokens: LocalAws['ports']['tokens'] };
let context: AlarmRollbackContext;
const features: string[] = [];

beforeAll(async () => {
  aws = await startLocalAws({ lambda: { readsWhileInProgress: 1 } });
});
afterAll(async () => aws.stop());
beforeEach(() => {
  notes = [];
  metrics = [];
  const sink: MetricSink = { put: (m) => metrics.push(m) };
  ports = {
    ...aws.ports,
    metrics: new CloudWatchMetricsReader(),
    stopper: new SfnExecutionStopper(),
    metricSink: sink,
    notifier: { notify: async (x) => void notes.push(x) },
  };
  context = { stage: STAGE, features };
});

/** A plan over two targets (or `targets` of them): error rate tightens per phase; an LLM sub-feature comes on in the last phase. */
function llmPlan(feature: string, options: { targets?: number; rollbackTo?: 'off' | 'previous-phase'; alias?: string } = {}): Plan {
  return parsePlan({
    feature,
    targets: options.targets
      ? Array.from({ length: options.targets }, (_, i) => `${feature}-fn-${i}`)
      : [`${feature}-api${options.alias ? `:${options.alias}` : ''}`, `${feature}-worker`],
    ...(options.rollbackTo ? { rollback: { to: options.rollbackTo } } : {}),
    flags: { enabled: { name: 'DISABLE_X', inverted: true } },
    subFeatures: [{ id: 'llm-parsing', llm: { dailyCapUsd: 5, hardLimitUsd: 10 } }],
    phases: [
      { name: 'admin', roles: ['admin'], bake: 'PT1H', gates: { errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 } } },
      { name: 'llm-canary', roles: ['admin', 'pm'], bake: 'PT1H', subFeatures: { 'llm-parsing': { roles: ['admin'] } }, gates: { errorRate: { proceedBelow: 0.003, rollbackAbove: 0.005 } } },
      { name: 'ga', roles: ['all'], bake: 'PT1H', subFeatures: { 'llm-parsing': { roles: ['admin'] } }, gates: { errorRate: { proceedBelow: 0.001, rollbackAbove: 0.003 } } },
    ],
  });
}

interface Rollout {
  plan: Plan;
  payload: StepPayload;
  token?: string;
  wait?: Promise<unknown>;
  stopped: { error?: string; cause?: string }[];
}

/** Walk a fresh feature through the real steps to phase `phaseIndex`, waiting for approval unless `baking`. */
async function rolloutAt(
  phaseIndex: number,
  options: { baking?: boolean; targets?: number; rollbackTo?: 'off' | 'previous-phase'; variables?: Record<string, string>; alias?: string } = {},
): Promise<Rollout> {
  const feature = `alarm-${++n}`;
  features.push(feature);
  const plan = llmPlan(feature, options);
  for (const t of plan.targets) {
    const { functionName, alias } = parseTarget(t);
    aws.lambda.addFunction(functionName, { KEEP_ME: 'yes', ...options.variables });
    if (alias) aws.lambda.addAlias(functionName, alias);
  }
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-${feature}:run-${n}`;
  const stopped: Rollout['stopped'] = [];
  aws.sfn.registerExecution(
    { executionArn, stateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-dev-${feature}`, name: `run-${n}`, input: '{}' },
    (error, cause) => stopped.push({ error, cause }),
  );
  const payload: StepPayload = { plan, stage: STAGE, executionId: executionArn, startedBy: priya };
  await startRolloutStep(ports, payload);
  let token: string | undefined;
  let wait: Promise<unknown> | undefined;
  for (let i = 0; i <= phaseIndex; i++) {
    await applyPhaseStep(ports, { ...payload, phaseIndex: i });
    if (i === phaseIndex && options.baking) break;
    expect(await gateStep(ports, { ...payload, phaseIndex: i })).toMatchObject({ decision: 'PROCEED' });
    token = aws.sfn.issueToken({ executionArn });
    wait = aws.sfn.waitForToken(token);
    wait.catch(() => undefined);
    await requestApprovalStep(ports, { ...payload, phaseIndex: i, taskToken: token });
    if (i < phaseIndex) await decide(ports, { feature, phase: plan.phases[i]!.name, decision: 'approve', actor: priya });
  }
  return { plan, payload, token, wait, stopped };
}

const event = (feature: string, metric: string, extra: Parameters<typeof alarmStateChangeEvent>[0] extends infer I ? Partial<I> : never = {}) =>
  alarmStateChangeEvent({ alarmName: alarmName(STAGE, feature, metric), at: aws.clock.now(), ...extra });

const updates = (fn: string): number => aws.lambda.calls.filter((c) => c.command === 'UpdateFunctionConfiguration' && c.functionName === fn && c.outcome === 'ok').length;

describe('the alarm-rollback handler: a rollback alarm goes to ALARM', () => {
  it('while an approval waits: every target safe, ROLLED_BACK, the token failed, time-to-safe recorded, people told', async () => {
    const r = await rolloutAt(0);
    const feature = r.plan.feature;
    const receivedAt = aws.clock.now();
    const outcome = await handleAlarmEvent(ports, context, event(feature, 'error-rate-admin'), receivedAt);

    expect(outcome).toMatchObject({ outcome: 'rolled-back', feature, alarmName: `phasegate-dev_${feature}-error-rate-admin`, execution: 'token-failed' });
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toEqual({ KEEP_ME: 'yes', ...offFlagValues(r.plan) });
    const state = await aws.ports.store.getState(feature);
    expect(state).toMatchObject({ status: 'ROLLED_BACK', reason: expect.stringContaining(`alarm phasegate-dev_${feature}-error-rate-admin is in ALARM`) });
    await expect(r.wait).rejects.toMatchObject({ name: 'PhasegateRolledBack' });
    // Nobody can approve the phase afterwards: the rollback claimed the approval.
    expect(await aws.ports.store.getApproval(feature, r.payload.executionId, 0)).toMatchObject({ status: 'REJECTED', settled: true, decidedBy: { via: 'alarm' } });
    const audit = await aws.ports.store.listAudit(feature);
    expect(audit[0]).toMatchObject({ action: 'rolled-back', actor: { id: 'phasegate' }, detail: { timeToSafeMs: expect.any(Number), trigger: { alarmName: `phasegate-dev_${feature}-error-rate-admin` } } });
    expect(audit[1]).toMatchObject({ action: 'rollback-started', actor: { via: 'alarm' } });
    expect(outcome.outcome === 'rolled-back' && outcome.timeToSafeMs).toBe((audit[0]!.detail as { timeToSafeMs: number }).timeToSafeMs);
    expect(metrics).toEqual([expect.objectContaining({ name: 'TimeToSafeMs', unit: 'Milliseconds', dimensions: { Feature: feature, Stage: STAGE } })]);
    expect(notes.map((x) => x.kind)).toContain('rolled-back');
    // Each target was polled until LastUpdateStatus Successful (one InProgress read after the update).
    for (const t of r.plan.targets) {
      const calls = aws.lambda.calls.filter((c) => c.functionName === t).map((c) => c.command);
      expect(calls.slice(-3)).toEqual(['UpdateFunctionConfiguration', 'GetFunction', 'GetFunction']);
    }
  });

  it('while baking (no approval to fail): stops the execution', async () => {
    const r = await rolloutAt(1, { baking: true });
    const outcome = await handleAlarmEvent(ports, context, event(r.plan.feature, 'error-rate-llm-canary'));
    expect(outcome).toMatchObject({ outcome: 'rolled-back', execution: 'stopped' });
    expect(r.stopped).toEqual([{ error: 'PhasegateRolledBack', cause: expect.stringContaining('error-rate-llm-canary') }]);
    expect(aws.sfn.execution(r.payload.executionId)?.status).toBe('ABORTED');
  });

  it('changes nothing for duplicates, one after the other or at the same time', async () => {
    const r = await rolloutAt(0);
    const e = event(r.plan.feature, 'error-rate-admin');
    const outcomes = await Promise.all([handleAlarmEvent(ports, context, e), handleAlarmEvent(ports, context, e), handleAlarmEvent(ports, context, e)]);
    expect(outcomes.filter((o) => o.outcome === 'rolled-back')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'already-rolled-back').length + outcomes.filter((o) => o.outcome === 'rolled-back').length).toBe(3);
    const writes = r.plan.targets.map(updates);
    expect(await handleAlarmEvent(ports, context, e)).toMatchObject({ outcome: 'already-rolled-back' });
    expect(r.plan.targets.map(updates)).toEqual(writes);
    const audit = await aws.ports.store.listAudit(r.plan.feature);
    expect(audit.filter((a) => a.action === 'rolled-back')).toHaveLength(1);
    expect(audit.filter((a) => a.action === 'rollback-started')).toHaveLength(1);
  });

  it('rolls back once when the alarm flaps OK -> ALARM -> OK -> ALARM', async () => {
    const r = await rolloutAt(0);
    const f = r.plan.feature;
    const seq = [
      event(f, 'error-rate-admin', { state: 'ALARM', previousState: 'OK' }),
      event(f, 'error-rate-admin', { state: 'OK', previousState: 'ALARM' }),
      event(f, 'error-rate-admin', { state: 'ALARM', previousState: 'OK' }),
    ];
    const outcomes = [];
    for (const e of seq) outcomes.push((await handleAlarmEvent(ports, context, e)).outcome);
    expect(outcomes).toEqual(['rolled-back', 'ignored', 'already-rolled-back']);
    expect((await aws.ports.store.listAudit(f)).filter((a) => a.action === 'rolled-back')).toHaveLength(1);
  });

  it('still rolls back on a late event whose alarm is back to OK by now', async () => {
    const r = await rolloutAt(0);
    const name = alarmName(STAGE, r.plan.feature, 'error-rate-admin');
    aws.cloudwatch.setAlarm(name, 'ALARM');
    const e = event(r.plan.feature, 'error-rate-admin');
    aws.cloudwatch.setAlarm(name, 'OK');
    expect(await handleAlarmEvent(ports, context, e)).toMatchObject({ outcome: 'rolled-back' });
  });

  it.each([
    ['an alarm of another stage', (f: string) => event(f, 'error-rate-admin', { alarmName: `phasegate-prod_${f}-error-rate-admin` }), /not a rollback alarm of a dev feature/],
    ['an unknown alarm', () => alarmStateChangeEvent({ alarmName: 'orders-api-5xx' }), /not a rollback alarm/],
    ['an unknown metric of a known feature', (f: string) => event(f, 'memory'), /not one of the rollback alarms/],
    ['the composite alarm', (f: string) => event(f, 'composite'), /not one of the rollback alarms/],
    ['an OK state', (f: string) => event(f, 'error-rate-admin', { state: 'OK' }), /alarm state is OK/],
    ['INSUFFICIENT_DATA', (f: string) => event(f, 'error-rate-admin', { state: 'INSUFFICIENT_DATA' }), /alarm state is INSUFFICIENT_DATA/],
    ['an alarm of a later phase', (f: string) => event(f, 'error-rate-ga'), /watches phase\(s\) ga; alarm-\d+ is in admin/],
    ['an alarm that went off before this rollout started', (f: string) => event(f, 'error-rate-admin', { at: new Date('2020-01-01T00:00:00Z') }), /before this rollout started/],
    ['something that is not an alarm event', () => ({ source: 'aws.s3', 'detail-type': 'Object Created', detail: {} }), /not a CloudWatch alarm state change/],
    ['garbage', () => 'hello', /not an object/],
  ])('ignores %s, says why, and changes nothing', async (_what, make, reason) => {
    const r = await rolloutAt(0);
    const before = await aws.ports.store.getState(r.plan.feature);
    const outcome = await handleAlarmEvent(ports, context, make(r.plan.feature));
    expect(outcome).toMatchObject({ outcome: 'ignored', reason: expect.stringMatching(reason) });
    expect(await aws.ports.store.getState(r.plan.feature)).toEqual(before);
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toMatchObject(phaseFlagValues(r.plan, 0));
  });

  it('ignores an alarm of a feature that never started', async () => {
    features.push('never-started');
    expect(await handleAlarmEvent(ports, context, event('never-started', 'error-rate'))).toMatchObject({ outcome: 'ignored', reason: 'never-started has no rollout' });
  });

  it('retries throttling at the Lambda API and still makes every target safe', async () => {
    const r = await rolloutAt(0);
    aws.lambda.throttle(r.plan.targets[0]!, 3);
    expect(await handleAlarmEvent(ports, context, event(r.plan.feature, 'error-rate-admin'))).toMatchObject({ outcome: 'rolled-back' });
    expect(aws.lambda.calls.filter((c) => c.functionName === r.plan.targets[0] && c.outcome === 'TooManyRequestsException')).toHaveLength(3);
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toMatchObject(offFlagValues(r.plan));
  });

  it('marks ROLLBACK_FAILED and names the function loudly when a target cannot be written, still writing the others', async () => {
    const r = await rolloutAt(0);
    const broken = r.plan.targets[1]!;
    aws.lambda.failUpdates(broken);
    const outcome = await handleAlarmEvent(ports, context, event(r.plan.feature, 'error-rate-admin'));
    expect(outcome).toMatchObject({ outcome: 'rollback-failed', failedTargets: [{ functionName: broken, error: expect.stringContaining('AccessDeniedException') }] });
    expect(outcome.outcome === 'rollback-failed' && outcome.message).toContain(`ROLLBACK FAILED for ${r.plan.feature}: ${broken}`);
    expect(await aws.ports.store.getState(r.plan.feature)).toMatchObject({ status: 'ROLLBACK_FAILED' });
    expect(aws.lambda.environmentOf(r.plan.targets[0]!)).toMatchObject(offFlagValues(r.plan));
    expect(notes).toContainEqual(expect.objectContaining({ kind: 'rollback-failed', failedTargets: [expect.objectContaining({ functionName: broken })] }));
    expect(metrics).toEqual([]);
    // The execution does not go on as if nothing happened.
    await expect(r.wait).rejects.toMatchObject({ name: 'PhasegateRolledBack' });
  });

  it('an LLM daily-cost alarm rolls back only that sub-feature, and later phases keep it off', async () => {
    const r = await rolloutAt(1);
    const f = r.plan.feature;
    const outcome = await handleAlarmEvent(ports, context, event(f, 'llm-spend-llm-parsing'));
    expect(outcome).toMatchObject({ outcome: 'sub-feature-rolled-back', subFeature: 'llm-parsing', flags: subFeatureOffValues(r.plan, 'llm-parsing') });
    const expected = { ...phaseFlagValues(r.plan, 1), ...subFeatureOffValues(r.plan, 'llm-parsing') };
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toEqual({ KEEP_ME: 'yes', ...expected });
    expect(await aws.ports.store.getState(f)).toMatchObject({ status: 'AWAITING_APPROVAL', phaseIndex: 1, subFeaturesOff: ['llm-parsing'] });
    expect(notes).toContainEqual(expect.objectContaining({ kind: 'rolled-back', subFeature: 'llm-parsing', reason: expect.stringContaining('only sub-feature llm-parsing') }));
    expect(metrics).toEqual([expect.objectContaining({ name: 'TimeToSafeMs', dimensions: { Feature: f, Stage: STAGE, SubFeature: 'llm-parsing' } })]);
    // A duplicate changes nothing.
    expect(await handleAlarmEvent(ports, context, event(f, 'llm-spend-llm-parsing'))).toMatchObject({ outcome: 'already-rolled-back', subFeature: 'llm-parsing' });

    // The rollout goes on; the next phase would turn LLM parsing on for admins, but it stays off.
    await decide(ports, { feature: f, phase: 'llm-canary', decision: 'approve', actor: priya });
    await applyPhaseStep(ports, { ...r.payload, phaseIndex: 2 });
    for (const t of r.plan.targets) {
      expect(aws.lambda.environmentOf(t)).toMatchObject({ ...phaseFlagValues(r.plan, 2, { subFeaturesOff: ['llm-parsing'] }), DISABLE_X: 'false' });
      expect(aws.lambda.environmentOf(t)).toMatchObject(subFeatureOffValues(r.plan, 'llm-parsing'));
    }
    expect(phaseFlagValues(r.plan, 2, { subFeaturesOff: ['llm-parsing'] })).toMatchObject(subFeatureOffValues(r.plan, 'llm-parsing'));
    expect(phaseFlagValues(r.plan, 2)).not.toMatchObject(subFeatureOffValues(r.plan, 'llm-parsing'));
  });
});

describe('a rollback racing an approval', () => {
  it.each(Array.from({ length: 6 }, (_, i) => i))('always wins, and the state is never half one and half the other (run %i)', async (i) => {
    const r = await rolloutAt(0);
    const f = r.plan.feature;
    const e = event(f, 'error-rate-admin');
    // Stagger the two a little differently each run so both orders happen.
    const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const [decision, alarm] = await Promise.allSettled([
      delay(i % 3).then(() => decide(ports, { feature: f, phase: 'admin', decision: 'approve', actor: priya })),
      delay(2 - (i % 3)).then(() => handleAlarmEvent(ports, context, e)),
    ]);
    expect(alarm).toMatchObject({ status: 'fulfilled', value: { outcome: 'rolled-back' } });
    if (decision.status === 'rejected') expect(['STALE', 'ALREADY_DECIDED', 'NOT_PENDING']).toContain((decision.reason as { code?: string }).code);
    const state = await aws.ports.store.getState(f);
    expect(state).toMatchObject({ status: 'ROLLED_BACK' });
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toEqual({ KEEP_ME: 'yes', ...offFlagValues(r.plan) });
    // The execution ended either way: its token failed, or (the approval got through first) it was stopped.
    const token = aws.sfn.tokens.find((t) => t.token === r.token)!;
    expect(token.status === 'failed' || r.stopped.length === 1).toBe(true);
    // A late apply of the next phase (the approval won the token) cannot turn the flags back on.
    if (token.status === 'succeeded') {
      await expect(applyPhaseStep(ports, { ...r.payload, phaseIndex: 1 })).rejects.toMatchObject({ name: 'PhasegateStaleExecutionError' });
      for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toMatchObject(offFlagValues(r.plan));
    }
  });
});

describe('manual rollback takes the same path', () => {
  it('a person rolling back fails the pending approval token and records who and why', async () => {
    const r = await rolloutAt(0);
    const outcome = await rollBack(ports, { feature: r.plan.feature, actor: { id: 'u-oncall', name: 'On-call', via: 'cli' }, reason: 'p95 regression' });
    expect(outcome).toMatchObject({ status: 'ROLLED_BACK', execution: 'token-failed', timeToSafeMs: expect.any(Number) });
    await expect(r.wait).rejects.toMatchObject({ name: 'PhasegateRolledBack', message: 'rolled back by On-call: p95 regression' });
    expect(metrics.map((m) => m.name)).toEqual(['TimeToSafeMs']);
  });

  it('the state machine\'s own Roll back step neither stops nor settles its execution', async () => {
    const r = await rolloutAt(0, { baking: true });
    const outcome = await rollBack(ports, { feature: r.plan.feature, actor: { id: 'phasegate', via: 'state-machine' }, reason: 'gate', executionId: r.payload.executionId });
    expect(outcome.execution).toBeUndefined();
    expect(r.stopped).toEqual([]);
  });
});

describe('rollback under the Lambda control plane as AWS runs it', () => {
  const followUps: RollbackContinuationRequest[] = [];
  const withFollowUps = (): RollbackPorts => ({ ...ports, continuation: { continueRollback: async (req) => void followUps.push(req) } });
  beforeEach(() => {
    followUps.length = 0;
  });
  const deadlineIn = (ms: number) => ({ deadline: new Date(aws.time.now() + ms) });

  it('makes 40 targets safe within the 15 req/s quota: one control-plane call each, reads on GetFunction, nobody gives up', async () => {
    const r = await rolloutAt(0, { targets: 40 });
    const from = aws.lambda.calls.length;
    const outcome = await handleAlarmEvent(ports, context, event(r.plan.feature, 'error-rate-admin'));
    expect(outcome).toMatchObject({ outcome: 'rolled-back' });
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toMatchObject(offFlagValues(r.plan));
    const calls = aws.lambda.calls.slice(from);
    const controlPlane = calls.filter((c) => c.command !== 'GetFunction');
    expect(controlPlane.filter((c) => c.outcome === 'ok').map((c) => c.command)).toEqual(Array(40).fill('UpdateFunctionConfiguration'));
    expect(calls.some((c) => c.command === 'GetFunctionConfiguration')).toBe(false);
  });

  it('writes the safe values to a target whose earlier, unrelated update ended Failed', async () => {
    const r = await rolloutAt(0);
    aws.lambda.markEarlierUpdateFailed(r.plan.targets[0]!);
    expect(await handleAlarmEvent(ports, context, event(r.plan.feature, 'error-rate-admin'))).toMatchObject({ outcome: 'rolled-back' });
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toMatchObject(offFlagValues(r.plan));
  });

  it('writes again when its own update ends Failed (Lambda kept the previous environment)', async () => {
    const r = await rolloutAt(0);
    const target = r.plan.targets[0]!;
    aws.lambda.failNextUpdateStatus(target);
    const before = updates(target);
    expect(await handleAlarmEvent(ports, context, event(r.plan.feature, 'error-rate-admin'))).toMatchObject({ outcome: 'rolled-back' });
    expect(aws.lambda.environmentOf(target)).toMatchObject(offFlagValues(r.plan));
    expect(updates(target) - before).toBe(2);
  });

  it('a stuck target: at the deadline the progress is recorded and posted, a follow-up finishes it, time-to-safe counts from the alarm', async () => {
    const r = await rolloutAt(0);
    const [fine, stuck] = r.plan.targets as [string, string];
    aws.lambda.stickInProgress(stuck);
    const receivedAt = aws.clock.now();
    const outcome = await handleAlarmEvent(withFollowUps(), context, event(r.plan.feature, 'error-rate-admin'), receivedAt, deadlineIn(30_000));
    expect(outcome).toMatchObject({ outcome: 'rollback-in-progress', pendingTargets: [{ functionName: stuck, error: expect.stringContaining('in progress') }] });
    expect(await aws.ports.store.getState(r.plan.feature)).toMatchObject({
      status: 'ROLLING_BACK',
      rollbackProgress: { attempt: 0, safeTargets: [fine], pendingTargets: [{ functionName: stuck }] },
    });
    expect(notes).toContainEqual(expect.objectContaining({ kind: 'rollback-in-progress', safeTargets: [fine], pendingTargets: [expect.objectContaining({ functionName: stuck })] }));
    expect(followUps).toEqual([expect.objectContaining({ feature: r.plan.feature, executionId: r.payload.executionId, attempt: 1, receivedAt: receivedAt.toISOString() })]);

    aws.clock.advance(60_000);
    aws.lambda.settle(stuck);
    const next = await handleContinuation(withFollowUps(), followUps[0]!, deadlineIn(30_000));
    expect(next).toMatchObject({ outcome: 'continued', status: 'ROLLED_BACK', attempt: 1 });
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toMatchObject(offFlagValues(r.plan));
    const done = notes.find((x) => x.kind === 'rolled-back');
    expect(done).toMatchObject({ timeToSafeMs: expect.any(Number) });
    expect((done as { timeToSafeMs: number }).timeToSafeMs).toBeGreaterThanOrEqual(60_000);
    expect(await aws.ports.store.getState(r.plan.feature)).toMatchObject({ status: 'ROLLED_BACK' });
    await expect(r.wait).rejects.toMatchObject({ name: 'PhasegateRolledBack' });
    expect(notes.filter((x) => x.kind === 'rollback-in-progress')).toHaveLength(1);
  });

  it('after the last follow-up, ROLLBACK_FAILED names each target not safe and its last error, in the channel too', async () => {
    const r = await rolloutAt(0);
    const stuck = r.plan.targets[1]!;
    aws.lambda.stickInProgress(stuck);
    await handleAlarmEvent(withFollowUps(), context, event(r.plan.feature, 'error-rate-admin'), aws.clock.now(), deadlineIn(10_000));
    const last = { ...followUps[0]!, attempt: MAX_ROLLBACK_CONTINUATIONS };
    const outcome = await handleContinuation(withFollowUps(), last, deadlineIn(10_000));
    expect(outcome).toMatchObject({ outcome: 'rollback-failed', failedTargets: [{ functionName: stuck, error: expect.stringContaining('in progress') }] });
    expect(await aws.ports.store.getState(r.plan.feature)).toMatchObject({ status: 'ROLLBACK_FAILED' });
    expect(notes).toContainEqual(expect.objectContaining({ kind: 'rollback-failed', failedTargets: [expect.objectContaining({ functionName: stuck })], safeTargets: [r.plan.targets[0]] }));
    aws.lambda.settle(stuck);
  });

  it('the recorded status follows the targets: a later attempt that makes every target safe records ROLLED_BACK', async () => {
    const r = await rolloutAt(0);
    const broken = r.plan.targets[1]!;
    aws.lambda.failUpdates(broken);
    expect(await handleAlarmEvent(ports, context, event(r.plan.feature, 'error-rate-admin'))).toMatchObject({ outcome: 'rollback-failed' });
    expect(await aws.ports.store.getState(r.plan.feature)).toMatchObject({ status: 'ROLLBACK_FAILED' });
    aws.lambda.allowUpdates(broken);
    const again = await rollBack(ports, { feature: r.plan.feature, actor: { id: 'u-oncall', via: 'cli' }, reason: 'permission fixed' });
    expect(again).toMatchObject({ status: 'ROLLED_BACK' });
    expect(await aws.ports.store.getState(r.plan.feature)).toMatchObject({ status: 'ROLLED_BACK' });
  });

  it('a duplicate that finishes second records ROLLED_BACK over the other attempt\'s ROLLBACK_FAILED when every target is safe now', async () => {
    const r = await rolloutAt(0);
    const f = r.plan.feature;
    const started = await rollbackStartedState(f);
    // Another delivery recorded ROLLBACK_FAILED meanwhile (its write of one target failed).
    const failed = rollbackFinished(started, aws.clock.now().toISOString(), { ok: false, failedTargets: [r.plan.targets[1]!], detail: {} })!;
    await aws.ports.store.saveTransition(started, failed);
    const outcome = await rollBack(ports, { feature: f, actor: alarmActor('x'), reason: 'alarm', knownState: started });
    expect(outcome.status).toBe('ROLLED_BACK');
    expect(await aws.ports.store.getState(f)).toMatchObject({ status: 'ROLLED_BACK' });
  });
});

/** Move a feature to ROLLING_BACK as a first delivery would, and return that state. */
async function rollbackStartedState(feature: string): Promise<RolloutState> {
  const state = (await aws.ports.store.getState(feature))!;
  const t = rollbackStarted(state, aws.clock.now().toISOString(), alarmActor('x'), 'alarm', offFlagValues(state.plan))!;
  await aws.ports.store.saveTransition(state, t);
  return t.next;
}

describe('alias targets', () => {
  it('phases reach the alias\'s published version, and an alarm rollback publishes the safe values and moves the alias', async () => {
    const r = await rolloutAt(0, { alias: 'live' });
    const [aliased] = r.plan.targets as [string];
    const fn = parseTarget(aliased).functionName;
    expect(aws.lambda.environmentServedBy(fn, 'live')).toMatchObject(phaseFlagValues(r.plan, 0));
    const versionInPhase = aws.lambda.aliasOf(fn, 'live').functionVersion;
    const outcome = await handleAlarmEvent(ports, context, event(r.plan.feature, 'error-rate-admin'));
    expect(outcome).toMatchObject({ outcome: 'rolled-back', timeToSafeMs: expect.any(Number) });
    expect(aws.lambda.environmentServedBy(fn, 'live')).toMatchObject(offFlagValues(r.plan));
    expect(aws.lambda.aliasOf(fn, 'live').functionVersion).not.toBe(versionInPhase);
    // Time-to-safe includes the publish and the alias move: they happened before it was recorded.
    const moves = aws.lambda.calls.filter((c) => c.command === 'UpdateAlias' && c.functionName === fn);
    expect(moves.length).toBe(2);
  });
});

describe('correctness of the rollback path', () => {
  it('finishes the wrap-up when the "rolled-back" audit write failed after the state write landed', async () => {
    const r = await rolloutAt(0);
    const f = r.plan.feature;
    const flaky = new DynamoRolloutStore(aws.tableName, localDynamoClient(aws.dynamo.endpoint));
    const putAudit = (flaky as unknown as { putAudit: (e: AuditEvent) => Promise<void> }).putAudit.bind(flaky);
    (flaky as unknown as { putAudit: (e: AuditEvent) => Promise<void> }).putAudit = async (e) => {
      if (e.action === 'rolled-back') throw new Error('connection reset while writing the audit event');
      return putAudit(e);
    };
    await expect(handleAlarmEvent({ ...ports, store: flaky }, context, event(f, 'error-rate-admin'))).rejects.toThrow('connection reset');
    expect(await aws.ports.store.getState(f)).toMatchObject({ status: 'ROLLED_BACK' });
    // Lambda retries the event.
    expect(await handleAlarmEvent(ports, context, event(f, 'error-rate-admin'))).toMatchObject({ outcome: 'already-rolled-back' });
    expect((await aws.ports.store.listAudit(f)).map((e) => e.action)).toContain('rolled-back');
    await expect(r.wait).rejects.toMatchObject({ name: 'PhasegateRolledBack' });
    expect(await aws.ports.store.getApproval(f, r.payload.executionId, 0)).toMatchObject({ settled: true });
  });

  it('a previous-phase rollback racing an approval never lands on the phase whose alarm fired', async () => {
    const r = await rolloutAt(1, { rollbackTo: 'previous-phase' });
    const f = r.plan.feature;
    const racing: RolloutStore = Object.create(aws.ports.store) as RolloutStore;
    let raced = false;
    racing.saveTransition = async (previous, t) => {
      if (!raced && t.event.action === 'rollback-started') {
        raced = true;
        // The PM approves llm-canary and ga starts, between the alarm's check and the rollback's write.
        await decide(ports, { feature: f, phase: 'llm-canary', decision: 'approve', actor: priya });
        await applyPhaseStep(ports, { ...r.payload, phaseIndex: 2 });
      }
      return aws.ports.store.saveTransition(previous, t);
    };
    const outcome = await handleAlarmEvent({ ...ports, store: racing }, context, event(f, 'error-rate-llm-canary'));
    expect(outcome).toMatchObject({ outcome: 'rolled-back' });
    // Safe is the phase before the alarmed one (admin), not llm-canary.
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toMatchObject(phaseFlagValues(r.plan, 0));
  });

  it('after a phase was refused at the 4 KB limit, the rollback finds the targets safe (absent flags read as off)', async () => {
    const feature = `alarm-${++n}`;
    features.push(feature);
    const plan = llmPlan(feature);
    for (const t of plan.targets) aws.lambda.addFunction(t, { BIG: 'x'.repeat(4060) });
    const executionArn = `arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-${feature}:run-${n}`;
    const payload: StepPayload = { plan, stage: STAGE, executionId: executionArn, startedBy: priya };
    await startRolloutStep(ports, payload);
    await expect(applyPhaseStep(ports, { ...payload, phaseIndex: 0 })).rejects.toMatchObject({ name: 'PhasegateEnvLimitError' });
    const outcome = await rollbackStep(ports, { ...payload, context: { error: { Error: 'PhasegateEnvLimitError', Cause: 'too big' } } });
    expect(outcome).toMatchObject({ status: 'ROLLED_BACK' });
    expect(await aws.ports.store.getState(feature)).toMatchObject({ status: 'ROLLED_BACK' });
    for (const t of plan.targets) expect(aws.lambda.environmentOf(t)).toEqual({ BIG: 'x'.repeat(4060) });
  });

  it('an alarm event without resources still rolls back', async () => {
    const r = await rolloutAt(0);
    const e = event(r.plan.feature, 'error-rate-admin') as unknown as Record<string, unknown>;
    delete e.resources;
    expect(await handleAlarmEvent(ports, context, e)).toMatchObject({ outcome: 'rolled-back' });
  });

  it('a malformed follow-up is refused with every problem, and a follow-up for a newer rollout changes nothing', async () => {
    expect(parseContinuation({ kind: ROLLBACK_CONTINUATION_KIND, feature: 'x', attempt: 0 })).toEqual({
      problem: expect.stringMatching(/executionId.*attempt.*receivedAt.*reason.*actor/),
    });
    const r = await rolloutAt(0);
    const stale = { kind: ROLLBACK_CONTINUATION_KIND, feature: r.plan.feature, executionId: 'arn:old', attempt: 1, receivedAt: new Date().toISOString(), reason: 'x', actor: alarmActor('x') } as const;
    expect(await handleContinuation(ports, stale)).toMatchObject({ outcome: 'ignored' });
    expect(await aws.ports.store.getState(r.plan.feature)).toMatchObject({ status: 'AWAITING_APPROVAL' });
  });
});
