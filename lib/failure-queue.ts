import { Duration, Validations } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { throwIfProblems } from './props-problems';

/** SQS's longest message retention (14 days): a failure sits there until someone has looked at it. */
const RETENTION = Duration.days(14);

/** Props of {@link FailureQueue}. */
export interface FailureQueueProps {
  /**
   * What lands in the queue, in words: it goes into the cdk-nag acknowledgement that this queue, itself the
   * last stop, has no dead-letter queue of its own.
   */
  readonly holds: string;
}

/**
 * A queue that holds what could not be processed or delivered (a dead-letter queue or an on-failure destination),
 * so that nothing is dropped quietly: SQS-managed encryption, TLS required, messages kept 14 days. An alarm on its
 * visible messages is what tells people (see {@link RollbackAlerts}).
 */
export class FailureQueue extends Construct {
  /** The queue. */
  public readonly queue: Queue;

  constructor(scope: Construct, id: string, props: FailureQueueProps) {
    super(scope, id);
    const problems: string[] = [];
    if (typeof props.holds !== 'string' || props.holds.trim() === '') problems.push('holds: expected a description of what the queue holds');
    throwIfProblems(`FailureQueue ${this.node.path}`, problems);

    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: RETENTION,
    });
    Validations.of(this.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        `This queue is itself a dead-letter queue: it holds ${props.holds}. A dead-letter queue needs no dead-letter queue ` +
        'of its own; an alarm on its visible messages notifies the rollback alerts topic.',
    });
  }
}
