import { ENV } from '../core/contract';
import { systemClock } from '../core/ports';
import type { StepPorts } from '../core/rollout/steps';
import { CloudWatchAlarmReader } from './cloudwatch-alarm-reader';
import { CloudWatchMetricsReader } from './cloudwatch-metrics-reader';
import { discordNotifierFromEnv } from './discord-notifier';
import { DynamoRollbackActivity } from './dynamo-rollback-activity';
import { DynamoRolloutStore } from './dynamo-state-store';
import { EmfMetricSink } from './emf-metric-sink';
import { MeteredRolloutStore } from './metered-store';
import { LambdaFlagWriter } from './lambda-flag-writer';
import { SfnExecutionStopper } from './sfn-execution-stopper';
import { SfnTaskTokens } from './sfn-task-tokens';

/** Read a required environment variable once, at init, with an error that says what is missing. */
export function requireEnv(key: string): string {
  const value = process.env[key];
  if (!value) throw new Error(`environment variable ${key} is not set; the stack sets it on every Phasegate function`);
  return value;
}

/**
 * The AWS-backed ports of the state machine's steps, configured from the function's environment. Steps whose
 * function has a Discord bot token parameter announce the rollout in the feature's Discord channel.
 */
export function stepPortsFromEnv(): StepPorts {
  const timeout = Number(process.env[ENV.flagWriteTimeoutSeconds] ?? '60');
  const metricSink = new EmfMetricSink();
  // Phase changes, approvals and rollbacks are counted as they are recorded.
  const store = new MeteredRolloutStore(new DynamoRolloutStore(requireEnv(ENV.tableName)), metricSink, process.env[ENV.stage] ?? 'unknown');
  const notifier = discordNotifierFromEnv(process.env, store);
  return {
    ...(notifier ? { notifier } : {}),
    store,
    metricSink,
    // One scheduler per execution environment, as each function has on AWS; rollbacks mark the stage so applies yield.
    flags: new LambdaFlagWriter(undefined, {
      settleTimeoutMs: (Number.isFinite(timeout) ? timeout : 60) * 1000,
      rollbackActivity: new DynamoRollbackActivity(requireEnv(ENV.tableName)),
    }),
    alarms: new CloudWatchAlarmReader(),
    metrics: new CloudWatchMetricsReader(),
    clock: systemClock,
  };
}

/** The ports of the operations people invoke (decide, rollback): steps' ports plus task tokens and StopExecution. */
export function operationPortsFromEnv(): StepPorts & { tokens: SfnTaskTokens; stopper: SfnExecutionStopper } {
  return { ...stepPortsFromEnv(), tokens: new SfnTaskTokens(), stopper: new SfnExecutionStopper() };
}
