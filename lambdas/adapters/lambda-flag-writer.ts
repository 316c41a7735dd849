import {
  GetFunctionConfigurationCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
  type FunctionConfiguration,
} from '@aws-sdk/client-lambda';
import { mergeEnvironment, restoreEnvironment } from '../core/env-merge';
import { EnvLimitError, FlagWriteError, TransientError } from '../core/errors';
import type { FlagWriteReport, FlagWriter, TargetWriteResult } from '../core/ports';
import { backoffMs, errorMessage, errorName, isTransient, sleep as realSleep } from './aws-errors';

/** Tuning for {@link LambdaFlagWriter}; the defaults suit the real service. */
export interface LambdaFlagWriterOptions {
  /** Attempts per target for conflicts and throttling before giving up. @default 6 */
  readonly maxAttempts?: number;
  /** First backoff step in ms (doubles per attempt, full jitter). @default 200 */
  readonly backoffBaseMs?: number;
  /** How long to wait for `LastUpdateStatus: Successful` after an update. @default 60 s */
  readonly settleTimeoutMs?: number;
  /** Poll interval while waiting for the update to settle. @default 250 */
  readonly pollMs?: number;
  /** Injected sleep, so tests and benchmarks need not wait for real. */
  readonly sleep?: (ms: number) => Promise<void>;
}

interface TargetChange {
  readonly functionName: string;
  /** Values before the write of each variable that changed; undefined: it did not exist. */
  readonly before: Record<string, string | undefined>;
}

