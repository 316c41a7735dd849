import '../../local/node-compat';
import { offFlagValues, phaseFlagValues } from '../../lambdas/core/flags/flags';
import type { Person } from '../../lambdas/core/rollout/operations';
import { requestRollback } from '../../lambdas/core/rollback/rollback-request';
import { applyPhaseStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import { startLocalAws, type LocalAws } from '../support/local-aws';
import { threePhasePlan } from '../support/plans';

const onCall: Person = { id: 'arn:aws:sts::123456789012:assumed-role/OnCall/olga', name: 'olga', via: 'cli', roles: ['on-call'] };
const pm: Person = { id: 'u-priya', name: 'Priya', via: 'discord', roles: ['pm'] };
let aws: LocalAws;
let n = 0;

beforeAll(async () => {
  aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
});
afterAll(async () => aws.stop());

async function baking() {
  const feature = `rbr-${++n}`;
  const plan = threePhasePlan({ feature, targets: [`${feature}-fn`] });
  aws.lambda.addFunction(`${feature}-fn`, {});
  const payload = { plan, stage: 'dev', executionId: `arn:exec:${feature}`, startedBy: pm };
  await startRolloutStep(aws.ports, payload);
  await applyPhaseStep(aws.ports, { ...payload, phaseIndex: 0 });
  return plan;
}

describe('requestRollback', () => {
  it('rolls back for a person who may, recorded under their name', async () => {
    const plan = await baking();
    const outcome = await requestRollback(aws.ports, { feature: plan.feature, actor: onCall, reason: '  p95 regression ' });
    expect(outcome.status).toBe('ROLLED_BACK');
    expect(aws.lambda.environmentOf(plan.targets[0]!)).toEqual(offFlagValues(plan));
    expect(await aws.ports.store.getState(plan.feature)).toMatchObject({ status: 'ROLLED_BACK', reason: 'p95 regression' });
    const started = (await aws.ports.store.listAudit(plan.feature)).find((e) => e.action === 'rollback-started');
    expect(started?.actor).toEqual({ id: onCall.id, name: 'olga', via: 'cli' });
  });

  it.each([
    ['a person without on-call or admin', { actor: pm, reason: 'looks off' }, 'FORBIDDEN'],
    ['a rollback without a reason', { actor: onCall, reason: ' ' }, 'INVALID'],
  ])('refuses %s, changes nothing and audits the refusal', async (_what, req, code) => {
    const plan = await baking();
    const before = await aws.ports.store.getState(plan.feature);
    await expect(requestRollback(aws.ports, { feature: plan.feature, ...req })).rejects.toMatchObject({ code });
    expect(await aws.ports.store.getState(plan.feature)).toEqual(before);
    expect(aws.lambda.environmentOf(plan.targets[0]!)).toEqual(phaseFlagValues(plan, 0));
    expect((await aws.ports.store.listAudit(plan.feature))[0]).toMatchObject({ action: 'refused', actor: { id: req.actor.id }, detail: { code, request: 'rollback' } });
  });

  it('refuses a feature that never started', async () => {
    await expect(requestRollback(aws.ports, { feature: 'never', actor: onCall, reason: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
