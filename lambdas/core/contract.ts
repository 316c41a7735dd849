/**
 * Contract strings shared by the CDK constructs, the Lambda handlers, the local rehearsal and the runtime
 * library. Anything two of those must agree on lives here and nowhere else.
 */

/** The deployed Phasegate functions: each is `lambdas/<name>/index.ts` exporting `handler`. */
export const PHASEGATE_FUNCTIONS = [
  'start-rollout',
  'apply-phase',
  'gate',
  'request-approval',
  'finish-rollout',
  'rollback',
] as const;

/** One of {@link PHASEGATE_FUNCTIONS}. */
export type PhasegateFunctionName = (typeof PHASEGATE_FUNCTIONS)[number];

/** Environment variables Phasegate sets on its own functions. */
export const ENV = {
  /** Name of the DynamoDB table holding rollout state, approvals and the audit trail. */
  tableName: 'PHASEGATE_TABLE_NAME',
  /** Deployment stage of the stack (dev, staging, prod, ...). */
  stage: 'PHASEGATE_STAGE',
  /** Which of {@link PHASEGATE_FUNCTIONS} a deployed function runs; lets tooling map a template back to its code. */
  functionRole: 'PHASEGATE_FUNCTION',
  /** Seconds to wait for a target's `LastUpdateStatus` to become Successful after a flag write. */
  flagWriteTimeoutSeconds: 'PHASEGATE_FLAG_WRITE_TIMEOUT_SECONDS',
  /**
   * `arn:<partition>:states:<region>:<account>:stateMachine:` of the stack: a function that starts rollouts derives
   * each feature's state machine ARN from it and the fixed name ({@link stateMachineArn}) instead of carrying every
   * ARN (50 features' ARNs alone are about 5 KB, past Lambda's 4 KB environment).
   */
  stateMachineArnPrefix: 'PHASEGATE_STATE_MACHINE_ARN_PREFIX',
  /**
   * JSON array of the Discord endpoint's plan summaries (`StagePlan`, lambdas/core/discord/directory.ts), for local
   * runs and tests only. The deployed endpoint reads them from `stage-plans.json` in its bundle
   * (`STAGE_PLANS_FILE`): a stage's summaries do not fit in Lambda's 4 KB environment.
   */
  plans: 'PHASEGATE_PLANS',
  /** Name of the SSM parameter holding the Discord application's public key (hex). */
  discordPublicKeyParameter: 'PHASEGATE_DISCORD_PUBLIC_KEY_PARAMETER',
  /** The Discord application's public key (hex), for local runs and tests instead of the SSM parameter. */
  discordPublicKey: 'DISCORD_PUBLIC_KEY',
  /** Name of the SSM SecureString parameter holding the Discord bot token. */
  discordBotTokenParameter: 'PHASEGATE_DISCORD_BOT_TOKEN_PARAMETER',
  /**
   * Name of the stage's rollback worker (the alarm-rollback function): rollbacks that run out of time in another
   * function (Discord) hand their remaining work to it.
   */
  rollbackWorker: 'PHASEGATE_ROLLBACK_WORKER',
  /** Name of the stage's daily-report function: `/rollout report` asks it for a feature's report now. */
  dailyReportFunction: 'PHASEGATE_DAILY_REPORT_FUNCTION',
  /**
   * `true` where the stage opted in to mentioning the approvers' Discord roles in approval requests (they are pinged);
   * anything else: no mentions.
   */
  discordMentionApprovers: 'PHASEGATE_DISCORD_MENTION_APPROVERS',
  /** Discord API base URL; tests point it at a local server. */
  discordApiBaseUrl: 'PHASEGATE_DISCORD_API_BASE_URL',
  /** The Discord application id (for follow-up webhooks and command registration). */
  discordApplicationId: 'PHASEGATE_DISCORD_APPLICATION_ID',
  /** JSON array of the Discord channel ids that rollback alerts are posted to (the `rollback-alerts` function). */
  alertChannels: 'PHASEGATE_ALERT_CHANNELS',
  /** JSON array of the stage's feature ids, for the functions that serve every feature (alarm rollback, drift reconcile). */
  features: 'PHASEGATE_FEATURES',
  /**
   * JSON array of the IAM role ARNs of Phasegate's own functions: CloudTrail events of calls they made are Phasegate's
   * own flag writes, never drift.
   */
  ownRoles: 'PHASEGATE_OWN_ROLES',
} as const;

