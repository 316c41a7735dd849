import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Code, Function as LambdaFn, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ENV } from '../../lambdas/core/contract';
import type { Plan } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import { OPS_ALARM_SUBJECTS, opsAlarmName } from '../../lambdas/core/rollback/rollback-alerts';
import { FailureQueue } from '../../lib/failure-queue';
import { PhasegateStack } from '../../lib/phasegate-stack';
import { ROLLBACK_ALERTS_OUTPUT, RollbackAlerts } from '../../lib/rollback-alerts';
import type { CloudFormationTemplate } from '../../local/asl';
import { alarmStateChangeEvent, rulesMatching } from '../../local/scenarios/alarm';
import { FAKE_ENV, asArray, functionId, functionRoleId, policyStatements, resolveIntrinsics, stageStack, testApp } from './template-helpers';

const CHANNEL_A = '123456789012345678';
const CHANNEL_B = '223456789012345678';
const plan = (feature: string, extra: Record<string, unknown> = {}): Plan =>
  parsePlan({ feature, targets: [`${feature}-api`], phases: [{ name: 'all', roles: ['all'], bake: 'PT5M' }], ...extra }, { stage: 'dev' });
const arn = (service: string, rest: string) => `arn:${FAKE_ENV.partition}:${service}:${FAKE_ENV.region}:${FAKE_ENV.account}:${rest}`;

/** A stack whose plans name Discord channels: Discord is configured for the stage. */
function discordStack() {
  const stack = new PhasegateStack(testApp(), 'phasegate-dev', {
    stage: 'dev',
    plans: [
      plan('orders', { discord: { channelId: CHANNEL_B } }),
      plan('billing', { discord: { channelId: CHANNEL_A } }),
      plan('search', { discord: { channelId: CHANNEL_B } }),
      plan('quiet'),
    ],
  });
  return { stack, template: Template.fromStack(stack) };
}

/** Logical ids of resources of a type whose id starts with `prefix` (construct path, flattened). */
const idsOf = (template: Template, type: string, prefix: string): string[] =>
  Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
