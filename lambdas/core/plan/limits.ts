import { maxTargets, MAX_COMPOSITE_ALARMS, targetsPerAlarm } from '../gates/alarm-groups';
import { approvalTimeoutSeconds } from '../rollout/approval-deadline';
import { phaseGateMetrics } from '../gates/gate-metrics';
import { holdPolicy } from '../rollout/hold';
import { durationToSeconds } from './duration';
import type { Phase, Plan } from './schema';

/**
 * What a plan costs one Standard execution of its state machine, in the worst case, against Step Functions' limits:
 * 25,000 events of execution history and one year of run time (Step Functions quotas page, "Quotas related to
 * state machine executions"). Pure; the validator refuses a plan past either, with the figures and field paths.
 *
 * Events per state, as Step Functions writes them for the states `lib/rollout-state-machine.ts` builds:
 * a Pass, Choice or Wait state enters and exits (2); a Lambda task enters, is scheduled, starts, succeeds and exits
 * (5), and each retry adds a failure, a schedule and a start (3); a task that waits for a token also records that
 * it was submitted (6), which also covers a bake's token timing out (entered, scheduled, started, submitted, timed
 * out, exited); the execution starts and ends (2). Every task is counted with all its retries, every phase
 * with its longest hold and an approval (a hold that lasts too long asks a person, whatever the phase requires).
 */

/** Step Functions: events in one Standard execution's history. */
export const MAX_HISTORY_EVENTS = 25_000;
/** Step Functions: how long one Standard execution may run. */
export const MAX_EXECUTION_SECONDS = 365 * 24 * 3600;

/** The history events of one state, by kind. */
export const STATE_EVENTS = { pass: 2, choice: 2, wait: 2, task: 5, tokenTask: 6, retry: 3, execution: 2 } as const;

/** The retrier every Lambda task of the state machine has: attempts after the first, and the waits between them. */
export const TASK_RETRY = { retries: 6, intervalSeconds: 2, backoffRate: 2 } as const;
/** The rollback step's own retrier (continuing a rollback that ran out of time), on top of {@link TASK_RETRY}. */
export const ROLLBACK_CONTINUATION_RETRY = { retries: 7, intervalSeconds: 5 } as const;

/** The longest a scheduled phase start waits: the next allowed day of the week, an hour more across a DST change. */
const SCHEDULED_START_MAX_SECONDS = 7 * 24 * 3600 + 3600;

/** One Lambda task with every retry of its retrier. */
const TASK_WORST = STATE_EVENTS.task + TASK_RETRY.retries * STATE_EVENTS.retry;
const TOKEN_TASK_WORST = STATE_EVENTS.tokenTask + TASK_RETRY.retries * STATE_EVENTS.retry;
const TASK_RETRY_SECONDS = Array.from({ length: TASK_RETRY.retries }, (_, i) => TASK_RETRY.intervalSeconds * TASK_RETRY.backoffRate ** i).reduce((a, b) => a + b, 0);

/** One phase's worst case. */
export interface PhaseCost {
  readonly phase: string;
  readonly events: number;
  readonly seconds: number;
  /** Gate checks after the first while the phase holds. */
  readonly holdChecks: number;
}

/** A plan's worst case in one execution, with the share of each phase. */
export interface ExecutionCost {
  readonly events: number;
  readonly seconds: number;
  readonly phases: readonly PhaseCost[];
}

/** The worst case of one phase: bake, every hold check, an approval up to its timeout, every retry. */
export function phaseCost(phase: Phase): PhaseCost {
  const hold = holdPolicy(phase);
  const holdChecks = Math.ceil(hold.maxSeconds / hold.intervalSeconds);
  const tasks = 3 + holdChecks; // apply, gate, gate after each hold (+ schedule below)
  let events =
    TASK_WORST + // apply flags
    (phase.optional ? STATE_EVENTS.choice : 0) + // skipped?
    TOKEN_TASK_WORST + // bake: a task that waits for its token until the bake is over (or a promote)
    TASK_WORST + STATE_EVENTS.choice + // gate, gate decision
    holdChecks * (STATE_EVENTS.wait + TASK_WORST + STATE_EVENTS.choice) + // hold, gate, gate decision
    TOKEN_TASK_WORST; // approval
  let seconds = durationToSeconds(phase.bake) + holdChecks * hold.intervalSeconds + approvalTimeoutSeconds(phase) + tasks * TASK_RETRY_SECONDS;
  if (phase.start) {
    events += TASK_WORST + STATE_EVENTS.wait;
    seconds += SCHEDULED_START_MAX_SECONDS + TASK_RETRY_SECONDS;
  }
  return { phase: phase.name, events, seconds, holdChecks };
}

