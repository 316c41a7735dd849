import { Aws, Duration, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression, ScheduleTargetInput, TimeWindow, type ISchedule, type IScheduleTarget, type ScheduleTargetConfig } from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { ENV, LAMBDA_API_CALL, RECONCILE_SCHEDULE_KIND } from '../lambdas/core/contract';
import { TargetSchema } from '../lambdas/core/plan/schema';
import type { DiscordEndpoint } from './discord-endpoint';
import { FailureQueue } from './failure-queue';
import { PhasegateFunction } from './phasegate-function';
import { grantTargetFlags } from './phasegate-functions';
import { throwIfProblems } from './props-problems';

/** One invocation: waits out a target's own update in progress, then repairs; the schedule checks every feature. */
const TIMEOUT = Duration.minutes(5);
/** EventBridge's delivery retries to the function (a throttled or refused Invoke) before it dead-letters the event. */
const RULE_RETRY = { retryAttempts: 4, maxEventAge: Duration.minutes(30) } as const;
/** Lambda's retries of a failed asynchronous invocation (rule or schedule) before the on-failure queue. */
const ASYNC_RETRY = { retryAttempts: 2, maxEventAge: Duration.hours(1) } as const;

/** Props of {@link DriftReconcile}. */
export interface DriftReconcileProps {
  /** Deployment stage. */
  readonly stage: string;
  /** The state table: rollout states, drift records and the audit trail. */
  readonly table: ITable;
  /** The stage's feature ids. */
  readonly features: readonly string[];
  /** Every target of the stage's plans: the only functions the reconcile may read and write. */
  readonly targets: readonly string[];
  /**
   * The roles of Phasegate's functions that write flags: CloudTrail events of their calls are left out by the rule's
   * pattern and again by the handler. The reconcile function's own role is added.
   */
  readonly ownRoles: readonly IRole[];
  /**
   * How often every feature in progress or rolled back is checked, for accounts without a trail that logs management
   * events (no CloudTrail event reaches the rule there).
   * @default - every 15 minutes
   */
  readonly every?: Duration;
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
   * Where repaired drift is posted in Discord (see {@link DiscordEndpoint.grantNotifications}).
   * @default - none: nothing is posted
   */
  readonly discord?: Pick<DiscordEndpoint, 'grantNotifications'>;
}

/** Invokes a function from an EventBridge Scheduler schedule with a role allowed exactly that. */
class InvokeFunction implements IScheduleTarget {
  constructor(
    private readonly fn: IFunction,
    private readonly role: IRole,
    private readonly input: ScheduleTargetInput,
  ) {}

  bind(_schedule: ISchedule): ScheduleTargetConfig {
    // A check late by more than the interval is superseded by the next one.
    return { arn: this.fn.functionArn, role: this.role, input: this.input, retryPolicy: { maximumEventAgeInSeconds: 900, maximumRetryAttempts: 2 } };
  }
}

/**
 * Drift self-healing: the `reconcile` function, invoked by an EventBridge rule on the Lambda API calls that CloudTrail
 * records (`AWS API Call via CloudTrail`, source `aws.lambda`, the calls that change a function's configuration, by
 * event name prefix), except those of Phasegate's own roles, and by an EventBridge Scheduler schedule every 15
 * minutes. It may read (`lambda:GetFunction`) and update the configuration of the plans' targets only, and read and
 * write the state table.
 */
export class DriftReconcile extends Construct {
  /** The reconcile function. */
  public readonly function: PhasegateFunction;
  /** The rule on CloudTrail's Lambda API call events. */
  public readonly rule: Rule;
  /** The scheduled check. */
  public readonly schedule: Schedule;
  /** The role EventBridge Scheduler invokes the function with. */
  public readonly schedulerRole: Role;
  /** Invocations (a CloudTrail event or the schedule's) that failed after Lambda's retries or expired. */
  public readonly failures: FailureQueue;
  /** CloudTrail events the rule could not deliver to the function after its retries. */
  public readonly deadLetters: FailureQueue;

