import type { Plan, SubFeature } from '../plan/schema';

/**
 * The file in the Discord endpoint's bundle, next to its `index.js`, holding the JSON array of the stage's
 * {@link StagePlan}s. Written at synth from the stage's plans: 50 features' summaries are about 15 KB, far past
 * Lambda's 4 KB of environment, so they ship with the code rather than in a variable (`PHASEGATE_PLANS`, which only
 * local runs and tests set).
 */
export const STAGE_PLANS_FILE = 'stage-plans.json';

/**
 * What the Discord endpoint knows about each plan of its stage, read from {@link STAGE_PLANS_FILE} in its bundle.
 *
 * Not the whole plan: the endpoint reads every plan once per cold start, and two example plans alone are over 4 KB.
 * The endpoint needs only the feature ids (autocomplete, start), the phase names (status of a feature that never
 * ran), the sub-features with an LLM budget and their limits (`/rollout budget`), and the Discord settings
 * (channel and role mapping). Everything
 * else it reads from the rollout state, which carries the plan the execution runs. The plans went through the
 * plan validator at synth; at run time this is only shape-checked, so the endpoint never loads the validator.
 */
export interface StagePlan {
  readonly feature: string;
  readonly phases: readonly string[];
  /** The optional phases (run only when the approver of the phase before opts in), when there are any. */
  readonly optionalPhases?: readonly string[];
  /** The sub-features with an `llm` budget (only those, and only their id and limits). */
  readonly subFeatures: readonly LlmSubFeatureSummary[];
  /** The stage-resolved plan's Discord settings: channel, and Discord role id -> Phasegate roles. */
  readonly discord: Plan['discord'];
}

/** A sub-feature with an LLM budget, as {@link StagePlan} carries it. */
export interface LlmSubFeatureSummary {
  readonly id: string;
  readonly llm: NonNullable<SubFeature['llm']>;
}

/** The {@link StagePlan} of a stage-resolved plan (at synth time, in the construct). */
export function stagePlanOf(plan: Plan): StagePlan {
  return {
    feature: plan.feature,
    phases: plan.phases.map((p) => p.name),
    ...(plan.phases.some((p) => p.optional) ? { optionalPhases: plan.phases.filter((p) => p.optional).map((p) => p.name) } : {}),
    subFeatures: plan.subFeatures.flatMap((s) => (s.llm ? [{ id: s.id, llm: s.llm }] : [])),
    discord: {
      ...(plan.discord.channelId !== undefined ? { channelId: plan.discord.channelId } : {}),
      roles: plan.discord.roles,
    },
  };
}

/** The endpoint's stage plans ({@link STAGE_PLANS_FILE}, or `PHASEGATE_PLANS`) are missing or malformed; the message names every problem. */
export class StagePlansInvalidError extends Error {
  constructor(
    readonly problems: readonly string[],
    readonly source = 'PHASEGATE_PLANS',
  ) {
    super(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'StagePlansInvalidError';
  }
}

/** A role name as the plan validator accepts it: a built-in role or a team's own (`product-owner`). */
const ROLE_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Read the stage plans (a JSON array of {@link StagePlan}) from `source`: {@link STAGE_PLANS_FILE} or, in local runs,
 * `PHASEGATE_PLANS`. A cheap shape check with field paths, not the plan validator: the construct wrote this from
 * validated plans.
 */
export function parseStagePlans(json: string | undefined, source = 'PHASEGATE_PLANS'): StagePlan[] {
  if (json === undefined || json === '') throw new StagePlansInvalidError(['(contents): not set; the stack ships it in the Discord endpoint\'s bundle'], source);
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new StagePlansInvalidError([`(contents): not JSON: ${(err as Error).message}`], source);
  }
  if (!Array.isArray(raw)) throw new StagePlansInvalidError(['(contents): expected a JSON array of plans'], source);
  const problems: string[] = [];
  const seen = new Set<string>();
  raw.forEach((entry: unknown, i) => {
    const p = entry as Partial<Record<keyof StagePlan, unknown>> | null;
    if (typeof p !== 'object' || p === null) return problems.push(`[${i}]: expected an object`);
    if (typeof p.feature !== 'string' || !/^[a-z][a-z0-9-]{1,39}$/.test(p.feature)) problems.push(`[${i}].feature: expected a feature id`);
    else if (seen.has(p.feature)) problems.push(`[${i}].feature: "${p.feature}" appears twice`);
    else seen.add(p.feature);
    if (!isStringArray(p.phases) || p.phases.length === 0) problems.push(`[${i}].phases: expected phase names`);
    if (p.optionalPhases !== undefined && !isStringArray(p.optionalPhases)) problems.push(`[${i}].optionalPhases: expected phase names`);
    const subs = p.subFeatures;
    if (!Array.isArray(subs)) problems.push(`[${i}].subFeatures: expected a list`);
    else {
      subs.forEach((sub: unknown, j) => {
        const s = sub as { id?: unknown; llm?: { dailyCapUsd?: unknown; hardLimitUsd?: unknown } } | null;
        const ok = typeof s?.id === 'string' && typeof s.llm?.dailyCapUsd === 'number' && typeof s.llm.hardLimitUsd === 'number';
        if (!ok) problems.push(`[${i}].subFeatures[${j}]: expected { id, llm: { dailyCapUsd, hardLimitUsd } }`);
      });
    }
    const discord = p.discord as { channelId?: unknown; roles?: unknown } | undefined;
    if (typeof discord !== 'object' || discord === null) return problems.push(`[${i}].discord: expected an object`);
    if (discord.channelId !== undefined && (typeof discord.channelId !== 'string' || !/^\d{17,20}$/.test(discord.channelId))) {
      problems.push(`[${i}].discord.channelId: expected a Discord id`);
    }
    if (typeof discord.roles !== 'object' || discord.roles === null || Array.isArray(discord.roles)) {
      return problems.push(`[${i}].discord.roles: expected an object`);
    }
    for (const [roleId, roles] of Object.entries(discord.roles)) {
      if (!isStringArray(roles) || !roles.every((r) => ROLE_NAME.test(r))) {
        problems.push(`[${i}].discord.roles.${roleId}: expected Phasegate role names (admin, pm, developer, on-call, or the plan's own roles)`);
      }
    }
    return undefined;
  });
  if (problems.length > 0) throw new StagePlansInvalidError(problems, source);
  return raw as StagePlan[];
}
