import { stepHandler } from '../adapters/step-handler';
import { applyPhaseStep } from '../core/steps';

/** State machine step `<phase>: apply flags`: see {@link applyPhaseStep}. */
export const handler = stepHandler('apply-phase', applyPhaseStep);
