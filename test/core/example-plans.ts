import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../../lambdas/core/plan/schema';
import { validatePlan } from '../../lambdas/core/plan/validate';

/** The example plans shipped in `rollouts/`. */
export const EXAMPLE_PLANS = ['ux-update', 'cohort-analyzer'] as const;
export type ExamplePlanName = (typeof EXAMPLE_PLANS)[number];

/**
 * A fresh, mutable copy of an example plan as written in its file. Typed loosely on purpose: tests break plans in
 * ways the input type would refuse.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function rawPlan(name: ExamplePlanName): any {
  return JSON.parse(readFileSync(join(__dirname, '..', '..', 'rollouts', `${name}.json`), 'utf8'));
}

/** An example plan through {@link validatePlan}, optionally resolved for a stage; fails the test if invalid. */
export function examplePlan(name: ExamplePlanName, stage?: string): Plan {
  const result = validatePlan(rawPlan(name), { stage });
  if (!result.ok) throw new Error(`rollouts/${name}.json is invalid:\n${result.problems.join('\n')}`);
  return result.plan;
}
