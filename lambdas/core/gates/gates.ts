import type { GateMetric, GateUnit, ResolvedBand } from './gate-metrics';
import { ownValue } from '../own';

/**
 * Three-band gate evaluation, pure: the bands of a phase plus what the metrics did in the bake window (and the
 * baseline captured before the rollout started) give PROCEED, HOLD or ROLLBACK, with a reason per metric that
 * carries the figures. Too few invocations or samples, and missing data, always mean HOLD, never ROLLBACK.
 */

/** A band's verdict on one metric. */
export type BandDecision = 'PROCEED' | 'HOLD' | 'ROLLBACK';

/** What one metric did in the bake window. */
export interface MetricObservation {
  /** The statistic over the bake window; undefined when there was no data. */
  readonly value?: number;
  /** Samples behind the value: SampleCount for a custom metric (checked against `minSamples`). */
  readonly samples?: number;
  /** The statistic per period, oldest first, for the sustained-for check. */
  readonly series?: readonly { readonly at: string; readonly value: number }[];
  /** Length of one period of `series`. */
  readonly periodSeconds?: number;
  /** Extra figures for the reason, e.g. `12 errors / 2870 invocations`. */
  readonly detail?: string;
}

/** The verdict on one metric. */
export interface MetricVerdict {
  readonly metric: string;
  readonly decision: BandDecision;
  /** `error rate 0.42 % (12 errors / 2870 invocations): proceed, below 0.5 %`. */
  readonly reason: string;
  readonly value?: number;
  readonly baseline?: number;
  readonly subFeature?: string;
  /** The value is past the band's warning threshold: the channel is told; the decision is not changed by it. */
  readonly warning?: string;
}

/** Everything a gate needs to decide on its bands. */
export interface BandInputs {
  readonly metrics: readonly GateMetric[];
  /** Observations by metric id; a metric without one had no data. */
  readonly observations: Readonly<Record<string, MetricObservation | undefined>>;
  /** Invocations of the targets in the bake window (for `minInvocations`); undefined when not read. */
  readonly invocations?: number;
  readonly minInvocations?: number;
  /** Values captured before the rollout started, by metric id. */
  readonly baseline?: Readonly<Record<string, number | null | undefined>>;
  /** End of the bake window (ISO): the sustained-for check looks back from here. */
  readonly windowEnd: string;
  /** Start of the bake window (ISO): a rate (`per`) scales the window's total to its period. */
  readonly windowStart?: string;
}

/** The combined verdict of a phase's bands. */
export interface BandEvaluation {
  readonly decision: BandDecision;
  readonly reasons: readonly string[];
  readonly metrics: readonly MetricVerdict[];
}

const RANK: Readonly<Record<BandDecision, number>> = { PROCEED: 0, HOLD: 1, ROLLBACK: 2 };

/** The worse of decisions: ROLLBACK over HOLD over PROCEED. PROCEED when there are none. */
export function worstDecision(decisions: readonly BandDecision[]): BandDecision {
  return decisions.reduce<BandDecision>((worst, d) => (RANK[d] > RANK[worst] ? d : worst), 'PROCEED');
}

/** A figure as people read it: `0.42 %`, `812 ms`, `$4.20`, `3`. */
export function formatFigure(value: number, unit: GateUnit): string {
  const round = (n: number, digits: number): string => String(Number(n.toFixed(digits)));
  switch (unit) {
    case 'fraction':
      return `${round(value * 100, 3)} %`;
    case 'ms':
      return `${round(value, 0)} ms`;
    case 'usd':
      return `$${value.toFixed(2)}`;
    case 'count':
      return round(value, 0);
    case 'value':
      return round(value, 4);
  }
}

/**
 * A threshold as the plan states it: never rounded the way an observed figure is, so a band of 0.5 throttles
 * reads `above 0.5`, not `above 1`. Only float noise (0.1 * 100) is trimmed.
 */
export function formatThreshold(value: number, unit: GateUnit): string {
  const exact = (n: number): string => String(Number(n.toPrecision(12)));
  switch (unit) {
    case 'fraction':
      return `${exact(value * 100)} %`;
    case 'ms':
      return `${exact(value)} ms`;
    case 'usd':
      return Number(value.toFixed(2)) === value ? `$${value.toFixed(2)}` : `$${exact(value)}`;
    case 'count':
    case 'value':
      return exact(value);
  }
}

