import { z } from 'zod';
import { LAMBDA_RESERVED_ENV_KEYS } from '../contract';
import { isIsoDuration } from './duration';

/**
 * The rollout plan schema. A plan is JSON data, one file per feature (`rollouts/<feature>.json`). This schema is
 * the single source of truth: {@link validatePlan} uses it at synth time and at run time, and
 * `npm run schema` publishes it as JSON Schema for editors.
 */

const got = (input: unknown): string => (input === undefined ? 'nothing' : JSON.stringify(input));

/** An ISO 8601 duration such as `PT30M`, `PT48H` or `P5D`. */
export const DurationSchema = z
  .string({ error: (iss) => `expected ISO 8601 duration, got ${got(iss.input)}` })
  .refine(isIsoDuration, {
    error: (iss) => `expected ISO 8601 duration, got ${got(iss.input)} (e.g. PT30M, PT48H, P5D; no years or months)`,
  })
  .describe('ISO 8601 duration with weeks, days, hours, minutes and seconds, e.g. PT30M, PT48H, P5D, P1DT12H.');

/** Who sees a feature in a phase. `all` means every user, and stands alone. */
export const AudienceRoleSchema = z.enum(['admin', 'pm', 'developer', 'all']);
export type AudienceRole = z.infer<typeof AudienceRoleSchema>;

/** Phasegate roles that people hold (mapped from Discord roles): who may approve, start, pause, roll back. */
export const PhasegateRoleSchema = z.enum(['admin', 'pm', 'developer', 'on-call']);
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

/** The variables that carry one feature's (or sub-feature's) flag state. Unset names default from the id. */
export const FlagNamesSchema = z.strictObject({
  enabled: BooleanFlagSchema.optional().describe('Master switch. Default <FEATURE>_ENABLED.'),
  roles: EnvNameSchema.optional().describe('Comma-separated roles allowed in the current phase, or "*". Default <FEATURE>_ROLES.'),
  percent: EnvNameSchema.optional().describe('Percentage of allowed users, 0-100, sticky per user. Default <FEATURE>_PERCENT.'),
});

const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$/;

/** A target Lambda function: its name or its unqualified ARN. */
export const TargetSchema = z
  .string()
  .refine((t) => FUNCTION_NAME.test(t) || FUNCTION_ARN.test(t), {
    error: (iss) => `expected a Lambda function name or ARN, got ${got(iss.input)}`,
  })
  .refine((t) => !(FUNCTION_ARN.test(t) && t.split(':').length === 8), {
    error: (iss) =>
      `${got(iss.input)} names a version or alias; environment variables belong to the unqualified function`,
  });

/** A three-band threshold for a metric where lower is better: proceed below one value, roll back above another. */
export const BandSchema = z
  .strictObject({
    proceedBelow: z.number().nonnegative(),
    rollbackAbove: z.number().nonnegative(),
  })
  .refine((b) => b.proceedBelow <= b.rollbackAbove, {
    error: 'proceedBelow must not be above rollbackAbove (values between them mean hold)',
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
  errorRate: BandSchema.optional().describe('Errors / invocations as a fraction (0.01 = 1 %).'),
  p95Ms: BandSchema.optional().describe('p95 duration of the targets in milliseconds.'),
  throttles: BandSchema.optional().describe('Throttled invocations during the bake.'),
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
  percent: z.number().min(0).max(100).optional().describe("Defaults to the phase's percent."),
});

/** One phase of a rollout. */
export const PhaseSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, { error: (iss) => `expected a short lowercase name (a-z, 0-9, -), got ${got(iss.input)}` }),
  description: z.string().optional(),
  roles: audienceRoles,
  percent: z.number().min(0).max(100).default(100).describe('Share of the allowed users who get the feature (sticky).'),
  bake: DurationSchema.describe('How long the phase runs before its gates are checked.'),
  approval: ApprovalSchema.default({ required: true, approvers: ['pm'], starterMayApprove: true }),
  gates: GatesSchema.default({ alarms: [] }),
  subFeatures: z.record(z.string(), PhaseSubFeatureSchema).default({}),
});

/** An LLM sub-feature's daily spend limits in US dollars. */
export const LlmBudgetSchema = z
  .strictObject({
    dailyCapUsd: z.number().positive().describe('Spend allowed per UTC day; calls past it fall back.'),
    hardLimitUsd: z.number().positive().describe('Daily spend that rolls the sub-feature back.'),
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

/** Per-phase changes one stage makes. */
export const PhaseOverrideSchema = z.strictObject({
  bake: DurationSchema.optional(),
  percent: z.number().min(0).max(100).optional(),
  approval: z
    .strictObject({
      required: z.boolean().optional(),
      approvers: z.array(PhasegateRoleSchema).optional(),
      timeout: DurationSchema.optional(),
      starterMayApprove: z.boolean().optional(),
    })
    .optional(),
  // Not GatesSchema.partial(): zod 4 applies `alarms`' default inside a partial, which would wipe the phase's alarms.
  gates: z
    .strictObject({
      alarms: AlarmNamesSchema.optional(),
      errorRate: BandSchema.optional(),
      p95Ms: BandSchema.optional(),
      throttles: BandSchema.optional(),
      hold: HoldSchema.optional(),
    })
    .optional(),
});

/** How one stage (dev, staging, prod) differs from the plan's defaults. */
export const StageOverrideSchema = z.strictObject({
  targets: z.array(TargetSchema).min(1).optional(),
  approvers: z.array(PhasegateRoleSchema).min(1).optional().describe("Replaces every phase's approver roles."),
  discord: DiscordSettingsSchema.optional().describe("Replaces the plan's Discord settings on this stage."),
  phases: z.record(z.string(), PhaseOverrideSchema).default({}),
});

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
  phases: z.array(PhaseSchema).min(1, { error: 'expected at least one phase' }),
  rollback: RollbackSchema.default({ to: 'off' }),
  discord: DiscordSettingsSchema.default({ roles: {} }),
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
export type BooleanFlag = z.output<typeof BooleanFlagSchema>;
export type FlagNames = z.output<typeof FlagNamesSchema>;
export type DiscordSettings = z.output<typeof DiscordSettingsSchema>;
