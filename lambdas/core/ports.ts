import type { AuditEvent, Actor, RolloutState, Transition } from './rollout/rollout-state';

/**
 * The outside world as the domain sees it. Adapters in `lambdas/adapters/` implement these against AWS; tests
 * and the rehearsal use the same adapters against dynalite and SDK-boundary fakes.
 */

/** A decision a person can make on a phase waiting for approval. */
export type ApprovalDecision = 'approve' | 'reject';

/** Status of one approval request. */
export type ApprovalStatus = 'PENDING' | 'APPROVED' | 'REJECTED';

/** An approval request: one per execution and phase, holding the Step Functions task token. */
export interface ApprovalRecord {
  readonly feature: string;
  readonly executionId: string;
  readonly phaseIndex: number;
  readonly phaseName: string;
  readonly taskToken: string;
  readonly status: ApprovalStatus;
  readonly requestedAt: string;
  readonly decidedAt?: string;
  readonly decidedBy?: Actor;
  readonly note?: string;
  /** True once the task token was handed back to Step Functions. */
  readonly settled: boolean;
}

/**
 * A phase's bake: a task that waits for its token until the bake's time is up (the token then times out and the
 * gate decides) or until someone promotes the rollout (the token is handed back early). One per execution and phase.
 */
export interface BakeRecord {
  readonly feature: string;
  readonly executionId: string;
  readonly phaseIndex: number;
  readonly phaseName: string;
  readonly taskToken: string;
  readonly startedAt: string;
  /** Who ended the bake early, and when; absent while the bake runs its course. */
  readonly promotedBy?: Actor;
  readonly promotedAt?: string;
}

/** Persistence of rollout state, approvals and the audit trail. */
export interface RolloutStore {
  /** The feature's state, read consistently; undefined if it never started. */
  getState(feature: string): Promise<RolloutState | undefined>;
  /**
   * Persist a transition, conditional on `previous` being what is stored (same version, or nothing stored).
   * Throws `ConflictError` when another writer got there first. Also appends the transition's audit event.
   */
  saveTransition(previous: RolloutState | undefined, transition: Transition): Promise<void>;
  /** Append an audit event that is not a state transition (e.g. a refused request). */
  appendAudit(event: AuditEvent): Promise<void>;
  /** The audit trail of a feature, newest first. */
  listAudit(feature: string, limit?: number): Promise<AuditEvent[]>;
  /** Store an approval request, or replace the token of one still pending (a retried task issues a new token). */
  putApprovalRequest(request: Omit<ApprovalRecord, 'status' | 'settled'>): Promise<void>;
  /** One approval request. */
  getApproval(feature: string, executionId: string, phaseIndex: number): Promise<ApprovalRecord | undefined>;
  /**
   * Decide a pending approval. Exactly one of several concurrent callers wins; the others get a `RefusedError`
   * with code ALREADY_DECIDED naming who decided.
   */
  claimApproval(input: {
    feature: string;
    executionId: string;
    phaseIndex: number;
    decision: ApprovalDecision;
    actor: Actor;
    note?: string;
    at: string;
  }): Promise<ApprovalRecord>;
  /** Record that the token was handed back to Step Functions. */
  markApprovalSettled(feature: string, executionId: string, phaseIndex: number): Promise<void>;
  /** Store a bake's task token (a retried bake task issues a new token, which replaces the old one). */
  putBake(record: Omit<BakeRecord, 'promotedBy' | 'promotedAt'>): Promise<void>;
  /** One bake. */
  getBake(feature: string, executionId: string, phaseIndex: number): Promise<BakeRecord | undefined>;
  /**
   * Claim a bake for promotion. Exactly one of several concurrent callers wins; the others get a `RefusedError`
   * with code ALREADY_DECIDED naming who promoted.
   */
  claimBakePromotion(input: { feature: string; executionId: string; phaseIndex: number; actor: Actor; at: string }): Promise<BakeRecord>;
}

