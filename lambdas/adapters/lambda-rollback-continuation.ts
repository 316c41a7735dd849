import { LambdaClient } from '@aws-sdk/client-lambda';
import type { RollbackContinuation, RollbackContinuationRequest } from '../core/rollback/rollback';
import { invokeAsync } from './lambda-async-invoke';

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
    await invokeAsync(this.lambda, this.functionName, request, `handing the rest of ${request.feature}'s rollback to ${this.functionName} (follow-up ${request.attempt})`);
  }
}
