import {
  GetAliasCommand,
  GetFunctionCommand,
  LambdaClient,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
  type FunctionConfiguration,
} from '@aws-sdk/client-lambda';
import { parseTarget } from '../core/flags/target';
import { mergeEnvironment, restoreEnvironment } from '../core/flags/env-merge';
import { EnvLimitError, FlagWriteError, TransientError } from '../core/errors';
import type { FlagWriteOptions, FlagWriteReport, FlagWriter, ForceWriteOptions, TargetInspection, TargetWriteResult } from '../core/ports';
import { backoffMs, errorMessage, errorName, isTransient, sleep as realSleep } from './aws-errors';
import { LambdaCallScheduler, QuotaDeadlineError, type CallPriority, type RollbackActivity } from './lambda-call-scheduler';

/** Tuning for {@link LambdaFlagWriter}; the defaults suit the real service. */
export interface LambdaFlagWriterOptions {
  /**
   * Paces every Lambda call under the account's quotas. One per function (execution environment), as on AWS.
   * @default - a new scheduler with the real quotas, holding applies while `rollbackActivity` says a rollback runs
   */
  readonly scheduler?: LambdaCallScheduler;
  /**
   * Marks a rollback active while {@link LambdaFlagWriter.forceAll} runs, so applies in other functions yield.
   * @default - no marker
   */
  readonly rollbackActivity?: RollbackActivity;
  /** How long a write may take when the caller gives no deadline. @default 60 s */
  readonly settleTimeoutMs?: number;
  /** Poll interval while an update is in progress (4x after the first 3 s). @default 250 */
  readonly pollMs?: number;
  /** Stale-RevisionId retries (412) of one target before it is reported pending. @default 20 */
  readonly maxConflicts?: number;
  /** Times Phasegate's own update of a target may end `Failed` before the target is reported failed. @default 3 */
  readonly maxFailedUpdates?: number;
  /** First backoff step in ms for server errors (doubles per attempt, full jitter). @default 200 */
  readonly backoffBaseMs?: number;
  /** Injected sleep for polls and backoff, so tests and benchmarks need not wait for real. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Injected clock (epoch ms). @default Date.now */
  readonly now?: () => number;
}

interface TargetChange {
  readonly functionName: string;
  /** Values before the write of each variable that changed; undefined: it did not exist. */
  readonly before: Record<string, string | undefined>;
  /** For an alias target: the version the alias pointed to before; putting back moves it there again. */
  readonly aliasVersion?: string;
}

/** Configuration that must be the same in `$LATEST` and the alias's version before publishing: publishing never releases code. */
const RELEASED_FIELDS = ['CodeSha256', 'Runtime', 'Handler', 'MemorySize', 'Timeout', 'Role'] as const;

/** How one target's write ended when it did not succeed. */
class TargetError extends Error {
  constructor(
    readonly functionName: string,
    message: string,
    /** Not finished yet (in progress, throttled, racing another writer): a later attempt may finish it. */
    readonly pending: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Values before Phasegate's update, when one was made before the write stopped: an all-or-nothing apply puts them back. */
  before?: Record<string, string | undefined>;
}

/** Lambda's `LastModified` (`2026-11-02T09:00:00.000+0000`) as ISO 8601. */
function lambdaTime(value: string): string {
  const t = Date.parse(value.replace(/\+0000$/, 'Z'));
  return Number.isFinite(t) ? new Date(t).toISOString() : value;
}

/** How long updates are polled at the fast interval before backing off. */
const SETTLE_FAST_POLL_MS = 3_000;

/** The heartbeat of the rollback marker: written this often, valid for three times as long. */
const MARKER_HEARTBEAT_MS = 10_000;

/**
 * Writes flags into target functions' environment through the Lambda API, every call paced by a
 * {@link LambdaCallScheduler}. A target costs one control-plane call: it is read with GetFunction (its own 100 req/s
 * quota; the configuration is the same as GetFunctionConfiguration's), updated with UpdateFunctionConfiguration
 * conditional on the RevisionId just read (the update replaces the whole variable map, so the read is needed; a stale
 * RevisionId fails with 412 and is retried with a fresh read), then polled with GetFunction until `LastUpdateStatus`
 * leaves InProgress. A target whose earlier, unrelated update ended Failed still gets written: that status only says
 * the previous configuration is still in force. Every write is bounded by a deadline; what is not done by then is
 * reported pending with its reason, never waited on past it.
 */
export class LambdaFlagWriter implements FlagWriter {
  readonly scheduler: LambdaCallScheduler;
  private readonly activity?: RollbackActivity;
  private readonly settleTimeoutMs: number;
  private readonly pollMs: number;
  private readonly maxConflicts: number;
  private readonly maxFailedUpdates: number;
  private readonly backoffBaseMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly lambda: LambdaClient = new LambdaClient({}),
    options: LambdaFlagWriterOptions = {},
  ) {
    this.activity = options.rollbackActivity;
    // A writer on injected time paces its calls on the same time; one with only an injected sleep (a no-op in tests)
    // keeps real time for pacing, so the scheduler never spins.
    this.scheduler =
      options.scheduler ??
      new LambdaCallScheduler({ rollbackActivity: options.rollbackActivity, ...(options.now ? { now: options.now, ...(options.sleep ? { sleep: options.sleep } : {}) } : {}) });
    this.settleTimeoutMs = options.settleTimeoutMs ?? 60_000;
    this.pollMs = options.pollMs ?? 250;
    this.maxConflicts = options.maxConflicts ?? 20;
    this.maxFailedUpdates = options.maxFailedUpdates ?? 3;
    this.backoffBaseMs = options.backoffBaseMs ?? 200;
    this.sleep = options.sleep ?? realSleep;
    this.now = options.now ?? Date.now;
  }

