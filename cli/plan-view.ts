import { existsSync, readFileSync, statSync } from 'node:fs';
import { approvalTimeoutSeconds } from '../lambdas/core/rollout/approval-deadline';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { phaseFlagValues, planFlagSets, safeFlagValues } from '../lambdas/core/flags/flags';
import { durationToSeconds, formatSeconds } from '../lambdas/core/plan/duration';
import { holdPolicy } from '../lambdas/core/rollout/hold';
import { PlanObjectSchema, type Phase, type Plan } from '../lambdas/core/plan/schema';
import { validatePlan } from '../lambdas/core/plan/validate';
import { DEFAULT_WIDTH, field, wrap } from './format';
import { UsageError } from './errors';

/** `plan validate` and `plan show`: a plan file checked with the one plan validator, and its phases as a timeline. */

/** A plan file read from disk: its path for people, and its JSON (or why it is not JSON). */
export interface PlanFile {
  /** The path as given, or relative to the working directory. */
  readonly file: string;
  readonly raw?: unknown;
  readonly parseError?: string;
}

/**
 * Read a plan file: `arg` is a path, or a feature id whose plan is `rollouts/<feature>.json` under `cwd`.
 * A file that does not exist is a usage error; one that is not JSON is returned with `parseError`.
 */
export function readPlanFile(arg: string, cwd: string): PlanFile {
  const candidates = [resolve(cwd, arg)];
  if (PlanObjectSchema.shape.feature.safeParse(arg).success) candidates.push(join(cwd, 'rollouts', `${arg}.json`));
  const path = candidates.find((p) => existsSync(p) && statSync(p).isFile());
  if (!path) throw new UsageError(`no plan file ${arg}${candidates.length > 1 ? ` (nor rollouts/${arg}.json)` : ''}`);
  const file = isAbsolute(arg) ? path : relative(cwd, path) || path;
  const text = readFileSync(path, 'utf8');
  try {
    return { file, raw: JSON.parse(text) };
  } catch (err) {
    return { file, parseError: (err as Error).message };
  }
}

/** One problem of a plan, split into its field path and what is wrong there. */
export interface PlanProblem {
  readonly path: string;
  readonly message: string;
}

/** `plan validate --json`. */
export interface PlanValidationReport {
  readonly file: string;
  readonly valid: boolean;
  /** The stages whose overrides were checked too. */
  readonly stages: readonly string[];
  readonly problems: readonly PlanProblem[];
}

function splitProblem(problem: string): PlanProblem {
  const at = problem.indexOf(': ');
  return at < 0 ? { path: '(plan)', message: problem } : { path: problem.slice(0, at), message: problem.slice(at + 2) };
}

/**
 * Validate a plan with the one plan validator: the plan itself, then the plan as each stage resolves it (`stage`,
 * or every stage the plan overrides). Every problem is reported with its field path.
 */
export function validatePlanFile(planFile: PlanFile, stage?: string): PlanValidationReport {
  if (planFile.parseError !== undefined) {
    return { file: planFile.file, valid: false, stages: [], problems: [{ path: '(file)', message: `not JSON: ${planFile.parseError}` }] };
  }
  const base = validatePlan(planFile.raw);
  if (!base.ok) return { file: planFile.file, valid: false, stages: [], problems: base.problems.map(splitProblem) };
  const stages = stage !== undefined ? [stage] : Object.keys(base.plan.stages);
  const problems = new Set<string>();
  for (const s of stages) {
    const resolved = validatePlan(planFile.raw, { stage: s });
    if (!resolved.ok) resolved.problems.forEach((p) => problems.add(p));
  }
  return { file: planFile.file, valid: problems.size === 0, stages, problems: [...problems].map(splitProblem) };
}

/** Text for a validation report. */
export function renderValidation(report: PlanValidationReport, width = DEFAULT_WIDTH): string[] {
  const checked = report.stages.length ? ` (checked with the overrides of ${report.stages.join(', ')})` : '';
  if (report.valid) return [`${report.file} is a valid plan${checked}.`];
  return [
    `${report.file} is invalid: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}${checked}`,
    ...report.problems.flatMap((p) => wrap(`${p.path}: ${p.message}`, width - 4).map((l, i) => `${i === 0 ? '  - ' : '    '}${l}`)),
  ];
}

