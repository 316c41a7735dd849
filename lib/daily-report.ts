import { Aws, Duration, TimeZone, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type IRole, Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Schedule,
  ScheduleExpression,
  ScheduleTargetInput,
  TimeWindow,
  type ISchedule,
  type IScheduleTarget,
  type ScheduleTargetConfig,
} from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/core/contract';
import { ReportScheduleSchema, type Plan, type ReportSchedule } from '../lambdas/core/plan/schema';
import { pascalCase } from './naming';
import { PhasegateFunction } from './phasegate-function';
import { throwIfProblems } from './props-problems';

/** Props of {@link DailyReport}. */
export interface DailyReportProps {
  /** Deployment stage. */
  readonly stage: string;
  /** The state table: read for the rollout state and today's LLM budgets. */
  readonly table: ITable;
  /** The stage's resolved plans; each with a `report` setting gets a schedule, the others none. */
  readonly plans: readonly Plan[];
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

/** `cron(30 9 * * ? *)` for `09:30`: every day at that time of the schedule's time zone. */
export function dailyCron(time: string): string {
  const [hours, minutes] = time.split(':').map(Number);
  return `cron(${minutes} ${hours} * * ? *)`;
}

/**
 * Invokes a function from a schedule with a role that may already invoke it. aws-scheduler-targets' `LambdaInvoke`
 * would do the same, but its `grantInvoke` adds every version and alias of the function (`<arn>:*`) to the role;
 * the schedules invoke the unqualified function only, so the role keeps its one narrow statement.
 */
class InvokeFunction implements IScheduleTarget {
  constructor(
    private readonly fn: IFunction,
    private readonly role: IRole,
    private readonly input: ScheduleTargetInput,
  ) {}

  bind(_schedule: ISchedule): ScheduleTargetConfig {
    return {
      arn: this.fn.functionArn,
      role: this.role,
      input: this.input,
      // A report late by more than an hour is stale; the handler never fails, so a retry means Lambda did.
      retryPolicy: { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 2 },
    };
  }
}

/**
 * The daily phase report: the `daily-report` function and, per feature whose plan has a `report` setting, one
 * EventBridge Scheduler schedule at the plan's time in the plan's time zone invoking it with `{ "feature" }`. The
 * function reads the state table (item reads only) and metric statistics; the stack grants it the Discord bot
 * token like the notifying steps. The schedules' role may invoke this function and nothing else.
 */
export class DailyReport extends Construct {
  /** The daily-report function. */
  public readonly function: PhasegateFunction;
  /** The role EventBridge Scheduler assumes to invoke the function. */
  public readonly schedulerRole: Role;
  /** One schedule per feature id with a report. */
  public readonly schedules: Readonly<Record<string, Schedule>>;

  constructor(scope: Construct, id: string, props: DailyReportProps) {
    super(scope, id);
    const problems: string[] = [];
    if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
    const scheduled = props.plans.filter((p) => p.report !== undefined);
    if (scheduled.length === 0) problems.push('plans: expected at least one plan with a "report" setting (nothing to schedule)');
    props.plans.forEach((plan, i) => {
      if (plan.report === undefined) return;
      const parsed = ReportScheduleSchema.safeParse(plan.report);
      if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => `plans[${i}].report.${issue.path.join('.')}: ${issue.message}`));
    });
    throwIfProblems(`DailyReport ${this.node.path}`, problems);

    this.function = new PhasegateFunction(this, 'Function', {
      name: 'daily-report',
      stage: props.stage,
      table: props.table,
      tableAccess: 'read',
      timeout: Duration.minutes(1),
      production: props.production,
      logRetention: props.logRetention,
    });
    const metricReads = new Policy(this, 'MetricReads', {
      statements: [new PolicyStatement({ sid: 'ReadReportMetrics', actions: ['cloudwatch:GetMetricData', 'cloudwatch:GetMetricWidgetImage'], resources: ['*'] })],
    });
    this.function.role.attachInlinePolicy(metricReads);
    Validations.of(metricReads).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:GetMetricData and cloudwatch:GetMetricWidgetImage support no resource-level permissions, so reading ' +
        'the current phase\'s gate metrics and drawing the rollout\'s picture for the daily report need Resource "*"; both are read-only.',
    });

    this.schedulerRole = new Role(this, 'SchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
      description: `Phasegate ${props.stage}: EventBridge Scheduler invokes the daily-report function`,
    });
    // The unqualified ARN only: no `:*`, so no version or alias of it, and no other function.
    this.schedulerRole.addToPrincipalPolicy(
      new PolicyStatement({ sid: 'InvokeDailyReport', actions: ['lambda:InvokeFunction'], resources: [this.function.function.functionArn] }),
    );

    const schedules: Record<string, Schedule> = {};
    for (const plan of scheduled) {
      const report: ReportSchedule = plan.report!;
      schedules[plan.feature] = new Schedule(this, `Schedule${pascalCase(plan.feature)}`, {
        description: `Phasegate ${props.stage}: daily phase report of ${plan.feature} at ${report.time} ${report.timeZone}`,
        schedule: ScheduleExpression.expression(dailyCron(report.time), TimeZone.of(report.timeZone)),
        timeWindow: TimeWindow.off(),
        enabled: true,
        target: new InvokeFunction(this.function.function, this.schedulerRole, ScheduleTargetInput.fromObject({ feature: plan.feature })),
      });
    }
    this.schedules = schedules;
  }

  /**
   * Let another Phasegate function (the Discord endpoint) ask for a report now: sets `PHASEGATE_DAILY_REPORT_FUNCTION`
   * to this function's name and allows exactly `lambda:InvokeFunction` on it, in a policy of its own (grantInvoke
   * would add every version and alias, `:*`).
   */
  public grantReportRequests(other: PhasegateFunction): Policy {
    other.function.addEnvironment(ENV.dailyReportFunction, this.function.function.functionName);
    const policy = new Policy(other, 'AskForReports', {
      statements: [new PolicyStatement({ sid: 'AskForReports', actions: ['lambda:InvokeFunction'], resources: [this.function.function.functionArn] })],
    });
    other.role.attachInlinePolicy(policy);
    return policy;
  }
}
