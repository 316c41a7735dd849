import { randomUUID } from 'node:crypto';
import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvalidParameterValueException,
  LambdaClient,
  LambdaServiceException,
  ResourceConflictException,
  ResourceNotFoundException,
  TooManyRequestsException,
  UpdateFunctionConfigurationCommand,
  type FunctionConfiguration,
  type GetFunctionCommandInput,
  type GetFunctionCommandOutput,
  type GetFunctionConfigurationCommandInput,
  type GetFunctionConfigurationCommandOutput,
  type LastUpdateStatusReasonCode,
  type UpdateFunctionConfigurationCommandInput,
  type UpdateFunctionConfigurationCommandOutput,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { LAMBDA_ENV_LIMIT_BYTES, LAMBDA_RESERVED_ENV_KEYS } from '../../lambdas/core/contract';

/** Region of every fake function's ARN. */
export const FAKE_REGION = 'us-east-1';
/** Account of every fake function's ARN. */
export const FAKE_ACCOUNT_ID = '123456789012';

/** The ARN Lambda gives a function called `name` in the fake's region and account. */
export function fakeFunctionArn(name: string): string {
  return `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT_ID}:function:${name}`;
}

/** Simulated network latency added to every call, with real timers. */
export interface LatencyOptions {
  /** Fixed delay before the fake answers. @default 0 */
  readonly latencyMs?: number;
  /** Extra uniformly random delay between 0 and this many milliseconds. @default 0 */
  readonly jitterMs?: number;
}

/** Options of {@link FakeLambdaControlPlane}. */
export interface FakeLambdaOptions {
  /**
   * How many reads (GetFunctionConfiguration or GetFunction) still see `LastUpdateStatus: 'InProgress'` after an
   * update; the read after that sees `Successful`. 0 means the first read already sees `Successful`.
   * @default 1
   */
  readonly readsWhileInProgress?: number;
  /** Latency added to every call. @default no latency */
  readonly latency?: LatencyOptions;
}

/** The commands the fake serves. */
export type LambdaCommandName = 'GetFunctionConfiguration' | 'GetFunction' | 'UpdateFunctionConfiguration';

/** One call the fake received. */
export interface LambdaCallRecord {
  readonly command: LambdaCommandName;
  /** The `FunctionName` as the caller sent it (a name or an ARN). */
  readonly functionName: string;
  readonly at: Date;
  /** `'ok'`, or the `name` of the error the call got. */
  readonly outcome: string;
}

/** Why a function's environment changed. */
export type EnvChangeCause = 'created' | 'update' | 'concurrent-writer';

/** One version of a function's environment. */
export interface EnvHistoryEntry {
  readonly at: Date;
  readonly revisionId: string;
  readonly cause: EnvChangeCause;
  readonly variables: Readonly<Record<string, string>>;
}

interface FakeFunction {
  readonly name: string;
  readonly arn: string;
  variables: Record<string, string>;
  revisionId: string;
  lastModified: Date;
  lastUpdateStatus: 'Successful' | 'InProgress' | 'Failed';
  lastUpdateStatusReason?: string;
  lastUpdateStatusReasonCode?: LastUpdateStatusReasonCode;
  readsLeftInProgress: number;
  throttledCallsLeft: number;
  permanentUpdateError?: Error;
  pendingConcurrentWrite?: Record<string, string>;
  pendingFailedUpdate?: { reasonCode: LastUpdateStatusReasonCode; reason: string };
  readonly history: EnvHistoryEntry[];
}

const ENV_KEY_PATTERN = /^[a-zA-Z]([a-zA-Z0-9_])+$/;
const ARN_PATTERN = /^arn:aws:lambda:([^:]+):(\d{12}):function:([^:]+)(?::(.+))?$/;
const PARTIAL_ARN_PATTERN = /^(\d{12}):function:([^:]+)(?::(.+))?$/;

function metadata(httpStatusCode: number) {
  return { httpStatusCode, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 };
}

function envBytes(variables: Readonly<Record<string, string>>): number {
  let bytes = 0;
  for (const [key, value] of Object.entries(variables)) bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  return bytes;
}

/**
 * A stateful fake of the Lambda configuration API (GetFunctionConfiguration, GetFunction,
 * UpdateFunctionConfiguration), installed at the SDK boundary with aws-sdk-client-mock so production code runs
 * unchanged against it.
 *
 * Behaves like the service where Phasegate depends on it: functions are found by name, full ARN or partial ARN;
 * an update replaces the whole `Environment.Variables`, gets a new `RevisionId` and leaves
 * `LastUpdateStatus: 'InProgress'` for {@link FakeLambdaOptions.readsWhileInProgress} reads; a stale `RevisionId`
 * or an update while one is in progress gets `ResourceConflictException`; an environment over 4 KB or with
 * reserved keys gets `InvalidParameterValueException`. Errors are the SDK's own exception classes.
 *
 * Calls bypass the SDK middleware, so the SDK's automatic retries of throttling errors do not happen here: a
 * throttled call fails on its first attempt.
 */
