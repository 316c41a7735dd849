import { stepPortsFromEnv } from '../adapters/step-ports';
import { parseStepPayload } from '../core/step-payload';
import { gateStep } from '../core/steps';

/** Configured once per cold start. */
const ports = stepPortsFromEnv();

/** State machine step `<phase>: gate`: see {@link gateStep}. */
export const handler = async (event: unknown) => gateStep(ports, parseStepPayload(event));
