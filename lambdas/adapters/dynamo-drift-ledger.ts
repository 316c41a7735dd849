import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { KEYS } from '../core/contract';
import { ConflictError, TransientError } from '../core/errors';
import type { DriftLedger, DriftRecord } from '../core/ports';
import { errorMessage, isConditionFailed, isTransient } from './aws-errors';

/**
 * Drift bookkeeping in the state table: one item per feature and target (`pk` = `FEATURE#<feature>`, `sk` =
 * `DRIFT#<target>`) with the recent repairs and the back-off. Each write is conditional on the version read.
 */
export class DynamoDriftLedger implements DriftLedger {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    private readonly tableName: string,
    client: DynamoDBClient = new DynamoDBClient({}),
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async get(feature: string, target: string): Promise<DriftRecord | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: KEYS.partition(feature), sk: KEYS.drift(target) }, ConsistentRead: true }));
      if (!out.Item) return undefined;
      const { pk: _pk, sk: _sk, kind: _kind, ...record } = out.Item;
      return record as DriftRecord;
    } catch (err) {
      if (isTransient(err)) throw new TransientError(`reading the drift record of ${target}: ${errorMessage(err)}`, { cause: err });
      throw err;
    }
  }

  async put(previous: DriftRecord | undefined, next: DriftRecord): Promise<void> {
    try {
      // Race prevented: two reconciles of the same target (a deploy's several CloudTrail events, the schedule) both
      // counting a repair on the record they read. One lands; the other's repair was the same write and is not counted
      // twice.
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: KEYS.partition(next.feature), sk: KEYS.drift(next.target), kind: 'drift', ...next },
          ConditionExpression: previous ? '#version = :expected' : 'attribute_not_exists(pk)',
          ...(previous ? { ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':expected': previous.version } } : {}),
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) throw new ConflictError(`the drift record of ${next.target} (${next.feature}) changed meanwhile`, { cause: err });
      if (isTransient(err)) throw new TransientError(`writing the drift record of ${next.target}: ${errorMessage(err)}`, { cause: err });
      throw err;
    }
  }
}
