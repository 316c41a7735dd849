import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { TransientError } from '../core/errors';
import type { TaskTokens } from '../core/ports';
import { errorMessage, isTransient } from './aws-errors';

/** Hands task tokens back to Step Functions. */
export class SfnTaskTokens implements TaskTokens {
  constructor(private readonly sfn: SFNClient = new SFNClient({})) {}

  async succeed(token: string, output: Record<string, unknown>): Promise<void> {
    await this.call(() => this.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) })));
  }

  async fail(token: string, error: string, cause: string): Promise<void> {
    // Step Functions caps error at 256 and cause at 32768 characters.
    await this.call(() =>
      this.sfn.send(new SendTaskFailureCommand({ taskToken: token, error: error.slice(0, 256), cause: cause.slice(0, 32768) })),
    );
  }

  private async call(send: () => Promise<unknown>): Promise<void> {
    try {
      await send();
    } catch (err) {
      if (isTransient(err)) throw new TransientError(`Step Functions: ${errorMessage(err)}`, { cause: err });
      throw err;
    }
  }
}
