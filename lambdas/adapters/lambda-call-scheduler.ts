import { errorName, sleep as realSleep } from './aws-errors';

/**
 * Client-side pacing of Lambda control-plane calls, so a rollback keeps under the account's quota by itself.
 *
 * AWS Lambda quotas ("Lambda API requests", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
 * GetFunctionConfiguration, UpdateFunctionConfiguration, PublishVersion, UpdateAlias, GetAlias and the other
 * control-plane calls share 15 requests per second per account and Region (not increasable); GetFunction has its own
 * 100 per second. Beyond them Lambda answers `TooManyRequestsException` (429). Every Phasegate function has its own
 * scheduler (one per Lambda execution environment), and other tools in the account spend the same quota, so the
 * scheduler also adapts: each 429 halves its rate and pauses the quota briefly, each success wins some rate back.
 */

/** The quota a Lambda API call is counted against. */
export type LambdaQuota = 'control-plane' | 'get-function';

/** Which call goes first when both wait for the same quota: making targets safe beats rolling forward. */
export type CallPriority = 'rollback' | 'apply';

/**
 * Tells applies (in any function) that a rollback is writing somewhere in the stage, so they hold their
 * control-plane calls and leave the quota to it. Implemented on the state table (a marker item with an expiry).
 */
export interface RollbackActivity {
  /** True while any rollback's marker is live. */
  isActive(): Promise<boolean>;
  /** Mark a rollback active until `untilMs` (epoch ms); called again as a heartbeat while it runs. */
  markActive(untilMs: number): Promise<void>;
  /** Clear the marker written with `untilMs` (a later marker by another rollback stays). */
  clear(untilMs: number): Promise<void>;
}

/** Tuning of {@link LambdaCallScheduler}; the defaults suit the real quotas. */
export interface LambdaCallSchedulerOptions {
  /**
   * Steady rate per quota, calls per second. Kept a little under the real quota so that two clocks' skew does not
   * cost a 429. @default control-plane 14.5, get-function 90
   */
  readonly ratePerSecond?: Partial<Record<LambdaQuota, number>>;
  /** Calls that may go at once from a full bucket. @default control-plane 15, get-function 90 */
  readonly burst?: Partial<Record<LambdaQuota, number>>;
  /** Lowest rate the adaptation goes down to. @default 1 call per second */
  readonly minRatePerSecond?: number;
  /** Throttled retries of one call before it gives up (when it has no deadline). @default 50 */
  readonly maxThrottledRetries?: number;
  /** How long an apply waits between checks while a rollback is active. @default 200 ms */
  readonly yieldPollMs?: number;
  /** How long one answer of {@link RollbackActivity.isActive} is trusted. @default 200 ms */
  readonly activityCacheMs?: number;
  /** Applies hold their control-plane calls while this says a rollback is active. @default - never hold */
  readonly rollbackActivity?: RollbackActivity;
  /** Injected time, for tests and benchmarks. */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A call could not be made before its deadline (the quota, or a rollback holding applies, kept it waiting). */
export class QuotaDeadlineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QuotaDeadlineError';
  }
}

/** What the scheduler saw, per quota. */
export interface SchedulerStats {
  readonly calls: number;
  /** 429s received (each was retried). */
  readonly throttled: number;
  /** The adapted rate now, calls per second. */
  readonly ratePerSecond: number;
}

interface Waiter {
  readonly priority: number;
  readonly seq: number;
  readonly deadline?: number;
  resolve(): void;
  reject(err: Error): void;
}

class Bucket {
  tokens: number;
  rate: number;
  lastRefill: number;
  pausedUntil = 0;
  /** Incremented by each rate cut: 429s of calls sent before the last cut do not cut again. */
  generation = 0;
  calls = 0;
  throttled = 0;
  readonly queue: Waiter[] = [];
  waking = false;

  constructor(
    readonly maxRate: number,
    readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.rate = maxRate;
    this.lastRefill = now;
  }

