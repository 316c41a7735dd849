import { stepHandler } from '../adapters/step-handler';
import { applyPhaseStep, bakePhaseStep, schedulePhaseStep, type ApplyResult } from '../core/rollout/steps';

/**
 * State machine steps `<phase>: apply flags` ({@link applyPhaseStep}); for a phase that starts at a time of day,
 * `<phase>: schedule` ({@link schedulePhaseStep}, payload `mode: "schedule"`); and `<phase>: bake`
 * ({@link bakePhaseStep}, payload `mode: "bake"`, a task that waits for its token until the bake is over).
 */
export const handler = stepHandler<ApplyResult | { phase: string; startAt?: string }>('apply-phase', (ports, payload) =>
  payload.mode === 'schedule' ? schedulePhaseStep(ports, payload) : payload.mode === 'bake' ? bakePhaseStep(ports, payload) : applyPhaseStep(ports, payload),
);
