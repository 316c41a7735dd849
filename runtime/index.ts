/**
 * `phasegate/runtime`: the few lines a target function needs to ask "is this feature on for this user?".
 *
 * Phasegate writes each feature's state as three environment variables on the target functions (see
 * `lambdas/core/flags.ts`): an enabled switch (or an inverted kill switch), the roles allowed in the current phase
 * (`*` for everyone) and a sticky percentage of those users. This module reads them back. It is pure, has no
 * dependencies beyond the flag contract, and does no I/O: it only reads `process.env` (or the `env` you pass).
 *
 * **Fail closed.** A missing or unparseable variable means OFF, never on: a function deployed before its first
 * rollout, or a hand-edited variable, cannot expose a feature by accident. {@link evaluate} says why with the
 * `MISSING_FLAGS` or `INVALID_FLAGS` reason and the variable's name.
 *
 * @example
 * ```ts
 * import { createFlagReader } from 'phasegate/runtime';
 *
 * // Once, at init: the plan's custom variable names (omit a key to use the defaults, UX_UPDATE_ENABLED, ...).
 * const flags = createFlagReader({
 *   flags: {
 *     'ux-update': { enabled: { name: 'DISABLE_UX_UPDATES', inverted: true }, roles: 'UX_UPDATE_ROLES', percent: 'UX_UPDATE_PERCENT' },
 *     'ux-update.llm-parsing': { enabled: 'USE_LLM_PARSING', roles: 'LLM_PARSING_ROLES', percent: 'LLM_PARSING_PERCENT' },
 *   },
 * });
 *
 * // Per request:
 * const user = { roles: member.roles, userId: member.id };
 * if (flags.isEnabled('ux-update', user)) {
 *   const parse = flags.isEnabled('ux-update.llm-parsing', user) ? parseWithLlm : parseStructured;
 * }
 *
 * // Or without a reader, default names derived from the key:
 * import { isEnabled } from 'phasegate/runtime';
 * isEnabled('cohort-analyzer', { userId: 'u-123' }); // reads COHORT_ANALYZER_ENABLED, _ROLES, _PERCENT
 * ```
 *
 * @packageDocumentation
 */
import { ALL_ROLES, resolveFlagNames, SUB_FEATURE_SEPARATOR, type ResolvedFlagNames } from '../lambdas/core/flags';

export { ALL_ROLES, SUB_FEATURE_SEPARATOR, subFeatureKey } from '../lambdas/core/flags';
// The LLM budget guard is its own entry point, `phasegate/runtime/llm-budget`, so that flag readers never bundle it.
export type { LlmBudget, LlmBudgetOptions, LlmBudgetRequest, LlmBudgetResult, LlmCallOutcome, PriceTable } from './llm-budget';

/** The environment the flags are read from: `process.env` or any string map. */
export type FlagEnv = Readonly<Record<string, string | undefined>>;

/**
 * Custom variable names for one flag key, as a plan's `flags` (or a sub-feature's `flags`) writes them. Every
 * name left out defaults from the key: `ux-update` -> `UX_UPDATE_ENABLED`, `UX_UPDATE_ROLES`, `UX_UPDATE_PERCENT`.
 */
export interface FlagNames {
  /** The enabled switch, or `{ name, inverted: true }` for a kill switch where `"true"` means off. */
  readonly enabled?: string | { readonly name: string; readonly inverted?: boolean };
  readonly roles?: string;
  readonly percent?: string;
}

/** Who is asking. Every field is optional; a field a flag needs but the context lacks means off. */
export interface FlagContext {
  /** The user's role, e.g. `admin`. */
  readonly role?: string;
  /** Every role the user holds; the user is allowed when any of them (or {@link role}) is allowed. */
  readonly roles?: readonly string[];
  /** Stable user id, needed for a percentage between 0 and 100: it makes the answer sticky per user. */
  readonly userId?: string;
}

