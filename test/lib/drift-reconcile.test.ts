import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { DriftReconcile } from '../../lib/drift-reconcile';
import { stageStack, testApp } from './template-helpers';

function build(overrides: Partial<ConstructorParameters<typeof DriftReconcile>[2]> = {}) {
  const stack = new Stack(testApp(), 'Drift');
  const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING }, sortKey: { name: 'sk', type: AttributeType.STRING } });
  const applyRole = new Role(stack, 'ApplyRole', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  const construct = new DriftReconcile(stack, 'DriftReconcile', { stage: 'dev', table, features: ['ux-update'], targets: ['orders-api', 'orders-worker'], ownRoles: [applyRole], ...overrides });
  return { stack, construct, applyRole, template: Template.fromStack(stack) };
}

describe('DriftReconcile', () => {
  it("rule: Lambda configuration calls via CloudTrail by event name prefix, leaving out Phasegate's own roles (also callers without a session issuer)", () => {
    const { template, stack, construct, applyRole } = build();
    const own = [stack.resolve(applyRole.roleArn), stack.resolve(construct.function.role.roleArn)];
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.lambda'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['lambda.amazonaws.com'],
          eventName: Match.arrayWith([{ prefix: 'UpdateFunctionConfiguration' }, { prefix: 'UpdateFunctionCode' }, { prefix: 'PublishVersion' }, { prefix: 'UpdateAlias' }, { prefix: 'CreateFunction' }]),
          $or: [
            { userIdentity: { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': own }] } } } },
            { userIdentity: { sessionContext: { sessionIssuer: { arn: [{ exists: false }] } } } },
          ],
        },
      },
      Targets: [Match.objectLike({ Arn: stack.resolve(construct.function.function.functionArn) })],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PHASEGATE_FUNCTION: 'reconcile', PHASEGATE_FEATURES: '["ux-update"]', PHASEGATE_OWN_ROLES: Match.anyValue() }) },
    });
  });

  it('a schedule every 15 minutes; the function reads and writes only the targets and the table', () => {
    const { template, stack, construct } = build();
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      Target: { Arn: stack.resolve(construct.function.function.functionArn), RoleArn: stack.resolve(construct.schedulerRole.roleArn), Input: '{"kind":"phasegate.reconcile-schedule"}', RetryPolicy: Match.anyValue() },
    });
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as { Sid?: string; Action: string | string[]; Resource: unknown }[]);
    const repair = statements.find((s) => s.Sid === 'RepairDriftedFlags')!;
    expect(repair.Action).toEqual(['lambda:GetFunction', 'lambda:UpdateFunctionConfiguration']);
    expect(JSON.stringify(repair.Resource)).toContain(':function:orders-api');
    expect(JSON.stringify(repair.Resource)).not.toContain('*');
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => a.startsWith('dynamodb:')).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
  });

  it('drops nothing quietly: the rule dead-letters what it cannot deliver, failed invocations go to an on-failure queue', () => {
    const { template, stack, construct } = build();
    const dlq = stack.resolve(construct.deadLetters.queue.queueArn);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['aws.lambda'] }),
      Targets: [Match.objectLike({ DeadLetterConfig: { Arn: dlq }, RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 1800 } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: stack.resolve(construct.function.function.functionName),
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: stack.resolve(construct.failures.queue.queueArn) } },
    });
    for (const queue of [construct.failures.queue, construct.deadLetters.queue]) {
      template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
      expect(stack.resolve(queue.queueArn)).toBeDefined();
    }
    expect(construct.failures.queue.node.path).not.toBe(construct.deadLetters.queue.node.path);
  });

  it('may repair alias targets as every flag writer does: PublishVersion on the function, GetAlias/UpdateAlias on exactly that alias', () => {
    const { template } = build({ targets: ['orders-api', 'orders-worker:live'] });
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as { Sid?: string; Action: string | string[]; Resource: unknown }[]);
    const bySid = (sid: string) => statements.find((s) => s.Sid === sid)!;
    expect(bySid('RepairDriftedFlagsPublishVersions').Action).toBe('lambda:PublishVersion');
    expect(JSON.stringify(bySid('RepairDriftedFlagsPublishVersions').Resource)).toContain(':function:orders-worker');
    expect(JSON.stringify(bySid('RepairDriftedFlagsMoveAliases').Resource)).toContain(':function:orders-worker:live');
    expect(JSON.stringify(bySid('RepairDriftedFlagsMoveAliases').Resource)).not.toContain('orders-api');
  });

  it('refuses impossible props, all at once', () => {
    expect(() => build({ stage: 'Dev', features: [], every: (jest.requireActual('aws-cdk-lib') as typeof import('aws-cdk-lib')).Duration.seconds(10) })).toThrow(
      /stage: expected a lowercase[\s\S]*features: expected at least one[\s\S]*every: expected at least 1 minute/,
    );
  });

  it("is wired into the stage stack, leaving out every flag-writing Phasegate role", () => {
    const { stack } = stageStack('dev');
    expect(stack.driftReconcile).toBeDefined();
    const pattern = stack.resolve(Template.fromStack(stack).findResources('AWS::Events::Rule'));
    const rule = Object.values(pattern as Record<string, { Properties: { EventPattern: { source?: string[]; detail: { $or?: { userIdentity: { sessionContext: { sessionIssuer: { arn: { 'anything-but'?: unknown[] }[] } } } }[] } } } }>).find(
      (r) => r.Properties.EventPattern.source?.[0] === 'aws.lambda',
    )!;
    expect(rule.Properties.EventPattern.detail.$or![0]!.userIdentity.sessionContext.sessionIssuer.arn[0]!['anything-but']).toHaveLength(6);
  });
});
