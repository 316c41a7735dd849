import { LambdaClient } from '@aws-sdk/client-lambda';
import { JOB_EVENT_KEY, type DeferredJobs, type DiscordJob, type DiscordJobEvent } from '../core/discord/ports';
import { invokeAsync } from './lambda-async-invoke';

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
    await invokeAsync(this.lambda, this.functionName, event, `handing the ${job.kind} of ${job.feature} over`, false);
  }
}
