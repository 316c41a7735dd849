import { randomBytes } from 'node:crypto';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DescribeStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { CloudWatchMetricsReader } from '../lambdas/adapters/cloudwatch-metrics-reader';
import { DynamoLlmBudgetStore } from '../lambdas/adapters/dynamo-budget-store';
import { DynamoRollbackActivity } from '../lambdas/adapters/dynamo-rollback-activity';
import { DynamoRolloutStore } from '../lambdas/adapters/dynamo-state-store';
import { LambdaFlagWriter } from '../lambdas/adapters/lambda-flag-writer';
import { SfnExecutionStopper } from '../lambdas/adapters/sfn-execution-stopper';
import { SfnRolloutStarter } from '../lambdas/adapters/sfn-rollout-starter';
import { SfnTaskTokens } from '../lambdas/adapters/sfn-task-tokens';
import type { Plan } from '../lambdas/core/plan/schema';
import type { RolloutStarter } from '../lambdas/core/ports';
import { parsePlan } from '../lambdas/core/plan/validate';
import { systemClock } from '../lambdas/core/ports';
import { principalName, rolesFromPrincipal } from '../lambdas/core/rollout/principal';
import type { Actor } from '../lambdas/core/rollout/rollout-state';
import { STATE_MACHINES_OUTPUT, TABLE_NAME_OUTPUT, stackName } from '../lib/naming';
import { DynamoDriftLedger } from '../lambdas/adapters/dynamo-drift-ledger';
import { CoreBackend, type Backend } from './backend';
import { ConfigError } from './errors';

/**
 * The CLI against a deployed stage: the stack's outputs say where the table and the state machines are, STS says
 * who the caller is, and the core operations run in this process with the caller's credentials.
 */

/** Where a deployed stage keeps its state, from the outputs of `phasegate-<stage>`. */
export interface StageStack {
  readonly stackName: string;
  readonly region: string;
  readonly tableName: string;
  /** Feature id -> rollout state machine ARN, in the stack's order. */
  readonly stateMachines: Readonly<Record<string, string>>;
}

