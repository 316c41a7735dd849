import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { ENV, PHASEGATE_FUNCTIONS } from '../../lambdas/core/contract';
import { PhasegateFunction } from '../../lib/phasegate-function';
import { PhasegateFunctions } from '../../lib/phasegate-functions';
import {
  FAKE_ENV,
  asArray,
  functionId,
  functionRoleId,
  policyStatements,
  stageStack,
  testApp,
} from './template-helpers';

const arnOf = (name: string): string => `arn:${FAKE_ENV.partition}:lambda:${FAKE_ENV.region}:${FAKE_ENV.account}:function:${name}`;

function functionsStack(targets: readonly string[], production = false): { stack: Stack; template: Template } {
  const stack = new Stack(testApp(), 'FunctionsTest');
  const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
  new PhasegateFunctions(stack, 'Functions', { stage: 'dev', table, targets, production });
  return { stack, template: Template.fromStack(stack) };
}

describe('PhasegateFunctions', () => {
  const { template } = functionsStack(['orders-api', 'arn:aws:lambda:eu-west-1:210987654321:function:billing-worker', 'orders-api']);

  it('creates exactly the functions of PHASEGATE_FUNCTIONS', () => {
    const roles = Object.values(template.findResources('AWS::Lambda::Function')).map(
      (f) => f.Properties.Environment.Variables[ENV.functionRole],
    );
    expect(roles.sort()).toEqual([...PHASEGATE_FUNCTIONS].sort());
  });

  it.each(PHASEGATE_FUNCTIONS.map((name) => ({ name, timeout: ['apply-phase', 'rollback'].includes(name) ? 300 : name === 'gate' ? 120 : 30 })))(
    '$name: nodejs22.x on arm64, traced, 256 MB, $timeout s, contract environment',
    ({ name, timeout }) => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        MemorySize: 256,
        Timeout: timeout,
        LoggingConfig: { LogGroup: { Ref: Match.anyValue() } },
        Environment: {
          Variables: Match.objectLike({
            [ENV.tableName]: { Ref: Match.stringLikeRegexp('^Table') },
            [ENV.stage]: 'dev',
            [ENV.functionRole]: name,
            NODE_OPTIONS: '--enable-source-maps',
          }),
        },
      });
    },
  );

  it('tells the flag-writing functions how long to wait for a configuration update, inside their timeout', () => {
    for (const name of ['apply-phase', 'gate', 'rollback']) {
      const fn = template.findResources('AWS::Lambda::Function')[functionId(template, name)]!;
      const wait = Number(fn.Properties.Environment.Variables[ENV.flagWriteTimeoutSeconds]);
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThan(fn.Properties.Timeout);
    }
  });

  it('gives every function its own log group with one month retention, and no managed policy on any role', () => {
    template.resourceCountIs('AWS::Logs::LogGroup', PHASEGATE_FUNCTIONS.length);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Delete' });
    template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('retains log groups in production', () => {
    functionsStack(['orders-api'], true).template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Retain' });
  });

  it('lets only apply-phase, the gate (drift repair) and rollback read (GetFunction) and update configurations, only of the targets (names made ARNs, ARNs kept)', () => {
    const writers = policyStatements(template).filter(({ statement }) =>
      asArray(statement.Action).some((a: string) => a.startsWith('lambda:') || a.includes('*')),
    );
    const owners = writers.flatMap((w) => w.roles).sort();
    expect(owners).toEqual([functionRoleId(template, 'apply-phase'), functionRoleId(template, 'gate'), functionRoleId(template, 'rollback')].sort());
    for (const { statement } of writers) {
      expect(asArray(statement.Action).sort()).toEqual(['lambda:GetFunction', 'lambda:UpdateFunctionConfiguration']);
      expect(asArray(statement.Resource).sort()).toEqual(
        [arnOf('orders-api'), 'arn:aws:lambda:eu-west-1:210987654321:function:billing-worker'].sort(),
      );
    }
  });

  it('grants no configuration access at all when there are no targets', () => {
    const { template: empty } = functionsStack([]);
    const lambdaActions = policyStatements(empty).flatMap(({ statement }) =>
      asArray(statement.Action).filter((a: string) => a.startsWith('lambda:')),
    );
    expect(lambdaActions).toEqual([]);
  });

  it('lets only the gate describe alarms, which needs Resource "*"', () => {
    const readers = policyStatements(template).filter(({ statement }) => asArray(statement.Action).includes('cloudwatch:DescribeAlarms'));
    expect(readers).toHaveLength(1);
    expect(readers[0]!.roles).toEqual([functionRoleId(template, 'gate')]);
    expect(readers[0]!.statement).toMatchObject({ Action: 'cloudwatch:DescribeAlarms', Resource: '*' });
  });

  it('lets only the gate and the start read metrics (GetMetricData, which needs Resource "*"), and nothing else of CloudWatch', () => {
    const cloudwatch = policyStatements(template).filter(({ statement }) => asArray(statement.Action).some((a: string) => a.startsWith('cloudwatch:')));
    const metricReaders = cloudwatch.filter(({ statement }) => asArray(statement.Action).includes('cloudwatch:GetMetricData'));
    expect(metricReaders.flatMap((r) => r.roles).sort()).toEqual([functionRoleId(template, 'gate'), functionRoleId(template, 'start-rollout')].sort());
    for (const r of metricReaders) expect(r.statement).toMatchObject({ Action: 'cloudwatch:GetMetricData', Resource: '*' });
    expect(cloudwatch).toHaveLength(metricReaders.length + 1);
  });

  it('gives every function the item-level table actions its code calls and nothing broader', () => {
    const tableActions = (name: string): string[] => {
      const roleId = functionRoleId(template, name);
      const dynamo = policyStatements(template).filter(
        ({ roles, statement }) => roles.includes(roleId) && asArray(statement.Action).some((a: string) => a.startsWith('dynamodb:')),
      );
      return dynamo.flatMap(({ statement }) => asArray(statement.Action)).sort();
    };
    expect(Object.fromEntries(PHASEGATE_FUNCTIONS.map((name) => [name, tableActions(name)]))).toEqual({
      'start-rollout': ['dynamodb:GetItem', 'dynamodb:PutItem'],
      'apply-phase': ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      gate: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      'request-approval': ['dynamodb:GetItem', 'dynamodb:PutItem'],
      'finish-rollout': ['dynamodb:GetItem', 'dynamodb:PutItem'],
      rollback: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    });
  });

  it('writes logs only to the function\'s own log group', () => {
    for (const name of PHASEGATE_FUNCTIONS) {
      const roleId = functionRoleId(template, name);
      const fn = template.findResources('AWS::Lambda::Function')[functionId(template, name)]!;
      const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
      const logs = policyStatements(template).filter(
        ({ roles, statement }) => roles.includes(roleId) && asArray(statement.Action).some((a: string) => a.startsWith('logs:')),
      );
      expect(logs.map(({ statement }) => statement.Resource)).toEqual([`${logGroupId}.Arn`]);
    }
  });

  it('rejects a bad stage and targets that are neither function names nor unqualified ARNs, listing each', () => {
    const stack = new Stack(testApp(), 'Bad');
    const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    expect(
      () =>
        new PhasegateFunctions(stack, 'Functions', {
          stage: 'Dev',
          table,
          targets: ['ok-name', 'has space', 'arn:aws:lambda:us-east-1:123456789012:function:fn:7', 'fn:live'],
        }),
    ).toThrow(
      /^PhasegateFunctions Bad\/Functions is invalid:\n {2}- stage: .*"Dev"\n {2}- targets\[1\]: .*"has space"\n {2}- targets\[2\]: .*names version 7: .*$/,
    );
  });
});

