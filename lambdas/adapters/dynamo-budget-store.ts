import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { ConflictError, TransientError } from '../core/errors';
import type { LlmBudgetDay, LlmBudgetStore } from '../core/ports';
import { errorMessage, isConditionFailed, isTransient } from './aws-errors';
import { budgetItemKey, capChangeUpdate, parseBudgetItem } from './dynamo-budget-item';

/**
 * LLM budgets in the state table, as Phasegate reads and changes them (the target functions' runtime guard
 * reserves and settles on the same items). Item layout and every conditional write: `dynamo-budget-item.ts`.
 */
export class DynamoLlmBudgetStore implements LlmBudgetStore {
  constructor(
    private readonly tableName: string,
    private readonly client: DynamoDBClient = new DynamoDBClient({}),
  ) {}

  async getDay(feature: string, subFeature: string, day: string): Promise<LlmBudgetDay | undefined> {
    try {
      const out = await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: budgetItemKey({ feature, subFeature, day }), ConsistentRead: true }),
      );
      return out.Item ? parseBudgetItem(out.Item) : undefined;
    } catch (err) {
      if (isTransient(err)) throw new TransientError(`reading the LLM budget of ${feature}.${subFeature}: ${errorMessage(err)}`, { cause: err });
      throw err;
    }
  }

  async setCap(input: Parameters<LlmBudgetStore['setCap']>[0]): Promise<LlmBudgetDay> {
    const update = capChangeUpdate({
      feature: input.feature,
      subFeature: input.subFeature,
      day: input.day,
      capMicros: input.capMicros,
      expectedCapMicros: input.expectedCapMicros,
      planCapMicros: input.planCapMicros,
      change: { by: input.by, at: input.at, reason: input.reason, previousCapMicros: input.expectedCapMicros ?? input.planCapMicros },
    });
    try {
      const out = await this.client.send(new UpdateItemCommand({ TableName: this.tableName, ...update, ReturnValues: 'ALL_NEW' }));
      return parseBudgetItem(out.Attributes ?? {});
    } catch (err) {
      if (isConditionFailed(err)) {
        throw new ConflictError(
          `today's cap of ${input.feature}.${input.subFeature} changed since it was read (${input.expectedCapMicros === undefined ? 'no record' : `${input.expectedCapMicros} micro-USD`})`,
          { cause: err },
        );
      }
      if (isTransient(err)) throw new TransientError(`setting the LLM cap of ${input.feature}.${input.subFeature}: ${errorMessage(err)}`, { cause: err });
      throw err;
    }
  }
}
