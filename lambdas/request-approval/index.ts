import { stepPortsFromEnv } from '../adapters/step-ports';
import { parseStepPayload } from '../core/step-payload';
import { requestApprovalStep } from '../core/steps';

/** Configured once per cold start. */
const ports = stepPortsFromEnv();

/** State machine step `<phase>: approval (waits for a task token)`: see {@link requestApprovalStep}. */
export const handler = async (event: unknown) => requestApprovalStep(ports, parseStepPayload(event));
