/**
 * What the rehearsal's world knows about a plan: healthy CloudWatch data for every metric any of its gates watches
 * (derived from the gates' own bands), the LLM spend the budget guard recorded, one metric pushed past its rollback
 * band on request (`--breach <metric>@<phase>`), the roles its approver needs, and every duration compressed alike.
 */
import type { MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { METRICS } from '../lambdas/core/contract';
import { phaseGateMetrics, type GateMetric } from '../lambdas/core/gates/gate-metrics';
import { durationToSeconds } from '../lambdas/core/plan/duration';
import { BUILT_IN_ROLES, type PhasegateRole, type Plan } from '../lambdas/core/plan/schema';
import { steadyLambdaTraffic, type MetricDataSource, type MetricDatapoint } from './fakes/cloudwatch';

/** `--breach <metric>@<phase>`: push `metric` past its rollback band while `phase` runs. */
export interface BreachRequest {
  readonly metric: string;
  readonly phase: string;
}

/** Parses `error-rate@canary`; throws with what a usable value looks like. */
export function parseBreach(text: string): BreachRequest {
  const m = /^([a-z][a-z0-9-]*)@([a-z0-9][a-z0-9-]*)$/.exec(text);
  if (!m) throw new RangeError(`expected <metric>@<phase> (e.g. error-rate@canary), got ${JSON.stringify(text)}`);
  return { metric: m[1]!, phase: m[2]! };
}

/** Invocations per minute of every target in the rehearsal: plenty for any `minInvocations`. */
const INVOCATIONS_PER_MINUTE = 10_000;

/** A value inside a band's proceed side, short of its warning and within its stated baseline. */
export function healthyValue(metric: GateMetric): number {
  const b = metric.band;
  if (b.direction === 'lower-is-better') {
    let value = b.proceed === 0 ? 0 : b.proceed / 2;
    if (b.baseline?.value !== undefined) value = Math.min(value, b.baseline.value * Math.min(1, b.baseline.proceedWithin));
    return value;
  }
  let value = b.proceed < 1 ? (b.proceed + 1) / 2 : b.proceed * 1.05 + 1;
  if (b.baseline?.value !== undefined) value = Math.max(value, b.baseline.value / Math.min(1, b.baseline.proceedWithin));
  return value;
}

/** A value past a band's rollback threshold (its warning one when it has none). */
export function breachingValue(metric: GateMetric): number {
  const b = metric.band;
  const threshold = b.rollback ?? b.warn ?? b.proceed;
  if (b.direction === 'lower-is-better') return threshold === 0 ? 1 : threshold * 2;
  return threshold / 2;
}

const sameDimensions = (a: Readonly<Record<string, string>>, query: MetricDataQuery): boolean => {
  const dims = query.MetricStat?.Metric?.Dimensions ?? [];
  return dims.length === Object.keys(a).length && dims.every((d) => d.Name !== undefined && Object.hasOwn(a, d.Name) && a[d.Name] === d.Value);
};

/**
 * The rehearsal's CloudWatch data. Healthy by default for every metric of every phase's gates; the metric of a
 * `breach` goes past that phase's rollback band while the execution is in that phase (`enterPhase`); the LLM spend
 * metric reads what the budget guard recorded (`recordLlmSpend`).
 */
export class RehearsalMetrics {
  private phase: string | undefined;
  private llmSpendUsd = 0;
  /** Every gate metric of the plan by id, per phase. */
  private readonly byPhase: ReadonlyMap<string, readonly GateMetric[]>;

  constructor(
    plan: Plan,
    private readonly breach?: BreachRequest,
  ) {
    this.byPhase = new Map(plan.phases.map((p, i) => [p.name, phaseGateMetrics(plan, i)]));
    if (breach) {
      const metrics = this.byPhase.get(breach.phase);
      if (!metrics) throw new RangeError(`plan ${plan.feature} has no phase "${breach.phase}" (phases: ${plan.phases.map((p) => p.name).join(', ')})`);
      const metric = metrics.find((m) => m.id === breach.metric);
      if (!metric || metric.band.rollback === undefined) {
        const ids = metrics.filter((m) => m.band.rollback !== undefined).map((m) => m.id);
        throw new RangeError(`phase ${breach.phase} of ${plan.feature} has no rollback band on "${breach.metric}" (rollback bands: ${ids.join(', ') || 'none'})`);
      }
    }
  }

  /** The execution entered a state: a phase's apply or schedule step makes it the current phase. */
  enterState(stateName: string): void {
    const m = /^(.+): (apply flags|schedule)$/.exec(stateName);
    if (m && this.byPhase.has(m[1]!)) this.phase = m[1]!;
  }

  /** The budget guard recorded this much spend today (the scenario's own snapshot). */
  recordLlmSpend(usd: number): void {
    this.llmSpendUsd = usd;
  }

  /** The metric being breached now, if any. */
  private breached(id: string): GateMetric | undefined {
    if (!this.breach || this.breach.phase !== this.phase || this.breach.metric !== id) return undefined;
    return this.byPhase.get(this.breach.phase)!.find((m) => m.id === id);
  }

  /** Every gate metric with this id across the phases (the tightest band decides what is healthy). */
  private all(predicate: (m: GateMetric) => boolean): GateMetric[] {
    return [...this.byPhase.values()].flat().filter(predicate);
  }

  private healthy(metrics: readonly GateMetric[]): number {
    const values = metrics.map(healthyValue);
    return metrics[0]!.band.direction === 'lower-is-better' ? Math.min(...values) : Math.max(...values);
  }

  /** The GetMetricData source to install on the fake CloudWatch. */
  readonly source: MetricDataSource = (query, window) => {
    const stat = query.MetricStat;
    const namespace = stat?.Metric?.Namespace;
    const name = stat?.Metric?.MetricName ?? '';
    const period = stat?.Period ?? 60;
    const perPeriod = (value: number): MetricDatapoint[] => {
      const points: MetricDatapoint[] = [];
      for (let t = window.startTime.getTime(); t < window.endTime.getTime(); t += period * 1000) points.push({ timestamp: new Date(t), value });
      return points;
    };
    if (namespace === 'AWS/Lambda') return this.lambda(query, window);
    if (namespace === METRICS.namespace && name === METRICS.llmSpendUsd) {
      return this.llmSpendUsd > 0 ? [{ timestamp: window.startTime, value: this.llmSpendUsd }] : [];
    }
    const matching = this.all((m) => m.kind === 'custom' && m.custom!.namespace === namespace && m.custom!.metricName === name && sameDimensions(m.custom!.dimensions, query));
    if (matching.length === 0) return [];
    if (stat?.Stat === 'SampleCount') return perPeriod(Math.max(0, ...matching.map((m) => m.minSamples ?? 0)) + 10);
    const breached = this.breached(matching[0]!.id);
    if (breached) return perPeriod(breachingValue(breached));
    // A count that emits nothing while healthy emits nothing here either.
    if (matching.every((m) => m.band.missingAsZero) && this.healthy(matching) === 0) return [];
    const value = this.healthy(matching);
    // A rate: the gate scales the window's total to its period, so spread the healthy rate over the periods.
    const per = matching[0]!.band.perSeconds;
    return perPeriod(per ? (value * period) / per : value);
  };

  private lambda(query: MetricDataQuery, window: { startTime: Date; endTime: Date }): readonly MetricDatapoint[] {
    const durations = this.all((m) => m.kind === 'p95-ms' || m.kind === 'duration-ms');
    const durationMs = durations.length > 0 ? Math.min(120, this.healthy(durations)) : 120;
    const errorRate = this.breached('error-rate');
    const duration = this.breached('p95-ms') ?? this.breached('duration-ms');
    const throttles = this.breached('throttles');
    return steadyLambdaTraffic({
      invocationsPerMinute: INVOCATIONS_PER_MINUTE,
      errorsPerMinute: errorRate ? INVOCATIONS_PER_MINUTE * breachingValue(errorRate) : 0,
      durationMs: duration ? breachingValue(duration) : durationMs,
      // Per minute; a rate band per hour sees 60 times this.
      throttlesPerMinute: throttles ? breachingValue(throttles) * 2 : 0,
    })(query, window);
  }
}

/** Every role a phase of the plan needs its approver to hold: the rehearsal's approver holds them all. */
export function approverRoles(plan: Plan): PhasegateRole[] {
  const roles = new Set<PhasegateRole>(plan.phases.flatMap((p) => p.approval.approvers));
  // The built-in roles keep their order first, so the approver reads like the PM it always was.
  return [...BUILT_IN_ROLES.filter((r) => roles.has(r)), ...[...roles].filter((r) => !(BUILT_IN_ROLES as readonly string[]).includes(r))];
}

/**
 * The plan as the rehearsal synthesizes it: every duration the state machine or a gate measures against real time
 * is compressed by the same factor as the bakes (each phase's `bakeMs` / its bake): hold limits and the upper end of
 * bake ranges. A compressed limit rounds to whole seconds, so it is usually 0: a phase that holds at all asks a
 * person at once, and the rehearsal reports it. Only the phases' gates are rewritten; stage overrides of them too.
 */
export function compressPlanForRehearsal(raw: Record<string, unknown>, plan: Plan, bakeMs: number): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(raw)) as { phases?: Record<string, unknown>[]; gates?: Record<string, unknown>; stages?: Record<string, { phases?: Record<string, Record<string, unknown>> }> };
  const factor = (phaseName: string): number => {
    const phase = plan.phases.find((p) => p.name === phaseName);
    const bake = phase ? durationToSeconds(phase.bake) : 0;
    return bake > 0 ? bakeMs / 1000 / bake : 0;
  };
  const compress = (duration: unknown, f: number): string | undefined =>
    typeof duration === 'string' ? `PT${Math.round(durationToSeconds(duration) * f)}S` : undefined;
  const rewrite = (target: Record<string, unknown> | undefined, f: number): void => {
    if (!target) return;
    const gates = target.gates as { hold?: { max?: unknown } } | undefined;
    if (gates?.hold?.max !== undefined) gates.hold.max = compress(gates.hold.max, f);
    if (typeof target.bakeMax === 'string') target.bakeMax = target.bake;
  };
  for (const phase of copy.phases ?? []) {
    rewrite(phase, factor(String(phase.name)));
    // Without a limit a hold asks after one more bake, in real time: state it, compressed.
    if (phase.bakeMax === undefined && typeof phase.bake === 'string') {
      const gates = (phase.gates ??= {}) as { hold?: { max?: string } };
      gates.hold = { ...gates.hold, max: gates.hold?.max ?? compress(phase.bake, factor(String(phase.name))) };
    }
  }
  const planHold = (copy.gates as { hold?: { max?: unknown } } | undefined)?.hold;
  if (planHold?.max !== undefined) planHold.max = 'PT0S';
  for (const stage of Object.values(copy.stages ?? {})) {
    for (const [name, override] of Object.entries(stage.phases ?? {})) {
      const base = (copy.phases ?? []).find((p) => p.name === name);
      rewrite({ ...override, bakeMax: undefined }, factor(name));
      // A range collapses to its minimum, whichever of the plan and the stage says it.
      if (base?.bakeMax !== undefined || override.bakeMax !== undefined) override.bakeMax = override.bake ?? base?.bake;
    }
  }
  return copy;
}

/** The approval timeouts, compressed like the bakes but never under `floorMs`: a click takes a moment even locally. */
export function compressedApprovalTimeouts(plan: Plan, bakeMs: number, floorMs: number, defaultSeconds: number): Record<string, number> {
  return Object.fromEntries(
    plan.phases.map((p) => {
      const bake = durationToSeconds(p.bake);
      const timeout = p.approval.timeout ? durationToSeconds(p.approval.timeout) : defaultSeconds;
      return [`${p.name}: approval`, Math.max(floorMs, bake > 0 ? Math.round((timeout / bake) * bakeMs) : floorMs)];
    }),
  );
}