  refill(now: number): void {
    const elapsed = Math.max(0, now - this.lastRefill) / 1000;
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.rate);
    this.lastRefill = now;
  }
}

const PRIORITY: Readonly<Record<CallPriority, number>> = { rollback: 0, apply: 1 };
const DEFAULT_RATE: Readonly<Record<LambdaQuota, number>> = { 'control-plane': 14.5, 'get-function': 90 };
const DEFAULT_BURST: Readonly<Record<LambdaQuota, number>> = { 'control-plane': 15, 'get-function': 90 };

/** True for Lambda's quota answer (429 `TooManyRequestsException`). */
export function isThrottle(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return errorName(err) === 'TooManyRequestsException' || status === 429;
}

/** The retry-after hint of a 429, in ms, if it has one. */
function retryAfterMs(err: unknown): number | undefined {
  const raw = (err as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  const seconds = typeof raw === 'string' ? Number(raw) : typeof raw === 'number' ? raw : NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

/**
 * Paces calls per quota with a token bucket, rollback calls first, retrying 429s itself (a throttled call did not
 * happen, so retrying it is always safe). Applies additionally hold their control-plane calls while a rollback is
 * active anywhere in the stage ({@link RollbackActivity}), which is how a rollback in one function gets priority
 * over a phase apply in another.
 */
export class LambdaCallScheduler {
  private readonly buckets: Record<LambdaQuota, Bucket>;
  private readonly minRate: number;
  private readonly maxThrottledRetries: number;
  private readonly yieldPollMs: number;
  private readonly activityCacheMs: number;
  private readonly activity?: RollbackActivity;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private seq = 0;
  private activityCache?: { active: boolean; at: number };

  constructor(options: LambdaCallSchedulerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? realSleep;
    this.minRate = options.minRatePerSecond ?? 1;
    this.maxThrottledRetries = options.maxThrottledRetries ?? 50;
    this.yieldPollMs = options.yieldPollMs ?? 200;
    this.activityCacheMs = options.activityCacheMs ?? 200;
    this.activity = options.rollbackActivity;
    const bucket = (quota: LambdaQuota): Bucket =>
      new Bucket(options.ratePerSecond?.[quota] ?? DEFAULT_RATE[quota], options.burst?.[quota] ?? DEFAULT_BURST[quota], this.now());
    this.buckets = { 'control-plane': bucket('control-plane'), 'get-function': bucket('get-function') };
  }

  /** Calls made and 429s seen, per quota. */
  stats(): Record<LambdaQuota, SchedulerStats> {
    const of = (b: Bucket): SchedulerStats => ({ calls: b.calls, throttled: b.throttled, ratePerSecond: b.rate });
    return { 'control-plane': of(this.buckets['control-plane']), 'get-function': of(this.buckets['get-function']) };
  }

  /** Whether a rollback is active in the stage (cached briefly); false without a {@link RollbackActivity}. */
  async rollbackActive(): Promise<boolean> {
    if (!this.activity) return false;
    const now = this.now();
    if (this.activityCache && now - this.activityCache.at < this.activityCacheMs) return this.activityCache.active;
    let active = false;
    try {
      active = await this.activity.isActive();
    } catch {
      // The marker is advisory: when it cannot be read, applies go on and 429s still pace them.
      active = false;
    }
    this.activityCache = { active, at: this.now() };
    return active;
  }

  /**
   * Make one call within the quota: wait for a token (rollback calls first), send, and on a 429 adapt and try again.
   * Throws {@link QuotaDeadlineError} when `deadline` (epoch ms) passes before the call could be made, and the
   * call's own error otherwise.
   */
  async call<T>(quota: LambdaQuota, priority: CallPriority, send: () => Promise<T>, options: { deadline?: number } = {}): Promise<T> {
    const bucket = this.buckets[quota];
    const seq = this.seq++;
    let lastThrottle: unknown;
    for (let throttles = 0; ; throttles++) {
      const yields = priority === 'apply' && quota === 'control-plane';
      if (yields) await this.yieldToRollbacks(options.deadline);
      await this.acquire(bucket, PRIORITY[priority], seq, options.deadline, lastThrottle);
      // Checked again with the token in hand: a rollback may have started while this apply waited in the queue.
      if (yields && (await this.rollbackActive())) {
        this.giveBack(bucket);
        throttles--;
        continue;
      }
      bucket.calls += 1;
      const generation = bucket.generation;
      try {
        const result = await send();
        bucket.rate = Math.min(bucket.maxRate, bucket.rate + bucket.maxRate / 10);
        return result;
      } catch (err) {
        if (!isThrottle(err)) throw err;
        lastThrottle = err;
        this.throttledOn(bucket, err, generation);
        if (options.deadline === undefined && throttles + 1 >= this.maxThrottledRetries) throw err;
      }
    }
  }

  /** Put back a token taken for a call that is not made after all. */
  private giveBack(bucket: Bucket): void {
    bucket.refill(this.now());
    bucket.tokens = Math.min(bucket.capacity, bucket.tokens + 1);
    this.pump(bucket);
  }

  /** Hold an apply's control-plane call while a rollback is active somewhere in the stage. */
  private async yieldToRollbacks(deadline: number | undefined): Promise<void> {
    while (await this.rollbackActive()) {
      if (deadline !== undefined && this.now() + this.yieldPollMs > deadline) {
        throw new QuotaDeadlineError('a rollback is using the Lambda quota; this apply yields to it and will be retried');
      }
      await this.sleep(this.yieldPollMs);
    }
  }

  /**
   * A 429: somebody else spends the same quota (or this bucket's idea of it was too generous). Halve the rate, empty
   * the bucket and pause it. Lambda's retry-after is in whole seconds, coarser than one token of a 15/s quota, so the
   * pause is one interval at the new rate, never longer than the hint. A burst of calls sent at the same rate that all
   * meet a 429 cuts the rate once, not once per call (`generation`: the calls sent before the last cut).
   */
  private throttledOn(bucket: Bucket, err: unknown, generation: number): void {
    bucket.throttled += 1;
    if (generation !== bucket.generation) return;
    bucket.generation += 1;
    bucket.rate = Math.max(this.minRate, bucket.rate / 2);
    bucket.tokens = 0;
    bucket.lastRefill = this.now();
    const interval = 1000 / bucket.rate;
    const hint = retryAfterMs(err);
    bucket.pausedUntil = Math.max(bucket.pausedUntil, this.now() + (hint === undefined ? interval : Math.min(hint, interval)));
  }

  private acquire(bucket: Bucket, priority: number, seq: number, deadline: number | undefined, cause: unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        seq,
        deadline,
        resolve,
        reject: (err) => reject(cause ? Object.assign(err, { cause }) : err),
      };
      // Highest priority first, then in the order the calls were first asked for (a retried call keeps its place).
      const at = bucket.queue.findIndex((w) => w.priority > priority || (w.priority === priority && w.seq > seq));
      if (at < 0) bucket.queue.push(waiter);
      else bucket.queue.splice(at, 0, waiter);
      this.pump(bucket);
    });
  }

  private pump(bucket: Bucket): void {
    const now = this.now();
    bucket.refill(now);
    for (let i = bucket.queue.length - 1; i >= 0; i--) {
      const w = bucket.queue[i]!;
      if (w.deadline !== undefined && w.deadline <= now) {
        bucket.queue.splice(i, 1);
        w.reject(new QuotaDeadlineError('the Lambda API quota did not allow this call before the deadline'));
      }
    }
    while (bucket.queue.length > 0 && now >= bucket.pausedUntil && bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.queue.shift()!.resolve();
    }
    if (bucket.queue.length === 0 || bucket.waking) return;
    const untilToken = ((1 - bucket.tokens) / bucket.rate) * 1000;
    const wait = Math.max(1, bucket.pausedUntil - now, untilToken);
    bucket.waking = true;
    void this.sleep(wait).then(() => {
      bucket.waking = false;
      this.pump(bucket);
    });
  }
}
