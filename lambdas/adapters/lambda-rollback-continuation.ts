import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { TransientError } from '../core/errors';
import type { RollbackContinuation, RollbackContinuationRequest } from '../core/rollback/rollback';
import { errorMessage, isTransient } from './aws-errors';

/**
 * Hands a rollback's remaining work to an asynchronous invocation of the stage's rollback worker (the alarm-rollback
 * function, which may be this very function): Lambda queues the event (InvocationType Event, 202) and retries it on
 * errors, and what still fails lands in the function's on-failure queue, whose depth alarm reaches people.
 */
export class LambdaRollbackContinuation implements RollbackContinuation {
  constructor(
    /** The rollback worker's function name. */
    private readonly functionName: string,
    private readonly lambda: LambdaClient = new LambdaClient({}),
  ) {}

  async continueRollback(request: RollbackContinuationRequest): Promise<void> {
    try {
      const out = await this.lambda.send(
        new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(request)) }),
      );
      if (out.StatusCode !== 202) throw new Error(`Lambda answered ${out.StatusCode} to an asynchronous invocation (expected 202)`);
    } catch (err) {
      const what = `handing the rest of ${request.feature}'s rollback to ${this.functionName} (follow-up ${request.attempt})`;
      if (isTransient(err)) throw new TransientError(`${what}: ${errorMessage(err)}`, { cause: err });
      throw new Error(`${what}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
