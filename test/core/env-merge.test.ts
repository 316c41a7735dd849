import fc from 'fast-check';
import { LAMBDA_ENV_LIMIT_BYTES } from '../../lambdas/core/contract';
import { environmentBytes, mergeEnvironment, restoreEnvironment } from '../../lambdas/core/flags/env-merge';
import { EnvLimitError } from '../../lambdas/core/errors';

type Env = Record<string, string>;

/**
 * Lambda's measure, written independently of the module under test from the escaping rules of Python's
 * `json.dumps(map, separators=(",", ":"))` (ensure_ascii): per UTF-16 code unit, `"` and `\\` and \b \f \n \r \t cost 2,
 * other printable ASCII (space to `~`) 1, everything else (controls, DEL, non-ASCII) 6 as `\uXXXX`.
 */
const jsonStringBytes = (text: string): number => {
  let bytes = 2;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x0c || c === 0x0a || c === 0x0d || c === 0x09) bytes += 2;
    else if (c >= 0x20 && c <= 0x7e) bytes += 1;
    else bytes += 6;
  }
  return bytes;
};
const referenceBytes = (env: Env): number => {
  const entries = Object.entries(env);
  return 2 + Math.max(0, entries.length - 1) + entries.reduce((sum, [k, v]) => sum + jsonStringBytes(k) + 1 + jsonStringBytes(v), 0);
};
/** The sum of UTF-8 bytes of keys and values: the measure Phasegate used before, which undercounts. */
const keysAndValuesBytes = (env: Env): number =>
  Object.entries(env).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

/** Names Lambda accepts ([a-zA-Z][a-zA-Z0-9_]+), biased toward ones that collide with Object.prototype members. */
const envName = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{1,12}$/) },
  { weight: 1, arbitrary: fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty', 'PHASEGATE_X') },
);

/** Values mixing ASCII, characters JSON escapes (quotes, backslash, controls, DEL), 2-, 3- and 4-byte UTF-8 characters, and empty strings. */
const envValue = (maxLength: number): fc.Arbitrary<string> =>
  fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
        { weight: 1, arbitrary: fc.constantFrom(0x00, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f, 0x22, 0x5c, 0x7f) },
        { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0x7ff }) },
        { weight: 1, arbitrary: fc.integer({ min: 0x800, max: 0xd7ff }) },
        { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }) },
      ),
      { maxLength },
    )
    .map((codePoints) => String.fromCodePoint(...codePoints));

const envMap = (maxKeys: number, maxValue: number): fc.Arbitrary<Env> =>
  fc.dictionary(envName, envValue(maxValue), { maxKeys, noNullPrototype: true });

/** An existing environment and a flag write that overwrites some of its variables (same or new value) and adds others. */
const existingAndFlags = (maxValue: number): fc.Arbitrary<{ existing: Env; flags: Env }> =>
  envMap(20, maxValue).chain((existing) =>
    fc
      .record({
        overwritten: fc.subarray(Object.keys(existing)),
        sameValue: fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
        newValues: fc.array(envValue(maxValue), { minLength: 20, maxLength: 20 }),
        added: envMap(6, maxValue),
      })
      .map(({ overwritten, sameValue, newValues, added }) => {
        const flags: Env = { ...added };
        overwritten.forEach((name, i) => {
          flags[name] = sameValue[i] ? existing[name]! : newValues[i]!;
        });
        return { existing, flags };
      }),
  );

