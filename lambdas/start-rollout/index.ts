import { stepPortsFromEnv } from '../adapters/step-ports';
import { parseStepPayload } from '../core/step-payload';
import { startRolloutStep } from '../core/steps';

/** Configured once per cold start. */
const ports = stepPortsFromEnv();

/** State machine step `Start rollout`: see {@link startRolloutStep}. */
export const handler = async (event: unknown) => startRolloutStep(ports, parseStepPayload(event));
