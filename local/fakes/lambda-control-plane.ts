import { randomUUID } from 'node:crypto';
import {
  GetAliasCommand,
  PublishVersionCommand,
  UpdateAliasCommand,
  type AliasConfiguration,
  type GetAliasCommandInput,
  type PublishVersionCommandInput,
  type UpdateAliasCommandInput,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvalidParameterValueException,
  LambdaClient,
  LambdaServiceException,
  PreconditionFailedException,
  ResourceConflictException,
  ResourceNotFoundException,
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
import { environmentBytes } from '../../lambdas/core/flags/env-merge';
import { LambdaQuotas, rateExceeded, type LambdaCommandName, type LambdaQuotasOptions } from './lambda-quotas';

export type { LambdaCommandName } from './lambda-quotas';

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
   * How long an update stays `LastUpdateStatus: 'InProgress'`, in milliseconds of the fake's clock
   * ({@link FakeLambdaOptions.now}); the first read at or after that time sees `Successful` (or `Failed`).
   * 0 means the update response says `InProgress` and the next read already sees the outcome.
   * Takes precedence over {@link FakeLambdaOptions.readsWhileInProgress} when both are given.
   * @default not set: the end of an update is counted in reads (`readsWhileInProgress`)
   */
  readonly inProgressMs?: number;
  /**
   * Used only when `inProgressMs` is not given: how many reads (GetFunctionConfiguration or GetFunction) still see
   * `LastUpdateStatus: 'InProgress'` after an update; the read after that sees the outcome. 0 means the first read
   * already sees it.
   * @default 1
   */
  readonly readsWhileInProgress?: number;
  /** Latency added to every call. @default no latency */
  readonly latency?: LatencyOptions;
  /**
   * The account's request-rate quotas: a {@link LambdaQuotas} to share (several fakes, one account), options for a
   * new one, or `false` to admit every call (calls are still counted).
   * @default a new `LambdaQuotas` with Lambda's quotas (15 control-plane calls per second, GetFunction 100) on the fake's clock
   */
  readonly quotas?: LambdaQuotas | LambdaQuotasOptions | false;
  /**
   * The clock, in milliseconds, for quotas, `inProgressMs`, `LastModified` and the call log. Inject one in tests.
   * @default the clock of a shared `quotas` instance, else `quotas.now`, else Date.now
   */
  readonly now?: () => number;
}

/** One call the fake received. */
export interface LambdaCallRecord {
  readonly command: LambdaCommandName;
  /** The `FunctionName` as the caller sent it (a name or an ARN). */
  readonly functionName: string;
  readonly at: Date;
  /** `'ok'`, or the `name` of the error the call got. */
  readonly outcome: string;
}

/**
 * Why a function's environment changed: created, an update (written when it is accepted), a simulated concurrent
 * writer, or `'update-failed'`: an update ended `Failed` and the environment went back to what it was before it.
 */
export type EnvChangeCause = 'created' | 'update' | 'concurrent-writer' | 'update-failed';

/** One version of a function's environment. */
export interface EnvHistoryEntry {
  readonly at: Date;
  readonly revisionId: string;
  readonly cause: EnvChangeCause;
  readonly variables: Readonly<Record<string, string>>;
}

type UpdateFailure = { readonly reasonCode: LastUpdateStatusReasonCode; readonly reason: string };

/** An update Lambda is still applying (`LastUpdateStatus: 'InProgress'`). */
interface UpdateInProgress {
  /** The environment before this update: what the function keeps if the update ends `Failed`. */
  readonly previousVariables: Record<string, string>;
  /** When the update ends (time mode), on the fake's clock. */
  readonly endsAt?: number;
  /** Reads left that still see `InProgress` (read-count mode). */
  readsLeft: number;
  /** Held `InProgress` until {@link FakeLambdaControlPlane.settle}. */
  stuck: boolean;
}

/** A published version: an immutable snapshot of `$LATEST`'s code and configuration (Lambda versions). */
interface FakeVersion {
  readonly version: string;
  readonly variables: Readonly<Record<string, string>>;
  readonly codeSha256: string;
  readonly memorySize: number;
  readonly timeout: number;
  readonly revisionId: string;
  readonly lastModified: Date;
}