/** What happened on one target during a flag write. */
export interface TargetWriteResult {
  readonly functionName: string;
  readonly ok: boolean;
  /** Variables whose value changed. */
  readonly changed: readonly string[];
  /** Error message when not ok. */
  readonly error?: string;
  /** Milliseconds from the start of the write until the target reported `LastUpdateStatus: Successful`. */
  readonly ms: number;
  /** Whether the target was put back after another target failed. */
  readonly reverted?: boolean;
  /**
   * Not ok, but not final either: the deadline came while the target was still being updated, throttled or raced
   * (the error says why). A later attempt may finish it. Unset or false on a failure no retry fixes.
   */
  readonly pending?: boolean;
}

/** Options of a flag write. */
export interface FlagWriteOptions {
  /**
   * Stop here: a target not done by then is reported pending (rollback) or the write fails as transient (apply),
   * never waited on past it. Taken from the invocation's remaining time, so the outcome is recorded before the
   * function can time out. @default - the writer's own limit
   */
  readonly deadline?: Date;
}

/** Options of a best-effort write of safe values. */
export interface ForceWriteOptions extends FlagWriteOptions {
  /**
   * Variables that are not added to a target that lacks them: an absent flag variable reads as off, so when the
   * value being written is the off value, absent is already safe.
   */
  readonly absentIsSafe?: readonly string[];
}

/** The outcome of writing flags to every target. */
export interface FlagWriteReport {
  readonly results: readonly TargetWriteResult[];
  readonly ms: number;
}

/** What a target serves now, read for verification and drift repair. */
export interface TargetInspection {
  /** The target as the plan names it (`fn`, an ARN, or `fn:alias`). */
  readonly target: string;
  readonly ok: boolean;
  /** Why it could not be read, when not ok. */
  readonly error?: string;
  /**
   * The environment the invoked code sees: `$LATEST`'s for an unqualified target, the environment of the version an
   * alias points to for `fn:alias`.
   */
  readonly variables?: Readonly<Record<string, string>>;
  /** When the configuration that is read was last changed (ISO 8601). */
  readonly lastModified?: string;
  /** `Successful`, `InProgress` or `Failed` (of `$LATEST`). */
  readonly lastUpdateStatus?: string;
  /** For an alias target: the version it points to. */
  readonly version?: string;
}

/** Writes Phasegate's flags into the environment of target functions. */
export interface FlagWriter {
  /** Read what every target serves now (in parallel, within the same quotas as writes). A target that cannot be read is `ok: false`. */
  inspect(targets: readonly string[]): Promise<TargetInspection[]>;
  /**
   * Write `values` to every target in parallel. All-or-nothing: if a target fails, the targets already changed
   * are put back and the call throws (`FlagWriteError`, or `TransientError` after retries ran out).
   */
  applyAll(targets: readonly string[], values: Readonly<Record<string, string>>, options?: FlagWriteOptions): Promise<FlagWriteReport>;
  /**
   * Write `values` to every target in parallel, best effort: a failing target does not stop or undo the
   * others. Used by rollback, where every target that can be made safe must be; has priority over applies for the
   * account's Lambda API quota.
   */
  forceAll(targets: readonly string[], values: Readonly<Record<string, string>>, options?: ForceWriteOptions): Promise<FlagWriteReport>;
}

/** Reads CloudWatch alarm states. */
export interface AlarmReader {
  /** The named alarms that are in ALARM now, with CloudWatch's reason. Unknown names are ignored. */
  alarmsInAlarm(names: readonly string[]): Promise<{ name: string; reason: string }[]>;
}

/** Hands task tokens back to Step Functions. */
export interface TaskTokens {
  succeed(token: string, output: Record<string, unknown>): Promise<void>;
  fail(token: string, error: string, cause: string): Promise<void>;
}

/** The time, injectable so tests control it. */
export interface Clock {
  now(): Date;
}

/** The system clock. */
export const systemClock: Clock = { now: () => new Date() };

