import { alarmRollbackContextFromEnv, alarmRollbackPortsFromEnv } from '../adapters/alarm-rollback-ports';
import { handleAlarmEvent, type AlarmRollbackOutcome } from '../core/alarm-rollback';
import { systemClock } from '../core/ports';

/** Configured once per cold start. */
const ports = alarmRollbackPortsFromEnv();
const context = alarmRollbackContextFromEnv();

/**
 * EventBridge target for `CloudWatch Alarm State Change` of the stage's rollback alarms: see
 * {@link handleAlarmEvent}. Logs every outcome as one JSON line. A rollback that could not make every target safe
 * fails the invocation, so Lambda retries it and the function's Errors metric shows it; an ignored event never does.
 */
export const handler = async (event: unknown): Promise<AlarmRollbackOutcome> => {
  const receivedAt = systemClock.now();
  const outcome = await handleAlarmEvent(ports, context, event, receivedAt);
  const log = outcome.outcome === 'rollback-failed' ? console.error : console.log;
  log(JSON.stringify({ message: `alarm event ${outcome.outcome}`, ...outcome }));
  if (outcome.outcome === 'rollback-failed') throw new Error(outcome.message);
  return outcome;
};
