import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { TransientError } from '../core/errors';
import { errorMessage, isTransient } from './aws-errors';

/**
 * Hand `payload` to an asynchronous invocation of `functionName` (InvocationType Event): Lambda queues the event and
 * answers 202 at once, retries it on errors, and sends what still fails to the function's on-failure destination.
 * Throws a {@link TransientError} for throttling and server errors (worth retrying); any other error is rethrown
 * with `what` in front of its message, or as it is when `wrapOthers` is false.
 */
export async function invokeAsync(lambda: LambdaClient, functionName: string, payload: unknown, what: string, wrapOthers = true): Promise<void> {
  try {
    const out = await lambda.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(payload)) }));
    if (out.StatusCode !== 202) throw new Error(`Lambda answered ${out.StatusCode} to an asynchronous invocation (expected 202)`);
  } catch (err) {
    if (isTransient(err)) throw new TransientError(`${what}: ${errorMessage(err)}`, { cause: err });
    if (!wrapOthers) throw err;
    throw new Error(`${what}: ${errorMessage(err)}`, { cause: err });
  }
}