/** `plan show --json`: the plan resolved for a stage, as a timeline. */
export interface PlanTimeline {
  readonly file: string;
  readonly stage: string;
  readonly feature: string;
  readonly description?: string;
  readonly owner?: string;
  readonly targets: readonly string[];
  readonly rollback: Plan['rollback']['to'];
  readonly flagSets: readonly { readonly key: string; readonly enabled: string; readonly inverted: boolean; readonly roles: string; readonly percent: string; readonly llm?: { readonly dailyCapUsd: number; readonly hardLimitUsd: number } }[];
  /** Who holds which Phasegate role: Discord role ids and CLI principal patterns. */
  readonly roles: { readonly discord: Readonly<Record<string, readonly string[]>>; readonly principals: Readonly<Record<string, readonly string[]>> };
  readonly phases: readonly TimelinePhase[];
  /** The shortest time the whole rollout can take: every bake, no holds, instant approvals. */
  readonly minimumSeconds: number;
}

/** One phase of a {@link PlanTimeline}. */
export interface TimelinePhase {
  readonly index: number;
  readonly name: string;
  readonly description?: string;
  readonly roles: readonly string[];
  readonly percent: number;
  readonly bake: string;
  readonly bakeSeconds: number;
  /** The upper end of a bake range: held up to this, then a person is asked. */
  readonly bakeMax?: string;
  /** Writes the feature's off values (a dry run). */
  readonly dark: boolean;
  /** Runs only when the approver of the phase before opts in. */
  readonly optional: boolean;
  /** Starts at this time of day once the phase before is done. */
  readonly start?: Phase['start'];
  /** Earliest start and end, in seconds after the rollout starts. */
  readonly startsAfterSeconds: number;
  readonly endsAfterSeconds: number;
  readonly approval: Phase['approval'];
  readonly gates: readonly string[];
  readonly subFeatures: Readonly<Record<string, { readonly on: boolean; readonly roles?: readonly string[]; readonly percent?: number }>>;
  /** The environment variables the phase writes on every target. */
  readonly flags: Readonly<Record<string, string>>;
  /** What a failure in this phase rolls back to: `off`, or the previous phase's flags. */
  readonly rollbackTo: { readonly kind: 'off' } | { readonly kind: 'previous-phase'; readonly phase: string };
  readonly safeFlags: Readonly<Record<string, string>>;
}

const BAND_LABELS: Readonly<Record<string, string>> = { errorRate: 'error rate', p95Ms: 'p95 ms', durationMs: 'duration ms', throttles: 'throttles' };

/** `proceed < 0.005, roll back > 0.01` for a band of either direction, with its options. */
function describeBand(band: Record<string, unknown>, unit = ''): string {
  const n = (v: unknown): string => `${unit}${String(v)}`;
  const parts: string[] = [];
  const lower = band.proceedBelow !== undefined || band.rollbackAbove !== undefined || band.warnAbove !== undefined;
  const higher = band.proceedAbove !== undefined || band.rollbackBelow !== undefined || band.warnBelow !== undefined;
  if (lower) parts.push(band.proceedBelow === 0 ? `proceed at ${n(0)}` : `proceed < ${n(band.proceedBelow)}`);
  if (higher) parts.push(`proceed > ${n(band.proceedAbove)}`);
  if (band.warnAbove !== undefined) parts.push(`warn > ${n(band.warnAbove)}`);
  if (band.warnBelow !== undefined) parts.push(`warn < ${n(band.warnBelow)}`);
  if (band.rollbackAbove !== undefined) parts.push(`roll back > ${n(band.rollbackAbove)}`);
  if (band.rollbackBelow !== undefined) parts.push(`roll back < ${n(band.rollbackBelow)}`);
  if ((lower || higher) && band.rollbackAbove === undefined && band.rollbackBelow === undefined) parts.push('watched only (never holds or rolls back)');
  if (typeof band.per === 'string') parts.push(`per ${formatSeconds(durationToSeconds(band.per))}`);
  if (typeof band.sustainedFor === 'string') parts.push(`only when sustained for ${formatSeconds(durationToSeconds(band.sustainedFor))}`);
  if (band.missingData === 'zero') parts.push('no data reads as 0');
  if (typeof band.minSamples === 'number') parts.push(`hold until ${band.minSamples} samples`);
  const baseline = band.baseline as { rollbackBeyond?: number; proceedWithin?: number; window?: string; value?: number } | undefined;
  if (baseline) {
    const against = baseline.value !== undefined ? `the stated baseline ${n(baseline.value)} (alarmed at once)` : `the baseline of the ${formatSeconds(durationToSeconds(baseline.window ?? 'P1D'))} before the start`;
    parts.push(`against ${against}: proceed within ${baseline.proceedWithin ?? baseline.rollbackBeyond}x, roll back beyond ${baseline.rollbackBeyond}x`);
  }
  return parts.join(', ');
}

