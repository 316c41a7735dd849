import fc from 'fast-check';
import { LAMBDA_ENV_LIMIT_BYTES } from '../../lambdas/core/contract';
import { environmentBytes, mergeEnvironment, restoreEnvironment } from '../../lambdas/core/env-merge';
import { EnvLimitError } from '../../lambdas/core/errors';

type Env = Record<string, string>;

const utf8 = (text: string): number => new TextEncoder().encode(text).length;
/** Lambda's count, computed independently of the module under test. */
const referenceBytes = (env: Env): number => Object.entries(env).reduce((sum, [k, v]) => sum + utf8(k) + utf8(v), 0);

/** Names Lambda accepts ([a-zA-Z][a-zA-Z0-9_]+), biased toward ones that collide with Object.prototype members. */
const envName = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{1,12}$/) },
  { weight: 1, arbitrary: fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty', 'PHASEGATE_X') },
);

/** Values mixing ASCII, 2-, 3- and 4-byte UTF-8 characters, and empty strings. */
const envValue = (maxLength: number): fc.Arbitrary<string> =>
  fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
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

  it('accepts an environment of exactly 4096 bytes and refuses 4097, counting UTF-8 bytes not characters', () => {
    fc.assert(
      fc.property(existingAndFlags(20), fc.constantFrom('a', 'é', '€', '😀'), ({ existing, flags }, unit) => {
        const base = referenceBytes({ ...existing, ...flags });
        const room = LAMBDA_ENV_LIMIT_BYTES - base - utf8('PAD');
        fc.pre(room >= 4 && !Object.hasOwn(flags, 'PAD') && !Object.hasOwn(existing, 'PAD'));
        // Fill with `unit` as far as it goes, then ASCII to the exact byte.
        const fill = unit.repeat(Math.floor(room / utf8(unit)));
        const exact = { ...existing, PAD: fill + 'x'.repeat(room - utf8(fill)) };
        expect(referenceBytes({ ...exact, ...flags })).toBe(LAMBDA_ENV_LIMIT_BYTES);
        expect(mergeEnvironment('fn', exact, flags).bytes).toBe(LAMBDA_ENV_LIMIT_BYTES);
        expect(() => mergeEnvironment('fn', { ...exact, PAD: `${exact.PAD}x` }, flags)).toThrow(EnvLimitError);
      }),
    );
  });

  it('refuses a flag write that pushes a full environment over the limit and names the function', () => {
    const existing = { BIG: 'x'.repeat(LAMBDA_ENV_LIMIT_BYTES - 3 - 10) };
    expect(mergeEnvironment('fn', existing, {}).bytes).toBe(LAMBDA_ENV_LIMIT_BYTES - 10);
    expect(() => mergeEnvironment('orders-api', existing, { FEATURE_ENABLED: 'true' })).toThrow(
      "writing Phasegate's flags to orders-api would make its environment 4105 bytes, over Lambda's 4096-byte limit",
    );
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
