/**
 * A plan's target: a Lambda function by name or ARN, optionally with an alias (`my-fn:live`,
 * `arn:aws:lambda:...:function:my-fn:live`). An alias target's code runs a published version whose environment is
 * frozen, so flags reach it only through a new version and the alias moved to it.
 */
export interface TargetRef {
  /** The unqualified function: its name or unqualified ARN, as the plan gives it. */
  readonly functionName: string;
  /** The alias the code is invoked through, when the target names one. */
  readonly alias?: string;
}

const ARN_PREFIX = /^arn:[^:]+:lambda:[^:]+:\d{12}:function:/;

/** Split a target into its function and alias. */
export function parseTarget(target: string): TargetRef {
  if (ARN_PREFIX.test(target)) {
    const parts = target.split(':');
    return parts.length === 8 ? { functionName: parts.slice(0, 7).join(':'), alias: parts[7]! } : { functionName: target };
  }
  const at = target.indexOf(':');
  return at < 0 ? { functionName: target } : { functionName: target.slice(0, at), alias: target.slice(at + 1) };
}

/** The function name alone (no ARN, no alias): what the `FunctionName` dimension of its metrics holds. */
export function functionNameOf(target: string): string {
  const { functionName } = parseTarget(target);
  return ARN_PREFIX.test(functionName) ? functionName.split(':')[6]! : functionName;
}
