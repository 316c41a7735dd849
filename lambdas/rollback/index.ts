import { stepPortsFromEnv } from '../adapters/step-ports';
import { parseStepPayload } from '../core/step-payload';
import { rollbackStep } from '../core/steps';

/** Configured once per cold start. */
const ports = stepPortsFromEnv();

/** State machine step `Roll back`: see {@link rollbackStep}. */
export const handler = async (event: unknown) => rollbackStep(ports, parseStepPayload(event));
