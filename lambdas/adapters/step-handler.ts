import { ENV, type PhasegateFunctionName } from '../core/contract';
import { parseStepPayload, type StepPayload } from '../core/rollout/step-payload';
import type { StepPorts } from '../core/rollout/steps';
import { invocationDeadline, type RemainingTime } from './deadline';
import { Logger, withLogging, type LambdaContextLike } from './logger';
import { stepPortsFromEnv } from './step-ports';

/**
 * A state machine step's Lambda handler: ports configured once per cold start, the payload validated (the plan
 * with the synth-time validator), one structured log line per invocation carrying the feature, stage, phase
 * and execution, and errors logged under the name Step Functions routes on.
 */
export function stepHandler<R>(
  name: PhasegateFunctionName,
  step: (ports: StepPorts, payload: StepPayload) => Promise<R>,
): (event: unknown, context?: RemainingTime & LambdaContextLike) => Promise<R> {
  const ports = stepPortsFromEnv();
  const logger = new Logger(name, { keys: { stage: process.env[ENV.stage] } });
  // One invocation at a time per execution environment: the deadline of the current one.
  let deadline: Date | undefined;
  const run = withLogging(logger, (event: unknown) => step(deadline ? { ...ports, deadline } : ports, parseStepPayload(event)));
  return (event: unknown, context?: RemainingTime & LambdaContextLike) => {
    deadline = invocationDeadline(context);
    return run(event, context);
  };
}
