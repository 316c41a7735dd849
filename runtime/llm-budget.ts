/**
 * `@phasegate/runtime/llm-budget`: a daily spend cap around every LLM call of a target function.
 *
 * ```ts
 * import { createLlmBudget } from '@phasegate/runtime/llm-budget';
 *
 * // Once, at init. Prices per million tokens, for the models this function calls.
 * const llm = createLlmBudget({ prices: { 'gpt-4o-mini': { inputUsdPerMillionTokens: 0.15, outputUsdPerMillionTokens: 0.6 } } });
 *
 * // Per request, behind the sub-feature's flag:
 * const parsed = await llm.withLlmBudget(
 *   { feature: 'ux-update', subFeature: 'llm-parsing', estimateUsd: 0.002, model: 'gpt-4o-mini' },
 *   async () => {
 *     const res = await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 500, messages });
 *     return { value: res, usage: { inputTokens: res.usage.prompt_tokens, outputTokens: res.usage.completion_tokens } };
 *   },
 * );
 * if (!parsed.ok) return parseStructured(text); // BUDGET_EXHAUSTED (or BUDGET_UNAVAILABLE): fall back, never throws
 * ```
 *
 * Before the call, one conditional DynamoDB UpdateItem reserves the estimate against today's (UTC) budget: it
 * lands only while `spent + reserved + estimate <= cap`, so concurrent invocations can never reserve past the
 * cap together. After the call the actual cost (dollars, or tokens priced per model) is settled and the rest of
 * the estimate given back. A call that throws gets its whole reservation back, and the error is rethrown. A
 * reservation whose call crashed stops counting once it expires (15 minutes, Lambda's longest timeout; by
 * timestamp, not TTL): a caller refused for lack of budget reclaims expired reservations and tries again.
 *
 * Each settled call prints its cost as a CloudWatch Embedded Metric Format line (namespace `Phasegate`, metric
 * `LlmSpendUsd`, dimensions `Feature` and `SubFeature`); each refused one `LlmBudgetExhausted`. The alarm at the
 * plan's `hardLimitUsd` and the gate's spend band read that metric.
 *
 * Configuration, all from the function's environment unless given to {@link createLlmBudget}:
 * - `PHASEGATE_BUDGET_TABLE_NAME`: the Phasegate state table (stack output `TableName`). The function needs the
 *   stack's managed policy `phasegate-<stage>-<feature>-llm-budget` (GetItem and UpdateItem on its feature's
 *   budget partition only).
 * - the cap: Phasegate writes the plan's `dailyCapUsd` into the sub-feature's cap variable with its flags
 *   (`<FEATURE>_<SUB>_DAILY_CAP_USD`, or the plan's `llm.dailyCapVariable`, which the feature's manifest
 *   variable names), and `"0"` while the sub-feature is off. A missing or malformed value means no budget. The day's cap is fixed by the day's first reservation;
 *   an admin can change today's cap (`/rollout budget`), a changed plan applies from the next UTC day.
 *
 * **Bounded.** Every DynamoDB exchange has a deadline (`timeoutMs`, 1 s by default): when DynamoDB accepts the
 * connection but does not answer, the request is aborted and the call falls back with `BUDGET_UNAVAILABLE` well
 * within the function's own timeout; a settlement that times out is `unrecorded` (its reservation expires).
 *
 * The AWS SDK (`@aws-sdk/client-dynamodb`, provided by the Lambda runtime) is loaded on the first guarded call,
 * so importing this module costs nothing until then; `@phasegate/runtime` (the flag reader) does not import it.
 *
 * @packageDocumentation
 */
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  lateSettleUpdate,
  parseBudgetItem,
  budgetItemKey,
  releaseUpdate,
  reclaimUpdate,
  reserveUpdate,
  settleUpdate,
  type BudgetDayRef,
  type BudgetUpdate,
} from '../lambdas/adapters/dynamo-budget-item';
import { microsToUsd, splitReservations, usdToMicros, utcDay } from '../lambdas/core/budget/budget-record';
import { LLM_BUDGET, METRICS } from '../lambdas/core/contract';
import type { LlmBudgetDay, LlmReservation } from '../lambdas/core/ports';
import { dailyCapVariable, manifestVariable, parseManifest, subFeatureKey } from './names';

