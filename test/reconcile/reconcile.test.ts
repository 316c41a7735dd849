import { DynamoDriftLedger } from '../../lambdas/adapters/dynamo-drift-ledger';
import { handleReconcileEvent, type ReconcileContext } from '../../lambdas/core/drift/drift-events';
import { offFlagValues, phaseFlagValues } from '../../lambdas/core/flags/flags';
import { decide, rollBack, type Person } from '../../lambdas/core/rollout/operations';
import type { Plan } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import type { RolloutNotification } from '../../lambdas/core/ports';
import { DRIFT_BACKOFF, decideRepair, reconcileFeature, verifyFeature, type ReconcilePorts } from '../../lambdas/core/drift/reconcile';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, gateStep, requestApprovalStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import { RECONCILE_SCHEDULE_KIND } from '../../lambdas/core/contract';
import { localDynamoClient } from '../../local/dynamo';
import { DEPLOY_ROLE_SESSION, lambdaApiCallEvent, redeployTarget } from '../../local/scenarios/drift';
import { startLocalAws, type LocalAws } from '../support/local-aws';

const priya: Person = { id: 'u-priya', name: 'Priya', via: 'discord', roles: ['pm'] };
const OWN_ROLE = 'arn:aws:iam::123456789012:role/phasegate-dev-apply-phase-role';
let aws: LocalAws;
let n = 0;
let notes: RolloutNotification[];
let ports: ReconcilePorts & LocalAws['ports'];
const features: string[] = [];
let context: ReconcileContext;

beforeAll(async () => {
  // A deploy's update stays InProgress for 3 s, as Lambda's do for a while after the call.
  aws = await startLocalAws({ lambda: { inProgressMs: 3_000 } });
});
afterAll(async () => aws.stop());
beforeEach(() => {
  notes = [];
  ports = {
    ...aws.ports,
    ledger: new DynamoDriftLedger(aws.tableName, localDynamoClient(aws.dynamo.endpoint)),
    notifier: { notify: async (x) => void notes.push(x) },
    sleep: aws.time.sleep,
    clock: { now: () => new Date(aws.time.now()) },
  };
  context = { stage: 'dev', features, ownRoles: [OWN_ROLE] };
});

function plan(feature: string, rollbackTo: 'off' | 'previous-phase' = 'off'): Plan {
  return parsePlan({
    feature,
    targets: [`${feature}-api`, `${feature}-worker`],
    rollback: { to: rollbackTo },
    subFeatures: [{ id: 'llm-parsing' }],
    phases: [
      { name: 'admin', roles: ['admin'], bake: 'PT1H' },
      { name: 'pm', roles: ['admin', 'pm'], bake: 'PT1H', subFeatures: { 'llm-parsing': { roles: ['admin'] } } },
    ],
  });
}

/** A fresh feature walked through the real steps into phase `phaseIndex`, baking (or waiting for approval). */
async function rolloutAt(phaseIndex: number, options: { approval?: boolean; rollbackTo?: 'off' | 'previous-phase' } = {}): Promise<{ plan: Plan; payload: StepPayload }> {
  const feature = `drift-${++n}`;
  features.push(feature);
  const p = plan(feature, options.rollbackTo);
  for (const t of p.targets) aws.lambda.addFunction(t, { TABLE: 'orders', DEPLOY: '1' });
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-${feature}:run-${n}`;
  aws.sfn.registerExecution(
    { executionArn, stateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-dev-${feature}`, name: `run-${n}`, input: '{}' },
    () => undefined,
  );
  const payload: StepPayload = { plan: p, stage: 'dev', executionId: executionArn, startedBy: priya };
  await startRolloutStep(ports, payload);
  for (let i = 0; i <= phaseIndex; i++) {
    await applyPhaseStep(ports, { ...payload, phaseIndex: i });
    if (i === phaseIndex && !options.approval) break;
    await gateStep(ports, { ...payload, phaseIndex: i });
    const token = aws.sfn.issueToken({ executionArn: payload.executionId });
    aws.sfn.waitForToken(token).catch(() => undefined);
    await requestApprovalStep(ports, { ...payload, phaseIndex: i, taskToken: token });
    if (i < phaseIndex) await decide(ports, { feature, phase: p.phases[i]!.name, decision: 'approve', actor: priya });
  }
  return { plan: p, payload };
}

const updatesOf = (fn: string) => aws.lambda.calls.filter((c) => c.command === 'UpdateFunctionConfiguration' && c.functionName === fn && c.outcome === 'ok');

