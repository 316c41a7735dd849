/**
 * Rehearsal building block: a target's own deploy replaces its whole environment (CloudFormation sets
 * `Environment.Variables` as one map), and CloudTrail reports the call to EventBridge. {@link redeployTarget} makes
 * the call through the Lambda API (the local fake in rehearsals and tests), as `sam deploy` would, and
 * {@link lambdaApiCallEvent} builds the event CloudTrail sends for it; {@link driftDuringPhase} delivers those events to
 * the reconcile function's core, as the stack's EventBridge rule would.
 */
import { randomUUID } from 'node:crypto';
import { GetAliasCommand, GetFunctionCommand, LambdaClient, PublishVersionCommand, UpdateAliasCommand, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { reconcileContextFromEnv, reconcilePortsFromEnv } from '../../lambdas/adapters/reconcile-ports';
import { LAMBDA_API_CALL } from '../../lambdas/core/contract';
import { handleReconcileEvent, type ReconcileEventOutcome } from '../../lambdas/core/drift/drift-events';
import type { LambdaApiCallEvent } from '../../lambdas/core/drift/reconcile';
import { functionNameOf, parseTarget } from '../../lambdas/core/flags/target';
import { LOCAL_AWS } from '../asl';
import type { FakeLambdaControlPlane } from '../fakes/lambda-control-plane';

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

/** A target's function in the fake (its name alone) and the alias it is invoked through, if any. */
function targetParts(target: string): { name: string; alias?: string } {
  const { alias } = parseTarget(target);
  return { name: functionNameOf(target), ...(alias ? { alias } : {}) };
}

/**
 * Create a plan's targets in the fake Lambda with `variables(target)`: a plain target is a function; an alias target
 * (`fn:live`) is a function with a version published from it and the alias pointing there, as a SAM
 * `AutoPublishAlias` deploy leaves it.
 */
export function addTargets(lambda: FakeLambdaControlPlane, targets: readonly string[], variables: (target: string) => Record<string, string>): void {
  for (const target of targets) {
    const { name, alias } = targetParts(target);
    lambda.addFunction(name, variables(target));
    if (alias) lambda.addAlias(name, alias);
  }
}

/** What the code of a target sees: `$LATEST`'s environment, or for an alias target that of the version the alias points to. */
export function servedEnvironment(lambda: FakeLambdaControlPlane, target: string): Record<string, string> {
  const { name, alias } = targetParts(target);
  return alias ? lambda.environmentServedBy(name, alias) : lambda.environmentOf(name);
}

/**
 * A redeploy of an alias target as SAM `AutoPublishAlias` makes it: the environment of `$LATEST` replaced, then, once
 * that update is done, a version published and the alias moved to it. Returns the calls made, in order, for their
 * CloudTrail events. CloudTrail names them with their API version (Lambda's CloudTrail page:
 * https://docs.aws.amazon.com/lambda/latest/dg/logging-using-cloudtrail.html).
 */
export async function redeployAliasTarget(
  functionName: string,
  alias: string,
  variables: Readonly<Record<string, string>>,
  client: LambdaClient = new LambdaClient({ region: LOCAL_AWS.region }),
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<string[]> {
  await redeployTarget(functionName, variables, client);
  // PublishVersion refuses while the update is InProgress (ResourceConflictException): SAM waits for it too.
  for (;;) {
    const read = await client.send(new GetFunctionCommand({ FunctionName: functionName }));
    if (read.Configuration?.LastUpdateStatus !== 'InProgress') break;
    await sleep(50);
  }
  const published = await client.send(new PublishVersionCommand({ FunctionName: functionName }));
  const current = await client.send(new GetAliasCommand({ FunctionName: functionName, Name: alias }));
  await client.send(new UpdateAliasCommand({ FunctionName: functionName, Name: alias, FunctionVersion: published.Version, RevisionId: current.RevisionId }));
  return ['UpdateFunctionConfiguration20150331v2', 'PublishVersion20150331', 'UpdateAlias20150331'];
}

/** What {@link driftDuringPhase} needs. */
export interface DriftScenarioInput {
  /** The target whose own deploy wipes the flags, as the plan names it. */
  readonly target: string;
  /** The variables the target's own template declares: its whole environment after the deploy. */
  readonly variables: Readonly<Record<string, string>>;
  /**
   * The reconcile function's environment as the synthesized template sets it (stage, table, features, Phasegate's
   * own roles, Discord): its ports and context are built from it, as the deployed function builds them.
   */
  readonly reconcileEnvironment: Readonly<Record<string, string>>;
  /** Check that the stack's EventBridge rule routes the event to the reconcile function; throws when it does not. @default no check */
  readonly routes?: (event: unknown) => boolean;
}

/** What {@link driftDuringPhase} observed. */
export interface DriftScenarioResult {
  readonly target: string;
  /** When the deploy replaced the environment, when the (last) event reached the reconcile, and when it returned. */
  readonly deployedAt: string;
  readonly detectedAt: string;
  readonly finishedAt: string;
  /** The CloudTrail events delivered, in order. */
  readonly events: readonly (LambdaApiCallEvent & Record<string, unknown>)[];
  /** The Phasegate variables the deploy wiped or changed on the code's environment. */
  readonly wiped: readonly string[];
  /** What the reconcile did with each event. */
  readonly outcomes: readonly ReconcileEventOutcome[];
  /** `repaired` when an event's reconcile put the flags back. */
  readonly outcome: 'repaired' | 'not-repaired';
  /** From the reconcile: event -> flags back. */
  readonly repairMs?: number;
}

/**
 * During a phase, a target's own deploy wipes the flags: the deploy through the Lambda API (the fake), then the
 * CloudTrail event of each of its calls delivered to the reconcile function's core as EventBridge would, one after the
 * other, with the ports and context the function builds from its environment.
 */
export async function driftDuringPhase(lambda: FakeLambdaControlPlane, flagNames: readonly string[], input: DriftScenarioInput): Promise<DriftScenarioResult> {
  const { name, alias } = targetParts(input.target);
  const before = servedEnvironment(lambda, input.target);
  const deployedAt = new Date();
  const calls = alias ? await redeployAliasTarget(name, alias, input.variables) : (await redeployTarget(name, input.variables), ['UpdateFunctionConfiguration20150331v2']);
  const after = servedEnvironment(lambda, input.target);
  const wiped = flagNames.filter((n) => before[n] !== after[n]);

  const env = { ...input.reconcileEnvironment };
  const ports = reconcilePortsFromEnv(env);
  const context = reconcileContextFromEnv(env);
  const events = calls.map((eventName) => lambdaApiCallEvent({ functionName: name, eventName, at: deployedAt }));
  const outcomes: ReconcileEventOutcome[] = [];
  let detectedAt = deployedAt;
  let repairMs: number | undefined;
  for (const event of events) {
    if (input.routes && !input.routes(event)) throw new Error(`no EventBridge rule of the stack routes ${event.detail.eventName} on ${name} to the reconcile function`);
    detectedAt = new Date();
    const outcome = await handleReconcileEvent(ports, context, JSON.parse(JSON.stringify(event)), detectedAt);
    outcomes.push(outcome);
    const feature = outcome.outcome === 'reconciled' ? outcome.features.find((f) => f.outcome === 'repaired') : undefined;
    if (feature) repairMs = feature.repairMs;
  }
  return {
    target: input.target,
    deployedAt: deployedAt.toISOString(),
    detectedAt: detectedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    events,
    wiped,
    outcomes,
    outcome: repairMs !== undefined ? 'repaired' : 'not-repaired',
    ...(repairMs !== undefined ? { repairMs } : {}),
  };
}
