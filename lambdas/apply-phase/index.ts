import { stepHandler } from '../adapters/step-handler';
import { applyPhaseStep, schedulePhaseStep, type ApplyResult } from '../core/rollout/steps';

/**
 * State machine steps `<phase>: apply flags` ({@link applyPhaseStep}) and, for a phase that starts at a time of day,
 * `<phase>: schedule` ({@link schedulePhaseStep}, payload `mode: "schedule"`).
 */
export const handler = stepHandler<ApplyResult | { phase: string; startAt: string }>('apply-phase', (ports, payload) => (payload.mode === 'schedule' ? schedulePhaseStep(ports, payload) : applyPhaseStep(ports, payload)));
