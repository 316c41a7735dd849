import { randomUUID } from 'node:crypto';
import { GetParameterCommand, ParameterNotFound, SSMClient, type GetParameterCommandInput, type GetParameterCommandOutput } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { FAKE_ACCOUNT_ID, FAKE_REGION } from './lambda-control-plane';

/** One GetParameter call the fake received. */
export interface SsmCallRecord {
  readonly name: string;
  readonly withDecryption: boolean;
  readonly at: Date;
  /** `'ok'`, or the name of the error the call got. */
  readonly outcome: string;
}

interface FakeParameter {
  readonly value: string;
  readonly type: 'String' | 'SecureString';
  readonly version: number;
}

function metadata(httpStatusCode: number) {
  return { httpStatusCode, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 };
}

/**
 * A stateful fake of SSM Parameter Store's GetParameter, installed at the SDK boundary with aws-sdk-client-mock.
 * Behaves like the service where Phasegate depends on it: an unknown name gets `ParameterNotFound`; a
 * SecureString read without `WithDecryption` returns ciphertext, not the value.
 */
export class FakeSsm {
  private readonly parameters = new Map<string, FakeParameter>();
  private readonly callLog: SsmCallRecord[] = [];
  private stub?: { restore(): void };

  /** Every GetParameter call so far, oldest first. */
  get calls(): readonly SsmCallRecord[] {
    return this.callLog;
  }

  /** Create or overwrite a parameter (a new version, as PutParameter with Overwrite). */
  put(name: string, value: string, options: { secure?: boolean } = {}): this {
    const previous = this.parameters.get(name);
    this.parameters.set(name, { value, type: options.secure ? 'SecureString' : 'String', version: (previous?.version ?? 0) + 1 });
    return this;
  }

  /** Routes every `SSMClient` to this fake; other commands fail loudly. */
  install(): this {
    if (this.stub) throw new Error('fake SSM: already installed');
    const stub = mockClient(SSMClient);
    stub.onAnyCommand().callsFake(async (input: unknown) => {
      throw new Error(`fake SSM: this command is not faked (input ${JSON.stringify(input)})`);
    });
    stub.on(GetParameterCommand).callsFake(async (input: GetParameterCommandInput) => this.getParameter(input));
    this.stub = stub;
    return this;
  }

  /** Gives `SSMClient` its real `send` back. */
  restore(): void {
    this.stub?.restore();
    this.stub = undefined;
  }

  private getParameter(input: GetParameterCommandInput): GetParameterCommandOutput {
    const name = input.Name ?? '';
    const withDecryption = input.WithDecryption === true;
    const parameter = this.parameters.get(name);
    if (!parameter) {
      this.callLog.push({ name, withDecryption, at: new Date(), outcome: 'ParameterNotFound' });
      throw new ParameterNotFound({ message: `Parameter ${name} not found.`, $metadata: metadata(400) });
    }
    this.callLog.push({ name, withDecryption, at: new Date(), outcome: 'ok' });
    const encrypted = parameter.type === 'SecureString' && !withDecryption;
    return {
      Parameter: {
        Name: name,
        Type: parameter.type,
        Value: encrypted ? Buffer.from(`kms-ciphertext:${randomUUID()}`).toString('base64') : parameter.value,
        Version: parameter.version,
        ARN: `arn:aws:ssm:${FAKE_REGION}:${FAKE_ACCOUNT_ID}:parameter${name.startsWith('/') ? '' : '/'}${name}`,
        DataType: 'text',
      },
      $metadata: metadata(200),
    };
  }
}
