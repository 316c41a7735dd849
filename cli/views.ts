import type { FlagExplanation } from '../lambdas/core/drift/explain';
import type { FeatureVerification } from '../lambdas/core/drift/reconcile';
import { formatUsd } from '../lambdas/core/budget/budget';
import { durationToSeconds, formatSeconds } from '../lambdas/core/plan/duration';
import type { PhasegateRole } from '../lambdas/core/plan/schema';
import type { DecideResult, RollbackOutcome } from '../lambdas/core/rollout/operations';
import type { FeatureBudgetStatus } from '../lambdas/core/ports';
import type { Actor, AuditEvent, RolloutState, RolloutStatus, RolloutStep } from '../lambdas/core/rollout/rollout-state';
import type { FeatureStatus } from './backend';
import { DEFAULT_WIDTH, ago, field, table, truncate, utcTime, wrap } from './format';
import { plain, type Paint, type Style } from './terminal';

/** How the CLI shows rollouts, audit trails and the outcome of operations: JSON shapes and text for people. */

/** Where a phase of a rollout stands. */
export type PhaseProgress = 'done' | 'current' | 'failed' | 'pending';

/** `phasegate status <feature> --json`: one feature's rollout, summarized. */
export interface StatusSummary {
  readonly feature: string;
  readonly stage: string;
  /** `NOT_STARTED` when the feature never rolled out on this stage; the other fields are then absent. */
  readonly status: RolloutStatus | 'NOT_STARTED';
  readonly step?: RolloutStep;
  /** The current phase; `index` -1 and `name` null before the first phase. */
  readonly phase?: { readonly index: number; readonly name: string | null; readonly of: number };
  readonly executionId?: string;
  readonly startedAt?: string;
  readonly startedBy?: Actor;
  readonly updatedAt?: string;
  readonly version?: number;
  /** Set while the phase waits for a person: who may decide. */
  readonly waitingFor?: { readonly phase: string; readonly approvers: readonly PhasegateRole[]; readonly since: string } | null;
  readonly paused?: { readonly by: Actor; readonly at: string; readonly reason?: string } | null;
  readonly lastGate?: { readonly decision: string; readonly reasons: readonly string[]; readonly at: string } | null;
  /** Why the rollout was rolled back or failed. */
  readonly reason?: string | null;
  readonly phases?: readonly { readonly name: string; readonly roles: readonly string[]; readonly percent: number; readonly bake: string; readonly progress: PhaseProgress }[];
}

/** `phasegate status --json`: every feature of the stage. */
export interface StageStatus {
  readonly stage: string;
  readonly features: readonly StatusSummary[];
}

function progressOf(state: RolloutState, index: number): PhaseProgress {
  if (state.status === 'COMPLETED' || index < state.phaseIndex) return 'done';
  if (index > state.phaseIndex) return 'pending';
  return state.status === 'RUNNING' || state.status === 'AWAITING_APPROVAL' ? 'current' : 'failed';
}

/** The summary of one feature's state (pure). */
export function statusSummary(stage: string, { feature, state }: FeatureStatus): StatusSummary {
  if (!state) return { feature, stage, status: 'NOT_STARTED' };
  const phase = state.plan.phases[state.phaseIndex];
  return {
    feature,
    stage: state.stage,
    status: state.status,
    step: state.step,
    phase: { index: state.phaseIndex, name: phase?.name ?? null, of: state.plan.phases.length },
    executionId: state.executionId,
    startedAt: state.startedAt,
    startedBy: state.startedBy,
    updatedAt: state.updatedAt,
    version: state.version,
    waitingFor:
      state.status === 'AWAITING_APPROVAL' && phase ? { phase: phase.name, approvers: phase.approval.approvers, since: state.updatedAt } : null,
    paused: state.paused ?? null,
    lastGate: state.lastGate ?? null,
    reason: state.reason ?? null,
    phases: state.plan.phases.map((p, i) => ({ name: p.name, roles: p.roles, percent: p.percent, bake: p.bake, progress: progressOf(state, i) })),
  };
}