/** Something worth telling the people following a rollout (the stage's Discord channel). */
export type RolloutNotification =
  | {
      readonly kind: 'phase-started';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      readonly phase: string;
      readonly phaseIndex: number;
      readonly phases: number;
      readonly roles: readonly string[];
      readonly percent: number;
      readonly bake: string;
    }
  | {
      readonly kind: 'gate-evaluated';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      readonly phase: string;
      readonly decision: string;
      readonly reasons: readonly string[];
    }
  | {
      readonly kind: 'approval-requested';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      readonly phase: string;
      readonly phaseIndex: number;
      readonly approvers: readonly string[];
      /** The last gate's verdict, shown with the request. */
      readonly gate?: { readonly decision: string; readonly reasons: readonly string[] };
      /** Set when the gate held past its limit and a person must decide whether to go on. */
      readonly heldTooLong?: boolean;
    }
  | {
      readonly kind: 'approval-decided';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      readonly phase: string;
      readonly phaseIndex: number;
      readonly decision: ApprovalDecision;
      readonly by: Actor;
      readonly at: string;
      readonly note?: string;
    }
  | { readonly kind: 'rollout-completed'; readonly feature: string; readonly stage: string; readonly executionId: string }
  | {
      readonly kind: 'rolled-back';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      readonly reason: string;
      readonly by: Actor;
      readonly targets: readonly { functionName: string; ok: boolean; ms: number }[];
      /** Set when only one sub-feature was rolled back. */
      readonly subFeature?: string;
      /** Trigger -> every target safe, in ms. */
      readonly timeToSafeMs?: number;
    }
  | {
      readonly kind: 'rollback-in-progress';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      readonly reason: string;
      readonly by: Actor;
      /** Targets already safe. */
      readonly safeTargets: readonly string[];
      /** Targets not safe yet, and why. */
      readonly pendingTargets: readonly { functionName: string; error: string }[];
      /** Set when only one sub-feature is being rolled back. */
      readonly subFeature?: string;
      /** Since the trigger, in ms. */
      readonly elapsedMs: number;
    }
  | {
      readonly kind: 'rollback-failed';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      readonly reason: string;
      readonly failedTargets: readonly { functionName: string; error: string }[];
      /** Targets that are safe. */
      readonly safeTargets?: readonly string[];
      /** Set when only one sub-feature was being rolled back. */
      readonly subFeature?: string;
    }
  | {
      readonly kind: 'drift-repaired';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      /** Who changed the targets and how (`userIdentity` and `eventName` of the CloudTrail event), or how it was found. */
      readonly changedBy: string;
      readonly eventName?: string;
      /** Each target put back, with the variables that had drifted (value expected / value found, null when absent). */
      readonly targets: readonly { readonly target: string; readonly variables: readonly { name: string; expected: string; actual: string | null }[] }[];
      /** Targets that could not be put back yet, and why. */
      readonly failedTargets: readonly { readonly target: string; readonly error: string }[];
      /** The change (or its detection) -> the flags back, in ms. */
      readonly repairMs: number;
    }
  | {
      readonly kind: 'drift-backoff';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      readonly target: string;
      /** Repairs of the target within the window that made Phasegate back off. */
      readonly repairs: number;
      readonly windowMinutes: number;
      /** Until when drift of the target is left as it is (ISO 8601). */
      readonly until: string;
      readonly changedBy: string;
    }
  | {
      readonly kind: 'paused' | 'resumed';
      readonly feature: string;
      readonly stage: string;
      readonly executionId: string;
      readonly by: Actor;
      readonly reason?: string;
    };

/** The last change of a target's configuration that Phasegate saw from someone else (a CloudTrail event). */
export interface TargetChange {
  /** The principal that made the call (`userIdentity.arn`), with the service it went through when known. */
  readonly by: string;
  /** The CloudTrail event name without its API version (`UpdateFunctionConfiguration`). */
  readonly eventName?: string;
  /** When the call was made (ISO 8601). */
  readonly at: string;
}

/**
 * Drift bookkeeping of one target of one feature: the repairs Phasegate made lately and whether it is backing off
 * a target that keeps drifting. Every write is conditional on the `version` read.
 */