const onlyId = (template: Template, type: string, prefix: string): string => {
  const ids = idsOf(template, type, prefix);
  if (ids.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
};

describe('AlarmRollback: nothing dropped quietly (dev stack, no Discord channel)', () => {
  const { template, stack } = stageStack('dev');
  const fnId = functionId(template, 'alarm-rollback');
  const failuresQueue = onlyId(template, 'AWS::SQS::Queue', 'AlarmRollbackFailures');
  const deadLetterQueue = onlyId(template, 'AWS::SQS::Queue', 'AlarmRollbackDeadLetters');

  it('sends asynchronous invocations that failed Lambda\'s two retries or expired to the on-failure queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [failuresQueue, 'Arn'] } } },
    });
    const role = functionRoleId(template, 'alarm-rollback');
    const sqs = policyStatements(template).filter((s) => s.roles.includes(role) && asArray(s.statement.Action).some((a: string) => a.startsWith('sqs:')));
    expect(sqs.map((s) => asArray(s.statement.Resource))).toEqual([[`${failuresQueue}.Arn`]]);
  });

  it('keeps the rule target\'s retry policy and gives it a dead-letter queue that EventBridge (this rule only) may write', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [fnId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [deadLetterQueue, 'Arn'] } },
        }),
      ],
    });
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')).filter((p) =>
      JSON.stringify(p.Properties.Queues).includes(deadLetterQueue),
    );
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Record<string, any>[]);
    const ruleId = Object.keys(template.findResources('AWS::Events::Rule'))[0]!;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
      }),
    );
  });

  it('encrypts both queues with SQS-managed keys, requires TLS and keeps messages 14 days', () => {
    for (const id of [failuresQueue, deadLetterQueue]) {
      const queue = template.findResources('AWS::SQS::Queue')[id]!;
      expect(queue.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
      const policy = Object.values(template.findResources('AWS::SQS::QueuePolicy')).find((p) => JSON.stringify(p.Properties.Queues).includes(id));
      expect(policy?.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('may invoke itself, exactly its own unqualified ARN, from a policy the function does not depend on (no cycle)', () => {
    const role = functionRoleId(template, 'alarm-rollback');
    const invoke = policyStatements(template).filter((s) => s.roles.includes(role) && asArray(s.statement.Action).includes('lambda:InvokeFunction'));
    expect(invoke).toHaveLength(1);
    expect(invoke[0]!.statement).toMatchObject({ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: `${fnId}.Arn` });
    expect(invoke[0]!.policyId).toMatch(/^AlarmRollbackSelfInvoke/);
    const fn = template.findResources('AWS::Lambda::Function')[fnId]!;
    expect(asArray(fn.DependsOn)).not.toContain(invoke[0]!.policyId);
    // Template.fromStack checks the template for dependency cycles; a self-reference in the default policy would throw.
    expect(() => Template.fromStack(stack)).not.toThrow();
  });

  it('posts nothing to Discord when no plan names a channel: no bot token, no alerts function', () => {
    const fn = template.findResources('AWS::Lambda::Function')[fnId]!;
    expect(fn.Properties.Environment.Variables[ENV.discordBotTokenParameter]).toBeUndefined();
    const role = functionRoleId(template, 'alarm-rollback');
    expect(policyStatements(template).filter((s) => s.roles.includes(role) && JSON.stringify(s.statement.Action).includes('ssm:'))).toEqual([]);
    const names = Object.values(template.findResources('AWS::Lambda::Function')).map((f) => f.Properties.Environment.Variables[ENV.functionRole]);
    expect(names).not.toContain('rollback-alerts');
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    template.resourceCountIs('AWS::SNS::Topic', 1);
  });
});

describe('RollbackAlerts: the ops alarms and the alerts topic (dev stack)', () => {
  const { template } = stageStack('dev');
  const cfn = template.toJSON() as CloudFormationTemplate;
  const topicId = onlyId(template, 'AWS::SNS::Topic', 'RollbackAlerts');
  const opsAlarms = (): Record<string, any> =>
    Object.fromEntries(
      Object.values(template.findResources('AWS::CloudWatch::Alarm'))
        .filter((r) => String(r.Properties.AlarmName).startsWith('ops-'))
        .map((r) => [r.Properties.AlarmName, r.Properties]),
    );

  it('alarms on the function\'s Errors and on each queue\'s visible messages (>= 1 in one minute), notifying the topic on ALARM and OK', () => {
    const alarms = opsAlarms();
    expect(Object.keys(alarms).sort()).toEqual(['ops-phasegate-dev-rollback-errors', 'ops-phasegate-dev-rollback-failures', 'ops-phasegate-dev-rule-dead-letters']);
    const common = {
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      Period: 60,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
      OKActions: [{ Ref: topicId }],
    };
    expect(alarms['ops-phasegate-dev-rollback-errors']).toMatchObject({
      ...common,
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Statistic: 'Sum',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(template, 'alarm-rollback') } }],
    });
    const queueDimension = (prefix: string) => [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [onlyId(template, 'AWS::SQS::Queue', prefix), 'QueueName'] } }];
    expect(alarms['ops-phasegate-dev-rollback-failures']).toMatchObject({
      ...common,
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Statistic: 'Maximum',
      Dimensions: queueDimension('AlarmRollbackFailures'),
    });
    expect(alarms['ops-phasegate-dev-rule-dead-letters']).toMatchObject({ ...common, MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: queueDimension('AlarmRollbackDeadLetters') });
  });

  it('names the ops alarms so that the stage\'s rollback rule never matches them', () => {
    for (const name of Object.keys(opsAlarms())) {
      expect(rulesMatching(cfn, alarmStateChangeEvent({ alarmName: name, state: 'ALARM' }))).toEqual([]);
    }
    // The rule still matches a feature alarm: the check above can fail.
    expect(rulesMatching(cfn, alarmStateChangeEvent({ alarmName: 'phasegate-dev_ux-update-p95-ms', state: 'ALARM' }))).toHaveLength(1);
  });

  it('exports the topic ARN for paging, and requires TLS and lets only this stage\'s ops alarms publish', () => {
    template.hasOutput(ROLLBACK_ALERTS_OUTPUT, { Value: { Ref: topicId }, Export: { Name: 'phasegate-dev-rollback-alerts' } });
    const statements = Object.values(template.findResources('AWS::SNS::TopicPolicy')).flatMap((p) => resolveIntrinsics(p.Properties.PolicyDocument.Statement) as Record<string, any>[]);
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Condition: {
          StringEquals: { 'aws:SourceAccount': FAKE_ENV.account },
          ArnLike: { 'aws:SourceArn': arn('cloudwatch', 'alarm:ops-phasegate-dev-*') },
        },
      }),
    );
  });
});

