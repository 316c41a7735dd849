/**
 * Structured JSON logging for every Phasegate function, in the shape Powertools Logger writes (level, message,
 * timestamp, service, and after {@link Logger.addContext} its Lambda context keys: `cold_start`,
 * `function_request_id`, `function_name`, `function_arn`, `function_memory_size`), without its weight in the
 * bundles. Each line carries the rollout's keys (feature, stage, phase, executionId) so CloudWatch Logs Insights
 * can follow one rollout across functions. Secrets never reach the log: keys that name them are redacted, and so
 * are values that look like tokens.
 */

/** Severity of a log line. */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

const ORDER: Readonly<Record<LogLevel, number>> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40 };

/** Keys whose values are never logged. */
const SECRET_KEY = /token|secret|password|authorization|signature|private|credential|api[-_]?key/i;
/** Values that look like bearer or bot tokens, task tokens, or AWS secret keys. */
const SECRET_VALUE = /^(Bot |Bearer )|^[A-Za-z0-9_-]{24,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{27,}$|^AQ[A-Za-z0-9+/=]{80,}$/;

/** Replace secrets anywhere in a value with `[REDACTED]`. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[DEPTH]';
  if (typeof value === 'string') return SECRET_VALUE.test(value) ? '[REDACTED]' : value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: redact(value.message, depth + 1), stack: value.stack };
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[REDACTED]' : redact(v, depth + 1)]),
    );
  }
  return value;
}

/** The parts of the Lambda context a log line carries (a subset of `aws-lambda`'s `Context`). */
export interface LambdaContextLike {
  readonly awsRequestId?: string;
  readonly functionName?: string;
  readonly invokedFunctionArn?: string;
  readonly memoryLimitInMB?: string | number;
}

/** True until the first invocation of this execution environment takes it. */
let coldStart = true;

/** A logger with persistent keys. */
export class Logger {
  private readonly keys: Record<string, unknown>;
  private readonly minLevel: number;

  constructor(
    readonly service: string,
    options: { level?: LogLevel; keys?: Record<string, unknown>; write?: (line: string) => void } = {},
  ) {
    this.keys = { ...options.keys };
    const fromEnv = process.env.POWERTOOLS_LOG_LEVEL ?? process.env.LOG_LEVEL;
    const level = options.level ?? (fromEnv && fromEnv.toUpperCase() in ORDER ? (fromEnv.toUpperCase() as LogLevel) : 'INFO');
    this.minLevel = ORDER[level];
    this.write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
  }

  private readonly write: (line: string) => void;

  /** Add keys to every following line (e.g. the feature and execution of the current invocation). */
  appendKeys(keys: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(keys)) if (v !== undefined) this.keys[k] = v;
  }

  /**
   * Start an invocation: every following line carries its request id and whether it is the execution environment's
   * first (cold start), under Powertools Logger's key names. Call it first thing in each invocation.
   */
  addContext(context: LambdaContextLike | undefined): void {
    const cold = coldStart;
    coldStart = false;
    this.appendKeys({
      cold_start: cold,
      function_request_id: context?.awsRequestId,
      function_name: context?.functionName,
      function_arn: context?.invokedFunctionArn,
      function_memory_size: context?.memoryLimitInMB !== undefined ? Number(context.memoryLimitInMB) : undefined,
    });
  }

  /** Drop per-invocation keys. */
  removeKeys(names: readonly string[]): void {
    for (const k of names) delete this.keys[k];
  }

  debug(message: string, extra?: Record<string, unknown>): void {
    this.log('DEBUG', message, extra);
  }
  info(message: string, extra?: Record<string, unknown>): void {
    this.log('INFO', message, extra);
  }
  warn(message: string, extra?: Record<string, unknown>): void {
    this.log('WARN', message, extra);
  }
  error(message: string, extra?: Record<string, unknown>): void {
    this.log('ERROR', message, extra);
  }

  private log(level: LogLevel, message: string, extra?: Record<string, unknown>): void {
    if (ORDER[level] < this.minLevel) return;
    const line = {
      level,
      message,
      timestamp: new Date().toISOString(),
      service: this.service,
      ...(process.env._X_AMZN_TRACE_ID ? { xray_trace_id: process.env._X_AMZN_TRACE_ID.split(';')[0]?.replace('Root=', '') } : {}),
      ...this.keys,
      ...extra,
    };
    this.write(JSON.stringify(redact(line)));
  }
}

/** The rollout keys every log line of a step carries, read from whatever the payload holds. */
export function rolloutKeys(event: unknown): Record<string, unknown> {
  const e = (event ?? {}) as { plan?: { feature?: unknown; phases?: { name?: unknown }[] }; stage?: unknown; executionId?: unknown; phaseIndex?: unknown };
  const phaseIndex = typeof e.phaseIndex === 'number' ? e.phaseIndex : undefined;
  return {
    feature: typeof e.plan?.feature === 'string' ? e.plan.feature : undefined,
    stage: typeof e.stage === 'string' ? e.stage : undefined,
    executionId: typeof e.executionId === 'string' ? e.executionId : undefined,
    phase: phaseIndex !== undefined ? e.plan?.phases?.[phaseIndex]?.name : undefined,
  };
}

/**
 * Wrap a handler: one structured line when it ends (with its duration and outcome), the Lambda context's keys
 * (request id, cold start) and the rollout's keys on every line, and errors logged with their name (the name Step
 * Functions routes on).
 */
export function withLogging<E, R>(
  logger: Logger,
  handler: (event: E) => Promise<R>,
  keysOf: (event: E) => Record<string, unknown> = rolloutKeys,
): (event: E, context?: LambdaContextLike) => Promise<R> {
  return async (event: E, context?: LambdaContextLike) => {
    logger.addContext(context);
    const keys = keysOf(event);
    logger.appendKeys(keys);
    const started = Date.now();
    try {
      const result = await handler(event);
      logger.info('step finished', { ms: Date.now() - started });
      return result;
    } catch (err) {
      const e = err as Error;
      logger.error('step failed', { ms: Date.now() - started, error: { name: e.name, message: e.message } });
      throw err;
    } finally {
      logger.removeKeys(Object.keys(keys));
    }
  };
}