export class FakeLambdaControlPlane {
  private readonly functions = new Map<string, FakeFunction>();
  private readonly callLog: LambdaCallRecord[] = [];
  private readonly readsWhileInProgress: number;
  private latency: LatencyOptions;
  private stub?: { restore(): void };

  /** Creates an empty fake; add functions with {@link FakeLambdaControlPlane.addFunction}. */
  constructor(options: FakeLambdaOptions = {}) {
    this.readsWhileInProgress = options.readsWhileInProgress ?? 1;
    this.latency = options.latency ?? {};
  }

  /** Every call received so far, oldest first. */
  get calls(): readonly LambdaCallRecord[] {
    return this.callLog;
  }

  /** Creates a function with `LastUpdateStatus: 'Successful'` and returns its configuration. */
  addFunction(name: string, variables: Readonly<Record<string, string>> = {}): FunctionConfiguration {
    if (this.functions.has(name)) throw new Error(`fake Lambda: function ${name} already exists`);
    const fn: FakeFunction = {
      name,
      arn: fakeFunctionArn(name),
      variables: { ...variables },
      revisionId: randomUUID(),
      lastModified: new Date(),
      lastUpdateStatus: 'Successful',
      readsLeftInProgress: 0,
      throttledCallsLeft: 0,
      history: [],
    };
    fn.history.push({ at: fn.lastModified, revisionId: fn.revisionId, cause: 'created', variables: { ...variables } });
    this.functions.set(name, fn);
    return this.configuration(fn);
  }

  /** A copy of the function's current environment variables. */
  environmentOf(name: string): Record<string, string> {
    return { ...this.existing(name).variables };
  }

  /** The function's current configuration, as GetFunctionConfiguration would return it, without counting as a read. */
  configurationOf(name: string): FunctionConfiguration {
    return this.configuration(this.existing(name));
  }

  /** Every version of the function's environment, oldest first. */
  historyOf(name: string): readonly EnvHistoryEntry[] {
    return this.existing(name).history;
  }

  /** The next `times` calls naming this function fail with `TooManyRequestsException`. */
  throttle(name: string, times: number): void {
    this.existing(name).throttledCallsLeft += times;
  }