class TargetError extends Error {
  constructor(
    readonly functionName: string,
    message: string,
    readonly transient: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Writes flags into target functions' environment through the Lambda configuration API: read the
 * configuration, merge Phasegate's variables over the existing ones, update with the `RevisionId` just read
 * (a stale one fails and is retried with a fresh read), then wait until `LastUpdateStatus` is Successful.
 */
export class LambdaFlagWriter implements FlagWriter {
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly settleTimeoutMs: number;
  private readonly pollMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly lambda: LambdaClient = new LambdaClient({}),
    options: LambdaFlagWriterOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 6;
    this.backoffBaseMs = options.backoffBaseMs ?? 200;
    this.settleTimeoutMs = options.settleTimeoutMs ?? 60_000;
    this.pollMs = options.pollMs ?? 250;
    this.sleep = options.sleep ?? realSleep;
  }

  async applyAll(targets: readonly string[], values: Readonly<Record<string, string>>): Promise<FlagWriteReport> {
    const started = Date.now();
    const outcomes = await Promise.allSettled(targets.map((t) => this.writeTarget(t, values)));
    const changes = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.change] : []));
    const failures = outcomes.flatMap((o, i) =>
      o.status === 'rejected' ? [{ functionName: targets[i]!, error: errorMessage(o.reason), reason: o.reason as unknown }] : [],
    );
    if (failures.length === 0) {
      return { results: outcomes.map((o) => (o as PromiseFulfilledResult<{ result: TargetWriteResult }>).value.result), ms: Date.now() - started };
    }

    // All or nothing: put the targets that did change back the way they were, in parallel.
    const reverts = await Promise.allSettled(changes.filter((c) => Object.keys(c.before).length > 0).map((c) => this.revertTarget(c)));
    const revertFailures = reverts.flatMap((r) => (r.status === 'rejected' ? [errorMessage(r.reason)] : []));
    const summary = failures.map((f) => `${f.functionName}: ${f.error}`).join('; ');
    const reverted = revertFailures.length === 0 ? 'targets already changed were put back' : `putting back failed too: ${revertFailures.join('; ')}`;
    const first = failures[0]!.reason;
    if (first instanceof EnvLimitError) throw first;
    const allTransient = failures.every((f) => f.reason instanceof TargetError && f.reason.transient);
    if (allTransient && revertFailures.length === 0) {
      throw new TransientError(`flag write did not finish (${summary}); ${reverted}`, { cause: first });
    }
    throw new FlagWriteError(`flag write failed (${summary}); ${reverted}`, failures.map(({ functionName, error }) => ({ functionName, error })), {
      cause: first,
    });
  }

  async forceAll(targets: readonly string[], values: Readonly<Record<string, string>>): Promise<FlagWriteReport> {
    const started = Date.now();
    const results = await Promise.all(
      targets.map(async (functionName): Promise<TargetWriteResult> => {
        const t0 = Date.now();
        try {
          return (await this.writeTarget(functionName, values)).result;
        } catch (err) {
          return { functionName, ok: false, changed: [], error: errorMessage(err), ms: Date.now() - t0 };
        }
      }),
    );
    return { results, ms: Date.now() - started };
  }

  /** Write one target, retrying conflicts (fresh read each time) and throttling with backoff. */
  private async writeTarget(
    functionName: string,
    values: Readonly<Record<string, string>>,
  ): Promise<{ result: TargetWriteResult; change: TargetChange }> {
    const t0 = Date.now();
    let lastError: unknown;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (attempt > 0) await this.sleep(backoffMs(attempt - 1, this.backoffBaseMs, 5_000));
      try {
        const config = await this.readSettled(functionName);
        const existing = config.Environment?.Variables ?? {};
        const merge = mergeEnvironment(functionName, existing, values);
        const before = Object.fromEntries(merge.changed.map((name) => [name, existing[name]]));
        if (merge.changed.length > 0) {
          await this.lambda.send(
            new UpdateFunctionConfigurationCommand({
              FunctionName: functionName,
              Environment: { Variables: merge.variables },
              RevisionId: config.RevisionId,
            }),
          );
          await this.readSettled(functionName);
        }
        return {
          result: { functionName, ok: true, changed: merge.changed, ms: Date.now() - t0 },
          change: { functionName, before },
        };
      } catch (err) {
        if (err instanceof EnvLimitError) throw err;
        if (err instanceof TargetError && !err.transient) throw err;
        // ResourceConflictException: somebody else updated the function (stale RevisionId) or an update is
        // still in progress. Both clear up on a fresh read.
        if (errorName(err) === 'ResourceConflictException' || isTransient(err) || (err instanceof TargetError && err.transient)) {
          lastError = err;
          continue;
        }
        throw new TargetError(functionName, `${errorName(err)}: ${errorMessage(err)}`, false, { cause: err });
      }
    }
    throw new TargetError(functionName, `gave up after ${this.maxAttempts} attempts: ${errorName(lastError)}: ${errorMessage(lastError)}`, true, {
      cause: lastError,
    });
  }

  /** Read the configuration, waiting while an update is in progress. */
  private async readSettled(functionName: string): Promise<FunctionConfiguration> {
    const deadline = Date.now() + this.settleTimeoutMs;
    for (;;) {
      const config = await this.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
      if (config.LastUpdateStatus === 'Failed') {
        throw new TargetError(functionName, `last update failed: ${config.LastUpdateStatusReason ?? 'no reason given'}`, false);
      }
      if (config.LastUpdateStatus !== 'InProgress') return config;
      if (Date.now() >= deadline) {
        throw new TargetError(functionName, `update still in progress after ${this.settleTimeoutMs} ms`, true);
      }
      await this.sleep(this.pollMs);
    }
  }

  /** Put the variables a write changed back to what they were (removing those it added). */
  private async revertTarget(change: TargetChange): Promise<void> {
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (attempt > 0) await this.sleep(backoffMs(attempt - 1, this.backoffBaseMs, 5_000));
      try {
        const config = await this.readSettled(change.functionName);
        const variables = restoreEnvironment(config.Environment?.Variables ?? {}, change.before);
        await this.lambda.send(
          new UpdateFunctionConfigurationCommand({
            FunctionName: change.functionName,
            Environment: { Variables: variables },
            RevisionId: config.RevisionId,
          }),
        );
        await this.readSettled(change.functionName);
        return;
      } catch (err) {
        if (errorName(err) === 'ResourceConflictException' || isTransient(err)) continue;
        throw new Error(`${change.functionName}: ${errorMessage(err)}`, { cause: err });
      }
    }
    throw new Error(`${change.functionName}: could not be put back after ${this.maxAttempts} attempts`);
  }
}