const TARGET_KINDS = new Set(['error-rate', 'p95-ms', 'duration-ms', 'throttles']);

function past(band: ResolvedBand, threshold: number | undefined, value: number): boolean {
  if (threshold === undefined) return false;
  return band.direction === 'lower-is-better' ? value > threshold : value < threshold;
}

function breaches(band: ResolvedBand, value: number): boolean {
  return past(band, band.rollback, value);
}

/**
 * Inside the proceed band. A zero target (`proceedBelow: 0`, "error rate 0 %") proceeds at exactly zero: nothing is
 * below zero, so a strict reading would hold a perfect metric forever.
 */
function proceeds(band: ResolvedBand, value: number): boolean {
  if (band.direction === 'lower-is-better') return value < band.proceed || (band.proceed === 0 && value === 0);
  return value > band.proceed;
}

function bandWords(band: ResolvedBand, unit: GateUnit): { proceed: string; rollback: string; warn: string } {
  const f = (n: number | undefined): string => (n === undefined ? '(none)' : formatThreshold(n, unit));
  return band.direction === 'lower-is-better'
    ? { proceed: band.proceed === 0 ? `at ${f(0)}` : `below ${f(band.proceed)}`, rollback: `above ${f(band.rollback)}`, warn: `above ${f(band.warn)}` }
    : { proceed: `above ${f(band.proceed)}`, rollback: `below ${f(band.rollback)}`, warn: `below ${f(band.warn)}` };
}

/**
 * Whether the rollback band held for the whole trailing `sustainedSeconds`: every period of the series in that span
 * breaches, and the series covers it (a gap is not a breach). Returns how long it has breached so far otherwise.
 */
export function sustainedBreach(
  band: ResolvedBand,
  observation: MetricObservation,
  windowEnd: string,
): { sustained: boolean; breachedSeconds: number } {
  const required = band.sustainedSeconds ?? 0;
  const periodMs = (observation.periodSeconds ?? 60) * 1000;
  const series = [...(observation.series ?? [])].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  // Count breaching periods back from the newest, while they are contiguous. The newest may lag the window's end
  // by a period (CloudWatch publishes a minute late); older than that, the breach is not current.
  let periods = 0;
  let next = Date.parse(windowEnd);
  for (let i = series.length - 1; i >= 0; i--) {
    const start = Date.parse(series[i]!.at);
    const slack = periods === 0 ? 2 * periodMs : periodMs;
    if (next - start > slack || !breaches(band, series[i]!.value)) break;
    periods += 1;
    next = start;
  }
  const breachedSeconds = Math.round((periods * periodMs) / 1000);
  return { sustained: periods > 0 && breachedSeconds >= required, breachedSeconds };
}

