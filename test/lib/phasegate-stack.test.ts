import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Plan, PlanInput } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import { STATE_MACHINES_OUTPUT, TABLE_NAME_OUTPUT, stateMachineOutputKey } from '../../lib/naming';
import { DISCORD_URL_OUTPUT } from '../../lib/discord-endpoint';
import { PhasegateStack, STAGE_TAG } from '../../lib/phasegate-stack';
import { ROLLBACK_ALERTS_OUTPUT } from '../../lib/rollback-alerts';
import { resolveIntrinsics, stageStack, testApp } from './template-helpers';

const plan = (feature: string, extra: Partial<PlanInput> = {}): Plan =>
  parsePlan({ feature, targets: [`${feature}-api`], phases: [{ name: 'all', roles: ['all'], bake: 'PT5M' }], ...extra }, { stage: 'dev' });

describe('PhasegateStack', () => {
  it.each(['dev', 'prod'])('%s: outputs the table name, one ARN per feature and a JSON map of them', (stage) => {
    const { template } = stageStack(stage);
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    // The stage's stack names each feature's state machine (in the feature's nested stack) by its fixed name.
    const stateMachineArn = (feature: string): string => {
      const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine')).filter(
        (r) => r.Properties.StateMachineName === `phasegate-${stage}-${feature}`,
      );
      expect(machines).toHaveLength(1);
      return `arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-${stage}-${feature}`;
    };
    expect(Object.keys(outputs).sort()).toEqual(
      [TABLE_NAME_OUTPUT, STATE_MACHINES_OUTPUT, 'UxUpdateStateMachineArn', 'CohortAnalyzerStateMachineArn', 'UxUpdateLlmBudgetPolicyArn', DISCORD_URL_OUTPUT, ROLLBACK_ALERTS_OUTPUT].sort(),
    );
    expect(outputs[TABLE_NAME_OUTPUT]!.Value).toEqual({ Ref: Object.keys(template.findResources('AWS::DynamoDB::Table'))[0] });
    expect(resolveIntrinsics(outputs[stateMachineOutputKey('ux-update')]!.Value)).toEqual(stateMachineArn('ux-update'));
    template.hasOutput(ROLLBACK_ALERTS_OUTPUT, { Export: { Name: `phasegate-${stage}-rollback-alerts` } });
    expect(JSON.parse(resolveIntrinsics(outputs[STATE_MACHINES_OUTPUT]!.Value) as string)).toEqual({
      'cohort-analyzer': stateMachineArn('cohort-analyzer'),
      'ux-update': stateMachineArn('ux-update'),
    });
  });

  it.each([
    { stage: 'dev', protection: false, policy: 'Delete' },
    { stage: 'staging', protection: false, policy: 'Delete' },
    { stage: 'prod', protection: true, policy: 'Retain' },
  ])('$stage: table deletion protection $protection, table and logs $policy', ({ stage, protection, policy }) => {
    const { template } = stageStack(stage);
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: policy, Properties: { DeletionProtectionEnabled: protection } });
    template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: policy });
  });

  it('tags every taggable resource with the stage', () => {
    const { template } = stageStack('prod');
    const taggable = ['AWS::DynamoDB::Table', 'AWS::Lambda::Function', 'AWS::IAM::Role', 'AWS::StepFunctions::StateMachine', 'AWS::Logs::LogGroup'];
    for (const type of taggable) {
      const resources = Object.values(template.findResources(type));
      expect(resources.length).toBeGreaterThan(0);
      for (const r of resources) {
        const tags = (r.Properties.Tags ?? r.Properties.TagsEntries ?? []) as { Key: string; Value: string }[];
        expect(tags).toContainEqual({ Key: STAGE_TAG, Value: 'prod' });
      }
    }
  });

  it('is environment-agnostic: no lookups, so synth never calls AWS', () => {
    const { stack } = stageStack('dev');
    expect(stack.resolve(stack.account)).toEqual({ Ref: 'AWS::AccountId' });
    expect(stack.resolve(stack.region)).toEqual({ Ref: 'AWS::Region' });
    expect((stack.node.root as App).synth().manifest.missing ?? []).toEqual([]);
  });

  it('reports every problem with its plans in one error', () => {
    const app = testApp();
    const invalid = { ...plan('broken'), phases: [] } as Plan;
    let message = '';
    try {
      new PhasegateStack(app, 'phasegate-dev', {
        stage: 'dev',
        plans: [plan('orders'), plan('orders'), invalid, plan('x-1'), plan('x1')],
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'PhasegateStack phasegate-dev is invalid:',
      '  - plans[1].feature: "orders" is already planned by plans[0]',
      '  - plans[2] (broken): plan.phases: expected at least one phase',
      '  - plans[4].feature: "x1" and "x-1" would share the stack output X1StateMachineArn',
    ]);
  });

  it('builds a stack with no plans: table and functions, an empty map of state machines', () => {
    const stack = new PhasegateStack(testApp(), 'phasegate-dev', { stage: 'dev', plans: [] });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    // The six step functions and the Discord endpoint.
    template.resourceCountIs('AWS::Lambda::Function', 7);
    template.hasOutput(STATE_MACHINES_OUTPUT, { Value: '{}' });
    expect(Object.keys(stack.rollouts)).toEqual([]);
  });
});

describe('a Discord rollback that outlasts its invocation', () => {
  it('is handed to the alarm-rollback worker: the Discord function names it and may invoke exactly it', () => {
    const { stack, template } = stageStack('dev');
    const worker = stack.alarmRollback!.function.function;
    const workerId = stack.getLogicalId(worker.node.defaultChild as import('aws-cdk-lib').CfnElement);
    const discordId = stack.getLogicalId(stack.discord.handler.function.node.defaultChild as import('aws-cdk-lib').CfnElement);
    const discordFn = template.findResources('AWS::Lambda::Function')[discordId]!;
    expect(discordFn.Properties.Environment.Variables.PHASEGATE_ROLLBACK_WORKER).toEqual({ Ref: workerId });
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      (p.Properties.PolicyDocument.Statement as { Sid?: string; Action: unknown; Resource: unknown }[]).some(
        (s) => s.Sid === 'ContinueRollback' && s.Action === 'lambda:InvokeFunction' && JSON.stringify(s.Resource) === JSON.stringify({ 'Fn::GetAtt': [workerId, 'Arn'] }),
      ),
    );
    // The worker's own self-invocation, and the Discord function's hand-over.
    expect(policies).toHaveLength(2);
  });
});