/** Read the stage's stack outputs. Throws {@link ConfigError} when the stack or its outputs are missing. */
export async function describeStageStack(cfn: CloudFormationClient, stage: string): Promise<StageStack> {
  const name = stackName(stage);
  const region = await cfn.config.region();
  let stack;
  try {
    stack = (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks?.[0];
  } catch (err) {
    // CloudFormation answers a missing stack with a ValidationError "Stack with id ... does not exist".
    if ((err as Error).name !== 'ValidationError' || !/does not exist/.test((err as Error).message)) throw err;
  }
  if (!stack) {
    throw new ConfigError(
      'STACK_NOT_FOUND',
      `stack ${name} was not found in ${region}: deploy the stage with \`npx cdk deploy -c stage=${stage}\`, or choose another --stage or --region`,
    );
  }
  const outputs = new Map((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const tableName = outputs.get(TABLE_NAME_OUTPUT);
  const machinesJson = outputs.get(STATE_MACHINES_OUTPUT);
  if (!tableName || !machinesJson) {
    throw new ConfigError(
      'STACK_OUTPUTS',
      `stack ${name} (${stack.StackStatus}) has no ${!tableName ? TABLE_NAME_OUTPUT : STATE_MACHINES_OUTPUT} output: is it deployed, and by this version of Phasegate?`,
    );
  }
  let stateMachines: unknown;
  try {
    stateMachines = JSON.parse(machinesJson);
  } catch {
    stateMachines = undefined;
  }
  if (!stateMachines || typeof stateMachines !== 'object' || Object.values(stateMachines).some((v) => typeof v !== 'string')) {
    throw new ConfigError('STACK_OUTPUTS', `stack ${name}'s ${STATE_MACHINES_OUTPUT} output is not a JSON object of feature -> ARN: ${machinesJson}`);
  }
  return { stackName: name, region, tableName, stateMachines: stateMachines as Record<string, string> };
}

/**
 * The plan a rollout state machine was deployed with. The stack embeds the stage-resolved plan in the
 * definition (the `Load plan` Pass state's `Result`, see lib/rollout-state-machine.ts; its `Parameters.plan` in
 * state machines deployed before), so this is the plan every new execution runs, whatever rollouts/ says.
 */
export function planFromDefinition(definition: string, feature: string): Plan {
  const found: unknown[] = [];
  const visit = (states: unknown): void => {
    if (!states || typeof states !== 'object') return;
    for (const state of Object.values(states as Record<string, unknown>)) {
      const s = state as
        | { Type?: unknown; Result?: { feature?: unknown }; Parameters?: { plan?: { feature?: unknown } }; Branches?: { States?: unknown }[] }
        | undefined;
      if (s?.Type === 'Pass' && s.Result?.feature === feature) found.push(s.Result);
      else if (s?.Parameters?.plan?.feature === feature) found.push(s.Parameters.plan);
      for (const branch of s?.Branches ?? []) visit(branch.States);
    }
  };
  try {
    visit((JSON.parse(definition) as { States?: unknown }).States);
  } catch {
    // Not JSON: reported below like a definition without a plan.
  }
  if (found.length === 0) {
    throw new ConfigError('DEPLOYED_PLAN', `the state machine of ${feature} carries no plan for it: was it deployed by this version of Phasegate?`);
  }
  return parsePlan(found[0], { source: `the deployed plan of ${feature}` });
}

/**
 * A readable, unique execution name for a rollout started from the CLI: `cli-20261102T090000Z-3f9a2c` (how, when,
 * a random tail). Step Functions allows 80 characters of `[A-Za-z0-9_-]`.
 */
export function executionName(actor: Actor, at: Date): string {
  return `${actor.via}-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')}-${randomBytes(3).toString('hex')}`;
}

/** Starts rollouts with StartExecution (the shared adapter), each execution named by {@link executionName}. */
export function cliRolloutStarter(stateMachines: Readonly<Record<string, string>>, sfn?: SFNClient): RolloutStarter {
  return {
    start: (feature, input) =>
      new SfnRolloutStarter(stateMachines, { executionName: executionName(input.actor, new Date()), ...(sfn ? { sfn } : {}) }).start(feature, input),
  };
}

/** Options of {@link connectAws}. */
export interface AwsConnectOptions {
  readonly stage: string;
  /** @default - the SDK's region chain (AWS_REGION, the profile) */
  readonly region?: string;
  /**
   * The time the flag writer paces, polls and waits on (and the rollback marker's expiry): tests give the time of
   * their Lambda fake, so a CLI rollback never waits for real nor depends on how busy the machine is.
   * @default - the system clock and real timers
   */
  readonly lambdaTime?: LambdaTime;
}

/** Epoch milliseconds and a sleep on the same time. */
export interface LambdaTime {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/**
 * Connect to a deployed stage with the caller's AWS credentials. Rollback writes the targets' flags from this
 * process (as the state machine's rollback does), so the caller needs the Lambda permissions too.
 */
export async function connectAws(options: AwsConnectOptions): Promise<Backend> {
  const config = options.region ? { region: options.region } : {};
  const cfn = new CloudFormationClient(config);
  const sts = new STSClient(config);
  const dynamo = new DynamoDBClient(config);
  const sfn = new SFNClient(config);
  const lambda = new LambdaClient(config);
  const cloudwatch = new CloudWatchClient(config);
  const clients = [cfn, sts, dynamo, sfn, lambda, cloudwatch];
  const close = async (): Promise<void> => clients.forEach((c) => c.destroy());

  let stack: StageStack;
  try {
    stack = await describeStageStack(cfn, options.stage);
  } catch (err) {
    await close();
    throw err;
  }

  let caller: Promise<Actor> | undefined;
  const plans = new Map<string, Promise<Plan | undefined>>();
  const deployedPlan = (feature: string): Promise<Plan | undefined> => {
    const arn = stack.stateMachines[feature];
    if (!arn) return Promise.resolve(undefined);
    if (!plans.has(feature)) {
      plans.set(
        feature,
        sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn })).then((out) => planFromDefinition(out.definition ?? '', feature)),
      );
    }
    return plans.get(feature)!;
  };

  return new CoreBackend({
    stage: options.stage,
    where: `stack ${stack.stackName} (${stack.region})`,
    features: Object.keys(stack.stateMachines),
    ports: {
      store: new DynamoRolloutStore(stack.tableName, dynamo),
      tokens: new SfnTaskTokens(sfn),
      // The CLI's rollbacks mark the stage like the functions' do, so applies leave them the Lambda API quota.
      flags: new LambdaFlagWriter(lambda, {
        rollbackActivity: new DynamoRollbackActivity(stack.tableName, dynamo, options.lambdaTime?.now),
        ...(options.lambdaTime ? { now: options.lambdaTime.now, sleep: options.lambdaTime.sleep } : {}),
      }),
      stopper: new SfnExecutionStopper(sfn),
      starter: cliRolloutStarter(stack.stateMachines, sfn),
      budgets: new DynamoLlmBudgetStore(stack.tableName, dynamo),
      ledger: new DynamoDriftLedger(stack.tableName, dynamo),
      metrics: new CloudWatchMetricsReader(cloudwatch),
      clock: systemClock,
    },
    caller: () => {
      caller ??= sts.send(new GetCallerIdentityCommand({})).then((out) => {
        if (!out.Arn) throw new Error('STS GetCallerIdentity returned no ARN');
        return { id: out.Arn, name: principalName(out.Arn), via: 'cli' as const };
      });
      return caller;
    },
    deployedPlan,
    rolesOf: (plan, actor) => (plan ? rolesFromPrincipal(plan, actor.id) : []),
    close,
  });
}