/** The verdict of one band on one metric. */
export function evaluateMetric(
  metric: GateMetric,
  observation: MetricObservation | undefined,
  context: { invocations?: number; minInvocations?: number; baseline?: number | null; windowEnd: string; windowSeconds?: number },
): MetricVerdict {
  const base = { metric: metric.id, ...(metric.subFeature ? { subFeature: metric.subFeature } : {}) };
  const f = (n: number): string => formatFigure(n, metric.unit);
  const isTarget = TARGET_KINDS.has(metric.kind);
  if (isTarget && context.minInvocations !== undefined && (context.invocations ?? 0) < context.minInvocations) {
    return {
      ...base,
      decision: 'HOLD',
      reason: `${metric.label}: hold, only ${context.invocations ?? 0} invocation(s) in the bake, ${context.minInvocations} needed before deciding`,
    };
  }
  if (metric.minSamples !== undefined && (observation?.samples ?? 0) < metric.minSamples) {
    return {
      ...base,
      decision: 'HOLD',
      reason: `${metric.label}: hold, only ${observation?.samples ?? 0} sample(s) in the bake, ${metric.minSamples} needed before deciding`,
    };
  }
  const band = metric.band;
  const missing = observation?.value === undefined || !Number.isFinite(observation.value);
  if (missing && !band.missingAsZero) {
    return { ...base, decision: 'HOLD', reason: `${metric.label}: hold, no data in the bake window` };
  }
  const raw = missing ? 0 : observation!.value!;
  // A rate: the bake's total scaled to the plan's period ("5 per hour" over a 3-hour bake compares total / 3).
  const windowSeconds = context.windowSeconds;
  const value = band.perSeconds && windowSeconds && windowSeconds > 0 ? (raw * band.perSeconds) / windowSeconds : raw;
  const words = bandWords(band, metric.unit);
  const detail = [missing ? 'no data, read as 0' : undefined, observation?.detail].filter(Boolean).join('; ');
  const figures = `${metric.label} ${f(value)}${detail ? ` (${detail})` : ''}`;

  let decision: BandDecision;
  let why: string;
  if (breaches(band, value)) {
    if (band.sustainedSeconds) {
      const { sustained, breachedSeconds } = sustainedBreach(band, observation ?? {}, context.windowEnd);
      decision = sustained ? 'ROLLBACK' : 'HOLD';
      why = sustained
        ? `roll back, ${words.rollback} for ${Math.round(breachedSeconds / 60)} min (at least ${Math.round(band.sustainedSeconds / 60)} min)`
        : `hold, ${words.rollback} but only for ${Math.round(breachedSeconds / 60)} min of the ${Math.round(band.sustainedSeconds / 60)} min that roll back`;
    } else {
      decision = 'ROLLBACK';
      why = `roll back, ${words.rollback}`;
    }
  } else if (proceeds(band, value)) {
    decision = 'PROCEED';
    why = `proceed, ${words.proceed}`;
  } else if (band.rollback === undefined) {
    // Only watched (a warning band, no rollback band): a secondary metric never holds the phase.
    decision = 'PROCEED';
    why = `proceed, watched only (target ${words.proceed})`;
  } else {
    decision = 'HOLD';
    why = `hold, between ${words.proceed.replace(/^(below|above|at) /, '')} and ${words.rollback.replace(/^(below|above) /, '')}`;
  }
  const warning = past(band, band.warn, value) ? `${metric.label} ${f(value)} is ${words.warn}: a warning, the gate does not hold for it` : undefined;
  if (warning) why += `; warning, ${words.warn}`;

  let baselineNote = '';
  // A baseline the plan states wins over the captured one: it is the one the rollback alarm watches too.
  const baseline = band.baseline?.value ?? context.baseline;
  if (band.baseline) {
    if (baseline === undefined || baseline === null || baseline <= 0) {
      baselineNote = '; no baseline to compare with';
    } else {
      const ratio = band.direction === 'lower-is-better' ? value / baseline : value > 0 ? baseline / value : Number.POSITIVE_INFINITY;
      const verdict: BandDecision = ratio > band.baseline.rollbackBeyond ? 'ROLLBACK' : ratio > band.baseline.proceedWithin ? 'HOLD' : 'PROCEED';
      const r = `${Number(ratio.toFixed(2))}x the baseline ${f(baseline)}`;
      if (RANK[verdict] > RANK[decision]) {
        decision = verdict;
        why =
          verdict === 'ROLLBACK'
            ? `roll back, ${r} (worse than ${band.baseline.rollbackBeyond}x)`
            : `hold, ${r} (worse than ${band.baseline.proceedWithin}x)`;
      } else {
        baselineNote = `; ${r}`;
      }
    }
  }
  return {
    ...base,
    decision,
    reason: `${figures}: ${why}${baselineNote}`,
    value,
    ...(typeof baseline === 'number' ? { baseline } : {}),
    ...(warning ? { warning } : {}),
  };
}

/** Evaluate every band of a phase: the worst metric decides, and every metric gives its reason. */
export function evaluateBands(inputs: BandInputs): BandEvaluation {
  const metrics = inputs.metrics.map((m) =>
    evaluateMetric(m, ownValue(inputs.observations, m.id), {
      invocations: inputs.invocations,
      minInvocations: inputs.minInvocations,
      baseline: ownValue(inputs.baseline, m.id),
      windowEnd: inputs.windowEnd,
      ...(inputs.windowStart ? { windowSeconds: (Date.parse(inputs.windowEnd) - Date.parse(inputs.windowStart)) / 1000 } : {}),
    }),
  );
  return { decision: worstDecision(metrics.map((m) => m.decision)), reasons: metrics.map((m) => m.reason), metrics };
}
