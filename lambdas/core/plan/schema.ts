import { z } from 'zod';
import { PERCENT_UNITS_PER_PERCENT } from '../../../runtime/names';
import { LAMBDA_RESERVED_ENV_KEYS } from '../contract';
import { durationToSeconds, isIsoDuration, ISO_DURATION } from './duration';

/**
 * The rollout plan schema. A plan is JSON data, one file per feature (`rollouts/<feature>.json`). This schema is
 * the single source of truth: {@link validatePlan} uses it at synth time and at run time, and
 * `npm run schema` publishes it as JSON Schema for editors.
 */

const got = (input: unknown): string => (input === undefined ? 'nothing' : JSON.stringify(input));

/** An ISO 8601 duration such as `PT30M`, `PT48H` or `P5D`. */
export const DurationSchema = z
  .string({ error: (iss) => `expected ISO 8601 duration, got ${got(iss.input)}` })
  .regex(ISO_DURATION, {
    error: (iss) => `expected ISO 8601 duration, got ${got(iss.input)} (e.g. PT30M, PT48H, P5D; no years or months)`,
  })
  .describe('ISO 8601 duration with weeks, days, hours, minutes and seconds, e.g. PT30M, PT48H, P5D, P1DT12H.');

/** Who sees a feature in a phase. `all` means every user, and stands alone. */
export const AudienceRoleSchema = z.enum(['admin', 'pm', 'developer', 'all']);
export type AudienceRole = z.infer<typeof AudienceRoleSchema>;

/** The roles every plan knows: who may start, pause, roll back and change budgets is said in terms of these. */
export const BUILT_IN_ROLES = ['admin', 'pm', 'developer', 'on-call'] as const;

/**
 * A Phasegate role that people hold (mapped from Discord roles and CLI principals): one of {@link BUILT_IN_ROLES},
 * or a team's own name (`product-owner`, `deployment-lead`) that the plan declares in `roles`.
 */
export const PhasegateRoleSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,39}$/, {
    error: (iss) => `expected a role name (lowercase a-z, 0-9, -, e.g. product-owner), got ${got(iss.input)}`,
  })
  .describe('A role: admin, pm, developer, on-call, or a name the plan declares in "roles" (e.g. product-owner).');
export type PhasegateRole = z.infer<typeof PhasegateRoleSchema>;

const ENV_NAME = /^[A-Za-z][A-Za-z0-9_]+$/;
const reserved = new Set<string>(LAMBDA_RESERVED_ENV_KEYS);

/** The name of an environment variable Phasegate writes on the targets. */
export const EnvNameSchema = z
  .string()
  .regex(ENV_NAME, {
    error: (iss) => `expected an environment variable name (a letter, then letters, digits or _; 2+ characters), got ${got(iss.input)}`,
  })
  .refine((name) => !reserved.has(name) && !name.startsWith('AWS_LAMBDA_'), {
    error: (iss) => `${got(iss.input)} is reserved by AWS Lambda`,
  });

/** A boolean flag: a variable name, or `{ name, inverted }` for kill switches where `true` means off. */
export const BooleanFlagSchema = z.union([
  EnvNameSchema,
  z.strictObject({
    name: EnvNameSchema,
    inverted: z.boolean().default(false).describe('When true the variable is a kill switch: "true" means the feature is off.'),
  }),
]);

/**
 * A share of users, 0-100, in steps of 0.001 % (the readers' bucket resolution, `docs/flags-spec.md`): a finer
 * value would be rounded by every reader, so it is refused rather than silently reaching more users than written.
 */
export const PercentSchema = z
  .number()
  .min(0)
  .max(100)
  .refine((p) => Math.round(p * PERCENT_UNITS_PER_PERCENT) / PERCENT_UNITS_PER_PERCENT === p, {
    error: (iss) => `expected a percentage in steps of ${1 / PERCENT_UNITS_PER_PERCENT}, got ${got(iss.input)}`,
  });

