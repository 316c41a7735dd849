/**
 * A rehearsal building block: LLM calls at a given spend rate through the real budget guard
 * (`phasegate/runtime/llm-budget`) on the rehearsal's dynalite, with compressed time. It reports which calls went
 * through, which fell back once the daily cap was reached, spend against the cap, and the simulated moment the
 * day's spend passed the hard limit (the moment the cost alarm would fire).
 *
 * ```ts
 * const report = await runLlmSpendScenario({ endpoint, tableName, plan, usdPerHour: 2 });
 * for (const line of formatLlmSpendReport(report)) console.log(line);
 * ```
 */
import { localDynamoClient } from '../dynamo';
import { DynamoLlmBudgetStore } from '../../lambdas/adapters/dynamo-budget-store';
import { microsToUsd, usdToMicros, utcDay } from '../../lambdas/core/budget/budget-record';
import { formatUsd, llmSubFeatures } from '../../lambdas/core/budget/budget';
import { planFlagSets, subFeatureKey } from '../../lambdas/core/flags/flags';
import type { Plan } from '../../lambdas/core/plan/schema';
import { createLlmBudget, type LlmBudgetResult } from '../../runtime/llm-budget';

const HOUR_MS = 3_600_000;

/** Options of {@link runLlmSpendScenario}. */
export interface LlmSpendScenarioOptions {
  /** The local DynamoDB (`http://127.0.0.1:<port>`). */
  readonly endpoint: string;
  /** The state table on it. */
  readonly tableName: string;
  /** The stage-resolved plan: its LLM sub-feature's cap and hard limit apply. */
  readonly plan: Plan;
  /** Simulated spend rate in US dollars per hour: calls of `callUsd` each, evenly spaced. */
  readonly usdPerHour: number;
  /** The LLM sub-feature. @default - the plan's first sub-feature with an `llm` budget */
  readonly subFeature?: string;
  /** Simulated duration in hours. @default 24 */
  readonly hours?: number;
  /** Simulated start. @default - midnight UTC today, so the run covers one budget day */
  readonly start?: Date;
  /** What one call costs. @default 0.01 */
  readonly callUsd?: number;
  /** What one call reserves; below `callUsd`, calls overrun their estimates. @default callUsd */
  readonly estimateUsd?: number;
  /**
   * The cap the targets' cap variable carries. @default - the plan's dailyCapUsd (what Phasegate writes). Set it
   * to simulate a hand-edited variable, e.g. above the hard limit so only the alarm can stop the spend.
   */
  readonly capUsd?: number;
  /** Calls started at the same simulated instant. @default 1 */
  readonly concurrency?: number;
  /** Consulted before each call: whether the LLM flag is still on (calls are skipped when off). @default always on */
  readonly llmEnabled?: (at: Date) => boolean | Promise<boolean>;
  /** Called after each round with calls that ran: hook the cost alarm and the LLM-only rollback here. */
  readonly onSpend?: (snapshot: LlmSpendSnapshot) => void | Promise<void>;
  /** Each Embedded Metric Format line the guard prints (`LlmSpendUsd`, `LlmBudgetExhausted`). @default - dropped */
  readonly onMetric?: (line: string) => void;
}

/** The day's spend after a round of calls. */
export interface LlmSpendSnapshot {
  /** Simulated time. */
  readonly at: Date;
  readonly day: string;
  readonly daySpentUsd: number;
  readonly capUsd: number;
  readonly hardLimitUsd: number;
}

/** One simulated hour. */
export interface LlmSpendHour {
  /** Start of the hour (simulated, ISO 8601). */
  readonly at: string;
  readonly succeeded: number;
  readonly fellBack: number;
  readonly skipped: number;
  /** The day's spend at the end of the hour. */
  readonly daySpentUsd: number;
}

/** What {@link runLlmSpendScenario} observed. */
export interface LlmSpendReport {
  readonly feature: string;
  readonly subFeature: string;
  readonly usdPerHour: number;
  readonly callUsd: number;
  readonly estimateUsd: number;
  /** The cap the guard enforced. */
  readonly capUsd: number;
  readonly hardLimitUsd: number;
  readonly start: string;
  readonly end: string;
  readonly calls: {
    /** Calls the flag allowed. */
    readonly attempted: number;
    /** Calls the guard let through: they ran and were paid for. */
    readonly succeeded: number;
    /** Calls refused with BUDGET_EXHAUSTED: they took the fallback path. */
    readonly fellBack: number;
    /** Calls refused with BUDGET_UNAVAILABLE (the budget store failed). */
    readonly unavailable: number;
    /** Calls not made because `llmEnabled` said the flag was off. */
    readonly skipped: number;
  };
  /** Spend of every simulated day, as the guard recorded it in DynamoDB. */
  readonly days: readonly { readonly day: string; readonly spentUsd: number; readonly capUsd: number }[];
  /** Total spend of the run. */
  readonly spentUsd: number;
  /** Largest amount by which a day's spend passed the cap (0 while the guard holds it). */
  readonly overshootUsd: number;
  /** Simulated moment of the first fallback: the cap was reached. */
  readonly capReachedAt: string | null;
  /** Simulated moment a day's spend first passed the hard limit (the cost alarm's threshold), if it did. */
  readonly hardLimitPassedAt: string | null;
  readonly hourly: readonly LlmSpendHour[];
}

