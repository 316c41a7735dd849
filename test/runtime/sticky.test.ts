import fc from 'fast-check';
import { bucketOf, createFlagReader, isEnabled } from 'phasegate/runtime';

/** Variables putting `key` on for everyone at `percent`. */
const atPercent = (key: string, percent: number): Record<string, string> => {
  const prefix = key.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
  return { [`${prefix}_ENABLED`]: 'true', [`${prefix}_ROLES`]: '*', [`${prefix}_PERCENT`]: String(percent) };
};

/** The documented algorithm, written independently: FNV-1a over TextEncoder's UTF-8 bytes, fmix32, % 10000 / 100. */
function referenceBucket(key: string, userId: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(`${key}:${userId}`)) h = Math.imul(h ^ b, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) % 10000) / 100;
}

const userIds = (count: number, shape: (i: number) => string): string[] => Array.from({ length: count }, (_, i) => shape(i));

const ID_SHAPES: [string, (i: number) => string][] = [
  ['user-<n>', (i) => `user-${i}`],
  ['<n>', (i) => String(i)],
  ['Discord snowflakes', (i) => String(1100000000000000000n + BigInt(i) * 4194304n)],
  ['uuid-like', (i) => `${i.toString(16).padStart(8, '0')}-7d2c-4f1a-9b3e-2c8f5a1d6e90`],
];

describe('bucketOf', () => {
  it('is pinned: changing the algorithm would move users in or out of running rollouts', () => {
    expect([
      bucketOf('ux-update', 'u-123'),
      bucketOf('ux-update', '123456789012345678'),
      bucketOf('cohort-analyzer', 'user-1'),
      bucketOf('ux-update.llm-parsing', 'u-123'),
      bucketOf('k', 'é😀'),
      bucketOf('k', ''),
    ]).toEqual([17.15, 76.97, 54.37, 83.85, 59.13, 40.78]);
  });

  it('matches the documented algorithm for any key and user id, including non-ASCII and lone surrogates', () => {
    // Code points from every UTF-8 length class, and 0xD800-0xDFFF alone: lone surrogates encode as U+FFFD.
    const anyText = fc
      .array(
        fc.oneof(
          fc.integer({ min: 0, max: 0x7f }),
          fc.integer({ min: 0x80, max: 0x7ff }),
          fc.integer({ min: 0x800, max: 0xffff }),
          fc.integer({ min: 0xd800, max: 0xdfff }),
          fc.integer({ min: 0x10000, max: 0x10ffff }),
        ),
        { maxLength: 16 },
      )
      .map((codePoints) => String.fromCodePoint(...codePoints));
    fc.assert(
      fc.property(anyText, anyText, (key, userId) => {
        expect(bucketOf(key, userId)).toBe(referenceBucket(key, userId));
      }),
      { numRuns: 1000 },
    );
  });

  it('lies in [0, 100) on a 0.01 grid', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (key, userId) => {
        const bucket = bucketOf(key, userId);
        expect(bucket).toBeGreaterThanOrEqual(0);
        expect(bucket).toBeLessThan(100);
        expect(Math.round(bucket * 100) / 100).toBe(bucket);
      }),
    );
  });
});

describe('sticky percentage', () => {
  it('gives the same user the same answer every time, in every reader', () => {
    const env = atPercent('feat', 37);
    const first = createFlagReader({ env });
    const second = createFlagReader({ env: { ...env } });
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (userId) => {
        const answer = first.isEnabled('feat', { userId });
        expect(first.isEnabled('feat', { userId })).toBe(answer);
        expect(second.isEnabled('feat', { userId })).toBe(answer);
        expect(isEnabled('feat', { userId }, { env })).toBe(answer);
      }),
    );
  });

  it('lets a user in exactly when their bucket is below the percentage', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.integer({ min: 0, max: 10000 }), (userId, hundredths) => {
        const percent = hundredths / 100;
        expect(isEnabled('feat', { userId }, { env: atPercent('feat', percent) })).toBe(bucketOf('feat', userId) < percent);
      }),
    );
  });

  it('is monotonic: on at p1 implies on at every p2 >= p1', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('feat', 'ux-update', 'cohort-analyzer', 'ux-update.llm-parsing'),
        fc.string({ minLength: 1 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (key, userId, a, b) => {
          const [p1, p2] = a <= b ? [a, b] : [b, a];
          const parent = key.includes('.') ? atPercent(key.split('.')[0]!, 100) : {};
          const on = (percent: number): boolean => isEnabled(key, { userId }, { env: { ...parent, ...atPercent(key, percent) } });
          if (on(p1)) expect(on(p2)).toBe(true);
          if (!on(p2)) expect(on(p1)).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it.each(ID_SHAPES)('puts 10 %% of 10,000 users (%s) inside 10 %%, within 1.5 points', (_shape, shape) => {
    const reader = createFlagReader({ env: atPercent('feat', 10) });
    const ids = userIds(10000, shape);
    const share = (ids.filter((userId) => reader.isEnabled('feat', { userId })).length / ids.length) * 100;
    expect(share).toBeGreaterThanOrEqual(8.5);
    expect(share).toBeLessThanOrEqual(11.5);
  });

  it.each(ID_SHAPES)('spreads 10,000 users (%s) evenly over the ten deciles', (_shape, shape) => {
    const deciles = new Array<number>(10).fill(0);
    for (const id of userIds(10000, shape)) deciles[Math.floor(bucketOf('feat', id) / 10)]!++;
    for (const count of deciles) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });

  it('buckets each feature key independently: two features at 10 % share about 1 % of users, not 10 %', () => {
    const ids = userIds(10000, (i) => `user-${i}`);
    const inside = (key: string): Set<string> => {
      const env = { ...atPercent('ux-update', 100), ...atPercent(key, 10) };
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