/**
 * Why a flag evaluated as it did. A string-literal union so an OpenFeature provider can map each one.
 * - `ENABLED_FOR_ALL`: on, roles `*` and 100 %: every user gets it.
 * - `TARGETED`: on, and this user's role and bucket are inside the phase's audience.
 * - `DISABLED`: the enabled switch is off (or the kill switch is on).
 * - `ROLE_NOT_ALLOWED`: none of the user's roles is in the roles variable (empty = nobody).
 * - `OUTSIDE_PERCENT`: the user's sticky bucket is not below the percentage.
 * - `MISSING_USER_ID`: the percentage is between 0 and 100 and the context has no `userId`, so no sticky answer.
 * - `PARENT_DISABLED`: a sub-feature whose feature is off for this user.
 * - `MISSING_FLAGS`: a variable is not set (fail closed). `variable` names it.
 * - `INVALID_FLAGS`: a variable holds something unparseable (fail closed). `variable` names it.
 */
export type FlagReason =
  | 'ENABLED_FOR_ALL'
  | 'TARGETED'
  | 'DISABLED'
  | 'ROLE_NOT_ALLOWED'
  | 'OUTSIDE_PERCENT'
  | 'MISSING_USER_ID'
  | 'PARENT_DISABLED'
  | 'MISSING_FLAGS'
  | 'INVALID_FLAGS';

/** Every {@link FlagReason}, for exhaustive mappings and tests. */
export const FLAG_REASONS: readonly FlagReason[] = [
  'ENABLED_FOR_ALL',
  'TARGETED',
  'DISABLED',
  'ROLE_NOT_ALLOWED',
  'OUTSIDE_PERCENT',
  'MISSING_USER_ID',
  'PARENT_DISABLED',
  'MISSING_FLAGS',
  'INVALID_FLAGS',
];

/** The outcome of {@link evaluate}. */
export interface FlagEvaluation {
  readonly enabled: boolean;
  readonly reason: FlagReason;
  /** The user's sticky bucket in [0, 100), when one was computed. */
  readonly bucket?: number;
  /** The percentage read from the environment, once the evaluation got that far. */
  readonly percent?: number;
  /** For `MISSING_FLAGS` and `INVALID_FLAGS`: the variable at fault. */
  readonly variable?: string;
}

/** Options of {@link evaluate} and {@link isEnabled}. */
export interface EvaluateOptions {
  /** Where to read the variables. @default process.env */
  readonly env?: FlagEnv;
  /** Custom variable names for `key`. @default names derived from `key` */
  readonly flags?: FlagNames;
  /** For a sub-feature key: custom variable names of its parent feature. @default names derived from the feature id */
  readonly parentFlags?: FlagNames;
}

/** Options of {@link createFlagReader}. */
export interface FlagReaderOptions {
  /** Where to read the variables. @default process.env */
  readonly env?: FlagEnv;
  /**
   * Custom variable names per flag key (`feature` or `feature.sub`), as the plan declares them. A sub-feature's
   * parent names are looked up here too. @default names derived from each key
   */
  readonly flags?: Readonly<Record<string, FlagNames>>;
  /**
   * Copy the environment once, when the reader is created, instead of reading it on every evaluation. Right for
   * Lambda, whose environment never changes within an execution environment; wrong where it is changed at run
   * time (tests). @default false
   */
  readonly snapshot?: boolean;
}

/** Evaluates flags against one environment. Create it once per process with {@link createFlagReader}. */
export interface FlagReader {
  /** {@link evaluate} against this reader's environment and names. */
  evaluate(key: string, ctx?: FlagContext): FlagEvaluation;
  /** Whether `key` is on for `ctx`: `evaluate(key, ctx).enabled`. */
  isEnabled(key: string, ctx?: FlagContext): boolean;
}

const BUCKETS = 10000;

/**
 * The user's sticky bucket for a flag key, in [0, 100) with 0.01 steps. A user is inside a percentage `p` when
 * `bucketOf(key, userId) < p`, so raising `p` only ever adds users, and each key buckets users independently.
 *
 * The algorithm is part of the contract (changing it would reshuffle who has which feature): the UTF-8 bytes of
 * `key + ':' + userId` hashed with 32-bit FNV-1a, then mixed with MurmurHash3's `fmix32` finalizer so that ids
 * differing only in their last characters spread evenly; the unsigned result `% 10000 / 100`.
 *
 * @example bucketOf('ux-update', 'u-123') // a number like 42.17, always the same for this key and user
 */
