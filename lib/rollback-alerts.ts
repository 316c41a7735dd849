import { Aws, CfnOutput, Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { LambdaSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/core/contract';
import { opsAlarmName, opsAlarmPrefix, type OpsAlarmSubject } from '../lambdas/core/rollback/rollback-alerts';
import type { DiscordEndpoint } from './discord-endpoint';
import { PhasegateFunction } from './phasegate-function';
import { throwIfProblems } from './props-problems';

/** The export name of a stage's alerts topic ARN: `phasegate-<stage>-rollback-alerts`. */
export function rollbackAlertsExportName(stage: string): string {
  return `phasegate-${stage}-rollback-alerts`;
}

/** Stack output holding the alerts topic's ARN (exported as {@link rollbackAlertsExportName}). */
export const ROLLBACK_ALERTS_OUTPUT = 'RollbackAlertsTopicArn';

/** Props of {@link RollbackAlerts}. */
export interface RollbackAlertsProps {
  /** Deployment stage: names the alarms (`ops-phasegate-<stage>-...`) and the export. */
  readonly stage: string;
  /** The state table; the alerts function does not touch it (PhasegateFunction only writes its name into the environment). */
  readonly table: ITable;
  /** The alarm-rollback function: alarmed on Errors. */
  readonly rollbackFunction: IFunction;
  /** Its on-failure queue: alarmed on visible messages. */
  readonly failureQueue: IQueue;
  /** The rollback rule's dead-letter queue: alarmed on visible messages. */
  readonly deadLetterQueue: IQueue;
  /**
   * Discord: with both, the `rollback-alerts` function is subscribed to the topic and posts every alarm
   * notification to these channels.
   * @default - none: the topic and the alarms exist, no function is created
   */
  readonly discord?: {
    /** Grants the function the bot token parameter and the API base URL (the stage's Discord endpoint). */
    readonly notifications: Pick<DiscordEndpoint, 'grantNotifications'>;
    /** The channels to post to (Discord ids): the stage's plans' channels. */
    readonly channelIds: readonly string[];
  };
  /**
   * Keep the function's log group when the stack is deleted (production).
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
 * A rollback is never silent: CloudWatch alarms on the alarm-rollback function's Errors (at least 1 in a minute)
 * and on each of its failure queues' visible messages (at least 1) notify the stage's alerts topic on ALARM and on
 * OK. The topic's ARN is exported (`phasegate-<stage>-rollback-alerts`) for a pager to subscribe; with Discord,
 * the `rollback-alerts` function posts every notification to the stage's channels.
 *
 * The alarms are named `ops-phasegate-<stage>-<subject>`, never `phasegate-<stage>-...`: that prefix is what the
 * stage's rollback rule matches, and an ops alarm must page people, not start a rollback.
 */
export class RollbackAlerts extends Construct {
  /** The alerts topic: subscribe a pager here. */
  public readonly topic: Topic;
  /** The ops alarms by subject. */
  public readonly alarms: Readonly<Record<OpsAlarmSubject, Alarm>>;
  /** The function that posts alerts to Discord; undefined without Discord. */
  public readonly function?: PhasegateFunction;

  constructor(scope: Construct, id: string, props: RollbackAlertsProps) {
    super(scope, id);
    const problems: string[] = [];
    if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
    if (props.discord) {
      if (props.discord.channelIds.length === 0) problems.push('discord.channelIds: expected at least one channel (without one, leave discord out)');
      props.discord.channelIds.forEach((c, i) => {
        if (!/^\d{17,20}$/.test(c)) problems.push(`discord.channelIds[${i}]: expected a Discord id (17-20 digits), got ${JSON.stringify(c)}`);
      });
    }
    throwIfProblems(`RollbackAlerts ${this.node.path}`, problems);

    this.topic = new Topic(this, 'Topic', {
      displayName: `Phasegate ${props.stage}: automatic rollback failures`,
      enforceSSL: true,
    });
    // CloudWatch publishes alarm notifications as its service principal; the topic policy that enforceSSL creates
    // replaces SNS's default policy, so the publish is allowed explicitly, for this stage's ops alarms only.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'OpsAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${opsAlarmPrefix(props.stage)}*` },
        },
      }),
    );

    const action = new SnsAction(this.topic);
    const alarm = (subject: OpsAlarmSubject, construct: string, description: string, metric: IMetric): Alarm => {
      const a = new Alarm(this, construct, {
        alarmName: opsAlarmName(props.stage, subject),
        alarmDescription: description,
        metric,
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        // No data is no failure: the function did not run, the queue is empty or idle.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      return a;
    };
    const minute = Duration.minutes(1);
    this.alarms = {
      'rollback-errors': alarm(
        'rollback-errors',
        'RollbackErrors',
        `Phasegate ${props.stage}: the alarm-rollback function failed (error or timeout); a rollback may be incomplete. ` +
          'Read its logs, run `phasegate status <feature>`, and `phasegate rollback <feature>` if a target is not safe.',
        props.rollbackFunction.metricErrors({ period: minute, statistic: 'Sum' }),
      ),
      'rollback-failures': alarm(
        'rollback-failures',
        'RollbackFailures',
        `Phasegate ${props.stage}: an automatic rollback gave up after Lambda's retries; its event is in the on-failure queue. ` +
          'Inspect the queue, run `phasegate status <feature>` and `phasegate rollback <feature>`.',
        props.failureQueue.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: 'Maximum' }),
      ),
      'rule-dead-letters': alarm(
        'rule-dead-letters',
        'RuleDeadLetters',
        `Phasegate ${props.stage}: EventBridge could not deliver a rollback alarm to the alarm-rollback function; that rollback never started. ` +
          'Inspect the dead-letter queue, run `phasegate status <feature>` and `phasegate rollback <feature>`.',
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: minute, statistic: 'Maximum' }),
      ),
    };

    new CfnOutput(this, 'TopicArn', {
      key: ROLLBACK_ALERTS_OUTPUT,
      value: this.topic.topicArn,
      exportName: rollbackAlertsExportName(props.stage),
      description: 'SNS topic notified when an automatic rollback fails or an event waits in its failure queues: subscribe a pager.',
    });

    if (props.discord) {
      this.function = new PhasegateFunction(this, 'Function', {
        name: 'rollback-alerts',
        stage: props.stage,
        table: props.table,
        tableAccess: 'none',
        timeout: Duration.seconds(30),
        production: props.production,
        logRetention: props.logRetention,
        environment: { [ENV.alertChannels]: JSON.stringify([...props.discord.channelIds]) },
      });
      props.discord.notifications.grantNotifications(this.function);
      this.topic.addSubscription(new LambdaSubscription(this.function.function));
    }
  }
}
