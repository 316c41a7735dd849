import { ENV } from '../core/contract';
import type { AlarmRollbackContext } from '../core/rollback/alarm-rollback';
import type { RollbackPorts } from '../core/rollback/rollback';
import { systemClock } from '../core/ports';
import { discordNotifierFromEnv } from './discord-notifier';
import { DynamoRollbackActivity } from './dynamo-rollback-activity';
import { DynamoRolloutStore } from './dynamo-state-store';
import { EmfMetricSink } from './emf-metric-sink';
import { MeteredRolloutStore } from './metered-store';
import { LambdaFlagWriter } from './lambda-flag-writer';
import { LambdaRollbackContinuation } from './lambda-rollback-continuation';
import { SfnExecutionStopper } from './sfn-execution-stopper';
import { SfnTaskTokens } from './sfn-task-tokens';

/** The stage and its features, from the function's environment (`PHASEGATE_STAGE`, `PHASEGATE_FEATURES`). */
export function alarmRollbackContextFromEnv(env: NodeJS.ProcessEnv = process.env): AlarmRollbackContext {
  const stage = env[ENV.stage];
  if (!stage) throw new Error(`environment variable ${ENV.stage} is not set; the stack sets it on every Phasegate function`);
  let features: unknown;
  try {
    features = JSON.parse(env[ENV.features] ?? '');
  } catch {
    features = undefined;
  }
  if (!Array.isArray(features) || !features.every((f) => typeof f === 'string')) {
    throw new Error(`environment variable ${ENV.features} must be a JSON array of the stage's feature ids`);
  }
  return { stage, features };
}

/**
 * The AWS-backed ports of the alarm-rollback function, the stage's rollback worker: the state table, a flag writer
 * with its own quota scheduler that marks the stage while it writes (applies elsewhere yield), the feature's Discord
 * channel (when the stack gives the function the bot token's parameter), and follow-ups by invoking itself.
 */
export function alarmRollbackPortsFromEnv(env: NodeJS.ProcessEnv = process.env): RollbackPorts {
  const metricSink = new EmfMetricSink();
  const tableName = env[ENV.tableName];
  if (!tableName) throw new Error(`environment variable ${ENV.tableName} is not set; the stack sets it on every Phasegate function`);
  const store = new MeteredRolloutStore(new DynamoRolloutStore(tableName), metricSink, env[ENV.stage] ?? 'unknown');
  const notifier = discordNotifierFromEnv(env, store);
  const self = env.AWS_LAMBDA_FUNCTION_NAME;
  return {
    store,
    flags: new LambdaFlagWriter(undefined, { rollbackActivity: new DynamoRollbackActivity(tableName) }),
    clock: systemClock,
    tokens: new SfnTaskTokens(),
    stopper: new SfnExecutionStopper(),
    metricSink,
    ...(notifier ? { notifier } : {}),
    ...(self ? { continuation: new LambdaRollbackContinuation(self) } : {}),
  };
}
