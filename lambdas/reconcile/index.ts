import { invocationDeadline, type RemainingTime } from '../adapters/deadline';
import { Logger } from '../adapters/logger';
import { reconcileContextFromEnv, reconcilePortsFromEnv } from '../adapters/reconcile-ports';
import { ENV } from '../core/contract';
import { handleReconcileEvent, type ReconcileEventOutcome } from '../core/drift/drift-events';
import { systemClock } from '../core/ports';

/** Configured once per cold start. */
const ports = reconcilePortsFromEnv();
const context = reconcileContextFromEnv();
const logger = new Logger('reconcile', { keys: { stage: process.env[ENV.stage] } });

/**
 * The stage's drift reconcile. Two kinds of event: a Lambda API call on a target recorded by CloudTrail (EventBridge
 * rule), and the 15-minute schedule (EventBridge Scheduler). See {@link handleReconcileEvent}. Bounded by this
 * invocation's remaining time; a target not repaired by then is left to the next event or the schedule.
 */
export const handler = async (event: unknown, lambdaContext?: RemainingTime): Promise<ReconcileEventOutcome> => {
  const receivedAt = systemClock.now();
  const deadline = invocationDeadline(lambdaContext);
  const outcome = await handleReconcileEvent(deadline ? { ...ports, deadline } : ports, context, event, receivedAt);
  logger.info(`reconcile ${outcome.outcome}`, { ...outcome } as Record<string, unknown>);
  return outcome;
};
