import { z } from 'zod';
import { PlanObjectSchema } from './schema';

/** The plan's JSON Schema (draft 2020-12), generated from the validator's own schema so the two never drift. */
export function planJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(PlanObjectSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://phasegate.dev/schema/rollout-plan.schema.json',
    title: 'Phasegate rollout plan',
    description:
      'A feature rollout: target Lambda functions, the environment flags Phasegate writes, ordered phases (roles, percent, bake, approval, gates), the rollback target and per-stage overrides. Cross-field rules (unique names, references) are checked by the validator.',
  };
}