describe('PhasegateFunction', () => {
  it('reports every invalid prop in one error', () => {
    const stack = new Stack(testApp(), 'Bad');
    const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    let message = '';
    try {
      new PhasegateFunction(stack, 'Fn', {
        name: 'deploy-everything' as never,
        stage: 'Prod',
        table,
        tableAccess: 'admin' as never,
        timeout: Duration.minutes(20),
        memorySize: 64,
        environment: { [ENV.stage]: 'other' },
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'PhasegateFunction Bad/Fn is invalid:',
      expect.stringContaining('name: expected one of start-rollout'),
      expect.stringContaining('stage: expected a lowercase stage name'),
      expect.stringContaining('tableAccess: expected none, read or readWrite'),
      expect.stringContaining('timeout: expected between 1 second and 15 minutes, got 20 minutes'),
      expect.stringContaining('memorySize: expected an integer from 128 to 10240 MB, got 64'),
      expect.stringContaining(`environment.${ENV.stage}: set by PhasegateFunction itself`),
      expect.stringMatching(/entry: .*lambdas\/deploy-everything\/index\.ts does not exist/),
    ]);
  });
});

describe('functions in the project stacks', () => {
  it.each([
    { stage: 'dev', targets: ['cohort-api-dev', 'cohort-worker-dev', 'valine-orchestrator-discord-dev'] },
    { stage: 'prod', targets: ['cohort-api-prod', 'cohort-worker-prod', 'valine-orchestrator-discord-prod'] },
  ])('$stage: UpdateFunctionConfiguration only on that stage\'s targets, never on "*"', ({ stage, targets }) => {
    const { template } = stageStack(stage);
    const statements = policyStatements(template);
    const updaters = statements.filter(({ statement }) => asArray(statement.Action).includes('lambda:UpdateFunctionConfiguration'));
    expect(updaters.length).toBeGreaterThan(0);
    for (const { statement } of updaters) expect(asArray(statement.Resource).sort()).toEqual(targets.map(arnOf).sort());
    for (const { statement } of statements) {
      for (const action of asArray(statement.Action) as string[]) expect(action).not.toMatch(/^(\*|lambda:\*|lambda:Update\*)$/);
      if (asArray(statement.Resource).includes('*')) {
        expect(asArray(statement.Action).every((a: string) => /^(xray|logs|cloudwatch):/.test(a))).toBe(true);
      }
    }
  });
});

describe('alias targets get exactly what publishing a version and moving the alias takes', () => {
  it('PublishVersion on the function, GetAlias/UpdateAlias/GetFunction on that alias only; plain targets nothing more', () => {
    const { template } = functionsStack(['orders-api', 'checkout:live', 'arn:aws:lambda:eu-west-1:210987654321:function:billing:prod']);
    const role = functionRoleId(template, 'apply-phase');
    const statements = policyStatements(template).filter((p) => p.roles.includes(role)).map((p) => p.statement);
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    expect(asArray(bySid.ReadAndWriteTargetFlags!.Action).sort()).toEqual(['lambda:GetFunction', 'lambda:UpdateFunctionConfiguration']);
    expect(JSON.stringify(bySid.ReadAndWriteTargetFlags!.Resource)).toContain('function:checkout');
    expect(JSON.stringify(bySid.ReadAndWriteTargetFlags!.Resource)).not.toContain('checkout:live');
    expect(bySid.ReadAndWriteTargetFlagsPublishVersions!.Action).toBe('lambda:PublishVersion');
    expect(asArray(bySid.ReadAndWriteTargetFlagsPublishVersions!.Resource)).toHaveLength(2);
    expect(JSON.stringify(bySid.ReadAndWriteTargetFlagsPublishVersions!.Resource)).not.toContain('orders-api');
    expect(asArray(bySid.ReadAndWriteTargetFlagsMoveAliases!.Action).sort()).toEqual(['lambda:GetAlias', 'lambda:GetFunction', 'lambda:UpdateAlias']);
    const aliases = JSON.stringify(bySid.ReadAndWriteTargetFlagsMoveAliases!.Resource);
    expect(aliases).toContain('function:checkout:live');
    expect(aliases).toContain('arn:aws:lambda:eu-west-1:210987654321:function:billing:prod');
  });
});