/**
 * The phase's gates, one sentence each. Bands are described whichever direction they take; a gate kind this
 * version does not know is shown as its JSON, so nothing the plan says is hidden.
 */
export function describeGates(phase: Pick<Phase, 'bake' | 'gates'>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(phase.gates as Record<string, unknown>)) {
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) continue;
    if (key === 'alarms') out.push(`alarms in ALARM roll back: ${(value as string[]).join(', ')}`);
    else if (key === 'hold') {
      const policy = holdPolicy(phase);
      out.push(`a hold re-checks every ${formatSeconds(policy.intervalSeconds)} and asks a person after ${formatSeconds(policy.maxSeconds)}`);
    } else if (key === 'minInvocations') out.push(`hold until the targets are invoked ${String(value)} times`);
    else if (key === 'metrics') {
      for (const m of value as Record<string, unknown>[]) {
        const dims = Object.entries((m.dimensions as Record<string, string> | undefined) ?? {}).map(([k, v]) => `${k}=${v}`);
        const where = `${String(m.namespace)} ${String(m.metric)}${dims.length ? ` [${dims.join(', ')}]` : ''} ${String(m.statistic ?? '')}`.trim();
        out.push(`${String(m.name)} (${where}): ${describeBand(m)}`);
      }
    } else if (key === 'llmSpendUsd') {
      for (const [sub, band] of Object.entries(value as Record<string, Record<string, unknown>>)) out.push(`LLM spend of ${sub} today: ${describeBand(band, '$')}`);
    } else if (BAND_LABELS[key] && value && typeof value === 'object') {
      const band = value as Record<string, unknown>;
      out.push(`${key === 'durationMs' ? `duration ${String(band.statistic ?? '')} ms` : BAND_LABELS[key]}: ${describeBand(band)}`);
    } else out.push(`${key}: ${JSON.stringify(value)}`);
  }
  return out;
}

/** The plan resolved for `stage`, laid out as a timeline (pure). */
export function planTimeline(plan: Plan, stage: string, file: string): PlanTimeline {
  let at = 0;
  const phases = plan.phases.map((phase, index): TimelinePhase => {
    const bakeSeconds = durationToSeconds(phase.bake);
    const startsAfterSeconds = at;
    at += bakeSeconds;
    const previous = plan.phases[index - 1];
    return {
      index,
      name: phase.name,
      ...(phase.description ? { description: phase.description } : {}),
      roles: phase.roles,
      percent: phase.percent,
      bake: phase.bake,
      bakeSeconds,
      ...(phase.bakeMax ? { bakeMax: phase.bakeMax } : {}),
      dark: phase.dark,
      optional: phase.optional,
      ...(phase.start ? { start: phase.start } : {}),
      startsAfterSeconds,
      endsAfterSeconds: at,
      approval: phase.approval,
      gates: describeGates(phase),
      subFeatures: Object.fromEntries(
        plan.subFeatures.map((sub) => {
          const exposure = phase.subFeatures[sub.id];
          return [sub.id, exposure ? { on: true, roles: exposure.roles ?? phase.roles, percent: exposure.percent ?? phase.percent } : { on: false }];
        }),
      ),
      flags: phaseFlagValues(plan, index),
      rollbackTo: plan.rollback.to === 'previous-phase' && previous ? { kind: 'previous-phase', phase: previous.name } : { kind: 'off' },
      safeFlags: safeFlagValues(plan, index),
    };
  });
  return {
    file,
    stage,
    feature: plan.feature,
    ...(plan.description ? { description: plan.description } : {}),
    ...(plan.owner ? { owner: plan.owner } : {}),
    targets: plan.targets,
    rollback: plan.rollback.to,
    flagSets: planFlagSets(plan).map((set) => {
      const llm = plan.subFeatures.find((s) => s.id === set.subFeatureId)?.llm;
      return {
        key: set.key,
        enabled: set.names.enabled.name,
        inverted: set.names.enabled.inverted,
        roles: set.names.roles,
        percent: set.names.percent,
        ...(llm ? { llm: { dailyCapUsd: llm.dailyCapUsd, hardLimitUsd: llm.hardLimitUsd } } : {}),
      };
    }),
    roles: { discord: plan.discord.roles, principals: plan.principals },
    phases,
    minimumSeconds: at,
  };
}