/** A model's list price in US dollars per million tokens. */
export interface ModelPrice {
  readonly inputUsdPerMillionTokens: number;
  readonly outputUsdPerMillionTokens: number;
}

/** Prices per model id, exactly as the calls name their model (`gpt-4o-mini`, `claude-3-5-haiku-latest`, ...). */
export type PriceTable = Readonly<Record<string, ModelPrice>>;

/** Tokens a call used, as the provider reports them. */
export interface LlmUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/**
 * What a guarded call returns: its value and what it cost, either in dollars or in tokens (priced with the
 * {@link PriceTable} for `model`, or for the request's model).
 */
export type LlmCallOutcome<T> =
  | { readonly value: T; readonly costUsd: number }
  | { readonly value: T; readonly usage: LlmUsage; readonly model?: string };

/** One guarded call. */
export interface LlmBudgetRequest {
  /** The feature id, e.g. `ux-update`. */
  readonly feature: string;
  /** The LLM sub-feature id whose budget pays, e.g. `llm-parsing`. */
  readonly subFeature: string;
  /**
   * What the call may cost at most, in US dollars: it is reserved before the call. An upper bound (input
   * tokens plus `max_tokens` at the model's prices, see {@link costUsdOf}) keeps spend under the cap; a call
   * that costs more than its estimate is still counted in full and can push the day's spend past the cap.
   */
  readonly estimateUsd: number;
  /** The model the call uses: prices reported tokens, and is checked against the price table before calling. */
  readonly model?: string;
}

/** Handed to the guarded call. */
export interface LlmCallContext {
  readonly reservationId: string;
  readonly estimateUsd: number;
  /** The UTC day whose budget pays for the call. */
  readonly day: string;
}

/**
 * The outcome of {@link LlmBudget.withLlmBudget}. Only `ok: true` means the call ran.
 * - `BUDGET_EXHAUSTED`: today's budget has no room for the estimate. The call did not run: fall back.
 * - `BUDGET_UNAVAILABLE`: the budget could not be read or reserved (DynamoDB error, missing permission). The
 *   call did not run, since spend that cannot be counted cannot be capped: fall back. `error` says why.
 */
export type LlmBudgetResult<T> =
  | {
      readonly ok: true;
      readonly value: T;
      readonly costUsd: number;
      readonly estimateUsd: number;
      readonly day: string;
      readonly reservationId: string;
      /**
       * `settled`: counted, the rest of the estimate given back. `late`: the reservation had expired and was
       * reclaimed, so the cost was counted on its own. `unrecorded`: the settlement failed; the metric still
       * carries the cost and the reservation expires.
       */
      readonly settlement: 'settled' | 'late' | 'unrecorded';
    }
  | {
      readonly ok: false;
      readonly reason: 'BUDGET_EXHAUSTED';
      readonly day: string;
      readonly estimateUsd: number;
      readonly capUsd: number;
      readonly spentUsd: number;
      /** Live reservations of calls in flight. */
      readonly reservedUsd: number;
      readonly remainingUsd: number;
    }
  | { readonly ok: false; readonly reason: 'BUDGET_UNAVAILABLE'; readonly day: string; readonly estimateUsd: number; readonly error: string };

/** The reasons of a refused call. */
export type LlmBudgetRefusal = Extract<LlmBudgetResult<unknown>, { ok: false }>['reason'];

/** A call reported tokens for a model the price table does not have, so its cost is unknown. */
export class LlmPriceMissingError extends Error {
  constructor(
    readonly model: string,
    readonly knownModels: readonly string[],
  ) {
    super(
      `no price for model "${model}" in the LLM price table (known: ${knownModels.join(', ') || 'none'}); ` +
        'add it to createLlmBudget({ prices }) or report costUsd',
    );
    this.name = 'LlmPriceMissingError';
  }
}

/** The guard is used or configured wrongly (no table name, an estimate that is not a positive amount, ...). */
export class LlmBudgetConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LlmBudgetConfigError';
  }
}

/** DynamoDB did not answer within the guard's `timeoutMs`: the request was aborted. */
export class LlmBudgetTimeoutError extends Error {
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
  ) {
    super(`DynamoDB did not answer the budget ${operation} within ${timeoutMs} ms`);
    this.name = 'LlmBudgetTimeoutError';
  }
}