describe('a target redeployed by its own pipeline (CloudTrail event)', () => {
  it('is repaired after the deploy settles: only the flags written back, the deploy\'s own variables kept, audited and posted with who did it', async () => {
    const { plan: p } = await rolloutAt(1);
    const [api, worker] = p.targets as [string, string];
    const deployAt = aws.time.now();
    await redeployTarget(api, { TABLE: 'orders-v2', DEPLOY: '2' });
    const before = updatesOf(api).length;

    const outcome = await handleReconcileEvent(ports, context, lambdaApiCallEvent({ functionName: api, at: new Date(aws.time.now()) }));

    expect(outcome).toMatchObject({ outcome: 'reconciled', trigger: 'cloudtrail', features: [{ feature: p.feature, outcome: 'repaired' }] });
    expect(aws.lambda.environmentOf(api)).toEqual({ TABLE: 'orders-v2', DEPLOY: '2', ...phaseFlagValues(p, 1) });
    // One write, after the deploy's update stopped being InProgress: never under it.
    const repairs = updatesOf(api).slice(before);
    expect(repairs).toHaveLength(1);
    expect(repairs[0]!.at.getTime()).toBeGreaterThanOrEqual(deployAt + 3_000);
    expect(aws.lambda.calls.filter((c) => c.functionName === api && c.outcome !== 'ok' && c.command === 'UpdateFunctionConfiguration')).toEqual([]);
    // The other target was not named by the event and not touched.
    expect(updatesOf(worker)).toHaveLength(2);

    const audit = (await aws.ports.store.listAudit(p.feature, 5)).find((e) => e.action === 'drift-repaired')!;
    expect(audit.message).toContain(DEPLOY_ROLE_SESSION);
    expect(audit.message).toContain('UpdateFunctionConfiguration');
    expect(audit.detail).toMatchObject({ cause: { via: 'cloudtrail', eventName: 'UpdateFunctionConfiguration' }, targets: [{ target: api, outcome: 'repaired' }] });
    const drifted = (audit.detail!.targets as { drift: { name: string; actual: string | null }[] }[])[0]!.drift;
    expect(drifted.map((d) => d.name).sort()).toEqual(Object.keys(phaseFlagValues(p, 1)).sort());
    expect(drifted.every((d) => d.actual === null)).toBe(true);
    expect(notes.filter((x) => x.kind.startsWith('drift'))).toEqual([
      expect.objectContaining({ kind: 'drift-repaired', feature: p.feature, changedBy: `${DEPLOY_ROLE_SESSION} via cloudformation.amazonaws.com`, eventName: 'UpdateFunctionConfiguration', failedTargets: [] }),
    ]);
  });

  it('writes back only the variables that differ when a console edit changes one flag', async () => {
    const { plan: p } = await rolloutAt(0);
    const api = p.targets[0]!;
    const env = aws.lambda.environmentOf(api);
    const rolesVar = Object.keys(env).find((k) => k.endsWith('_ROLES') && env[k] === 'admin')!;
    await redeployTarget(api, { ...env, [rolesVar]: '*' });
    aws.time.advance(5_000);
    const outcome = await reconcileFeature(ports, { feature: p.feature, cause: { by: 'arn:aws:iam::123456789012:user/ada', via: 'cloudtrail', eventName: 'UpdateFunctionConfiguration' } });
    expect(outcome.targets).toEqual([
      { target: api, outcome: 'repaired', drift: [{ name: rolesVar, expected: 'admin', actual: '*' }] },
      { target: p.targets[1], outcome: 'in-sync', drift: [] },
    ]);
    expect(aws.lambda.environmentOf(api)[rolesVar]).toBe('admin');
  });

  it('after a rollback: a redeploy that drops the off flags is safe, one that turns the feature back on is repaired to the safe values', async () => {
    const { plan: p } = await rolloutAt(0, { approval: true });
    await rollBack(ports, { feature: p.feature, actor: priya, reason: 'testing drift after rollback' });
    const [api, worker] = p.targets as [string, string];
    await redeployTarget(api, { TABLE: 'orders' });
    const env = aws.lambda.environmentOf(worker);
    const enabledVar = Object.keys(offFlagValues(p)).find((k) => k.endsWith('_ENABLED') && !k.includes('LLM'))!;
    await redeployTarget(worker, { ...env, [enabledVar]: 'true' });
    aws.time.advance(5_000);

    const outcome = await reconcileFeature(ports, { feature: p.feature, cause: { by: 'unknown (found by the scheduled check)', via: 'schedule' } });

    expect(outcome.targets.map((t) => [t.target, t.outcome])).toEqual([
      [api, 'in-sync'],
      [worker, 'repaired'],
    ]);
    expect(aws.lambda.environmentOf(api)).toEqual({ TABLE: 'orders' });
    expect(aws.lambda.environmentOf(worker)[enabledVar]).toBe('false');
  });
});

