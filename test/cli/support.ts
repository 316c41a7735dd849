import { CloudFormationClient, CloudFormationServiceException, DescribeStacksCommand, type DescribeStacksCommandInput } from '@aws-sdk/client-cloudformation';
import { DescribeStateMachineCommand, SFNClient, StateMachineDoesNotExist, type DescribeStateMachineCommandInput } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { AwsStub, mockClient } from 'aws-sdk-client-mock';
import { main, type CliIo } from '../../cli/main';
import { useLocalDynamo } from '../../local/dynamo';
import { startLocalAws, type LocalAws } from '../support/local-aws';
import type { PhasegateRole, Plan } from '../../lambdas/core/plan/schema';
import { STATE_MACHINES_OUTPUT, TABLE_NAME_OUTPUT, stackName, stateMachineName } from '../../lib/naming';

/** Test support for the CLI: small stateful fakes of the AWS APIs only the CLI calls, and an in-process runner. */

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

/** Callers of the CLI, as STS GetCallerIdentity names them. */
export const CALLERS = {
  pm: `arn:aws:sts::${ACCOUNT}:assumed-role/Product/priya`,
  onCall: `arn:aws:sts::${ACCOUNT}:assumed-role/OnCall/olga`,
  admin: `arn:aws:iam::${ACCOUNT}:user/admin-ada`,
  developer: `arn:aws:sts::${ACCOUNT}:assumed-role/Developer/dan`,
  /** Same role name in another account: matches no pattern. */
  stranger: `arn:aws:sts::999999999999:assumed-role/Product/eve`,
} as const;

/** The plans' `principals`: who holds which Phasegate role when calling from the CLI. */
export const PRINCIPALS: Record<string, PhasegateRole[]> = {
  [`arn:aws:sts::${ACCOUNT}:assumed-role/Product/*`]: ['pm'],
  [`arn:aws:sts::${ACCOUNT}:assumed-role/OnCall/*`]: ['on-call'],
  [`arn:aws:iam::${ACCOUNT}:user/admin-*`]: ['admin'],
  [`arn:aws:sts::${ACCOUNT}:assumed-role/Developer/*`]: ['developer'],
};

/** A definition shaped like the synthesized one where it matters to the CLI: the `Load plan` state carries the plan. */
export function definitionWithPlan(plan: Plan, stage = 'dev'): string {
  return JSON.stringify({
    StartAt: 'Read input',
    States: {
      'Read input': { Type: 'Pass', Parameters: { stage, 'input.$': '$' }, Next: 'Load plan' },
      'Load plan': { Type: 'Pass', Result: plan, ResultPath: '$.plan', Next: 'Done' },
      Done: { Type: 'Succeed' },
    },
  });
}

function metadata(httpStatusCode: number) {
  return { httpStatusCode, requestId: 'test', attempts: 1, totalRetryDelay: 0 };
}

/**
 * The deployed side of stages, as the CLI reads it: CloudFormation DescribeStacks (the stack's outputs), STS
 * GetCallerIdentity (who calls), and Step Functions DescribeStateMachine (the plan embedded in a definition),
 * the last layered on the installed FakeStepFunctions' stub so its other commands keep working.
 */
export class FakeDeployment {
  /** The principal STS says is calling; undefined: no credentials. */
  caller: string | undefined = CALLERS.pm;
  private readonly stacks = new Map<string, { tableName: string; machines: Record<string, string> }>();
  private readonly definitions = new Map<string, string>();
  private readonly restores: (() => void)[] = [];
  /** The next DescribeStacks fails with this error. */
  failNext?: Error;

