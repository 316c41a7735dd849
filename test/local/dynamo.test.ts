import { DescribeTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { CloudFormationTemplate } from '../../local/asl';
import { createTable, createTablesFromTemplate, startLocalDynamo, useLocalDynamo, type LocalDynamo } from '../../local/dynamo';

/** Shaped like CDK's output: a TableV2 (GlobalTable) with a GSI and TTL, a Table with a literal name, and noise. */
const template: CloudFormationTemplate = {
  Resources: {
    StateTableC0FFEE01: {
      Type: 'AWS::DynamoDB::GlobalTable',
      Properties: {
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'status', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          { IndexName: 'byStatus', KeySchema: [{ AttributeName: 'status', KeyType: 'HASH' }], Projection: { ProjectionType: 'ALL' } },
        ],
        Replicas: [{ Region: { Ref: 'AWS::Region' } }],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      },
    },
    AuditTable: {
      Type: 'AWS::DynamoDB::Table',
      Properties: {
        TableName: 'phasegate-audit',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'N' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        ProvisionedThroughput: { ReadCapacityUnits: 2, WriteCapacityUnits: 3 },
      },
    },
    SomeRole: { Type: 'AWS::IAM::Role', Properties: {} },
  },
};

describe('local DynamoDB', () => {
  let dynamo: LocalDynamo;
  let restoreEnv: () => void;

  beforeAll(async () => {
    dynamo = await startLocalDynamo();
    restoreEnv = useLocalDynamo(dynamo.endpoint);
  });
  afterAll(async () => {
    restoreEnv();
    await dynamo.stop();
  });

  it('creates the tables of a template with their keys, indexes and billing, and returns their names', async () => {
    const names = await createTablesFromTemplate(template, dynamo.endpoint);
    expect(names).toEqual({ StateTableC0FFEE01: 'phasegate-local-StateTableC0FFEE01', AuditTable: 'phasegate-audit' });

    // No endpoint option: the client finds dynalite through AWS_ENDPOINT_URL_DYNAMODB, as production code will.
    const client = new DynamoDBClient({});
    const { Table: state } = await client.send(new DescribeTableCommand({ TableName: names.StateTableC0FFEE01 }));
    expect(state).toMatchObject({
      TableStatus: 'ACTIVE',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
      GlobalSecondaryIndexes: [expect.objectContaining({ IndexName: 'byStatus', IndexStatus: 'ACTIVE' })],
    });
    const { Table: audit } = await client.send(new DescribeTableCommand({ TableName: 'phasegate-audit' }));
    expect(audit?.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 2, WriteCapacityUnits: 3 });

    const documents = DynamoDBDocumentClient.from(client);
    await documents.send(new PutCommand({ TableName: names.StateTableC0FFEE01, Item: { pk: 'F#a', sk: 'STATE', status: 'ACTIVE' } }));
    const { Items } = await documents.send(
      new QueryCommand({
        TableName: names.StateTableC0FFEE01,
        IndexName: 'byStatus',
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':s': 'ACTIVE' },
      }),
    );
    expect(Items).toEqual([{ pk: 'F#a', sk: 'STATE', status: 'ACTIVE' }]);
    client.destroy();
  });

  it('createTable creates a single table, and a second one of the same name is refused', async () => {
    const input = {
      TableName: 'scratch',
      AttributeDefinitions: [{ AttributeName: 'k', AttributeType: 'S' as const }],
      KeySchema: [{ AttributeName: 'k', KeyType: 'HASH' as const }],
      BillingMode: 'PAY_PER_REQUEST' as const,
    };
    await expect(createTable(dynamo.endpoint, input)).resolves.toBe('scratch');
    await expect(createTable(dynamo.endpoint, input)).rejects.toMatchObject({ name: 'ResourceInUseException' });
    const client = new DynamoDBClient({});
    expect((await client.send(new ListTablesCommand({}))).TableNames).toContain('scratch');
    client.destroy();
  });

  it('useLocalDynamo puts the previous endpoint back', () => {
    const before = process.env.AWS_ENDPOINT_URL_DYNAMODB;
    const restore = useLocalDynamo('http://127.0.0.1:1');
    expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe('http://127.0.0.1:1');
    restore();
    expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe(before);
  });
});