  async applyAll(targets: readonly string[], values: Readonly<Record<string, string>>, options: FlagWriteOptions = {}): Promise<FlagWriteReport> {
    const started = this.now();
    const deadline = this.deadlineOf(options);
    const outcomes = await Promise.allSettled(targets.map((t) => this.writeTarget(t, values, 'apply', deadline, [])));
    // Targets done, and targets updated before their write stopped (their update may still land): both are put back.
    const changes = outcomes.flatMap((o, i) =>
      o.status === 'fulfilled' ? [o.value.change] : o.reason instanceof TargetError && o.reason.before ? [{ functionName: targets[i]!, before: o.reason.before }] : [],
    );
    const failures = outcomes.flatMap((o, i) =>
      o.status === 'rejected' ? [{ functionName: targets[i]!, error: errorMessage(o.reason), reason: o.reason as unknown }] : [],
    );
    if (failures.length === 0) {
      return { results: outcomes.map((o) => (o as PromiseFulfilledResult<{ result: TargetWriteResult }>).value.result), ms: this.now() - started };
    }

    // All or nothing: put the targets that did change back the way they were, in parallel, first in line for the quota.
    const revertDeadline = Math.max(deadline, this.now() + 30_000);
    const reverts = await Promise.allSettled(
      changes.filter((c) => Object.keys(c.before).length > 0).map((c) => this.revertTarget(c, revertDeadline)),
    );
    const revertFailures = reverts.flatMap((r) => (r.status === 'rejected' ? [errorMessage(r.reason)] : []));
    const summary = failures.map((f) => `${f.functionName}: ${f.error}`).join('; ');
    const reverted = revertFailures.length === 0 ? 'targets already changed were put back' : `putting back failed too: ${revertFailures.join('; ')}`;
    const first = failures[0]!.reason;
    if (first instanceof EnvLimitError) throw first;
    const allPending = failures.every((f) => f.reason instanceof TargetError && f.reason.pending);
    if (allPending && revertFailures.length === 0) {
      throw new TransientError(`flag write did not finish (${summary}); ${reverted}`, { cause: first });
    }
    throw new FlagWriteError(`flag write failed (${summary}); ${reverted}`, failures.map(({ functionName, error }) => ({ functionName, error })), {
      cause: first,
    });
  }

  async inspect(targets: readonly string[]): Promise<TargetInspection[]> {
    const deadline = this.now() + this.settleTimeoutMs;
    return Promise.all(
      targets.map(async (target): Promise<TargetInspection> => {
        try {
          const config = await this.getFunction(target, 'apply', deadline);
          return {
            target,
            ok: true,
            variables: { ...(config.Environment?.Variables ?? {}) },
            ...(config.LastModified ? { lastModified: lambdaTime(config.LastModified) } : {}),
            ...(config.LastUpdateStatus ? { lastUpdateStatus: config.LastUpdateStatus } : {}),
            ...(config.Version && config.Version !== '$LATEST' ? { version: config.Version } : {}),
          };
        } catch (err) {
          return { target, ok: false, error: `${errorName(err)}: ${errorMessage(err)}` };
        }
      }),
    );
  }