/** The variables that carry one feature's (or sub-feature's) flag state. Unset names default from the id. */
export const FlagNamesSchema = z.strictObject({
  enabled: BooleanFlagSchema.optional().describe('Master switch. Default <FEATURE>_ENABLED.'),
  roles: EnvNameSchema.optional().describe('Comma-separated roles allowed in the current phase, or "*". Default <FEATURE>_ROLES.'),
  percent: EnvNameSchema.optional().describe('Percentage of allowed users, 0-100, sticky per user. Default <FEATURE>_PERCENT.'),
});

const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$/;
const FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$/;
/** Lambda's alias name pattern (CreateAlias API reference): not all digits (that is a version), 1-128 characters. */
const ALIAS_NAME = /^(?!\d+$)[A-Za-z0-9_-]{1,128}$/;

/** The qualifier a target names (`fn:live`, or an ARN's eighth part), if any. */
function qualifierOf(target: string): string | undefined {
  const parts = target.split(':');
  if (target.startsWith('arn:')) return parts.length === 8 ? parts[7] : undefined;
  return parts.length === 2 ? parts[1] : undefined;
}

/**
 * A target Lambda function: its name or its ARN, optionally with an alias (`my-fn:live`): Phasegate then publishes a
 * version with the flags and moves the alias to it. A version number or `$LATEST` is refused: a version's
 * environment can never change, and `$LATEST` is what an unqualified name already means.
 */
export const TargetSchema = z
  .string()
  .refine((t) => FUNCTION_NAME.test(t) || FUNCTION_ARN.test(t), {
    error: (iss) => `expected a Lambda function name or ARN (optionally with an alias, e.g. my-fn:live), got ${got(iss.input)}`,
  })
  .refine(
    (t) => {
      const q = qualifierOf(t);
      return q === undefined || ALIAS_NAME.test(q);
    },
    {
      error: (iss) => {
        const q = qualifierOf(String(iss.input));
        return q === '$LATEST'
          ? `${got(iss.input)} names $LATEST: leave the qualifier out (a bare name is $LATEST)`
          : `${got(iss.input)} names version ${q}: a published version's environment can never change; name the alias that is invoked instead (e.g. :live)`;
      },
    },
  );

/**
 * A CloudWatch statistic: `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount`, or a percentile such as `p95`,
 * `p99` or `p99.9`.
 */
export const StatisticSchema = z
  .string()
  .regex(/^(Sum|Average|Minimum|Maximum|SampleCount|p(\d{1,2}(\.\d{1,2})?|100))$/, {
    error: (iss) => `expected a CloudWatch statistic (Sum, Average, Minimum, Maximum, SampleCount, p50, p95, p99, p99.9, ...), got ${got(iss.input)}`,
  });

/** How the current value compares with the baseline captured before the rollout started (a ratio, 1.5 = 1.5x). */
export const BaselineBandSchema = z.strictObject({
  value: z
    .number()
    .positive()
    .optional()
    .describe(
      'The baseline as measured before the rollout (e.g. 7 days without the feature). When set, it replaces the value captured at the start, and a rollback alarm at rollbackBeyond times it acts at once in every phase that has this band.',
    ),
  proceedWithin: z.number().positive().optional().describe('Proceed while no worse than this multiple of the baseline. Default: rollbackBeyond.'),
  rollbackBeyond: z.number().positive().describe('Roll back when worse than this multiple of the baseline (e.g. 1.5).'),
  window: DurationSchema.optional().describe('How far back before the start the baseline is read. Default P1D.'),
});

const threshold = z.number().nonnegative();

/**
 * A three-band threshold. Lower is better with `{ proceedBelow, rollbackAbove }` (error rate, latency); higher is
 * better with `{ proceedAbove, rollbackBelow }` (success rate, cache hit rate). Values between the two thresholds
 * mean hold. The rollback band is also the metric's CloudWatch alarm.
 */
