import { Template } from 'aws-cdk-lib/assertions';
import { parseLambdaApiCall } from '../../lambdas/core/drift/reconcile';
import { matchesEventPattern } from '../support/event-pattern';
import { FAKE_ENV, functionRoleId, resolveIntrinsics, stageStack } from './template-helpers';

/**
 * The drift rule's pattern against events shaped like the ones CloudTrail delivers to EventBridge ("AWS API Call via
 * CloudTrail": https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html; the record's
 * fields: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
 */

const ACCOUNT = FAKE_ENV.account;
/** A role's ARN, as `Fn::GetAtt [Role, Arn]` resolves for a role without a path named after its logical id. */
const roleArn = (name: string): string => `arn:aws:iam::${ACCOUNT}:role/${name}`;

interface Caller {
  readonly userIdentity: Record<string, unknown>;
  readonly sourceIPAddress: string;
  readonly userAgent: string;
}

/** A role session: `cdk deploy`'s CloudFormation execution role, or one of Phasegate's function roles. */
function assumedRole(role: string, session: string, invokedBy?: string): Caller {
  return {
    userIdentity: {
      type: 'AssumedRole',
      principalId: `AROAEXAMPLEID1234567:${session}`,
      arn: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${session}`,
      accountId: ACCOUNT,
      accessKeyId: 'ASIAEXAMPLEKEY123456',
      sessionContext: {
        sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLEID1234567', arn: roleArn(role), accountId: ACCOUNT, userName: role },
        webIdFederationData: {},
        attributes: { creationDate: '2026-11-02T08:59:12Z', mfaAuthenticated: 'false' },
      },
      ...(invokedBy ? { invokedBy } : {}),
    },
    sourceIPAddress: invokedBy ?? '203.0.113.10',
    userAgent: invokedBy ?? 'aws-sdk-js/3.1164.0',
  };
}

/** A person in the console with an IAM user: CloudTrail gives a session context whose issuer is empty. */
const CONSOLE_USER: Caller = {
  userIdentity: {
    type: 'IAMUser',
    principalId: 'AIDAEXAMPLEUSER12345',
    arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
    accountId: ACCOUNT,
    accessKeyId: 'ASIAEXAMPLEKEY654321',
    userName: 'alice',
    sessionContext: { sessionIssuer: {}, webIdFederationData: {}, attributes: { creationDate: '2026-11-02T08:30:00Z', mfaAuthenticated: 'true' } },
  },
  sourceIPAddress: '198.51.100.7',
  userAgent: 'AWS Internal',
};

function cloudTrailEvent(caller: Caller, eventName = 'UpdateFunctionConfiguration20150331v2', functionName = 'valine-orchestrator-discord-dev') {
  return {
    version: '0',
    id: '6f3a2b1c-0d4e-4f5a-9b8c-7d6e5f4a3b2c',
    'detail-type': 'AWS API Call via CloudTrail',
    source: 'aws.lambda',
    account: ACCOUNT,
    time: '2026-11-02T09:00:00Z',
    region: FAKE_ENV.region,
    resources: [],
    detail: {
      eventVersion: '1.09',
      userIdentity: caller.userIdentity,
      eventTime: '2026-11-02T09:00:00Z',
      eventSource: 'lambda.amazonaws.com',
      eventName,
      awsRegion: FAKE_ENV.region,
      sourceIPAddress: caller.sourceIPAddress,
      userAgent: caller.userAgent,
      // Sensitive request values can be left out of the record; Phasegate reads only the function's name.
      requestParameters: { functionName, environment: {} },
      responseElements: { functionName, functionArn: `arn:aws:lambda:${FAKE_ENV.region}:${ACCOUNT}:function:${functionName}`, lastUpdateStatus: 'InProgress' },
      requestID: 'a1b2c3d4-5678-90ab-cdef-EXAMPLE11111',
      eventID: 'a1b2c3d4-5678-90ab-cdef-EXAMPLE22222',
      readOnly: false,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: ACCOUNT,
      eventCategory: 'Management',
    },
  };
}

describe("the drift rule's pattern against CloudTrail's Lambda API call events", () => {
  const { stack } = stageStack('dev');
  const template = Template.fromStack(stack);
  // Role ARNs resolve to `arn:aws:iam::<account>:role/<logical id>`, the shape of a real role's ARN.
  const resources = resolveIntrinsics(template.toJSON().Resources, (id, attribute) => (attribute === 'Arn' ? roleArn(id) : `${id}.${attribute}`)) as Record<
    string,
    { Type: string; Properties: { EventPattern?: { source?: string[]; detail?: Record<string, unknown> } } }
  >;
  const rule = Object.values(resources).find((r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern?.source?.[0] === 'aws.lambda')!;
  const pattern = rule.Properties.EventPattern!;

  it('matches a redeploy by CloudFormation (an assumed role, through cloudformation.amazonaws.com)', () => {
    const event = cloudTrailEvent(assumedRole('cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1', 'AWSCloudFormation', 'cloudformation.amazonaws.com'));
    expect(matchesEventPattern(pattern, event)).toBe(true);
    expect('problem' in parseLambdaApiCall(event)).toBe(false);
  });

  it("matches a console user's change (an IAM user, whose session issuer is empty)", () => {
    expect(matchesEventPattern(pattern, cloudTrailEvent(CONSOLE_USER))).toBe(true);
  });

  it('matches every call that changes what a function serves, by its versioned CloudTrail name', () => {
    const deployer = assumedRole('github-deploy', 'gha-1234');
    for (const name of ['UpdateFunctionCode20150331v2', 'PublishVersion20150331', 'UpdateAlias20150331', 'CreateFunction20150331', 'CreateAlias20150331']) {
      expect([name, matchesEventPattern(pattern, cloudTrailEvent(deployer, name))]).toEqual([name, true]);
    }
  });

  it("does not match calls by Phasegate's own flag-writing roles", () => {
    for (const fn of ['apply-phase', 'rollback', 'alarm-rollback', 'reconcile', 'discord-interactions']) {
      const role = functionRoleId(template, fn);
      const event = cloudTrailEvent(assumedRole(role, `phasegate-${fn}`));
      expect([fn, matchesEventPattern(pattern, event)]).toEqual([fn, false]);
    }
  });

  it('does not match reads, or calls to another service', () => {
    const deployer = assumedRole('github-deploy', 'gha-1234');
    expect(matchesEventPattern(pattern, cloudTrailEvent(deployer, 'GetFunction20150331v2'))).toBe(false);
    expect(matchesEventPattern(pattern, { ...cloudTrailEvent(deployer), source: 'aws.s3' })).toBe(false);
    expect(matchesEventPattern(pattern, { ...cloudTrailEvent(deployer), detail: { ...cloudTrailEvent(deployer).detail, eventSource: 's3.amazonaws.com' } })).toBe(false);
  });
});
