/**
 * DynamoDB for local runs: dynalite in process, with the tables of a synthesized template created on it as the
 * template defines them. dynalite has no TransactWriteItems and no UpdateTimeToLive, so nothing here calls them.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type CreateTableCommandInput,
  type GlobalSecondaryIndex,
  type LocalSecondaryIndex,
  type ProvisionedThroughput,
} from '@aws-sdk/client-dynamodb';
import type { CloudFormationTemplate } from './asl';

/** A running in-process dynalite. */
export interface LocalDynamo {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Stops the server and drops its data. */
  stop(): Promise<void>;
}

/** Options of {@link createTablesFromTemplate}. */
export interface CreateTablesOptions {
  /**
   * Prefix of the generated name of a table whose `TableName` is not a literal: `<prefix><logicalId>`.
   * @default 'phasegate-local-'
   */
  readonly namePrefix?: string;
}

type DynaliteFactory = (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

const TABLE_TYPES = new Set(['AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable']);
// dynalite insists on throughput for PROVISIONED tables; a GlobalTable keeps it in autoscaling settings instead.
const PLACEHOLDER_THROUGHPUT: ProvisionedThroughput = { ReadCapacityUnits: 5, WriteCapacityUnits: 5 };

/** Starts dynalite in this process on a free port of 127.0.0.1, with tables active as soon as they are created. */
export async function startLocalDynamo(): Promise<LocalDynamo> {
  // dynalite ships no type declarations.
  const dynalite = require('dynalite') as DynaliteFactory;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // The SDK keeps sockets alive; without this close() would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}

/**
 * Points every DynamoDB client created from now on at `endpoint` through `AWS_ENDPOINT_URL_DYNAMODB`, which SDK v3
 * honours, so production code needs no endpoint option. Returns a function that puts the previous value back.
 */
export function useLocalDynamo(endpoint: string): () => void {
  const previous = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
  return () => {
    if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
    else process.env.AWS_ENDPOINT_URL_DYNAMODB = previous;
  };
}

/** A DynamoDB client for `endpoint` with local credentials. */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** Creates a table on the local DynamoDB at `endpoint` and waits until it is ACTIVE. Returns its name. */
export async function createTable(endpoint: string, input: CreateTableCommandInput): Promise<string> {
  const client = localDynamoClient(endpoint);
  try {
    await client.send(new CreateTableCommand(input));
    for (;;) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: input.TableName }));
      if (Table?.TableStatus === 'ACTIVE') return input.TableName!;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    client.destroy();
  }
}

/**
 * Creates every `AWS::DynamoDB::Table` and `AWS::DynamoDB::GlobalTable` of a synthesized template on the local
 * DynamoDB at `endpoint`, with the KeySchema, AttributeDefinitions, secondary indexes and BillingMode the template
 * gives. A literal `TableName` is kept; otherwise the name is `<namePrefix><logicalId>`. TTL, streams, encryption
 * and replicas are left out: dynalite does not model them. Returns logical id to table name.
 */
export async function createTablesFromTemplate(
  template: CloudFormationTemplate,
  endpoint: string,
  options: CreateTablesOptions = {},
): Promise<Record<string, string>> {
  const prefix = options.namePrefix ?? 'phasegate-local-';
  const names: Record<string, string> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    if (!TABLE_TYPES.has(resource.Type)) continue;
    const props = (resource.Properties ?? {}) as Record<string, unknown>;
    const tableName = typeof props.TableName === 'string' ? props.TableName : `${prefix}${logicalId}`;
    names[logicalId] = await createTable(endpoint, tableInput(tableName, props, resource.Type === 'AWS::DynamoDB::GlobalTable'));
  }
  return names;
}

function tableInput(tableName: string, props: Record<string, unknown>, isGlobalTable: boolean): CreateTableCommandInput {
  // CloudFormation's default billing mode for AWS::DynamoDB::Table is PROVISIONED; a GlobalTable must state it.
  const onDemand = props.BillingMode === 'PAY_PER_REQUEST';
  const throughput = onDemand
    ? undefined
    : isGlobalTable
      ? PLACEHOLDER_THROUGHPUT
      : ((props.ProvisionedThroughput as ProvisionedThroughput | undefined) ?? PLACEHOLDER_THROUGHPUT);
  const gsis = (props.GlobalSecondaryIndexes as GlobalSecondaryIndex[] | undefined)?.map(
    (index): GlobalSecondaryIndex => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: index.Projection,
      ...(throughput && { ProvisionedThroughput: (!isGlobalTable && index.ProvisionedThroughput) || throughput }),
    }),
  );
  const lsis = (props.LocalSecondaryIndexes as LocalSecondaryIndex[] | undefined)?.map(
    (index): LocalSecondaryIndex => ({ IndexName: index.IndexName, KeySchema: index.KeySchema, Projection: index.Projection }),
  );
  return {
    TableName: tableName,
    KeySchema: props.KeySchema as CreateTableCommandInput['KeySchema'],
    AttributeDefinitions: props.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
    BillingMode: onDemand ? 'PAY_PER_REQUEST' : 'PROVISIONED',
    ...(throughput && { ProvisionedThroughput: throughput }),
    ...(gsis && gsis.length > 0 && { GlobalSecondaryIndexes: gsis }),
    ...(lsis && lsis.length > 0 && { LocalSecondaryIndexes: lsis }),
  };
}

/**
 * Creates a table shaped like the stack's state table (`pk`/`sk` strings, on demand) on the local DynamoDB, for
 * tests and benchmarks that do not synthesize the stack. Returns its name.
 */
export function createStateTable(endpoint: string, tableName: string): Promise<string> {
  return createTable(endpoint, {
    TableName: tableName,
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    BillingMode: 'PAY_PER_REQUEST',
  });
}