describe("Phasegate's own writes", () => {
  it('are not drift: an event from its own role is ignored, and a reconcile right after a phase was applied writes nothing', async () => {
    const { plan: p } = await rolloutAt(1);
    const api = p.targets[0]!;
    const own = lambdaApiCallEvent({ functionName: api, principalArn: 'arn:aws:sts::123456789012:assumed-role/phasegate-dev-apply-phase-role/phasegate-dev-apply-phase' });
    expect(await handleReconcileEvent(ports, context, own)).toEqual({ outcome: 'ignored', reason: expect.stringContaining("Phasegate's own call") });

    const writes = aws.lambda.calls.filter((c) => c.command === 'UpdateFunctionConfiguration').length;
    const outcome = await reconcileFeature(ports, { feature: p.feature, cause: { by: 'someone', via: 'cloudtrail' } });
    expect(outcome).toMatchObject({ outcome: 'in-sync' });
    expect(aws.lambda.calls.filter((c) => c.command === 'UpdateFunctionConfiguration').length).toBe(writes);
    expect(notes.filter((x) => x.kind.startsWith('drift'))).toEqual([]);
    expect((await aws.ports.store.listAudit(p.feature, 3)).some((e) => e.action === 'drift-repaired')).toBe(false);
  });

  it('a phase being applied is not compared: its apply step owns the targets then', async () => {
    const { plan: p, payload } = await rolloutAt(0, { approval: true });
    await decide(ports, { feature: p.feature, phase: 'admin', decision: 'approve', actor: priya });
    const state = (await aws.ports.store.getState(p.feature))!;
    expect(state.step).toBe('approved');
    // Entering the next phase: the state says `applying`, the targets still hold the previous phase.
    const { beginPhase } = await import('../../lambdas/core/rollout/rollout-state');
    const begin = beginPhase(state, 1, new Date(aws.time.now()).toISOString())!;
    await aws.ports.store.saveTransition(state, begin);
    const outcome = await reconcileFeature(ports, { feature: p.feature, cause: { by: 'someone', via: 'schedule' } });
    expect(outcome).toMatchObject({ outcome: 'inactive', reason: 'RUNNING (applying)' });
    expect(payload.plan.feature).toBe(p.feature);
  });
});

describe('a target that keeps drifting', () => {
  it('is repaired three times, then Phasegate says so once and backs off, exponentially', async () => {
    const { plan: p } = await rolloutAt(0);
    const api = p.targets[0]!;
    const redeployAndReconcile = async () => {
      await redeployTarget(api, { TABLE: 'orders', DEPLOY: String(aws.time.now()) });
      const event = lambdaApiCallEvent({ functionName: api, at: new Date(aws.time.now()) });
      const out = await handleReconcileEvent(ports, context, event);
      aws.time.advance(2 * 60_000);
      return out.outcome === 'reconciled' ? out.features[0]!.targets[0]!.outcome : out.outcome;
    };
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await redeployAndReconcile());
    expect(outcomes).toEqual(['repaired', 'repaired', 'repaired', 'backed-off', 'backing-off']);
    expect(notes.filter((x) => x.kind === 'drift-backoff')).toEqual([
      expect.objectContaining({ kind: 'drift-backoff', target: api, repairs: 3, windowMinutes: 30 }),
    ]);
    const audit = await aws.ports.store.listAudit(p.feature, 20);
    expect(audit.filter((e) => e.action === 'drift-backed-off')).toHaveLength(1);

    // After the first back-off (15 min) it repairs again; drifting on, it backs off for twice as long, without saying it again.
    aws.time.advance(DRIFT_BACKOFF.backoffMs);
    const again = [];
    for (let i = 0; i < 4; i++) again.push(await redeployAndReconcile());
    expect(again).toEqual(['repaired', 'repaired', 'repaired', 'backed-off']);
    expect(notes.filter((x) => x.kind === 'drift-backoff')).toHaveLength(1);
    const record = await ports.ledger!.get(p.feature, api);
    expect(record).toMatchObject({ backoffLevel: 2 });
    expect(Date.parse(record!.backoffUntil!) - (aws.time.now() - 2 * 60_000)).toBe(2 * DRIFT_BACKOFF.backoffMs);
  });

  it('decideRepair (pure): a quiet target starts a new streak', () => {
    const now = new Date('2026-11-02T12:00:00.000Z');
    const record = { feature: 'f', target: 't', version: 7, repairs: [], backoffLevel: 3, backoffUntil: '2026-11-02T10:00:00.000Z', announcedAt: '2026-11-02T09:00:00.000Z' };
    const decision = decideRepair(record, 'f', 't', now);
    expect(decision).toMatchObject({ action: 'repair', record: { backoffLevel: 0, version: 8, repairs: [now.toISOString()] } });
    expect(decision.action === 'repair' && decision.record.announcedAt).toBeUndefined();
  });
});

