import { randomUUID } from 'node:crypto';
import { TooManyRequestsException } from '@aws-sdk/client-lambda';

/** The Lambda API commands the fake control plane serves. */
export type LambdaCommandName = 'GetFunctionConfiguration' | 'GetFunction' | 'UpdateFunctionConfiguration' | 'PublishVersion' | 'GetAlias' | 'UpdateAlias';

/**
 * The request-rate quotas of the Lambda API that the fake models, per account and Region.
 * - `controlPlane`: the shared quota of the control-plane API (GetFunctionConfiguration, UpdateFunctionConfiguration,
 *   PublishVersion, UpdateAlias, GetAlias and the rest).
 * - `getFunction`: GetFunction's own quota.
 */
export type LambdaQuotaBucket = 'controlPlane' | 'getFunction';

/**
 * Which quota each command the fake serves counts against: the one place that decides it.
 *
 * AWS Lambda quotas page (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Lambda API requests"):
 * "Control plane API requests (excludes invocation, GetFunction, and GetPolicy requests)" share 15 requests per second
 * per account and Region, and that quota cannot be increased; GetFunction has its own 100 requests per second.
 * A command added to {@link LambdaCommandName} must be given its bucket here (the type makes it a compile error not to).
 */
export const LAMBDA_COMMAND_QUOTAS: Readonly<Record<LambdaCommandName, LambdaQuotaBucket>> = {
  GetFunctionConfiguration: 'controlPlane',
  UpdateFunctionConfiguration: 'controlPlane',
  PublishVersion: 'controlPlane',
  GetAlias: 'controlPlane',
  UpdateAlias: 'controlPlane',
  GetFunction: 'getFunction',
};

/** A token bucket: `ratePerSecond` tokens are added per second, at most `burst` are held; a call takes one. */
export interface TokenBucketOptions {
  /** Tokens added per second (the sustained request rate). Must be greater than 0. */
  readonly ratePerSecond?: number;
  /** Most tokens held at once: how many calls pass at the same instant after a quiet spell. At least 1. */
  readonly burst?: number;
}

/** Options of {@link LambdaQuotas}. */
export interface LambdaQuotasOptions {
  /**
   * The shared control-plane quota (Lambda quotas page, "Lambda API requests": 15 requests per second, not increasable).
   * @default 15 per second, burst 15
   */
  readonly controlPlane?: TokenBucketOptions;
  /**
   * GetFunction's own quota (Lambda quotas page, "Lambda API requests": 100 requests per second).
   * @default 100 per second, burst 100
   */
  readonly getFunction?: TokenBucketOptions;
  /** `false` admits every call (a debugging switch); calls are still counted as accepted. @default true */
  readonly enabled?: boolean;
  /** The clock, in milliseconds. Inject one in tests so nothing depends on how fast the machine is. @default Date.now */
  readonly now?: () => number;
}

/** How many calls a bucket admitted and refused. */
export interface QuotaCounts {
  readonly accepted: number;
  readonly throttled: number;
}

/** Defaults from the Lambda quotas page, "Lambda API requests". */
const DEFAULT_BUCKETS: Readonly<Record<LambdaQuotaBucket, Required<TokenBucketOptions>>> = {
  controlPlane: { ratePerSecond: 15, burst: 15 },
  getFunction: { ratePerSecond: 100, burst: 100 },
};

/** Tolerance for floating-point refill (15 tokens/s refills one token in 66.66… ms). */
const EPSILON = 1e-9;

interface BucketState {
  readonly ratePerSecond: number;
  readonly burst: number;
  tokens: number;
  refilledAt: number;
  accepted: number;
  throttled: number;
}

/**
 * The `TooManyRequestsException` Lambda answers beyond a request-rate quota, as the SDK builds it: HTTP 429,
 * `Reason: 'CallerRateLimitExceeded'`, message `Rate exceeded`, and the seconds to wait in `retryAfterSeconds`
 * (a string, as the `Retry-After` header it comes from; Lambda API reference, "TooManyRequestsException").
 */
