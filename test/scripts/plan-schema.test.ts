import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { planJsonSchema } from '../../lambdas/core/plan/json-schema';

describe('the published plan JSON Schema', () => {
  it('is what the validator generates (run `npm run schema` after changing the plan schema)', () => {
    const published = JSON.parse(readFileSync(join(__dirname, '..', '..', 'schema', 'rollout-plan.schema.json'), 'utf8'));
    expect(published).toEqual(JSON.parse(JSON.stringify(planJsonSchema())));
  });

  it('describes the fields a plan author writes, and refuses unknown ones', () => {
    const schema = planJsonSchema() as { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['feature', 'targets', 'flags', 'subFeatures', 'phases', 'rollback', 'stages']),
    );
    expect(schema.required).toEqual(expect.arrayContaining(['feature', 'targets', 'phases']));
    expect(schema.additionalProperties).toBe(false);
  });

  it('gives every duration field its ISO 8601 pattern, so an editor flags "2 days" as the validator does', () => {
    const durations: [string, { pattern?: string }][] = [];
    const DURATION_FIELDS = new Set(['bake', 'timeout', 'window', 'sustainedFor', 'interval', 'max']);
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
      if (!node || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
        if (DURATION_FIELDS.has(key) && value && typeof value === 'object' && (value as { type?: unknown }).type === 'string') {
          durations.push([`${path}.${key}`, value as { pattern?: string }]);
        }
        walk(value, `${path}.${key}`);
      }
    };
    walk(planJsonSchema(), '$');
    expect(new Set(durations.map(([path]) => path.split('.').at(-1)))).toEqual(DURATION_FIELDS);
    for (const [path, field] of durations) {
      expect([path, typeof field.pattern]).toEqual([path, 'string']);
      const pattern = new RegExp(field.pattern!);
      for (const ok of ['PT30M', 'PT48H', 'P5D', 'P1W', 'P1DT12H']) expect([path, ok, pattern.test(ok)]).toEqual([path, ok, true]);
      for (const bad of ['2 days', 'P1Y', 'PT', 'P', '']) expect([path, bad, pattern.test(bad)]).toEqual([path, bad, false]);
    }
  });
});