export const BandSchema = z
  .strictObject({
    proceedBelow: threshold.optional().describe('Lower is better: proceed while the value is below this.'),
    rollbackAbove: threshold.optional().describe('Lower is better: roll back when the value is above this.'),
    proceedAbove: threshold.optional().describe('Higher is better: proceed while the value is above this.'),
    rollbackBelow: threshold.optional().describe('Higher is better: roll back when the value is below this.'),
    warnAbove: threshold
      .optional()
      .describe('Lower is better: past this, the channel is warned; the gate neither holds nor rolls back for it. Without rollbackAbove the metric is only watched.'),
    warnBelow: threshold
      .optional()
      .describe('Higher is better: below this, the channel is warned; the gate neither holds nor rolls back for it. Without rollbackBelow the metric is only watched.'),
    sustainedFor: DurationSchema.optional().describe(
      'Roll back only when the value has been in the rollback band for this long (e.g. PT1H); shorter breaches hold. At most P1D.',
    ),
    baseline: BaselineBandSchema.optional().describe('Also compare with the value captured before the rollout started.'),
  })
  .superRefine((band, ctx) => {
    // A custom metric's band carries its name: say which metric, since its path is only an index.
    const name = (band as { name?: unknown }).name;
    for (const problem of bandProblems(band)) {
      ctx.addIssue({ code: 'custom', message: typeof name === 'string' ? `${problem.message} (metric ${name})` : problem.message, path: problem.path });
    }
  });

/** What is wrong with a band's thresholds, each with the field it concerns (empty when the band is sound). */
export function bandProblems(band: {
  proceedBelow?: number;
  rollbackAbove?: number;
  proceedAbove?: number;
  rollbackBelow?: number;
  warnAbove?: number;
  warnBelow?: number;
  sustainedFor?: string;
  baseline?: { proceedWithin?: number; rollbackBeyond: number };
}): { path: string[]; message: string }[] {
  const lower = band.proceedBelow !== undefined || band.rollbackAbove !== undefined || band.warnAbove !== undefined;
  const higher = band.proceedAbove !== undefined || band.rollbackBelow !== undefined || band.warnBelow !== undefined;
  const problems: { path: string[]; message: string }[] = [];
  if (lower && higher) {
    problems.push({
      path: [],
      message:
        'mixes lower-is-better (proceedBelow/warnAbove/rollbackAbove) and higher-is-better (proceedAbove/warnBelow/rollbackBelow) thresholds: choose one direction',
    });
    return problems;
  }
  if (!lower && !higher) {
    problems.push({
      path: [],
      message: 'expected { proceedBelow, rollbackAbove } (lower is better) or { proceedAbove, rollbackBelow } (higher is better); warnAbove/warnBelow may stand in for the rollback threshold',
    });
    return problems;
  }
  if (lower) {
    if (band.proceedBelow === undefined) problems.push({ path: ['proceedBelow'], message: `required with ${band.rollbackAbove !== undefined ? 'rollbackAbove' : 'warnAbove'}` });
    if (band.rollbackAbove === undefined && band.warnAbove === undefined) {
      problems.push({ path: ['rollbackAbove'], message: 'required with proceedBelow (or warnAbove, for a metric that is only watched)' });
    }
    if (band.warnAbove !== undefined && band.proceedBelow !== undefined && band.warnAbove < band.proceedBelow) {
      problems.push({ path: ['warnAbove'], message: `must not be below proceedBelow (${band.warnAbove} < ${band.proceedBelow}): a proceeding value would warn` });
    }
    if (band.warnAbove !== undefined && band.rollbackAbove !== undefined && band.warnAbove > band.rollbackAbove) {
      problems.push({ path: ['warnAbove'], message: `must not be above rollbackAbove (${band.warnAbove} > ${band.rollbackAbove}): the warning would come after the rollback` });
    }
    if (band.proceedBelow !== undefined && band.rollbackAbove !== undefined && band.proceedBelow > band.rollbackAbove) {
      problems.push({
        path: [],
        message: `proceedBelow must not be above rollbackAbove: proceeding below ${band.proceedBelow} while rolling back above ${band.rollbackAbove} puts the rollback band inside the proceed band (values between them mean hold)`,
      });
    }
  } else {
    if (band.proceedAbove === undefined) problems.push({ path: ['proceedAbove'], message: `required with ${band.rollbackBelow !== undefined ? 'rollbackBelow' : 'warnBelow'}` });
    if (band.rollbackBelow === undefined && band.warnBelow === undefined) {
      problems.push({ path: ['rollbackBelow'], message: 'required with proceedAbove (or warnBelow, for a metric that is only watched)' });
    }
    if (band.warnBelow !== undefined && band.proceedAbove !== undefined && band.warnBelow > band.proceedAbove) {
      problems.push({ path: ['warnBelow'], message: `must not be above proceedAbove (${band.warnBelow} > ${band.proceedAbove}): a proceeding value would warn` });
    }
    if (band.warnBelow !== undefined && band.rollbackBelow !== undefined && band.warnBelow < band.rollbackBelow) {
      problems.push({ path: ['warnBelow'], message: `must not be below rollbackBelow (${band.warnBelow} < ${band.rollbackBelow}): the warning would come after the rollback` });
    }
    if (band.proceedAbove !== undefined && band.rollbackBelow !== undefined && band.proceedAbove < band.rollbackBelow) {
      problems.push({
        path: [],
        message: `proceedAbove must not be below rollbackBelow: proceeding above ${band.proceedAbove} while rolling back below ${band.rollbackBelow} puts the rollback band inside the proceed band (values between them mean hold)`,
      });
    }
  }
  if (band.sustainedFor !== undefined && isIsoDuration(band.sustainedFor)) {
    const seconds = durationToSeconds(band.sustainedFor);
    if (seconds < 60 || seconds > 86400) {
      problems.push({ path: ['sustainedFor'], message: `expected between 1 minute and 1 day (a CloudWatch alarm evaluates at most one day), got ${band.sustainedFor}` });
    }
  }
  const b = band.baseline;
  if (b?.proceedWithin !== undefined && b.proceedWithin > b.rollbackBeyond) {
    problems.push({
      path: ['baseline', 'proceedWithin'],
      message: `must not be above rollbackBeyond (${b.proceedWithin}x > ${b.rollbackBeyond}x): the rollback band would be inside the proceed band`,
    });
  }
  return problems;
}

