/** Writes schema/rollout-plan.schema.json from the plan validator (`npm run schema`). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planJsonSchema } from '../lambdas/core/plan/json-schema';

const out = join(__dirname, '..', 'schema', 'rollout-plan.schema.json');
writeFileSync(out, `${JSON.stringify(planJsonSchema(), null, 2)}\n`);
console.log(`wrote ${out}`);