  constructor(scope: Construct, id: string, props: DriftReconcileProps) {
    super(scope, id);
    const problems: string[] = [];
    if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
    if (props.features.length === 0) problems.push('features: expected at least one feature (no plans, nothing to reconcile)');
    props.targets.forEach((target, i) => {
      const parsed = TargetSchema.safeParse(target);
      if (!parsed.success) problems.push(`targets[${i}]: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
    });
    const every = props.every ?? Duration.minutes(15);
    if (every.toMinutes({ integral: false }) < 1) problems.push(`every: expected at least 1 minute, got ${every.toHumanString()}`);
    throwIfProblems(`DriftReconcile ${this.node.path}`, problems);

    const stack = Stack.of(this);
    this.function = new PhasegateFunction(this, 'Function', {
      name: 'reconcile',
      stage: props.stage,
      table: props.table,
      tableAccess: 'readWrite',
      timeout: TIMEOUT,
      production: props.production,
      logRetention: props.logRetention,
      environment: {
        [ENV.features]: JSON.stringify([...props.features]),
      },
    });
    const ownRoleArns = [...props.ownRoles.map((r) => r.roleArn), this.function.role.roleArn];
    this.function.function.addEnvironment(ENV.ownRoles, stack.toJsonString(ownRoleArns));
    props.discord?.grantNotifications(this.function);

    // The same grants as every flag writer: an alias target is repaired through a new version and the alias moved.
    grantTargetFlags(this.function, this.function.role, 'RepairDriftedFlags', props.targets, props.stage);

    this.rule = new Rule(this, 'LambdaApiCalls', {
      description: `Phasegate ${props.stage}: a Lambda function's configuration changed (CloudTrail) -> reconcile its flags`,
      eventPattern: {
        source: [LAMBDA_API_CALL.source],
        detailType: [LAMBDA_API_CALL.detailType],
        detail: {
          eventSource: [LAMBDA_API_CALL.eventSource],
          eventName: LAMBDA_API_CALL.eventNamePrefixes.map((prefix) => ({ prefix })),
          // Phasegate's own calls are not drift. A caller without a session issuer (an IAM user) is someone else too:
          // `anything-but` alone would not match an event that lacks the field.
          $or: [
            { userIdentity: { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': ownRoleArns }] } } } },
            { userIdentity: { sessionContext: { sessionIssuer: { arn: [{ exists: false }] } } } },
          ],
        },
      },
    });
    // Nothing dropped quietly: an event EventBridge cannot deliver is dead-lettered; an invocation that still fails
    // after Lambda's retries goes to the on-failure queue. Alarms on both (and on the function's errors) notify the
    // rollback alerts topic (see RollbackAlerts). A repair not made meanwhile is made by the next check.
    this.failures = new FailureQueue(this, 'Failures', {
      holds: "reconcile invocations (CloudTrail events, scheduled checks) that failed after Lambda's retries or expired (the event and the error)",
    });
    this.function.function.configureAsyncInvoke({ onFailure: new SqsDestination(this.failures.queue), ...ASYNC_RETRY });
    this.deadLetters = new FailureQueue(this, 'DeadLetters', {
      holds: 'Lambda API call events that EventBridge could not deliver to the reconcile function after its retries',
    });
    this.rule.addTarget(new LambdaFunction(this.function.function, { ...RULE_RETRY, deadLetterQueue: this.deadLetters.queue }));

    this.schedulerRole = new Role(this, 'SchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
      description: `Phasegate ${props.stage}: EventBridge Scheduler invokes the reconcile function`,
    });
    this.schedulerRole.addToPrincipalPolicy(
      new PolicyStatement({ sid: 'InvokeReconcile', actions: ['lambda:InvokeFunction'], resources: [this.function.function.functionArn] }),
    );
    this.schedule = new Schedule(this, 'Schedule', {
      description: `Phasegate ${props.stage}: check every feature in progress or rolled back for drift`,
      schedule: ScheduleExpression.rate(every),
      timeWindow: TimeWindow.off(),
      enabled: true,
      target: new InvokeFunction(this.function.function, this.schedulerRole, ScheduleTargetInput.fromObject({ kind: RECONCILE_SCHEDULE_KIND })),
    });
  }
}
