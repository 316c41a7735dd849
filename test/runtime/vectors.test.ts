import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bucketOf, createFlagReader, evaluate, isEnabled, murmur3, parsePercent, type FlagContext } from 'phasegate/runtime';
import { vectorOf } from './vector-form';

/** The specification's test vectors (docs/flags-vectors.json), which the Python reader runs too. */
interface Vectors {
  murmur3: { input: string; hash: number }[];
  buckets: { groupId: string; userId: string; hash: number; unleash: number; bucket: number }[];
  percents: { raw: string; units: number | null }[];
  evaluations: { name: string; env: Record<string, string>; key: string; context: FlagContext; expected: Record<string, unknown> }[];
}

const VECTORS = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'flags-vectors.json'), 'utf8')) as Vectors;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { normalizedStrategyValue } = require('unleash-client/lib/strategy/util') as { normalizedStrategyValue: (id: string, groupId: string) => number };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const murmurhash3js = require('murmurhash3js') as { x86: { hash32: (key: string, seed?: number) => number } };

describe('the specification’s vectors', () => {
  it('has vectors of every kind', () => {
    expect(VECTORS.murmur3.length).toBeGreaterThan(10);
    expect(VECTORS.buckets.length).toBeGreaterThan(10);
    expect(VECTORS.percents.length).toBeGreaterThan(20);
    expect(VECTORS.evaluations.length).toBeGreaterThan(40);
  });

  it.each(VECTORS.murmur3.map((v) => [v.input, v.hash] as const))('murmur3(%j) = %d, as murmurhash3js hashes the UTF-8 bytes', (input, hash) => {
    expect(murmur3(input)).toBe(hash);
    expect(murmurhash3js.x86.hash32(Buffer.from(input, 'utf8').toString('latin1'))).toBe(hash);
  });

  it.each(VECTORS.buckets.map((v) => [v.groupId, v.userId, v] as const))('bucket of %j, %j', (groupId, userId, v) => {
    expect(murmur3(`${groupId}:${userId}`)).toBe(v.hash);
    expect(Math.round(bucketOf(groupId, userId) * 1000)).toBe(v.bucket);
    expect(v.unleash).toBe((v.hash % 100) + 1);
    // unleash-client agrees wherever the id is ASCII (it hashes UTF-16 low bytes otherwise: docs/flags-spec.md §4).
    if (/^[\x00-\x7f]*$/.test(`${groupId}:${userId}`)) expect(normalizedStrategyValue(userId, groupId)).toBe(v.unleash);
  });

  it.each(VECTORS.percents.map((v) => [v.raw, v.units] as const))('percent %j -> %p units', (raw, units) => {
    expect(parsePercent(raw) ?? null).toBe(units);
  });

  it.each(VECTORS.evaluations.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    expect(vectorOf(evaluate(v.key, v.context, { env: v.env }))).toEqual(v.expected);
    expect(vectorOf(createFlagReader({ env: v.env }).evaluate(v.key, v.context))).toEqual(v.expected);
    expect(isEnabled(v.key, v.context, { env: v.env })).toBe(v.expected.enabled);
    expect(createFlagReader({ env: v.env, snapshot: true }).isEnabled(v.key, v.context)).toBe(v.expected.enabled);
  });
});
