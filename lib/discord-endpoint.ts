import { ArnFormat, Aws, Duration, Stack, Token } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { FunctionUrlAuthType, type FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DISCORD_API_BASE_URL } from '../lambdas/adapters/discord-api';
import { ENV, type PhasegateFunctionName } from '../lambdas/core/contract';
import { STAGE_PLANS_FILE, stagePlanOf } from '../lambdas/core/discord/directory';
import type { Plan } from '../lambdas/core/plan/schema';
import { stateMachineName } from './naming';
import { PhasegateFunction } from './phasegate-function';
import { grantTargetFlags } from './phasegate-functions';
import { throwIfProblems } from './props-problems';

/** Stack output holding the URL to paste into the Discord application's "Interactions Endpoint URL". */
export const DISCORD_URL_OUTPUT = 'DiscordInteractionsUrl';

/** The state machine steps that announce the rollout in Discord (phase starts, gates, approvals, completion, rollbacks). */
export const NOTIFYING_STEPS: readonly PhasegateFunctionName[] = ['apply-phase', 'gate', 'request-approval', 'finish-rollout', 'rollback'];

/** A stage's Discord settings, as the stack takes them. */
export interface PhasegateDiscordSettings {
  /**
   * SSM String parameter with the application's public key (hex).
   * @default - `/phasegate/<stage>/discord/public-key`
   */
  readonly publicKeyParameter?: string;
  /**
   * SSM SecureString parameter with the bot token.
   * @default - `/phasegate/<stage>/discord/bot-token`
   */
  readonly botTokenParameter?: string;
  /**
   * Customer managed KMS key of the bot token parameter.
   * @default - the AWS managed key `aws/ssm`
   */
  readonly botTokenKey?: IKey;
  /**
   * The Discord application id.
   * @default - not set
   */
  readonly applicationId?: string;
  /**
   * Discord's API base URL.
   * @default - https://discord.com/api/v10
   */
  readonly apiBaseUrl?: string;
  /**
   * Mention the approver roles in approval requests (`PHASEGATE_DISCORD_MENTION_APPROVERS`), so a PM is pinged
   * rather than having to watch the channel. Opt-in per stage: cdk.json context `phasegate:<stage>:mentionApprovers`.
   * @default false
   */
  readonly mentionApprovers?: boolean;
}

/** How long the endpoint may run: a rollback from Discord writes every target and waits for the updates. */
const TIMEOUT = Duration.minutes(5);
/** Seconds left between a flag write's wait and the Lambda timeout, as for the rollback step. */
const FLAG_WRITE_MARGIN_SECONDS = 60;
/** A deferred job that Lambda could not start within this long is dropped: its interaction token has expired. */
const JOB_MAX_AGE = Duration.minutes(15);

/** Props of {@link DiscordEndpoint}. */
export interface DiscordEndpointProps {
  /** Deployment stage. */
  readonly stage: string;
  /** The state table: rollout state, approvals, audit trail, where approval messages were posted, LLM budgets. */
  readonly table: ITable;
  /**
   * The stage's plans, resolved for the stage; the endpoint's bundle carries a summary of each (feature, phases,
   * Discord settings) in `stage-plans.json`, read at cold start.
   */
  readonly plans: readonly Plan[];
  /**
   * Each feature's rollout state machine, named `phasegate-<stage>-<feature>`: `/rollout start` starts it, approvals
   * hand its task tokens back. The function derives the ARNs from the fixed names; these are what it is granted.
   */
  readonly stateMachines: Readonly<Record<string, IStateMachine>>;
  /** Name of the SSM String parameter holding the application's public key (hex). */
  readonly publicKeyParameterName: string;
  /** Name of the SSM SecureString parameter holding the bot token. */
  readonly botTokenParameterName: string;
  /**
   * The customer managed KMS key the bot token parameter is encrypted with; the endpoint and the notifying steps
   * get `kms:Decrypt` on it.
   * @default - the AWS managed key `aws/ssm`, whose key policy already lets every principal of the account decrypt
   *   through SSM: no KMS statement is needed, and none is added
   */
  readonly botTokenKey?: IKey;
  /**
   * The Discord application id, for tooling that reads it from the function.
   * @default - not set: replies use the application id each interaction carries
   */
  readonly applicationId?: string;
  /**
   * Discord's API base URL.
   * @default - https://discord.com/api/v10
   */
  readonly apiBaseUrl?: string;
  /**
   * Mention the approver roles in approval requests (`PHASEGATE_DISCORD_MENTION_APPROVERS`), so a PM is pinged
   * rather than having to watch the channel. Opt-in per stage: cdk.json context `phasegate:<stage>:mentionApprovers`.
   * @default false
   */
  readonly mentionApprovers?: boolean;
  /**
   * Keep the log group when the stack is deleted (production).
   * @default - false
   */
  readonly production?: boolean;
  /**
   * How long the endpoint's logs are kept.
   * @default - one month
   */
  readonly logRetention?: RetentionDays;
}

