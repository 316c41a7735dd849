import {
  functionsFromTemplate,
  stateMachinesFromTemplate,
  UnsupportedIntrinsicError,
  validateAsl,
  type CloudFormationTemplate,
} from '../../local/asl';

const fnArn = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

/** Shaped like CDK's synth output: one Fn::Join of JSON text, GetAtt of function ARNs and Ref AWS::Partition. */
const template: CloudFormationTemplate = {
  Parameters: { BootstrapVersion: { Default: '/cdk-bootstrap/hnb659fds/version' } },
  Resources: {
    StateTable0A1B2C3D: { Type: 'AWS::DynamoDB::GlobalTable', Properties: {} },
    ApplyPhaseFnB6F7A73D: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Timeout: 30,
        Environment: {
          Variables: {
            PHASEGATE_TABLE_NAME: { Ref: 'StateTable0A1B2C3D' },
            PHASEGATE_FUNCTION: 'apply-phase',
            PHASEGATE_STAGE: 'dev',
            TABLE_ARN: { 'Fn::GetAtt': ['StateTable0A1B2C3D', 'Arn'] },
            REGION_NOTE: { 'Fn::Join': ['-', [{ Ref: 'AWS::Region' }, { Ref: 'AWS::AccountId' }]] },
            SUBBED: { 'Fn::Sub': 'https://${AWS::Region}.${AWS::URLSuffix}/${StateTable0A1B2C3D}/${!Literal}' },
            TOPIC: { Ref: 'AlertsTopic' },
          },
        },
      },
    },
    ApprovalFnAAAA1111: {
      Type: 'AWS::Lambda::Function',
      Properties: { FunctionName: 'phasegate-approval', Environment: { Variables: { PHASEGATE_FUNCTION: 'request-approval' } } },
    },
    AlertsTopic: { Type: 'AWS::SNS::Topic', Properties: {} },
    RolloutMachine9C1D: {
      Type: 'AWS::StepFunctions::StateMachine',
      Properties: {
        StateMachineName: 'phasegate-dev-rollout',
        DefinitionString: {
          'Fn::Join': [
            '',
            [
              '{"StartAt":"Apply","States":{"Apply":{"Next":"Approve","Type":"Task","Resource":"',
              fnArn('ApplyPhaseFnB6F7A73D'),
              '"},"Approve":{"End":true,"Type":"Task","Resource":"arn:',
              { Ref: 'AWS::Partition' },
              ':states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"',
              fnArn('ApprovalFnAAAA1111'),
              '","Payload":{"token.$":"$$.Task.Token"}}}},"TimeoutSeconds":3600}',
            ],
          ],
        },
        RoleArn: { 'Fn::GetAtt': ['RolloutMachineRole', 'Arn'] },
      },
    },
  },
};

describe('stateMachinesFromTemplate', () => {
  it('resolves the DefinitionString into plain ASL with local ARNs', () => {
    const [machine, ...rest] = stateMachinesFromTemplate(template);
    expect(rest).toEqual([]);
    expect(machine.logicalId).toBe('RolloutMachine9C1D');
    expect(machine.name).toBe('phasegate-dev-rollout');
    expect(machine.definition).toEqual({
      StartAt: 'Apply',
      TimeoutSeconds: 3600,
      States: {
        Apply: {
          Next: 'Approve',
          Type: 'Task',
          Resource: 'arn:aws:lambda:us-east-1:123456789012:function:ApplyPhaseFnB6F7A73D',
        },
        Approve: {
          End: true,
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
          Parameters: {
            FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:phasegate-approval',
            Payload: { 'token.$': '$$.Task.Token' },
          },
        },
      },
    });
    expect(validateAsl(machine.definition)).toEqual({ ok: true, errors: [] });
  });

  it('applies DefinitionSubstitutions', () => {
    const [machine] = stateMachinesFromTemplate({
      Resources: {
        M: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: {
            DefinitionString: '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${fn}","End":true}}}',
            DefinitionSubstitutions: { fn: fnArn('Fn') },
          },
        },
        Fn: { Type: 'AWS::Lambda::Function', Properties: {} },
      },
    });
    expect(machine.name).toBeUndefined();
    expect(machine.definition.States.A.Resource).toBe('arn:aws:lambda:us-east-1:123456789012:function:Fn');
  });

  it.each([
    [{ 'Fn::ImportValue': 'shared-arn' }, /DefinitionString\.Fn::Join\[1\]\[1\]\.Fn::ImportValue: the intrinsic Fn::ImportValue is not supported/],
    [{ Ref: 'AWS::StackName' }, /the pseudo parameter AWS::StackName is not supported/],
    [{ Ref: 'Missing' }, /Ref to Missing, which is neither a resource nor a parameter/],
    [fnArn('Missing'), /Fn::GetAtt of Missing, which is not a resource/],
  ])('throws a clear error naming what it cannot resolve: %j', (value, message) => {
    const broken: CloudFormationTemplate = {
      Resources: {
        M: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: { DefinitionString: { 'Fn::Join': ['', ['{"StartAt":"', value, '"}']] } },
        },
      },
    };
    expect(() => stateMachinesFromTemplate(broken)).toThrow(UnsupportedIntrinsicError);
    expect(() => stateMachinesFromTemplate(broken)).toThrow(message);
  });
});

describe('functionsFromTemplate', () => {
  const functions = functionsFromTemplate(template, { tableNames: { StateTable0A1B2C3D: 'phasegate-local-state' } });

  it('keys each function by its local ARN and by logical id', () => {
    const byArn = functions.get('arn:aws:lambda:us-east-1:123456789012:function:ApplyPhaseFnB6F7A73D');
    expect(byArn).toBe(functions.get('ApplyPhaseFnB6F7A73D'));
    expect(functions.get('arn:aws:lambda:us-east-1:123456789012:function:phasegate-approval')).toMatchObject({
      logicalId: 'ApprovalFnAAAA1111',
      functionName: 'phasegate-approval',
      phasegateFunction: 'request-approval',
      timeoutSeconds: 3,
    });
    expect(functions.size).toBe(4);
  });

  it('resolves the environment, with table Refs mapped to their local names', () => {
    const apply = functions.get('ApplyPhaseFnB6F7A73D')!;
    expect(apply.phasegateFunction).toBe('apply-phase');
    expect(apply.timeoutSeconds).toBe(30);
    expect(apply.environment).toEqual({
      PHASEGATE_TABLE_NAME: 'phasegate-local-state',
      PHASEGATE_FUNCTION: 'apply-phase',
      PHASEGATE_STAGE: 'dev',
      TABLE_ARN: 'arn:aws:dynamodb:us-east-1:123456789012:table/phasegate-local-state',
      REGION_NOTE: 'us-east-1-123456789012',
      SUBBED: 'https://us-east-1.amazonaws.com/phasegate-local-state/${Literal}',
      TOPIC: 'placeholder-AlertsTopic',
    });
  });
});

describe('validateAsl', () => {
  it('reports every problem of an invalid definition and leaves the input untouched', () => {
    const definition = {
      StartAt: 'A',
      States: { A: { Type: 'Pass', Next: 'Nowhere' }, Orphan: { Type: 'Succeed' } },
    };
    const copy = structuredClone(definition);
    const result = validateAsl(definition);
    expect(result.ok).toBe(false);
    expect(result.errors).toEqual(
      expect.arrayContaining([
        'MISSING_TRANSITION_TARGET: State Orphan is not reachable',
        "MISSING_TRANSITION_TARGET: Missing 'StartAt'|'Next'|'Default' target: Nowhere",
      ]),
    );
    expect(definition).toEqual(copy);
  });
});