function defaultStart(): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/**
 * Simulate LLM calls at `usdPerHour` for `hours` of compressed time through the real guard on the local
 * DynamoDB. Every call reserves, runs (instantly) and settles as in a target function; past the cap they fall
 * back. The clock is simulated, so a day takes seconds.
 */
export async function runLlmSpendScenario(options: LlmSpendScenarioOptions): Promise<LlmSpendReport> {
  const { plan, usdPerHour } = options;
  const callUsd = options.callUsd ?? 0.01;
  const estimateUsd = options.estimateUsd ?? callUsd;
  const concurrency = options.concurrency ?? 1;
  const hours = options.hours ?? 24;
  const problems: string[] = [];
  if (!(usdPerHour > 0)) problems.push(`usdPerHour: expected a positive rate, got ${usdPerHour}`);
  if (!(callUsd > 0)) problems.push(`callUsd: expected a positive amount, got ${callUsd}`);
  if (!(estimateUsd > 0)) problems.push(`estimateUsd: expected a positive amount, got ${estimateUsd}`);
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) problems.push(`concurrency: expected a whole number from 1, got ${concurrency}`);
  if (!(hours > 0)) problems.push(`hours: expected a positive duration, got ${hours}`);
  const subs = llmSubFeatures(plan);
  const sub = options.subFeature === undefined ? subs[0] : subs.find((s) => s.id === options.subFeature);
  if (!sub) problems.push(`subFeature: ${plan.feature} has no LLM sub-feature${options.subFeature ? ` "${options.subFeature}"` : ''} (LLM sub-features: ${subs.map((s) => s.id).join(', ') || 'none'})`);
  if (problems.length > 0 || !sub) throw new RangeError(`LLM spend scenario:\n${problems.map((p) => `  - ${p}`).join('\n')}`);

  const key = subFeatureKey(plan.feature, sub.id);
  const capVariable = planFlagSets(plan).find((set) => set.key === key)!.dailyCap!.name;
  const capUsd = options.capUsd ?? sub.llm.dailyCapUsd;
  const hardLimitUsd = sub.llm.hardLimitUsd;
  const start = options.start ?? defaultStart();
  const end = new Date(start.getTime() + hours * HOUR_MS);
  const stepMs = (concurrency * callUsd * HOUR_MS) / usdPerHour;

  let t = start.getTime();
  const clock = { now: () => new Date(t) };
  const client = localDynamoClient(options.endpoint);
  const guard = createLlmBudget({
    tableName: options.tableName,
    env: { [capVariable]: String(capUsd) },
    capVariables: { [key]: capVariable },
    client,
    clock,
    emitMetric: options.onMetric ?? (() => undefined),
    warn: () => undefined,
  });

  const calls = { attempted: 0, succeeded: 0, fellBack: 0, unavailable: 0, skipped: 0 };
  const spentByDay = new Map<string, number>();
  const hourly: { at: string; succeeded: number; fellBack: number; skipped: number; daySpentUsd: number }[] = [];
  let capReachedAt: string | null = null;
  let hardLimitPassedAt: string | null = null;
  const hardLimitMicros = usdToMicros(hardLimitUsd);

  try {
    for (let round = 0; ; round++) {
      t = start.getTime() + round * stepMs;
      if (t >= end.getTime()) break;
      const at = new Date(t);
      const hourIndex = Math.floor((t - start.getTime()) / HOUR_MS);
      while (hourly.length <= hourIndex) {
        hourly.push({ at: new Date(start.getTime() + hourly.length * HOUR_MS).toISOString(), succeeded: 0, fellBack: 0, skipped: 0, daySpentUsd: 0 });
      }
      const hour = hourly[hourIndex]!;
      const day = utcDay(at);

      if (options.llmEnabled && !(await options.llmEnabled(at))) {
        calls.skipped += concurrency;
        hour.skipped += concurrency;
        hour.daySpentUsd = microsToUsd(spentByDay.get(day) ?? 0);
        continue;
      }
      calls.attempted += concurrency;
      const results: LlmBudgetResult<null>[] = await Promise.all(
        Array.from({ length: concurrency }, () =>
          guard.withLlmBudget({ feature: plan.feature, subFeature: sub.id, estimateUsd }, async () => ({ value: null, costUsd: callUsd })),
        ),
      );
      let ran = 0;
      for (const result of results) {
        if (result.ok) {
          ran++;
          calls.succeeded++;
          hour.succeeded++;
          spentByDay.set(result.day, (spentByDay.get(result.day) ?? 0) + usdToMicros(result.costUsd));
        } else if (result.reason === 'BUDGET_EXHAUSTED') {
          calls.fellBack++;
          hour.fellBack++;
          capReachedAt ??= at.toISOString();
        } else {
          calls.unavailable++;
        }
      }
      const daySpent = spentByDay.get(day) ?? 0;
      hour.daySpentUsd = microsToUsd(daySpent);
      if (hardLimitPassedAt === null && daySpent > hardLimitMicros) hardLimitPassedAt = at.toISOString();
      if (ran > 0 && options.onSpend) {
        await options.onSpend({ at, day, daySpentUsd: microsToUsd(daySpent), capUsd, hardLimitUsd });
      }
    }

    // What the guard recorded, read back from DynamoDB: the figures alarms and /rollout budget would see.
    const store = new DynamoLlmBudgetStore(options.tableName, client);
    const days: { day: string; spentUsd: number; capUsd: number }[] = [];
    for (let d = Date.parse(`${utcDay(start)}T00:00:00.000Z`); d < end.getTime(); d += 24 * HOUR_MS) {
      const day = utcDay(new Date(d));
      const record = await store.getDay(plan.feature, sub.id, day);
      days.push({ day, spentUsd: microsToUsd(record?.spentMicros ?? 0), capUsd: microsToUsd(record?.capMicros ?? usdToMicros(capUsd)) });
    }
    const spentUsd = microsToUsd(days.reduce((total, d) => total + usdToMicros(d.spentUsd), 0));
    const overshootUsd = microsToUsd(Math.max(0, ...days.map((d) => usdToMicros(d.spentUsd) - usdToMicros(d.capUsd))));
    return {
      feature: plan.feature,
      subFeature: sub.id,
      usdPerHour,
      callUsd,
      estimateUsd,
      capUsd,
      hardLimitUsd,
      start: start.toISOString(),
      end: end.toISOString(),
      calls,
      days,
      spentUsd,
      overshootUsd,
      capReachedAt,
      hardLimitPassedAt,
      hourly,
    };
  } finally {
    client.destroy();
  }
}

