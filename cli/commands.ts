import { PlanObjectSchema } from '../lambdas/core/plan/schema';
import { validatePlan } from '../lambdas/core/plan/validate';
import { renderPhaseReport } from '../lambdas/core/gates/report';
import { explainFlags } from '../lambdas/core/drift/explain';
import { isTerminal } from '../lambdas/core/rollout/rollout-state';
import type { Backend } from './backend';
import { EXIT, UsageError } from './errors';
import { utcTime } from './format';
import type { Paint } from './terminal';
import { readPlanFile, renderMermaid, renderTimeline, renderValidation, planTimeline, validatePlanFile } from './plan-view';
import {
  decisionSummary,
  renderBudget,
  renderControl,
  renderDecision,
  renderFeatureStatus,
  renderHistory,
  renderRollback,
  renderExplanation,
  renderStageStatus,
  renderVerification,
  statusSummary,
  type StageStatus,
  type StatusSummary,
} from './views';

/** The CLI's commands: their arguments, options and help, and what each does with a {@link Backend}. */

/** An option of a command, as `node:util` parseArgs takes it, with its help. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** Placeholder of a string option's value in the help: `--note <text>`. */
  readonly value?: string;
  readonly help: string;
}

/** A positional argument. */
export interface ArgumentSpec {
  readonly name: string;
  readonly optional?: boolean;
}

/** What a command gets to run. */
export interface CommandContext {
  readonly options: Readonly<Record<string, string | boolean | undefined>>;
  readonly args: readonly string[];
  /** `--stage` as given, or undefined. */
  readonly stage: string | undefined;
  readonly cwd: string;
  readonly width: number;
  readonly now: Date;
  /** The stage to operate on (AWS or the rehearsal), connected on first use. */
  backend(): Promise<Backend>;
  /** Lines for people, or the JSON document with `--json`. */
  print(lines: readonly string[], json: unknown): void;
  /** Raw output (a `--watch` frame). */
  write(text: string): void;
  /** Colours text, or leaves it plain (NO_COLOR, not a terminal). */
  readonly paint: Paint;
  /** Whether stdout is a terminal. */
  readonly isTTY: boolean;
  /** The time now (each `--watch` frame reads it again). */
  clock(): Date;
  sleep(ms: number): Promise<void>;
  /** Aborted on Ctrl-C. */
  readonly signal?: AbortSignal;
}

/** One command. */
export interface CommandSpec {
  /** `['status']`, `['plan', 'show']`. */
  readonly path: readonly string[];
  readonly args: readonly ArgumentSpec[];
  readonly summary: string;
  /** More help, printed under the usage line. */
  readonly details: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** `stage`: works on a deployed stage or the rehearsal; `plan`: works on a plan file. */
  readonly scope: 'stage' | 'plan';
  /** Shown in the top-level help under this heading. */
  readonly group: 'Read' | 'Act' | 'Plans';
  run(ctx: CommandContext): Promise<number>;
}

/** Options every command of a scope takes. */
export const GLOBAL_OPTIONS: Readonly<Record<'stage' | 'plan', Readonly<Record<string, OptionSpec>>>> = {
  stage: {
    stage: { type: 'string', value: 'name', help: 'stage to work on (default dev)' },
    region: { type: 'string', value: 'region', help: "AWS region of the stack (default: AWS_REGION or your profile's)" },
    local: { type: 'boolean', help: 'work on the running local rehearsal instead of AWS' },
    json: { type: 'boolean', help: 'print one JSON document instead of text' },
    help: { type: 'boolean', help: 'show this help' },
  },
  plan: {
    stage: { type: 'string', value: 'name', help: 'resolve the plan for this stage' },
    json: { type: 'boolean', help: 'print one JSON document instead of text' },
    help: { type: 'boolean', help: 'show this help' },
  },
};

const FEATURE: ArgumentSpec = { name: 'feature' };

