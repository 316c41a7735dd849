import type { BooleanFlag, FlagNames, Plan } from './plan/schema';

/**
 * The flag contract between Phasegate (which writes environment variables on the target functions) and the
 * runtime library (which reads them). Pure functions, no dependencies: the runtime library imports this file.
 */

/** A boolean flag with its polarity made explicit. */
export interface ResolvedBooleanFlag {
  readonly name: string;
  /** Kill-switch polarity: the variable says "true" when the feature is off. */
  readonly inverted: boolean;
}

/** The three variables that carry one feature's or sub-feature's state on a target. */
export interface ResolvedFlagNames {
  readonly enabled: ResolvedBooleanFlag;
  readonly roles: string;
  readonly percent: string;
}

/** Value of the roles variable meaning "every user". */
export const ALL_ROLES = '*';

/** Separator between a feature id and a sub-feature id in a flag key: `ux-update.llm-parsing`. */
export const SUB_FEATURE_SEPARATOR = '.';

/** `ux-update` -> `UX_UPDATE`: the prefix of a feature's default variable names. */
export function envPrefix(id: string): string {
  return id.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

function resolveBoolean(flag: BooleanFlag | undefined, fallback: string): ResolvedBooleanFlag {
  if (flag === undefined) return { name: fallback, inverted: false };
  if (typeof flag === 'string') return { name: flag, inverted: false };
  return { name: flag.name, inverted: flag.inverted ?? false };
}

/**
 * Variable names for a flag key (`feature` or `feature.sub`), with defaults derived from the key:
 * `UX_UPDATE_ENABLED`, `UX_UPDATE_ROLES`, `UX_UPDATE_PERCENT`, `UX_UPDATE_LLM_PARSING_ENABLED`, ...
 */
export function resolveFlagNames(key: string, names: FlagNames = {}): ResolvedFlagNames {
  const prefix = envPrefix(key);
  return {
    enabled: resolveBoolean(names.enabled, `${prefix}_ENABLED`),
    roles: names.roles ?? `${prefix}_ROLES`,
    percent: names.percent ?? `${prefix}_PERCENT`,
  };
}

/** The flag key of a sub-feature: `ux-update.llm-parsing`. */
export function subFeatureKey(feature: string, subFeatureId: string): string {
  return `${feature}${SUB_FEATURE_SEPARATOR}${subFeatureId}`;
}

/** Suffix of an LLM sub-feature's default cap variable: `ux-update.llm-parsing` -> `UX_UPDATE_LLM_PARSING_DAILY_CAP_USD`. */
export const DAILY_CAP_SUFFIX = '_DAILY_CAP_USD';

/**
 * The variable that tells an LLM sub-feature's budget guard its daily cap in US dollars (`"0"` while the
 * sub-feature is off): the plan's `llm.dailyCapVariable`, or `<KEY>_DAILY_CAP_USD` from the flag key.
 */
export function dailyCapVariable(key: string, custom?: string): string {
  return custom ?? `${envPrefix(key)}${DAILY_CAP_SUFFIX}`;
}

/** One flag set (the feature's or a sub-feature's) of a plan. */
export interface PlanFlagSet {
  readonly key: string;
  readonly subFeatureId?: string;
  readonly names: ResolvedFlagNames;
  /** For an LLM sub-feature: the variable carrying its daily cap to the budget guard, and the plan's cap. */
  readonly dailyCap?: { readonly name: string; readonly usd: number };
}

/** Every flag set a plan writes: the feature's first, then each sub-feature's. */
export function planFlagSets(plan: Pick<Plan, 'feature' | 'flags' | 'subFeatures'>): PlanFlagSet[] {
  return [
    { key: plan.feature, names: resolveFlagNames(plan.feature, plan.flags) },
    ...plan.subFeatures.map((sub) => ({
      key: subFeatureKey(plan.feature, sub.id),
      subFeatureId: sub.id,
      names: resolveFlagNames(subFeatureKey(plan.feature, sub.id), sub.flags),
      ...(sub.llm
        ? { dailyCap: { name: dailyCapVariable(subFeatureKey(plan.feature, sub.id), sub.llm.dailyCapVariable), usd: sub.llm.dailyCapUsd } }
        : {}),
    })),
  ];
}

/** Every environment variable name a plan owns on its targets. */
export function planFlagNames(plan: Pick<Plan, 'feature' | 'flags' | 'subFeatures'>): string[] {
  return planFlagSets(plan).flatMap((set) => [
    set.names.enabled.name,
    set.names.roles,
    set.names.percent,
    ...(set.dailyCap ? [set.dailyCap.name] : []),
  ]);
}

/** Flag values for one flag set. An LLM sub-feature's cap is written while it is on, "0" (nothing) when off. */
function encode(set: PlanFlagSet, on: boolean, roles: readonly string[], percent: number): Record<string, string> {
  const { names } = set;
  const enabled = on !== names.enabled.inverted;
  return {
    [names.enabled.name]: String(enabled),
    [names.roles]: on ? (roles.includes('all') ? ALL_ROLES : roles.join(',')) : '',
    [names.percent]: on ? String(percent) : '0',
    ...(set.dailyCap ? { [set.dailyCap.name]: on ? String(set.dailyCap.usd) : '0' } : {}),
  };
}

/**
 * The environment variables that put every target into phase `phaseIndex` of the plan. Sub-features listed in
 * `subFeaturesOff` (rolled back on their own, e.g. by their LLM cost alarm) stay off whatever the phase says.
 */
export function phaseFlagValues(plan: Plan, phaseIndex: number, options: { subFeaturesOff?: readonly string[] } = {}): Record<string, string> {
  const phase = plan.phases[phaseIndex];
  if (!phase) throw new RangeError(`plan "${plan.feature}" has no phase ${phaseIndex}`);
  const values: Record<string, string> = {};
  for (const set of planFlagSets(plan)) {
    if (set.subFeatureId === undefined) {
      Object.assign(values, encode(set, true, phase.roles, phase.percent));
      continue;
    }
    const exposure = options.subFeaturesOff?.includes(set.subFeatureId) ? undefined : phase.subFeatures[set.subFeatureId];
    Object.assign(
      values,
      encode(set, exposure !== undefined, exposure?.roles ?? phase.roles, exposure?.percent ?? phase.percent),
    );
  }
  return values;
}

/** The environment variables that turn the whole feature, and every sub-feature, off. */
export function offFlagValues(plan: Plan): Record<string, string> {
  const values: Record<string, string> = {};
  for (const set of planFlagSets(plan)) Object.assign(values, encode(set, false, [], 0));
  return values;
}

/**
 * The safe state after a failure in phase `failedPhaseIndex`: everything off, or the previous phase's flags
 * when the plan says `rollback.to: previous-phase` (off when the first phase failed).
 */
export function safeFlagValues(plan: Plan, failedPhaseIndex: number, options: { subFeaturesOff?: readonly string[] } = {}): Record<string, string> {
  if (plan.rollback.to === 'previous-phase' && failedPhaseIndex > 0) {
    return phaseFlagValues(plan, Math.min(failedPhaseIndex, plan.phases.length) - 1, options);
  }
  return offFlagValues(plan);
}

/** Only one sub-feature's variables, set off: the feature itself stays where it is. */
export function subFeatureOffValues(plan: Plan, subFeatureId: string): Record<string, string> {
  const set = planFlagSets(plan).find((s) => s.subFeatureId === subFeatureId);
  if (!set) throw new RangeError(`plan "${plan.feature}" has no sub-feature "${subFeatureId}"`);
  return encode(set, false, [], 0);
}