export function bucketOf(key: string, userId: string): number {
  return (hash32(`${key}:${userId}`) % BUCKETS) / 100;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a state `h` advanced over the UTF-8 encoding of `text` (encoded inline: no allocation, no closure). */
function fnvUpdate(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    // A lone surrogate encodes as U+FFFD, as TextEncoder and Buffer do.
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME);
    } else if (c < 0x10000) {
      h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    } else {
      h = Math.imul(h ^ (0xf0 | (c >> 18)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    }
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
  }
  return h;
}

/** MurmurHash3's fmix32 finalizer; unsigned result. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over the UTF-8 encoding of `text`, then fmix32. Unsigned. */
function hash32(text: string): number {
  return fmix32(fnvUpdate(FNV_OFFSET, text));
}

/** One flag set's variables, parsed. */
type FlagState =
  | { readonly kind: 'missing' | 'invalid'; readonly variable: string }
  | { readonly kind: 'ok'; readonly on: boolean; readonly everyone: boolean; readonly roles: ReadonlySet<string>; readonly percent: number };

/** Names resolved for a key, with a string that identifies them in the per-environment cache. */
interface Names {
  readonly resolved: ResolvedFlagNames;
  readonly id: string;
}

/** A parsed flag state and the raw values it was parsed from: reused while the values are unchanged. */
interface CachedState {
  enabled: string | undefined;
  roles: string | undefined;
  percent: string | undefined;
  state: FlagState;
}

const PERCENT = /^(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;

function parseState(names: ResolvedFlagNames, enabled: unknown, roles: unknown, percent: unknown): FlagState {
  if (typeof enabled !== 'string') return { kind: 'missing', variable: names.enabled.name };
  const switchValue = enabled.trim().toLowerCase();
  if (switchValue !== 'true' && switchValue !== 'false') return { kind: 'invalid', variable: names.enabled.name };
  if (typeof roles !== 'string') return { kind: 'missing', variable: names.roles };
  if (typeof percent !== 'string') return { kind: 'missing', variable: names.percent };
  const trimmed = percent.trim();
  const value = PERCENT.test(trimmed) ? Number(trimmed) : NaN;
  if (!(value >= 0 && value <= 100)) return { kind: 'invalid', variable: names.percent };
  const allowed = new Set(
    roles
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r !== ''),
  );
  return {
    kind: 'ok',
    on: (switchValue === 'true') !== names.enabled.inverted,
    everyone: allowed.has(ALL_ROLES),
    roles: allowed,
    percent: value,
  };
}

// Names depend only on the key and the custom names object: resolve each pair once per process. Keys come from
// code, so the caches stay small; the bound only protects against a caller that builds keys from user input.
const MAX_CACHED_KEYS = 1000;
const defaultNames = new Map<string, Names>();
const customNames = new WeakMap<FlagNames, Map<string, Names>>();

function toNames(resolved: ResolvedFlagNames): Names {
  const { enabled, roles, percent } = resolved;
  return { resolved, id: `${enabled.name}\u0000${enabled.inverted ? 1 : 0}\u0000${roles}\u0000${percent}` };
}

function namesFor(key: string, custom: FlagNames | undefined): Names {
  let cache = defaultNames;
  if (custom !== undefined) {
    let forCustom = customNames.get(custom);
    if (forCustom === undefined) {
      forCustom = new Map();
      customNames.set(custom, forCustom);
    }
    cache = forCustom;
  }
  let names = cache.get(key);
  if (names === undefined) {
    const enabled = custom?.enabled;
    names = toNames(
      resolveFlagNames(key, {
        ...custom,
        enabled: typeof enabled === 'object' ? { name: enabled.name, inverted: enabled.inverted ?? false } : enabled,
      }),
    );
    if (cache.size >= MAX_CACHED_KEYS) cache.clear();
    cache.set(key, names);
  }
  return names;
}

// Parsed states per environment object (identity), checked against the raw values on every read: Lambda's
// environment never changes within a process, but tests and local runs change process.env between calls.
const statesByEnv = new WeakMap<FlagEnv, Map<string, CachedState>>();