describe('the scheduled reconcile', () => {
  it('checks every feature in progress or rolled back and repairs what drifted, naming no one', async () => {
    const { plan: p } = await rolloutAt(0);
    const { plan: q } = await rolloutAt(1, { approval: true });
    await redeployTarget(p.targets[1]!, { TABLE: 'orders' });
    await redeployTarget(q.targets[0]!, { TABLE: 'orders' });
    aws.time.advance(5_000);

    const outcome = await handleReconcileEvent(ports, context, { kind: RECONCILE_SCHEDULE_KIND });

    expect(outcome).toMatchObject({ outcome: 'reconciled', trigger: 'schedule' });
    const byFeature = Object.fromEntries((outcome as unknown as { features: { feature: string; outcome: string }[] }).features.map((f) => [f.feature, f.outcome]));
    expect(byFeature[p.feature]).toBe('repaired');
    expect(byFeature[q.feature]).toBe('repaired');
    expect(aws.lambda.environmentOf(p.targets[1]!)).toEqual({ TABLE: 'orders', ...phaseFlagValues(p, 0) });
    expect(aws.lambda.environmentOf(q.targets[0]!)).toEqual({ TABLE: 'orders', ...phaseFlagValues(q, 1) });
    expect(notes.filter((x) => x.kind === 'drift-repaired').map((x) => (x as { changedBy: string }).changedBy)).toEqual([
      'unknown (found by the scheduled check)',
      'unknown (found by the scheduled check)',
    ]);
  });
});

describe('the gate', () => {
  it('repairs drift before it decides', async () => {
    const { plan: p, payload } = await rolloutAt(0);
    await redeployTarget(p.targets[0]!, { TABLE: 'orders' });
    aws.time.advance(5_000);
    const result = await gateStep({ ...aws.ports, clock: ports.clock, notifier: ports.notifier }, { ...payload, phaseIndex: 0 });
    expect(result.decision).toBe('PROCEED');
    expect(aws.lambda.environmentOf(p.targets[0]!)).toEqual({ TABLE: 'orders', ...phaseFlagValues(p, 0) });
    expect(notes).toContainEqual(expect.objectContaining({ kind: 'drift-repaired', changedBy: 'unknown (found at the gate)' }));
  });
});

describe('verify', () => {
  it('shows expected and actual values per target, the drift, and who changed the target last', async () => {
    const { plan: p } = await rolloutAt(0);
    const [api, worker] = p.targets as [string, string];
    await handleReconcileEvent(ports, context, lambdaApiCallEvent({ functionName: worker, eventName: 'UpdateFunctionCode20150331v2', at: new Date(aws.time.now()) }));
    await redeployTarget(api, { TABLE: 'orders' });
    aws.time.advance(5_000);

    const report = await verifyFeature(ports, p.feature);

    expect(report).toMatchObject({ feature: p.feature, status: 'RUNNING', phase: 'admin', basis: 'phase', drifted: true });
    const [a, w] = report.targets;
    expect(a).toMatchObject({ target: api, readable: true, lastUpdateStatus: 'Successful' });
    expect(a!.drift.length).toBe(Object.keys(phaseFlagValues(p, 0)).length);
    expect(a!.flags.every((f) => f.actual === null)).toBe(true);
    expect(w).toMatchObject({ target: worker, drift: [], lastChange: { by: expect.stringContaining('cfn-exec-role'), eventName: 'UpdateFunctionCode' } });
    expect(w!.flags.every((f) => f.actual === f.expected)).toBe(true);
  });
});
