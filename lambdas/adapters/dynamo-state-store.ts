import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { KEYS } from '../core/contract';
import { ConflictError, RefusedError, TransientError } from '../core/errors';
import type { ApprovalRecord, BakeRecord, RolloutStore } from '../core/ports';
import type { AuditEvent, RolloutState, Transition } from '../core/rollout/rollout-state';
import { errorMessage, isConditionFailed, isTransient } from './aws-errors';

const STRIP = ['pk', 'sk', 'kind'] as const;

function strip<T>(item: Record<string, unknown>): T {
  const copy = { ...item };
  for (const key of STRIP) delete copy[key];
  return copy as T;
}

function auditKey(event: AuditEvent): string {
  const suffix =
    event.version !== undefined
      ? `v${String(event.version).padStart(8, '0')}`
      : event.key !== undefined
        ? `k${event.key}`
        : `r${Math.random().toString(36).slice(2, 10)}`;
  return KEYS.audit(event.at, suffix);
}

/** Rethrow SDK errors as the domain's typed errors so Step Functions can route on them. */
function rethrow(err: unknown, what: string): never {
  if (isTransient(err)) throw new TransientError(`${what}: ${errorMessage(err)}`, { cause: err });
  throw err;
}

/**
 * Rollout state, approvals and the audit trail in one DynamoDB table (`pk` = `FEATURE#<feature>`, `sk` =
 * `STATE` | `APPROVAL#...` | `AUDIT#...`). No transactions: every state change is a single conditional write,
 * and the audit event of a transition is keyed by its version so it can be written again idempotently.
 */