  install(): this {
    const cfn = mockClient(CloudFormationClient);
    cfn.on(DescribeStacksCommand).callsFake(async (input: DescribeStacksCommandInput) => {
      const failure = this.failNext;
      this.failNext = undefined;
      if (failure) throw failure;
      const stack = this.stacks.get(input.StackName ?? '');
      if (!stack) {
        throw new CloudFormationServiceException({ name: 'ValidationError', $fault: 'client', message: `Stack with id ${input.StackName} does not exist`, $metadata: metadata(400) });
      }
      return {
        Stacks: [
          {
            StackName: input.StackName,
            StackStatus: 'UPDATE_COMPLETE',
            CreationTime: new Date(),
            Outputs: [
              { OutputKey: TABLE_NAME_OUTPUT, OutputValue: stack.tableName },
              { OutputKey: STATE_MACHINES_OUTPUT, OutputValue: JSON.stringify(stack.machines) },
            ],
          },
        ],
        $metadata: metadata(200),
      };
    });
    const sts = mockClient(STSClient);
    sts.on(GetCallerIdentityCommand).callsFake(async () => {
      if (!this.caller) throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
      return { Arn: this.caller, Account: this.caller.split(':')[4], UserId: 'AIDATEST', $metadata: metadata(200) };
    });
    const send = SFNClient.prototype.send as unknown as { withArgs?: unknown };
    if (typeof send.withArgs !== 'function') throw new Error('install FakeStepFunctions before FakeDeployment');
    new AwsStub(SFNClient.prototype as never, send as never).on(DescribeStateMachineCommand).callsFake(async (input: DescribeStateMachineCommandInput) => {
      const definition = this.definitions.get(input.stateMachineArn ?? '');
      if (!definition) throw new StateMachineDoesNotExist({ message: `State Machine Does Not Exist: '${input.stateMachineArn}'`, $metadata: metadata(400) });
      return { stateMachineArn: input.stateMachineArn, definition, name: input.stateMachineArn?.split(':').pop(), $metadata: metadata(200) };
    });
    this.restores.push(() => cfn.restore(), () => sts.restore());
    return this;
  }

  restore(): void {
    for (const r of this.restores.splice(0)) r();
  }

  /** A deployed stack `phasegate-<stage>` whose state lives in `tableName`. */
  deployStage(stage: string, tableName: string): void {
    this.stacks.set(stackName(stage), { tableName, machines: {} });
  }

  /** Deploy a feature's state machine with `plan` embedded; returns its ARN. */
  deployFeature(stage: string, plan: Plan): string {
    const stack = this.stacks.get(stackName(stage));
    if (!stack) throw new Error(`deploy stage ${stage} first`);
    const arn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${stateMachineName(stage, plan.feature)}`;
    stack.machines[plan.feature] = arn;
    this.definitions.set(arn, definitionWithPlan(plan, stage));
    return arn;
  }
}

/** What one CLI run printed and returned. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON. */
  json<T = Record<string, unknown>>(): T;
}

/** Run the CLI in-process, as `phasegate <argv...>`. */
export async function runCli(argv: readonly string[], io: Partial<CliIo> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { USER: 'alice', ...io.env },
    cwd: io.cwd ?? process.cwd(),
    ...(io.columns ? { columns: io.columns } : {}),
    ...(io.now ? { now: io.now } : {}),
    ...(io.isTTY !== undefined ? { isTTY: io.isTTY } : {}),
    ...(io.sleep ? { sleep: io.sleep } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
    ...(io.lambdaTime ? { lambdaTime: io.lambdaTime } : {}),
  });
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}

/** Lines of `text` longer than `width`. */
export function overlong(text: string, width = 80): string[] {
  return text.split('\n').filter((l) => l.length > width);
}

/** A deployed `dev` stage for CLI tests: dynalite and the fakes, the SDK pointed at them, the stack's outputs faked. */
export interface DeployedStage {
  readonly aws: LocalAws;
  readonly deployment: FakeDeployment;
}

/** Sets up a {@link DeployedStage} before the file's tests and takes it down after them. */
export function useDeployedStage(): DeployedStage {
  const world = {} as { aws: LocalAws; deployment: FakeDeployment; restoreEndpoint: () => void };
  beforeAll(async () => {
    world.aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
    world.restoreEndpoint = useLocalDynamo(world.aws.dynamo.endpoint);
    world.deployment = new FakeDeployment().install();
    world.deployment.deployStage('dev', world.aws.tableName);
  });
  afterAll(async () => {
    world.deployment.restore();
    world.restoreEndpoint();
    await world.aws.stop();
  });
  return world;
}
