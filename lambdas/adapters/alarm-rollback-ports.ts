import { ENV } from '../core/contract';
import type { AlarmRollbackContext } from '../core/alarm-rollback';
import type { RollbackPorts } from '../core/operations';
import { systemClock } from '../core/ports';
import { DynamoRolloutStore } from './dynamo-state-store';
import { EmfMetricSink } from './emf-metric-sink';
import { MeteredRolloutStore } from './metered-store';
import { LambdaFlagWriter } from './lambda-flag-writer';
import { SfnExecutionStopper } from './sfn-execution-stopper';
import { SfnTaskTokens } from './sfn-task-tokens';
import { requireEnv } from './step-ports';

/** The stage and its features, from the function's environment (`PHASEGATE_STAGE`, `PHASEGATE_STATE_MACHINES`). */
export function alarmRollbackContextFromEnv(env: NodeJS.ProcessEnv = process.env): AlarmRollbackContext {
  const stage = env[ENV.stage];
  if (!stage) throw new Error(`environment variable ${ENV.stage} is not set; the stack sets it on every Phasegate function`);
  let machines: unknown;
  try {
    machines = JSON.parse(env[ENV.stateMachines] ?? '');
  } catch {
    throw new Error(`environment variable ${ENV.stateMachines} must be a JSON object feature -> state machine ARN`);
  }
  if (!machines || typeof machines !== 'object' || Array.isArray(machines)) {
    throw new Error(`environment variable ${ENV.stateMachines} must be a JSON object feature -> state machine ARN`);
  }
  return { stage, features: Object.keys(machines) };
}

/** The AWS-backed ports of the alarm-rollback function. */
export function alarmRollbackPortsFromEnv(): RollbackPorts {
  const timeout = Number(process.env[ENV.flagWriteTimeoutSeconds] ?? '60');
  const metricSink = new EmfMetricSink();
  return {
    store: new MeteredRolloutStore(new DynamoRolloutStore(requireEnv(ENV.tableName)), metricSink, process.env[ENV.stage] ?? 'unknown'),
    flags: new LambdaFlagWriter(undefined, { settleTimeoutMs: (Number.isFinite(timeout) ? timeout : 60) * 1000 }),
    clock: systemClock,
    tokens: new SfnTaskTokens(),
    stopper: new SfnExecutionStopper(),
    metricSink,
  };
}
