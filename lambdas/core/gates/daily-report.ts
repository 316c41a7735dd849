import { budgetStatus } from '../budget/budget';
import type { DiscordFile, DiscordMessage, DiscordRest } from '../discord/ports';
import { rolloutWidget, type MetricWidget, type PhaseMark } from './metric-widget';
import type { Clock, FeatureBudgetStatus, LlmBudgetStore, MetricsReader, RolloutStore } from '../ports';
import { buildPhaseReport, reportEmbed, type PhaseReport } from './report';
import type { RolloutState } from '../rollout/rollout-state';
import { evaluatePhaseBands } from '../rollout/steps';

/**
 * Makes the daily phase report of a feature from the live store and metrics, and posts it to the feature's
 * Discord channel. The report itself is pure (report.ts); this reads what it needs through the ports.
 */

/** What making a report reads. */
export interface ReportPorts {
  readonly store: RolloutStore;
  readonly clock: Clock;
  /** Reads the phase's gate metrics. @default - none: metric bands hold, "cannot be checked" */
  readonly metrics?: MetricsReader;
  /** Today's LLM budgets, for the cap in force. @default - none: the plan's caps are shown */
  readonly budgets?: LlmBudgetStore;
}

/** The report on `feature`'s rollout now, or undefined when it has never started or is not active. */
export async function phaseReportOf(ports: ReportPorts, feature: string): Promise<PhaseReport | undefined> {
  const state = await ports.store.getState(feature);
  return state ? reportOn(ports, state) : undefined;
}

async function reportOn(ports: ReportPorts, state: RolloutState): Promise<PhaseReport | undefined> {
  const feature = state.feature;
  const at = ports.clock.now();
  if (!buildPhaseReport({ state, at })) return undefined;
  const bands = await evaluatePhaseBands(ports, state, state.phaseIndex, at);
  let budgets: FeatureBudgetStatus | undefined;
  if (ports.budgets && state.plan.subFeatures.some((s) => s.llm)) {
    try {
      budgets = await budgetStatus({ budgets: ports.budgets, clock: ports.clock, plans: [state.plan] }, feature);
    } catch {
      // The cap in force is a detail of the report: the plan's cap is shown instead.
    }
  }
  return buildPhaseReport({ state, at, ...(bands ? { bands } : {}), ...(budgets ? { budgets } : {}) });
}

/** Discord's limit on a message's content. */
export const DISCORD_CONTENT_LIMIT = 2000;

/** What happened to one feature's daily report. */
export type DailyReportOutcome =
  | { readonly feature: string; readonly outcome: 'posted'; readonly channelId: string; readonly recommendation: string }
  | { readonly feature: string; readonly outcome: 'inactive' | 'no-channel' }
  | { readonly feature: string; readonly outcome: 'failed'; readonly error: string };

/** Draws a CloudWatch metric widget (CloudWatch's GetMetricWidgetImage): the PNG's bytes. */
export interface MetricWidgetImages {
  render(widget: MetricWidget): Promise<Uint8Array>;
}

/** What posting the daily reports needs. */
export interface DailyReportPorts extends ReportPorts {
  /** Discord's REST API (bot token). @default - none: reports are made and logged, not posted */
  readonly discord?: DiscordRest;
  /** Draws the picture of the rollout attached to the report. @default - none: the report goes out without one */
  readonly widgets?: MetricWidgetImages;
  /** Where failures are logged. */
  readonly log: { warn(message: string, extra?: Record<string, unknown>): void; info(message: string, extra?: Record<string, unknown>): void };
}

/**
 * The picture of a rollout so far: the targets' errors and p95 from the rollout's start to `at`, the rollout's start
 * and the current phase's start marked (the state keeps those two; the phases between are in the audit trail, which
 * the report does not read), and the current phase's band.
 */
