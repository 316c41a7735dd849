import { z } from 'zod';
import { planFlagSets } from '../flags';
import { PlanInvalidError } from '../errors';
import { FlagNamesSchema, PlanObjectSchema, SubFeatureSchema, type Plan } from './schema';
import { ownValue } from '../own';

/** Names of the built-in gates' alarms: a custom metric may not take one. */
const RESERVED_GATE_NAMES = ['error-rate', 'p95-ms', 'duration-ms', 'throttles', 'composite'];

/** The outcome of {@link validatePlan}: a plan with defaults filled in, or every problem found. */
export type PlanValidation = { ok: true; plan: Plan } | { ok: false; problems: string[] };

/** Options for {@link validatePlan}. */
export interface ValidatePlanOptions {
  /** Apply this stage's overrides and validate the result too. */
  readonly stage?: string;
}

/** `['phases', 2, 'bake']` -> `phases[2].bake`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(plan)' : out;
}

function zodProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
}

function duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const v of values) (seen.has(v) ? dups : seen).add(v);
  return [...dups];
}

/**
 * The fields {@link crossFieldProblems} reads, parsed leniently so those checks can run even when the plan has
 * schema problems: an element the schema would refuse is left out rather than failing the whole parse.
 */
const keep = <T>(schema: z.ZodType<T>) =>
  z
    .array(z.unknown())
    .catch([])
    .transform((items) =>
      items.flatMap((item) => {
        const r = schema.safeParse(item);
        return r.success ? [r.data] : [];
      }),
    );
const CrossFieldInputSchema = z.object({
  feature: PlanObjectSchema.shape.feature,
  targets: keep(z.string()),
  flags: FlagNamesSchema.catch({}),
  subFeatures: keep(z.object({ id: SubFeatureSchema.shape.id, flags: FlagNamesSchema.catch({}), llm: z.unknown().optional() })),
  phases: keep(
    z.object({
      name: z.string(),
      subFeatures: z.record(z.string(), z.unknown()).catch({}),
      approval: z.object({ required: z.boolean().catch(true) }).catch({ required: true }).default({ required: true }),
      gates: z
        .object({ metrics: keep(z.object({ name: z.string() })), llmSpendUsd: z.record(z.string(), z.unknown()).catch({}).default({}) })
        .catch({ metrics: [], llmSpendUsd: {} })
        .default({ metrics: [], llmSpendUsd: {} }),
    }),
  ),
  stages: z.record(z.string(), z.object({ phases: z.record(z.string(), z.unknown()).catch({}) }).catch({ phases: {} })).catch({}),
});

/** Checks that span fields: names unique, references resolve, flag variables distinct. */
function crossFieldProblems(plan: Plan): string[] {
  const problems: string[] = [];
  const phaseNames = plan.phases.map((p) => p.name);
  for (const name of duplicates(phaseNames)) {
    plan.phases.forEach((p, i) => {
      if (p.name === name && phaseNames.indexOf(name) !== i) problems.push(`phases[${i}].name: "${name}" is used by an earlier phase`);
    });
  }
  plan.subFeatures.forEach((sub, i) => {
    if (plan.subFeatures.findIndex((s) => s.id === sub.id) !== i) {
      problems.push(`subFeatures[${i}].id: "${sub.id}" is used by an earlier sub-feature`);
    }
  });
  const subIds = new Set(plan.subFeatures.map((s) => s.id));
  plan.phases.forEach((phase, i) => {
    for (const id of Object.keys(phase.subFeatures)) {
      if (!subIds.has(id)) {
        problems.push(`phases[${i}].subFeatures.${id}: no sub-feature "${id}" (known: ${[...subIds].join(', ') || 'none'})`);
      }
    }
  });
  for (const t of duplicates(plan.targets)) problems.push(`targets: "${t}" is listed twice`);

  const owners = new Map<string, string>();
  planFlagSets(plan).forEach((set) => {
    const where = set.subFeatureId === undefined ? 'flags' : `subFeatures[${plan.subFeatures.findIndex((s) => s.id === set.subFeatureId)}].flags`;
    for (const [field, name] of [
      ['enabled', set.names.enabled.name],
      ['roles', set.names.roles],
      ['percent', set.names.percent],
    ] as const) {
      const owner = owners.get(name);
      if (owner) problems.push(`${where}.${field}: variable ${name} is already used by ${owner}`);
      else owners.set(name, `${where}.${field}`);
    }
    if (set.dailyCap) {
      const capWhere = `${where.replace(/\.flags$/, '')}.llm.dailyCapVariable`;
      const owner = owners.get(set.dailyCap.name);
      if (owner) problems.push(`${capWhere}: variable ${set.dailyCap.name} is already used by ${owner}`);
      else owners.set(set.dailyCap.name, capWhere);
    }
  });

  // An LLM sub-feature spends money: the phase that first turns it on always needs a person's approval.
  const llmIds = new Set(plan.subFeatures.filter((s) => s.llm).map((s) => s.id));
  const seen = new Set<string>();
  plan.phases.forEach((phase, i) => {
    for (const id of Object.keys(phase.subFeatures)) {
      if (!llmIds.has(id) || seen.has(id)) continue;
      seen.add(id);
      if (!phase.approval?.required) {
        problems.push(`phases[${i}].approval.required: phase ${phase.name} turns on the LLM sub-feature "${id}", so it must require approval`);
      }
    }
  });

  // Gate metric names become alarm names: unique per phase, never one of the built-in gates' names.
  plan.phases.forEach((phase, i) => {
    const names = (phase.gates?.metrics ?? []).map((m) => m.name);
    names.forEach((name, j) => {
      if (names.indexOf(name) !== j) problems.push(`phases[${i}].gates.metrics[${j}].name: "${name}" is used by an earlier metric of this phase`);
      else if (RESERVED_GATE_NAMES.includes(name) || name.startsWith('llm-spend-')) {
        problems.push(`phases[${i}].gates.metrics[${j}].name: "${name}" is the name of a built-in gate (${RESERVED_GATE_NAMES.join(', ')}, llm-spend-<id>)`);
      }
    });
    for (const id of Object.keys(phase.gates?.llmSpendUsd ?? {})) {
      if (!llmIds.has(id)) {
        problems.push(`phases[${i}].gates.llmSpendUsd.${id}: no LLM sub-feature "${id}" (LLM sub-features: ${[...llmIds].join(', ') || 'none'})`);
      }
    }
  });

  for (const [stage, override] of Object.entries(plan.stages)) {
    for (const name of Object.keys(override.phases)) {
      if (!phaseNames.includes(name)) {
        problems.push(`stages.${stage}.phases.${name}: no phase "${name}" (phases: ${phaseNames.join(', ')})`);
      }
    }
  }
  return problems;
}

