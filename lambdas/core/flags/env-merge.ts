import { LAMBDA_ENV_LIMIT_BYTES } from '../contract';
import { EnvLimitError } from '../errors';

/** The result of merging Phasegate's flags into a function's environment. */
export interface EnvMerge {
  /** The full environment to write: every existing variable, with Phasegate's values laid over it. */
  readonly variables: Record<string, string>;
  /** Names whose value differs from before (new or changed). Empty when the write would change nothing. */
  readonly changed: readonly string[];
  /** Size of the merged environment as Lambda measures it against its limit ({@link environmentBytes}). */
  readonly bytes: number;
}

/**
 * Size of an environment as Lambda measures it against its 4 KB limit: the length of the compact JSON text of the
 * variables map, with every character outside printable ASCII escaped as `\uXXXX` (6 bytes per UTF-16 code unit).
 *
 * Sources: Lambda's refusal reads "...the environment variables you have provided exceeded the 4KB limit. String
 * measured: {json}", so it measures the JSON of the map, not the keys and values. LocalStack's emulation of that check
 * (localstack/localstack, the Lambda provider's `_verify_env_variables`) compares the UTF-8 length of
 * `json.dumps(env_vars, separators=(",", ":"))` with 4096; Python's `json.dumps` (ensure_ascii, the default) escapes
 * `"` and `\\` with a backslash, \b \f \n \r \t likewise, and every other character outside space to `~`
 * (controls, DEL and all non-ASCII) as `\uXXXX`, a surrogate pair as two. So `{}` measures 2 bytes, `{"A":"b"}` 9,
 * `{"A":"é"}` 14 and `{"A":"😀"}` 20.
 */
export function environmentBytes(variables: Readonly<Record<string, string>>): number {
  // JSON.stringify escapes quotes, backslashes and controls exactly as json.dumps does, and lone surrogates as
  // \uXXXX already; what it leaves raw and json.dumps escapes is DEL and every non-ASCII code unit: 1 char -> 6.
  const json = JSON.stringify(variables);
  let bytes = json.length;
  for (let i = 0; i < json.length; i++) if (json.charCodeAt(i) >= 0x7f) bytes += 5;
  return bytes;
}

/**
 * Lay `flags` over `existing`. Every variable Phasegate does not own is kept exactly as it was; nothing is
 * removed. Throws {@link EnvLimitError} when the result would pass Lambda's environment limit.
 */
export function mergeEnvironment(
  functionName: string,
  existing: Readonly<Record<string, string>>,
  flags: Readonly<Record<string, string>>,
  limit = LAMBDA_ENV_LIMIT_BYTES,
): EnvMerge {
  const variables: Record<string, string> = { ...existing };
  const changed: string[] = [];
  for (const [name, value] of Object.entries(flags)) {
    if (existing[name] !== value) changed.push(name);
    variables[name] = value;
  }
  const bytes = environmentBytes(variables);
  if (bytes > limit) throw new EnvLimitError(functionName, bytes, limit);
  return { variables, changed, bytes };
}

/**
 * Put variables back to earlier values: `before[name]` is the old value, or undefined when the variable did
 * not exist (it is removed). Every other variable is kept as it is now.
 */
export function restoreEnvironment(
  current: Readonly<Record<string, string>>,
  before: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const variables: Record<string, string> = { ...current };
  for (const [name, value] of Object.entries(before)) {
    if (value === undefined) delete variables[name];
    else variables[name] = value;
  }
  return variables;
}
