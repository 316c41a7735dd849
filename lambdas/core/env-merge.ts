import { LAMBDA_ENV_LIMIT_BYTES } from './contract';
import { EnvLimitError } from './errors';

/** The result of merging Phasegate's flags into a function's environment. */
export interface EnvMerge {
  /** The full environment to write: every existing variable, with Phasegate's values laid over it. */
  readonly variables: Record<string, string>;
  /** Names whose value differs from before (new or changed). Empty when the write would change nothing. */
  readonly changed: readonly string[];
  /** Size of the merged environment as Lambda counts it: UTF-8 bytes of every key and value. */
  readonly bytes: number;
}

/** Size of an environment as Lambda counts it against its 4 KB limit. */
export function environmentBytes(variables: Readonly<Record<string, string>>): number {
  let bytes = 0;
  for (const [key, value] of Object.entries(variables)) bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
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