/** The ARN of an SSM parameter given by name (`/a/b` or `a/b`) in the stack's partition, region and account. */
export function parameterArn(scope: Construct, name: string): string {
  return Stack.of(scope).formatArn({
    service: 'ssm',
    resource: 'parameter',
    resourceName: name.replace(/^\//, ''),
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}

const PARAMETER_NAME = /^\/?[A-Za-z0-9_.\-/]{1,2000}$/;

/**
 * The Discord interactions endpoint: the `discord-interactions` function behind a Function URL with auth NONE
 * (Discord's Ed25519 signature, checked by the handler over the raw body, is the authentication), and what it
 * may touch, each grant on exactly its resources:
 * - the state table (read and write: decisions, pauses, refusals in the audit trail, approval message ids);
 * - `ssm:GetParameter` on the public key and bot token parameters only (plus `kms:Decrypt` on a customer key);
 * - `states:SendTaskSuccess` / `SendTaskFailure` (approvals) and `states:StartExecution` (`/rollout start`) on the
 *   stage's rollout state machines only;
 * - `lambda:GetFunction` / `UpdateFunctionConfiguration` on the plans' targets only: `/rollout rollback`
 *   writes the safe flags in process;
 * - `lambda:InvokeFunction` on itself only: deferred work (start, rollback, a slow approval) runs in an
 *   asynchronous invocation of the same function, which edits the deferred answer when done.
 *
 * {@link DiscordEndpoint.grantNotifications} gives a state machine step what it needs to post to the channel.
 */
export class DiscordEndpoint extends Construct {
  /** The endpoint function. */
  public readonly handler: PhasegateFunction;
  /** The Function URL to register as the Discord application's Interactions Endpoint URL. */
  public readonly functionUrl: FunctionUrl;
  /** ARN of the public key parameter. */
  public readonly publicKeyParameterArn: string;
  /** ARN of the bot token parameter. */
  public readonly botTokenParameterArn: string;

  private readonly botTokenParameterName: string;
  private readonly apiBaseUrl: string;
  private readonly mentionApprovers: boolean;
  private readonly botTokenKey?: IKey;

  constructor(scope: Construct, id: string, props: DiscordEndpointProps) {
    super(scope, id);
    const apiBaseUrl = props.apiBaseUrl ?? DISCORD_API_BASE_URL;
    const environment = endpointEnvironment(props, apiBaseUrl);
    throwIfProblems(`DiscordEndpoint ${this.node.path}`, validate(props, apiBaseUrl));
    this.botTokenParameterName = props.botTokenParameterName;
    this.apiBaseUrl = apiBaseUrl;
    this.mentionApprovers = props.mentionApprovers ?? false;
    this.botTokenKey = props.botTokenKey;
    this.publicKeyParameterArn = parameterArn(this, props.publicKeyParameterName);
    this.botTokenParameterArn = parameterArn(this, props.botTokenParameterName);

    this.handler = new PhasegateFunction(this, 'Handler', {
      name: 'discord-interactions',
      stage: props.stage,
      table: props.table,
      tableAccess: 'readWrite',
      timeout: TIMEOUT,
      // More memory is more CPU: a faster cold start inside Discord's 3 seconds, for pennies.
      memorySize: 512,
      production: props.production,
      logRetention: props.logRetention,
      environment,
      bundledFiles: { [STAGE_PLANS_FILE]: JSON.stringify((props.plans ?? []).map(stagePlanOf)) },
    });
    const role = this.handler.role;

    // A parameter's grantRead would add ssm:GetParameters, GetParameterHistory and DescribeParameters, which the
    // endpoint never calls: GetParameter alone, on the two parameters only.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadDiscordParameters',
        actions: ['ssm:GetParameter'],
        resources: [this.publicKeyParameterArn, this.botTokenParameterArn],
      }),
    );
    props.botTokenKey?.grantDecrypt(role);

    const machines = Object.keys(props.stateMachines)
      .sort()
      .map((feature) => props.stateMachines[feature]!);
    for (const machine of machines) machine.grantStartExecution(role);
    if (machines.length > 0) {
      // Not grantTaskResponse: it adds states:SendTaskHeartbeat, which the endpoint never calls.
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'DecideRollouts',
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
          resources: machines.map((m) => m.stateMachineArn),
        }),
      );
    }

    grantTargetFlags(this, role, 'RollBackTargetFlags', props.plans.flatMap((p) => p.targets), props.stage);

    // Its own policy, outside the role's default policy: the function depends on its role, so a statement naming
    // the function in the default policy would be a circular dependency. Not grantInvoke: it writes to the default
    // policy, and adds every version and alias (`<arn>:*`) where the endpoint invokes the unqualified function only.
    const selfInvoke = new Policy(this, 'SelfInvoke', {
      statements: [new PolicyStatement({ sid: 'RunDeferredJobs', actions: ['lambda:InvokeFunction'], resources: [this.handler.function.functionArn] })],
    });
    role.attachInlinePolicy(selfInvoke);
    this.handler.function.configureAsyncInvoke({ maxEventAge: JOB_MAX_AGE, retryAttempts: 2 });

    this.functionUrl = this.handler.function.addFunctionUrl({ authType: FunctionUrlAuthType.NONE });
  }

  /**
   * Let a state machine step post to the features' Discord channels: it gets the bot token parameter's name and
   * the API base URL in its environment, and `ssm:GetParameter` on that parameter only (plus `kms:Decrypt` on a
   * customer key).
   */
  grantNotifications(step: PhasegateFunction): void {
    step.function.addEnvironment(ENV.discordBotTokenParameter, this.botTokenParameterName);
    step.function.addEnvironment(ENV.discordApiBaseUrl, this.apiBaseUrl);
    if (this.mentionApprovers) step.function.addEnvironment(ENV.discordMentionApprovers, 'true');
    step.role.addToPrincipalPolicy(
      new PolicyStatement({ sid: 'ReadDiscordBotToken', actions: ['ssm:GetParameter'], resources: [this.botTokenParameterArn] }),
    );
    this.botTokenKey?.grantDecrypt(step.role);
  }
}