const who = (actor: Actor | undefined): string => (actor ? `${actor.name ?? actor.id} (${actor.via})` : 'someone');
const bakeText = (bake: string): string => formatSeconds(durationToSeconds(bake));

function phaseLabel(s: StatusSummary): string {
  if (!s.phase) return '-';
  return s.phase.name ? `${s.phase.name} (${s.phase.index + 1}/${s.phase.of})` : `starting (0/${s.phase.of})`;
}

/** How a status is coloured: green done, red rolled back, yellow waiting for a person, cyan moving. */
const STATUS_STYLE: Readonly<Record<StatusSummary['status'], Style>> = {
  NOT_STARTED: 'dim',
  RUNNING: 'accent',
  AWAITING_APPROVAL: 'warn',
  COMPLETED: 'good',
  ROLLING_BACK: 'bad',
  ROLLED_BACK: 'bad',
  ROLLBACK_FAILED: 'bad',
};

/** The status of every feature of the stage, one line each. */
export function renderStageStatus(stage: StageStatus, where: string, now: Date, width = DEFAULT_WIDTH, paint: Paint = plain): string[] {
  const rows = stage.features.map((s) => [
    s.feature,
    s.status === 'NOT_STARTED' ? 'not started' : `${s.status}${s.paused ? ' (paused)' : ''}`,
    phaseLabel(s),
    s.updatedAt ? `${utcTime(s.updatedAt).slice(5, 16)}Z ${ago(s.updatedAt, now)}` : '-',
  ]);
  const lines = [paint('bold', `Phasegate ${stage.stage}: ${where}`), ''];
  if (rows.length === 0) return [...lines, 'This stage has no features.'];
  return [
    ...lines,
    ...table([{ header: 'FEATURE', shrink: true }, { header: 'STATUS' }, { header: 'PHASE', shrink: true }, { header: 'UPDATED (UTC)' }], rows, width),
    '',
    'Details: phasegate status <feature>',
  ];
}

function headline(s: StatusSummary): string {
  const paused = s.paused ? `; PAUSED by ${who(s.paused.by)}${s.paused.reason ? `: ${s.paused.reason}` : ''}` : '';
  const phase = s.phase?.name ? `phase ${s.phase.name} (${s.phase.index + 1} of ${s.phase.of})` : 'starting';
  switch (s.status) {
    case 'NOT_STARTED':
      return 'not started on this stage';
    case 'AWAITING_APPROVAL':
      return `${phase} waits for approval by ${s.waitingFor?.approvers.join(' or ') ?? 'an approver'}${paused}`;
    case 'RUNNING':
      return `${phase}, ${s.step === 'baking' ? 'baking' : s.step === 'gating' ? 'gate checked, holding' : s.step}${paused}`;
    case 'COMPLETED':
      return 'completed: every phase passed';
    case 'ROLLING_BACK':
      return `rolling back from ${phase}`;
    case 'ROLLED_BACK':
      return `rolled back in ${phase}: every target serves the safe flags`;
    case 'ROLLBACK_FAILED':
      return `ROLLBACK FAILED in ${phase}: some targets still serve the old flags`;
  }
}

function nextSteps(s: StatusSummary): string[] {
  const f = s.feature;
  if (s.status === 'NOT_STARTED' || s.status === 'COMPLETED' || s.status === 'ROLLED_BACK') return [`phasegate start ${f}`];
  if (s.status === 'ROLLBACK_FAILED' || s.status === 'ROLLING_BACK') return [`phasegate rollback ${f} --reason <why>  (writes the safe flags again)`];
  const steps: string[] = [];
  if (s.status === 'AWAITING_APPROVAL' && !s.paused) steps.push(`phasegate approve ${f} [--note <text>]`);
  if (s.status === 'AWAITING_APPROVAL') steps.push(`phasegate reject ${f} --reason <why>`);
  steps.push(s.paused ? `phasegate resume ${f}` : `phasegate pause ${f} [--reason <why>]`);
  steps.push(`phasegate rollback ${f} --reason <why>`);
  return steps;
}