describe('RollbackAlerts with Discord (plans name channels)', () => {
  const { template, stack } = discordStack();
  const alertsId = functionId(template, 'rollback-alerts');
  const topicId = onlyId(template, 'AWS::SNS::Topic', 'RollbackAlerts');
  const botToken = arn('ssm', 'parameter/phasegate/dev/discord/bot-token');

  it('subscribes the rollback-alerts function to the topic, posting to every channel of the stage\'s plans once', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'lambda', TopicArn: { Ref: topicId }, Endpoint: { 'Fn::GetAtt': [alertsId, 'Arn'] } });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [alertsId, 'Arn'] },
      Principal: 'sns.amazonaws.com',
      SourceArn: { Ref: topicId },
    });
    const env = template.findResources('AWS::Lambda::Function')[alertsId]!.Properties.Environment.Variables;
    expect(JSON.parse(env[ENV.alertChannels])).toEqual([CHANNEL_A, CHANNEL_B]);
    expect(env).toMatchObject({ [ENV.discordBotTokenParameter]: '/phasegate/dev/discord/bot-token', [ENV.discordApiBaseUrl]: 'https://discord.com/api/v10' });
  });

  it('lets the alerts function do only what it calls: write its logs, trace, read the bot token', () => {
    const role = functionRoleId(template, 'rollback-alerts');
    const statements = policyStatements(template)
      .filter((s) => s.roles.includes(role))
      .map(({ statement }) => ({ actions: asArray(statement.Action).sort(), resources: asArray(statement.Resource).map(String).sort() }));
    expect(statements).toEqual([
      { actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [expect.stringMatching(/^RollbackAlertsFunctionLogs.*\.Arn$/)] },
      { actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resources: ['*'] },
      { actions: ['ssm:GetParameter'], resources: [botToken] },
    ]);
  });

  it('gives the alarm-rollback function the bot token parameter, like the notifying steps', () => {
    const fn = template.findResources('AWS::Lambda::Function')[functionId(template, 'alarm-rollback')]!;
    expect(fn.Properties.Environment.Variables).toMatchObject({
      [ENV.discordBotTokenParameter]: '/phasegate/dev/discord/bot-token',
      [ENV.discordApiBaseUrl]: 'https://discord.com/api/v10',
    });
    const role = functionRoleId(template, 'alarm-rollback');
    const ssm = policyStatements(template).filter((s) => s.roles.includes(role) && JSON.stringify(s.statement.Action).includes('ssm:'));
    expect(ssm.map((s) => [s.statement.Action, s.statement.Resource])).toEqual([['ssm:GetParameter', botToken]]);
  });

  it('grants exactly GetFunction and UpdateFunctionConfiguration on the targets, in every statement that names a target', () => {
    const targets = ['billing-api', 'orders-api', 'quiet-api', 'search-api'].map((n) => arn('lambda', `function:${n}`));
    const onTargets = policyStatements(template).filter(({ statement }) => asArray(statement.Resource).some((r) => targets.includes(String(r))));
    expect(onTargets.flatMap((s) => s.roles).sort()).toEqual(
      // The flag writers: phase applies, rollbacks (state machine, alarm, Discord) and drift repair (reconcile, gate).
      ['apply-phase', 'rollback', 'alarm-rollback', 'discord-interactions', 'reconcile', 'gate'].map((n) => functionRoleId(template, n)).sort(),
    );
    for (const { statement } of onTargets) {
      expect(asArray(statement.Action).sort()).toEqual(['lambda:GetFunction', 'lambda:UpdateFunctionConfiguration']);
      expect(asArray(statement.Resource).map(String).sort()).toEqual(targets);
    }
    const configurationReads = policyStatements(template).filter(({ statement }) => asArray(statement.Action).includes('lambda:GetFunctionConfiguration'));
    expect(configurationReads).toEqual([]);
  });

  it('passes cdk-nag with nothing unacknowledged', () => {
    const report = new AwsSolutionsChecks(stack.node.root as never).validateScope(stack);
    expect(report.violations).toEqual([]);
  });
});

describe('RollbackAlerts and FailureQueue props', () => {
  function parts() {
    const stack = new Stack(testApp(), 'Props');
    const table = new Table(stack, 'T', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    const fn = new LambdaFn(stack, 'F', { runtime: Runtime.NODEJS_22_X, handler: 'index.handler', code: Code.fromInline('exports.handler=async()=>{}') });
    return { stack, table, fn, queue: new Queue(stack, 'Q'), dlq: new Queue(stack, 'D') };
  }

  it('lists every problem at once', () => {
    const { stack, table, fn, queue, dlq } = parts();
    expect(
      () =>
        new RollbackAlerts(stack, 'Alerts', {
          stage: 'Dev',
          table,
          rollbackFunction: fn,
          failureQueue: queue,
          deadLetterQueue: dlq,
          discord: { notifications: { grantNotifications: () => undefined }, channelIds: ['general'] },
        }),
    ).toThrow(/RollbackAlerts Props\/Alerts is invalid:\n {2}- stage: .*\n {2}- discord\.channelIds\[0\]: expected a Discord id/);
    expect(() => new FailureQueue(stack, 'Queue', { holds: ' ' })).toThrow(/FailureQueue Props\/Queue is invalid:\n {2}- holds:/);
  });

  it('builds the topic and alarms without Discord, and names every alarm from the one helper', () => {
    const { stack, table, fn, queue, dlq } = parts();
    const alerts = new RollbackAlerts(stack, 'Alerts', { stage: 'ops', table, rollbackFunction: fn, failureQueue: queue, deadLetterQueue: dlq });
    expect(alerts.function).toBeUndefined();
    const names = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName);
    expect(names.sort()).toEqual(OPS_ALARM_SUBJECTS.map((s) => opsAlarmName('ops', s)).sort());
  });
});
