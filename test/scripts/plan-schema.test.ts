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
});
