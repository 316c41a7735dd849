import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { bucketOf, createFlagReader, isEnabled, murmur3 } from 'phasegate/runtime';

// Independent implementations: Unleash's own, and the MurmurHash3 package it uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { normalizedStrategyValue } = require('unleash-client/lib/strategy/util') as { normalizedStrategyValue: (id: string, groupId: string) => number };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const murmurhash3js = require('murmurhash3js') as { x86: { hash32: (key: string, seed?: number) => number } };

/** murmurhash3js hashes the low byte of each UTF-16 unit: fed UTF-8 bytes as a latin1 string, it hashes those bytes. */
const referenceMurmur = (text: string): number => murmurhash3js.x86.hash32(Buffer.from(text, 'utf8').toString('latin1'), 0);

/** Variables putting `key` on for everyone at `percent` (and, for a sub-feature key, its feature at 100 %). */
const atPercent = (key: string, percent: number | string): Record<string, string> => {
  const vars = (k: string, p: number | string): Record<string, string> => {
    const prefix = k.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
    return { [`${prefix}_ENABLED`]: 'true', [`${prefix}_ROLES`]: '*', [`${prefix}_PERCENT`]: String(p) };
  };
  return { ...(key.includes('.') ? vars(key.split('.')[0]!, 100) : {}), ...vars(key, percent) };
};

/** A percentage in units (thousandths) written as the decimal Phasegate would write. */
const percentText = (units: number): string => String(units / 1000);

const userIds = (count: number, shape: (i: number) => string): string[] => Array.from({ length: count }, (_, i) => shape(i));

const ID_SHAPES: [string, (i: number) => string][] = [
  ['user-<n>', (i) => `user-${i}`],
  ['<n>', (i) => String(i)],
  ['Discord snowflakes', (i) => String(1100000000000000000n + BigInt(i) * 4194304n)],
  ['uuid-like', (i) => `${i.toString(16).padStart(8, '0')}-7d2c-4f1a-9b3e-2c8f5a1d6e90`],
];

const anyText = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0x80, max: 0x7ff }),
      fc.integer({ min: 0x800, max: 0xd7ff }),
      fc.integer({ min: 0xe000, max: 0xffff }),
      fc.integer({ min: 0x10000, max: 0x10ffff }),
    ),
    { maxLength: 16 },
  )
  .map((codePoints) => String.fromCodePoint(...codePoints));

