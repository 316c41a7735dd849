import { PutCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { localDynamoClient } from '../../local/dynamo';
import { KEYS } from '../../lambdas/core/contract';
import { ConflictError, RefusedError } from '../../lambdas/core/errors';
import { beginPhase, startRollout, type Actor, type RolloutState } from '../../lambdas/core/rollout/rollout-state';
import { startLocalAws, type LocalAws } from '../support/local-aws';
import { threePhasePlan } from '../support/plans';

const pm: Actor = { id: 'u-pm', name: 'Priya', via: 'discord' };
let aws: LocalAws;

beforeAll(async () => {
  aws = await startLocalAws();
});
afterAll(async () => aws.stop());

async function started(feature: string): Promise<RolloutState> {
  const plan = threePhasePlan({ feature });
  const t = startRollout(undefined, { plan, stage: 'dev', executionId: `exec-${feature}`, actor: pm, at: aws.clock.now().toISOString() })!;
  await aws.ports.store.saveTransition(undefined, t);
  return t.next;
}

describe('DynamoRolloutStore on dynalite', () => {
  it('stores a transition and its audit event, and reads them back', async () => {
    const state = await started('store-roundtrip');
    expect(await aws.ports.store.getState('store-roundtrip')).toEqual(state);
    const audit = await aws.ports.store.listAudit('store-roundtrip');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'rollout-started', version: 1, actor: pm });
  });

  it('refuses to create a state that already exists (two first starts race)', async () => {
    const plan = threePhasePlan({ feature: 'store-double-start' });
    const a = startRollout(undefined, { plan, stage: 'dev', executionId: 'a', actor: pm, at: '2026-11-02T09:00:00.000Z' })!;
    const b = startRollout(undefined, { plan, stage: 'dev', executionId: 'b', actor: pm, at: '2026-11-02T09:00:00.000Z' })!;
    const results = await Promise.allSettled([aws.ports.store.saveTransition(undefined, a), aws.ports.store.saveTransition(undefined, b)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(ConflictError);
  });

  it('lets exactly one of many racing transitions from the same version win', async () => {
    const state = await started('store-race');
    const racers = Array.from({ length: 20 }, (_, i) => {
      aws.clock.advance(1);
      return beginPhase(state, 0, new Date(Date.parse(state.updatedAt) + i).toISOString())!;
    });
    const results = await Promise.allSettled(racers.map((t) => aws.ports.store.saveTransition(state, t)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
    const stored = await aws.ports.store.getState('store-race');
    expect(stored).toMatchObject({ version: 2, phaseIndex: 0, step: 'applying' });
    // One audit event per transition that landed: the losers left nothing behind.
    expect((await aws.ports.store.listAudit('store-race')).map((e) => e.version)).toEqual([2, 1]);
  });

  it('repairs an audit event lost by a crash between the state write and the audit write', async () => {
    const plan = threePhasePlan({ feature: 'store-repair' });
    const t = startRollout(undefined, { plan, stage: 'dev', executionId: 'exec', actor: pm, at: '2026-11-02T09:00:00.000Z' })!;
    // The crash: only the state item was written.
    const doc = DynamoDBDocumentClient.from(localDynamoClient(aws.dynamo.endpoint), { marshallOptions: { removeUndefinedValues: true } });
    await doc.send(new PutCommand({ TableName: aws.tableName, Item: { pk: KEYS.partition('store-repair'), sk: KEYS.state, ...t.next } }));
    expect(await aws.ports.store.listAudit('store-repair')).toHaveLength(0);

    const next = beginPhase(t.next, 0, '2026-11-02T09:01:00.000Z')!;
    await aws.ports.store.saveTransition(t.next, next);
    expect((await aws.ports.store.listAudit('store-repair')).map((e) => e.action)).toEqual(['phase-started', 'rollout-started']);
    doc.destroy();
  });

  it('lists the audit trail newest first, with non-transition events in time order', async () => {
    const state = await started('store-history');
    aws.clock.advance(1000);
    await aws.ports.store.appendAudit({
      feature: 'store-history',
      at: aws.clock.now().toISOString(),
      actor: pm,
      action: 'refused',
      fromPhase: null,
      toPhase: null,
      message: 'refused',
    });
    aws.clock.advance(1000);
    const t = beginPhase(state, 0, aws.clock.now().toISOString())!;
    await aws.ports.store.saveTransition(state, t);
    expect((await aws.ports.store.listAudit('store-history')).map((e) => e.action)).toEqual(['phase-started', 'refused', 'rollout-started']);
    expect(await aws.ports.store.listAudit('store-history', 1)).toHaveLength(1);
  });

  describe('approvals', () => {
    const request = (token: string) => ({
      feature: 'store-approvals',
      executionId: 'exec-1',
      phaseIndex: 0,
      phaseName: 'admin',
      taskToken: token,
      requestedAt: '2026-11-02T09:00:00.000Z',
    });

    it('replaces the token of a pending request (a retried task) and never reopens a decided one', async () => {
      await aws.ports.store.putApprovalRequest(request('token-1'));
      await aws.ports.store.putApprovalRequest(request('token-2'));
      expect(await aws.ports.store.getApproval('store-approvals', 'exec-1', 0)).toMatchObject({ taskToken: 'token-2', status: 'PENDING', settled: false });

      const decisions = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          aws.ports.store.claimApproval({
            feature: 'store-approvals',
            executionId: 'exec-1',
            phaseIndex: 0,
            decision: i % 2 === 0 ? 'approve' : 'reject',
            actor: { id: `u-${i}`, name: `person ${i}`, via: 'discord' },
            note: 'looks fine',
            at: '2026-11-02T10:00:00.000Z',
          }),
        ),
      );
      const won = decisions.filter((d) => d.status === 'fulfilled') as PromiseFulfilledResult<{ decidedBy?: Actor }>[];
      expect(won).toHaveLength(1);
      const winner = won[0]!.value.decidedBy!.name!;
      for (const d of decisions) {
        if (d.status === 'rejected') {
          expect(d.reason).toBeInstanceOf(RefusedError);
          expect((d.reason as RefusedError).code).toBe('ALREADY_DECIDED');
          expect((d.reason as Error).message).toContain(winner);
        }
      }
      await expect(aws.ports.store.putApprovalRequest(request('token-3'))).rejects.toMatchObject({ code: 'ALREADY_DECIDED' });
      expect(await aws.ports.store.getApproval('store-approvals', 'exec-1', 0)).toMatchObject({ taskToken: 'token-2' });
    });

    it('refuses to claim an approval that was never requested', async () => {
      await expect(
        aws.ports.store.claimApproval({
          feature: 'store-approvals',
          executionId: 'exec-9',
          phaseIndex: 0,
          decision: 'approve',
          actor: pm,
          at: '2026-11-02T10:00:00.000Z',
        }),
      ).rejects.toMatchObject({ code: 'NOT_PENDING' });
    });
  });
});
