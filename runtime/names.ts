/**
 * The flag contract between Phasegate, which writes environment variables on target functions, and the readers
 * that target functions install (this package, and the Python reader `python/phasegate_flags.py`). Pure
 * functions and constants, no dependencies: the control plane imports this file to write what the readers read.
 * The written specification is `docs/flags-spec.md` in the Phasegate repository.
 *
 * @packageDocumentation
 */

/** Value of the roles variable meaning "every user". */
export const ALL_ROLES = '*';

/** Separator between a feature id and a sub-feature id in a flag key: `ux-update.llm-parsing`. */
export const SUB_FEATURE_SEPARATOR = '.';

/**
 * Percentages resolve to thousandths of a percent (0.001 %): a percentage is a whole number of these units,
 * 0 to {@link PERCENT_UNITS_MAX}. The plan validator refuses finer percentages; a reader treats a finer value in
 * the environment as unparseable.
 */
export const PERCENT_UNITS_PER_PERCENT = 1000;

/** 100 % in {@link PERCENT_UNITS_PER_PERCENT | units}: the number of fine buckets. */
export const PERCENT_UNITS_MAX = 100 * PERCENT_UNITS_PER_PERCENT;

/** Prefix of the manifest variable Phasegate writes for each feature on each target: `PHASEGATE_MANIFEST_UX_UPDATE`. */
export const MANIFEST_PREFIX = 'PHASEGATE_MANIFEST_';

/** The manifest format version this reader understands. */
export const MANIFEST_VERSION = 1;

/** Suffix of an LLM sub-feature's default cap variable: `ux-update.llm-parsing` -> `UX_UPDATE_LLM_PARSING_DAILY_CAP_USD`. */
export const DAILY_CAP_SUFFIX = '_DAILY_CAP_USD';

