import { metricForEvent } from '../core/rollout/rollout-metrics';
import type { ApprovalRecord, BakeRecord, MetricSink, RolloutStore } from '../core/ports';
import type { AuditEvent, RolloutState, Transition } from '../core/rollout/rollout-state';

/**
 * A store that counts what it records: every transition or audit event that is a phase change, an approval or
 * a rollback is also published as a metric (Embedded Metric Format in Lambda). Only writes that landed count.
 */
export class MeteredRolloutStore implements RolloutStore {
  constructor(
    private readonly inner: RolloutStore,
    private readonly sink: MetricSink,
    private readonly stage: string,
  ) {}

  private count(event: AuditEvent): void {
    const metric = metricForEvent(event, this.stage);
    if (metric) this.sink.put(metric);
  }

  getState(feature: string): Promise<RolloutState | undefined> {
    return this.inner.getState(feature);
  }
  async saveTransition(previous: RolloutState | undefined, transition: Transition): Promise<void> {
    await this.inner.saveTransition(previous, transition);
    this.count(transition.event);
  }
  async appendAudit(event: AuditEvent): Promise<void> {
    await this.inner.appendAudit(event);
    this.count(event);
  }
  listAudit(feature: string, limit?: number): Promise<AuditEvent[]> {
    return this.inner.listAudit(feature, limit);
  }
  putApprovalRequest(request: Omit<ApprovalRecord, 'status' | 'settled'>): Promise<void> {
    return this.inner.putApprovalRequest(request);
  }
  getApproval(feature: string, executionId: string, phaseIndex: number): Promise<ApprovalRecord | undefined> {
    return this.inner.getApproval(feature, executionId, phaseIndex);
  }
  claimApproval(input: Parameters<RolloutStore['claimApproval']>[0]): Promise<ApprovalRecord> {
    return this.inner.claimApproval(input);
  }
  markApprovalSettled(feature: string, executionId: string, phaseIndex: number): Promise<void> {
    return this.inner.markApprovalSettled(feature, executionId, phaseIndex);
  }
  putBake(record: Omit<BakeRecord, 'promotedBy' | 'promotedAt'>): Promise<void> {
    return this.inner.putBake(record);
  }
  getBake(feature: string, executionId: string, phaseIndex: number): Promise<BakeRecord | undefined> {
    return this.inner.getBake(feature, executionId, phaseIndex);
  }
  claimBakePromotion(input: Parameters<RolloutStore['claimBakePromotion']>[0]): Promise<BakeRecord> {
    return this.inner.claimBakePromotion(input);
  }
}
