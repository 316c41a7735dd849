import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { TransientError } from '../core/errors';
import { errorMessage, isTransient } from './aws-errors';

/**
 * `/rollout report` asks the stage's daily-report function for a feature's report now: an asynchronous invocation
 * (InvocationType Event) with the event its schedule sends, `{ "feature": "<id>" }`. The report reads metrics and
 * renders a picture in that function, which posts it to the feature's channel.
 */
export class LambdaReportRequests {
  constructor(
    /** The daily-report function's name. */
    private readonly functionName: string,
    private readonly lambda: LambdaClient = new LambdaClient({}),
  ) {}

  async request(feature: string): Promise<void> {
    try {
      const out = await this.lambda.send(
        new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ feature })) }),
      );
      if (out.StatusCode !== 202) throw new Error(`Lambda answered ${out.StatusCode} to an asynchronous invocation (expected 202)`);
    } catch (err) {
      if (isTransient(err)) throw new TransientError(`asking for the report of ${feature}: ${errorMessage(err)}`, { cause: err });
      throw new Error(`asking for the report of ${feature}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
