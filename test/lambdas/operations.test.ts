import { FlagWriteError, RefusedError } from '../../lambdas/core/errors';
import { offFlagValues, phaseFlagValues } from '../../lambdas/core/flags/flags';
import { decide, rollBack, type Person } from '../../lambdas/core/rollout/operations';
import type { Plan } from '../../lambdas/core/plan/schema';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, gateStep, requestApprovalStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import { startLocalAws, type LocalAws } from '../support/local-aws';
import { threePhasePlan } from '../support/plans';

const priya: Person = { id: 'u-priya', name: 'Priya', via: 'discord', roles: ['pm'] };
const dev: Person = { id: 'u-dan', name: 'Dan', via: 'discord', roles: ['developer'] };
let aws: LocalAws;
let n = 0;

beforeAll(async () => {
  aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
});
afterAll(async () => aws.stop());

/** Walk a fresh feature to "phase 0 waits for approval" through the real steps; returns the token. */
async function awaitingApproval(): Promise<{ plan: Plan; payload: StepPayload; token: string; wait: Promise<unknown> }> {
  const feature = `ops-${++n}`;
  const plan = threePhasePlan({ feature, targets: [`${feature}-api`, `${feature}-worker`] });
  for (const t of plan.targets) aws.lambda.addFunction(t, { KEEP_ME: 'yes' });
  const payload: StepPayload = { plan, stage: 'dev', executionId: `arn:exec:${feature}`, startedBy: priya };
  await startRolloutStep(aws.ports, payload);
  await applyPhaseStep(aws.ports, { ...payload, phaseIndex: 0 });
  await gateStep(aws.ports, { ...payload, phaseIndex: 0 });
  const token = aws.sfn.issueToken({ executionArn: payload.executionId });
  const wait = aws.sfn.waitForToken(token);
  wait.catch(() => undefined);
  await requestApprovalStep(aws.ports, { ...payload, phaseIndex: 0, taskToken: token });
  return { plan, payload, token, wait };
}

