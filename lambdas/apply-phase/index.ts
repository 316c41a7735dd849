import { stepPortsFromEnv } from '../adapters/step-ports';
import { parseStepPayload } from '../core/step-payload';
import { applyPhaseStep } from '../core/steps';

/** Configured once per cold start. */
const ports = stepPortsFromEnv();

/** State machine step `<phase>: apply flags`: see {@link applyPhaseStep}. */
export const handler = async (event: unknown) => applyPhaseStep(ports, parseStepPayload(event));
