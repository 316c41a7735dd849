/**
 * A local stand-in for EventBridge's event pattern matching, for the pattern features Phasegate's rules use. There is
 * no EventBridge engine to run here; this follows the documented semantics, and refuses (throws on) anything else
 * rather than guessing:
 *
 * - A pattern is an object whose leaves are arrays of values; a field matches when the event's value equals one of
 *   them, and an event value that is an array matches when any of its elements does. Nested objects descend into the
 *   event, field by field. https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
 * - Content filters (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html):
 *   `{ "prefix": "s" }` matches a string that starts with `s`; `{ "anything-but": v | [v...] | { "prefix": "s" } }`
 *   matches a value present in the event that is none of those; `{ "exists": true | false }` matches a leaf field that
 *   is present or absent (absent also when a parent object is absent); `"$or": [pattern, ...]` matches when any of
 *   its patterns matches the same object.
 * - Matching is exact and case-sensitive; a field in the pattern that the event lacks does not match (except
 *   `exists: false`); fields of the event the pattern does not name are ignored.
 */

/** The pattern uses something this matcher does not implement. */
export class UnsupportedPatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedPatternError';
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isLiteral(value: unknown): value is string | number | boolean | null {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

/** Whether `event` matches the EventBridge event pattern `pattern` (see the module's comment for what is supported). */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  if (!isObject(pattern)) throw new UnsupportedPatternError(`a pattern must be an object, got ${JSON.stringify(pattern)}`);
  const fields = isObject(event) ? event : {};
  return Object.entries(pattern).every(([key, rule]) => {
    if (key === '$or') {
      if (!Array.isArray(rule) || rule.length < 2) throw new UnsupportedPatternError('$or takes an array of at least two patterns');
      return rule.some((alternative) => matchesEventPattern(alternative, event));
    }
    const value = fields[key];
    if (Array.isArray(rule)) return matchesLeaf(key, rule, value);
    if (isObject(rule)) return matchesEventPattern(rule, isObject(value) ? value : undefined);
    throw new UnsupportedPatternError(`${key}: a pattern field must be an array or an object, got ${JSON.stringify(rule)}`);
  });
}

function matchesLeaf(key: string, rules: readonly unknown[], value: unknown): boolean {
  const present = value !== undefined;
  // A leaf that is an object in the event is not a value: only `exists` can say something about it.
  const values = (Array.isArray(value) ? value : present ? [value] : []).filter((v) => !isObject(v));
  return rules.some((rule) => {
    if (isLiteral(rule)) return values.some((v) => v === rule);
    if (!isObject(rule) || Object.keys(rule).length !== 1) throw new UnsupportedPatternError(`${key}: unsupported filter ${JSON.stringify(rule)}`);
    const [operator, argument] = Object.entries(rule)[0]!;
    switch (operator) {
      case 'exists':
        if (typeof argument !== 'boolean') throw new UnsupportedPatternError(`${key}: exists takes true or false`);
        return argument ? present && !isObject(value) : !present;
      case 'prefix':
        if (typeof argument !== 'string') throw new UnsupportedPatternError(`${key}: prefix takes a string`);
        return values.some((v) => typeof v === 'string' && v.startsWith(argument));
      case 'anything-but':
        // How anything-but treats an array in the event is not needed here, so not guessed.
        if (Array.isArray(value)) throw new UnsupportedPatternError(`${key}: anything-but on an array value is not implemented by this matcher`);
        return values.length === 1 && !matchesAnythingButArgument(key, argument, values[0]);
      default:
        throw new UnsupportedPatternError(`${key}: the filter ${operator} is not implemented by this matcher`);
    }
  });
}

/** Whether `value` is one of what `anything-but` excludes. */
function matchesAnythingButArgument(key: string, argument: unknown, value: unknown): boolean {
  if (isLiteral(argument)) return value === argument;
  if (Array.isArray(argument) && argument.every(isLiteral)) return (argument as unknown[]).includes(value);
  if (isObject(argument) && Object.keys(argument).length === 1 && typeof argument.prefix === 'string') {
    return typeof value === 'string' && value.startsWith(argument.prefix);
  }
  throw new UnsupportedPatternError(`${key}: anything-but ${JSON.stringify(argument)} is not implemented by this matcher`);
}
