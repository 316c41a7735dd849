import { emfRecord } from '../../lambdas/adapters/emf-metric-sink';
import { MeteredRolloutStore } from '../../lambdas/adapters/metered-store';
import { METRICS } from '../../lambdas/core/contract';
import type { PhasegateMetric } from '../../lambdas/core/ports';
import { metricForEvent } from '../../lambdas/core/rollout/rollout-metrics';
import { beginPhase, startRollout, type AuditEvent } from '../../lambdas/core/rollout/rollout-state';
import { startLocalAws, type LocalAws } from '../support/local-aws';
import { threePhasePlan } from '../support/plans';

const event = (action: AuditEvent['action']): AuditEvent => ({
  feature: 'ux-update',
  at: '2026-11-02T09:00:00.000Z',
  actor: { id: 'u', via: 'discord' },
  action,
  fromPhase: 'admin',
  toPhase: 'admin',
  message: action,
});

describe('rollout metrics', () => {
  it.each([
    ['phase-started', METRICS.phaseChanges, {}],
    ['approved', METRICS.approvals, { Decision: 'approve' }],
    ['rejected', METRICS.approvals, { Decision: 'reject' }],
    ['rolled-back', METRICS.rollbacks, { Outcome: 'rolled-back' }],
    ['sub-feature-rolled-back', METRICS.rollbacks, { Outcome: 'sub-feature-rolled-back' }],
    ['rollback-failed', METRICS.rollbacks, { Outcome: 'failed' }],
  ] as const)('counts %s as %s', (action, name, extra) => {
    expect(metricForEvent(event(action), 'prod')).toEqual({
      name,
      value: 1,
      unit: 'Count',
      dimensions: { Feature: 'ux-update', Stage: 'prod', ...extra },
      at: new Date('2026-11-02T09:00:00.000Z'),
    });
  });

  it.each(['gate-evaluated', 'refused', 'flags-applied', 'paused'] as const)('does not count %s', (action) => {
    expect(metricForEvent(event(action), 'prod')).toBeUndefined();
  });

  it('is written as Embedded Metric Format that CloudWatch turns into the metric', () => {
    const record = emfRecord(metricForEvent(event('approved'), 'dev')!);
    expect(record).toEqual({
      _aws: {
        Timestamp: Date.parse('2026-11-02T09:00:00.000Z'),
        CloudWatchMetrics: [{ Namespace: 'Phasegate', Dimensions: [['Feature', 'Stage', 'Decision']], Metrics: [{ Name: 'Approvals', Unit: 'Count' }] }],
      },
      Feature: 'ux-update',
      Stage: 'dev',
      Decision: 'approve',
      Approvals: 1,
    });
  });

  describe('the metered store', () => {
    let aws: LocalAws;
    beforeAll(async () => {
      aws = await startLocalAws();
    });
    afterAll(() => aws.stop());

    it('counts transitions that landed, and only those', async () => {
      const metrics: PhasegateMetric[] = [];
      const store = new MeteredRolloutStore(aws.ports.store, { put: (m) => metrics.push(m) }, 'dev');
      const plan = threePhasePlan({ feature: 'metered' });
      const start = startRollout(undefined, { plan, stage: 'dev', executionId: 'e1', actor: { id: 'u', via: 'cli' }, at: '2026-11-02T09:00:00.000Z' })!;
      await store.saveTransition(undefined, start);
      const phase = beginPhase(start.next, 0, '2026-11-02T09:01:00.000Z')!;
      await store.saveTransition(start.next, phase);
      await expect(store.saveTransition(start.next, phase)).rejects.toThrow(/changed since version/);
      expect(metrics.map((m) => m.name)).toEqual([METRICS.phaseChanges]);
    });
  });
});
