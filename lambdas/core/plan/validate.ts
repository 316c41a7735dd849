import { z } from 'zod';
import { planFlagSets } from '../flags/flags';
import { PlanInvalidError } from '../errors';
import { BUILT_IN_ROLES, FlagNamesSchema, PlanObjectSchema, SubFeatureSchema, type Gates, type PartialGates, type Plan } from './schema';
import { planIssueMessage } from './messages';
import { durationToSeconds } from './duration';
import { alarmLimitProblems, executionLimitProblems } from './limits';
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
  roles: z.array(z.string()).catch([]).default([]),
  targets: keep(z.string()),
  flags: FlagNamesSchema.catch({}),
  subFeatures: keep(z.object({ id: SubFeatureSchema.shape.id, flags: FlagNamesSchema.catch({}), llm: z.unknown().optional() })),
  phases: keep(
    z.object({
      name: z.string(),
      roles: z.array(z.string()).catch(['all']).default([]),
      dark: z.boolean().catch(false).default(false),
      optional: z.boolean().catch(false).default(false),
      bake: z.string().catch('PT0S'),
      subFeatures: z.record(z.string(), z.unknown()).catch({}),
      approval: z
        .object({ required: z.boolean().catch(true).default(true), approvers: z.array(z.string()).catch([]).default(['pm']) })
        .catch({ required: true, approvers: [] })
        .default({ required: true, approvers: ['pm'] }),
      gates: z
        .object({ metrics: keep(z.object({ name: z.string() })), llmSpendUsd: z.record(z.string(), z.unknown()).catch({}).default({}) })
        .catch({ metrics: [], llmSpendUsd: {} })
        .default({ metrics: [], llmSpendUsd: {} }),
    }),
  ),
  discord: z.object({ roles: z.record(z.string(), z.array(z.string()).catch([])).catch({}).default({}) }).catch({ roles: {} }).default({ roles: {} }),
  principals: z.record(z.string(), z.array(z.string()).catch([])).catch({}).default({}),
  stages: z
    .record(
      z.string(),
      z
        .object({
          phases: z.record(z.string(), z.unknown()).catch({}).default({}),
          approvers: z.array(z.string()).catch([]).optional(),
          discord: z.object({ roles: z.record(z.string(), z.array(z.string()).catch([])).catch({}).default({}) }).catch({ roles: {} }).optional(),
          principals: z.record(z.string(), z.array(z.string()).catch([])).catch({}).optional(),
        })
        .catch({ phases: {} }),
    )
    .catch({}),
});

/**
 * Every place a plan names a role people hold, with its field path: approvers, Discord role mappings, principals,
 * and the same per stage.
 */