/** A clock, injectable for tests and compressed-time simulations. */
export interface LlmBudgetClock {
  now(): Date;
}

/** Options of {@link createLlmBudget}. */
export interface LlmBudgetOptions {
  /** The Phasegate state table. @default process.env.PHASEGATE_BUDGET_TABLE_NAME */
  readonly tableName?: string;
  /** Where the table name and the cap variables are read. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Custom cap variable per flag key (`ux-update.llm-parsing`), as the plan's `llm.dailyCapVariable` names it.
   * @default `<FEATURE>_<SUB_FEATURE>_DAILY_CAP_USD`
   */
  readonly capVariables?: Readonly<Record<string, string>>;
  /** Prices of the models whose calls report tokens. @default - none: such calls must report costUsd */
  readonly prices?: PriceTable;
  /** The DynamoDB client. @default - a client from `@aws-sdk/client-dynamodb`, created on first use */
  readonly client?: Pick<DynamoDBClient, 'send'>;
  /** @default the system clock */
  readonly clock?: LlmBudgetClock;
  /**
   * The longest a reservation, settlement or release waits for DynamoDB, in milliseconds, after which the request
   * is aborted: the call falls back with `BUDGET_UNAVAILABLE` (or its settlement is `unrecorded`). Keep it well
   * under the function's timeout. @default 1000
   */
  readonly timeoutMs?: number;
  /** How long a reservation counts before it expires. @default 15 minutes (Lambda's longest timeout) */
  readonly reservationTtlMs?: number;
  /** Where the Embedded Metric Format lines go. @default - one line on stdout */
  readonly emitMetric?: (line: string) => void;
  /** Where warnings (a failed settlement or release) go. @default console.warn */
  readonly warn?: (line: string) => void;
}

/** A budget guard bound to its configuration. */
export interface LlmBudget {
  /**
   * Run `call` if today's budget has room for `request.estimateUsd`, and count what it cost. Returns
   * `{ ok: false, reason }` instead of calling when there is no room (never throws for that). Rethrows what
   * `call` throws, after giving its reservation back. Throws {@link LlmBudgetConfigError} for a bad request or
   * setup, and {@link LlmPriceMissingError} when a call's tokens cannot be priced (its estimate is then counted).
   */
  withLlmBudget<T>(request: LlmBudgetRequest, call: (context: LlmCallContext) => Promise<LlmCallOutcome<T>>): Promise<LlmBudgetResult<T>>;
}

/**
 * The cost in US dollars of `usage` on `model`. Also what an estimate is made of: the prompt's tokens plus the
 * call's `max_tokens`. Throws {@link LlmPriceMissingError} for a model the table lacks.
 *
 * @example costUsdOf(prices, 'gpt-4o-mini', { inputTokens: 1200, outputTokens: 500 }) // 0.00048
 */
export function costUsdOf(prices: PriceTable, model: string, usage: LlmUsage): number {
  const price = Object.hasOwn(prices, model) ? prices[model] : undefined;
  if (!price) throw new LlmPriceMissingError(model, Object.keys(prices));
  for (const [field, tokens] of Object.entries(usage)) {
    if (!(Number.isFinite(tokens) && tokens >= 0)) throw new LlmBudgetConfigError(`usage.${field} must be a token count, got ${String(tokens)}`);
  }
  return (usage.inputTokens * price.inputUsdPerMillionTokens + usage.outputTokens * price.outputUsdPerMillionTokens) / 1_000_000;
}

type Sdk = typeof import('@aws-sdk/client-dynamodb');
let sdk: Promise<Sdk> | undefined;
// Loaded on the first guarded call only: functions that import the runtime but never call an LLM never load it.
const loadSdk = (): Promise<Sdk> => (sdk ??= import('@aws-sdk/client-dynamodb'));

const CAP = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

function processEnv(): Readonly<Record<string, string | undefined>> {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
}

function stdoutLine(line: string): void {
  // Straight to stdout, not console.log: the Lambda runtime prefixes console lines (or wraps them in JSON with
  // the JSON log format), and CloudWatch only extracts metrics from lines that are the EMF document itself.
  const out = (globalThis as { process?: { stdout?: { write(text: string): unknown } } }).process?.stdout;
  if (out) out.write(`${line}\n`);
  else console.log(line);
}