/** One feature's rollout in detail: what it waits for, who did what, its phases, what can be done next. */
export function renderFeatureStatus(s: StatusSummary, now: Date, width = DEFAULT_WIDTH, paint: Paint = plain): string[] {
  const lines = [`${paint('bold', s.feature)} on ${s.stage}: ${paint(STATUS_STYLE[s.status], s.status === 'NOT_STARTED' ? 'not started' : s.status)}`];
  lines.push(...wrap(headline(s), width - 2).map((l) => `  ${l}`));
  lines.push('');
  if (s.status !== 'NOT_STARTED') {
    const f = (label: string, value: string): string[] => field(label, value, { width, indent: 2 });
    lines.push(...f('execution', s.executionId ?? '-'));
    lines.push(...f('started', `${utcTime(s.startedAt)} by ${who(s.startedBy)}`));
    lines.push(...f('updated', `${utcTime(s.updatedAt)}, ${ago(s.updatedAt, now)} (version ${s.version})`));
    if (s.waitingFor) lines.push(...f('waiting', `since ${utcTime(s.waitingFor.since)} (${ago(s.waitingFor.since, now)}) for ${s.waitingFor.approvers.join(' or ')}`));
    if (s.lastGate) lines.push(...f('last gate', `${s.lastGate.decision} at ${utcTime(s.lastGate.at)}${s.lastGate.reasons.length ? `: ${s.lastGate.reasons.join('; ')}` : ''}`));
    if (s.paused) lines.push(...f('paused', `by ${who(s.paused.by)} at ${utcTime(s.paused.at)}${s.paused.reason ? `: ${s.paused.reason}` : ''}`));
    if (s.reason) lines.push(...f('reason', s.reason));
    lines.push('', '  phases');
    lines.push(
      ...table(
        [{ header: '' }, { header: '' }, { header: '', shrink: true }],
        (s.phases ?? []).map((p) => [p.progress, p.name, `${p.roles.join(', ')}; ${p.percent}%; bake ${bakeText(p.bake)}`]),
        width - 4,
      )
        .slice(1)
        .map((l) => `    ${l}`),
    );
    lines.push('');
  }
  lines.push('  next');
  lines.push(...nextSteps(s).map((step) => `    ${step}`));
  return lines;
}

/** A feature's audit trail, newest first: one line per event, its message wrapped under it. */
export function renderHistory(feature: string, events: readonly AuditEvent[], width = DEFAULT_WIDTH): string[] {
  if (events.length === 0) return [`${feature} has no audit events yet.`];
  const phaseOf = (e: AuditEvent): string => (e.fromPhase === e.toPhase || e.fromPhase === null ? (e.toPhase ?? '-') : `${e.fromPhase} -> ${e.toPhase ?? '-'}`);
  const heads = table(
    [{ header: 'TIME (UTC)' }, { header: 'ACTION' }, { header: 'PHASE', shrink: true }, { header: 'BY', shrink: true }],
    events.map((e) => [utcTime(e.at), e.action, phaseOf(e), who(e.actor)]),
    width,
  );
  const lines = [heads[0]!];
  events.forEach((e, i) => {
    lines.push(heads[i + 1]!);
    lines.push(...wrap(e.message, width - 4).map((l) => `    ${l}`));
  });
  return lines;
}

/** `approve` / `reject --json`: the decision as recorded, without the task token it settled. */
export interface DecisionSummary {
  readonly feature: string;
  readonly phase: string;
  readonly decision: 'approve' | 'reject';
  readonly status: 'APPROVED' | 'REJECTED' | 'PENDING';
  readonly executionId: string;
  readonly decidedBy?: Actor;
  readonly decidedAt?: string;
  readonly note?: string;
}