/**
 * Apply a stage's overrides to a parsed plan. The result has no `stages` block and is itself a valid plan, so
 * the state machine can carry it and every function can validate it again with {@link validatePlan}.
 */
export function resolvePlanForStage(plan: Plan, stage: string): Plan {
  const override = ownValue(plan.stages, stage);
  const { stages: _stages, ...rest } = plan;
  if (!override) return { ...rest, stages: {} };
  return {
    ...rest,
    stages: {},
    targets: override.targets ?? plan.targets,
    discord: override.discord ?? plan.discord,
    principals: override.principals ?? plan.principals,
    phases: plan.phases.map((phase) => {
      const po = ownValue(override.phases, phase.name) ?? {};
      return {
        ...phase,
        bake: po.bake ?? phase.bake,
        percent: po.percent ?? phase.percent,
        approval: {
          ...phase.approval,
          ...(override.approvers ? { approvers: override.approvers } : {}),
          ...Object.fromEntries(Object.entries(po.approval ?? {}).filter(([, v]) => v !== undefined)),
        },
        gates: { ...phase.gates, ...Object.fromEntries(Object.entries(po.gates ?? {}).filter(([, v]) => v !== undefined)) },
      };
    }),
  };
}

/**
 * The one plan validator, used by `cdk synth` and by every function at run time. Reports every problem at once,
 * each as `field.path: what is wrong`. With `stage`, returns the plan with that stage's overrides applied.
 */
export function validatePlan(raw: unknown, options: ValidatePlanOptions = {}): PlanValidation {
  const parsed = PlanObjectSchema.safeParse(raw);
  if (!parsed.success) {
    // Report the cross-field problems too, over the parts of the plan that did parse.
    const loose = CrossFieldInputSchema.safeParse(raw);
    const more = loose.success ? crossFieldProblems(loose.data as unknown as Plan) : [];
    return { ok: false, problems: [...zodProblems(parsed.error), ...more] };
  }
  const problems = crossFieldProblems(parsed.data);
  if (problems.length > 0) return { ok: false, problems };
  if (options.stage === undefined) return { ok: true, plan: parsed.data };

  const resolved = PlanObjectSchema.safeParse(resolvePlanForStage(parsed.data, options.stage));
  const after = (p: string): string => `${p} (after stages.${options.stage} overrides)`;
  if (!resolved.success) return { ok: false, problems: zodProblems(resolved.error).map(after) };
  const resolvedProblems = crossFieldProblems(resolved.data);
  if (resolvedProblems.length > 0) return { ok: false, problems: resolvedProblems.map(after) };
  return { ok: true, plan: resolved.data };
}

/** {@link validatePlan}, throwing a {@link PlanInvalidError} that lists every problem. */
export function parsePlan(raw: unknown, options: ValidatePlanOptions & { source?: string } = {}): Plan {
  const result = validatePlan(raw, options);
  if (!result.ok) throw new PlanInvalidError(result.problems, options.source);
  return result.plan;
}
