import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { RefusedError, TransientError } from '../core/errors';
import type { RolloutStarter } from '../core/ports';
import type { Actor } from '../core/rollout/rollout-state';
import { errorMessage, isTransient } from './aws-errors';
import { ownValue } from '../core/own';

/** Step Functions' rules for an execution name. */
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * Starts rollouts with StartExecution on the feature's state machine, passing the person as the execution's
 * `actor`. With an execution name, starting twice (a retried job) returns the same execution instead of a second.
 */
export class SfnRolloutStarter implements RolloutStarter {
  constructor(
    private readonly stateMachines: Readonly<Record<string, string>>,
    private readonly options: { readonly executionName?: string; readonly sfn?: SFNClient } = {},
  ) {
    if (options.executionName !== undefined && !EXECUTION_NAME.test(options.executionName)) {
      throw new RangeError(`invalid execution name ${JSON.stringify(options.executionName)}`);
    }
  }

  async start(feature: string, input: { actor: Actor; startAt?: number }): Promise<{ executionId: string }> {
    const stateMachineArn = ownValue(this.stateMachines, feature);
    if (!stateMachineArn) throw new RefusedError('NOT_FOUND', `no state machine for feature "${feature}" on this stage`);
    try {
      const out = await (this.options.sfn ?? defaultClient()).send(
        new StartExecutionCommand({
          stateMachineArn,
          input: JSON.stringify({ actor: input.actor, ...(input.startAt !== undefined ? { startAt: input.startAt } : {}) }),
          ...(this.options.executionName ? { name: this.options.executionName } : {}),
        }),
      );
      return { executionId: out.executionArn! };
    } catch (err) {
      if (isTransient(err)) throw new TransientError(`starting ${feature}: ${errorMessage(err)}`, { cause: err });
      throw err;
    }
  }
}

let shared: SFNClient | undefined;
/** One client per process, shared by the starters made per request. */
function defaultClient(): SFNClient {
  shared ??= new SFNClient({});
  return shared;
}