function isConditionFailed(err: unknown): err is Error & { Item?: Record<string, AttributeValue> } {
  return (err as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException';
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function randomId(): string {
  return globalThis.crypto.randomUUID().replace(/-/g, '');
}

/** The Embedded Metric Format document of one metric value with the Feature and SubFeature dimensions. */
function emfLine(
  at: Date,
  ref: BudgetDayRef,
  metric: { name: string; unit: 'None' | 'Count'; value: number },
  properties: Record<string, unknown>,
): string {
  const { feature, subFeature } = METRICS.dimensions;
  return JSON.stringify({
    _aws: {
      Timestamp: at.getTime(),
      CloudWatchMetrics: [{ Namespace: METRICS.namespace, Dimensions: [[feature, subFeature]], Metrics: [{ Name: metric.name, Unit: metric.unit }] }],
    },
    [feature]: ref.feature,
    [subFeature]: ref.subFeature,
    [metric.name]: metric.value,
    ...properties,
  });
}

/** How long a DynamoDB exchange may take before the guard gives up on it. */
const DEFAULT_TIMEOUT_MS = 1000;

/** Attempts at reserving when refusals turn out to be caused by expired reservations or a concurrent refund. */
const RESERVE_ATTEMPTS = 3;

/** A budget guard with its own configuration. Create it once per process, at init. */
export function createLlmBudget(options: LlmBudgetOptions = {}): LlmBudget {
  const clock = options.clock ?? { now: () => new Date() };
  const ttlMs = options.reservationTtlMs ?? LLM_BUDGET.defaultReservationTtlMs;
  const emitMetric = options.emitMetric ?? stdoutLine;
  const warn = options.warn ?? ((line: string) => console.warn(line));
  const prices = options.prices;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new LlmBudgetConfigError(`timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`);
  let client: Pick<DynamoDBClient, 'send'> | undefined = options.client;

  const env = (): Readonly<Record<string, string | undefined>> => options.env ?? processEnv();

  const tableName = (): string => {
    const name = options.tableName ?? env()[LLM_BUDGET.tableNameEnv];
    if (!name) throw new LlmBudgetConfigError(`the LLM budget guard needs the Phasegate table name: set ${LLM_BUDGET.tableNameEnv} (stack output TableName)`);
    return name;
  };

  /** The cap variable: the caller's, else the one the feature's manifest names, else the default. */
  const capVariable = (ref: BudgetDayRef): string => {
    const key = subFeatureKey(ref.feature, ref.subFeature);
    const custom = options.capVariables?.[key];
    if (custom !== undefined) return custom;
    const raw = env()[manifestVariable(ref.feature)];
    const manifest = raw === undefined ? undefined : parseManifest(ref.feature, raw);
    const sub = manifest !== undefined && Object.hasOwn(manifest.subFeatures, ref.subFeature) ? manifest.subFeatures[ref.subFeature] : undefined;
    return sub?.dailyCapVariable ?? dailyCapVariable(key);
  };

  /** The plan's cap from the cap variable; anything but a plain non-negative amount means no budget. */
  const planCapMicros = (ref: BudgetDayRef): number => {
    const raw = env()[capVariable(ref)]?.trim();
    return raw !== undefined && CAP.test(raw) ? usdToMicros(Number(raw)) : 0;
  };

  /**
   * Runs `work` with a deadline: after `timeoutMs` its requests are aborted through `signal` and the result is an
   * {@link LlmBudgetTimeoutError}. Without it, a DynamoDB endpoint that accepts the connection but never answers
   * would hold the call until the function itself times out, and the documented fallback would never arrive.
   */
  const withDeadline = async <T>(operation: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new LlmBudgetTimeoutError(operation, timeoutMs);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
    });
    try {
      return await Promise.race([work(controller.signal), deadline]);
    } finally {
      clearTimeout(timer);
    }
  };

  const update = async (input: BudgetUpdate, signal: AbortSignal, returnOldOnFailure = false): Promise<void> => {
    const { UpdateItemCommand, DynamoDBClient } = await loadSdk();
    client ??= new DynamoDBClient({});
    await client.send(
      new UpdateItemCommand({
        TableName: tableName(),
        ...input,
        // Real DynamoDB hands back the item that failed the check, which saves a read; local stand-ins may not.
        ...(returnOldOnFailure ? { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const } : {}),
      }),
      { abortSignal: signal },
    );
  };

  const read = async (ref: BudgetDayRef, signal: AbortSignal): Promise<LlmBudgetDay | undefined> => {
    const { GetItemCommand, DynamoDBClient } = await loadSdk();
    client ??= new DynamoDBClient({});
    const out = await client.send(new GetItemCommand({ TableName: tableName(), Key: budgetItemKey(ref), ConsistentRead: true }), { abortSignal: signal });
    return out.Item ? parseBudgetItem(out.Item) : undefined;
  };

  /** Reserve, reclaiming expired reservations when they are what stands in the way. Returns the day when refused. */
  const reserve = async (
    ref: BudgetDayRef,
    reservation: LlmReservation,
    capMicros: number,
    signal: AbortSignal,
  ): Promise<{ ok: true } | { ok: false; day?: LlmBudgetDay }> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await update(reserveUpdate(ref, reservation, capMicros), signal, true);
        return { ok: true };
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
        const day = err.Item ? parseBudgetItem(err.Item) : await read(ref, signal);
        if (!day || attempt >= RESERVE_ATTEMPTS) return { ok: false, day };
        const nowMs = clock.now().getTime();
        const { expired } = splitReservations(day, nowMs);
        if (expired.length > 0) {
          // Lost to a concurrent reclaim or settlement: the next attempt re-reads anyway.
          await update(reclaimUpdate(ref, expired, nowMs), signal).catch((e: unknown) => {
            if (!isConditionFailed(e)) throw e;
          });
        } else if (day.remainingMicros < reservation.micros) {
          return { ok: false, day };
        }
        // Otherwise a settlement gave budget back between the refusal and the read: try again.
      }
    }
  };

  const settle = async (ref: BudgetDayRef, reservation: LlmReservation, actualMicros: number): Promise<'settled' | 'late' | 'unrecorded'> => {
    try {
      await withDeadline('settlement', (signal) => update(settleUpdate(ref, reservation, actualMicros), signal));
      return 'settled';
    } catch (err) {
      try {
        if (!isConditionFailed(err)) throw err;
        await withDeadline('late settlement', (signal) => update(lateSettleUpdate(ref, actualMicros), signal));
        return 'late';
      } catch (lateErr) {
        warn(JSON.stringify({ message: 'LLM spend could not be recorded; the reservation will expire', ...ref, reservationId: reservation.id, costUsd: microsToUsd(actualMicros), error: errorText(lateErr) }));
        return 'unrecorded';
      }
    }
  };

  const costMicros = <T>(request: LlmBudgetRequest, outcome: LlmCallOutcome<T>): number => {
    if (!outcome || typeof outcome !== 'object' || !('costUsd' in outcome || 'usage' in outcome)) {
      throw new LlmBudgetConfigError('the LLM call must return { value, costUsd } or { value, usage: { inputTokens, outputTokens } }');
    }
    if ('costUsd' in outcome) {
      if (!(Number.isFinite(outcome.costUsd) && outcome.costUsd >= 0)) {
        throw new LlmBudgetConfigError(`the LLM call reported costUsd ${String(outcome.costUsd)}; expected an amount in US dollars`);
      }
      return usdToMicros(outcome.costUsd);
    }
    const model = outcome.model ?? request.model;
    if (model === undefined) throw new LlmBudgetConfigError('the LLM call reported tokens but names no model: set model on the request or the outcome');
    return usdToMicros(costUsdOf(prices ?? {}, model, outcome.usage));
  };

  return {
    async withLlmBudget<T>(request: LlmBudgetRequest, call: (context: LlmCallContext) => Promise<LlmCallOutcome<T>>): Promise<LlmBudgetResult<T>> {
      const { feature, subFeature, estimateUsd, model } = request;
      if (!feature || !subFeature) throw new LlmBudgetConfigError('withLlmBudget needs a feature and a subFeature');
      if (!(Number.isFinite(estimateUsd) && estimateUsd > 0)) {
        throw new LlmBudgetConfigError(`estimateUsd must be a positive amount in US dollars, got ${String(estimateUsd)}`);
      }
      // Fail before spending anything when the model cannot be priced (a typo in a model id, a new model).
      if (model !== undefined && prices !== undefined && !Object.hasOwn(prices, model)) throw new LlmPriceMissingError(model, Object.keys(prices));

      const start = clock.now();
      const ref: BudgetDayRef = { feature, subFeature, day: utcDay(start) };
      const reservation: LlmReservation = {
        id: randomId(),
        micros: Math.max(1, usdToMicros(estimateUsd)),
        reservedAt: start.getTime(),
        expiresAt: start.getTime() + ttlMs,
        ...(model !== undefined ? { model } : {}),
      };
      const capMicros = planCapMicros(ref);
      tableName(); // a missing table name is a setup error, not an outage

      let reserved: Awaited<ReturnType<typeof reserve>>;
      try {
        reserved = await withDeadline('reservation', (signal) => reserve(ref, reservation, capMicros, signal));
      } catch (err) {
        warn(JSON.stringify({ message: 'LLM budget unavailable; the call falls back', ...ref, error: errorText(err) }));
        return { ok: false, reason: 'BUDGET_UNAVAILABLE', day: ref.day, estimateUsd, error: errorText(err) };
      }
      if (!reserved.ok) {
        const day = reserved.day;
        const nowMs = clock.now().getTime();
        const liveMicros = day ? splitReservations(day, nowMs).liveMicros : 0;
        const cap = day?.capMicros ?? capMicros;
        const spent = day?.spentMicros ?? 0;
        emitMetric(emfLine(clock.now(), ref, { name: METRICS.llmBudgetExhausted, unit: 'Count', value: 1 }, { day: ref.day, estimateUsd }));
        return {
          ok: false,
          reason: 'BUDGET_EXHAUSTED',
          day: ref.day,
          estimateUsd,
          capUsd: microsToUsd(cap),
          spentUsd: microsToUsd(spent),
          reservedUsd: microsToUsd(liveMicros),
          remainingUsd: microsToUsd(Math.max(0, cap - spent - liveMicros)),
        };
      }

      let outcome: LlmCallOutcome<T>;
      try {
        outcome = await call({ reservationId: reservation.id, estimateUsd, day: ref.day });
      } catch (err) {
        await withDeadline('release', (signal) => update(releaseUpdate(ref, reservation), signal)).catch((releaseErr: unknown) => {
          // Already reclaimed as expired: nothing left to give back. Anything else: it expires on its own.
          if (!isConditionFailed(releaseErr)) {
            warn(JSON.stringify({ message: 'LLM reservation could not be released; it will expire', ...ref, reservationId: reservation.id, error: errorText(releaseErr) }));
          }
        });
        throw err;
      }

      let actualMicros: number;
      let costError: unknown;
      try {
        actualMicros = costMicros(request, outcome);
      } catch (err) {
        // The LLM ran and cost something unknown: count the estimate, then surface the misconfiguration.
        actualMicros = reservation.micros;
        costError = err;
      }
      const settlement = await settle(ref, reservation, actualMicros);
      emitMetric(
        emfLine(clock.now(), ref, { name: METRICS.llmSpendUsd, unit: 'None', value: microsToUsd(actualMicros) }, {
          day: ref.day,
          estimateUsd,
          reservationId: reservation.id,
          ...(model !== undefined ? { model } : {}),
        }),
      );
      if (costError !== undefined) throw costError;
      return { ok: true, value: outcome.value, costUsd: microsToUsd(actualMicros), estimateUsd, day: ref.day, reservationId: reservation.id, settlement };
    },
  };
}

let defaultBudget: LlmBudget | undefined;

/**
 * {@link LlmBudget.withLlmBudget} with a guard configured from the environment alone (no price table: calls
 * report `costUsd`, or use {@link createLlmBudget} with `prices`).
 */
export function withLlmBudget<T>(request: LlmBudgetRequest, call: (context: LlmCallContext) => Promise<LlmCallOutcome<T>>): Promise<LlmBudgetResult<T>> {
  defaultBudget ??= createLlmBudget();
  return defaultBudget.withLlmBudget(request, call);
}