/** An alias: a name pointing at a version, optionally shifting a weight of traffic to a second one (CodeDeploy). */
interface FakeAlias {
  readonly name: string;
  functionVersion: string;
  revisionId: string;
  /** Version -> weight (0-1) of traffic routed to it besides `functionVersion`. */
  additionalVersionWeights?: Record<string, number>;
}

interface FakeFunction {
  readonly name: string;
  readonly arn: string;
  variables: Record<string, string>;
  codeSha256: string;
  memorySize: number;
  timeout: number;
  readonly versions: Map<string, FakeVersion>;
  nextVersion: number;
  readonly aliases: Map<string, FakeAlias>;
  revisionId: string;
  lastModified: Date;
  lastUpdateStatus: 'Successful' | 'InProgress' | 'Failed';
  lastUpdateStatusReason?: string;
  lastUpdateStatusReasonCode?: LastUpdateStatusReasonCode;
  inProgress?: UpdateInProgress;
  stickNextUpdate: boolean;
  throttledCallsLeft: number;
  permanentUpdateError?: Error;
  pendingConcurrentWrite?: Record<string, string>;
  pendingFailedUpdate?: UpdateFailure;
  readonly history: EnvHistoryEntry[];
}

const ENV_KEY_PATTERN = /^[a-zA-Z]([a-zA-Z0-9_])+$/;
const ARN_PATTERN = /^arn:aws:lambda:([^:]+):(\d{12}):function:([^:]+)(?::(.+))?$/;
const PARTIAL_ARN_PATTERN = /^(\d{12}):function:([^:]+)(?::(.+))?$/;
const DEFAULT_FAILURE: UpdateFailure = {
  reasonCode: 'InternalError',
  reason: 'An internal error occurred while updating the function configuration.',
};

function codeHash(): string {
  return Buffer.from(randomUUID()).toString('base64').slice(0, 43) + '=';
}

function notFound(message: string): ResourceNotFoundException {
  return new ResourceNotFoundException({ message, Type: 'User', $metadata: metadata(404) });
}

function metadata(httpStatusCode: number) {
  return { httpStatusCode, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 };
}

/**
 * A stateful fake of the Lambda configuration API (GetFunctionConfiguration, GetFunction,
 * UpdateFunctionConfiguration), installed at the SDK boundary with aws-sdk-client-mock so production code runs
 * unchanged against it. Every `LambdaClient` in the process is served by the installed fake: one simulated account.
 *
 * Behaves like the service where Phasegate depends on it (each rule cites its AWS source where it is enforced):
 * - request-rate quotas per account ({@link LambdaQuotas}): beyond them `TooManyRequestsException` (429);
 * - functions are found by name (`fn` or `fn:alias`), full ARN or partial ARN; published versions are immutable
 *   snapshots of `$LATEST` (PublishVersion), aliases point at a version, optionally with weighted routing;
 * - an update replaces the whole `Environment.Variables`, gets a new `RevisionId` and stays
 *   `LastUpdateStatus: 'InProgress'` for {@link FakeLambdaOptions.inProgressMs} (or `readsWhileInProgress` reads),
 *   then ends `Successful` or `Failed` with a new `RevisionId` again; a `Failed` update leaves the environment as it
 *   was before that update;
 * - a stale `RevisionId` gets `PreconditionFailedException` (412), an update while one is in progress
 *   `ResourceConflictException` (409), an environment over 4 KB (measured as Lambda measures it, see
 *   {@link environmentBytes}) or with reserved keys `InvalidParameterValueException` (400).
 * Errors are the SDK's own exception classes.
 *
 * Calls bypass the SDK middleware, so the SDK's automatic retries of throttling errors do not happen here: a
 * throttled call fails on its first attempt.
 */
export class FakeLambdaControlPlane {
  /** The account's request-rate quotas this fake draws from (shared when one was passed in). */
  readonly quotas: LambdaQuotas;
  private readonly functions = new Map<string, FakeFunction>();
  private readonly callLog: LambdaCallRecord[] = [];
  private readonly readsWhileInProgress: number;
  private readonly inProgressMs?: number;
  private readonly now: () => number;
  private latency: LatencyOptions;
  private stub?: { restore(): void };