function roleReferences(plan: Plan): { path: string; role: string }[] {
  const refs: { path: string; role: string }[] = [];
  plan.phases.forEach((p, i) => (p.approval?.approvers ?? []).forEach((role, j) => refs.push({ path: `phases[${i}].approval.approvers[${j}]`, role })));
  for (const [id, roles] of Object.entries(plan.discord?.roles ?? {})) roles.forEach((role, j) => refs.push({ path: `discord.roles.${id}[${j}]`, role }));
  for (const [pattern, roles] of Object.entries(plan.principals ?? {})) roles.forEach((role, j) => refs.push({ path: `principals["${pattern}"][${j}]`, role }));
  for (const [stage, o] of Object.entries(plan.stages ?? {})) {
    (o.approvers ?? []).forEach((role, j) => refs.push({ path: `stages.${stage}.approvers[${j}]`, role }));
    for (const [id, roles] of Object.entries(o.discord?.roles ?? {})) roles.forEach((role, j) => refs.push({ path: `stages.${stage}.discord.roles.${id}[${j}]`, role }));
    for (const [pattern, roles] of Object.entries(o.principals ?? {})) roles.forEach((role, j) => refs.push({ path: `stages.${stage}.principals["${pattern}"][${j}]`, role }));
    for (const [name, po] of Object.entries(o.phases ?? {})) {
      const approvers = (po as { approval?: { approvers?: unknown } } | undefined)?.approval?.approvers;
      if (Array.isArray(approvers)) approvers.forEach((role, j) => typeof role === 'string' && refs.push({ path: `stages.${stage}.phases.${name}.approval.approvers[${j}]`, role }));
    }
  }
  return refs;
}

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

  // Team-named roles: a role people hold must be built in or declared, so a typo never locks every approver out.
  const declared = new Set<string>([...BUILT_IN_ROLES, ...(plan.roles ?? [])]);
  (plan.roles ?? []).forEach((role, i) => {
    if ((BUILT_IN_ROLES as readonly string[]).includes(role)) problems.push(`roles[${i}]: "${role}" is built in; declare only the team's own roles`);
  });
  for (const { path, role } of roleReferences(plan)) {
    if (!declared.has(role)) problems.push(`${path}: no role "${role}" (built in: ${BUILT_IN_ROLES.join(', ')}; declared in roles: ${(plan.roles ?? []).join(', ') || 'none'})`);
  }

  plan.phases.forEach((phase, i) => {
    // A dark phase writes the off values; every other phase says who sees the feature.
    if (!phase.dark && (phase.roles ?? []).length === 0) problems.push(`phases[${i}].roles: required: expected at least one role (admin, pm, developer or all), or "dark": true`);
    if (phase.optional) {
      const before = plan.phases[i - 1];
      if (!before) problems.push(`phases[${i}].optional: the first phase cannot be optional: nobody before it can opt in`);
      else if (!before.approval?.required) {
        problems.push(`phases[${i - 1}].approval.required: phase ${phase.name} is optional, so the approval of phase ${before.name} (where its approver opts in) must be required`);
      }
    }
    const bakeMax = (phase as { bakeMax?: string }).bakeMax;
    if (bakeMax !== undefined && safeSeconds(bakeMax) !== undefined && safeSeconds(phase.bake) !== undefined) {
      if (safeSeconds(bakeMax)! < safeSeconds(phase.bake)!) problems.push(`phases[${i}].bakeMax: ${bakeMax} is shorter than the bake ${phase.bake}`);
      if ((phase.gates as { hold?: { max?: string } } | undefined)?.hold?.max !== undefined) {
        problems.push(`phases[${i}].gates.hold.max: a bake range (bake ${phase.bake} to bakeMax ${bakeMax}) already says how long the phase may hold; drop one`);
      }
    }
  });

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

  // An LLM sub-feature spends money: a person approves *enabling* it, so the approval that leads into the phase that
  // first turns it on (the phase before's) is required. The LLM phase's own approval comes after the money is spent.
  const llmIds = new Set(plan.subFeatures.filter((s) => s.llm).map((s) => s.id));
  const seen = new Set<string>();
  plan.phases.forEach((phase, i) => {
    for (const id of Object.keys(phase.subFeatures)) {
      if (!llmIds.has(id) || seen.has(id)) continue;
      seen.add(id);
      // In the first phase the decision is the start itself, which only pm and admin may take.
      const before = plan.phases[i - 1];
      if (before && !before.approval?.required) {
        problems.push(
          `phases[${i - 1}].approval.required: phase ${phase.name} turns on the LLM sub-feature "${id}", so the approval of phase ${before.name} that leads into it must be required`,
        );
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

function safeSeconds(d: string | undefined): number | undefined {
  try {
    return d === undefined ? undefined : durationToSeconds(d);
  } catch {
    return undefined;
  }
}

/**
 * A phase's gates over the plan's gates for every phase: the phase's own fields win, metrics are matched by name
 * (the phase's wins), alarms add up. Pure.
 */
export function mergeGates(planGates: PartialGates | undefined, phaseGates: Gates): Gates {
  if (!planGates) return phaseGates;
  const defined = Object.fromEntries(Object.entries(planGates).filter(([, v]) => v !== undefined)) as PartialGates;
  const own = new Set((phaseGates.metrics ?? []).map((m) => m.name));
  const metrics = [...(defined.metrics ?? []).filter((m) => !own.has(m.name)), ...(phaseGates.metrics ?? [])];
  return {
    ...defined,
    ...Object.fromEntries(Object.entries(phaseGates).filter(([, v]) => v !== undefined)),
    alarms: [...new Set([...(defined.alarms ?? []), ...phaseGates.alarms])],
    ...(metrics.length > 0 ? { metrics } : {}),
  } as Gates;
}

/** The plan with its plan-wide gates laid into every phase (and dropped from the top, so this is done once). */
function withPlanGates(plan: Plan): Plan {
  if (!plan.gates) return plan;
  const { gates, ...rest } = plan;
  return { ...rest, phases: plan.phases.map((p) => ({ ...p, gates: mergeGates(gates, p.gates) })) };
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
        ...(po.bakeMax ?? phase.bakeMax ? { bakeMax: po.bakeMax ?? phase.bakeMax } : {}),
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
  const parsed = PlanObjectSchema.safeParse(raw, { error: planIssueMessage });
  if (!parsed.success) {
    // Report the cross-field problems too, over the parts of the plan that did parse.
    const loose = CrossFieldInputSchema.safeParse(raw);
    const more = loose.success ? crossFieldProblems(loose.data as unknown as Plan) : [];
    return { ok: false, problems: [...zodProblems(parsed.error), ...more] };
  }
  const problems = crossFieldProblems(parsed.data);
  if (problems.length > 0) return { ok: false, problems };
  const plan = withPlanGates(parsed.data);
  // What the plan costs AWS: one execution's history and run time, and the alarms over its targets.
  const limits = [...executionLimitProblems(plan), ...alarmLimitProblems(plan)];
  if (limits.length > 0) return { ok: false, problems: limits };
  if (options.stage === undefined) return { ok: true, plan };

  const resolved = PlanObjectSchema.safeParse(resolvePlanForStage(plan, options.stage), { error: planIssueMessage });
  const after = (p: string): string => `${p} (after stages.${options.stage} overrides)`;
  if (!resolved.success) return { ok: false, problems: zodProblems(resolved.error).map(after) };
  const resolvedProblems = crossFieldProblems(resolved.data);
  if (resolvedProblems.length > 0) return { ok: false, problems: resolvedProblems.map(after) };
  const resolvedLimits = [...executionLimitProblems(resolved.data), ...alarmLimitProblems(resolved.data)];
  if (resolvedLimits.length > 0) return { ok: false, problems: resolvedLimits.map(after) };
  return { ok: true, plan: resolved.data };
}

/** {@link validatePlan}, throwing a {@link PlanInvalidError} that lists every problem. */
export function parsePlan(raw: unknown, options: ValidatePlanOptions & { source?: string } = {}): Plan {
  const result = validatePlan(raw, options);
  if (!result.ok) throw new PlanInvalidError(result.problems, options.source);
  return result.plan;
}
