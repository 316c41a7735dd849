import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudWatchMetricsReader } from '../lambdas/adapters/cloudwatch-metrics-reader';
import { CloudWatchWidgetImages } from '../lambdas/adapters/cloudwatch-widget-images';
import { DiscordApiClient } from '../lambdas/adapters/discord-api';
import { postDailyReports } from '../lambdas/core/gates/daily-report';
import { systemClock, type RolloutStore } from '../lambdas/core/ports';
import type { FakeDiscordApi } from './discord';

/**
 * The daily report in a rehearsal: before each phase's first gate, the report the daily-report function would post,
 * made by the same core against the local world (the store, the local CloudWatch drawing the picture with
 * GetMetricWidgetImage, the local Discord receiving the upload); the picture Discord kept is saved to a file.
 */

/** One report the rehearsal posted. */
export interface RehearsalReport {
  readonly at: Date;
  readonly phase: string;
  readonly recommendation: string;
  /** Where the picture was saved; undefined when none was attached. */
  readonly imagePath?: string;
}

/** Posts one report per phase, before its first gate. */
export class RehearsalReports {
  readonly posted: RehearsalReport[] = [];
  private readonly seen = new Set<number>();

  constructor(
    private readonly world: { readonly store: RolloutStore; readonly api: FakeDiscordApi; readonly feature: string; readonly dir: string },
  ) {}

  /** Call with the gate's input (`phaseIndex`); failures are the report's own and never stop the rollout. */
  async beforeGate(event: { phaseIndex?: unknown }): Promise<void> {
    const phaseIndex = typeof event.phaseIndex === 'number' ? event.phaseIndex : -1;
    if (phaseIndex < 0 || this.seen.has(phaseIndex)) return;
    this.seen.add(phaseIndex);
    const { store, api, feature, dir } = this.world;
    const state = await store.getState(feature);
    const phase = state?.plan.phases[phaseIndex]?.name ?? String(phaseIndex);
    const before = new Set(api.channelMessages().map((m) => m.id));
    const warn = (): void => undefined;
    const [outcome] = await postDailyReports(
      {
        store,
        clock: systemClock,
        metrics: new CloudWatchMetricsReader(),
        discord: new DiscordApiClient({ baseUrl: api.baseUrl, botToken: async () => api.botToken }),
        widgets: new CloudWatchWidgetImages(),
        log: { warn, info: warn },
      },
      [feature],
    );
    if (outcome?.outcome !== 'posted') return;
    const attachment = api
      .channelMessages()
      .filter((m) => !before.has(m.id))
      .flatMap((m) => m.attachments ?? [])[0];
    let imagePath: string | undefined;
    if (attachment) {
      mkdirSync(dir, { recursive: true });
      imagePath = join(dir, attachment.filename.replace(/\.png$/, `-${phase}.png`));
      writeFileSync(imagePath, attachment.data);
    }
    this.posted.push({ at: new Date(), phase, recommendation: outcome.recommendation, ...(imagePath ? { imagePath } : {}) });
  }
}