const t = (seconds: number): string => (seconds === 0 ? '+0' : `+${formatSeconds(seconds)}`);

/** Text for a timeline: the plan's settings, then each phase with who sees what, for how long, and who decides. */
export function renderTimeline(tl: PlanTimeline, width = DEFAULT_WIDTH): string[] {
  const top = (label: string, value: string): string[] => field(label, value, { width, labelWidth: 12, indent: 2 });
  const lines = wrap(`${tl.feature} on ${tl.stage} (${tl.file})`, width);
  lines.push(`  ${tl.phases.length} phases, at least ${formatSeconds(tl.minimumSeconds)} end to end (every bake, no holds)`);
  if (tl.description) lines.push(...wrap(tl.description, width - 2).map((l) => `  ${l}`));
  lines.push('');
  if (tl.owner) lines.push(...top('owner', tl.owner));
  lines.push(...top('targets', tl.targets.join(', ')));
  for (const set of tl.flagSets) {
    const llm = set.llm ? `; LLM budget $${set.llm.dailyCapUsd}/day, rolled back above $${set.llm.hardLimitUsd}` : '';
    const names = `${set.enabled}${set.inverted ? ' (kill switch)' : ''}, ${set.roles}, ${set.percent}${llm}`;
    lines.push(...top(set.key === tl.feature ? 'flags' : '', set.key === tl.feature ? names : `${set.key.slice(tl.feature.length + 1)}: ${names}`));
  }
  lines.push(...top('rollback', tl.rollback === 'off' ? 'off: every flag off' : 'previous-phase: the flags of the phase before the failing one (off in the first)'));
  const mappings = [
    ...Object.entries(tl.roles.principals).map(([p, r]) => `${p} -> ${r.join(', ')}`),
    ...Object.entries(tl.roles.discord).map(([id, r]) => `Discord role ${id} -> ${r.join(', ')}`),
  ];
  lines.push(...top('roles', mappings.length ? mappings.join('; ') : 'no Discord roles or CLI principals mapped'));

  for (const p of tl.phases) {
    const f = (label: string, value: string): string[] => field(label, value, { width, labelWidth: 14, indent: 5 });
    lines.push('', `${p.index + 1}. ${p.name}: from ${t(p.startsAfterSeconds)} to ${t(p.endsAfterSeconds)} at the earliest`);
    if (p.description) lines.push(...wrap(p.description, width - 5).map((l) => `     ${l}`));
    if (p.optional) lines.push(...f('optional', 'runs only when the approver of the phase before opts in; otherwise skipped'));
    if (p.start) lines.push(...f('starts', `at ${p.start.time} ${p.start.timeZone}${p.start.days ? ` on ${p.start.days.join(', ')}` : ''}, once the phase before is done`));
    lines.push(...f('who', p.dark ? 'nobody: dark, the feature stays off (a dry run)' : `${p.roles.includes('all') ? 'every user' : `roles ${p.roles.join(', ')}`}, ${p.percent}% of them`));
    lines.push(
      ...f('bake', p.bakeMax ? `${formatSeconds(p.bakeSeconds)} to ${formatSeconds(durationToSeconds(p.bakeMax))} (${p.bake} to ${p.bakeMax}): proceed after the first when the gate passes, hold up to the second, then ask` : `${formatSeconds(p.bakeSeconds)} (${p.bake})`),
    );
    if (p.gates.length === 0) lines.push(...f('gates', 'none: the phase passes after its bake'));
    p.gates.forEach((gate, i) => lines.push(...f(i === 0 ? 'gates' : '', gate)));
    const a = p.approval;
    lines.push(
      ...f(
        'approval',
        a.required
          ? `${a.approvers.join(' or ')} must approve${a.timeout ? `, within ${formatSeconds(durationToSeconds(a.timeout))}` : ''}${a.starterMayApprove ? '' : ', not the person who started it'}`
          : 'not needed: the next phase starts when the gate passes',
      ),
    );
    const subs = Object.entries(p.subFeatures);
    if (subs.length) lines.push(...f('sub-features', subs.map(([id, s]) => (s.on ? `${id} on (${s.roles!.join(', ')}, ${s.percent}%)` : `${id} off`)).join('; ')));
    lines.push(...f('writes', Object.entries(p.flags).map(([k, v]) => `${k}=${v === '' ? '""' : v}`).join(' ')));
    lines.push(...f('on failure', p.rollbackTo.kind === 'off' ? 'roll back to off' : `roll back to phase ${p.rollbackTo.phase}'s flags`));
  }
  return lines;
}

