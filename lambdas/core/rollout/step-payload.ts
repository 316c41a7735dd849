import { z } from 'zod';
import { PlanInvalidError } from '../errors';
import { parsePlan } from '../plan/validate';
import type { Plan } from '../plan/schema';
import { SYSTEM_ACTOR, type Actor } from './rollout-state';

/**
 * The payload every state machine Task sends to its function (see lib/rollout-state-machine.ts):
 * `{ plan, stage, executionId, input, phaseIndex?, taskToken?, context? }`.
 */
const StepPayloadSchema = z.object({
  plan: z.unknown(),
  stage: z.string().min(1),
  executionId: z.string().min(1),
  input: z.unknown().optional(),
  phaseIndex: z.number().int().nonnegative().optional(),
  taskToken: z.string().min(1).optional(),
  context: z.record(z.string(), z.unknown()).optional(),
  mode: z.enum(['schedule', 'bake']).optional(),
});

const ActorSchema = z.object({
  id: z.string().min(1),
  name: z.string().optional(),
  via: z.enum(['discord', 'cli', 'state-machine', 'alarm', 'rehearsal']),
});

/** A step payload after validation; the plan went through the same validator as at synth time. */
export interface StepPayload {
  readonly plan: Plan;
  readonly stage: string;
  readonly executionId: string;
  /** Who started the execution (from the execution input's `actor`), or Phasegate itself. */
  readonly startedBy: Actor;
  readonly phaseIndex?: number;
  readonly taskToken?: string;
  readonly context?: Record<string, unknown>;
  /** `schedule`: the step before a scheduled phase's start, not its flags. `bake`: the phase's bake (a task token). */
  readonly mode?: 'schedule' | 'bake';
  /**
   * The phase the execution starts at (the execution input's `startAt`, a phase index): the phases before it are
   * skipped and recorded as skipped. Undefined: the first phase.
   */
  readonly startAt?: number;
}

/** Validate a step payload; the plan is validated at run time with the synth-time validator. */
export function parseStepPayload(event: unknown): StepPayload {
  const parsed = StepPayloadSchema.safeParse(event);
  if (!parsed.success) {
    throw new PlanInvalidError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`),
      'state machine step payload',
    );
  }
  const { plan: rawPlan, input, ...rest } = parsed.data;
  const plan = parsePlan(rawPlan, { source: 'plan carried by the state machine' });
  if (rest.phaseIndex !== undefined && rest.phaseIndex >= plan.phases.length) {
    throw new PlanInvalidError([`phaseIndex: ${rest.phaseIndex} is past the plan's ${plan.phases.length} phases`], 'state machine step payload');
  }
  const actor = ActorSchema.safeParse((input as { actor?: unknown } | undefined)?.actor);
  const startAt = (input as { startAt?: unknown } | undefined)?.startAt;
  if (startAt !== undefined && (typeof startAt !== 'number' || !Number.isInteger(startAt) || startAt < 0 || startAt >= plan.phases.length)) {
    throw new PlanInvalidError([`input.startAt: expected a phase index from 0 to ${plan.phases.length - 1}, got ${JSON.stringify(startAt)}`], 'execution input');
  }
  return { ...rest, plan, startedBy: actor.success ? actor.data : SYSTEM_ACTOR, ...(typeof startAt === 'number' ? { startAt } : {}) };
}

/** Require the payload's phase index (present for apply, gate and approval steps). */
export function requirePhaseIndex(payload: StepPayload): number {
  if (payload.phaseIndex === undefined) throw new PlanInvalidError(['phaseIndex: required for this step'], 'state machine step payload');
  return payload.phaseIndex;
}