/** `ux-update` -> `UX_UPDATE`: the prefix of a feature's default variable names. */
export function envPrefix(id: string): string {
  return id.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

/** The flag key of a sub-feature: `ux-update.llm-parsing`. */
export function subFeatureKey(feature: string, subFeatureId: string): string {
  return `${feature}${SUB_FEATURE_SEPARATOR}${subFeatureId}`;
}

/** The variable holding a feature's manifest on its targets: `ux-update` -> `PHASEGATE_MANIFEST_UX_UPDATE`. */
export function manifestVariable(feature: string): string {
  return `${MANIFEST_PREFIX}${envPrefix(feature)}`;
}

/**
 * The variable that tells an LLM sub-feature's budget guard its daily cap in US dollars (`"0"` while the
 * sub-feature is off): the plan's `llm.dailyCapVariable`, or `<KEY>_DAILY_CAP_USD` from the flag key.
 */
export function dailyCapVariable(key: string, custom?: string): string {
  return custom ?? `${envPrefix(key)}${DAILY_CAP_SUFFIX}`;
}

/**
 * Custom variable names for one flag key, as a plan's `flags` (or a sub-feature's `flags`) declares them. Every
 * name left out defaults from the key: `ux-update` -> `UX_UPDATE_ENABLED`, `UX_UPDATE_ROLES`, `UX_UPDATE_PERCENT`.
 */
export interface FlagNames {
  /** The enabled switch, or `{ name, inverted: true }` for a kill switch where `"true"` means off. */
  readonly enabled?: string | { readonly name: string; readonly inverted?: boolean };
  readonly roles?: string;
  readonly percent?: string;
}

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

/**
 * Variable names for a flag key (`feature` or `feature.sub`), with defaults derived from the key:
 * `UX_UPDATE_ENABLED`, `UX_UPDATE_ROLES`, `UX_UPDATE_PERCENT`, `UX_UPDATE_LLM_PARSING_ENABLED`, ...
 */
export function resolveFlagNames(key: string, names: FlagNames = {}): ResolvedFlagNames {
  const prefix = envPrefix(key);
  const enabled = names.enabled;
  return {
    enabled:
      enabled === undefined
        ? { name: `${prefix}_ENABLED`, inverted: false }
        : typeof enabled === 'string'
          ? { name: enabled, inverted: false }
          : { name: enabled.name, inverted: enabled.inverted ?? false },
    roles: names.roles ?? `${prefix}_ROLES`,
    percent: names.percent ?? `${prefix}_PERCENT`,
  };
}

/** One sub-feature in a {@link FeatureManifest}. */
export interface SubFeatureManifest {
  readonly names: ResolvedFlagNames;
  /** For an LLM sub-feature: its daily cap variable. */
  readonly dailyCapVariable?: string;
}

/**
 * What Phasegate manages of one feature on a target: the variable names of the feature and of each of its
 * sub-features. Written as the feature's manifest variable, so that readers need no names from the caller.
 */
export interface FeatureManifest {
  readonly feature: string;
  readonly names: ResolvedFlagNames;
  /** Every sub-feature of the plan, by id. */
  readonly subFeatures: Readonly<Record<string, SubFeatureManifest>>;
}

/** The manifest's JSON form: names equal to the key's defaults are left out to keep the variable small. */
interface ManifestJson {
  v: number;
  e?: string;
  r?: string;
  p?: string;
  c?: string;
  s?: Record<string, ManifestJson | Omit<ManifestJson, 'v' | 's'>>;
}

function compactNames(key: string, names: ResolvedFlagNames, into: Omit<ManifestJson, 'v' | 's'>): void {
  const defaults = resolveFlagNames(key);
  const enabled = `${names.enabled.inverted ? '!' : ''}${names.enabled.name}`;
  if (enabled !== defaults.enabled.name) into.e = enabled;
  if (names.roles !== defaults.roles) into.r = names.roles;
  if (names.percent !== defaults.percent) into.p = names.percent;
}

/**
 * The manifest variable's value: compact JSON, `{"v":1,"e":"!DISABLE_UX_UPDATES","s":{"llm-parsing":{...}}}`.
 * `e`, `r`, `p` are the enabled (with `!` in front for a kill switch), roles and percent variables and `c` an LLM
 * sub-feature's cap variable, each left out when it is the key's default; `s` lists every sub-feature.
 */
export function encodeManifest(manifest: FeatureManifest): string {
  const json: ManifestJson = { v: MANIFEST_VERSION };
  compactNames(manifest.feature, manifest.names, json);
  const ids = Object.keys(manifest.subFeatures);
  if (ids.length > 0) {
    json.s = {};
    for (const id of ids) {
      const sub = manifest.subFeatures[id]!;
      const key = subFeatureKey(manifest.feature, id);
      const entry: Omit<ManifestJson, 'v' | 's'> = {};
      compactNames(key, sub.names, entry);
      if (sub.dailyCapVariable !== undefined && sub.dailyCapVariable !== dailyCapVariable(key)) entry.c = sub.dailyCapVariable;
      json.s[id] = entry;
    }
  }
  return JSON.stringify(json);
}

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

function nameField(value: unknown, fallback: string): string | undefined {
  if (value === undefined) return fallback;
  return typeof value === 'string' && NAME.test(value) ? value : undefined;
}

function parseNames(key: string, json: Record<string, unknown>): ResolvedFlagNames | undefined {
  const defaults = resolveFlagNames(key);
  let enabled: ResolvedBooleanFlag = defaults.enabled;
  if (json.e !== undefined) {
    if (typeof json.e !== 'string') return undefined;
    const inverted = json.e.startsWith('!');
    const name = inverted ? json.e.slice(1) : json.e;
    if (!NAME.test(name)) return undefined;
    enabled = { name, inverted };
  }
  const roles = nameField(json.r, defaults.roles);
  const percent = nameField(json.p, defaults.percent);
  if (roles === undefined || percent === undefined) return undefined;
  return { enabled, roles, percent };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parses a manifest variable's value for `feature`. Returns undefined for anything malformed (not JSON, another
 * version, a name that is not a variable name): a reader then fails closed.
 */
export function parseManifest(feature: string, raw: string): FeatureManifest | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(json) || json.v !== MANIFEST_VERSION) return undefined;
  const names = parseNames(feature, json);
  if (names === undefined) return undefined;
  // No prototype: a sub-feature id such as `__proto__` is a plain key.
  const subFeatures = Object.create(null) as Record<string, SubFeatureManifest>;
  if (json.s !== undefined) {
    if (!isObject(json.s)) return undefined;
    for (const [id, entry] of Object.entries(json.s)) {
      if (!isObject(entry)) return undefined;
      const key = subFeatureKey(feature, id);
      const subNames = parseNames(key, entry);
      const cap = nameField(entry.c, dailyCapVariable(key));
      if (subNames === undefined || cap === undefined) return undefined;
      subFeatures[id] = { names: subNames, dailyCapVariable: cap };
    }
  }
  return { feature, names, subFeatures };
}
