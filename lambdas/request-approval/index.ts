import { stepHandler } from '../adapters/step-handler';
import { requestApprovalStep } from '../core/rollout/steps';

/** State machine step `<phase>: approval (waits for a task token)`: see {@link requestApprovalStep}. */
export const handler = stepHandler('request-approval', requestApprovalStep);
