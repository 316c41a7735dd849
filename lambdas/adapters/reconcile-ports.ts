import { ENV } from '../core/contract';
import type { ReconcileContext } from '../core/drift/drift-events';
import { systemClock } from '../core/ports';
import type { ReconcilePorts } from '../core/drift/reconcile';
import { discordNotifierFromEnv } from './discord-notifier';
import { DynamoDriftLedger } from './dynamo-drift-ledger';
import { DynamoRolloutStore } from './dynamo-state-store';
import { LambdaFlagWriter } from './lambda-flag-writer';

function jsonArrayEnv(env: NodeJS.ProcessEnv, key: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(env[key] ?? '');
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new Error(`environment variable ${key} must be a JSON array of strings; the stack sets it on the reconcile function`);
  }
  return value;
}

/** The stage, its features and Phasegate's own roles, from the function's environment. */
export function reconcileContextFromEnv(env: NodeJS.ProcessEnv = process.env): ReconcileContext {
  const stage = env[ENV.stage];
  if (!stage) throw new Error(`environment variable ${ENV.stage} is not set; the stack sets it on every Phasegate function`);
  return { stage, features: jsonArrayEnv(env, ENV.features), ownRoles: jsonArrayEnv(env, ENV.ownRoles) };
}

/**
 * The AWS-backed ports of the reconcile function: the state table (rollout states, drift records, audit), a flag
 * writer with its own quota scheduler (no rollback marker: a repair never holds other functions' applies), and the
 * features' Discord channel when the stack gives the function the bot token's parameter.
 */
export function reconcilePortsFromEnv(env: NodeJS.ProcessEnv = process.env): ReconcilePorts {
  const tableName = env[ENV.tableName];
  if (!tableName) throw new Error(`environment variable ${ENV.tableName} is not set; the stack sets it on every Phasegate function`);
  const store = new DynamoRolloutStore(tableName);
  const notifier = discordNotifierFromEnv(env, store);
  return { store, flags: new LambdaFlagWriter(), clock: systemClock, ledger: new DynamoDriftLedger(tableName), ...(notifier ? { notifier } : {}) };
}
