import { stepHandler } from '../adapters/step-handler';
import { rollbackStep } from '../core/rollout/steps';

/** State machine step `Roll back`: see {@link rollbackStep}. */
export const handler = stepHandler('rollback', rollbackStep);
