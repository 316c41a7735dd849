import { stepPortsFromEnv } from '../adapters/step-ports';
import { parseStepPayload } from '../core/step-payload';
import { finishRolloutStep } from '../core/steps';

/** Configured once per cold start. */
const ports = stepPortsFromEnv();

/** State machine step `Complete rollout`: see {@link finishRolloutStep}. */
export const handler = async (event: unknown) => finishRolloutStep(ports, parseStepPayload(event));