/**
 * How a gate reads a metric that has no data in the bake: `hold` (the default: no data never proceeds and never rolls
 * back) or `zero`, for counts that emit nothing while healthy (DynamoDB throttles, P1 errors): the gate reads 0 and the
 * rollback alarm fills the gaps with 0 alike.
 */
export const MissingDataSchema = z.enum(['hold', 'zero']).describe('No data in the bake: "hold" (default) or "zero" (a count that emits nothing while healthy).');

/**
 * A count read as a rate: thresholds are per this duration (`PT1H`: "more than 5 throttles per hour"). The gate scales
 * the bake's total to it; the rollback alarm sums one period of this length. At most one day.
 */
export const RatePerSchema = DurationSchema.refine((d) => durationToSeconds(d) >= 60 && durationToSeconds(d) <= 86_400, {
  error: (iss) => `expected a period between PT1M and P1D (a CloudWatch alarm period), got ${got(iss.input)}`,
}).describe('Thresholds are per this period, e.g. PT1H for "more than 5 per hour".');

/** A gate on any CloudWatch metric: the plan names the namespace, metric, dimensions and statistic. */
export const MetricGateSchema = BandSchema.safeExtend({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,39}$/, { error: (iss) => `expected a short lowercase name (a-z, 0-9, -), got ${got(iss.input)}` })
    .describe('Short name, used in reasons and in the alarm name phasegate-<stage>-<feature>-<name>.'),
  namespace: z.string().min(1).max(255),
  metric: z.string().min(1).max(255),
  dimensions: z.record(z.string().min(1).max(255), z.string().min(1).max(1024)).default({}),
  statistic: StatisticSchema.default('Average'),
  minSamples: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('Hold (never proceed, never roll back) until the metric has at least this many samples in the bake (e.g. 20 successful flows).'),
  missingData: MissingDataSchema.optional(),
  per: RatePerSchema.optional(),
}).superRefine((m, ctx) => {
  if (m.per !== undefined && m.statistic !== 'Sum') {
    ctx.addIssue({ code: 'custom', path: ['per'], message: `a rate per ${m.per} needs statistic Sum (a count), got ${m.statistic} (metric ${m.name})` });
  }
  if (m.per !== undefined && m.sustainedFor !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['per'], message: `a rate per ${m.per} is already counted over that period: drop sustainedFor (metric ${m.name})` });
  }
});
/** How long a held phase keeps baking: re-check every `interval`, and ask a person once held for `max`. */
export const HoldSchema = z.strictObject({
  interval: DurationSchema.optional().describe("Time between gate checks while holding. Default: the bake, at most 1 hour."),
  max: DurationSchema.optional().describe('How long a phase may hold before a person is asked to decide. Default: the bake.'),
});