  async forceAll(targets: readonly string[], values: Readonly<Record<string, string>>, options: ForceWriteOptions = {}): Promise<FlagWriteReport> {
    const started = this.now();
    const deadline = this.deadlineOf(options);
    const stopMarker = this.keepMarked();
    try {
      const results = await Promise.all(
        targets.map(async (functionName): Promise<TargetWriteResult> => {
          const t0 = this.now();
          try {
            return (await this.writeTarget(functionName, values, 'rollback', deadline, options.absentIsSafe ?? [])).result;
          } catch (err) {
            const pending = !(err instanceof EnvLimitError) && (!(err instanceof TargetError) || err.pending);
            return { functionName, ok: false, changed: [], error: errorMessage(err), ms: this.now() - t0, pending };
          }
        }),
      );
      return { results, ms: this.now() - started };
    } finally {
      await stopMarker();
    }
  }

  private deadlineOf(options: FlagWriteOptions): number {
    return options.deadline ? options.deadline.getTime() : this.now() + this.settleTimeoutMs;
  }

  /** Mark a rollback active (and keep it marked) until the returned function is called. */
  private keepMarked(): () => Promise<void> {
    const activity = this.activity;
    if (!activity) return async () => undefined;
    let until = this.now() + 3 * MARKER_HEARTBEAT_MS;
    let stopped = false;
    const mark = async (): Promise<void> => {
      try {
        await activity.markActive(until);
      } catch {
        // Advisory: without the marker, applies elsewhere still back off on 429s.
      }
    };
    const marked = mark();
    const beat = setInterval(() => {
      if (stopped) return;
      until = this.now() + 3 * MARKER_HEARTBEAT_MS;
      void mark();
    }, MARKER_HEARTBEAT_MS);
    beat.unref?.();
    return async () => {
      stopped = true;
      clearInterval(beat);
      await marked;
      try {
        await activity.clear(until);
      } catch {
        // It expires on its own.
      }
    };
  }

  private getFunction(functionName: string, priority: CallPriority, deadline: number): Promise<FunctionConfiguration> {
    return this.scheduler
      .call('get-function', priority, () => this.lambda.send(new GetFunctionCommand({ FunctionName: functionName })), { deadline })
      .then((out) => {
        if (!out.Configuration) throw new Error(`GetFunction returned no configuration for ${functionName}`);
        return out.Configuration;
      });
  }