/** The state machine that rolls out one feature in one stage: `phasegate-<stage>-<feature>`, a fixed name. */
export function stateMachineName(stage: string, feature: string): string {
  return `phasegate-${stage}-${feature}`;
}

/**
 * The ARN of a feature's state machine in the stack that {@link ENV.stateMachineArnPrefix} describes: derived from the
 * fixed name, so no function carries a map of ARNs.
 */
export function stateMachineArn(arnPrefix: string, stage: string, feature: string): string {
  return `${arnPrefix}${stateMachineName(stage, feature)}`;
}

/** CloudWatch metrics Phasegate emits (Embedded Metric Format) and alarms on. Dimension: `Feature` (and `Stage`). */
export const METRICS = {
  namespace: 'Phasegate',
  /** LLM spend in US dollars, emitted by the runtime budget guard per settled call. */
  llmSpendUsd: 'LlmSpendUsd',
  /** LLM calls refused because the daily budget was exhausted. */
  llmBudgetExhausted: 'LlmBudgetExhausted',
  /** Milliseconds from a rollback trigger until every target serves the safe configuration. */
  timeToSafeMs: 'TimeToSafeMs',
  rollbacks: 'Rollbacks',
  phaseChanges: 'PhaseChanges',
  approvals: 'Approvals',
  dimensions: { feature: 'Feature', stage: 'Stage', subFeature: 'SubFeature' },
} as const;

/** The stages a stack can be built for unless cdk.json's `stages` context says otherwise. */
export const DEFAULT_STAGES = ['dev', 'staging', 'prod'] as const;

/**
 * Error names that Step Functions routes on. Each is the `name` of a typed error class in
 * `lambdas/core/errors.ts`, and appears in the state machine's Retry or Catch `ErrorEquals`.
 */
export const ERROR_NAMES = {
  /** A throttled or otherwise transient AWS call: retried with backoff. */
  transient: 'PhasegateTransientError',
  /** A conditional write lost a race against another writer: retried after a fresh read. */
  conflict: 'PhasegateConflictError',
  /** This execution no longer owns the rollout (a rollback or a newer execution took over): stop, change nothing. */
  staleExecution: 'PhasegateStaleExecutionError',
  /** Another rollout of the same feature is already active: this execution must not touch anything. */
  rolloutActive: 'PhasegateRolloutActiveError',
  /** A person rejected the phase: roll back. */
  approvalRejected: 'PhasegateApprovalRejected',
  /** A plan failed validation at run time. */
  planInvalid: 'PhasegatePlanInvalidError',
  /** A flag write would exceed Lambda's 4 KB environment limit. */
  envLimit: 'PhasegateEnvLimitError',
  /** Writing flags to the targets failed; targets already changed were put back. */
  flagWrite: 'PhasegateFlagWriteError',
  /** The gate decided the phase must roll back. */
  gateRollback: 'PhasegateGateRollback',
  /**
   * A rollback reached its invocation's deadline with targets not yet safe; its progress is recorded and the state
   * machine retries the step, which continues where it stopped.
   */
  rollbackIncomplete: 'PhasegateRollbackIncomplete',
} as const;

/** Single-table key layout. Every item of a feature shares the partition key `FEATURE#<feature>`. */
export const KEYS = {
  partition: (feature: string): string => `FEATURE#${feature}`,
  state: 'STATE',
  approval: (executionId: string, phaseIndex: number): string =>
    `APPROVAL#${executionId}#${String(phaseIndex).padStart(3, '0')}`,
  auditPrefix: 'AUDIT#',
  /** Audit keys sort by time; the suffix keeps two events in the same millisecond apart. */
  audit: (at: string, suffix: string): string => `AUDIT#${at}#${suffix}`,
  /** A sub-feature's LLM budget for one UTC day (`YYYY-MM-DD`). */
  budget: (subFeature: string, day: string): string => `BUDGET#${subFeature}#${day}`,
  /** Drift bookkeeping of one target of the feature (recent repairs, back-off). */
  drift: (target: string): string => `DRIFT#${target}`,
  /** The task token of one execution's phase bake, which `promote` hands back to end the bake early. */
  bake: (executionId: string, phaseIndex: number): string => `BAKE#${executionId}#${String(phaseIndex).padStart(3, '0')}`,
  /** Where the Discord approval request of one execution's phase was posted (channel and message id). */
  discordMessage: (executionId: string, phaseIndex: number): string =>
    `DISCORD#${executionId}#${String(phaseIndex).padStart(3, '0')}`,
  /** The stage-wide control partition (items that belong to no one feature). */
  control: 'CONTROL',
  /** In {@link KEYS.control}: a rollback is writing flags; applies yield the Lambda API quota until `activeUntil`. */
  rollbackActive: 'ROLLBACK_ACTIVE',
} as const;

