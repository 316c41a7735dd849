import { Aws, Duration, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { stageAlarmPrefix } from '../lambdas/core/gates/alarm-names';
import { ALARM_STATE_CHANGE, ENV } from '../lambdas/core/contract';
import { TargetSchema } from '../lambdas/core/plan/schema';
import type { DiscordEndpoint } from './discord-endpoint';
import { FailureQueue } from './failure-queue';
import { stateMachineName } from './naming';
import { PhasegateFunction } from './phasegate-function';
import { grantTargetFlags } from './phasegate-functions';
import { throwIfProblems } from './props-problems';

/**
 * How long one invocation may run. A rollback that runs out of time hands the rest to an asynchronous invocation
 * of itself (the flag writer takes its deadline from the invocation's remaining time).
 */
const TIMEOUT = Duration.minutes(5);
/** EventBridge's delivery retries of an alarm event to the function, and for how long. */
const RULE_RETRY = { retryAttempts: 8, maxEventAge: Duration.hours(1) } as const;
/**
 * Lambda's own retries of a failed asynchronous invocation (an EventBridge delivery or a continuation), and how
 * long an event may wait in Lambda's queue. Two retries of five minutes each, with Lambda's back-off in between,
 * fit well inside the hour; an event that cannot start within an hour goes to the on-failure queue, which pages,
 * rather than rolling back late without anyone knowing.
 */
const ASYNC_RETRY = { retryAttempts: 2, maxEventAge: Duration.hours(1) } as const;

/** Props of {@link AlarmRollback}. */
export interface AlarmRollbackProps {
  /** Deployment stage: the rule matches alarms named `phasegate-<stage>-...`. */
  readonly stage: string;
  /** The state table. */
  readonly table: ITable;
  /** Every target of the stage's plans: the only functions whose configuration the rollback may read and update. */
  readonly targets: readonly string[];
  /** Each feature's rollout state machine: its approval tokens may be failed and its executions stopped. */
  readonly stateMachines: Readonly<Record<string, IStateMachine>>;
  /**
   * Keep the log group when the stack is deleted (production).
   * @default - false: the log group is destroyed with the stack
   */
  readonly production?: boolean;
  /**
   * How long the function's logs are kept.
   * @default - one month
   */
  readonly logRetention?: RetentionDays;
  /**
   * Where the function posts rollbacks in Discord: it gets the bot token parameter's name and the API base URL in
   * its environment, and may read that parameter (see {@link DiscordEndpoint.grantNotifications}).
   * @default - none: the function posts nothing (the stage's plans name no Discord channel)
   */
  readonly discord?: Pick<DiscordEndpoint, 'grantNotifications'>;
}

/**
 * Automatic rollback: an EventBridge rule on `CloudWatch Alarm State Change` to ALARM for the stage's Phasegate
 * alarms (name prefix `phasegate-<stage>-`) invoking the `alarm-rollback` function, which rolls the alarm's
 * feature back (or only its LLM sub-feature). The function may read (`lambda:GetFunction`) and update the
 * configuration of the plans' targets only, fail the rollout state machines' task tokens and stop their
 * executions, read and write the state table, and invoke itself (to continue a rollback that ran out of time).
 *
 * Nothing is dropped quietly: an event EventBridge cannot deliver after its retries goes to
 * {@link AlarmRollback.deadLetters}; an invocation that still fails after Lambda's retries (or expires) goes to
 * {@link AlarmRollback.failures}. {@link RollbackAlerts} alarms on both and on the function's errors.
 */
export class AlarmRollback extends Construct {
  /** The alarm-rollback function. */
  public readonly function: PhasegateFunction;
  /** The EventBridge rule that invokes it. */
  public readonly rule: Rule;
  /** The on-failure destination of the function's asynchronous invocations: events that failed every attempt or expired. */
  public readonly failures: FailureQueue;
  /** The rule target's dead-letter queue: alarm events EventBridge could not deliver to the function. */
  public readonly deadLetters: FailureQueue;
  /** The policy that lets the function invoke itself, and nothing else. */
  public readonly selfInvoke: Policy;

  constructor(scope: Construct, id: string, props: AlarmRollbackProps) {
    super(scope, id);
    const problems: string[] = [];
    if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
    props.targets.forEach((target, i) => {
      const parsed = TargetSchema.safeParse(target);
      if (!parsed.success) problems.push(`targets[${i}]: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
    });
    if (Object.keys(props.stateMachines).length === 0) problems.push('stateMachines: expected at least one feature (no plans, nothing to roll back)');
    throwIfProblems(`AlarmRollback ${this.node.path}`, problems);

    this.function = new PhasegateFunction(this, 'Function', {
      name: 'alarm-rollback',
      stage: props.stage,
      table: props.table,
      tableAccess: 'readWrite',
      timeout: TIMEOUT,
      production: props.production,
      logRetention: props.logRetention,
      // The feature ids only: the function needs no state machine ARN (each approval token and execution names its
      // own), and 50 features' ARNs would pass Lambda's 4 KB of environment.
      environment: { [ENV.features]: JSON.stringify(Object.keys(props.stateMachines).sort()) },
    });
    props.discord?.grantNotifications(this.function);

    grantTargetFlags(this.function, this.function.role, 'WriteSafeFlags', props.targets, props.stage);

    // A policy of its own, outside the role's default policy: the function depends on that one (CloudFormation must
    // not create the function before its role may act), so a statement there naming the function's own ARN would
    // be a cycle: function -> default policy -> function ARN. This policy depends on the function and nothing
    // depends on it. The unqualified ARN only: no version or alias, no other function.
    this.selfInvoke = new Policy(this, 'SelfInvoke', {
      statements: [
        new PolicyStatement({ sid: 'ContinueRollback', actions: ['lambda:InvokeFunction'], resources: [this.function.function.functionArn] }),
      ],
    });
    this.function.role.attachInlinePolicy(this.selfInvoke);

    this.failures = new FailureQueue(this, 'Failures', {
      holds: 'alarm-rollback invocations that failed after Lambda\'s retries or expired (the event and the error)',
    });
    this.function.function.configureAsyncInvoke({ onFailure: new SqsDestination(this.failures.queue), ...ASYNC_RETRY });
    const features = Object.keys(props.stateMachines).sort();
    // Per state machine while the ARNs fit the role's 10,240 characters of inline policy (IAM quotas); a larger stage
    // names its state machines by the stage's name prefix instead (their names are fixed: phasegate-<stage>-<feature>).
    const byPrefix = features.length > EXACT_STATE_MACHINE_GRANT_LIMIT;
    const stateMachineArns = byPrefix
      ? [`arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:${stateMachineName(props.stage, '*')}`]
      : features.map((f) => props.stateMachines[f]!.stateMachineArn);
    const executionArns = byPrefix ? [executionArnPattern(props.stage, '*')] : features.map((f) => executionArnPattern(props.stage, f));
    // Narrow statements rather than grant methods: grantTaskResponse would add SendTaskSuccess and SendTaskHeartbeat,
    // which a rollback never sends; grantExecution would need the state machines' constructs, which live in the
    // features' nested stacks (a cross-stack reference per feature), where a name pattern says the same.
    const executions = new Policy(this, 'EndExecutions', {
      statements: [
        new PolicyStatement({ sid: 'FailApprovalTokens', actions: ['states:SendTaskFailure'], resources: stateMachineArns }),
        new PolicyStatement({ sid: 'StopRolloutExecutions', actions: ['states:StopExecution'], resources: executionArns }),
      ],
    });
    this.function.role.attachInlinePolicy(executions);
    for (const f of byPrefix ? ['*'] : features) {
      Validations.of(executions).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${stateMachineName(props.stage, f)}:*]`,
        reason:
          'states:StopExecution applies to executions, whose ARNs end in a name Step Functions generates; the wildcard covers ' +
          (byPrefix
            ? `the executions of the stage's Phasegate state machines (${stateMachineName(props.stage, '*')}): more than ${EXACT_STATE_MACHINE_GRANT_LIMIT} ARNs would pass IAM's role policy size.`
            : `the executions of one Phasegate state machine (${stateMachineName(props.stage, f)}) and nothing else.`),
      });
    }
    if (byPrefix) {
      Validations.of(executions).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:${stateMachineName(props.stage, '*')}]`,
        reason: `The stage's state machines by their fixed name prefix: more than ${EXACT_STATE_MACHINE_GRANT_LIMIT} ARNs would pass IAM's role policy size.`,
      });
    }

    this.rule = new Rule(this, 'AlarmRule', {
      description: `Phasegate ${props.stage}: a rollback alarm went to ALARM -> roll its feature back`,
      eventPattern: {
        source: [ALARM_STATE_CHANGE.source],
        detailType: [ALARM_STATE_CHANGE.detailType],
        detail: { alarmName: [{ prefix: stageAlarmPrefix(props.stage) }], state: { value: ['ALARM'] } },
      },
    });
    this.deadLetters = new FailureQueue(this, 'DeadLetters', {
      holds: 'rollback alarm events that EventBridge could not deliver to the alarm-rollback function after its retries',
    });
    // At least once: EventBridge retries delivery (a throttled or refused Invoke), then dead-letters the event; once
    // delivered, Lambda's own retries and on-failure queue take over. The handler makes every repeat a no-op.
    this.rule.addTarget(new LambdaFunction(this.function.function, { ...RULE_RETRY, deadLetterQueue: this.deadLetters.queue }));
  }

  /**
   * Let another Phasegate function hand a rollback it cannot finish in time to this worker: sets
   * `PHASEGATE_ROLLBACK_WORKER` to this function's name and allows exactly `lambda:InvokeFunction` on it, in a policy
   * of its own.
   */
  public grantContinuation(other: PhasegateFunction): Policy {
    other.function.addEnvironment(ENV.rollbackWorker, this.function.function.functionName);
    const policy = new Policy(other, 'HandRollbackToWorker', {
      statements: [new PolicyStatement({ sid: 'ContinueRollback', actions: ['lambda:InvokeFunction'], resources: [this.function.function.functionArn] })],
    });
    other.role.attachInlinePolicy(policy);
    return policy;
  }
}

/** Features up to which the state machines are granted one ARN each. */
export const EXACT_STATE_MACHINE_GRANT_LIMIT = 30;

/** `arn:<partition>:states:<region>:<account>:execution:phasegate-<stage>-<feature>:*`: the executions of one state machine. */
export function executionArnPattern(stage: string, feature: string): string {
  return `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${stateMachineName(stage, feature)}:*`;
}