/**
 * The worst case of a whole execution: reading the input and the plan, the start, choosing the first phase, every
 * phase's worst case, then the costlier of completing and rolling back (with every continuation of a rollback).
 */
export function executionCost(plan: Pick<Plan, 'phases'>): ExecutionCost {
  const phases = plan.phases.map(phaseCost);
  const rollback = STATE_EVENTS.task + (TASK_RETRY.retries + ROLLBACK_CONTINUATION_RETRY.retries) * STATE_EVENTS.retry + STATE_EVENTS.pass;
  const ending = Math.max(TASK_WORST + STATE_EVENTS.pass, rollback);
  const events =
    STATE_EVENTS.execution + 2 * STATE_EVENTS.pass + TASK_WORST + STATE_EVENTS.choice + phases.reduce((sum, p) => sum + p.events, 0) + ending;
  const seconds =
    phases.reduce((sum, p) => sum + p.seconds, 0) + 2 * TASK_RETRY_SECONDS + ROLLBACK_CONTINUATION_RETRY.retries * ROLLBACK_CONTINUATION_RETRY.intervalSeconds;
  return { events, seconds, phases };
}

function days(seconds: number): string {
  return `${Math.round((seconds / 86_400) * 10) / 10} days`;
}

/**
 * A plan's problems with one execution's limits: the whole plan's worst case against 25,000 events and one year,
 * naming the phases that cost most and the fields that set it (`bake`, `gates.hold`, `approval.timeout`).
 */
export function executionLimitProblems(plan: Pick<Plan, 'phases'>): string[] {
  const cost = executionCost(plan);
  const problems: string[] = [];
  const worst = [...cost.phases.map((p, i) => ({ ...p, i }))];
  if (cost.events > MAX_HISTORY_EVENTS) {
    const top = worst.sort((a, b) => b.events - a.events).slice(0, 3);
    problems.push(
      `phases: the worst case is ${cost.events.toLocaleString('en-US')} events of execution history, past the ${MAX_HISTORY_EVENTS.toLocaleString('en-US')} ` +
        `a Step Functions execution may have (every gate check while holding costs about ${STATE_EVENTS.wait + TASK_WORST + STATE_EVENTS.choice}); ` +
        top.map((p) => `phases[${p.i}] (${p.phase}): ${p.events.toLocaleString('en-US')} events, ${p.holdChecks} hold checks (phases[${p.i}].gates.hold.interval, phases[${p.i}].gates.hold.max or bakeMax)`).join('; ') +
        '. Check less often while holding, hold for less, or split the rollout into two plans',
    );
  }
  if (cost.seconds > MAX_EXECUTION_SECONDS) {
    const top = worst.sort((a, b) => b.seconds - a.seconds).slice(0, 3);
    problems.push(
      `phases: the worst case runs ${days(cost.seconds)}, past the one year a Step Functions execution may run; ` +
        top
          .map((p) => {
            const phase = plan.phases[p.i]!;
            const hold = holdPolicy(phase);
            return (
              `phases[${p.i}] (${p.phase}): ${days(p.seconds)} (phases[${p.i}].bake ${days(durationToSeconds(phase.bake))}, ` +
              `phases[${p.i}].gates.hold ${days(p.holdChecks * hold.intervalSeconds)}, phases[${p.i}].approval.timeout ${days(approvalTimeoutSeconds(phase))})`
            );
          })
          .join('; ') +
        '. Shorten bakes, holds or approval timeouts, or split the rollout into two plans',
    );
  }
  return problems;
}

/**
 * A plan's problems with CloudWatch's alarm quotas: every rollback alarm over the targets must fit one composite of
 * alarms within the 10-metric limit (see `lambdas/core/gates/alarm-groups.ts`): at most 500 targets with an error-rate
 * gate, 1,000 with a duration or throttles gate.
 */
export function alarmLimitProblems(plan: Pick<Plan, 'feature' | 'targets' | 'phases' | 'subFeatures'>): string[] {
  const problems: string[] = [];
  plan.phases.forEach((_, i) => {
    for (const metric of phaseGateMetrics(plan as Plan, i)) {
      if (plan.targets.length <= maxTargets(metric.kind)) continue;
      problems.push(
        `targets: ${plan.targets.length} targets, but phases[${i}].gates.${metric.id === 'error-rate' ? 'errorRate' : metric.id === 'p95-ms' ? 'p95Ms' : metric.id === 'duration-ms' ? 'durationMs' : metric.id} ` +
          `alarms on at most ${maxTargets(metric.kind)} (${MAX_COMPOSITE_ALARMS} alarms of ${targetsPerAlarm(metric.kind)} targets in one composite alarm)`,
      );
    }
  });
  return [...new Set(problems)];
}