  /**
   * Write one target: read, update conditional on the RevisionId, wait for the update to leave InProgress. Retries
   * a stale RevisionId, an update in progress (somebody else's, or a stuck one), server errors and Phasegate's own
   * update ending Failed, until `deadline`. Throws a pending {@link TargetError} at the deadline and a final one for
   * errors no retry fixes (no permission, no such function, an invalid environment).
   */
  private async writeTarget(
    functionName: string,
    values: Readonly<Record<string, string>>,
    priority: CallPriority,
    deadline: number,
    absentIsSafe: readonly string[],
  ): Promise<{ result: TargetWriteResult; change: TargetChange }> {
    const ref = parseTarget(functionName);
    if (ref.alias !== undefined) return this.writeAliasTarget(functionName, ref.functionName, ref.alias, values, priority, deadline, absentIsSafe);
    const t0 = this.now();
    let conflicts = 0;
    let failedUpdates = 0;
    let serverErrors = 0;
    let lastReason = 'not started';
    let changed: readonly string[] = [];
    let before: Record<string, string | undefined> = {};
    const pendingError = (): TargetError => new TargetError(functionName, `not safe yet when the deadline came: ${lastReason}`, true);
    try {
      for (;;) {
        if (this.now() >= deadline) throw pendingError();
        let config = await this.getFunction(functionName, priority, deadline);
        if (config.LastUpdateStatus === 'InProgress') {
          lastReason = `an update of ${functionName} is in progress (since ${config.LastModified ?? 'an unknown time'})`;
          config = await this.untilSettled(functionName, priority, deadline, () => lastReason);
        }
        const existing = config.Environment?.Variables ?? {};
        // A variable the target does not have reads as off: a rollback to off need not add it (and must not push
        // an environment that never got the flags over the 4 KB limit).
        const wanted = Object.fromEntries(Object.entries(values).filter(([name]) => !(absentIsSafe.includes(name) && existing[name] === undefined)));
        const merge = mergeEnvironment(functionName, existing, wanted);
        if (merge.changed.length === 0) {
          return { result: { functionName, ok: true, changed, ms: this.now() - t0 }, change: { functionName, before } };
        }
        const beforeThis = Object.fromEntries(merge.changed.map((name) => [name, existing[name]]));
        try {
          await this.scheduler.call(
            'control-plane',
            priority,
            () =>
              this.lambda.send(
                new UpdateFunctionConfigurationCommand({ FunctionName: functionName, Environment: { Variables: merge.variables }, RevisionId: config.RevisionId }),
              ),
            { deadline },
          );
        } catch (err) {
          const name = errorName(err);
          if (name === 'PreconditionFailedException' || (name === 'ResourceConflictException' && /Revision Id/i.test(errorMessage(err)))) {
            // Race: somebody else updated the function since the read. Read again and merge over their change.
            lastReason = `its RevisionId kept changing (${conflicts + 1} concurrent writes)`;
            if (++conflicts >= this.maxConflicts) throw pendingError();
            continue;
          }
          if (name === 'ResourceConflictException') {
            lastReason = `an update of ${functionName} is in progress`;
            await this.sleep(this.pollMs);
            continue;
          }
          if (err instanceof QuotaDeadlineError) {
            lastReason = `the Lambda API quota did not allow the update in time`;
            throw pendingError();
          }
          if (isTransient(err)) {
            lastReason = `${name}: ${errorMessage(err)}`;
            await this.sleep(backoffMs(serverErrors++, this.backoffBaseMs, 5_000));
            continue;
          }
          throw new TargetError(functionName, `${name}: ${errorMessage(err)}`, false, { cause: err });
        }
        if (Object.keys(before).length === 0) before = beforeThis;
        changed = [...new Set([...changed, ...merge.changed])];
        lastReason = `Phasegate's update of ${functionName} is in progress`;
        const after = await this.untilSettled(functionName, priority, deadline, () => lastReason);
        if (after.LastUpdateStatus === 'Failed') {
          // Lambda kept the previous configuration: the flags are not in force. Write them again.
          lastReason = `the update ended Failed: ${after.LastUpdateStatusReason ?? 'no reason given'}${after.LastUpdateStatusReasonCode ? ` (${after.LastUpdateStatusReasonCode})` : ''}`;
          if (++failedUpdates >= this.maxFailedUpdates) throw new TargetError(functionName, `${lastReason}, ${failedUpdates} times`, false);
          continue;
        }
        const served = after.Environment?.Variables ?? {};
        if (Object.entries(wanted).every(([k, v]) => served[k] === v)) {
          return { result: { functionName, ok: true, changed, ms: this.now() - t0 }, change: { functionName, before } };
        }
        // Somebody else's update landed right after Phasegate's: merge again over it.
        lastReason = 'another update replaced the flags right after they were written';
      }
    } catch (err) {
      if (err instanceof EnvLimitError) throw err;
      const failure =
        err instanceof TargetError
          ? err
          : err instanceof QuotaDeadlineError
            ? ((lastReason = 'the Lambda API quota did not allow the next call in time'), pendingError())
            : new TargetError(functionName, `${errorName(err)}: ${errorMessage(err)}`, isTransient(err), { cause: err });
      if (Object.keys(before).length > 0) failure.before = before;
      throw failure;
    }
  }

