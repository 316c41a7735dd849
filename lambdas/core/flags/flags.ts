import {
  ALL_ROLES,
  dailyCapVariable,
  encodeManifest,
  manifestVariable,
  resolveFlagNames,
  subFeatureKey,
  type ResolvedFlagNames,
} from '../../../runtime/names';
import { ownValue } from '../own';
import type { Plan } from '../plan/schema';

/**
 * The values Phasegate writes on the target functions for each phase, rollback and off switch. The contract
 * itself (variable names, the manifest, the percentage resolution) lives with the readers that target functions
 * install, in `runtime/names.ts`, and is re-exported here for the control plane.
 */
export {
  ALL_ROLES,
  DAILY_CAP_SUFFIX,
  dailyCapVariable,
  envPrefix,
  manifestVariable,
  MANIFEST_PREFIX,
  PERCENT_UNITS_PER_PERCENT,
  resolveFlagNames,
  SUB_FEATURE_SEPARATOR,
  subFeatureKey,
  type ResolvedBooleanFlag,
  type ResolvedFlagNames,
} from '../../../runtime/names';

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

/**
 * The feature's manifest variable and its value: every variable name of the feature and its sub-features, so
 * that a reader on the target needs none from its caller (`runtime/names.ts` has the format). Every write
 * Phasegate makes (phase, off, safe, one sub-feature off) carries it, with the same value, so a rollback leaves
 * it in place and a reader keeps finding the (off) flags.
 */
export function planManifest(plan: Pick<Plan, 'feature' | 'flags' | 'subFeatures'>): { readonly name: string; readonly value: string } {
  const [feature, ...subs] = planFlagSets(plan);
  return {
    name: manifestVariable(plan.feature),
    value: encodeManifest({
      feature: plan.feature,
      names: feature!.names,
      subFeatures: Object.fromEntries(
        subs.map((set) => [set.subFeatureId!, { names: set.names, ...(set.dailyCap ? { dailyCapVariable: set.dailyCap.name } : {}) }]),
      ),
    }),
  };
}

/** Every environment variable name a plan owns on its targets: each flag set's, then the manifest's. */
export function planFlagNames(plan: Pick<Plan, 'feature' | 'flags' | 'subFeatures'>): string[] {
  return [
    ...planFlagSets(plan).flatMap((set) => [
      set.names.enabled.name,
      set.names.roles,
      set.names.percent,
      ...(set.dailyCap ? [set.dailyCap.name] : []),
    ]),
    manifestVariable(plan.feature),
  ];
}

/** The manifest variable as a one-entry map, laid over every set of values Phasegate writes. */
function withManifest(plan: Pick<Plan, 'feature' | 'flags' | 'subFeatures'>, values: Record<string, string>): Record<string, string> {
  const manifest = planManifest(plan);
  values[manifest.name] = manifest.value;
  return values;
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
  // A dark phase (a dry run: deployed with the feature off) writes the off values, and bakes and gates on them.
  if (phase.dark) return offFlagValues(plan);
  const values: Record<string, string> = {};
  for (const set of planFlagSets(plan)) {
    if (set.subFeatureId === undefined) {
      Object.assign(values, encode(set, true, phase.roles, phase.percent));
      continue;
    }
    const exposure = options.subFeaturesOff?.includes(set.subFeatureId) ? undefined : ownValue(phase.subFeatures, set.subFeatureId);
    Object.assign(
      values,
      encode(set, exposure !== undefined, exposure?.roles ?? phase.roles, exposure?.percent ?? phase.percent),
    );
  }
  return withManifest(plan, values);
}

/** The environment variables that turn the whole feature, and every sub-feature, off. */
export function offFlagValues(plan: Plan): Record<string, string> {
  const values: Record<string, string> = {};
  for (const set of planFlagSets(plan)) Object.assign(values, encode(set, false, [], 0));
  return withManifest(plan, values);
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
  return withManifest(plan, encode(set, false, [], 0));
}
