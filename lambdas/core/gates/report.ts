import { phaseGateMetrics, type GateMetric, type ResolvedBand } from './gate-metrics';
import { formatFigure, formatThreshold, type BandDecision, type BandEvaluation } from './gates';
import type { FeatureBudgetStatus } from '../ports';
import type { RolloutState, RolloutStatus, RolloutStep } from '../rollout/rollout-state';
import type { APIEmbed } from 'discord-api-types/v10';

/**
 * The daily phase report, pure: from a rollout's state and what its current phase's gate bands made of the
 * metrics in the phase's window (the verdicts come from `evaluateBands` in gates.ts, through the gate step's
 * `evaluatePhaseBands`), a {@link PhaseReport} and its markdown, shaped like the runbooks' "Daily Report
 * Template": a metrics summary with the baseline, then Proceed / Hold and investigate / Roll back with the reasons.
 */

/** What the report recommends, in the runbooks' words. */
export const RECOMMENDATION_LABELS: Readonly<Record<BandDecision, string>> = {
  PROCEED: 'Proceed',
  HOLD: 'Hold and investigate',
  ROLLBACK: 'Roll back',
};

/** Statuses with a current phase worth reporting on: running or waiting for a person. */
export function isReportable(status: RolloutStatus): boolean {
  return status === 'RUNNING' || status === 'AWAITING_APPROVAL';
}

/** What a phase's bands made of its window: the gate step's `evaluatePhaseBands` result. */
export interface PhaseBands extends BandEvaluation {
  /** The window the metrics were read over (ISO). */
  readonly window?: { readonly start: string; readonly end: string };
  /** The targets' invocations in the window; undefined when no band is on the targets' own metrics. */
  readonly invocations?: number;
}

/** Everything a report is made from. */
export interface PhaseReportInput {
  readonly state: RolloutState;
  /** When the report is made. */
  readonly at: Date;
  /** The current phase's band verdicts; undefined when the phase has no metric bands. */
  readonly bands?: PhaseBands;
  /** Today's LLM budgets of the feature, for the cap in force (an admin may have changed it). @default - the plan's caps */
  readonly budgets?: FeatureBudgetStatus;
}

/** One metric of the report. */
export interface ReportMetric {
  /** Gate metric id: `error-rate`, `p95-ms`, `llm-spend-<sub-feature>`, a custom metric's name. */
  readonly id: string;
  readonly label: string;
  readonly decision: BandDecision;
  readonly value?: number;
  /** `0.42 %`, `812 ms`, `$4.20`; undefined without data. */
  readonly figure?: string;
  readonly baseline?: number;
  readonly baselineFigure?: string;
  /** `proceed below 0.5 %, roll back above 1 %`. */
  readonly band: string;
  /** The band's reason, with the figures (from gates.ts). */
  readonly reason: string;
  /** An LLM sub-feature's cap in force today and its hard limit. */
  readonly llm?: { readonly subFeature: string; readonly capUsd: number; readonly hardLimitUsd: number; readonly capSource: 'plan' | 'admin' };
}

/** A daily report on one active rollout. */
export interface PhaseReport {
  readonly feature: string;
  readonly stage: string;
  readonly executionId: string;
  readonly generatedAt: string;
  readonly status: RolloutStatus;
  readonly step: RolloutStep;
  readonly phase: { readonly name: string; readonly index: number; readonly count: number; readonly percent: number; readonly roles: readonly string[]; readonly bake: string };
  /** When the phase's flags were on every target; undefined while they are being written. */
  readonly phaseStartedAt?: string;
  readonly timeInPhaseSeconds?: number;
  /** The window the metrics cover. */
  readonly window?: { readonly start: string; readonly end: string };
  /** The targets' invocations in the window; undefined when not measured. */
  readonly requests?: number;
  readonly metrics: readonly ReportMetric[];
  readonly paused?: { readonly by: string; readonly at: string; readonly reason?: string };
  readonly recommendation: { readonly decision: BandDecision; readonly label: string; readonly reasons: readonly string[] };
}

