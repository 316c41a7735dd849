import { stepHandler } from '../adapters/step-handler';
import { finishRolloutStep } from '../core/rollout/steps';

/** State machine step `Complete rollout`: see {@link finishRolloutStep}. */
export const handler = stepHandler('finish-rollout', finishRolloutStep);
