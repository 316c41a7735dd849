import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { TransientError } from '../core/errors';
import { errorMessage, errorName, isTransient } from './aws-errors';

/** A parameter could not be read: missing, not allowed, or the wrong type. The message names the parameter, never its value. */
export class ParameterUnavailableError extends Error {
  constructor(
    readonly parameterName: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ParameterUnavailableError';
  }
}

/**
 * Reads SSM parameters once per process (a Lambda cold start) and keeps them: the Discord public key, and the
 * bot token (a SecureString, decrypted). A failed read is not kept, so the next request tries again. Values are
 * never logged and never part of an error message.
 */
export class SsmParameters {
  private readonly cache = new Map<string, Promise<string>>();

  constructor(private readonly ssm: SSMClient = new SSMClient({})) {}

  /** The parameter's value; `secure` asks SSM to decrypt a SecureString (and insists that it is one). */
  get(name: string, options: { secure?: boolean } = {}): Promise<string> {
    const key = `${options.secure ? 'secure' : 'plain'}:${name}`;
    let value = this.cache.get(key);
    if (!value) {
      value = this.read(name, options.secure === true);
      this.cache.set(key, value);
      value.catch(() => this.cache.delete(key));
    }
    return value;
  }

  private async read(name: string, secure: boolean): Promise<string> {
    try {
      const out = await this.ssm.send(new GetParameterCommand({ Name: name, WithDecryption: secure }));
      const parameter = out.Parameter;
      if (parameter?.Value === undefined) throw new ParameterUnavailableError(name, `SSM parameter ${name} has no value`);
      if (secure && parameter.Type !== 'SecureString') {
        throw new ParameterUnavailableError(name, `SSM parameter ${name} must be a SecureString (it holds a secret), but it is a ${parameter.Type}`);
      }
      return parameter.Value;
    } catch (err) {
      if (err instanceof ParameterUnavailableError) throw err;
      if (isTransient(err)) throw new TransientError(`reading SSM parameter ${name}: ${errorMessage(err)}`, { cause: err });
      throw new ParameterUnavailableError(name, `cannot read SSM parameter ${name}: ${errorName(err)}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