/**
 * The endpoint's own environment (PhasegateFunction adds table, stage and function name). No plan summaries and no
 * state machine ARNs: those grow with the stage (about 15 KB at 50 features, against Lambda's 4 KB); the summaries
 * ship in the bundle and the ARNs are derived from the fixed names and the stack's ARN prefix.
 */
function endpointEnvironment(props: DiscordEndpointProps, apiBaseUrl: string): Record<string, string> {
  return {
    [ENV.stateMachineArnPrefix]: stateMachineArnPrefix(),
    [ENV.discordPublicKeyParameter]: props.publicKeyParameterName,
    [ENV.discordBotTokenParameter]: props.botTokenParameterName,
    [ENV.discordApiBaseUrl]: apiBaseUrl,
    ...(props.applicationId !== undefined ? { [ENV.discordApplicationId]: props.applicationId } : {}),
    [ENV.flagWriteTimeoutSeconds]: String(TIMEOUT.toSeconds() - FLAG_WRITE_MARGIN_SECONDS),
  };
}

/**
 * `arn:<partition>:states:<region>:<account>:stateMachine:` of the stack, as `PHASEGATE_STATE_MACHINE_ARN_PREFIX`: the
 * functions derive each feature's state machine ARN from it and the fixed name (`stateMachineArn`).
 */
export function stateMachineArnPrefix(): string {
  return `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:`;
}

function validate(props: DiscordEndpointProps, apiBaseUrl: string): string[] {
  const problems: string[] = [];
  if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
  for (const key of ['publicKeyParameterName', 'botTokenParameterName'] as const) {
    const name = props[key];
    if (typeof name !== 'string' || (!Token.isUnresolved(name) && !PARAMETER_NAME.test(name))) {
      problems.push(`${key}: expected an SSM parameter name (letters, digits, _ . - /), got ${JSON.stringify(name)}`);
    }
  }
  if (props.publicKeyParameterName === props.botTokenParameterName) problems.push('botTokenParameterName: must differ from publicKeyParameterName');
  if (!/^https:\/\/[^\s/]+(\/\S*)?$/.test(apiBaseUrl)) problems.push(`apiBaseUrl: expected an https:// URL, got ${JSON.stringify(apiBaseUrl)}`);
  if (props.applicationId !== undefined && !/^\d{17,20}$/.test(props.applicationId)) {
    problems.push(`applicationId: expected a Discord id (17-20 digits), got ${JSON.stringify(props.applicationId)}`);
  }
  const features = new Set((props.plans ?? []).map((p) => p.feature));
  for (const feature of Object.keys(props.stateMachines ?? {})) {
    if (!features.has(feature)) problems.push(`stateMachines.${feature}: no plan for this feature`);
  }
  for (const feature of features) {
    if (!props.stateMachines?.[feature]) problems.push(`stateMachines: missing the state machine of ${feature}`);
  }
  // The function derives each ARN from the fixed name: a machine by another name would be granted but never called.
  for (const [feature, machine] of Object.entries(props.stateMachines ?? {})) {
    const name = /:stateMachine:([^:]+)$/.exec(machine.stateMachineArn)?.[1];
    if (name !== undefined && !Token.isUnresolved(name) && name !== stateMachineName(props.stage, feature)) {
      problems.push(`stateMachines.${feature}: named ${JSON.stringify(name)}; the endpoint calls ${JSON.stringify(stateMachineName(props.stage, feature))}`);
    }
  }
  return problems;
}
