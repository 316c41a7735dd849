import { LambdaClient } from '@aws-sdk/client-lambda';
import { invokeAsync } from './lambda-async-invoke';

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
    await invokeAsync(this.lambda, this.functionName, { feature }, `asking for the report of ${feature}`);
  }
}
