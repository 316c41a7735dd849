import { Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { stageAlarmPrefix } from '../lambdas/core/alarm-names';
import { ALARM_STATE_CHANGE, ENV } from '../lambdas/core/contract';
import { TargetSchema } from '../lambdas/core/plan/schema';
import { stateMachineName } from './naming';
import { PhasegateFunction } from './phasegate-function';
import { targetFunctionArn } from './phasegate-functions';
import { throwIfProblems } from './props-problems';

/** How long the function may run: every target written and seen Successful, with room to report. */
const TIMEOUT = Duration.minutes(5);
/** Seconds between the flag write's wait and the Lambda timeout, so the handler can still record ROLLBACK_FAILED. */
const FLAG_WRITE_MARGIN_SECONDS = 60;

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
}

/**
 * Automatic rollback: an EventBridge rule on `CloudWatch Alarm State Change` to ALARM for the stage's Phasegate
 * alarms (name prefix `phasegate-<stage>-`) invoking the `alarm-rollback` function, which rolls the alarm's
 * feature back (or only its LLM sub-feature). The function may update the configuration of the plans' targets
 * only, fail the rollout state machines' task tokens and stop their executions, and read and write the state table.
 */
export class AlarmRollback extends Construct {
  /** The alarm-rollback function. */
  public readonly function: PhasegateFunction;
  /** The EventBridge rule that invokes it. */
  public readonly rule: Rule;

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

    const stack = Stack.of(this);
    this.function = new PhasegateFunction(this, 'Function', {
      name: 'alarm-rollback',
      stage: props.stage,
      table: props.table,
      tableAccess: 'readWrite',
      timeout: TIMEOUT,
      production: props.production,
      logRetention: props.logRetention,
      environment: {
        [ENV.stateMachines]: stack.toJsonString(Object.fromEntries(Object.entries(props.stateMachines).map(([f, sm]) => [f, sm.stateMachineArn]))),
        [ENV.flagWriteTimeoutSeconds]: String(TIMEOUT.toSeconds() - FLAG_WRITE_MARGIN_SECONDS),
      },
    });

    const targetArns = [...new Set(props.targets)].sort().map(targetFunctionArn);
    if (targetArns.length > 0) {
      this.function.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'WriteSafeFlags',
          actions: ['lambda:GetFunctionConfiguration', 'lambda:UpdateFunctionConfiguration'],
          resources: targetArns,
        }),
      );
    }
    const features = Object.keys(props.stateMachines).sort();
    const executions = new Policy(this, 'EndExecutions', {
      statements: [
        new PolicyStatement({
          sid: 'FailApprovalTokens',
          actions: ['states:SendTaskFailure'],
          resources: features.map((f) => props.stateMachines[f]!.stateMachineArn),
        }),
        new PolicyStatement({
          sid: 'StopRolloutExecutions',
          actions: ['states:StopExecution'],
          resources: features.map((f) => executionArnPattern(props.stage, f)),
        }),
      ],
    });
    this.function.role.attachInlinePolicy(executions);
    for (const f of features) {
      Validations.of(executions).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${stateMachineName(props.stage, f)}:*]`,
        reason:
          'states:StopExecution applies to executions, whose ARNs end in a name Step Functions generates; the wildcard covers ' +
          `the executions of one Phasegate state machine (${stateMachineName(props.stage, f)}) and nothing else.`,
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
    // At least once: EventBridge retries delivery; the handler makes every repeat a no-op.
    this.rule.addTarget(new LambdaFunction(this.function.function, { retryAttempts: 8, maxEventAge: Duration.hours(1) }));
  }
}

/** `arn:<partition>:states:<region>:<account>:execution:phasegate-<stage>-<feature>:*`: the executions of one state machine. */
export function executionArnPattern(stage: string, feature: string): string {
  return `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${stateMachineName(stage, feature)}:*`;
}
