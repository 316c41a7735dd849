import { stepHandler } from '../adapters/step-handler';
import { finishRolloutStep } from '../core/steps';

/** State machine step `Complete rollout`: see {@link finishRolloutStep}. */
export const handler = stepHandler('finish-rollout', finishRolloutStep);