export function rateExceeded(retryAfterSeconds: number): TooManyRequestsException {
  return new TooManyRequestsException({
    message: 'Rate exceeded',
    Type: 'User',
    Reason: 'CallerRateLimitExceeded',
    retryAfterSeconds: String(retryAfterSeconds),
    $metadata: { httpStatusCode: 429, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 },
  });
}

/**
 * Lambda's request-rate quotas for one simulated account and Region, as token buckets.
 *
 * One instance stands for one account: every fake function, and every `LambdaClient` in the process, draws from the
 * same buckets, so two rollouts running at once compete for the same 15 control-plane calls per second as they would
 * in AWS. Every request counts, whatever its outcome (a call that ends in 404 or 412 was still a request); a call
 * refused for the rate takes no token.
 */
export class LambdaQuotas {
  /** Whether calls beyond the rate are refused. */
  readonly enabled: boolean;
  /** The clock the buckets refill by, in milliseconds. */
  readonly now: () => number;
  private readonly buckets: Record<LambdaQuotaBucket, BucketState>;

  /** Buckets start full. Throws one error listing every invalid option. */
  constructor(options: LambdaQuotasOptions = {}) {
    const problems: string[] = [];
    const settings = {} as Record<LambdaQuotaBucket, Required<TokenBucketOptions>>;
    for (const bucket of Object.keys(DEFAULT_BUCKETS) as LambdaQuotaBucket[]) {
      const ratePerSecond = options[bucket]?.ratePerSecond ?? DEFAULT_BUCKETS[bucket].ratePerSecond;
      const burst = options[bucket]?.burst ?? DEFAULT_BUCKETS[bucket].burst;
      if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0) problems.push(`${bucket}.ratePerSecond: must be a number greater than 0, got ${ratePerSecond}`);
      if (!Number.isFinite(burst) || burst < 1) problems.push(`${bucket}.burst: must be a number of at least 1, got ${burst}`);
      settings[bucket] = { ratePerSecond, burst };
    }
    if (problems.length > 0) throw new Error(`LambdaQuotas: invalid options:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.enabled = options.enabled ?? true;
    this.now = options.now ?? Date.now;
    const start = this.now();
    const state = (s: Required<TokenBucketOptions>): BucketState => ({ ...s, tokens: s.burst, refilledAt: start, accepted: 0, throttled: 0 });
    this.buckets = { controlPlane: state(settings.controlPlane), getFunction: state(settings.getFunction) };
  }

  /**
   * Counts one call of `command` against its bucket ({@link LAMBDA_COMMAND_QUOTAS}): takes a token, or throws the
   * SDK's `TooManyRequestsException` when none is left, with `retryAfterSeconds` the whole seconds until one is (at least 1).
   */
  admit(command: LambdaCommandName): void {
    const bucket = this.refilled(LAMBDA_COMMAND_QUOTAS[command]);
    if (!this.enabled || bucket.tokens >= 1 - EPSILON) {
      if (this.enabled) bucket.tokens = Math.max(0, bucket.tokens - 1);
      bucket.accepted += 1;
      return;
    }
    bucket.throttled += 1;
    const secondsToToken = (1 - bucket.tokens) / bucket.ratePerSecond;
    throw rateExceeded(Math.max(1, Math.ceil(secondsToToken - EPSILON)));
  }

  /** Tokens in the bucket now (fractional while refilling). */
  available(bucket: LambdaQuotaBucket): number {
    return this.refilled(bucket).tokens;
  }

  /** Calls accepted and throttled so far, per bucket. */
  get counts(): Record<LambdaQuotaBucket, QuotaCounts> {
    const counts = (b: BucketState): QuotaCounts => ({ accepted: b.accepted, throttled: b.throttled });
    return { controlPlane: counts(this.buckets.controlPlane), getFunction: counts(this.buckets.getFunction) };
  }

  private refilled(name: LambdaQuotaBucket): BucketState {
    const bucket = this.buckets[name];
    const at = this.now();
    // A clock that steps back (an injected one) adds nothing rather than removing tokens.
    const elapsedMs = Math.max(0, at - bucket.refilledAt);
    bucket.tokens = Math.min(bucket.burst, bucket.tokens + (elapsedMs * bucket.ratePerSecond) / 1000);
    bucket.refilledAt = Math.max(bucket.refilledAt, at);
    return bucket;
  }
}
