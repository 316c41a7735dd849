import { ERROR_NAMES } from './contract';

/**
 * Typed errors. Each sets `name` to a value of {@link ERROR_NAMES}, which is what the Lambda runtime reports as
 * the error type and what the state machine's Retry/Catch `ErrorEquals` match on.
 */
export abstract class PhasegateError extends Error {
  protected constructor(name: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

/** A throttled or otherwise transient AWS call. Step Functions retries it with backoff. */
export class TransientError extends PhasegateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_NAMES.transient, message, options);
  }
}

/** A conditional write lost a race: somebody else changed the item first. Retried after a fresh read. */
export class ConflictError extends PhasegateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ERROR_NAMES.conflict, message, options);
  }
}

/** This execution no longer owns the rollout, so it must stop without changing anything. */
export class StaleExecutionError extends PhasegateError {
  constructor(message: string) {
    super(ERROR_NAMES.staleExecution, message);
  }
}

/** Another rollout of the feature is active; starting a second one would fight over the same flags. */
export class RolloutActiveError extends PhasegateError {
  constructor(readonly feature: string, readonly activeExecutionId: string) {
    super(ERROR_NAMES.rolloutActive, `feature "${feature}" already has an active rollout (${activeExecutionId})`);
  }
}

/** A person rejected the phase. Sent to Step Functions as the task failure's error name. */
export class ApprovalRejectedError extends PhasegateError {
  constructor(message: string) {
    super(ERROR_NAMES.approvalRejected, message);
  }
}

/** A plan failed validation. `problems` lists every problem as `path: message`. */
export class PlanInvalidError extends PhasegateError {
  constructor(readonly problems: readonly string[], source = 'rollout plan') {
    super(ERROR_NAMES.planInvalid, `${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** A flag write would push a function's environment past Lambda's 4 KB limit. */
export class EnvLimitError extends PhasegateError {
  constructor(readonly functionName: string, readonly bytes: number, readonly limit: number) {
    super(
      ERROR_NAMES.envLimit,
      `writing Phasegate's flags to ${functionName} would make its environment ${bytes} bytes, over Lambda's ${limit}-byte limit`,
    );
  }
}

/**
 * A rollback ran out of time with targets not yet safe (in progress, throttled). Its progress is recorded; the state
 * machine retries the `Roll back` step, which continues where it stopped.
 */
export class RollbackIncompleteError extends PhasegateError {
  constructor(message: string) {
    super(ERROR_NAMES.rollbackIncomplete, message);
  }
}

/** Writing flags failed on at least one target; the targets already changed were put back. */
export class FlagWriteError extends PhasegateError {
  constructor(
    message: string,
    readonly failures: readonly { functionName: string; error: string }[],
    options?: { cause?: unknown },
  ) {
    super(ERROR_NAMES.flagWrite, message, options);
  }
}

/**
 * A request that the caller may not make or that does not fit the rollout's current state (not pending, wrong
 * phase, not an approver). Never routed by Step Functions: the Discord handler and the CLI show its message.
 */
export class RefusedError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'NOT_PENDING' | 'STALE' | 'FORBIDDEN' | 'ALREADY_DECIDED' | 'INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'PhasegateRefusedError';
  }
}
