import { alarmRollbackContextFromEnv, alarmRollbackPortsFromEnv } from '../adapters/alarm-rollback-ports';
import { invocationDeadline, type RemainingTime } from '../adapters/deadline';
import { Logger, type LambdaContextLike } from '../adapters/logger';
import { handleAlarmEvent, handleContinuation, parseContinuation, type AlarmRollbackOutcome, type ContinuationOutcome } from '../core/rollback/alarm-rollback';
import { ENV } from '../core/contract';
import { systemClock } from '../core/ports';
import { ROLLBACK_CONTINUATION_KIND } from '../core/rollback/rollback';

/** Configured once per cold start. */
const ports = alarmRollbackPortsFromEnv();
const context = alarmRollbackContextFromEnv();
const logger = new Logger('alarm-rollback', { keys: { stage: process.env[ENV.stage] } });

/**
 * The stage's rollback worker. Two kinds of event:
 * - `CloudWatch Alarm State Change` of the stage's rollback alarms (EventBridge): see {@link handleAlarmEvent};
 * - a follow-up of a rollback that ran out of time (this function's own asynchronous invocation, or the Discord
 *   endpoint's): see {@link handleContinuation}.
 * Every rollback is bounded by this invocation's remaining time. A rollback that could not make every target safe is
 * recorded and posted first, then fails the invocation, so Lambda retries it, the Errors alarm pages, and after the
 * retries the event lands in the on-failure queue; an ignored event never fails.
 */
export const handler = async (event: unknown, lambdaContext?: RemainingTime & LambdaContextLike): Promise<AlarmRollbackOutcome | ContinuationOutcome> => {
  // The one structured logger, with the invocation's request id and cold start.
  logger.addContext(lambdaContext);
  const receivedAt = systemClock.now();
  const deadline = invocationDeadline(lambdaContext);
  const options = deadline ? { deadline } : {};
  const followUp = parseContinuation(event);
  let outcome: AlarmRollbackOutcome | ContinuationOutcome;
  if (!('problem' in followUp)) {
    outcome = await handleContinuation(ports, followUp, options);
  } else if ((event as { kind?: unknown } | null)?.kind === ROLLBACK_CONTINUATION_KIND) {
    // Retrying a malformed follow-up cannot fix it: say so loudly, once.
    logger.error('rollback follow-up ignored', { problem: followUp.problem });
    return { outcome: 'ignored', reason: followUp.problem };
  } else {
    outcome = await handleAlarmEvent(ports, context, event, receivedAt, options);
  }
  const fields = { ...outcome } as Record<string, unknown>;
  if (outcome.outcome === 'rollback-failed') {
    logger.error(`rollback event ${outcome.outcome}`, fields);
    throw new Error(outcome.message);
  }
  logger.info(`rollback event ${outcome.outcome}`, fields);
  return outcome;
};