/** Text for a Mermaid label: quotes and angle brackets as Mermaid's entity codes, so no label breaks the diagram. */
function mermaidText(text: string): string {
  return text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

/**
 * The plan as a Mermaid flowchart (pure): per phase who sees the feature, its bake, its gate (proceed, hold and
 * bake again, roll back) and its approval (approve, reject or time out), then completion; every failure path
 * leads to the rollback with what it rolls back to. GitHub renders it in a ```mermaid block of a README.
 */
export function renderMermaid(tl: PlanTimeline): string[] {
  const label = (...lines: string[]): string => `"${lines.map(mermaidText).join('<br/>')}"`;
  const lines = [
    `%% ${tl.feature} on ${tl.stage} (${tl.file}): ${tl.phases.length} phases, at least ${formatSeconds(tl.minimumSeconds)}`,
    'flowchart TD',
    `  start([${label(`start ${tl.feature} on ${tl.stage}`)}])`,
    `  rollback[[${label(`roll back: ${tl.rollback === 'off' ? 'every flag off' : 'the previous phase\'s flags (off in the first)'}`)}]]`,
    `  completed([${label('completed: every phase passed')}])`,
  ];
  let from = 'start';
  let edge = '';
  for (const p of tl.phases) {
    const id = `p${p.index}`;
    const who = p.roles.includes('all') ? 'every user' : p.roles.join(', ');
    const subs = Object.entries(p.subFeatures).filter(([, s]) => s.on).map(([sub]) => sub);
    lines.push(`  ${id}[${label(`${p.index + 1}. ${p.name}`, `${who}, ${p.percent}%`, ...(subs.length ? [`with ${subs.join(', ')}`] : []))}]`);
    lines.push(`  ${id}_bake{{${label(`bake ${formatSeconds(p.bakeSeconds)}`)}}}`);
    lines.push(`  ${id}_gate{${label('gate', ...(p.gates.length ? p.gates.slice(0, 3) : ['none']), ...(p.gates.length > 3 ? [`and ${p.gates.length - 3} more`] : []))}}`);
    lines.push(`  ${from} -->${edge} ${id}`, `  ${id} --> ${id}_bake --> ${id}_gate`);
    if (p.gates.length) lines.push(`  ${id}_gate -->|hold| ${id}_bake`, `  ${id}_gate -->|roll back| rollback`);
    if (p.approval.required) {
      const a = p.approval;
      const within = formatSeconds(approvalTimeoutSeconds(p));
      lines.push(`  ${id}_approval[/${label(`approval by ${a.approvers.join(' or ')}`, `within ${within}, else roll back`)}/]`);
      lines.push(`  ${id}_gate -->|proceed| ${id}_approval`, `  ${id}_approval -->|reject or timeout| rollback`);
      from = `${id}_approval`;
      edge = '|approve|';
    } else {
      from = `${id}_gate`;
      edge = '|proceed|';
    }
  }
  lines.push(`  ${from} -->${edge} completed`);
  lines.push('  classDef fail fill:#fde2e1,stroke:#c0392b', '  class rollback fail');
  return lines;
}