export interface DriftRecord {
  readonly feature: string;
  readonly target: string;
  /** 0 for a record not stored yet; incremented by every write. */
  readonly version: number;
  /** When each repair since the last back-off was made (ISO 8601), oldest first. */
  readonly repairs: readonly string[];
  /** How many back-offs in a row (0: not backing off); each doubles the wait. */
  readonly backoffLevel: number;
  /** Drift is left alone until then (ISO 8601). */
  readonly backoffUntil?: string;
  /** When the channel was told that Phasegate backs off this target (once per streak). */
  readonly announcedAt?: string;
  readonly lastChange?: TargetChange;
}

/** Persistence of {@link DriftRecord}s (the state table). */
export interface DriftLedger {
  /** The record of a target, read consistently; undefined when none was stored. */
  get(feature: string, target: string): Promise<DriftRecord | undefined>;
  /**
   * Store `next` (whose version is `previous.version + 1`, or 1), conditional on `previous` being what is stored.
   * Throws `ConflictError` when another reconcile wrote first.
   */
  put(previous: DriftRecord | undefined, next: DriftRecord): Promise<void>;
}

/** Tells people what happened. Best effort: a failed notification never fails the rollout step. */
export interface Notifier {
  notify(notification: RolloutNotification): Promise<void>;
}

/** Says nothing: the default where no channel is configured. */
export const silentNotifier: Notifier = { notify: async () => undefined };

/** Send a notification, logging instead of failing when the channel is down. */
export async function notifySafely(notifier: Notifier | undefined, notification: RolloutNotification): Promise<void> {
  if (!notifier) return;
  try {
    await notifier.notify(notification);
  } catch (err) {
    console.warn(JSON.stringify({ message: 'notification failed', kind: notification.kind, feature: notification.feature, error: (err as Error).message }));
  }
}

/** Starts rollout executions (Step Functions StartExecution on the feature's state machine). */
export interface RolloutStarter {
  /** `startAt`: the phase index the execution starts at (the phases before it are skipped). @default 0 */
  start(feature: string, input: { actor: Actor; startAt?: number }): Promise<{ executionId: string }>;
}

/** Where the LLM cap in force for a day came from: the plan (through the target's cap variable) or an admin. */
export type LlmBudgetCapSource = 'plan' | 'admin';

/** An amount reserved against a day's LLM budget by a call in flight, or left behind by one that crashed. */
export interface LlmReservation {
  readonly id: string;
  /** Micro-dollars (1 USD = 1,000,000). */
  readonly micros: number;
  /** Epoch milliseconds. */
  readonly reservedAt: number;
  /** Epoch milliseconds from which the reservation no longer counts and may be reclaimed. */
  readonly expiresAt: number;
  readonly model?: string;
}

/** An admin's change of a day's cap. */
export interface LlmBudgetCapChange {
  readonly by: Actor;
  readonly at: string;
  readonly reason: string;
  readonly previousCapMicros: number;
}

/**
 * One sub-feature's LLM budget for one UTC day, as stored. Amounts are integer micro-dollars, so concurrent
 * additions stay exact. Every write keeps `remainingMicros = capMicros - spentMicros - reservedMicros`.
 */
export interface LlmBudgetDay {
  readonly feature: string;
  readonly subFeature: string;
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string;
  /** The cap in force for the day. */
  readonly capMicros: number;
  /** The plan's cap as known when the day's record was created. */
  readonly planCapMicros: number;
  readonly capSource: LlmBudgetCapSource;
  readonly capChange?: LlmBudgetCapChange;
  readonly spentMicros: number;
  /** Every reservation still held, live or expired but not yet reclaimed. */
  readonly reservedMicros: number;
  readonly remainingMicros: number;
  /** Settled calls. */
  readonly calls: number;
  /** Calls settled after their reservation had expired and been reclaimed. */
  readonly lateSettles: number;
  /** Reservations given back by calls that threw. */
  readonly released: number;
  /** Expired reservations reclaimed. */
  readonly expiredReclaimed: number;
  readonly reservations: readonly LlmReservation[];
}

