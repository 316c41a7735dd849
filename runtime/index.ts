/**
 * `@phasegate/runtime`: the few lines a target function needs to ask "is this feature on for this user?".
 *
 * Phasegate writes each feature's state as environment variables on the target functions: an enabled switch (or
 * an inverted kill switch), the roles allowed in the current phase (`*` for everyone) and a sticky percentage of
 * those users, for the feature and each sub-feature, plus one small manifest variable per feature
 * (`PHASEGATE_MANIFEST_UX_UPDATE`) naming those variables. This module reads them back: pure, no dependencies,
 * no I/O beyond `process.env` (or the `env` you pass). The rules, the bucketing and test vectors are specified in
 * `docs/flags-spec.md`, which the Python reader implements too.
 *
 * **Fail closed.** A missing or unparseable variable means OFF, never on: a function deployed before its first
 * rollout, or a hand-edited variable, cannot expose a feature by accident. {@link evaluate} says why with the
 * `MISSING_FLAGS` or `INVALID_FLAGS` reason and the variable's name.
 *
 * @example
 * ```ts
 * import { createFlagReader } from '@phasegate/runtime';
 *
 * const flags = createFlagReader({ snapshot: true }); // once, at init; names come from Phasegate's manifest
 *
 * // Per request:
 * const user = { roles: member.roles, userId: member.id };
 * if (flags.isEnabled('ux-update', user)) {
 *   const parse = flags.isEnabled('ux-update.llm-parsing', user) ? parseWithLlm : parseStructured;
 * }
 * ```
 *
 * @packageDocumentation
 */
import {
  ALL_ROLES,
  manifestVariable,
  parseManifest,
  PERCENT_UNITS_MAX,
  PERCENT_UNITS_PER_PERCENT,
  resolveFlagNames,
  SUB_FEATURE_SEPARATOR,
  type FlagNames,
  type ResolvedFlagNames,
} from './names';

export {
  ALL_ROLES,
  envPrefix,
  manifestVariable,
  MANIFEST_PREFIX,
  parseManifest,
  PERCENT_UNITS_MAX,
  PERCENT_UNITS_PER_PERCENT,
  resolveFlagNames,
  SUB_FEATURE_SEPARATOR,
  subFeatureKey,
  type FeatureManifest,
  type FlagNames,
  type ResolvedBooleanFlag,
  type ResolvedFlagNames,
  type SubFeatureManifest,
} from './names';

/** The environment the flags are read from: `process.env` or any string map. */
export type FlagEnv = Readonly<Record<string, string | undefined>>;

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
 * - `TARGETED`: on at 100 % for some roles, and this user holds one of them.
 * - `INSIDE_PERCENT`: on, the user's role is allowed and their sticky bucket is inside the percentage.
 * - `OUTSIDE_PERCENT`: the user's role is allowed but their sticky bucket is outside the percentage.
 * - `ROLE_NOT_ALLOWED`: none of the user's roles is in the roles variable.
 * - `DISABLED`: off for everyone: the enabled switch is off (or the kill switch on), the percentage is 0 or the
 *   roles variable is empty.
 * - `PARENT_DISABLED`: a sub-feature whose feature is off for this user; `parent` says why.
 * - `MISSING_USER_ID`: the percentage is between 0 and 100 and the context has no `userId`, so no sticky answer.
 * - `MISSING_FLAGS`: a variable is not set (fail closed). `variable` names it.
 * - `INVALID_FLAGS`: a variable holds something unparseable (fail closed). `variable` names it.
 *
 * For a sub-feature, an error of its feature's variables (`MISSING_USER_ID`, `MISSING_FLAGS`, `INVALID_FLAGS`) is
 * reported as such, with `decidedBy` naming the feature.
 */
export type FlagReason =
  | 'ENABLED_FOR_ALL'
  | 'TARGETED'
  | 'INSIDE_PERCENT'
  | 'OUTSIDE_PERCENT'
  | 'ROLE_NOT_ALLOWED'
  | 'DISABLED'
  | 'PARENT_DISABLED'
  | 'MISSING_USER_ID'
  | 'MISSING_FLAGS'
  | 'INVALID_FLAGS';