/** The JSON of a decision (pure). */
export function decisionSummary(result: DecideResult): DecisionSummary {
  const a = result.approval;
  return {
    feature: result.feature,
    phase: result.phase,
    decision: result.decision,
    status: a.status,
    executionId: a.executionId,
    ...(a.decidedBy ? { decidedBy: a.decidedBy } : {}),
    ...(a.decidedAt ? { decidedAt: a.decidedAt } : {}),
    ...(a.note !== undefined ? { note: a.note } : {}),
  };
}

/** What an approval or rejection did. */
export function renderDecision(result: DecideResult, state: RolloutState | undefined): string[] {
  const by = who(result.approval.decidedBy);
  if (result.decision === 'approve') {
    const next = state?.plan.phases[result.approval.phaseIndex + 1];
    return [
      `Approved phase ${result.phase} of ${result.feature} as ${by}.`,
      next ? `The rollout goes on to phase ${next.name}.` : 'That was the last phase: the rollout completes.',
    ];
  }
  return [
    `Rejected phase ${result.phase} of ${result.feature} as ${by}${result.approval.note ? `: ${result.approval.note}` : ''}.`,
    `Phasegate rolls ${result.feature} back (rollback to ${state?.plan.rollback.to ?? 'the safe state'}); follow it with \`phasegate status ${result.feature}\`.`,
  ];
}

/** What a rollback did, target by target. */
export function renderRollback(outcome: RollbackOutcome, width = DEFAULT_WIDTH): string[] {
  if (outcome.status === 'ALREADY_ROLLED_BACK') return [`${outcome.feature} was already rolled back; nothing changed.`];
  const flags = Object.entries(outcome.safeFlags).map(([k, v]) => `${k}=${v === '' ? '""' : v}`);
  return [
    `Rolled back ${outcome.feature} in ${outcome.ms} ms: every target serves the safe flags.`,
    '',
    ...table(
      [{ header: 'TARGET', shrink: true }, { header: 'RESULT' }, { header: 'MS' }],
      outcome.targets.map((t) => [t.functionName, t.ok ? 'safe' : `FAILED: ${t.error ?? ''}`, String(t.ms)]),
      width,
    ),
    '',
    ...field('flags', flags.join(' '), { width, labelWidth: 7 }),
    ...(outcome.execution ? ['', EXECUTION_ENDED[outcome.execution]] : []),
  ];
}

const EXECUTION_ENDED: Readonly<Record<NonNullable<RollbackOutcome['execution']>, string>> = {
  'token-failed': "The pending approval was ended: the rollout's execution finishes as rolled back.",
  stopped: "The rollout's execution was stopped.",
  'left-running': "The rollout's execution still runs; its next step finds the rollout rolled back and stops.",
};

/** What a pause or a resume did. */
export function renderControl(action: 'pause' | 'resume', state: RolloutState): string[] {
  const phase = state.plan.phases[state.phaseIndex]?.name ?? '(starting)';
  return action === 'pause'
    ? [`Paused ${state.feature} in phase ${phase}: its gates hold and approvals wait until \`phasegate resume ${state.feature}\`.`]
    : [`Resumed ${state.feature} in phase ${phase}: the next gate check decides as usual.`];
}

/** Today's LLM budgets of a feature. */
export function renderBudget(status: FeatureBudgetStatus, width = DEFAULT_WIDTH): string[] {
  if (status.subFeatures.length === 0) return [`${status.feature} has no LLM sub-feature with a budget.`];
  const lines = [`LLM budgets of ${status.feature} on ${status.day} (UTC), as of ${utcTime(status.asOf)}`, ''];
  lines.push(
    ...table(
      [{ header: 'SUB-FEATURE', shrink: true }, { header: 'SPENT' }, { header: 'CAP' }, { header: 'LEFT' }, { header: 'HARD LIMIT' }, { header: 'CALLS' }, { header: 'STATE' }],
      status.subFeatures.map((b) => [
        b.subFeature,
        formatUsd(b.spentUsd),
        `${formatUsd(b.capUsd)}${b.capSource === 'admin' ? '*' : ''}`,
        formatUsd(b.remainingUsd),
        formatUsd(b.hardLimitUsd),
        String(b.calls),
        b.overHardLimit ? 'OVER LIMIT' : b.exhausted ? 'exhausted' : 'ok',
      ]),
      width,
    ),
  );
  for (const b of status.subFeatures) {
    if (b.capChange) {
      lines.push('', ...field('*', `${b.subFeature}: cap set today by ${who(b.capChange.by)} from ${formatUsd(b.capChange.previousCapUsd)} (plan: ${formatUsd(b.planCapUsd)}): ${b.capChange.reason}`, { width, labelWidth: 2 }));
    }
    if (b.reservations.live > 0 || b.reservations.expired > 0) {
      lines.push(`  ${b.subFeature}: ${b.reservations.live} call(s) in flight (${formatUsd(b.reservations.liveUsd)}), ${b.reservations.expired} expired reservation(s) (${formatUsd(b.reservations.expiredUsd)}, not counted)`);
    }
  }
  return lines;
}