const AlarmNamesSchema = z.array(z.string().min(1).max(255));

/** Gate thresholds checked after each bake. */
export const GatesSchema = z.strictObject({
  alarms: AlarmNamesSchema
    .default([])
    .describe('Existing CloudWatch alarms: any of them in ALARM at the gate rolls the phase back.'),
  errorRate: BandSchema.optional().describe('Errors / invocations of the targets as a fraction (0.01 = 1 %).'),
  p95Ms: BandSchema.optional().describe('p95 duration of the targets in milliseconds (the worst target counts).'),
  durationMs: BandSchema.safeExtend({ statistic: StatisticSchema.default('p99') })
    .optional()
    .describe('Duration of the targets in milliseconds with any statistic (default p99; the worst target counts).'),
  throttles: BandSchema.safeExtend({ per: RatePerSchema.optional() })
    .optional()
    .describe('Throttled invocations of the targets during the bake (or per `per`, e.g. PT1H). No data reads as 0.'),
  minInvocations: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('Hold until the targets were invoked at least this often in the bake: too few invocations never proceed and never roll back.'),
  metrics: z.array(MetricGateSchema).optional().describe('Gates on any CloudWatch metric (custom metrics, success rates, cache hit rates).'),
  llmSpendUsd: z
    .record(z.string(), BandSchema)
    .optional()
    .describe("Sub-feature id -> band on its LLM spend (US dollars) so far in the UTC day. Default for an LLM sub-feature: proceed below dailyCapUsd, roll back above hardLimitUsd."),
  hold: HoldSchema.optional().describe('How a phase whose gate says HOLD keeps baking before a person is asked.'),
});

/** Whether a phase needs a person's approval before the next one, and whose. */
export const ApprovalSchema = z
  .strictObject({
    required: z.boolean().default(true),
    approvers: z.array(PhasegateRoleSchema).default(['pm']).describe('Roles whose members may approve or reject.'),
    timeout: DurationSchema.optional().describe('How long to wait for a decision before rolling back. Default: 7 days.'),
    starterMayApprove: z
      .boolean()
      .default(true)
      .describe('When false, the person who started the rollout may not approve or reject its phases.'),
  })
  .refine((a) => !a.required || a.approvers.length > 0, {
    error: 'a required approval needs at least one approver role',
    path: ['approvers'],
  });

const audienceRoles = z
  .array(AudienceRoleSchema)
  .min(1, { error: 'expected at least one role' })
  .refine((roles) => !roles.includes('all') || roles.length === 1, { error: '"all" already includes every role' });

/** A sub-feature's exposure in one phase. A sub-feature a phase does not name is off in that phase. */
export const PhaseSubFeatureSchema = z.strictObject({
  roles: audienceRoles.optional().describe("Defaults to the phase's roles."),
  percent: PercentSchema.optional().describe("Defaults to the phase's percent."),
});