/** Every {@link FlagReason}, for exhaustive mappings and tests. */
export const FLAG_REASONS: readonly FlagReason[] = [
  'ENABLED_FOR_ALL',
  'TARGETED',
  'INSIDE_PERCENT',
  'OUTSIDE_PERCENT',
  'ROLE_NOT_ALLOWED',
  'DISABLED',
  'PARENT_DISABLED',
  'MISSING_USER_ID',
  'MISSING_FLAGS',
  'INVALID_FLAGS',
];

/** The reasons that mean the variables could not answer (the result is off whatever the rules say). */
export const FLAG_ERROR_REASONS: readonly FlagReason[] = ['MISSING_USER_ID', 'MISSING_FLAGS', 'INVALID_FLAGS'];

/** The outcome of {@link evaluate}. */
export interface FlagEvaluation {
  readonly enabled: boolean;
  readonly reason: FlagReason;
  /** The user's sticky bucket in [0, 100) on a 0.001 grid, when one was computed: inside when `bucket < percent`. */
  readonly bucket?: number;
  /** The percentage read from the environment, once the evaluation got that far. */
  readonly percent?: number;
  /** For `MISSING_FLAGS` and `INVALID_FLAGS`: the variable at fault. */
  readonly variable?: string;
  /** For a sub-feature answered by its feature's variables (an error there): the feature's key. */
  readonly decidedBy?: string;
  /** For `PARENT_DISABLED`: the feature's own evaluation. */
  readonly parent?: FlagEvaluation;
}

/** Options of {@link evaluate} and {@link isEnabled}. */
export interface EvaluateOptions {
  /** Where to read the variables. @default process.env */
  readonly env?: FlagEnv;
  /** Custom variable names for `key`. @default the feature's manifest, else names derived from `key` */
  readonly flags?: FlagNames;
  /** For a sub-feature key: custom variable names of its feature. @default the manifest, else derived names */
  readonly parentFlags?: FlagNames;
}