describe('decide', () => {
  it('approves: hands the token back with the decision, moves the state on and audits who approved', async () => {
    const { plan, wait } = await awaitingApproval();
    const result = await decide(aws.ports, { feature: plan.feature, phase: 'admin', decision: 'approve', actor: priya, note: 'admins happy' });
    expect(result.approval).toMatchObject({ status: 'APPROVED', settled: true, decidedBy: { id: 'u-priya' } });
    await expect(wait).resolves.toMatchObject({ decision: 'approve', by: { id: 'u-priya' }, note: 'admins happy' });
    expect(await aws.ports.store.getState(plan.feature)).toMatchObject({ status: 'RUNNING', step: 'approved', phaseIndex: 0 });
    const audit = await aws.ports.store.listAudit(plan.feature);
    expect(audit[0]).toMatchObject({ action: 'approved', actor: { id: 'u-priya' }, fromPhase: 'admin' });
  });

  it('rejects with a reason: the task fails with PhasegateApprovalRejected', async () => {
    const { plan, wait } = await awaitingApproval();
    await decide(aws.ports, { feature: plan.feature, phase: 'admin', decision: 'reject', actor: priya, note: 'error rate too high' });
    await expect(wait).rejects.toMatchObject({ name: 'PhasegateApprovalRejected', message: expect.stringContaining('error rate too high') });
    expect((await aws.ports.store.listAudit(plan.feature))[0]).toMatchObject({ action: 'rejected' });
  });

  it.each([
    ['a person without an approver role', { actor: dev }, 'FORBIDDEN'],
    ['a rejection without a reason', { decision: 'reject' as const, note: '  ' }, 'INVALID'],
    ['a phase that is not waiting', { phase: 'pm' }, 'NOT_PENDING'],
    ['a phase the plan does not have', { phase: 'beta' }, 'INVALID'],
    ['a button made for an earlier execution', { executionId: 'arn:exec:old' }, 'STALE'],
  ])('refuses %s, changes nothing and audits the refusal', async (_what, change, code) => {
    const { plan, wait } = await awaitingApproval();
    const before = await aws.ports.store.getState(plan.feature);
    const err = await decide(aws.ports, { feature: plan.feature, phase: 'admin', decision: 'approve', actor: priya, ...change }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as RefusedError).code).toBe(code);
    expect(await aws.ports.store.getState(plan.feature)).toEqual(before);
    expect(await aws.ports.store.getApproval(plan.feature, before!.executionId, 0)).toMatchObject({ status: 'PENDING' });
    expect((await aws.ports.store.listAudit(plan.feature))[0]).toMatchObject({ action: 'refused', detail: { code } });
    expect(aws.sfn.tokens.find((t) => t.status !== 'open' && t.meta.executionArn === before!.executionId)).toBeUndefined();
    void wait;
  });

  it('refuses a feature that never started', async () => {
    await expect(decide(aws.ports, { feature: 'never-started', phase: 'admin', decision: 'approve', actor: priya })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('turns two people approving at once into exactly one decision', async () => {
    const { plan, wait } = await awaitingApproval();
    const people: Person[] = Array.from({ length: 6 }, (_, i) => ({ id: `pm-${i}`, name: `PM ${i}`, via: 'discord', roles: ['pm'] }));
    const results = await Promise.allSettled(people.map((actor) => decide(aws.ports, { feature: plan.feature, phase: 'admin', decision: 'approve', actor })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const losers = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(losers).toHaveLength(5);
    for (const l of losers) expect(['ALREADY_DECIDED', 'NOT_PENDING']).toContain((l.reason as RefusedError).code);
    await expect(wait).resolves.toMatchObject({ decision: 'approve' });
    const sends = aws.sfn.calls.filter((c) => c.command === 'SendTaskSuccess' && (c.input as { taskToken?: string }).taskToken === aws.sfn.tokens.at(-1)!.token);
    expect(sends).toHaveLength(1);
  });

  it('records one decision once when its author clicks Reject several times at once', async () => {
    const { plan, wait } = await awaitingApproval();
    const clicks = await Promise.allSettled(
      Array.from({ length: 6 }, () => decide(aws.ports, { feature: plan.feature, phase: 'admin', decision: 'reject', actor: priya, note: 'error rate too high' })),
    );
    expect(clicks.map((c) => c.status)).toEqual(Array(6).fill('fulfilled'));
    await expect(wait).rejects.toMatchObject({ name: 'PhasegateApprovalRejected' });
    const audit = await aws.ports.store.listAudit(plan.feature, 100);
    expect(audit.filter((e) => e.action === 'rejected')).toHaveLength(1);
    expect(audit.filter((e) => e.action === 'refused')).toEqual([]);
    const token = aws.sfn.tokens.at(-1)!.token;
    const handedBack = aws.sfn.calls.filter((c) => c.command === 'SendTaskFailure' && (c.input as { taskToken?: string }).taskToken === token);
    expect(handedBack.map((c) => c.outcome)).toEqual(['ok']);
  });

  it('writes the decision event once even when a lost hand-back is finished again', async () => {
    const { plan, payload, wait } = await awaitingApproval();
    // The first click writes its event, then its function dies before the token is handed back.
    const dying = { succeed: async () => undefined, fail: async () => Promise.reject(new Error('function timed out')) };
    await expect(
      decide({ ...aws.ports, tokens: dying }, { feature: plan.feature, phase: 'admin', decision: 'reject', actor: priya, note: 'error rate too high' }),
    ).rejects.toThrow('function timed out');
    const claimed = (await aws.ports.store.getApproval(plan.feature, payload.executionId, 0))!;
    aws.clock.advance(61_000);
    await decide(aws.ports, { feature: plan.feature, phase: 'admin', decision: 'reject', actor: priya, note: 'error rate too high' });
    await expect(wait).rejects.toMatchObject({ name: 'PhasegateApprovalRejected' });
    await decide(aws.ports, { feature: plan.feature, phase: 'admin', decision: 'reject', actor: priya, note: 'again' });
    const rejected = (await aws.ports.store.listAudit(plan.feature, 100)).filter((e) => e.action === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ at: claimed.decidedAt, actor: { id: priya.id } });
  });

  it('finishes a decision whose hand-back was lost (crash after the claim) when the same person repeats it', async () => {
    const { plan, payload, wait } = await awaitingApproval();
    await aws.ports.store.claimApproval({
      feature: plan.feature,
      executionId: payload.executionId,
      phaseIndex: 0,
      decision: 'approve',
      actor: { id: priya.id, name: priya.name, via: priya.via },
      at: aws.clock.now().toISOString(),
    });
    aws.clock.advance(20_000); // the author clicks again once the crashed request is past handing it back
    const result = await decide(aws.ports, { feature: plan.feature, phase: 'admin', decision: 'approve', actor: priya });
    expect(result.approval.settled).toBe(true);
    await expect(wait).resolves.toMatchObject({ decision: 'approve' });
  });
});

describe('rollBack', () => {
  it('writes the safe state to every target, keeps their other variables, and is idempotent', async () => {
    const { plan } = await awaitingApproval();
    expect(aws.lambda.environmentOf(plan.targets[0]!)).toMatchObject(phaseFlagValues(plan, 0));
    const outcome = await rollBack(aws.ports, { feature: plan.feature, actor: { id: 'oncall', via: 'cli' }, reason: 'p95 regression' });
    expect(outcome.status).toBe('ROLLED_BACK');
    for (const t of plan.targets) expect(aws.lambda.environmentOf(t)).toEqual({ KEEP_ME: 'yes', ...offFlagValues(plan) });
    expect(await aws.ports.store.getState(plan.feature)).toMatchObject({ status: 'ROLLED_BACK', reason: 'p95 regression' });
    expect((await rollBack(aws.ports, { feature: plan.feature, actor: { id: 'oncall', via: 'cli' }, reason: 'again' })).status).toBe('ALREADY_ROLLED_BACK');
    expect((await aws.ports.store.listAudit(plan.feature)).slice(0, 2).map((e) => e.action)).toEqual(['rolled-back', 'rollback-started']);
  });

  it('marks ROLLBACK_FAILED and names the function when a target cannot be written, still writing the others', async () => {
    const { plan } = await awaitingApproval();
    aws.lambda.failUpdates(plan.targets[1]!);
    const err = await rollBack(aws.ports, { feature: plan.feature, actor: { id: 'oncall', via: 'cli' }, reason: 'errors' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlagWriteError);
    expect((err as Error).message).toContain(plan.targets[1]!);
    expect(aws.lambda.environmentOf(plan.targets[0]!)).toMatchObject(offFlagValues(plan));
    expect(await aws.ports.store.getState(plan.feature)).toMatchObject({ status: 'ROLLBACK_FAILED' });
  });

  it('wins against a phase apply that is writing flags at the same moment', async () => {
    const { plan, payload } = await awaitingApproval();
    await decide(aws.ports, { feature: plan.feature, phase: 'admin', decision: 'approve', actor: priya });
    // The apply of phase 1 and an on-call rollback race; whichever order they land in, the targets end safe.
    const [apply, rollback] = await Promise.allSettled([
      applyPhaseStep(aws.ports, { ...payload, phaseIndex: 1 }),
      rollBack(aws.ports, { feature: plan.feature, actor: { id: 'oncall', via: 'cli' }, reason: 'on-call' }),
    ]);
    expect(rollback.status).toBe('fulfilled');
    if (apply.status === 'rejected') expect((apply.reason as Error).name).toMatch(/PhasegateStaleExecutionError|PhasegateConflictError/);
    const state = await aws.ports.store.getState(plan.feature);
    expect(state?.status).toBe('ROLLED_BACK');
    for (const t of plan.targets) expect(aws.lambda.environmentOf(t)).toMatchObject(offFlagValues(plan));
  });
});