describe('murmur3', () => {
  it('is MurmurHash3 x86 32-bit over UTF-8 bytes, for any text', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(murmur3(text)).toBe(referenceMurmur(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('encodes a lone surrogate as U+FFFD', () => {
    expect(murmur3('a\ud800b')).toBe(murmur3('a\ufffdb'));
    expect(murmur3('\udc00')).toBe(referenceMurmur('\ufffd'));
  });
});

describe('agreement with Unleash’s gradual rollout at whole percentages', () => {
  const GROUPS = ['ux-update', 'cohort-analyzer', 'ux-update.llm-parsing', 'Feature.flexibleRollout.10'];

  it.each(ID_SHAPES)('floor(bucket) + 1 is Unleash’s normalizedStrategyValue for 20,000 ids (%s)', (_shape, shape) => {
    for (const [i, userId] of userIds(20000, shape).entries()) {
      const groupId = GROUPS[i % GROUPS.length]!;
      expect(Math.floor(bucketOf(groupId, userId)) + 1).toBe(normalizedStrategyValue(userId, groupId));
    }
  });

  it('lets in exactly Unleash’s users at every whole percentage', () => {
    const ids = userIds(5000, (i) => `user-${i}`);
    for (const groupId of GROUPS) {
      const reader = (p: number) => createFlagReader({ env: atPercent(groupId, p) });
      for (let p = 0; p <= 100; p++) {
        const ours = reader(p);
        for (const userId of ids) {
          const unleash = p > 0 && normalizedStrategyValue(userId, groupId) <= p;
          if (ours.isEnabled(groupId, { userId }) !== unleash) throw new Error(`${groupId} ${userId} at ${p} %: Unleash ${unleash}`);
        }
      }
    }
  });

  it('passes Unleash’s client specification for flexibleRollout and gradualRolloutUserId with a user id', () => {
    const dir = join(require.resolve('@unleash/client-specification/package.json'), '..', 'specifications');
    interface Strategy { name: string; parameters?: Record<string, string> }
    interface Spec { state: { features: { name: string; enabled: boolean; strategies: Strategy[] }[] }; tests?: { context: { userId?: string }; toggleName: string; expectedResult: boolean }[] }
    let checked = 0;
    for (const file of readdirSync(dir).filter((f) => /^(03|10)-.*\.json$/.test(f))) {
      const spec = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Spec;
      for (const test of spec.tests ?? []) {
        const feature = spec.state.features.find((f) => f.name === test.toggleName)!;
        const [strategy, ...others] = feature.strategies;
        const stickiness = strategy?.parameters?.stickiness ?? 'userId';
        const byUser = strategy?.name === 'gradualRolloutUserId' || (strategy?.name === 'flexibleRollout' && ['default', 'userId'].includes(stickiness));
        if (!feature.enabled || !byUser || others.length > 0 || test.context.userId === undefined) continue;
        const percent = strategy!.parameters!.rollout ?? strategy!.parameters!.percentage!;
        const groupId = strategy!.parameters!.groupId ?? feature.name;
        expect([test.toggleName, isEnabled(groupId, { userId: test.context.userId }, { env: atPercent(groupId, percent) })]).toEqual([test.toggleName, test.expectedResult]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
  });

  it('would reshuffle users had it kept the former hash: FNV-1a agreed with Unleash only at chance level', () => {
    // The former bucket (FNV-1a + fmix32, % 10000 / 100) at 10 %: about 10 % of Unleash's 10 % overlapped.
    const fnv = (text: string): number => {
      let h = 0x811c9dc5;
      for (const b of Buffer.from(text, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
      h ^= h >>> 16;
      h = Math.imul(h, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
      return ((h >>> 0) % 10000) / 100;
    };
    const ids = userIds(20000, (i) => `user-${i}`);
    const unleash = ids.filter((u) => normalizedStrategyValue(u, 'feat') <= 10);
    const former = new Set(ids.filter((u) => fnv(`feat:${u}`) < 10));
    const ours = new Set(ids.filter((u) => bucketOf('feat', u) < 10));
    expect(unleash.filter((u) => ours.has(u))).toHaveLength(unleash.length);
    expect(unleash.filter((u) => former.has(u)).length / unleash.length).toBeLessThan(0.2);
  });
});

describe('bucketOf', () => {
  it('lies in [0, 100) on a 0.001 grid', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (key, userId) => {
        const bucket = bucketOf(key, userId);
        expect(bucket).toBeGreaterThanOrEqual(0);
        expect(bucket).toBeLessThan(100);
        expect(Number.isInteger(Math.round(bucket * 1000))).toBe(true);
        expect(Math.round(bucket * 1000) / 1000).toBe(bucket);
      }),
    );
  });
});

describe('sticky percentage', () => {
  it('gives the same user the same answer every time, in every reader', () => {
    const env = atPercent('feat', 37.5);
    const first = createFlagReader({ env });
    const second = createFlagReader({ env: { ...env } });
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (userId) => {
        const answer = first.isEnabled('feat', { userId });
        expect(first.isEnabled('feat', { userId })).toBe(answer);
        expect(second.isEnabled('feat', { userId })).toBe(answer);
        expect(isEnabled('feat', { userId }, { env })).toBe(answer);
        expect(first.evaluate('feat', { userId }).enabled).toBe(answer);
      }),
    );
  });

  it('lets a user in exactly when their bucket is below the percentage, at 0.001 % resolution', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.integer({ min: 0, max: 100_000 }), (userId, units) => {
        const env = atPercent('feat', percentText(units));
        expect(isEnabled('feat', { userId }, { env })).toBe(Math.round(bucketOf('feat', userId) * 1000) < units);
      }),
      { numRuns: 2000 },
    );
  });

  it('is monotonic: on at p1 implies on at every p2 >= p1 (any 0.001 % steps)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('feat', 'ux-update', 'cohort-analyzer', 'ux-update.llm-parsing'),
        fc.string({ minLength: 1 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (key, userId, a, b) => {
          const [p1, p2] = a <= b ? [a, b] : [b, a];
          const on = (units: number): boolean => isEnabled(key, { userId }, { env: atPercent(key, percentText(units)) });
          if (on(p1)) expect(on(p2)).toBe(true);
          if (!on(p2)) expect(on(p1)).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('adds users one 0.001 % step at a time: 10,000 users between 10 % and 10.5 % are about 0.5 % of them', () => {
    const ids = userIds(100_000, (i) => `user-${i}`);
    const inside = (percent: string) => ids.filter((userId) => isEnabled('feat', { userId }, { env: atPercent('feat', percent) })).length;
    const [at10, at105] = [inside('10'), inside('10.5')];
    expect(at105 - at10).toBeGreaterThan(350);
    expect(at105 - at10).toBeLessThan(650);
  });

  it.each(ID_SHAPES)('puts 10 %% of 10,000 users (%s) inside 10 %%, within 1.5 points', (_shape, shape) => {
    const reader = createFlagReader({ env: atPercent('feat', 10) });
    const ids = userIds(10000, shape);
    const share = (ids.filter((userId) => reader.isEnabled('feat', { userId })).length / ids.length) * 100;
    expect(share).toBeGreaterThanOrEqual(8.5);
    expect(share).toBeLessThanOrEqual(11.5);
  });

  it.each(ID_SHAPES)('spreads 10,000 users (%s) evenly over the ten deciles, and within each percent', (_shape, shape) => {
    const deciles = new Array<number>(10).fill(0);
    const withinPercent = new Array<number>(10).fill(0);
    for (const id of userIds(10000, shape)) {
      const units = Math.round(bucketOf('feat', id) * 1000);
      deciles[Math.floor(units / 10000)]!++;
      withinPercent[Math.floor((units % 1000) / 100)]!++;
    }
    for (const count of [...deciles, ...withinPercent]) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });

  it('buckets each feature key independently: two features at 10 % share about 1 % of users, not 10 %', () => {
    const ids = userIds(10000, (i) => `user-${i}`);
    const inside = (key: string): Set<string> => {
      const env = atPercent(key, 10);
      return new Set(ids.filter((userId) => isEnabled(key, { userId }, { env })));
    };
    const pairs: [string, string][] = [
      ['feature-a', 'feature-b'],
      ['ux-update', 'cohort-analyzer'],
      ['ux-update', 'ux-update.llm-parsing'],
    ];
    for (const [a, b] of pairs) {
      const first = inside(a);
      const second = inside(b);
      const both = [...first].filter((id) => second.has(id)).length;
      expect(both / ids.length).toBeGreaterThan(0.005);
      expect(both / ids.length).toBeLessThan(0.02);
    }
  });
});