describe('mergeEnvironment', () => {
  it('keeps every variable it does not write byte for byte, writes the rest, and reports exactly what changed', () => {
    fc.assert(
      fc.property(existingAndFlags(40), ({ existing, flags }) => {
        const before = structuredClone({ existing, flags });
        const merged = { ...existing, ...flags };
        const bytes = referenceBytes(merged);
        fc.pre(bytes <= LAMBDA_ENV_LIMIT_BYTES);

        const result = mergeEnvironment('fn', existing, flags);

        expect(Object.keys(result.variables).sort()).toEqual(Object.keys(merged).sort());
        for (const [name, value] of Object.entries(existing)) {
          if (Object.hasOwn(flags, name)) continue;
          expect(result.variables[name]).toBe(value);
          expect(Buffer.from(result.variables[name]!, 'utf8').equals(Buffer.from(value, 'utf8'))).toBe(true);
        }
        for (const [name, value] of Object.entries(flags)) expect(result.variables[name]).toBe(value);
        const differing = Object.keys(flags).filter((name) => !Object.hasOwn(existing, name) || existing[name] !== flags[name]);
        expect([...result.changed].sort()).toEqual(differing.sort());
        expect(result.bytes).toBe(bytes);
        expect(environmentBytes(result.variables)).toBe(bytes);
        expect({ existing, flags }).toEqual(before);
      }),
      { numRuns: 300 },
    );
  });

  it('throws EnvLimitError exactly when the merged environment passes the limit', () => {
    const seen = { over: 0, within: 0 };
    fc.assert(
      fc.property(existingAndFlags(120), fc.integer({ min: 64, max: 4096 }), ({ existing, flags }, limit) => {
        const bytes = referenceBytes({ ...existing, ...flags });
        seen[bytes > limit ? 'over' : 'within']++;
        if (bytes > limit) {
          let error: unknown;
          try {
            mergeEnvironment('orders-api', existing, flags, limit);
          } catch (err) {
            error = err;
          }
          expect(error).toBeInstanceOf(EnvLimitError);
          expect(error).toMatchObject({ name: 'PhasegateEnvLimitError', functionName: 'orders-api', bytes, limit });
        } else {
          expect(mergeEnvironment('orders-api', existing, flags, limit).bytes).toBe(bytes);
        }
      }),
      { numRuns: 300 },
    );
    // Both sides of the limit must have been exercised for the property to mean anything.
    expect(seen.over).toBeGreaterThan(20);
    expect(seen.within).toBeGreaterThan(20);
  });

  it('accepts an environment measuring exactly 4096 bytes and refuses 4097, measured as the JSON Lambda measures', () => {
    fc.assert(
      fc.property(existingAndFlags(20), fc.constantFrom('a', '"', 'é', '€', '😀'), ({ existing, flags }, unit) => {
        fc.pre(!Object.hasOwn(flags, 'PAD') && !Object.hasOwn(existing, 'PAD'));
        const room = LAMBDA_ENV_LIMIT_BYTES - referenceBytes({ ...existing, PAD: '', ...flags });
        fc.pre(room >= 12);
        // Fill with `unit` as far as it goes, then ASCII to the exact byte.
        const unitBytes = jsonStringBytes(unit) - 2;
        const fill = unit.repeat(Math.floor(room / unitBytes));
        const exact = { ...existing, PAD: fill + 'x'.repeat(room - (jsonStringBytes(fill) - 2)) };
        expect(referenceBytes({ ...exact, ...flags })).toBe(LAMBDA_ENV_LIMIT_BYTES);
        expect(mergeEnvironment('fn', exact, flags).bytes).toBe(LAMBDA_ENV_LIMIT_BYTES);
        expect(() => mergeEnvironment('fn', { ...exact, PAD: `${exact.PAD}x` }, flags)).toThrow(EnvLimitError);
      }),
    );
  });

  it('refuses a flag write that pushes a full environment over the limit and names the function', () => {
    // {"BIG":"…"} is 10 bytes around the value.
    const existing = { BIG: 'x'.repeat(LAMBDA_ENV_LIMIT_BYTES - 10 - 10) };
    expect(mergeEnvironment('fn', existing, {}).bytes).toBe(LAMBDA_ENV_LIMIT_BYTES - 10);
    // ,"FEATURE_ENABLED":"true" adds 25.
    expect(() => mergeEnvironment('orders-api', existing, { FEATURE_ENABLED: 'true' })).toThrow(
      "writing Phasegate's flags to orders-api would make its environment 4111 bytes, over Lambda's 4096-byte limit",
    );
  });

  it('refuses a near-limit write that the sum of key and value bytes would have let through to Lambda', () => {
    // A JSON config and non-ASCII text: Lambda escapes every quote (2 bytes) and every é (6 bytes).
    const existing = { APP_CONFIG: JSON.stringify({ regions: Array.from({ length: 400 }, (_, i) => `r${i}`) }), MOTD: 'été '.repeat(200) };
    const flags = { UX_ENABLED: 'true', UX_ROLES: 'admin,pm' };
    // 3,947 bytes of keys and values: under the limit by the old measure.
    expect(keysAndValuesBytes({ ...existing, ...flags })).toBe(3947);
    expect(() => mergeEnvironment('orders-api', existing, flags)).toThrow(
      new EnvLimitError('orders-api', referenceBytes({ ...existing, ...flags }), LAMBDA_ENV_LIMIT_BYTES),
    );
    expect(referenceBytes({ ...existing, ...flags })).toBeGreaterThan(LAMBDA_ENV_LIMIT_BYTES);
  });

  it('changes nothing when every flag already has its value', () => {
    const existing = { A: '1', UX_ENABLED: 'true', UX_ROLES: 'admin,pm', NOTE: 'naïve ☃ 😀' };
    const result = mergeEnvironment('fn', existing, { UX_ENABLED: 'true', UX_ROLES: 'admin,pm' });
    expect(result.changed).toEqual([]);
    expect(result.variables).toEqual(existing);
  });

  it('an empty value is a value: writing "" over a missing variable changes it, over "" does not', () => {
    expect(mergeEnvironment('fn', {}, { X_ROLES: '' }).changed).toEqual(['X_ROLES']);
    expect(mergeEnvironment('fn', { X_ROLES: '' }, { X_ROLES: '' }).changed).toEqual([]);
  });
});