/** `2 d 3 h`, `5 h 12 min`, `7 min`. */
export function formatElapsed(seconds: number): string {
  const minutes = Math.max(0, Math.floor(seconds / 60));
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min`;
}

function bandDescription(band: ResolvedBand, metric: GateMetric): string {
  const f = (n: number): string => formatThreshold(n, metric.unit);
  const [good, bad] = band.direction === 'lower-is-better' ? ['below', 'above'] : ['above', 'below'];
  const sustained = band.sustainedSeconds ? ` for ${formatElapsed(band.sustainedSeconds)}` : '';
  const baseline = band.baseline ? `; within ${band.baseline.proceedWithin}x of the baseline, roll back beyond ${band.baseline.rollbackBeyond}x` : '';
  const warn = band.warn !== undefined ? `, warn ${bad} ${f(band.warn)}` : '';
  const rollback = band.rollback !== undefined ? `, roll back ${bad} ${f(band.rollback)}${sustained}` : ', watched only';
  return `proceed ${good} ${f(band.proceed)}${warn}${rollback}${baseline}`;
}

/**
 * The report on a rollout, or undefined when it has none to give: finished, rolled back, rolling back, or not in
 * a phase yet.
 */
export function buildPhaseReport(input: PhaseReportInput): PhaseReport | undefined {
  const { state, at, bands } = input;
  if (!isReportable(state.status) || state.phaseIndex < 0) return undefined;
  const phase = state.plan.phases[state.phaseIndex];
  if (!phase) return undefined;

  const gateMetrics = new Map(phaseGateMetrics(state.plan, state.phaseIndex).map((m) => [m.id, m]));
  const metrics: ReportMetric[] = (bands?.metrics ?? []).flatMap((verdict) => {
    const metric = gateMetrics.get(verdict.metric);
    if (!metric) return [];
    const f = (n: number): string => formatFigure(n, metric.unit);
    const sub = metric.subFeature ? state.plan.subFeatures.find((s) => s.id === metric.subFeature) : undefined;
    const budget = input.budgets?.subFeatures.find((b) => b.subFeature === metric.subFeature);
    return [
      {
        id: metric.id,
        label: metric.label,
        decision: verdict.decision,
        ...(verdict.value !== undefined ? { value: verdict.value, figure: f(verdict.value) } : {}),
        ...(verdict.baseline !== undefined ? { baseline: verdict.baseline, baselineFigure: f(verdict.baseline) } : {}),
        band: bandDescription(metric.band, metric),
        reason: verdict.reason,
        ...(sub?.llm
          ? {
              llm: {
                subFeature: sub.id,
                capUsd: budget?.capUsd ?? sub.llm.dailyCapUsd,
                hardLimitUsd: budget?.hardLimitUsd ?? sub.llm.hardLimitUsd,
                capSource: budget?.capSource ?? 'plan',
              },
            }
          : {}),
      },
    ];
  });

  const reasons: string[] = [];
  let decision: BandDecision;
  if (!bands) {
    // Nothing measured means nothing to recommend going on with: a person looks at the alarms and dashboard.
    decision = 'HOLD';
    reasons.push(`phase ${phase.name} has no metric bands: check its alarms and the feature's dashboard before deciding`);
  } else {
    decision = bands.decision;
    reasons.push(...bands.reasons);
  }
  if (state.paused) reasons.push(`the rollout is paused by ${state.paused.by.name ?? state.paused.by.id}${state.paused.reason ? `: ${state.paused.reason}` : ''}`);

  const startedAt = state.phaseAppliedAt;
  return {
    feature: state.feature,
    stage: state.stage,
    executionId: state.executionId,
    generatedAt: at.toISOString(),
    status: state.status,
    step: state.step,
    phase: { name: phase.name, index: state.phaseIndex, count: state.plan.phases.length, percent: phase.percent, roles: phase.roles, bake: phase.bake },
    ...(startedAt ? { phaseStartedAt: startedAt, timeInPhaseSeconds: Math.max(0, Math.round((at.getTime() - Date.parse(startedAt)) / 1000)) } : {}),
    ...(bands?.window ? { window: bands.window } : {}),
    ...(bands?.invocations !== undefined ? { requests: bands.invocations } : {}),
    metrics,
    ...(state.paused ? { paused: { by: state.paused.by.name ?? state.paused.by.id, at: state.paused.at, ...(state.paused.reason ? { reason: state.paused.reason } : {}) } } : {}),
    recommendation: { decision, label: RECOMMENDATION_LABELS[decision], reasons },
  };
}

const minute = (iso: string): string => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

/** The report as markdown (Discord renders it; so does a terminal reader). */
export function renderPhaseReport(report: PhaseReport): string {
  const p = report.phase;
  const lines: string[] = [
    `## Phase report: ${report.feature} on ${report.stage} (${report.generatedAt.slice(0, 10)})`,
    '',
    `- Phase: **${p.name}** (${p.index + 1} of ${p.count}), ${p.percent} % of ${p.roles.join(', ')}, bake ${p.bake}`,
    report.phaseStartedAt !== undefined
      ? `- Time in phase: ${formatElapsed(report.timeInPhaseSeconds ?? 0)} (since ${minute(report.phaseStartedAt)})`
      : '- Time in phase: the phase\'s flags are still being written',
    `- Status: ${report.status} (${report.step})${report.paused ? `, paused by ${report.paused.by}${report.paused.reason ? `: ${report.paused.reason}` : ''}` : ''}`,
    '',
    '### Metrics summary',
    '',
  ];
  if (report.window) lines.push(`Window: ${minute(report.window.start)} to ${minute(report.window.end)}`, '');
  lines.push(`- Requests with the feature (target invocations): ${report.requests !== undefined ? report.requests.toLocaleString('en-US') : 'not measured'}`);
  for (const m of report.metrics) {
    const label = m.label.charAt(0).toUpperCase() + m.label.slice(1);
    const figure = m.figure ?? 'no data';
    const against = m.llm
      ? ` (cap ${formatFigure(m.llm.capUsd, 'usd')}${m.llm.capSource === 'admin' ? ' set by an admin today' : ''}, hard limit ${formatFigure(m.llm.hardLimitUsd, 'usd')})`
      : m.baselineFigure !== undefined
        ? ` (baseline: ${m.baselineFigure})`
        : '';
    lines.push(`- ${label}: ${figure}${against}; band: ${m.band}: **${RECOMMENDATION_LABELS[m.decision].toLowerCase()}**`);
  }
  if (report.metrics.length === 0) lines.push('- No metric bands in this phase.');
  // The decision in words, not a `[x]` task list: Discord renders none, and the boxes showed literally.
  lines.push('', '### Recommendation', '', `**${report.recommendation.label}**`, '', ...report.recommendation.reasons.map((r) => `- ${r}`));
  return `${lines.join('\n')}\n`;
}