/** The feature argument, checked against the plan schema's feature id rule. */
function featureArg(ctx: CommandContext, spec: CommandSpec): string {
  const feature = ctx.args[0]!;
  if (!PlanObjectSchema.shape.feature.safeParse(feature).success) {
    throw new UsageError(`"${feature}" is not a feature id (lowercase a-z, 0-9 and -, 2 to 40 characters)`, spec.path);
  }
  return feature;
}

/** A string option that must be given and not blank. */
function required(ctx: CommandContext, spec: CommandSpec, name: string): string {
  const value = ctx.options[name];
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} <${spec.options[name]?.value ?? 'value'}> is required`, spec.path);
  return value.trim();
}

function optional(ctx: CommandContext, name: string): string | undefined {
  const value = ctx.options[name];
  return typeof value === 'string' ? value : undefined;
}

const status: CommandSpec = {
  path: ['status'],
  args: [{ name: 'feature', optional: true }],
  summary: 'where the rollouts of the stage stand, or one in detail (--watch: live)',
  details:
    'Without a feature: one line per feature of the stage (status, phase, last change). With a feature: its' +
    ' phase and step, what it waits for, who started it, the last gate, a pause, and what you can do next.' +
    ' With --watch: redraw as the rollout moves until it ends (exit 0 completed, 1 rolled back) or Ctrl-C;' +
    ' not on a terminal (or with --json), a new frame (a JSON line) only when something changed.',
  options: {
    watch: { type: 'boolean', help: 'keep redrawing until the rollout ends or Ctrl-C' },
    interval: { type: 'string', value: 'seconds', help: 'how often --watch reads the state (default 2, 1 to 300)' },
  },
  scope: 'stage',
  group: 'Read',
  async run(ctx) {
    const feature = ctx.args.length ? featureArg(ctx, this) : undefined;
    const rawInterval = optional(ctx, 'interval');
    if (rawInterval !== undefined && !ctx.options.watch) throw new UsageError('--interval goes with --watch', this.path);
    const seconds = Number(rawInterval ?? '2');
    if (!Number.isFinite(seconds) || seconds < 1 || seconds > 300) throw new UsageError(`--interval must be from 1 to 300 seconds, got "${rawInterval}"`, this.path);
    const backend = await ctx.backend();
    const frame = async (): Promise<{ lines: string[]; document: StatusSummary | StageStatus; ended?: StatusSummary }> => {
      const statuses = await backend.status(feature);
      const summaries = statuses.map((s) => statusSummary(backend.stage, s));
      if (feature !== undefined) {
        const one = summaries[0]!;
        const ended = one.status !== 'NOT_STARTED' && isTerminal(one.status) ? one : undefined;
        return { lines: renderFeatureStatus(one, ctx.clock(), ctx.width, ctx.paint), document: one, ...(ended ? { ended } : {}) };
      }
      const stage: StageStatus = { stage: backend.stage, features: summaries };
      return { lines: renderStageStatus(stage, backend.where, ctx.clock(), ctx.width, ctx.paint), document: stage };
    };
    if (!ctx.options.watch) {
      const { lines, document } = await frame();
      ctx.print(lines, document);
      return EXIT.ok;
    }
    return watch(ctx, frame, seconds * 1000);
  },
};

/**
 * Redraws a status until the rollout ends or Ctrl-C. On a terminal each frame replaces the last (cursor home,
 * clear screen); elsewhere, and with --json, a frame is written only when the state changed, so a log of a watch
 * reads as the rollout's story.
 */
async function watch(
  ctx: CommandContext,
  frame: () => Promise<{ lines: string[]; document: StatusSummary | StageStatus; ended?: StatusSummary }>,
  intervalMs: number,
): Promise<number> {
  let last: string | undefined;
  for (;;) {
    const { lines, document, ended } = await frame();
    const key = JSON.stringify(document);
    if (ctx.options.json) {
      if (key !== last) ctx.write(`${key}\n`);
    } else if (ctx.isTTY) {
      const footer = ended ? `${ended.feature} ended: ${ended.status}` : `watching every ${intervalMs / 1000}s (${utcTime(ctx.clock().toISOString())}); Ctrl-C to stop`;
      ctx.write(`\x1b[H\x1b[2J${lines.join('\n')}\n\n${ctx.paint('dim', footer)}\n`);
    } else if (key !== last) {
      ctx.write(`${last === undefined ? '' : '\n'}${lines.join('\n')}\n`);
    }
    last = key;
    if (ended) return ended.status === 'COMPLETED' ? EXIT.ok : EXIT.failed;
    if (ctx.signal?.aborted) return EXIT.ok;
    await Promise.race([ctx.sleep(intervalMs), aborted(ctx.signal)]);
    if (ctx.signal?.aborted) return EXIT.ok;
  }
}

/** Settles when the signal aborts (never without one). */
function aborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
}

const history: CommandSpec = {
  path: ['history'],
  args: [FEATURE],
  summary: 'the audit trail of a feature, newest first',
  details: 'Every transition, decision and refusal, with who did it (Discord member, CLI caller, Phasegate itself).',
  options: { limit: { type: 'string', value: 'n', help: 'how many events, newest first (default 20, at most 1000)' } },
  scope: 'stage',
  group: 'Read',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const raw = optional(ctx, 'limit') ?? '20';
    const limit = Number(raw);
    if (!/^\d+$/.test(raw) || limit < 1 || limit > 1000) throw new UsageError(`--limit must be a whole number from 1 to 1000, got "${raw}"`, this.path);
    const backend = await ctx.backend();
    const events = await backend.history(feature, limit);
    ctx.print(renderHistory(feature, events, ctx.width), { feature, stage: backend.stage, events });
    return EXIT.ok;
  },
};

const report: CommandSpec = {
  path: ['report'],
  args: [FEATURE],
  summary: "the daily phase report of a feature's active rollout (markdown)",
  details:
    'The report the daily-report schedule posts to Discord, made now: phase and time in phase, requests, error rate,' +
    ' p95 and LLM spend against the baseline and the gate bands, and a recommendation (proceed / hold and' +
    ' investigate / roll back) with the reason per metric. With --json: the report object.',
  options: {},
  scope: 'stage',
  group: 'Read',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const backend = await ctx.backend();
    const phaseReport = await backend.report(feature);
    ctx.print(renderPhaseReport(phaseReport).trimEnd().split('\n'), phaseReport);
    return EXIT.ok;
  },
};

const budget: CommandSpec = {
  path: ['budget'],
  args: [FEATURE],
  summary: "today's LLM spend, reservations and caps (--set changes today's cap)",
  details:
    "With --set: change today's (UTC) cap of an LLM sub-feature, from 0 up to its hard limit; admins only, with " +
    "a reason; audited. Tomorrow the plan's cap applies again.",
  options: {
    set: { type: 'string', value: 'usd', help: "today's new cap in US dollars (admins only)" },
    reason: { type: 'string', value: 'text', help: 'why the cap changes (required with --set)' },
    'sub-feature': { type: 'string', value: 'id', help: 'which LLM sub-feature (needed when the feature has several)' },
  },
  scope: 'stage',
  group: 'Read',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const setRaw = optional(ctx, 'set');
    let set;
    if (setRaw !== undefined) {
      const usd = Number(setRaw.replace(/^\$/, ''));
      if (setRaw.trim() === '' || !Number.isFinite(usd) || usd < 0) throw new UsageError(`--set must be an amount in US dollars, 0 or more, got "${setRaw}"`, this.path);
      set = { usd, reason: required(ctx, this, 'reason'), ...(optional(ctx, 'sub-feature') ? { subFeature: optional(ctx, 'sub-feature') } : {}) };
    } else if (ctx.options.reason !== undefined || ctx.options['sub-feature'] !== undefined) {
      throw new UsageError('--reason and --sub-feature go with --set <usd>', this.path);
    }
    const backend = await ctx.backend();
    const status = await backend.budget({ feature, ...(set ? { set } : {}) });
    ctx.print(renderBudget(status, ctx.width), status);
    return EXIT.ok;
  },
};

function decideCommand(decision: 'approve' | 'reject'): CommandSpec {
  const approve = decision === 'approve';
  return {
    path: [decision],
    args: [FEATURE],
    summary: approve ? 'approve the phase that waits for approval' : 'reject the phase that waits for approval: the feature rolls back',
    details: approve
      ? 'Needs one of the phase\'s approver roles. Refused (and audited) when no phase waits, when the rollout is paused, or when someone decided first.'
      : "Needs one of the phase's approver roles and a reason. The rollout then rolls back to the plan's safe state.",
    options: {
      [approve ? 'note' : 'reason']: { type: 'string', value: 'text', help: approve ? 'a note kept with the approval' : 'why (required; kept in the audit trail)' },
      phase: { type: 'string', value: 'name', help: 'the phase you mean: refused if another phase waits (default: the one waiting)' },
      ...(approve ? { 'opt-in': { type: 'string' as const, value: 'phase', help: 'also run this optional phase that follows (skipped otherwise)' } } : {}),
    },
    scope: 'stage',
    group: 'Act',
    async run(ctx) {
      const feature = featureArg(ctx, this);
      const note = approve ? optional(ctx, 'note') : required(ctx, this, 'reason');
      const phase = optional(ctx, 'phase');
      const optIn = approve ? optional(ctx, 'opt-in') : undefined;
      const backend = await ctx.backend();
      const result = await backend.decide({
        feature,
        decision,
        ...(note !== undefined ? { note } : {}),
        ...(phase !== undefined ? { phase } : {}),
        ...(optIn !== undefined ? { optIn } : {}),
      });
      const [after] = await backend.status(feature);
      ctx.print(renderDecision(result, after?.state ?? undefined), decisionSummary(result));
      return EXIT.ok;
    },
  };
}

const pause: CommandSpec = {
  path: ['pause'],
  args: [FEATURE],
  summary: 'hold the rollout in its phase: gates hold, approvals wait',
  details: 'Only pm or admin. The phase keeps its flags; a held gate does not count toward the hold limit. A rollback still works.',
  options: { reason: { type: 'string', value: 'text', help: 'why (kept in the audit trail)' } },
  scope: 'stage',
  group: 'Act',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const reason = optional(ctx, 'reason');
    const backend = await ctx.backend();
    const state = await backend.pause({ feature, ...(reason ? { reason } : {}) });
    ctx.print(renderControl('pause', state), statusSummary(backend.stage, { feature, state }));
    return EXIT.ok;
  },
};

const resume: CommandSpec = {
  path: ['resume'],
  args: [FEATURE],
  summary: 'resume a paused rollout',
  details: 'Only pm or admin. The next gate check decides as usual.',
  options: {},
  scope: 'stage',
  group: 'Act',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const backend = await ctx.backend();
    const state = await backend.resume({ feature });
    ctx.print(renderControl('resume', state), statusSummary(backend.stage, { feature, state }));
    return EXIT.ok;
  },
};

const rollback: CommandSpec = {
  path: ['rollback'],
  args: [FEATURE],
  summary: "put every target back in the plan's safe state, now",
  details:
    'Only on-call or admin, with a reason. Writes the safe flags to every target in parallel from this process (your ' +
    'credentials need lambda:GetFunction and lambda:UpdateFunctionConfiguration on the targets), ' +
    "ends the rollout's execution and records it like any rollback. Safe to repeat: a failed rollback is retried.",
  options: { reason: { type: 'string', value: 'text', help: 'why (required; kept in the audit trail and announced)' } },
  scope: 'stage',
  group: 'Act',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const reason = required(ctx, this, 'reason');
    const outcome = await (await ctx.backend()).rollback({ feature, reason });
    ctx.print(renderRollback(outcome, ctx.width), outcome);
    return EXIT.ok;
  },
};

const start: CommandSpec = {
  path: ['start'],
  args: [FEATURE],
  summary: "start a rollout of the feature's deployed plan",
  details: 'Only pm or admin. Refused while a rollout of the feature is active.',
  options: {},
  scope: 'stage',
  group: 'Act',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const backend = await ctx.backend();
    const started = await backend.start({ feature });
    ctx.print(
      [`Started a rollout of ${feature} on ${backend.stage}: execution ${started.executionId}`, `Follow it with \`phasegate status ${feature}\`.`],
      { feature, stage: backend.stage, ...started },
    );
    return EXIT.ok;
  },
};

