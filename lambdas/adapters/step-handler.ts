import { ENV, type PhasegateFunctionName } from '../core/contract';
import { parseStepPayload, type StepPayload } from '../core/step-payload';
import type { StepPorts } from '../core/steps';
import { Logger, withLogging } from './logger';
import { stepPortsFromEnv } from './step-ports';

/**
 * A state machine step's Lambda handler: ports configured once per cold start, the payload validated (the plan
 * with the synth-time validator), one structured log line per invocation carrying the feature, stage, phase
 * and execution, and errors logged under the name Step Functions routes on.
 */
export function stepHandler<R>(name: PhasegateFunctionName, step: (ports: StepPorts, payload: StepPayload) => Promise<R>): (event: unknown) => Promise<R> {
  const ports = stepPortsFromEnv();
  const logger = new Logger(name, { keys: { stage: process.env[ENV.stage] } });
  return withLogging(logger, (event: unknown) => step(ports, parseStepPayload(event)));
}