/** Options of {@link createFlagReader}. */
export interface FlagReaderOptions {
  /** Where to read the variables. @default process.env */
  readonly env?: FlagEnv;
  /**
   * Custom variable names per flag key (`feature` or `feature.sub`). Only for flags Phasegate does not manage:
   * for those it does, its manifest variable already names them. A sub-feature's parent names are looked up
   * here too. @default the feature's manifest, else names derived from each key
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
  /** Whether `key` is on for `ctx`: `evaluate(key, ctx).enabled`, without building the evaluation. */
  isEnabled(key: string, ctx?: FlagContext): boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Bucketing (docs/flags-spec.md, "Buckets"): MurmurHash3 x86 32-bit, seed 0, over the UTF-8 bytes of
// `groupId + ':' + userId`, the same hash and input as Unleash's gradual rollout, so a whole percentage lets in
// exactly the users Unleash lets in for the same group id.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const UTF8 = new TextEncoder();

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/** One 4-byte block (little-endian in `k`) into the state `h`. */
function mixBlock(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The tail (the last 0-3 bytes, in `k`), the length and the fmix32 finaliser. Unsigned. */
function finish(h: number, k: number, n: number, length: number): number {
  if (n > 0) h ^= mixK(k);
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A hash state part-way through its input: `h`, the pending bytes `k` (`n` of them) and the length so far. */
interface HashState {
  readonly h: number;
  readonly k: number;
  readonly n: number;
  readonly length: number;
}

function absorbBytes(state: HashState, bytes: Uint8Array): HashState {
  let { h, k, n, length } = state;
  for (let i = 0; i < bytes.length; i++) {
    k |= bytes[i]! << (n << 3);
    length++;
    if (++n === 4) {
      h = mixBlock(h, k);
      k = 0;
      n = 0;
    }
  }
  return { h, k, n, length };
}

/**
 * Continues the hash over the UTF-8 encoding of `text` and finishes it. ASCII is hashed in place (the common
 * case for user ids: no allocation); from the first other character on, the rest is encoded with TextEncoder,
 * which writes a lone surrogate as U+FFFD.
 */
function hashFrom(h: number, k: number, n: number, length: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      const rest = absorbBytes({ h, k, n, length }, UTF8.encode(text.slice(i)));
      return finish(rest.h, rest.k, rest.n, rest.length);
    }
    k |= c << (n << 3);
    length++;
    if (++n === 4) {
      h = mixBlock(h, k);
      k = 0;
      n = 0;
    }
  }
  return finish(h, k, n, length);
}

/**
 * MurmurHash3 x86 32-bit of the UTF-8 bytes of `text`: the hash Unleash's SDKs use for gradual rollouts.
 *
 * @example murmur3('hello') // 0x248bfa47 (613153351)
 */
export function murmur3(text: string, seed = 0): number {
  return hashFrom(seed | 0, 0, 0, 0, text);
}

/** The fine bucket of a hash, in [0, 100000): Unleash's `hash % 100` in thousands, refined by `hash / 100`. */
function fineBucket(hash: number): number {
  return (hash % 100) * PERCENT_UNITS_PER_PERCENT + (Math.floor(hash / 100) % PERCENT_UNITS_PER_PERCENT);
}

/**
 * The user's sticky bucket for a group id (the flag key), in [0, 100) on a 0.001 grid. A user is inside a
 * percentage `p` when `bucketOf(key, userId) < p`, so raising `p` only ever adds users, and each key buckets
 * users independently. Its whole part plus one is Unleash's `normalizedStrategyValue(userId, groupId)`, so at
 * every whole percentage the users inside are exactly Unleash's.
 *
 * @example bucketOf('ux-update', 'u-123') // always the same number for this key and user
 */
export function bucketOf(groupId: string, userId: string): number {
  return fineBucket(murmur3(`${groupId}:${userId}`)) / PERCENT_UNITS_PER_PERCENT;
}

const PERCENT = /^(\d+)(?:\.(\d+))?$/;

/**
 * A percentage variable's value in thousandths of a percent (`"12.5"` -> 12500), or undefined when it is not a
 * plain decimal from 0 to 100 with at most three significant decimals.
 */
export function parsePercent(raw: string): number | undefined {
  const match = PERCENT.exec(raw.trim());
  if (match === null) return undefined;
  const fraction = match[2] ?? '';
  if (/[1-9]/.test(fraction.slice(3))) return undefined; // finer than the resolution: never rounded
  const units = Number(match[1]) * PERCENT_UNITS_PER_PERCENT + Number(fraction.slice(0, 3).padEnd(3, '0'));
  return units <= PERCENT_UNITS_MAX ? units : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation.

/** One flag set's variables, parsed. */
type FlagState =
  | { readonly kind: 'missing' | 'invalid'; readonly variable: string }
  | {
      readonly kind: 'ok';
      readonly on: boolean;
      readonly everyone: boolean;
      readonly roles: ReadonlySet<string>;
      /** Thousandths of a percent. */
      readonly units: number;
    };

function parseState(names: ResolvedFlagNames, enabled: unknown, roles: unknown, percent: unknown): FlagState {
  if (typeof enabled !== 'string') return { kind: 'missing', variable: names.enabled.name };
  const switchValue = enabled.trim().toLowerCase();
  if (switchValue !== 'true' && switchValue !== 'false') return { kind: 'invalid', variable: names.enabled.name };
  if (typeof roles !== 'string') return { kind: 'missing', variable: names.roles };
  if (typeof percent !== 'string') return { kind: 'missing', variable: names.percent };
  const units = parsePercent(percent);
  if (units === undefined) return { kind: 'invalid', variable: names.percent };
  const allowed = new Set(
    roles
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r !== ''),
  );
  return { kind: 'ok', on: (switchValue === 'true') !== names.enabled.inverted, everyone: allowed.has(ALL_ROLES), roles: allowed, units };
}

/**
 * One flag key, compiled: where its names come from, the hash state after `key + ':'`, and the raw values last
 * seen with what they parsed to, so a request costs a few property reads and a short hash.
 */
interface CompiledKey {
  readonly key: string;
  /** The feature id: the key, or the key's part before the separator. */
  readonly feature: string;
  /** The feature's manifest variable, read when the caller gave no names. */
  readonly manifestVariable: string;
  /** The sub-feature id, for a sub-feature key. */
  readonly subFeatureId: string | undefined;
  /** Names the caller gave: the manifest is not read. */
  readonly custom: ResolvedFlagNames | undefined;
  readonly seed: HashState;
  /** The manifest value the names were resolved from (`null`: not resolved yet). */
  manifestRaw: string | undefined | null;
  /** Undefined while the manifest is malformed. */
  names: ResolvedFlagNames | undefined;
  enabledRaw: string | undefined;
  rolesRaw: string | undefined;
  percentRaw: string | undefined;
  state: FlagState | undefined;
}

function compileKey(key: string, custom: FlagNames | undefined): CompiledKey {
  const separator = key.indexOf(SUB_FEATURE_SEPARATOR);
  const feature = separator === -1 ? key : key.slice(0, separator);
  return {
    key,
    feature,
    manifestVariable: manifestVariable(feature),
    subFeatureId: separator === -1 ? undefined : key.slice(separator + 1),
    custom: custom === undefined ? undefined : resolveFlagNames(key, custom),
    seed: absorbBytes({ h: 0, k: 0, n: 0, length: 0 }, UTF8.encode(`${key}:`)),
    manifestRaw: null,
    names: undefined,
    enabledRaw: undefined,
    rolesRaw: undefined,
    percentRaw: undefined,
    state: undefined,
  };
}

/** The names of `entry` in `env`: the caller's, else the manifest's, else the defaults. Undefined: bad manifest. */
function namesIn(entry: CompiledKey, env: FlagEnv): ResolvedFlagNames | undefined {
  if (entry.custom !== undefined) return entry.custom;
  const raw = env[entry.manifestVariable];
  if (raw !== entry.manifestRaw) {
    entry.manifestRaw = raw;
    entry.state = undefined;
    if (raw === undefined) {
      entry.names = resolveFlagNames(entry.key);
    } else {
      const manifest = parseManifest(entry.feature, raw);
      if (manifest === undefined) entry.names = undefined;
      else if (entry.subFeatureId === undefined) entry.names = manifest.names;
      else entry.names = Object.hasOwn(manifest.subFeatures, entry.subFeatureId) ? manifest.subFeatures[entry.subFeatureId]!.names : resolveFlagNames(entry.key);
    }
  }
  return entry.names;
}

/** The parsed state of `entry` in `env`, re-parsed only when a raw value changed. */
function stateIn(entry: CompiledKey, env: FlagEnv): FlagState {
  const names = namesIn(entry, env);
  if (names === undefined) return { kind: 'invalid', variable: entry.manifestVariable };
  const enabled = env[names.enabled.name];
  const roles = env[names.roles];
  const percent = env[names.percent];
  let state = entry.state;
  if (state === undefined || enabled !== entry.enabledRaw || roles !== entry.rolesRaw || percent !== entry.percentRaw) {
    state = parseState(names, enabled, roles, percent);
    entry.enabledRaw = enabled;
    entry.rolesRaw = roles;
    entry.percentRaw = percent;
    entry.state = state;
  }
  return state;
}

function hasAllowedRole(roles: ReadonlySet<string>, ctx: FlagContext): boolean {
  if (ctx.role !== undefined && roles.has(ctx.role)) return true;
  return ctx.roles?.some((r) => roles.has(r)) ?? false;
}

function userBucket(entry: CompiledKey, userId: string): number {
  const { h, k, n, length } = entry.seed;
  return fineBucket(hashFrom(h, k, n, length, userId));
}

/** Evaluates one flag set, ignoring any parent. */
function evaluateOwn(entry: CompiledKey, env: FlagEnv, ctx: FlagContext): FlagEvaluation {
  const state = stateIn(entry, env);
  if (state.kind !== 'ok') {
    return { enabled: false, reason: state.kind === 'missing' ? 'MISSING_FLAGS' : 'INVALID_FLAGS', variable: state.variable };
  }
  const percent = state.units / PERCENT_UNITS_PER_PERCENT;
  if (!state.on) return { enabled: false, reason: 'DISABLED' };
  if (state.units === 0 || (!state.everyone && state.roles.size === 0)) return { enabled: false, reason: 'DISABLED', percent };
  if (!state.everyone && !hasAllowedRole(state.roles, ctx)) return { enabled: false, reason: 'ROLE_NOT_ALLOWED' };
  if (state.units >= PERCENT_UNITS_MAX) return { enabled: true, reason: state.everyone ? 'ENABLED_FOR_ALL' : 'TARGETED', percent };
  if (ctx.userId === undefined || ctx.userId === '') return { enabled: false, reason: 'MISSING_USER_ID', percent };
  const units = userBucket(entry, ctx.userId);
  const bucket = units / PERCENT_UNITS_PER_PERCENT;
  return units < state.units
    ? { enabled: true, reason: 'INSIDE_PERCENT', bucket, percent }
    : { enabled: false, reason: 'OUTSIDE_PERCENT', bucket, percent };
}

/** Whether one flag set lets the user in: {@link evaluateOwn}'s `enabled`, without building the result. */
function enabledOwn(entry: CompiledKey, env: FlagEnv, ctx: FlagContext): boolean {
  const state = stateIn(entry, env);
  if (state.kind !== 'ok' || !state.on || state.units === 0) return false;
  if (!state.everyone && !hasAllowedRole(state.roles, ctx)) return false;
  if (state.units >= PERCENT_UNITS_MAX) return true;
  if (ctx.userId === undefined || ctx.userId === '') return false;
  return userBucket(entry, ctx.userId) < state.units;
}

const isError = (reason: FlagReason): boolean => FLAG_ERROR_REASONS.includes(reason);

/** A compiled key and, for a sub-feature, its feature's. */
interface CompiledFlag {
  readonly own: CompiledKey;
  readonly parent: CompiledKey | undefined;
}

function evaluateFlag(flag: CompiledFlag, env: FlagEnv, ctx: FlagContext): FlagEvaluation {
  if (flag.parent !== undefined) {
    const parent = evaluateOwn(flag.parent, env, ctx);
    if (isError(parent.reason)) return { ...parent, decidedBy: flag.parent.key };
    if (!parent.enabled) return { enabled: false, reason: 'PARENT_DISABLED', parent };
  }
  return evaluateOwn(flag.own, env, ctx);
}

function isFlagEnabled(flag: CompiledFlag, env: FlagEnv, ctx: FlagContext): boolean {
  if (flag.parent !== undefined && !enabledOwn(flag.parent, env, ctx)) return false;
  return enabledOwn(flag.own, env, ctx);
}

function parentKeyOf(key: string): string | undefined {
  const separator = key.indexOf(SUB_FEATURE_SEPARATOR);
  return separator === -1 ? undefined : key.slice(0, separator);
}

function defaultEnv(): FlagEnv {
  return (globalThis as { process?: { env?: FlagEnv } }).process?.env ?? {};
}

// Keys come from code, so the caches stay small; the bound only protects against a caller that builds keys from
// user input.
const MAX_CACHED_KEYS = 1000;
const defaultFlags = new Map<string, CompiledFlag>();
const customFlags = new WeakMap<FlagNames, Map<string, CompiledFlag>>();

/** The compiled flag for {@link evaluate}: one per key and custom names object, reused across calls. */
function sharedFlag(key: string, flags: FlagNames | undefined, parentFlags: FlagNames | undefined): CompiledFlag {
  const parentKey = parentKeyOf(key);
  // Custom parent names make the pair unique to this call site: compile it afresh (cheap, and never the hot path).
  if (parentKey !== undefined && parentFlags !== undefined) {
    return { own: compileKey(key, flags), parent: compileKey(parentKey, parentFlags) };
  }
  let cache = defaultFlags;
  if (flags !== undefined) {
    cache = customFlags.get(flags) ?? new Map();
    customFlags.set(flags, cache);
  }
  let flag = cache.get(key);
  if (flag === undefined) {
    flag = { own: compileKey(key, flags), parent: parentKey === undefined ? undefined : compileKey(parentKey, undefined) };
    if (cache.size >= MAX_CACHED_KEYS) cache.clear();
    cache.set(key, flag);
  }
  return flag;
}

/**
 * Evaluates a feature (`ux-update`) or sub-feature (`ux-update.llm-parsing`) for a user, with the reason.
 *
 * On when every rule holds: the enabled switch is on (a kill switch is off); one of the user's roles is in the
 * roles variable, or it holds `*`; and the user's {@link bucketOf | sticky bucket} is inside the percentage (100
 * lets everyone in, even without a `userId`; 0 lets nobody in). A sub-feature also needs its feature on for the
 * same user. A missing or unparseable variable means off. Variable names come from `options.flags`, else from
 * the feature's manifest variable, else from the key.
 *
 * @example evaluate('ux-update', { role: 'pm', userId: 'u-1' }) // { enabled: false, reason: 'ROLE_NOT_ALLOWED' }
 */
export function evaluate(key: string, ctx: FlagContext = {}, options: EvaluateOptions = {}): FlagEvaluation {
  return evaluateFlag(sharedFlag(key, options.flags, options.parentFlags), options.env ?? defaultEnv(), ctx);
}

/**
 * Whether a feature or sub-feature is on for a user: `evaluate(key, ctx, options).enabled`. Fails closed.
 *
 * @example if (isEnabled('ux-update', { roles: ['pm'], userId })) showNewUx();
 */
export function isEnabled(key: string, ctx: FlagContext = {}, options: EvaluateOptions = {}): boolean {
  return isFlagEnabled(sharedFlag(key, options.flags, options.parentFlags), options.env ?? defaultEnv(), ctx);
}

/**
 * A reader bound to one environment, for the hot path: create it once at init. Parsed variables are cached per
 * key and reused while their raw values stay the same, so a request costs a few property reads and a hash.
 *
 * @example
 * const flags = createFlagReader({ snapshot: true });
 * flags.isEnabled('ux-update', { role: 'admin' });
 */
export function createFlagReader(options: FlagReaderOptions = {}): FlagReader {
  // process.env is a slow host object: a snapshot makes each read a plain property read. Lambda's environment is
  // fixed for the life of an execution environment (a flag change starts new ones), so this is safe there.
  const env = options.snapshot ? { ...(options.env ?? defaultEnv()) } : options.env;
  const names = options.flags ?? {};
  const namesOf = (key: string): FlagNames | undefined => (Object.hasOwn(names, key) ? names[key] : undefined);
  const compiled = new Map<string, CompiledFlag>();
  const flagFor = (key: string): CompiledFlag => {
    let flag = compiled.get(key);
    if (flag === undefined) {
      const parentKey = parentKeyOf(key);
      flag = { own: compileKey(key, namesOf(key)), parent: parentKey === undefined ? undefined : compileKey(parentKey, namesOf(parentKey)) };
      if (compiled.size >= MAX_CACHED_KEYS) compiled.clear();
      compiled.set(key, flag);
    }
    return flag;
  };
  return {
    evaluate: (key, ctx = {}) => evaluateFlag(flagFor(key), env ?? defaultEnv(), ctx),
    isEnabled: (key, ctx = {}) => isFlagEnabled(flagFor(key), env ?? defaultEnv(), ctx),
  };
}