const promote: CommandSpec = {
  path: ['promote'],
  args: [FEATURE],
  summary: 'end the current bake now; the phase\'s gate still decides',
  details: 'Only pm or admin, while the rollout is RUNNING and its phase bakes. The gate then proceeds, holds, asks or rolls back as usual.',
  options: {},
  scope: 'stage',
  group: 'Act',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const backend = await ctx.backend();
    const promoted = await backend.promote({ feature });
    ctx.print(
      [
        `Promoted ${feature} on ${backend.stage}: the bake of phase ${promoted.phase} ended${promoted.bakeUntil ? ` (it would have run until ${promoted.bakeUntil})` : ''}; its gate decides next.`,
        `Follow it with \`phasegate status ${feature}\`.`,
      ],
      { stage: backend.stage, ...promoted },
    );
    return EXIT.ok;
  },
};

const retry: CommandSpec = {
  path: ['retry'],
  args: [FEATURE],
  summary: 'after a rollback, start again at a phase (default: the one rolled back in), not at phase 1',
  details: 'Only pm or admin. A new execution that skips the phases before --from; refused unless the last rollout was rolled back.',
  options: { from: { type: 'string', value: 'phase', help: 'the phase to start at (default: the phase the rollout was rolled back in)' } },
  scope: 'stage',
  group: 'Act',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const from = optional(ctx, 'from');
    const backend = await ctx.backend();
    const started = await backend.retry({ feature, ...(from !== undefined ? { from } : {}) });
    ctx.print(
      [`Retrying ${feature} on ${backend.stage} from phase ${started.phase} (${started.phaseIndex + 1}): execution ${started.executionId}`, `Follow it with \`phasegate status ${feature}\`.`],
      { feature, stage: backend.stage, ...started },
    );
    return EXIT.ok;
  },
};

