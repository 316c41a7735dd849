import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { JOB_EVENT_KEY, type DeferredJobs, type DiscordJob, type DiscordJobEvent } from '../core/discord/ports';
import { TransientError } from '../core/errors';
import { errorMessage, isTransient } from './aws-errors';

/**
 * Hands a deferred job to an asynchronous invocation of this same function (Lambda Invoke with InvocationType
 * Event): Lambda queues the event and answers 202 at once, so the interaction is answered within Discord's
 * 3 seconds while the job runs to completion in its own invocation.
 */
export class LambdaSelfInvoker implements DeferredJobs {
  constructor(
    /** This function's name (`AWS_LAMBDA_FUNCTION_NAME`). */
    private readonly functionName: string,
    private readonly lambda: LambdaClient = new LambdaClient({}),
  ) {}

  async enqueue(job: DiscordJob): Promise<void> {
    const event: DiscordJobEvent = { [JOB_EVENT_KEY]: job };
    try {
      const out = await this.lambda.send(
        new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(event)) }),
      );
      if (out.StatusCode !== 202) throw new Error(`Lambda answered ${out.StatusCode} to an asynchronous invocation (expected 202)`);
    } catch (err) {
      if (isTransient(err)) throw new TransientError(`handing the ${job.kind} of ${job.feature} over: ${errorMessage(err)}`, { cause: err });
      throw err;
    }
  }
}