  /**
   * Write an alias target (`fn:alias`): the alias's version has a frozen environment, so the flags reach the code only
   * through a new version. Read the alias (refusing a weighted one: a CodeDeploy shift in progress is never moved
   * silently), read the version it serves, check that `$LATEST` holds exactly that version's code and configuration
   * apart from Phasegate's variables (otherwise publishing would release a pending deploy: refused, saying what
   * differs), write the version's environment plus the flags to `$LATEST` (conditional on its RevisionId), wait for it,
   * publish (conditional on the code and RevisionId) and move the alias (conditional on its RevisionId). Costs four
   * control-plane calls; a lost race on any of them starts over from a fresh read.
   */
  private async writeAliasTarget(
    target: string,
    fn: string,
    alias: string,
    values: Readonly<Record<string, string>>,
    priority: CallPriority,
    deadline: number,
    absentIsSafe: readonly string[],
  ): Promise<{ result: TargetWriteResult; change: TargetChange }> {
    const t0 = this.now();
    let lastReason = 'not started';
    let races = 0;
    let failedUpdates = 0;
    let original: string | undefined;
    let changed: readonly string[] = [];
    const pendingError = (): TargetError => new TargetError(target, `not safe yet when the deadline came: ${lastReason}`, true);
    const control = <T>(send: () => Promise<T>): Promise<T> => this.scheduler.call('control-plane', priority, send, { deadline });
    const isRace = (err: unknown): boolean => ['PreconditionFailedException', 'ResourceConflictException'].includes(errorName(err));
    try {
      for (;;) {
        if (this.now() >= deadline) throw pendingError();
        if (races >= this.maxConflicts) throw pendingError();
        const aliasCfg = await control(() => this.lambda.send(new GetAliasCommand({ FunctionName: fn, Name: alias })));
        const weights = aliasCfg.RoutingConfig?.AdditionalVersionWeights ?? {};
        if (Object.keys(weights).length > 0) {
          const shift = Object.entries(weights).map(([v, w]) => `${Math.round(w * 1000) / 10} % to version ${v}`).join(', ');
          throw new TargetError(
            target,
            `alias ${alias} of ${fn} has a weighted routing config (${shift}; the rest to version ${aliasCfg.FunctionVersion}): a traffic shift ` +
              `(CodeDeploy) is in progress, and Phasegate never moves such an alias. Finish or roll back the shift, then run again.`,
            false,
          );
        }
        const version = aliasCfg.FunctionVersion ?? '$LATEST';
        original ??= version;
        // Read through the alias (the IAM grant is on the alias): it must still point where GetAlias said.
        const served = await this.getFunction(`${fn}:${alias}`, priority, deadline);
        if (served.Version !== version) {
          lastReason = `alias ${alias} of ${fn} moved while Phasegate was reading it`;
          races++;
          continue;
        }
        const existing = served.Environment?.Variables ?? {};
        const wanted = Object.fromEntries(Object.entries(values).filter(([name]) => !(absentIsSafe.includes(name) && existing[name] === undefined)));
        const merge = mergeEnvironment(target, existing, wanted);
        if (merge.changed.length === 0) {
          return { result: { functionName: target, ok: true, changed, ms: this.now() - t0 }, change: { functionName: target, before: {}, aliasVersion: original } };
        }
        let latest = await this.getFunction(fn, priority, deadline);
        if (latest.LastUpdateStatus === 'InProgress') {
          lastReason = `an update of ${fn} is in progress`;
          latest = await this.untilSettled(fn, priority, deadline, () => lastReason);
        }
        const differences = unreleasedDifferences(latest, served, Object.keys(values));
        if (differences.length > 0) {
          throw new TargetError(
            target,
            `refusing to publish ${fn}: $LATEST differs from version ${version} that alias ${alias} serves (${differences.join('; ')}). ` +
              `A deploy of ${fn} is pending release; publishing would release it with the flags. Release or revert it, then run again.`,
            false,
          );
        }
        try {
          await control(() =>
            this.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: fn, Environment: { Variables: merge.variables }, RevisionId: latest.RevisionId })),
          );
        } catch (err) {
          if (!isRace(err)) throw err;
          lastReason = `${fn} changed while the flags were being written (${errorName(err)})`;
          races++;
          await this.sleep(this.pollMs);
          continue;
        }
        lastReason = `Phasegate's update of ${fn} is in progress`;
        const after = await this.untilSettled(fn, priority, deadline, () => lastReason);
        if (after.LastUpdateStatus === 'Failed') {
          lastReason = `the update ended Failed: ${after.LastUpdateStatusReason ?? 'no reason given'}`;
          if (++failedUpdates >= this.maxFailedUpdates) throw new TargetError(target, `${lastReason}, ${failedUpdates} times`, false);
          continue;
        }
        let published: FunctionConfiguration;
        try {
          published = await control(() =>
            this.lambda.send(new PublishVersionCommand({ FunctionName: fn, CodeSha256: served.CodeSha256, RevisionId: after.RevisionId, Description: 'Phasegate: flags' })),
          );
        } catch (err) {
          // Somebody changed $LATEST (or its code) since: start over, and the check above decides again.
          if (!isRace(err) && errorName(err) !== 'InvalidParameterValueException') throw err;
          lastReason = `${fn} changed before its new version could be published (${errorName(err)})`;
          races++;
          continue;
        }
        try {
          await control(() =>
            this.lambda.send(new UpdateAliasCommand({ FunctionName: fn, Name: alias, FunctionVersion: published.Version, RevisionId: aliasCfg.RevisionId })),
          );
        } catch (err) {
          if (!isRace(err)) throw err;
          // Race: somebody moved the alias since it was read (a deploy). Start over from what it serves now.
          lastReason = `alias ${alias} of ${fn} moved while Phasegate was moving it (${errorName(err)})`;
          races++;
          continue;
        }
        changed = [...new Set([...changed, ...merge.changed])];
        return {
          result: { functionName: target, ok: true, changed, ms: this.now() - t0 },
          change: { functionName: target, before: Object.fromEntries(merge.changed.map((n) => [n, existing[n]])), aliasVersion: original },
        };
      }
    } catch (err) {
      if (err instanceof TargetError || err instanceof EnvLimitError) throw err;
      if (err instanceof QuotaDeadlineError) {
        lastReason = 'the Lambda API quota did not allow the next call in time';
        throw pendingError();
      }
      throw new TargetError(target, `${errorName(err)}: ${errorMessage(err)}`, isTransient(err), { cause: err });
    }
  }

  /** Poll GetFunction until the update is no longer InProgress; a pending {@link TargetError} at the deadline. */
  private async untilSettled(functionName: string, priority: CallPriority, deadline: number, reason: () => string): Promise<FunctionConfiguration> {
    const started = this.now();
    for (let polls = 0; ; polls++) {
      // Every pollMs for the first seconds (an update usually settles within them), then backing off to 4x.
      const slow = this.now() - started >= SETTLE_FAST_POLL_MS;
      const wait = Math.min(slow ? this.pollMs * 4 : this.pollMs, Math.max(0, deadline - this.now()));
      if (this.now() + wait >= deadline && polls > 0) throw new TargetError(functionName, `not safe yet when the deadline came: ${reason()}`, true);
      await this.sleep(wait);
      const config = await this.getFunction(functionName, priority, deadline);
      if (config.LastUpdateStatus !== 'InProgress') return config;
    }
  }

  /** Put the variables a write changed back to what they were (removing those it added). */
  private async revertTarget(change: TargetChange, deadline: number): Promise<void> {
    const ref = parseTarget(change.functionName);
    if (ref.alias !== undefined) {
      // The alias goes back to the version it served; that version's environment is as it was.
      if (change.aliasVersion === undefined) return;
      await this.scheduler.call(
        'control-plane',
        'rollback',
        () => this.lambda.send(new UpdateAliasCommand({ FunctionName: ref.functionName, Name: ref.alias, FunctionVersion: change.aliasVersion })),
        { deadline },
      );
      return;
    }
    for (let attempt = 0; this.now() < deadline; attempt++) {
      try {
        let config = await this.getFunction(change.functionName, 'rollback', deadline);
        if (config.LastUpdateStatus === 'InProgress') config = await this.untilSettled(change.functionName, 'rollback', deadline, () => 'in progress');
        const variables = restoreEnvironment(config.Environment?.Variables ?? {}, change.before);
        await this.scheduler.call(
          'control-plane',
          'rollback',
          () => this.lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: change.functionName, Environment: { Variables: variables }, RevisionId: config.RevisionId })),
          { deadline },
        );
        const after = await this.untilSettled(change.functionName, 'rollback', deadline, () => 'in progress');
        if (after.LastUpdateStatus !== 'Failed') return;
      } catch (err) {
        const name = errorName(err);
        if (name === 'PreconditionFailedException' || name === 'ResourceConflictException' || isTransient(err)) {
          await this.sleep(backoffMs(attempt, this.backoffBaseMs, 2_000));
          continue;
        }
        if (err instanceof TargetError || err instanceof QuotaDeadlineError) break;
        throw new Error(`${change.functionName}: ${errorMessage(err)}`, { cause: err });
      }
    }
    throw new Error(`${change.functionName}: could not be put back before the deadline`);
  }
}

/**
 * What differs between `$LATEST` and the version an alias serves, apart from Phasegate's own variables: code, the
 * configuration that a version freezes, and the other environment variables. Empty when publishing `$LATEST` with the
 * flags would release nothing else.
 */
export function unreleasedDifferences(latest: FunctionConfiguration, served: FunctionConfiguration, phasegateVariables: readonly string[]): string[] {
  const differences: string[] = [];
  for (const field of RELEASED_FIELDS) {
    const a = latest[field];
    const b = served[field];
    if (a !== b) differences.push(`${field} ${String(b)} -> ${String(a)}`);
  }
  const le = latest.Environment?.Variables ?? {};
  const se = served.Environment?.Variables ?? {};
  const names = [...new Set([...Object.keys(le), ...Object.keys(se)])].filter((n) => !phasegateVariables.includes(n)).sort();
  const changedVars = names.filter((n) => le[n] !== se[n]);
  if (changedVars.length > 0) differences.push(`environment variables ${changedVars.join(', ')}`);
  return differences;
}