export function reportWidget(state: RolloutState, at: Date): MetricWidget {
  const phases: PhaseMark[] = [{ phase: `start (${state.plan.phases[0]?.name ?? 'phase 1'})`, at: state.startedAt }];
  const current = state.plan.phases[state.phaseIndex];
  if (current && state.phaseAppliedAt && state.phaseIndex > 0) phases.push({ phase: current.name, at: state.phaseAppliedAt });
  // A rollout younger than CloudWatch's smallest period still gets a window CloudWatch accepts (end after start).
  const start = Math.min(Date.parse(state.startedAt), at.getTime() - 3600_000);
  return rolloutWidget({ plan: state.plan, stage: state.stage, start: new Date(start).toISOString(), end: at.toISOString(), phases, currentPhaseIndex: state.phaseIndex });
}

/** The PNG's file name: `attachment://<name>` in the embed resolves only to `[A-Za-z0-9._-]` names. */
export function reportImageName(report: PhaseReport): string {
  return `${report.feature}-${report.generatedAt.slice(0, 10)}.png`.replace(/[^A-Za-z0-9._-]/g, '-');
}

/** The daily report as one Discord message: the embed, and the picture attached when there is one. */
export function dailyReportMessage(report: PhaseReport, image?: Uint8Array): { message: DiscordMessage; files: DiscordFile[] } {
  const name = image ? reportImageName(report) : undefined;
  const files: DiscordFile[] = image && name ? [{ name, contentType: 'image/png', data: image, description: `${report.feature}: errors and p95 since the rollout started` }] : [];
  return { message: { embeds: [reportEmbed(report, name ? { image: name } : {})], allowed_mentions: { parse: [] } }, files };
}

/** The markdown as one Discord message, cut to Discord's limit. */
export function reportMessage(markdown: string): { content: string; allowed_mentions: { parse: [] } } {
  const cut = '\n… (cut: run `phasegate report` for the whole report)';
  const content = markdown.length <= DISCORD_CONTENT_LIMIT ? markdown : `${markdown.slice(0, DISCORD_CONTENT_LIMIT - cut.length)}${cut}`;
  return { content, allowed_mentions: { parse: [] } };
}

/**
 * Post the report of each feature's active rollout to its plan's Discord channel. Best effort: a feature whose
 * report cannot be made or posted is logged and the others still go out; nothing throws.
 */
export async function postDailyReports(ports: DailyReportPorts, features: readonly string[]): Promise<DailyReportOutcome[]> {
  const outcomes: DailyReportOutcome[] = [];
  for (const feature of features) {
    try {
      const state = await ports.store.getState(feature);
      const report = state ? await reportOn(ports, state) : undefined;
      if (!state || !report) {
        outcomes.push({ feature, outcome: 'inactive' });
        continue;
      }
      const channelId = state.plan.discord.channelId;
      if (!channelId || !ports.discord) {
        ports.log.info('daily report not posted: no Discord channel', { feature, recommendation: report.recommendation.decision });
        outcomes.push({ feature, outcome: 'no-channel' });
        continue;
      }
      let image: Uint8Array | undefined;
      if (ports.widgets) {
        try {
          image = await ports.widgets.render(reportWidget(state, ports.clock.now()));
        } catch (err) {
          // The picture helps; the figures are the report. It goes out without one.
          ports.log.warn('daily report picture failed', { feature, error: (err as Error).message });
        }
      }
      const { message, files } = dailyReportMessage(report, image);
      await ports.discord.postChannelMessage(channelId, message, files);
      outcomes.push({ feature, outcome: 'posted', channelId, recommendation: report.recommendation.decision });
    } catch (err) {
      ports.log.warn('daily report failed', { feature, error: (err as Error).message });
      outcomes.push({ feature, outcome: 'failed', error: (err as Error).message });
    }
  }
  return outcomes;
}

/** The scheduler's input: `{ "feature": "<id>" }` (one schedule per feature) or `{ "features": [...] }`. */
export function parseDailyReportEvent(event: unknown): { features: string[] } {
  const e = (event ?? {}) as { feature?: unknown; features?: unknown };
  if (typeof e.feature === 'string' && e.feature !== '') return { features: [e.feature] };
  if (Array.isArray(e.features) && e.features.every((f) => typeof f === 'string')) return { features: e.features as string[] };
  throw new TypeError(`daily report: expected { "feature": "<id>" }, got ${JSON.stringify(event)}`);
}