export class DynamoRolloutStore implements RolloutStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    private readonly tableName: string,
    client: DynamoDBClient = new DynamoDBClient({}),
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async getState(feature: string): Promise<RolloutState | undefined> {
    try {
      const out = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: { pk: KEYS.partition(feature), sk: KEYS.state }, ConsistentRead: true }),
      );
      return out.Item ? strip<RolloutState>(out.Item) : undefined;
    } catch (err) {
      return rethrow(err, `reading the state of ${feature}`);
    }
  }

  async saveTransition(previous: RolloutState | undefined, transition: Transition): Promise<void> {
    const { next, event } = transition;
    // A crash after the previous transition's state write may have lost its audit event: write it again
    // (idempotent: same key, first write wins) so the trail never misses a transition.
    const repair = previous?.lastEvent ? this.putAudit(previous.lastEvent) : Promise.resolve();
    try {
      // Race prevented: two writers read version N and both try to write N+1 (two approvals, an approval and
      // an alarm rollback, a retried step and its original). Only the first write whose condition still
      // matches lands; the other gets ConflictError and re-reads. A feature that never started has no item.
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: KEYS.partition(next.feature), sk: KEYS.state, kind: 'state', ...next },
          ConditionExpression: previous ? '#version = :expected' : 'attribute_not_exists(pk)',
          ...(previous
            ? { ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':expected': previous.version } }
            : {}),
        }),
      );
    } catch (err) {
      await repair.catch(() => undefined);
      if (isConditionFailed(err)) {
        throw new ConflictError(
          `state of ${next.feature} changed since version ${previous?.version ?? 'none'} was read (wanted ${event.action})`,
          { cause: err },
        );
      }
      rethrow(err, `saving ${event.action} for ${next.feature}`);
    }
    await Promise.all([repair, this.putAudit(event)]);
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    await this.putAudit(event);
  }

  /** Write an audit event; writing one that already exists is a no-op. */
  private async putAudit(event: AuditEvent): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: KEYS.partition(event.feature), sk: auditKey(event), kind: 'audit', ...event },
          // Append-only: an event is never overwritten, so a repeated write of the same transition is harmless.
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) return;
      rethrow(err, `appending an audit event for ${event.feature}`);
    }
  }

  async listAudit(feature: string, limit = 50): Promise<AuditEvent[]> {
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': KEYS.partition(feature), ':prefix': KEYS.auditPrefix },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map((item) => strip<AuditEvent>(item));
    } catch (err) {
      return rethrow(err, `reading the audit trail of ${feature}`);
    }
  }

  async putApprovalRequest(request: Omit<ApprovalRecord, 'status' | 'settled'>): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: KEYS.partition(request.feature),
            sk: KEYS.approval(request.executionId, request.phaseIndex),
            kind: 'approval',
            ...request,
            status: 'PENDING',
            settled: false,
          },
          // Race prevented: Step Functions retried the approval task (new token) while, or after, a person
          // decided on the first one. A decided approval is never reopened; a pending one takes the new token.
          ConditionExpression: 'attribute_not_exists(sk) OR #status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':pending': 'PENDING' },
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) {
        throw new RefusedError('ALREADY_DECIDED', `phase ${request.phaseName} of ${request.feature} was already decided`);
      }
      rethrow(err, `storing the approval request of ${request.feature}`);
    }
  }

  async getApproval(feature: string, executionId: string, phaseIndex: number): Promise<ApprovalRecord | undefined> {
    try {
      const out = await this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: KEYS.partition(feature), sk: KEYS.approval(executionId, phaseIndex) },
          ConsistentRead: true,
        }),
      );
      return out.Item ? strip<ApprovalRecord>(out.Item) : undefined;
    } catch (err) {
      return rethrow(err, `reading an approval of ${feature}`);
    }
  }

  async claimApproval(input: Parameters<RolloutStore['claimApproval']>[0]): Promise<ApprovalRecord> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: KEYS.partition(input.feature), sk: KEYS.approval(input.executionId, input.phaseIndex) },
          UpdateExpression: 'SET #status = :decision, decidedBy = :actor, decidedAt = :at' + (input.note ? ', note = :note' : ''),
          // Race prevented: two people click Approve (or one Approve, one Reject) at the same moment. Both read
          // PENDING; only the first update still finds PENDING. The second is told who decided.
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':decision': input.decision === 'approve' ? 'APPROVED' : 'REJECTED',
            ':actor': input.actor,
            ':at': input.at,
            ':pending': 'PENDING',
            ...(input.note ? { ':note': input.note } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip<ApprovalRecord>(out.Attributes ?? {});
    } catch (err) {
      if (!isConditionFailed(err)) rethrow(err, `deciding an approval of ${input.feature}`);
      const existing = await this.getApproval(input.feature, input.executionId, input.phaseIndex);
      if (!existing) throw new RefusedError('NOT_PENDING', `no approval is pending for ${input.feature}`);
      const who = existing.decidedBy?.name ?? existing.decidedBy?.id ?? 'someone';
      throw new RefusedError(
        'ALREADY_DECIDED',
        `phase ${existing.phaseName} of ${input.feature} was already ${existing.status.toLowerCase()} by ${who} at ${existing.decidedAt}`,
      );
    }
  }

  async markApprovalSettled(feature: string, executionId: string, phaseIndex: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: KEYS.partition(feature), sk: KEYS.approval(executionId, phaseIndex) },
          UpdateExpression: 'SET settled = :true',
          ConditionExpression: 'attribute_exists(sk)',
          ExpressionAttributeValues: { ':true': true },
        }),
      );
    } catch (err) {
      rethrow(err, `marking an approval of ${feature} settled`);
    }
  }

  async putBake(record: Omit<BakeRecord, 'promotedBy' | 'promotedAt'>): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: KEYS.partition(record.feature), sk: KEYS.bake(record.executionId, record.phaseIndex), kind: 'bake', ...record },
          // Race prevented: a retried bake task storing its new token over a bake someone already promoted would
          // let a second promote hand back the new token too. A promoted bake keeps its record.
          ConditionExpression: 'attribute_not_exists(promotedAt)',
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) throw new RefusedError('ALREADY_DECIDED', `the bake of phase ${record.phaseName} of ${record.feature} was already promoted`);
      rethrow(err, `storing the bake of ${record.feature}`);
    }
  }

  async getBake(feature: string, executionId: string, phaseIndex: number): Promise<BakeRecord | undefined> {
    try {
      const out = await this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: { pk: KEYS.partition(feature), sk: KEYS.bake(executionId, phaseIndex) }, ConsistentRead: true }),
      );
      return out.Item ? strip<BakeRecord>(out.Item) : undefined;
    } catch (err) {
      return rethrow(err, `reading a bake of ${feature}`);
    }
  }

  async claimBakePromotion(input: Parameters<RolloutStore['claimBakePromotion']>[0]): Promise<BakeRecord> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: KEYS.partition(input.feature), sk: KEYS.bake(input.executionId, input.phaseIndex) },
          UpdateExpression: 'SET promotedBy = :actor, promotedAt = :at',
          // Race prevented: two people promote at the same moment; both read an unpromoted bake, only the first
          // update still finds it so, and only that one hands the token back.
          ConditionExpression: 'attribute_exists(sk) AND attribute_not_exists(promotedAt)',
          ExpressionAttributeValues: { ':actor': input.actor, ':at': input.at },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip<BakeRecord>(out.Attributes ?? {});
    } catch (err) {
      if (!isConditionFailed(err)) rethrow(err, `promoting a bake of ${input.feature}`);
      const existing = await this.getBake(input.feature, input.executionId, input.phaseIndex);
      if (!existing) throw new RefusedError('NOT_PENDING', `${input.feature} is not baking`);
      const who = existing.promotedBy?.name ?? existing.promotedBy?.id ?? 'someone';
      throw new RefusedError('ALREADY_DECIDED', `the bake of phase ${existing.phaseName} of ${input.feature} was already promoted by ${who} at ${existing.promotedAt}`);
    }
  }
}
