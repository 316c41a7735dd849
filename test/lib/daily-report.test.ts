import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Plan } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import { DailyReport, dailyCron } from '../../lib/daily-report';
import { stageStack, testApp } from './template-helpers';

const plan = (feature: string, report?: { time: string; timeZone: string }): Plan =>
  parsePlan({ feature, targets: [`${feature}-api`], phases: [{ name: 'all', roles: ['all'], bake: 'PT5M' }], ...(report ? { report } : {}) });

function build(plans: Plan[]) {
  const stack = new Stack(testApp(), 'Reports');
  const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING }, sortKey: { name: 'sk', type: AttributeType.STRING } });
  const construct = new DailyReport(stack, 'DailyReport', { stage: 'dev', table, plans });
  return { stack, construct, template: Template.fromStack(stack) };
}

describe('DailyReport', () => {
  it('one schedule per feature with a report: cron at the plan\'s time, in its time zone, targeting the function with the feature', () => {
    const { template, stack, construct } = build([plan('alpha', { time: '09:30', timeZone: 'Europe/Berlin' }), plan('beta'), plan('gamma', { time: '17:05', timeZone: 'UTC' })]);
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    const fnArn = stack.resolve(construct.function.function.functionArn);
    const roleArn = stack.resolve(construct.schedulerRole.roleArn);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 9 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: fnArn, RoleArn: roleArn, Input: JSON.stringify({ feature: 'alpha' }) },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(5 17 * * ? *)', ScheduleExpressionTimezone: 'UTC', Target: Match.objectLike({ Input: '{"feature":"gamma"}' }) });
    expect(Object.keys(construct.schedules).sort()).toEqual(['alpha', 'gamma']);
    expect(dailyCron('00:00')).toBe('cron(0 0 * * ? *)');
  });

  it('the scheduler role may invoke the daily-report function only; the function reads the table and metrics, nothing more', () => {
    const { template, stack, construct } = build([plan('alpha', { time: '09:30', timeZone: 'Europe/Berlin' })]);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'scheduler.amazonaws.com' } })] },
    });
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const schedulerPolicy = policies.find((p) => JSON.stringify(p.Properties.Roles).includes(stack.resolve(construct.schedulerRole.roleName).Ref))!;
    expect(schedulerPolicy.Properties.PolicyDocument.Statement).toEqual([
      { Sid: 'InvokeDailyReport', Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: stack.resolve(construct.function.function.functionArn) },
    ]);
    const actions = policies.flatMap((p) => p.Properties.PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat()));
    expect(actions).toEqual(expect.arrayContaining(['cloudwatch:GetMetricData', 'dynamodb:GetItem']));
    expect(actions).not.toContain('dynamodb:Query');
    expect(actions.filter((a: string) => /dynamodb:(Put|Update|Delete|Scan)/.test(a))).toEqual([]);
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ PHASEGATE_FUNCTION: 'daily-report' }) } });
  });

  it('refuses plans without any report setting', () => {
    expect(() => build([plan('beta')])).toThrow(/plans: expected at least one plan with a "report" setting/);
  });

  it('is wired into the stage stack for the plans with a report, with the Discord bot token like the notifying steps', () => {
    const { template } = stageStack('dev');
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 9 * * ? *)', ScheduleExpressionTimezone: 'Europe/Berlin', Target: Match.objectLike({ Input: '{"feature":"ux-update"}' }) });
    // One report schedule (the drift reconcile has its own 15-minute schedule).
    expect(Object.values(template.findResources('AWS::Scheduler::Schedule')).filter((r) => String(r.Properties.Description).includes('daily phase report'))).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PHASEGATE_FUNCTION: 'daily-report', PHASEGATE_DISCORD_BOT_TOKEN_PARAMETER: '/phasegate/dev/discord/bot-token' }) },
    });
  });
});