/** A time of day in a named time zone, HH:MM (24 h). */
const TimeOfDaySchema = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: (iss) => `expected a time of day as HH:MM (00:00-23:59), got ${got(iss.input)}` });
const TimeZoneSchema = z
  .string()
  .refine(isIanaTimeZone, { error: (iss) => `expected an IANA time zone such as "Europe/Berlin" or "UTC", got ${got(iss.input)}` });

/** Days of the week a scheduled phase may start on. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/**
 * When a phase starts once the phase before it is done (approved): the next `time` in `timeZone`, on one of `days`
 * ("Enable Beta Day 4, 9:00 AM", "Friday 9 AM").
 */
export const PhaseStartSchema = z.strictObject({
  time: TimeOfDaySchema.describe('Time of day the phase starts, HH:MM (24 h) in timeZone.'),
  timeZone: TimeZoneSchema.describe('IANA time zone of time, e.g. Europe/Berlin; daylight saving time is followed.'),
  days: z
    .array(z.enum(WEEKDAYS, { error: (iss) => `expected a day of the week (${WEEKDAYS.join(', ')}), got ${got(iss.input)}` }))
    .min(1, { error: 'expected at least one day of the week' })
    .optional()
    .describe('Days of the week it may start on. Default: any day.'),
});

/** One phase of a rollout. */
export const PhaseSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, { error: (iss) => `expected a short lowercase name (a-z, 0-9, -), got ${got(iss.input)}` }),
  description: z.string().optional(),
  roles: z
    .array(AudienceRoleSchema)
    .refine((roles) => !roles.includes('all') || roles.length === 1, { error: '"all" already includes every role' })
    .default([])
    .describe('Who sees the feature: admin, pm, developer, or all. Required unless the phase is dark.'),
  percent: PercentSchema.default(100).describe('Share of the allowed users who get the feature (sticky).'),
  dark: z
    .boolean()
    .default(false)
    .describe("A dry run: the phase writes the feature's off values, then bakes, gates and asks for approval like any phase."),
  optional: z
    .boolean()
    .default(false)
    .describe('Runs only when the approver of the phase before opts in; otherwise it is skipped and recorded as skipped.'),
  start: PhaseStartSchema.optional().describe('Start at a time of day once the phase before is done. Default: at once.'),
  bake: DurationSchema.describe('How long the phase runs before its gates are checked (the minimum, with bakeMax).'),
  bakeMax: DurationSchema.optional().describe(
    'A bake range ("48-72 hours"): proceed after bake when the gate says PROCEED, hold up to bakeMax otherwise, then ask a person.',
  ),
  approval: ApprovalSchema.default({ required: true, approvers: ['pm'], starterMayApprove: true }),
  gates: GatesSchema.default({ alarms: [] }),
  subFeatures: z.record(z.string(), PhaseSubFeatureSchema).default({}),
});

/** An LLM sub-feature's daily spend limits in US dollars. */
export const LlmBudgetSchema = z
  .strictObject({
    dailyCapUsd: z.number().positive().describe('Spend allowed per UTC day; calls past it fall back.'),
    hardLimitUsd: z.number().positive().describe('Daily spend that rolls the sub-feature back.'),
    dailyCapVariable: EnvNameSchema.optional().describe(
      "Variable through which the targets' budget guard learns dailyCapUsd (\"0\" while the sub-feature is off). Default <FEATURE>_<SUB_FEATURE>_DAILY_CAP_USD.",
    ),
  })
  .refine((b) => b.dailyCapUsd <= b.hardLimitUsd, { error: 'dailyCapUsd must not be above hardLimitUsd' });

/** A part of the feature with its own flag that turns on in later phases (e.g. LLM parsing). */
export const SubFeatureSchema = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, { error: (iss) => `expected a lowercase id, got ${got(iss.input)}` }),
  description: z.string().optional(),
  flags: FlagNamesSchema.default({}),
  llm: LlmBudgetSchema.optional(),
});

