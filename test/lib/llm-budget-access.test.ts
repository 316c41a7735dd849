import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Table, AttributeType } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { grantLlmBudget, LlmBudgetAccess } from '../../lib/llm-budget-access';
import { llmPlan } from '../support/local-budget';
import { threePhasePlan } from '../support/plans';

function build(stage = 'prod') {
  const stack = new Stack(new App(), 'Test');
  const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING }, sortKey: { name: 'sk', type: AttributeType.STRING } });
  const access = new LlmBudgetAccess(stack, 'LlmBudgetAccess', { table, stage, plans: [llmPlan('ux-update'), threePhasePlan({ feature: 'cohort-analyzer' })] });
  return { stack, table, access, template: Template.fromStack(stack) };
}

const leadingKeys = (feature: string) => ({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`BUDGET#${feature}`] } });

describe('LlmBudgetAccess', () => {
  it('one named managed policy per feature with an LLM budget: GetItem and UpdateItem on its budget partition only', () => {
    const { template, access } = build();
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 1);
    expect(Object.keys(access.policies)).toEqual(['ux-update']);
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      ManagedPolicyName: 'phasegate-prod-ux-update-llm-budget',
      PolicyDocument: {
        Statement: [
          {
            Sid: 'LlmBudgetOfUxUpdate',
            Effect: 'Allow',
            Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Table'), 'Arn'] },
            Condition: leadingKeys('ux-update'),
          },
        ],
      },
    });
  });

  it('outputs the policy ARN as <Feature>LlmBudgetPolicyArn', () => {
    const { template } = build();
    template.hasOutput('UxUpdateLlmBudgetPolicyArn', { Value: { Ref: Match.stringLikeRegexp('^LlmBudgetAccessUxUpdate') } });
  });

  it('refuses a bad stage name', () => {
    expect(() => build('Prod!')).toThrow(/stage: expected a lowercase stage name/);
  });

  it('grantLlmBudget gives a function of the same app the same narrow access', () => {
    const stack = new Stack(new App(), 'Same');
    const table = new Table(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING }, sortKey: { name: 'sk', type: AttributeType.STRING } });
    const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    grantLlmBudget(role, table, 'ux-update');
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: [Match.objectLike({ Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Condition: leadingKeys('ux-update') })] },
    });
  });
});