/**
 * AWS Lambda's limit on the size of a function's environment variables (Lambda quotas page: 4 KB for all of them, in
 * aggregate). Lambda measures the JSON of the variables map, not the keys and values alone: see `environmentBytes`.
 */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;

/** Keys Lambda reserves for itself: a plan may never name one as a flag. */
export const LAMBDA_RESERVED_ENV_KEYS = [
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
] as const;

/**
 * The LLM budget guard's contract with the target functions (`phasegate/runtime/llm-budget`) and the budget
 * store. The cap variable's name belongs to the flag contract (`dailyCapVariable` in `flags.ts`). Budget items
 * live in the state table under a partition of their own per feature, so a target function can be granted
 * exactly its feature's budget items with the IAM condition `dynamodb:LeadingKeys`, and nothing of the rollout
 * state, the approvals (task tokens) or the audit trail.
 */
export const LLM_BUDGET = {
  /** Environment variable on a target function: the state table's name (stack output `TableName`). */
  tableNameEnv: 'PHASEGATE_BUDGET_TABLE_NAME',
  /** Partition of a feature's LLM budgets: `BUDGET#<feature>`; the sort key is {@link KEYS.budget}. */
  partition: (feature: string): string => `BUDGET#${feature}`,
  /**
   * How long a reservation holds before it stops counting, in milliseconds: Lambda's longest timeout (15 min),
   * so a call still running inside a live invocation never loses its reservation.
   */
  defaultReservationTtlMs: 15 * 60 * 1000,
} as const;

/**
 * Deployed functions that are not steps of the state machine: each is `lambdas/<name>/index.ts` exporting
 * `handler`, built by its own construct.
 */
export const AUXILIARY_FUNCTIONS = ['alarm-rollback', 'discord-interactions', 'daily-report', 'rollback-alerts', 'reconcile'] as const;

/** One of {@link AUXILIARY_FUNCTIONS}. */
export type AuxiliaryFunctionName = (typeof AUXILIARY_FUNCTIONS)[number];

/** The CloudWatch event that reports an alarm changing state, as EventBridge delivers it. */
export const ALARM_STATE_CHANGE = { source: 'aws.cloudwatch', detailType: 'CloudWatch Alarm State Change' } as const;

/** Every alarm Phasegate creates is named `phasegate-<stage>_<feature>-<metric>` (see lambdas/core/gates/alarm-names.ts). */
export const ALARM_NAME_PREFIX = 'phasegate';

/**
 * The Lambda API calls that change what a target serves, as CloudTrail delivers them to EventBridge ("AWS API Call
 * via CloudTrail", source `aws.lambda`). CloudTrail names Lambda's calls with their API version
 * (`UpdateFunctionConfiguration20150331v2`, `UpdateFunctionCode20150331v2`, `PublishVersion20150331`,
 * `UpdateAlias20150331`, `CreateFunction20150331`), so the rule and the handler match by prefix. Such events reach
 * EventBridge only where a trail logs management events
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html).
 */
export const LAMBDA_API_CALL = {
  source: 'aws.lambda',
  detailType: 'AWS API Call via CloudTrail',
  eventSource: 'lambda.amazonaws.com',
  eventNamePrefixes: ['UpdateFunctionConfiguration', 'UpdateFunctionCode', 'PublishVersion', 'UpdateAlias', 'CreateFunction', 'CreateAlias'],
} as const;

/** `kind` of the scheduled reconcile's event (the EventBridge Scheduler schedule's input). */
export const RECONCILE_SCHEDULE_KIND = 'phasegate.reconcile-schedule';