describe('environmentBytes', () => {
  it.each<[Env, number]>([
    // Expected values are the UTF-8 length of Python's json.dumps(map, separators=(",", ":")) for each map.
    [{}, 2],
    [{ A: 'b' }, 9],
    [{ GREETING: 'héllo wörld' }, 36],
    [{ EMOJI: '😀' }, 24],
    [{ Q: 'say "hi" \\ bye' }, 25],
    [{ CTRL: '\u0000\u001f\u007f\t\n' }, 33],
    [{ JSON: '{"roles":["admin","pm"]}', LOG_LEVEL: 'info' }, 60],
    [{ CJK: '日本語', ARROW: '→' }, 45],
  ])('measures %j as %i bytes, as Lambda does', (env, bytes) => {
    expect(environmentBytes(env)).toBe(bytes);
  });

  it('agrees with the escaping rules on any map', () => {
    fc.assert(
      fc.property(envMap(20, 60), (env) => {
        expect(environmentBytes(env)).toBe(referenceBytes(env));
      }),
      { numRuns: 500 },
    );
  });
});

describe('restoreEnvironment', () => {
  it('undoes a merge exactly: changed variables get their old value back, added ones are removed', () => {
    fc.assert(
      fc.property(existingAndFlags(40), ({ existing, flags }) => {
        fc.pre(referenceBytes({ ...existing, ...flags }) <= LAMBDA_ENV_LIMIT_BYTES);
        const { variables, changed } = mergeEnvironment('fn', existing, flags);
        const before = Object.fromEntries(changed.map((name) => [name, Object.hasOwn(existing, name) ? existing[name] : undefined]));
        expect(restoreEnvironment(variables, before)).toEqual(existing);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps variables changed by someone else since the write', () => {
    const restored = restoreEnvironment({ A: '1', FLAG: 'on', OTHER: 'new' }, { FLAG: undefined });
    expect(restored).toEqual({ A: '1', OTHER: 'new' });
  });
});
