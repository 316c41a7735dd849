import { CloudWatchMetricsReader } from '../../lambdas/adapters/cloudwatch-metrics-reader';
import { SfnExecutionStopper } from '../../lambdas/adapters/sfn-execution-stopper';
import { handleAlarmEvent, type AlarmRollbackContext } from '../../lambdas/core/alarm-rollback';
import { alarmName } from '../../lambdas/core/alarm-names';
import { offFlagValues, phaseFlagValues, subFeatureOffValues } from '../../lambdas/core/flags';
import { decide, rollBack, type Person, type RollbackPorts } from '../../lambdas/core/operations';
import type { Plan } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import type { MetricSink, PhasegateMetric, RolloutNotification } from '../../lambdas/core/ports';
import type { StepPayload } from '../../lambdas/core/step-payload';
import { applyPhaseStep, gateStep, requestApprovalStep, startRolloutStep, type StepPorts } from '../../lambdas/core/steps';
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

/** A plan over two targets: error rate tightens per phase; an LLM sub-feature comes on in the last phase. */
function llmPlan(feature: string): Plan {
  return parsePlan({
    feature,
    targets: [`${feature}-api`, `${feature}-worker`],
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
async function rolloutAt(phaseIndex: number, options: { baking?: boolean } = {}): Promise<Rollout> {
  const feature = `alarm-${++n}`;
  features.push(feature);
  const plan = llmPlan(feature);
  for (const t of plan.targets) aws.lambda.addFunction(t, { KEEP_ME: 'yes' });
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

    expect(outcome).toMatchObject({ outcome: 'rolled-back', feature, alarmName: `phasegate-dev-${feature}-error-rate-admin`, execution: 'token-failed' });
    for (const t of r.plan.targets) expect(aws.lambda.environmentOf(t)).toEqual({ KEEP_ME: 'yes', ...offFlagValues(r.plan) });
    const state = await aws.ports.store.getState(feature);
    expect(state).toMatchObject({ status: 'ROLLED_BACK', reason: expect.stringContaining(`alarm phasegate-dev-${feature}-error-rate-admin is in ALARM`) });
    await expect(r.wait).rejects.toMatchObject({ name: 'PhasegateRolledBack' });
    // Nobody can approve the phase afterwards: the rollback claimed the approval.
    expect(await aws.ports.store.getApproval(feature, r.payload.executionId, 0)).toMatchObject({ status: 'REJECTED', settled: true, decidedBy: { via: 'alarm' } });
    const audit = await aws.ports.store.listAudit(feature);
    expect(audit[0]).toMatchObject({ action: 'rolled-back', actor: { id: 'phasegate' }, detail: { timeToSafeMs: expect.any(Number), trigger: { alarmName: `phasegate-dev-${feature}-error-rate-admin` } } });
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
    ['an alarm of another stage', (f: string) => event(f, 'error-rate-admin', { alarmName: `phasegate-prod-${f}-error-rate-admin` }), /not a rollback alarm of a dev feature/],
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
