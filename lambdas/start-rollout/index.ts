import { stepHandler } from '../adapters/step-handler';
import { startRolloutStep } from '../core/rollout/steps';

/** State machine step `Start rollout`: see {@link startRolloutStep}. */
export const handler = stepHandler('start-rollout', startRolloutStep);
