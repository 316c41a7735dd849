import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { StateTable } from '../../lib/state-table';
import { testApp } from './template-helpers';

function tableTemplate(production?: boolean): Template {
  const stack = new Stack(testApp(), 'TableTest');
  new StateTable(stack, 'State', production === undefined ? {} : { production });
  return Template.fromStack(stack);
}

describe('StateTable', () => {
  it('is an on-demand pk/sk string table with point-in-time recovery and AWS-managed encryption, no TTL or stream', () => {
    const template = tableTemplate();
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: Match.absent(),
      StreamSpecification: Match.absent(),
      ProvisionedThroughput: Match.absent(),
    });
  });

  it.each([
    { production: true, protection: true, policy: 'Retain' },
    { production: false, protection: false, policy: 'Delete' },
    { production: undefined, protection: false, policy: 'Delete' },
  ])('production=$production: deletion protection $protection, DeletionPolicy $policy', ({ production, protection, policy }) => {
    const template = tableTemplate(production);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: policy,
      UpdateReplacePolicy: policy,
      Properties: { DeletionProtectionEnabled: protection },
    });
  });

  it('rejects a non-boolean production flag', () => {
    const stack = new Stack(testApp(), 'Bad');
    expect(() => new StateTable(stack, 'State', { production: 'yes' as unknown as boolean })).toThrow(
      /StateTable Bad\/State is invalid:\n {2}- production: expected a boolean, got "yes"/,
    );
  });
});
