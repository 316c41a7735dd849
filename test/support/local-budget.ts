import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createStateTable, localDynamoClient, startLocalDynamo, type LocalDynamo } from '../../local/dynamo';
import { DynamoLlmBudgetStore } from '../../lambdas/adapters/dynamo-budget-store';
import { parsePlan } from '../../lambdas/core/plan/validate';
import type { Plan } from '../../lambdas/core/plan/schema';

/** dynalite with a table shaped like the stack's, and a budget store on it. */
export interface LocalBudgetTable {
  readonly dynamo: LocalDynamo;
  readonly tableName: string;
  readonly client: DynamoDBClient;
  readonly budgets: DynamoLlmBudgetStore;
  stop(): Promise<void>;
}

let tables = 0;

/** Start dynalite and create a fresh `pk`/`sk` table on it. */
export async function startBudgetTable(): Promise<LocalBudgetTable> {
  const dynamo = await startLocalDynamo();
  const tableName = `phasegate-budget-${++tables}`;
  await createStateTable(dynamo.endpoint, tableName);
  const client = localDynamoClient(dynamo.endpoint);
  return {
    dynamo,
    tableName,
    client,
    budgets: new DynamoLlmBudgetStore(tableName, client),
    async stop() {
      client.destroy();
      await dynamo.stop();
    },
  };
}

/** A two-phase plan whose second phase turns on the LLM sub-feature `llm-parsing` for admins. */
export function llmPlan(feature: string, llm: { dailyCapUsd: number; hardLimitUsd: number; dailyCapVariable?: string } = { dailyCapUsd: 5, hardLimitUsd: 10 }): Plan {
  return parsePlan({
    feature,
    targets: [`${feature}-api`],
    subFeatures: [{ id: 'llm-parsing', flags: { enabled: 'USE_LLM_PARSING', roles: 'LLM_PARSING_ROLES', percent: 'LLM_PARSING_PERCENT' }, llm }],
    phases: [
      { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] } },
      { name: 'llm', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] }, subFeatures: { 'llm-parsing': { roles: ['admin'] } } },
    ],
  });
}

/** A deferred promise: settle it from the outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
