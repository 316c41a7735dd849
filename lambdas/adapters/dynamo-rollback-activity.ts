import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { KEYS } from '../core/contract';
import { isConditionFailed } from './aws-errors';
import type { RollbackActivity } from './lambda-call-scheduler';

/**
 * The stage's "a rollback is writing flags" marker: one item in the state table (`pk` = `CONTROL`, `sk` =
 * `ROLLBACK_ACTIVE`) holding `activeUntil` (epoch ms). Rollbacks in any function set it and renew it as a heartbeat;
 * applies read it and hold their Lambda control-plane calls while it is in the future, so a rollback gets the
 * account's 15 req/s quota first. An expiry rather than a flag, so a rollback that dies never blocks applies for long.
 */
export class DynamoRollbackActivity implements RollbackActivity {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    private readonly tableName: string,
    client: DynamoDBClient = new DynamoDBClient({}),
    private readonly now: () => number = Date.now,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  private get key(): Record<string, string> {
    return { pk: KEYS.control, sk: KEYS.rollbackActive };
  }

  async isActive(): Promise<boolean> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: this.key, ConsistentRead: true }));
    const until = out.Item?.activeUntil;
    return typeof until === 'number' && until > this.now();
  }

  async markActive(untilMs: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key,
          UpdateExpression: 'SET activeUntil = :until',
          // Race prevented: two rollbacks marking at once. The later expiry wins, so the marker never ends early
          // for the rollback that runs longest.
          ConditionExpression: 'attribute_not_exists(activeUntil) OR activeUntil < :until',
          ExpressionAttributeValues: { ':until': untilMs },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }

  async clear(untilMs: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key,
          UpdateExpression: 'SET activeUntil = :zero',
          // Race prevented: clearing another rollback's later marker. Only the marker this rollback wrote is cleared;
          // a longer one stays until its own owner clears it or it expires.
          ConditionExpression: 'activeUntil = :until',
          ExpressionAttributeValues: { ':until': untilMs, ':zero': 0 },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }
}