const planValidate: CommandSpec = {
  path: ['plan', 'validate'],
  args: [{ name: 'file' }],
  summary: 'check a plan file: every problem with its field path',
  details:
    'The one plan validator cdk synth uses. Checks the plan, then the plan with the overrides of --stage (or of' +
    ' every stage the plan overrides). <file> may also be a feature id: rollouts/<feature>.json. Exits 1 when invalid.',
  options: {},
  scope: 'plan',
  group: 'Plans',
  async run(ctx) {
    const report = validatePlanFile(readPlanFile(ctx.args[0]!, ctx.cwd), ctx.stage);
    ctx.print(renderValidation(report, ctx.width), report);
    return report.valid ? EXIT.ok : EXIT.failed;
  },
};

const planShow: CommandSpec = {
  path: ['plan', 'show'],
  args: [{ name: 'file' }],
  summary: 'the phases of a plan as a timeline',
  details:
    "For each phase: who sees the feature, the bake, the gates, who approves, which sub-features are on, the " +
    'flags written, and what a failure rolls back to; resolved for --stage (default dev). Exits 1 when invalid.' +
    ' --format mermaid prints a Mermaid flowchart of the phases, bakes, gates and approvals (GitHub renders it in a' +
    ' ```mermaid block).',
  options: { format: { type: 'string', value: 'text|mermaid', help: 'text (default) or a Mermaid flowchart' } },
  scope: 'plan',
  group: 'Plans',
  async run(ctx) {
    const format = optional(ctx, 'format') ?? 'text';
    if (format !== 'text' && format !== 'mermaid') throw new UsageError(`--format must be text or mermaid, got "${format}"`, this.path);
    if (format === 'mermaid' && ctx.options.json) throw new UsageError('--format mermaid and --json exclude each other', this.path);
    const file = readPlanFile(ctx.args[0]!, ctx.cwd);
    const stage = ctx.stage ?? 'dev';
    const result = file.parseError === undefined ? validatePlan(file.raw, { stage }) : undefined;
    if (!result?.ok) {
      const report = validatePlanFile(file, stage);
      ctx.print(renderValidation(report, ctx.width), report);
      return EXIT.failed;
    }
    const timeline = planTimeline(result.plan, stage, file.file);
    if (format === 'mermaid') ctx.write(`${renderMermaid(timeline).join('\n')}\n`);
    else ctx.print(renderTimeline(timeline, ctx.width), timeline);
    return EXIT.ok;
  },
};

