import { ExecutionDoesNotExist, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { TransientError } from '../core/errors';
import type { ExecutionStopper } from '../core/ports';
import { errorMessage, errorName, isTransient } from './aws-errors';

/** Stops rollout executions with Step Functions StopExecution. An execution that no longer exists is already stopped. */
export class SfnExecutionStopper implements ExecutionStopper {
  constructor(private readonly sfn: SFNClient = new SFNClient({})) {}

  async stop(executionId: string, error: string, cause: string): Promise<void> {
    try {
      // Step Functions caps error at 256 and cause at 32768 characters.
      await this.sfn.send(new StopExecutionCommand({ executionArn: executionId, error: error.slice(0, 256), cause: cause.slice(0, 32768) }));
    } catch (err) {
      if (err instanceof ExecutionDoesNotExist || errorName(err) === 'ExecutionDoesNotExist') return;
      if (isTransient(err)) throw new TransientError(`stopping ${executionId}: ${errorMessage(err)}`, { cause: err });
      throw err;
    }
  }
}