/** The embed's colour per recommendation: green, amber, red. */
export const RECOMMENDATION_COLOURS: Readonly<Record<BandDecision, number>> = { PROCEED: 0x2ea043, HOLD: 0xd29922, ROLLBACK: 0xcf222e };

const DECISION_MARKS: Readonly<Record<BandDecision, string>> = { PROCEED: '🟢', HOLD: '🟡', ROLLBACK: '🔴' };

/** Discord's embed limits ("Embed Limits" in Discord's API reference). */
const EMBED_LIMITS = { title: 256, description: 4096, fields: 25, fieldName: 256, fieldValue: 1024 } as const;

const cut = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/**
 * The report as a Discord embed: the recommendation as its title and colour, one field per metric (the figure, the
 * baseline or cap, the band and what it makes of the figure), the reasons, and the picture of the rollout when one
 * is attached (`image`: the attachment's file name, shown through `attachment://<name>`).
 */
export function reportEmbed(report: PhaseReport, options: { readonly image?: string } = {}): APIEmbed {
  const p = report.phase;
  const d = report.recommendation.decision;
  const inPhase =
    report.phaseStartedAt !== undefined ? `${formatElapsed(report.timeInPhaseSeconds ?? 0)} in phase (since ${minute(report.phaseStartedAt)})` : "the phase's flags are still being written";
  const description = [
    `Phase **${p.name}** (${p.index + 1} of ${p.count}): ${p.percent} % of ${p.roles.join(', ')}, bake ${p.bake}; ${inPhase}.`,
    `Status ${report.status} (${report.step})${report.paused ? `, paused by ${report.paused.by}${report.paused.reason ? `: ${report.paused.reason}` : ''}` : ''}.`,
    report.window ? `Figures from ${minute(report.window.start)} to ${minute(report.window.end)}.` : '',
  ].filter(Boolean);
  const fields: { name: string; value: string; inline?: boolean }[] = [
    { name: 'Requests with the feature', value: report.requests !== undefined ? report.requests.toLocaleString('en-US') : 'not measured', inline: true },
  ];
  for (const m of report.metrics) {
    const against = m.llm
      ? `cap ${formatFigure(m.llm.capUsd, 'usd')}${m.llm.capSource === 'admin' ? ' (set by an admin today)' : ''}, hard limit ${formatFigure(m.llm.hardLimitUsd, 'usd')}`
      : m.baselineFigure !== undefined
        ? `baseline ${m.baselineFigure}`
        : undefined;
    const value = [`**${m.figure ?? 'no data'}**${against ? ` (${against})` : ''}: ${DECISION_MARKS[m.decision]} ${RECOMMENDATION_LABELS[m.decision].toLowerCase()}`, `band: ${m.band}`].join('\n');
    fields.push({ name: cut(m.label.charAt(0).toUpperCase() + m.label.slice(1), EMBED_LIMITS.fieldName), value: cut(value, EMBED_LIMITS.fieldValue) });
  }
  if (report.metrics.length === 0) fields.push({ name: 'Metrics', value: 'No metric bands in this phase.' });
  const reasons = report.recommendation.reasons.map((r) => `• ${r}`).join('\n');
  fields.push({ name: `Recommendation: ${report.recommendation.label}`, value: cut(reasons || report.recommendation.label, EMBED_LIMITS.fieldValue) });
  return {
    title: cut(`${DECISION_MARKS[d]} ${report.recommendation.label}: ${report.feature} on ${report.stage}`, EMBED_LIMITS.title),
    description: cut(description.join('\n'), EMBED_LIMITS.description),
    color: RECOMMENDATION_COLOURS[d],
    fields: fields.slice(0, EMBED_LIMITS.fields),
    timestamp: report.generatedAt,
    footer: { text: `Daily report · phasegate report ${report.feature} --stage ${report.stage} for the whole report` },
    ...(options.image ? { image: { url: `attachment://${options.image}` } } : {}),
  };
}