const clockTime = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;

/** The report as timeline lines for the rehearsal's output. */
export function formatLlmSpendReport(report: LlmSpendReport): string[] {
  const key = subFeatureKey(report.feature, report.subFeature);
  const lines = [
    `LLM spend of ${key}: ${formatUsd(report.usdPerHour)}/h in calls of ${formatUsd(report.callUsd)} (reserving ${formatUsd(report.estimateUsd)}), ` +
      `${clockTime(report.start)} -> ${clockTime(report.end)} simulated; cap ${formatUsd(report.capUsd)}/day, hard limit ${formatUsd(report.hardLimitUsd)}/day`,
  ];
  const describeHour = (hour: LlmSpendHour): string => {
    const parts = [`${hour.succeeded} call(s) ran`];
    if (hour.fellBack > 0) parts.push(`${hour.fellBack} fell back`);
    if (hour.skipped > 0) parts.push(`${hour.skipped} skipped (LLM flag off)`);
    return `${parts.join(', ')}; ${formatUsd(hour.daySpentUsd)} spent today`;
  };
  // Hours that look the same (typically every hour after the cap) are one line.
  for (let i = 0; i < report.hourly.length; ) {
    const text = describeHour(report.hourly[i]!);
    let j = i + 1;
    while (j < report.hourly.length && describeHour(report.hourly[j]!) === text) j++;
    const span = j - i > 1 ? `${clockTime(report.hourly[i]!.at)} - ${clockTime(report.hourly[j - 1]!.at).slice(11)}, each hour` : clockTime(report.hourly[i]!.at);
    lines.push(`  ${span}: ${text}`);
    i = j;
  }
  const { calls } = report;
  lines.push(
    report.capReachedAt
      ? `cap reached at ${clockTime(report.capReachedAt)}: ${calls.fellBack} of ${calls.attempted} call(s) fell back to the non-LLM path`
      : `cap never reached: all ${calls.succeeded} call(s) ran`,
  );
  if (calls.unavailable > 0) lines.push(`${calls.unavailable} call(s) fell back because the budget could not be reached`);
  for (const day of report.days) lines.push(`${day.day}: spent ${formatUsd(day.spentUsd)} of the ${formatUsd(day.capUsd)} cap`);
  lines.push(`overshoot past the cap: ${formatUsd(report.overshootUsd)}`);
  lines.push(
    report.hardLimitPassedAt
      ? `spend passed the hard limit of ${formatUsd(report.hardLimitUsd)} at ${clockTime(report.hardLimitPassedAt)}: the daily-cost alarm fires and rolls back the LLM flag`
      : `spend never passed the hard limit of ${formatUsd(report.hardLimitUsd)}`,
  );
  return lines;
}