/** `phasegate verify`: per target, the flags that drift (expected / actual) and when and by whom it last changed. */
export function renderVerification(v: FeatureVerification, now: Date, width = DEFAULT_WIDTH): string[] {
  const out = [`${v.feature}: ${v.status ?? 'never rolled out'}${v.phase ? `, phase ${v.phase}` : ''}${v.basis ? ` (expected: ${v.basis === 'safe' ? 'the safe values' : `the flags of ${v.phase ?? 'the phase'}`})` : ''}`];
  if (v.note) return [...out, ...wrap(v.note, width)];
  for (const t of v.targets) {
    const state = !t.readable ? 'UNREADABLE' : t.drift.length > 0 ? `DRIFT (${t.drift.length} variable${t.drift.length === 1 ? '' : 's'})` : 'ok';
    out.push('', truncate(`${t.target}${t.version ? ` (version ${t.version})` : ''}: ${state}`, width));
    if (!t.readable) out.push(...wrap(`  ${t.error ?? ''}`, width));
    for (const d of t.drift) out.push(truncate(`  ${d.name}: expected "${d.expected}", actual ${d.actual === null ? '(absent)' : `"${d.actual}"`}`, width));
    if (t.lastModified) out.push(truncate(`  last changed ${ago(t.lastModified, now)} (${utcTime(t.lastModified)})${t.lastUpdateStatus && t.lastUpdateStatus !== 'Successful' ? `, update ${t.lastUpdateStatus}` : ''}`, width));
    if (t.lastChange) out.push(truncate(`  last change by others: ${t.lastChange.by}${t.lastChange.eventName ? ` (${t.lastChange.eventName})` : ''} ${ago(t.lastChange.at, now)}`, width));
    if (t.backoffUntil) out.push(truncate(`  keeps drifting: Phasegate leaves it until ${utcTime(t.backoffUntil)}`, width));
  }
  out.push('', ...wrap(v.drifted ? 'Drift found: the next reconcile (CloudTrail event, gate or the 15-minute check) repairs it.' : 'Every target serves what the rollout says.', width));
  return out;
}

/** `phasegate flags explain`: what the user gets on each target, per feature and sub-feature, and why. */
export function renderExplanation(
  feature: string,
  user: { userId?: string; roles: readonly string[] },
  targets: readonly { target: string; error?: string; flags: readonly FlagExplanation[] }[],
  width = DEFAULT_WIDTH,
): string[] {
  const out = [`${feature} for user ${user.userId ?? '(no id)'} with role ${user.roles.join(', ') || '(none)'}:`];
  for (const t of targets) {
    out.push('', t.target);
    if (t.error) {
      out.push(...wrap(`  cannot read it: ${t.error}`, width));
      continue;
    }
    for (const f of t.flags) {
      out.push(truncate(`  ${f.key}: ${f.enabled ? 'ON' : 'off'} (${f.evaluation.reason})`, width), ...wrap(`    ${f.why}`, width));
      out.push(truncate(`    ${Object.entries(f.variables).map(([k, v]) => `${k}=${v === null ? '(absent)' : JSON.stringify(v)}`).join(' ')}`, width));
    }
  }
  return out;
}
