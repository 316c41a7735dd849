import { stepHandler } from '../adapters/step-handler';
import { gateStep } from '../core/rollout/steps';

/** State machine step `<phase>: gate`: see {@link gateStep}. */
export const handler = stepHandler('gate', gateStep);
