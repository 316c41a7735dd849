import type { z } from 'zod';

/**
 * The plan validator's words for the problems zod finds without a message of Phasegate's own: what was expected and
 * what the plan has, never zod's stock text ("Invalid input", "Unrecognized key"). The field path is added by the
 * validator (`phases[2].bake: ...`). Schema-level messages (the ISO duration, a role name) take precedence over
 * these; this mapping covers every other issue code.
 */

const got = (input: unknown): string => {
  if (input === undefined) return 'nothing';
  if (Array.isArray(input)) return input.length === 0 ? 'an empty list' : 'a list';
  if (input === null) return 'null';
  if (typeof input === 'object') return 'an object';
  return JSON.stringify(input);
};

const KIND: Readonly<Record<string, string>> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
  record: 'an object',
  nan: 'a number',
};

/** The shape keys of the object schema an issue came from, when zod hands the schema over. */
function knownKeys(issue: { inst?: unknown }): string[] {
  const shape = (issue.inst as { def?: { shape?: Record<string, unknown> } } | undefined)?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

type RawIssue = z.core.$ZodRawIssue;

/**
 * Phasegate's message for one zod issue that has no schema-level message; pass as the per-parse `error` option
 * (`schema.safeParse(raw, { error: planIssueMessage })`).
 */
export function planIssueMessage(issue: RawIssue): string {
  const i = issue as RawIssue & Record<string, unknown>;
  switch (issue.code) {
    case 'invalid_type': {
      const expected = KIND[String(i.expected)] ?? String(i.expected);
      return issue.input === undefined ? `required: expected ${expected}` : `expected ${expected}, got ${got(issue.input)}`;
    }
    case 'unrecognized_keys': {
      const keys = (i.keys as string[]) ?? [];
      const known = knownKeys(i);
      const fields = keys.map((k) => `"${k}"`).join(', ');
      return `unknown field${keys.length === 1 ? '' : 's'} ${fields}${known.length ? ` (fields here: ${known.join(', ')})` : ''}`;
    }
    case 'invalid_value': {
      const values = ((i.values as unknown[]) ?? []).map((v) => JSON.stringify(v));
      return values.length === 1 ? `expected ${values[0]}, got ${got(issue.input)}` : `expected one of ${values.join(', ')}, got ${got(issue.input)}`;
    }
    case 'too_small': {
      const min = Number(i.minimum);
      if (i.origin === 'array') return min === 1 ? 'expected at least one entry, got none' : `expected at least ${min} entries, got ${(issue.input as unknown[]).length}`;
      if (i.origin === 'string') return min === 1 ? 'expected text, got an empty string' : `expected at least ${min} characters`;
      return i.inclusive === false ? `expected more than ${min}, got ${got(issue.input)}` : `expected at least ${min}, got ${got(issue.input)}`;
    }
    case 'too_big': {
      const max = Number(i.maximum);
      if (i.origin === 'array') return `expected at most ${max} entries, got ${(issue.input as unknown[]).length}`;
      if (i.origin === 'string') return `expected at most ${max} characters, got ${(issue.input as string).length}`;
      return i.inclusive === false ? `expected less than ${max}, got ${got(issue.input)}` : `expected at most ${max}, got ${got(issue.input)}`;
    }
    case 'invalid_format':
      return `${got(issue.input)} does not have the expected form${i.pattern ? ` (${String(i.pattern)})` : ''}`;
    case 'not_multiple_of':
      return `expected a multiple of ${String(i.divisor)}, got ${got(issue.input)}`;
    case 'invalid_union': {
      // The union's branches say what each accepted: name the kinds, not zod's nested reports.
      const kinds = new Set(
        ((i.errors as { code: string; expected?: string }[][]) ?? []).flatMap((branch) =>
          branch.filter((e) => e.code === 'invalid_type' && e.expected).map((e) => KIND[e.expected!] ?? e.expected!),
        ),
      );
      return kinds.size > 0 ? `expected ${[...kinds].join(' or ')}, got ${got(issue.input)}` : `${got(issue.input)} matches none of the accepted forms`;
    }
    case 'invalid_key':
      return `${got(issue.input)} is not an accepted key here`;
    case 'invalid_element':
      return `${got(issue.input)} is not an accepted entry`;
    default:
      return `${got(issue.input)} is not accepted here`;
  }
}