function readState(env: FlagEnv, names: Names): FlagState {
  let states = statesByEnv.get(env);
  if (states === undefined) {
    states = new Map();
    statesByEnv.set(env, states);
  }
  const { resolved } = names;
  const enabled = env[resolved.enabled.name];
  const roles = env[resolved.roles];
  const percent = env[resolved.percent];
  const cached = states.get(names.id);
  if (cached !== undefined && cached.enabled === enabled && cached.roles === roles && cached.percent === percent) {
    return cached.state;
  }
  const state = parseState(resolved, enabled, roles, percent);
  if (states.size >= MAX_CACHED_KEYS) states.clear();
  states.set(names.id, { enabled, roles, percent, state });
  return state;
}

function hasAllowedRole(state: { readonly roles: ReadonlySet<string> }, ctx: FlagContext): boolean {
  if (ctx.role !== undefined && state.roles.has(ctx.role)) return true;
  return ctx.roles?.some((r) => state.roles.has(r)) ?? false;
}

/** Evaluates one flag set, ignoring any parent. */
function evaluateOwn(key: string, state: FlagState, ctx: FlagContext): FlagEvaluation {
  if (state.kind !== 'ok') {
    return { enabled: false, reason: state.kind === 'missing' ? 'MISSING_FLAGS' : 'INVALID_FLAGS', variable: state.variable };
  }
  if (!state.on) return { enabled: false, reason: 'DISABLED' };
  if (!state.everyone && !hasAllowedRole(state, ctx)) return { enabled: false, reason: 'ROLE_NOT_ALLOWED' };
  const { percent } = state;
  if (percent >= 100) return { enabled: true, reason: state.everyone ? 'ENABLED_FOR_ALL' : 'TARGETED', percent };
  if (percent <= 0) return { enabled: false, reason: 'OUTSIDE_PERCENT', percent };
  if (ctx.userId === undefined || ctx.userId === '') return { enabled: false, reason: 'MISSING_USER_ID', percent };
  const bucket = bucketOf(key, ctx.userId);
  return bucket < percent
    ? { enabled: true, reason: 'TARGETED', bucket, percent }
    : { enabled: false, reason: 'OUTSIDE_PERCENT', bucket, percent };
}

function evaluateIn(
  env: FlagEnv,
  key: string,
  ctx: FlagContext,
  flags: FlagNames | undefined,
  parentFlags: FlagNames | undefined,
): FlagEvaluation {
  const separator = key.indexOf(SUB_FEATURE_SEPARATOR);
  if (separator !== -1) {
    const parentKey = key.slice(0, separator);
    const parent = evaluateOwn(parentKey, readState(env, namesFor(parentKey, parentFlags)), ctx);
    if (!parent.enabled) return { enabled: false, reason: 'PARENT_DISABLED' };
  }
  return evaluateOwn(key, readState(env, namesFor(key, flags)), ctx);
}

function defaultEnv(): FlagEnv {
  return (globalThis as { process?: { env?: FlagEnv } }).process?.env ?? {};
}

/**
 * Evaluates a feature (`ux-update`) or sub-feature (`ux-update.llm-parsing`) for a user, with the reason.
 *
 * On when every rule holds: the enabled switch is on (a kill switch is off); one of the user's roles is in the
 * roles variable, or it holds `*`; and the user's {@link bucketOf | sticky bucket} is below the percentage (100
 * lets everyone in, even without a `userId`; 0 lets nobody in). A sub-feature also needs its feature on for the
 * same user. A missing or unparseable variable means off.
 *
 * @example evaluate('ux-update', { role: 'pm', userId: 'u-1' }) // { enabled: false, reason: 'ROLE_NOT_ALLOWED' }
 */
export function evaluate(key: string, ctx: FlagContext = {}, options: EvaluateOptions = {}): FlagEvaluation {
  return evaluateIn(options.env ?? defaultEnv(), key, ctx, options.flags, options.parentFlags);
}

/**
 * Whether a feature or sub-feature is on for a user: `evaluate(key, ctx, options).enabled`. Fails closed.
 *
 * @example if (isEnabled('ux-update', { roles: ['pm'], userId })) showNewUx();
 */