  /** Creates an empty fake; add functions with {@link FakeLambdaControlPlane.addFunction}. Throws one error listing every invalid option. */
  constructor(options: FakeLambdaOptions = {}) {
    const problems: string[] = [];
    const { readsWhileInProgress = 1, inProgressMs } = options;
    if (!Number.isInteger(readsWhileInProgress) || readsWhileInProgress < 0) {
      problems.push(`readsWhileInProgress: must be a whole number of at least 0, got ${readsWhileInProgress}`);
    }
    if (inProgressMs !== undefined && (!Number.isFinite(inProgressMs) || inProgressMs < 0)) {
      problems.push(`inProgressMs: must be a number of milliseconds of at least 0, got ${inProgressMs}`);
    }
    const shared = options.quotas instanceof LambdaQuotas ? options.quotas : undefined;
    const quotaOptions = options.quotas === false || shared ? undefined : options.quotas;
    if (shared && options.now && shared.now !== options.now) {
      problems.push('now: differs from the clock of the shared quotas; one run has one clock (give the same function to both, or only to LambdaQuotas)');
    }
    if (quotaOptions?.now && options.now && quotaOptions.now !== options.now) {
      problems.push('quotas.now: differs from now; one run has one clock (give it once, as now)');
    }
    if (problems.length > 0) throw new Error(`FakeLambdaControlPlane: invalid options:\n${problems.map((p) => `  - ${p}`).join('\n')}`);

    this.now = options.now ?? shared?.now ?? quotaOptions?.now ?? Date.now;
    this.quotas = shared ?? new LambdaQuotas(options.quotas === false ? { enabled: false, now: this.now } : { ...quotaOptions, now: this.now });
    this.readsWhileInProgress = readsWhileInProgress;
    this.inProgressMs = inProgressMs;
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
      lastModified: new Date(this.now()),
      lastUpdateStatus: 'Successful',
      stickNextUpdate: false,
      throttledCallsLeft: 0,
      history: [],
      codeSha256: codeHash(),
      memorySize: 128,
      timeout: 3,
      versions: new Map(),
      nextVersion: 1,
      aliases: new Map(),
    };
    fn.history.push({ at: fn.lastModified, revisionId: fn.revisionId, cause: 'created', variables: { ...variables } });
    this.functions.set(name, fn);
    return this.configuration(fn);
  }

  /** A copy of the function's current environment variables. */
  environmentOf(name: string): Record<string, string> {
    return { ...this.current(name).variables };
  }

  /** The function's current configuration, as GetFunctionConfiguration would return it, without counting as a read or a request. */
  configurationOf(name: string): FunctionConfiguration {
    return this.configuration(this.current(name));
  }

  /** Every version of the function's environment, oldest first. */
  historyOf(name: string): readonly EnvHistoryEntry[] {
    return this.current(name).history;
  }

  /**
   * The next `times` calls naming this function fail with `TooManyRequestsException`, on top of the account's
   * quotas (each of those calls was still a request, so it also counts against them).
   */
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
   * Publishes `$LATEST` (if it changed since the last version) and creates or moves alias `alias` to it, as a SAM
   * `AutoPublishAlias` deploy does. `routing` shifts a weight of traffic to another version (a CodeDeploy shift in
   * progress). Returns the alias's version. Not a request: it counts against no quota.
   */
  addAlias(name: string, alias: string, options: { version?: string; routing?: Record<string, number> } = {}): string {
    const fn = this.current(name);
    const version = options.version ?? (this.publishVersion({ FunctionName: name }).Version as string);
    const existing = fn.aliases.get(alias);
    const entry: FakeAlias = existing ?? { name: alias, functionVersion: version, revisionId: randomUUID() };
    entry.functionVersion = version;
    entry.revisionId = randomUUID();
    entry.additionalVersionWeights = options.routing && Object.keys(options.routing).length > 0 ? { ...options.routing } : undefined;
    fn.aliases.set(alias, entry);
    return version;
  }

  /** Where an alias points, and its weighted routing if any. */
  aliasOf(name: string, alias: string): { functionVersion: string; routing?: Record<string, number> } {
    const a = this.current(name).aliases.get(alias);
    if (!a) throw new Error(`fake Lambda: ${name} has no alias ${alias}`);
    return { functionVersion: a.functionVersion, ...(a.additionalVersionWeights ? { routing: { ...a.additionalVersionWeights } } : {}) };
  }

  /** The environment the code invoked through `name:alias` sees: that of the version the alias points to. */
  environmentServedBy(name: string, alias: string): Record<string, string> {
    const fn = this.current(name);
    const a = fn.aliases.get(alias);
    if (!a) throw new Error(`fake Lambda: ${name} has no alias ${alias}`);
    if (a.functionVersion === '$LATEST') return { ...fn.variables };
    return { ...fn.versions.get(a.functionVersion)!.variables };
  }

  /** The published versions, oldest first. */
  versionsOf(name: string): readonly { version: string; variables: Readonly<Record<string, string>>; codeSha256: string }[] {
    return [...this.current(name).versions.values()].map((v) => ({ version: v.version, variables: { ...v.variables }, codeSha256: v.codeSha256 }));
  }

  /**
   * A deploy of `$LATEST` that is not released yet (UpdateFunctionCode or a configuration change without a new
   * version): new code and, optionally, another memory size. Not a request: it counts against no quota.
   */
  deployUnreleased(name: string, change: { memorySize?: number } = {}): void {
    const fn = this.current(name);
    fn.codeSha256 = codeHash();
    if (change.memorySize !== undefined) fn.memorySize = change.memorySize;
    fn.revisionId = randomUUID();
    fn.lastModified = new Date(this.now());
  }

  /** Updates of this function work again (the permission was fixed), after {@link FakeLambdaControlPlane.failUpdates}. */
  allowUpdates(name: string): void {
    this.existing(name).permanentUpdateError = undefined;
  }

  /**
   * Simulates a concurrent writer: just before the next UpdateFunctionConfiguration on this function is applied,
   * somebody else writes `change` (by default one unrelated variable) and the RevisionId changes. Their update has
   * already settled, so the next update fails only if it carries the RevisionId it read before: with
   * `PreconditionFailedException` (412), as Lambda answers a stale RevisionId. An update without a RevisionId
   * overwrites their change (the lost update a RevisionId guard prevents). Their call does not count against the quotas.
   */
  conflictOnce(name: string, change: Readonly<Record<string, string>> = { CONCURRENT_WRITER_MARK: randomUUID() }): void {
    this.existing(name).pendingConcurrentWrite = { ...change };
  }

  /**
   * The update in progress, or else the next update, of this function ends with `LastUpdateStatus: 'Failed'`:
   * the function keeps the environment it had before that update, and reports the reason.
   */
  failNextUpdateStatus(name: string, reasonCode: LastUpdateStatusReasonCode = DEFAULT_FAILURE.reasonCode, reason = DEFAULT_FAILURE.reason): void {
    this.existing(name).pendingFailedUpdate = { reasonCode, reason };
  }

  /**
   * Sets up a function as if an earlier update, unrelated to the test, had ended `Failed`: `LastUpdateStatus: 'Failed'`
   * with the reason, a new RevisionId, and the environment as it is (a failed update leaves it unchanged). Lambda
   * accepts a later update of such a function. Throws while an update is in progress.
   */
  markEarlierUpdateFailed(name: string, reasonCode: LastUpdateStatusReasonCode = DEFAULT_FAILURE.reasonCode, reason = DEFAULT_FAILURE.reason): void {
    const fn = this.current(name);
    if (fn.inProgress) throw new Error(`fake Lambda: ${name} has an update in progress; settle it first`);
    fn.revisionId = randomUUID();
    fn.lastUpdateStatus = 'Failed';
    fn.lastUpdateStatusReason = reason;
    fn.lastUpdateStatusReasonCode = reasonCode;
  }

  /**
   * A stuck target: the update in progress, or else the next update, of this function stays `InProgress` whatever
   * the time or the reads, until {@link FakeLambdaControlPlane.settle} is called.
   */
  stickInProgress(name: string): void {
    const fn = this.current(name);
    if (fn.inProgress) fn.inProgress.stuck = true;
    else fn.stickNextUpdate = true;
  }

  /** Ends an in-progress update now (stuck or not), as if enough time had passed; cancels a pending {@link stickInProgress}. */
  settle(name: string): void {
    const fn = this.existing(name);
    fn.stickNextUpdate = false;
    this.finishUpdate(fn);
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
    stub.on(PublishVersionCommand).callsFake((input) => this.serve('PublishVersion', input));
    stub.on(GetAliasCommand).callsFake((input) => this.serve('GetAlias', input));
    stub.on(UpdateAliasCommand).callsFake((input) => this.serve('UpdateAlias', input));
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
      // The rate quota applies before anything else: a throttled call is not looked at (Lambda quotas page,
      // "Lambda API requests"; beyond it the API answers TooManyRequestsException).
      this.quotas.admit(command);
      const output = this.handle(command, input);
      this.callLog.push({ command, functionName, at: new Date(this.now()), outcome: 'ok' });
      return output;
    } catch (error) {
      this.callLog.push({ command, functionName, at: new Date(this.now()), outcome: (error as Error).name });
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
      case 'PublishVersion':
        return this.publishVersion(input as PublishVersionCommandInput);
      case 'GetAlias':
        return this.getAlias(input as GetAliasCommandInput);
      case 'UpdateAlias':
        return this.updateAlias(input as UpdateAliasCommandInput);
    }
  }

  /**
   * PublishVersion API reference: publishes a version from the current code and configuration of `$LATEST`; "Lambda
   * doesn't publish a version if the function's configuration and code haven't changed since the last version" (the
   * last version is returned); `CodeSha256` and `RevisionId` make it conditional (a mismatch is
   * InvalidParameterValueException / PreconditionFailedException); ResourceConflictException while an update is in progress.
   */
  private publishVersion(input: PublishVersionCommandInput): FunctionConfiguration & { $metadata: unknown } {
    const { fn } = this.resolve(input.FunctionName);
    this.refresh(fn);
    this.consumeThrottle(fn);
    if (fn.lastUpdateStatus === 'InProgress') {
      throw new ResourceConflictException({ message: `The operation cannot be performed at this time. An update is in progress for resource: ${fn.arn}`, Type: 'User', $metadata: metadata(409) });
    }
    if (input.RevisionId !== undefined && input.RevisionId !== fn.revisionId) {
      throw new PreconditionFailedException({
        message: 'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
        Type: 'User',
        $metadata: metadata(412),
      });
    }
    if (input.CodeSha256 !== undefined && input.CodeSha256 !== fn.codeSha256) {
      throw new InvalidParameterValueException({
        message: `CodeSHA256 (${input.CodeSha256}) is different from current CodeSHA256 in $LATEST (${fn.codeSha256}). Please try again with the CodeSHA256 in $LATEST.`,
        Type: 'User',
        $metadata: metadata(400),
      });
    }
    const last = [...fn.versions.values()].at(-1);
    const unchanged =
      last && last.codeSha256 === fn.codeSha256 && last.memorySize === fn.memorySize && last.timeout === fn.timeout && sameVariables(last.variables, fn.variables);
    const version =
      unchanged && last
        ? last
        : {
            version: String(fn.nextVersion++),
            variables: { ...fn.variables },
            codeSha256: fn.codeSha256,
            memorySize: fn.memorySize,
            timeout: fn.timeout,
            revisionId: randomUUID(),
            lastModified: new Date(this.now()),
          };
    fn.versions.set(version.version, version);
    return { ...this.versionConfiguration(fn, version), $metadata: metadata(201) };
  }

  /** GetAlias API reference: the alias's version, routing configuration and RevisionId; ResourceNotFoundException otherwise. */
  private getAlias(input: GetAliasCommandInput): AliasConfiguration & { $metadata: unknown } {
    const { fn } = this.resolve(input.FunctionName);
    this.consumeThrottle(fn);
    const alias = fn.aliases.get(input.Name ?? '');
    if (!alias) throw notFound(`Cannot find alias arn: ${fn.arn}:${input.Name ?? ''}`);
    return { ...this.aliasConfiguration(fn, alias), $metadata: metadata(200) };
  }

  /**
   * UpdateAlias API reference: moves the alias (and its routing); conditional on `RevisionId` (PreconditionFailedException,
   * 412, when stale); the version must exist (ResourceNotFoundException).
   */
  private updateAlias(input: UpdateAliasCommandInput): AliasConfiguration & { $metadata: unknown } {
    const { fn } = this.resolve(input.FunctionName);
    this.consumeThrottle(fn);
    const alias = fn.aliases.get(input.Name ?? '');
    if (!alias) throw notFound(`Cannot find alias arn: ${fn.arn}:${input.Name ?? ''}`);
    if (input.RevisionId !== undefined && input.RevisionId !== alias.revisionId) {
      throw new PreconditionFailedException({
        message: 'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
        Type: 'User',
        $metadata: metadata(412),
      });
    }
    if (input.FunctionVersion !== undefined) {
      if (input.FunctionVersion !== '$LATEST' && !fn.versions.has(input.FunctionVersion)) throw notFound(`Function not found: ${fn.arn}:${input.FunctionVersion}`);
      alias.functionVersion = input.FunctionVersion;
    }
    if (input.RoutingConfig !== undefined) {
      const weights = input.RoutingConfig.AdditionalVersionWeights ?? {};
      alias.additionalVersionWeights = Object.keys(weights).length > 0 ? { ...weights } : undefined;
    }
    alias.revisionId = randomUUID();
    return { ...this.aliasConfiguration(fn, alias), $metadata: metadata(200) };
  }

  private aliasConfiguration(fn: FakeFunction, alias: FakeAlias): AliasConfiguration {
    return {
      AliasArn: `${fn.arn}:${alias.name}`,
      Name: alias.name,
      FunctionVersion: alias.functionVersion,
      RevisionId: alias.revisionId,
      ...(alias.additionalVersionWeights ? { RoutingConfig: { AdditionalVersionWeights: { ...alias.additionalVersionWeights } } } : {}),
    };
  }

  private versionConfiguration(fn: FakeFunction, v: FakeVersion): FunctionConfiguration {
    return {
      ...this.configuration(fn),
      FunctionArn: `${fn.arn}:${v.version}`,
      Version: v.version,
      Environment: { Variables: { ...v.variables } },
      CodeSha256: v.codeSha256,
      MemorySize: v.memorySize,
      Timeout: v.timeout,
      RevisionId: v.revisionId,
      LastModified: v.lastModified.toISOString().replace('Z', '+0000'),
      LastUpdateStatus: 'Successful',
      LastUpdateStatusReason: undefined,
      LastUpdateStatusReasonCode: undefined,
    };
  }

  /** The configuration a qualified read sees: `$LATEST`'s (a read that counts), a version's, or an alias's version's. */
  private qualifiedRead(fn: FakeFunction, qualifier: string | undefined): FunctionConfiguration {
    if (qualifier === undefined || qualifier === '$LATEST') return this.read(fn);
    const alias = fn.aliases.get(qualifier);
    const versionName = alias ? alias.functionVersion : qualifier;
    if (versionName === '$LATEST') return this.read(fn);
    const version = fn.versions.get(versionName);
    if (!version) throw notFound(`Function not found: ${fn.arn}:${qualifier}`);
    return { ...this.versionConfiguration(fn, version), ...(alias ? { FunctionArn: `${fn.arn}:${alias.name}` } : {}) };
  }

  private getFunctionConfiguration(input: GetFunctionConfigurationCommandInput): GetFunctionConfigurationCommandOutput {
    const { fn, qualifier } = this.resolve(input.FunctionName, input.Qualifier);
    this.consumeThrottle(fn);
    return { ...this.qualifiedRead(fn, qualifier), $metadata: metadata(200) };
  }

  /**
   * GetFunction returns the same `Configuration` as GetFunctionConfiguration, plus `Code` and `Tags`
   * (Lambda API reference, GetFunction), and counts against its own quota ({@link LAMBDA_COMMAND_QUOTAS}).
   */
  private getFunction(input: GetFunctionCommandInput): GetFunctionCommandOutput {
    const { fn, qualifier } = this.resolve(input.FunctionName, input.Qualifier);
    this.consumeThrottle(fn);
    return {
      Configuration: this.qualifiedRead(fn, qualifier),
      Code: { RepositoryType: 'S3', Location: `https://awslambda-${FAKE_REGION}-tasks.s3.${FAKE_REGION}.amazonaws.com/snapshots/${FAKE_ACCOUNT_ID}/${fn.name}` },
      Tags: {},
      $metadata: metadata(200),
    };
  }

  /** Errors and their order as the UpdateFunctionConfiguration API reference lists them (see each check). */
  private updateFunctionConfiguration(
    input: UpdateFunctionConfigurationCommandInput,
  ): UpdateFunctionConfigurationCommandOutput {
    const fn = this.find(input.FunctionName);
    this.refresh(fn);
    this.consumeThrottle(fn);
    if (fn.permanentUpdateError) throw fn.permanentUpdateError;
    if (fn.pendingConcurrentWrite) {
      const change = fn.pendingConcurrentWrite;
      fn.pendingConcurrentWrite = undefined;
      this.commit(fn, { ...fn.variables, ...change }, 'concurrent-writer');
    }
    // Lambda function states, "Function states during updates": while LastUpdateStatus is InProgress, operations
    // that modify the function fail; the API reference lists ResourceConflictException (409): "another operation is
    // in progress".
    if (fn.lastUpdateStatus === 'InProgress') {
      throw new ResourceConflictException({
        message: `The operation cannot be performed at this time. An update is in progress for resource: ${fn.arn}`,
        Type: 'User',
        $metadata: metadata(409),
      });
    }
    // UpdateFunctionConfiguration API reference: "RevisionId: Update the function only if the revision ID matches the
    // ID that's specified"; otherwise PreconditionFailedException (412).
    if (input.RevisionId !== undefined && input.RevisionId !== fn.revisionId) {
      throw new PreconditionFailedException({
        message:
          'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
        Type: 'User',
        $metadata: metadata(412),
      });
    }
    const previousVariables = fn.variables;
    const variables = input.Environment ? this.validEnvironment(input.Environment.Variables ?? {}) : fn.variables;
    // An update is accepted after a Failed one too: Failed only reports how the last update ended.
    this.commit(fn, variables, 'update');
    fn.lastUpdateStatus = 'InProgress';
    fn.lastUpdateStatusReason = undefined;
    fn.lastUpdateStatusReasonCode = undefined;
    fn.inProgress = {
      previousVariables: { ...previousVariables },
      ...(this.inProgressMs !== undefined && { endsAt: this.now() + this.inProgressMs }),
      readsLeft: this.readsWhileInProgress,
      stuck: fn.stickNextUpdate,
    };
    fn.stickNextUpdate = false;
    // The response already carries the new RevisionId and LastUpdateStatus InProgress.
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
    // Lambda quotas page: environment variables 4 KB in aggregate; the error quotes the string it measured, the
    // JSON of the map. environmentBytes is that measure (the one Phasegate's own check uses).
    if (environmentBytes(variables) > LAMBDA_ENV_LIMIT_BYTES) {
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
    fn.lastModified = new Date(this.now());
    fn.history.push({ at: fn.lastModified, revisionId: fn.revisionId, cause, variables: { ...variables } });
  }

  /** A read sees the current status; in read-count mode it then counts towards the end of an in-progress update. */
  private read(fn: FakeFunction): FunctionConfiguration {
    this.refresh(fn);
    const update = fn.inProgress;
    if (update && this.inProgressMs === undefined && !update.stuck && update.readsLeft <= 0) this.finishUpdate(fn);
    const configuration = this.configuration(fn);
    if (fn.inProgress && this.inProgressMs === undefined) fn.inProgress.readsLeft -= 1;
    return configuration;
  }

  /** In time mode, ends an update whose time has come. */
  private refresh(fn: FakeFunction): void {
    const update = fn.inProgress;
    if (update?.endsAt !== undefined && !update.stuck && this.now() >= update.endsAt) this.finishUpdate(fn);
  }

  /**
   * Ends the update in progress. Lambda function states, "Function states during updates": the update ends
   * Successful, or Failed with LastUpdateStatusReason and LastUpdateStatusReasonCode, and a failed update leaves
   * the function running its previous configuration (AWS Compute Blog, "Tracking the state of Lambda functions"),
   * so its environment goes back to what it was before that update. The RevisionId changes again when the update
   * ends: the one in the update's response is stale by then (aws/aws-sdk issue 377, observed on the service).
   */
  private finishUpdate(fn: FakeFunction): void {
    const update = fn.inProgress;
    if (!update) return;
    fn.inProgress = undefined;
    const failure = fn.pendingFailedUpdate;
    fn.pendingFailedUpdate = undefined;
    if (failure) {
      this.commit(fn, update.previousVariables, 'update-failed');
    } else {
      fn.revisionId = randomUUID();
    }
    fn.lastUpdateStatus = failure ? 'Failed' : 'Successful';
    fn.lastUpdateStatusReason = failure?.reason;
    fn.lastUpdateStatusReasonCode = failure?.reasonCode;
  }

  private consumeThrottle(fn: FakeFunction): void {
    if (fn.throttledCallsLeft <= 0) return;
    fn.throttledCallsLeft -= 1;
    throw rateExceeded(1);
  }

  private configuration(fn: FakeFunction): FunctionConfiguration {
    return {
      FunctionName: fn.name,
      FunctionArn: fn.arn,
      Runtime: 'nodejs22.x',
      Role: `arn:aws:iam::${FAKE_ACCOUNT_ID}:role/${fn.name}-role`,
      Handler: 'index.handler',
      CodeSize: 1024,
      CodeSha256: fn.codeSha256,
      Timeout: fn.timeout,
      MemorySize: fn.memorySize,
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

  /** The function with a time-based update ended if its time has come. */
  private current(name: string): FakeFunction {
    const fn = this.existing(name);
    this.refresh(fn);
    return fn;
  }

  /**
   * Resolves a name (`my-function`, or `my-function:alias` with a qualifier), full ARN or partial ARN the way Lambda
   * does, with the qualifier it names; anything else is not found.
   */
  private resolve(functionName: string | undefined, qualifier?: string): { fn: FakeFunction; qualifier?: string } {
    if (!functionName) {
      throw new LambdaServiceException({
        name: 'ValidationException',
        $fault: 'client',
        $metadata: metadata(400),
        message: "1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null",
      });
    }
    let name = functionName;
    let nameQualifier: string | undefined;
    let sameAccount = true;
    const full = ARN_PATTERN.exec(functionName);
    const partial = PARTIAL_ARN_PATTERN.exec(functionName);
    if (full) {
      sameAccount = full[1] === FAKE_REGION && full[2] === FAKE_ACCOUNT_ID;
      name = full[3]!;
      nameQualifier = full[4];
    } else if (partial) {
      sameAccount = partial[1] === FAKE_ACCOUNT_ID;
      name = partial[2]!;
      nameQualifier = partial[3];
    } else if (functionName.includes(':')) {
      // Lambda API reference, FunctionName: "my-function:v1 (with alias)".
      [name, nameQualifier] = functionName.split(':', 2) as [string, string];
    }
    const fn = sameAccount ? this.functions.get(name) : undefined;
    const wanted = qualifier ?? nameQualifier;
    if (!fn) {
      const arn = full || partial ? functionName : fakeFunctionArn(name);
      throw notFound(`Function not found: ${wanted && !nameQualifier ? `${arn}:${wanted}` : arn}`);
    }
    return { fn, ...(wanted !== undefined ? { qualifier: wanted } : {}) };
  }

  /** The unqualified function a name or ARN resolves to; a qualifier other than `$LATEST` is not found here. */
  private find(functionName: string | undefined, qualifier?: string): FakeFunction {
    const { fn, qualifier: wanted } = this.resolve(functionName, qualifier);
    // UpdateFunctionConfiguration acts on the unqualified function only.
    if (wanted !== undefined && wanted !== '$LATEST') throw notFound(`Function not found: ${fn.arn}:${wanted}`);
    return fn;
  }

  private async delay(): Promise<void> {
    const ms = (this.latency.latencyMs ?? 0) + Math.random() * (this.latency.jitterMs ?? 0);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }
}

function sameVariables(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