/** Persistence of LLM budgets (the runtime guard writes the same records from the target functions). */
export interface LlmBudgetStore {
  /** A sub-feature's budget for a day, read consistently; undefined when nothing was reserved or set that day. */
  getDay(feature: string, subFeature: string, day: string): Promise<LlmBudgetDay | undefined>;
  /**
   * Set a day's cap, conditional on the cap that was read (`expectedCapMicros`, or `undefined` for "no record
   * yet"). Throws `ConflictError` when the cap changed or the record appeared in between.
   */
  setCap(input: {
    readonly feature: string;
    readonly subFeature: string;
    readonly day: string;
    readonly capMicros: number;
    readonly expectedCapMicros: number | undefined;
    readonly planCapMicros: number;
    readonly by: Actor;
    readonly at: string;
    readonly reason: string;
  }): Promise<LlmBudgetDay>;
}

/** One LLM sub-feature's budget today, in US dollars, for people (`/rollout budget`, the CLI). */
export interface LlmBudgetStatus {
  readonly feature: string;
  readonly subFeature: string;
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string;
  /** The cap in force today. */
  readonly capUsd: number;
  /** The plan's `dailyCapUsd`. */
  readonly planCapUsd: number;
  readonly capSource: LlmBudgetCapSource;
  readonly capChange?: { readonly by: Actor; readonly at: string; readonly reason: string; readonly previousCapUsd: number };
  /** The plan's `hardLimitUsd`: above it the LLM flag is rolled back. */
  readonly hardLimitUsd: number;
  readonly spentUsd: number;
  /** Reservations of calls in flight (live) and of calls that never settled (expired: they no longer count). */
  readonly reservations: {
    readonly live: number;
    readonly liveUsd: number;
    readonly expired: number;
    readonly expiredUsd: number;
  };
  /** `cap - spent - live reservations`, never below 0. */
  readonly remainingUsd: number;
  /** Settled calls today. */
  readonly calls: number;
  /** True when nothing is left today (`remainingUsd` is 0): every new call falls back. */
  readonly exhausted: boolean;
  readonly overHardLimit: boolean;
}

/** Every LLM budget of a feature, today. */
export interface FeatureBudgetStatus {
  readonly feature: string;
  readonly day: string;
  /** When the status was read (ISO 8601). */
  readonly asOf: string;
  /** One entry per sub-feature with an `llm` budget; empty when the feature has none. */
  readonly subFeatures: readonly LlmBudgetStatus[];
}

/** Reads LLM budgets: what `/rollout budget <feature>` and the CLI show. */
export interface BudgetReader {
  /** Today's (UTC) budget of every LLM sub-feature of `feature`. Throws `RefusedError` NOT_FOUND for an unknown feature. */
  budgetStatus(feature: string): Promise<FeatureBudgetStatus>;
}

/** One CloudWatch metric and statistic to read. */
export interface MetricQuery {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  /** `Sum`, `Average`, `Maximum`, `Minimum`, `SampleCount`, `p95`, `p99.9`, ... */
  readonly statistic: string;
}

/** What CloudWatch had for one {@link MetricQuery} in a window. */
export interface MetricReading {
  /** The statistic over the whole window; undefined when the metric had no data in it. */
  readonly value?: number;
  /** The statistic per period, oldest first (only when a series period was asked for). */
  readonly series: readonly { readonly at: string; readonly value: number }[];
}

/** Reads metric statistics over a time window (CloudWatch GetMetricData). */
export interface MetricsReader {
  /** One reading per query, in the order of `queries`. */
  read(
    queries: readonly MetricQuery[],
    window: { readonly start: Date; readonly end: Date },
    options?: { readonly seriesPeriodSeconds?: number },
  ): Promise<MetricReading[]>;
}

/** Stops a running rollout execution (Step Functions StopExecution). Stopping one that already ended is not an error. */
export interface ExecutionStopper {
  stop(executionId: string, error: string, cause: string): Promise<void>;
}

/** One metric value Phasegate publishes about itself (time-to-safe, rollbacks). */
export interface PhasegateMetric {
  readonly name: string;
  readonly value: number;
  readonly unit: 'Milliseconds' | 'Count' | 'None';
  readonly dimensions: Readonly<Record<string, string>>;
  readonly at: Date;
}

/** Publishes Phasegate's own metrics (as CloudWatch Embedded Metric Format log lines in Lambda). */
export interface MetricSink {
  put(metric: PhasegateMetric): void;
}
