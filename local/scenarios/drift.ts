/**
 * Rehearsal building block: a target's own deploy replaces its whole environment (CloudFormation sets
 * `Environment.Variables` as one map), and CloudTrail reports the call to EventBridge. {@link redeployTarget} makes
 * the call through the Lambda API (the local fake in rehearsals and tests), as `sam deploy` would, and
 * {@link lambdaApiCallEvent} builds the event CloudTrail sends for it.
 */
import { randomUUID } from 'node:crypto';
import { GetFunctionCommand, LambdaClient, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { LAMBDA_API_CALL } from '../../lambdas/core/contract';
import type { LambdaApiCallEvent } from '../../lambdas/core/reconcile';
import { LOCAL_AWS } from '../asl';

/** The deploy role CloudFormation uses in the examples: `cdk deploy`'s execution role. */
export const DEPLOY_ROLE_SESSION = `arn:aws:sts::${LOCAL_AWS.accountId}:assumed-role/cdk-hnb659fds-cfn-exec-role-${LOCAL_AWS.accountId}/AWSCloudFormation`;

/**
 * Replace a function's whole environment, as a redeploy of its own stack does: the variables its template declares,
 * nothing of what Phasegate wrote. Returns when Lambda accepted the update (it is InProgress for a while after).
 */
export async function redeployTarget(functionName: string, variables: Readonly<Record<string, string>>, client: LambdaClient = new LambdaClient({ region: LOCAL_AWS.region })): Promise<void> {
  const current = await client.send(new GetFunctionCommand({ FunctionName: functionName }));
  await client.send(
    new UpdateFunctionConfigurationCommand({ FunctionName: functionName, Environment: { Variables: { ...variables } }, RevisionId: current.Configuration?.RevisionId }),
  );
}

/** What {@link lambdaApiCallEvent} needs. */
export interface LambdaApiCallInput {
  readonly functionName: string;
  /** @default UpdateFunctionConfiguration20150331v2 */
  readonly eventName?: string;
  /** The caller's ARN. @default {@link DEPLOY_ROLE_SESSION} */
  readonly principalArn?: string;
  /** The role that issued the session, for `sessionContext.sessionIssuer.arn`. @default derived from an assumed-role ARN */
  readonly roleArn?: string;
  /** @default 'cloudformation.amazonaws.com' for the default principal */
  readonly invokedBy?: string;
  readonly at?: Date;
  readonly errorCode?: string;
}

/**
 * The event CloudTrail sends to EventBridge for a Lambda API call ("AWS API Call via CloudTrail", source aws.lambda;
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html). Only the function's name is
 * given in `requestParameters`: environment values may be redacted there, and Phasegate never reads them from events.
 */
export function lambdaApiCallEvent(input: LambdaApiCallInput): LambdaApiCallEvent & Record<string, unknown> {
  const principalArn = input.principalArn ?? DEPLOY_ROLE_SESSION;
  const assumed = principalArn.match(/^arn:([^:]+):sts::(\d+):assumed-role\/([^/]+)\//);
  const roleArn = input.roleArn ?? (assumed ? `arn:${assumed[1]}:iam::${assumed[2]}:role/${assumed[3]}` : undefined);
  const at = (input.at ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const invokedBy = input.invokedBy ?? (input.principalArn === undefined ? 'cloudformation.amazonaws.com' : undefined);
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': LAMBDA_API_CALL.detailType,
    source: LAMBDA_API_CALL.source,
    account: LOCAL_AWS.accountId,
    time: at,
    region: LOCAL_AWS.region,
    resources: [],
    detail: {
      eventVersion: '1.09',
      userIdentity: {
        type: assumed ? 'AssumedRole' : 'IAMUser',
        principalId: `AROAEXAMPLE:${principalArn.split('/').pop()}`,
        arn: principalArn,
        accountId: LOCAL_AWS.accountId,
        ...(invokedBy ? { invokedBy } : {}),
        ...(roleArn ? { sessionContext: { sessionIssuer: { type: 'Role', arn: roleArn, userName: roleArn.split('/').pop() } } } : {}),
      },
      eventTime: at,
      eventSource: LAMBDA_API_CALL.eventSource,
      eventName: input.eventName ?? 'UpdateFunctionConfiguration20150331v2',
      awsRegion: LOCAL_AWS.region,
      requestParameters: { functionName: input.functionName },
      ...(input.errorCode ? { errorCode: input.errorCode } : {}),
    },
  } as LambdaApiCallEvent & Record<string, unknown>;
}