/** What "safe" means when the rollout is rolled back. */
export const RollbackSchema = z.strictObject({
  to: z
    .enum(['off', 'previous-phase'])
    .default('off')
    .describe('"off": every flag off. "previous-phase": the flags of the phase before the failing one (off before the first).'),
});

/** A Discord snowflake id (user, role, channel, guild). */
export const SnowflakeSchema = z.string().regex(/^\d{17,20}$/, { error: (iss) => `expected a Discord id (17-20 digits), got ${got(iss.input)}` });

/** Where a feature's rollout is discussed in Discord, and who holds which Phasegate role there. */
export const DiscordSettingsSchema = z.strictObject({
  channelId: SnowflakeSchema.optional().describe('Channel for approval requests and rollout notifications.'),
  roles: z
    .record(SnowflakeSchema, z.array(PhasegateRoleSchema).min(1))
    .default({})
    .describe('Discord role id -> the Phasegate roles its members hold.'),
});

/**
 * A pattern of the principals that call Phasegate from the CLI: an IAM principal ARN with `*` and `?` wildcards,
 * compared part by part like IAM's ArnLike (`arn:aws:sts::*:assumed-role/OnCall/*`), or `local:<os user>` for the
 * CLI against a local rehearsal.
 */
export const PrincipalPatternSchema = z.string().regex(/^(arn:[^\s:]+:[^\s:]+:[^\s:]*:[^\s:]*:\S+|local:\S+)$/);

const principalPatternError = (input: unknown): string =>
  `expected an IAM principal ARN pattern such as "arn:aws:sts::*:assumed-role/OnCall/*" (or "local:<user>"), got ${got(input)}`;

/** CLI callers (principal ARN patterns) -> the Phasegate roles they hold. A caller matching nothing holds no role. */
export const PrincipalRolesSchema = z
  .record(PrincipalPatternSchema, z.array(PhasegateRoleSchema).min(1), {
    // zod reports a bad record key as "Invalid key in record" unless the record says better.
    error: (iss) => (iss.code === 'invalid_key' ? principalPatternError(iss.input) : undefined),
  })
  .describe('IAM principal ARN pattern (* and ? wildcards, e.g. arn:aws:sts::*:assumed-role/OnCall/*) -> the Phasegate roles CLI callers matching it hold.');

/**
 * Gates with every field optional: a stage's per-phase changes, and the plan's gates for every phase.
 * Not GatesSchema.partial(): zod 4 applies `alarms`' default inside a partial, which would wipe the phase's alarms.
 */
export const PartialGatesSchema = z.strictObject({
  alarms: AlarmNamesSchema.optional(),
  errorRate: GatesSchema.shape.errorRate,
  p95Ms: GatesSchema.shape.p95Ms,
  durationMs: GatesSchema.shape.durationMs,
  throttles: GatesSchema.shape.throttles,
  minInvocations: GatesSchema.shape.minInvocations,
  metrics: GatesSchema.shape.metrics,
  llmSpendUsd: GatesSchema.shape.llmSpendUsd,
  hold: HoldSchema.optional(),
});
const PlanGatesSchema = PartialGatesSchema;

/** Per-phase changes one stage makes. */
export const PhaseOverrideSchema = z.strictObject({
  bake: DurationSchema.optional(),
  percent: PercentSchema.optional(),
  approval: z
    .strictObject({
      required: z.boolean().optional(),
      approvers: z.array(PhasegateRoleSchema).optional(),
      timeout: DurationSchema.optional(),
      starterMayApprove: z.boolean().optional(),
    })
    .optional(),
  bakeMax: DurationSchema.optional(),
  gates: PartialGatesSchema.optional(),
});