  /**
   * Every UpdateFunctionConfiguration on this function fails with `error`, as when the caller lacks permission.
   * @param error the error to throw. @default an `AccessDeniedException` like IAM's
   */
  failUpdates(name: string, error?: Error): void {
    const fn = this.existing(name);
    fn.permanentUpdateError =
      error ??
      new LambdaServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: metadata(403),
        message: `User: arn:aws:sts::${FAKE_ACCOUNT_ID}:assumed-role/phasegate-local/apply-phase is not authorized to perform: lambda:UpdateFunctionConfiguration on resource: ${fn.arn} because no identity-based policy allows the lambda:UpdateFunctionConfiguration action`,
      });
  }

  /**
   * Simulates a concurrent writer: just before the next UpdateFunctionConfiguration on this function is applied,
   * somebody else writes `change` (by default one unrelated variable) and the RevisionId changes. Their update has
   * already settled, so the next update conflicts only if it carries the RevisionId it read before.
   */
  conflictOnce(name: string, change: Readonly<Record<string, string>> = { CONCURRENT_WRITER_MARK: randomUUID() }): void {
    this.existing(name).pendingConcurrentWrite = { ...change };
  }

  /** The next update of this function ends with `LastUpdateStatus: 'Failed'` instead of `Successful`. */
  failNextUpdateStatus(
    name: string,
    reasonCode: LastUpdateStatusReasonCode = 'InternalError',
    reason = 'An internal error occurred while updating the function configuration.',
  ): void {
    this.existing(name).pendingFailedUpdate = { reasonCode, reason };
  }

  /** Ends an in-progress update now, as if enough time had passed. */
  settle(name: string): void {
    this.finishUpdate(this.existing(name));
  }

  /** Changes the latency added to every later call. */
  setLatency(latency: LatencyOptions): void {
    this.latency = latency;
  }

  /** Routes every `LambdaClient` (existing and future instances) to this fake; other commands fail loudly. */
  install(): this {
    if (this.stub) throw new Error('fake Lambda: already installed');
    const stub = mockClient(LambdaClient);
    // Registered first so the command-specific routes below take precedence over it.
    stub.onAnyCommand().callsFake(async (input: unknown) => {
      throw new Error(`fake Lambda: this command is not faked (input ${JSON.stringify(input)})`);
    });
    stub.on(GetFunctionConfigurationCommand).callsFake((input) => this.serve('GetFunctionConfiguration', input));
    stub.on(GetFunctionCommand).callsFake((input) => this.serve('GetFunction', input));
    stub.on(UpdateFunctionConfigurationCommand).callsFake((input) => this.serve('UpdateFunctionConfiguration', input));
    this.stub = stub;
    return this;
  }

  /** Gives `LambdaClient` its real `send` back. */
  restore(): void {
    this.stub?.restore();
    this.stub = undefined;
  }

  private async serve(command: LambdaCommandName, input: { FunctionName?: string }): Promise<unknown> {
    await this.delay();
    const functionName = input.FunctionName ?? '';
    try {
      const output = this.handle(command, input);
      this.callLog.push({ command, functionName, at: new Date(), outcome: 'ok' });
      return output;
    } catch (error) {
      this.callLog.push({ command, functionName, at: new Date(), outcome: (error as Error).name });
      throw error;
    }
  }

  private handle(command: LambdaCommandName, input: object): unknown {
    switch (command) {
      case 'GetFunctionConfiguration':
        return this.getFunctionConfiguration(input as GetFunctionConfigurationCommandInput);
      case 'GetFunction':
        return this.getFunction(input as GetFunctionCommandInput);
      case 'UpdateFunctionConfiguration':
        return this.updateFunctionConfiguration(input as UpdateFunctionConfigurationCommandInput);
    }
  }

  private getFunctionConfiguration(input: GetFunctionConfigurationCommandInput): GetFunctionConfigurationCommandOutput {
    const fn = this.find(input.FunctionName, input.Qualifier);
    this.consumeThrottle(fn);
    return { ...this.read(fn), $metadata: metadata(200) };
  }

  private getFunction(input: GetFunctionCommandInput): GetFunctionCommandOutput {
    const fn = this.find(input.FunctionName, input.Qualifier);
    this.consumeThrottle(fn);
    return {
      Configuration: this.read(fn),
      Code: { RepositoryType: 'S3', Location: `https://awslambda-${FAKE_REGION}-tasks.s3.${FAKE_REGION}.amazonaws.com/snapshots/${FAKE_ACCOUNT_ID}/${fn.name}` },
      Tags: {},
      $metadata: metadata(200),
    };
  }

  private updateFunctionConfiguration(
    input: UpdateFunctionConfigurationCommandInput,
  ): UpdateFunctionConfigurationCommandOutput {
    const fn = this.find(input.FunctionName);
    this.consumeThrottle(fn);
    if (fn.permanentUpdateError) throw fn.permanentUpdateError;
    if (fn.pendingConcurrentWrite) {
      const change = fn.pendingConcurrentWrite;
      fn.pendingConcurrentWrite = undefined;
      this.commit(fn, { ...fn.variables, ...change }, 'concurrent-writer');
    }
    if (fn.lastUpdateStatus === 'InProgress') {
      throw new ResourceConflictException({
        message: `The operation cannot be performed at this time. An update is in progress for resource: ${fn.arn}`,
        Type: 'User',
        $metadata: metadata(409),
      });
    }
    if (input.RevisionId !== undefined && input.RevisionId !== fn.revisionId) {
      throw new ResourceConflictException({
        message:
          'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
        Type: 'User',
        $metadata: metadata(409),
      });
    }
    const variables = input.Environment ? this.validEnvironment(input.Environment.Variables ?? {}) : fn.variables;
    this.commit(fn, variables, 'update');
    fn.lastUpdateStatus = 'InProgress';
    fn.lastUpdateStatusReason = undefined;
    fn.lastUpdateStatusReasonCode = undefined;
    fn.readsLeftInProgress = this.readsWhileInProgress;
    return { ...this.configuration(fn), $metadata: metadata(200) };
  }

  private validEnvironment(variables: Record<string, string>): Record<string, string> {
    const badKeys = Object.keys(variables).filter((key) => !ENV_KEY_PATTERN.test(key));
    if (badKeys.length > 0) {
      throw new LambdaServiceException({
        name: 'ValidationException',
        $fault: 'client',
        $metadata: metadata(400),
        message:
          "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
      });
    }
    const reserved = Object.keys(variables).filter((key) => (LAMBDA_RESERVED_ENV_KEYS as readonly string[]).includes(key));
    if (reserved.length > 0) {
      throw new InvalidParameterValueException({
        message: `Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ${reserved.join(', ')}`,
        Type: 'User',
        $metadata: metadata(400),
      });
    }
    if (envBytes(variables) > LAMBDA_ENV_LIMIT_BYTES) {
      throw new InvalidParameterValueException({
        message: `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${JSON.stringify(variables)}`,
        Type: 'User',
        $metadata: metadata(400),
      });
    }
    return { ...variables };
  }

  private commit(fn: FakeFunction, variables: Record<string, string>, cause: EnvChangeCause): void {
    fn.variables = variables;
    fn.revisionId = randomUUID();
    fn.lastModified = new Date();
    fn.history.push({ at: fn.lastModified, revisionId: fn.revisionId, cause, variables: { ...variables } });
  }

  /** A read sees the current status, then counts towards the end of an in-progress update. */
  private read(fn: FakeFunction): FunctionConfiguration {
    if (fn.lastUpdateStatus === 'InProgress' && fn.readsLeftInProgress <= 0) this.finishUpdate(fn);
    const configuration = this.configuration(fn);
    if (fn.lastUpdateStatus === 'InProgress') fn.readsLeftInProgress -= 1;
    return configuration;
  }

  private finishUpdate(fn: FakeFunction): void {
    if (fn.lastUpdateStatus !== 'InProgress') return;
    const failure = fn.pendingFailedUpdate;
    fn.pendingFailedUpdate = undefined;
    fn.lastUpdateStatus = failure ? 'Failed' : 'Successful';
    fn.lastUpdateStatusReason = failure?.reason;
    fn.lastUpdateStatusReasonCode = failure?.reasonCode;
    fn.readsLeftInProgress = 0;
  }

  private consumeThrottle(fn: FakeFunction): void {
    if (fn.throttledCallsLeft <= 0) return;
    fn.throttledCallsLeft -= 1;
    throw new TooManyRequestsException({
      message: 'Rate exceeded',
      Type: 'User',
      Reason: 'CallerRateLimitExceeded',
      retryAfterSeconds: '1',
      $metadata: metadata(429),
    });
  }

  private configuration(fn: FakeFunction): FunctionConfiguration {
    return {
      FunctionName: fn.name,
      FunctionArn: fn.arn,
      Runtime: 'nodejs22.x',
      Role: `arn:aws:iam::${FAKE_ACCOUNT_ID}:role/${fn.name}-role`,
      Handler: 'index.handler',
      CodeSize: 1024,
      Timeout: 3,
      MemorySize: 128,
      LastModified: fn.lastModified.toISOString().replace('Z', '+0000'),
      Version: '$LATEST',
      Environment: { Variables: { ...fn.variables } },
      RevisionId: fn.revisionId,
      State: 'Active',
      LastUpdateStatus: fn.lastUpdateStatus,
      ...(fn.lastUpdateStatusReason !== undefined && { LastUpdateStatusReason: fn.lastUpdateStatusReason }),
      ...(fn.lastUpdateStatusReasonCode !== undefined && { LastUpdateStatusReasonCode: fn.lastUpdateStatusReasonCode }),
      PackageType: 'Zip',
      Architectures: ['arm64'],
    };
  }

  private existing(name: string): FakeFunction {
    const fn = this.functions.get(name);
    if (!fn) throw new Error(`fake Lambda: no function named ${name}; add it with addFunction first`);
    return fn;
  }

  /** Resolves a name, full ARN or partial ARN the way Lambda does; anything else is not found. */
  private find(functionName: string | undefined, qualifier?: string): FakeFunction {
    if (!functionName) {
      throw new LambdaServiceException({
        name: 'ValidationException',
        $fault: 'client',
        $metadata: metadata(400),
        message: "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null",
      });
    }
    let name = functionName;
    let arnQualifier: string | undefined;
    let sameAccount = true;
    const full = ARN_PATTERN.exec(functionName);
    const partial = PARTIAL_ARN_PATTERN.exec(functionName);
    if (full) {
      sameAccount = full[1] === FAKE_REGION && full[2] === FAKE_ACCOUNT_ID;
      name = full[3];
      arnQualifier = full[4];
    } else if (partial) {
      sameAccount = partial[1] === FAKE_ACCOUNT_ID;
      name = partial[2];
      arnQualifier = partial[3];
    }
    const version = qualifier ?? arnQualifier;
    const fn = sameAccount ? this.functions.get(name) : undefined;
    // Published versions and aliases are not modelled: only $LATEST exists.
    if (!fn || (version !== undefined && version !== '$LATEST')) {
      const arn = full || partial ? functionName : fakeFunctionArn(name);
      throw new ResourceNotFoundException({
        message: `Function not found: ${version && !arnQualifier ? `${arn}:${version}` : arn}`,
        Type: 'User',
        $metadata: metadata(404),
      });
    }
    return fn;
  }

  private async delay(): Promise<void> {
    const ms = (this.latency.latencyMs ?? 0) + Math.random() * (this.latency.jitterMs ?? 0);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }
}
