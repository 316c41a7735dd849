import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { PlanInvalidError } from '../errors';
import { planFlagNames } from '../flags/flags';
import { functionNameOf } from '../flags/target';
import type { Plan } from './schema';
import { validatePlan } from './validate';

/** A plan read from a file, resolved for one stage. */
export interface LoadedPlan {
  readonly file: string;
  readonly plan: Plan;
}

/** Every problem found while loading a directory of plans, grouped per file. */
export class PlansInvalidError extends Error {
  constructor(readonly problemsByFile: ReadonlyMap<string, readonly string[]>) {
    super(
      [...problemsByFile.entries()]
        .map(([file, problems]) => `${file} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
        .join('\n'),
    );
    this.name = 'PlansInvalidError';
  }
}

/** Read and validate one plan file for `stage`. Throws {@link PlanInvalidError} listing every problem. */
export function loadPlanFile(file: string, stage?: string): Plan {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PlanInvalidError([`(file): ${(err as Error).message}`], file);
  }
  const result = validatePlan(raw, { stage });
  if (!result.ok) throw new PlanInvalidError(result.problems, file);
  return result.plan;
}

/**
 * Read every `*.json` plan in `dir` for `stage`. Reports the problems of every invalid file at once, and a
 * feature id used by two files.
 */
export function loadPlans(dir: string, stage: string): LoadedPlan[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(dir, f));
  const problems = new Map<string, string[]>();
  const loaded: LoadedPlan[] = [];
  for (const file of files) {
    try {
      loaded.push({ file, plan: loadPlanFile(file, stage) });
    } catch (err) {
      if (err instanceof PlanInvalidError) problems.set(file, [...err.problems]);
      else throw err;
    }
  }
  const byFeature = new Map<string, string>();
  for (const { file, plan } of loaded) {
    const other = byFeature.get(plan.feature);
    if (other) problems.set(file, [`feature: "${plan.feature}" is already defined by ${basename(other)}`]);
    else byFeature.set(plan.feature, file);
  }
  for (const [file, clash] of variableClashes(loaded)) problems.set(file, [...(problems.get(file) ?? []), ...clash]);
  if (problems.size > 0) throw new PlansInvalidError(problems);
  return loaded;
}

/**
 * Two features that would write the same environment variable on the same function: each write would undo the
 * other's, and a rollback of one would turn the other off. Per file (the later one), one problem per variable and
 * function. Functions are compared by name, whatever the qualifier: an alias and $LATEST share one environment
 * lineage.
 */
export function variableClashes(plans: readonly LoadedPlan[]): Map<string, string[]> {
  const owners = new Map<string, { feature: string; file: string }>();
  const out = new Map<string, string[]>();
  for (const { file, plan } of plans) {
    for (const target of new Set(plan.targets.map(functionNameOf))) {
      for (const name of planFlagNames(plan)) {
        const key = `${target}\u0000${name}`;
        const owner = owners.get(key);
        if (owner && owner.feature !== plan.feature) {
          out.set(file, [
            ...(out.get(file) ?? []),
            `targets: feature ${plan.feature} writes ${name} on ${target}, which feature ${owner.feature} (${basename(owner.file)}) writes too: give one of them other flag names`,
          ]);
        } else if (!owner) owners.set(key, { feature: plan.feature, file });
      }
    }
  }
  return out;
}

/** The directory holding the project's plans: `rollouts/` next to package.json. */
export const DEFAULT_PLANS_DIR = resolve(__dirname, '..', '..', '..', 'rollouts');