/** How one stage (dev, staging, prod) differs from the plan's defaults. */
export const StageOverrideSchema = z.strictObject({
  targets: z.array(TargetSchema).min(1).optional(),
  approvers: z.array(PhasegateRoleSchema).min(1).optional().describe("Replaces every phase's approver roles."),
  discord: DiscordSettingsSchema.optional().describe("Replaces the plan's Discord settings on this stage."),
  principals: PrincipalRolesSchema.optional().describe("Replaces the plan's principals (CLI callers' roles) on this stage."),
  phases: z.record(z.string(), PhaseOverrideSchema).default({}),
});

/** Whether `zone` is an IANA time zone this runtime knows (`Europe/Berlin`, `UTC`). */
export function isIanaTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    // Intl also takes `europe/berlin`; EventBridge Scheduler wants the zone as the IANA database spells it.
    return /^[A-Z][A-Za-z_]*(\/[A-Z][A-Za-z0-9_+-]*)*$/.test(zone);
  } catch {
    return false;
  }
}

/** When the daily phase report of an active rollout is posted to the feature's Discord channel. */
export const ReportScheduleSchema = z
  .strictObject({
    time: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: (iss) => `expected a time of day as HH:MM (00:00-23:59), got ${got(iss.input)}` })
      .describe('Time of day the report is posted, HH:MM (24 h) in timeZone.'),
    timeZone: TimeZoneSchema.describe('IANA time zone of time, e.g. Europe/Berlin; daylight saving time is followed.'),
  })
  .describe('Post a daily phase report (metrics against the bands, a recommendation) while a rollout is active. Default: no report.');

const FEATURE_ID = /^[a-z][a-z0-9-]{1,39}$/;

/** The object form of the plan, before cross-field checks. */
export const PlanObjectSchema = z.strictObject({
  $schema: z.string().optional(),
  feature: z.string().regex(FEATURE_ID, {
    error: (iss) => `expected a lowercase feature id (a-z, 0-9, -; 2-40 characters), got ${got(iss.input)}`,
  }),
  description: z.string().optional(),
  owner: z.string().optional(),
  targets: z.array(TargetSchema).min(1, { error: 'expected at least one target function' }),
  flags: FlagNamesSchema.default({}),
  subFeatures: z.array(SubFeatureSchema).default([]),
  roles: z
    .array(PhasegateRoleSchema)
    .default([])
    .describe('Team-named roles this plan uses besides admin, pm, developer and on-call (e.g. product-owner), for approvers, Discord roles and principals.'),
  gates: PlanGatesSchema.optional().describe(
    "Gates of every phase, written once (e.g. immediate rollback triggers). A phase's own gates override them per field; metrics by name; alarms add up.",
  ),
  phases: z.array(PhaseSchema).min(1, { error: 'expected at least one phase' }),
  rollback: RollbackSchema.default({ to: 'off' }),
  discord: DiscordSettingsSchema.default({ roles: {} }),
  report: ReportScheduleSchema.optional(),
  principals: PrincipalRolesSchema.default({}),
  stages: z
    .record(z.string().regex(/^[a-z][a-z0-9-]*$/), StageOverrideSchema)
    .default({})
    .describe('Per-stage overrides keyed by stage name.'),
});

/** A plan after parsing, with every default filled in. */
export type Plan = z.output<typeof PlanObjectSchema>;
/** A plan as written in a file. */
export type PlanInput = z.input<typeof PlanObjectSchema>;
export type Phase = Plan['phases'][number];
export type SubFeature = Plan['subFeatures'][number];
export type Gates = Phase['gates'];
export type Band = z.output<typeof BandSchema>;
export type MetricGate = z.output<typeof MetricGateSchema>;
export type BooleanFlag = z.output<typeof BooleanFlagSchema>;
export type FlagNames = z.output<typeof FlagNamesSchema>;
export type DiscordSettings = z.output<typeof DiscordSettingsSchema>;
export type ReportSchedule = z.output<typeof ReportScheduleSchema>;
export type PhaseStart = z.output<typeof PhaseStartSchema>;
export type PartialGates = z.output<typeof PartialGatesSchema>;