const verify: CommandSpec = {
  path: ['verify'],
  args: [FEATURE],
  summary: "each target's flags against what the rollout says: drift, last change (exit 1 on drift)",
  details:
    'Reads every target (and alias) of the feature now: the expected and actual value of each flag variable, the ' +
    'drift, when the target was last changed and by whom (when Phasegate saw the CloudTrail event). Read-only: the ' +
    'reconcile repairs drift. Exits 1 when a target drifts or cannot be read.',
  options: {},
  scope: 'stage',
  group: 'Read',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const report = await (await ctx.backend()).verify(feature);
    ctx.print(renderVerification(report, ctx.now, ctx.width), report);
    return report.drifted ? EXIT.failed : EXIT.ok;
  },
};

const flagsExplain: CommandSpec = {
  path: ['flags', 'explain'],
  args: [FEATURE],
  summary: 'what a user gets from the flags a target serves now, and why',
  details:
    "Reads the target's live variables and evaluates them with @phasegate/runtime, the reader target functions use: " +
    'per feature and sub-feature, on or off, and why (kill switch, role match, bucket against percent, parent feature).',
  options: {
    user: { type: 'string', value: 'id', help: 'the user id (needed for a percentage between 0 and 100)' },
    role: { type: 'string', value: 'role', help: "the user's role; comma-separated for several" },
    target: { type: 'string', value: 'fn', help: 'one target of the feature (default: every target)' },
  },
  scope: 'stage',
  group: 'Read',
  async run(ctx) {
    const feature = featureArg(ctx, this);
    const userId = optional(ctx, 'user');
    const roles = (optional(ctx, 'role') ?? '').split(',').map((r) => r.trim()).filter(Boolean);
    const target = optional(ctx, 'target');
    const { plan, targets } = await (await ctx.backend()).inspect({ feature, ...(target !== undefined ? { target } : {}) });
    const user = { ...(userId !== undefined ? { userId } : {}), roles };
    const explained = targets.map((t) =>
      t.ok ? { target: t.target, flags: explainFlags(plan, t.variables ?? {}, user) } : { target: t.target, error: t.error ?? 'unreadable', flags: [] },
    );
    ctx.print(renderExplanation(feature, user, explained, ctx.width), { feature, user, targets: explained });
    return explained.some((t) => 'error' in t) ? EXIT.failed : EXIT.ok;
  },
};

/** Every command, in the order the help lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  status,
  history,
  report,
  verify,
  flagsExplain,
  budget,
  start,
  decideCommand('approve'),
  decideCommand('reject'),
  pause,
  resume,
  rollback,
  promote,
  retry,
  planValidate,
  planShow,
];