export function isEnabled(key: string, ctx: FlagContext = {}, options: EvaluateOptions = {}): boolean {
  return evaluate(key, ctx, options).enabled;
}

/**
 * A reader bound to one environment and the plan's variable names, for the hot path: create it once at init.
 * Parsed variables are cached per environment object and reused while their raw values stay the same, so a
 * request costs three property reads and a hash.
 *
 * @example
 * const flags = createFlagReader({ flags: { 'ux-update': { roles: 'UX_UPDATE_ROLES' } } });
 * flags.isEnabled('ux-update', { role: 'admin' });
 */
export function createFlagReader(options: FlagReaderOptions = {}): FlagReader {
  // process.env is a slow host object: a snapshot makes each read a plain property read. Lambda's environment is
  // fixed for the life of an execution environment (a flag change starts new ones), so this is safe there.
  const env = options.snapshot ? { ...(options.env ?? defaultEnv()) } : options.env;
  const flags = options.flags ?? {};
  const namesOf = (key: string): FlagNames | undefined => (Object.hasOwn(flags, key) ? flags[key] : undefined);
  const evaluateKey = (key: string, ctx: FlagContext = {}): FlagEvaluation => {
    const separator = key.indexOf(SUB_FEATURE_SEPARATOR);
    const parentNames = separator === -1 ? undefined : namesOf(key.slice(0, separator));
    return evaluateIn(env ?? defaultEnv(), key, ctx, namesOf(key), parentNames);
  };

  // The hot path: per key, the resolved names, the raw values last seen and what they parsed to, and the hash
  // state after `key + ':'`, so a request costs three property reads, a short hash and no allocation.
  const compiled = new Map<string, CompiledKey>();
  const compile = (key: string, names: FlagNames | undefined): CompiledKey => ({
    key,
    names: namesFor(key, names).resolved,
    seed: fnvUpdate(FNV_OFFSET, `${key}:`),
    enabled: undefined,
    roles: undefined,
    percent: undefined,
    state: undefined,
  });
  const entryFor = (key: string): CompiledKey => {
    let entry = compiled.get(key);
    if (entry === undefined) {
      entry = compile(key, namesOf(key));
      const separator = key.indexOf(SUB_FEATURE_SEPARATOR);
      if (separator !== -1) {
        const parentKey = key.slice(0, separator);
        entry.parent = compile(parentKey, namesOf(parentKey));
      }
      if (compiled.size >= MAX_CACHED_KEYS) compiled.clear();
      compiled.set(key, entry);
    }
    return entry;
  };
  const enabledFast = (entry: CompiledKey, e: FlagEnv, ctx: FlagContext): boolean => {
    const enabled = e[entry.names.enabled.name];
    const roles = e[entry.names.roles];
    const percent = e[entry.names.percent];
    let state = entry.state;
    if (state === undefined || enabled !== entry.enabled || roles !== entry.roles || percent !== entry.percent) {
      state = parseState(entry.names, enabled, roles, percent);
      entry.enabled = enabled;
      entry.roles = roles;
      entry.percent = percent;
      entry.state = state;
    }
    if (state.kind !== 'ok' || !state.on) return false;
    if (!state.everyone && !hasAllowedRole(state, ctx)) return false;
    if (state.percent >= 100) return true;
    if (state.percent <= 0 || ctx.userId === undefined || ctx.userId === '') return false;
    return (fmix32(fnvUpdate(entry.seed, ctx.userId)) % BUCKETS) / 100 < state.percent;
  };
  return {
    evaluate: evaluateKey,
    isEnabled: (key, ctx = {}) => {
      const entry = entryFor(key);
      const e = env ?? defaultEnv();
      if (entry.parent !== undefined && !enabledFast(entry.parent, e, ctx)) return false;
      return enabledFast(entry, e, ctx);
    },
  };
}

/** A key compiled for {@link createFlagReader}'s hot path. */
interface CompiledKey {
  readonly key: string;
  readonly names: ResolvedFlagNames;
  /** FNV-1a state after hashing `key + ':'`. */
  readonly seed: number;
  parent?: CompiledKey;
  enabled: string | undefined;
  roles: string | undefined;
  percent: string | undefined;
  state: FlagState | undefined;
}
