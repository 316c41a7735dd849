import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createBudgetReader, setDailyCap } from '../core/budget/budget';
import { ENV, stateMachineArn } from '../core/contract';
import { STAGE_PLANS_FILE, parseStagePlans, type StagePlan } from '../core/discord/directory';
import { createInteractionEndpoint, type InteractionEndpoint, type InteractionEndpointPorts } from '../core/discord/endpoint';
import { importPublicKey, type PublicKey } from '../core/discord/signature';
import type { Plan } from '../core/plan/schema';
import { systemClock } from '../core/ports';
import { DiscordApiClient } from './discord-api';
import { DiscordNotifier, DynamoApprovalMessages } from './discord-notifier';
import { DynamoLlmBudgetStore } from './dynamo-budget-store';
import { DynamoDriftLedger } from './dynamo-drift-ledger';
import { DynamoRolloutStore } from './dynamo-state-store';
import { LambdaFlagWriter, type LambdaFlagWriterOptions } from './lambda-flag-writer';
import { DynamoRollbackActivity } from './dynamo-rollback-activity';
import { LambdaReportRequests } from './lambda-report-requests';
import { LambdaRollbackContinuation } from './lambda-rollback-continuation';
import { LambdaSelfInvoker } from './lambda-self-invoker';
import { Logger, type LambdaContextLike } from './logger';
import { SfnRolloutStarter } from './sfn-rollout-starter';
import { SfnTaskTokens } from './sfn-task-tokens';
import { SsmParameters } from './ssm-parameters';

/** The endpoint's environment is incomplete or malformed; the message lists every problem. */
export class DiscordConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the Discord endpoint is misconfigured:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'DiscordConfigError';
  }
}

/** SDK clients to use instead of the defaults (local runs and tests pass theirs). */
export interface DiscordEndpointClients {
  readonly dynamo?: DynamoDBClient;
  readonly ssm?: SSMClient;
  /** The client of the asynchronous self-invocation (deferred jobs). */
  readonly selfInvoke?: LambdaClient;
  /** Options of the flag writer used by rollbacks. */
  readonly flagWriter?: LambdaFlagWriterOptions;
}

/** Run `load` once; a failure is forgotten so that the next call tries again. */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    if (!value) {
      value = load();
      value.catch(() => {
        value = undefined;
      });
    }
    return value;
  };
}

/** Where the deployed endpoint finds its stage plans: {@link STAGE_PLANS_FILE} next to its bundled `index.js`. */
export const BUNDLED_STAGE_PLANS = join(__dirname, STAGE_PLANS_FILE);

/**
 * The stage's plan summaries: `PHASEGATE_PLANS` where a local run or a test sets it, else {@link STAGE_PLANS_FILE} in
 * the bundle (`file`), which the stack writes at synth. Throws `StagePlansInvalidError` naming its source.
 */
export function readStagePlans(env: Readonly<Record<string, string | undefined>>, file: string = BUNDLED_STAGE_PLANS): StagePlan[] {
  if (env[ENV.plans]) return parseStagePlans(env[ENV.plans], ENV.plans);
  let json: string | undefined;
  try {
    json = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return parseStagePlans(json, `${file} (or ${ENV.plans} in local runs)`);
}

/**
 * The endpoint's ports from its environment, read once (a cold start): table, stage, the stage's plans (from its
 * bundle, see {@link readStagePlans}), each plan's state machine (its ARN derived from the fixed name and
 * `PHASEGATE_STATE_MACHINE_ARN_PREFIX`), the public key (`DISCORD_PUBLIC_KEY` hex for local runs, else the SSM parameter, fetched at
 * once and kept), the bot token's SSM parameter (fetched when a channel message is first posted), the Discord
 * API base URL, and this function's name for the asynchronous self-invocation. Throws
 * {@link DiscordConfigError} listing every missing or malformed variable.
 */
export function discordEndpointPortsFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
  clients: DiscordEndpointClients = {},
): InteractionEndpointPorts {
  const problems: string[] = [];
  const need = (key: string): string => {
    const value = env[key];
    if (!value) problems.push(`${key}: not set`);
    return value ?? '';
  };
  const tableName = need(ENV.tableName);
  const stage = need(ENV.stage);
  const functionName = need('AWS_LAMBDA_FUNCTION_NAME');
  let plans: StagePlan[] = [];
  try {
    plans = readStagePlans(env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  const arnPrefix = need(ENV.stateMachineArnPrefix);
  const stateMachines = Object.fromEntries(plans.map((p) => [p.feature, stateMachineArn(arnPrefix, stage, p.feature)]));
  const publicKeyHex = env[ENV.discordPublicKey];
  const publicKeyParameter = env[ENV.discordPublicKeyParameter];
  if (!publicKeyHex && !publicKeyParameter) problems.push(`${ENV.discordPublicKeyParameter} (or ${ENV.discordPublicKey} for local runs): not set`);
  const tokenParameter = env[ENV.discordBotTokenParameter];
  if (problems.length > 0) throw new DiscordConfigError(problems);

  const ssm = new SsmParameters(clients.ssm);
  const dynamo = clients.dynamo ?? new DynamoDBClient({});
  const store = new DynamoRolloutStore(tableName, dynamo);
  const flagTimeout = Number(env[ENV.flagWriteTimeoutSeconds] ?? '60');
  const publicKey = once<PublicKey>(async () => importPublicKey(publicKeyHex ?? (await ssm.get(publicKeyParameter!))));
  // Fetched during the cold start rather than on the first request; a failure is retried by that request.
  publicKey().catch(() => undefined);
  const api = new DiscordApiClient({
    ...(env[ENV.discordApiBaseUrl] ? { baseUrl: env[ENV.discordApiBaseUrl] } : {}),
    // The endpoint answers within Discord's 3 s: its own Discord calls may not hang for long.
    timeoutMs: 2500,
    ...(tokenParameter ? { botToken: () => ssm.get(tokenParameter, { secure: true }) } : {}),
  });
  const byFeature = new Map(plans.map((p) => [p.feature, p]));
  const notifier = new DiscordNotifier({
    api,
    messages: new DynamoApprovalMessages(tableName, dynamo),
    // Without a bot token the endpoint cannot post to channels; replies still work (they use interaction tokens).
    channelOf: async (feature) => (tokenParameter ? byFeature.get(feature)?.discord.channelId : undefined),
  });

  const budgetPorts = {
    budgets: new DynamoLlmBudgetStore(tableName, dynamo),
    clock: systemClock,
    // The budget operations read a plan's feature and its LLM sub-features (id and limits) only: exactly what the
    // stage plans carry. The rest of a plan does not fit in the endpoint's 4 KB environment.
    plans: plans as unknown as Plan[],
  };
  return {
    stage,
    plans,
    store,
    tokens: new SfnTaskTokens(),
    flags: new LambdaFlagWriter(undefined, {
      settleTimeoutMs: (Number.isFinite(flagTimeout) ? flagTimeout : 60) * 1000,
      // Its rollbacks mark the stage too, so applies elsewhere leave them the Lambda API quota.
      rollbackActivity: new DynamoRollbackActivity(tableName, dynamo),
      ...clients.flagWriter,
    }),
    clock: systemClock,
    driftLedger: new DynamoDriftLedger(tableName, dynamo),
    ...(env[ENV.dailyReportFunction] ? { reports: new LambdaReportRequests(env[ENV.dailyReportFunction]!, clients.selfInvoke) } : {}),
    ...(env[ENV.rollbackWorker] ? { rollbackContinuation: new LambdaRollbackContinuation(env[ENV.rollbackWorker]!, clients.selfInvoke) } : {}),
    starter: (executionName) => new SfnRolloutStarter(stateMachines, { executionName }),
    publicKey,
    discord: api,
    notifier: (context) => notifier.withContext(context),
    jobs: new LambdaSelfInvoker(functionName, clients.selfInvoke),
    budgets: createBudgetReader(budgetPorts),
    setDailyCap: (req) => setDailyCap({ ...budgetPorts, store }, req),
  };
}

/** The endpoint's log port over the structured logger: `{ level?, message, ...keys }` -> one JSON line. */
export function endpointLog(logger: Logger): (entry: Record<string, unknown>) => void {
  return ({ level, message, ...keys }) => {
    const text = typeof message === 'string' ? message : 'interaction';
    if (level === 'error') logger.error(text, keys);
    else if (level === 'warn') logger.warn(text, keys);
    else logger.info(text, keys);
  };
}

/**
 * The Lambda handler of the Discord endpoint, configured once per cold start from `env`. An incomplete or malformed
 * environment does not fail the import (Lambda would answer 502 with no word of why): every request then gets a
 * JSON 500 and the log names every problem, with the request id.
 */
export function discordInteractionsHandler(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: { readonly clients?: DiscordEndpointClients; readonly logger?: Logger } = {},
): (event: unknown, context?: LambdaContextLike) => Promise<Awaited<ReturnType<InteractionEndpoint>>> {
  const logger = options.logger ?? new Logger('discord-interactions', { keys: { stage: env[ENV.stage] } });
  let endpoint: InteractionEndpoint | undefined;
  let problems: readonly string[] = [];
  try {
    endpoint = createInteractionEndpoint({ ...discordEndpointPortsFromEnv(env, options.clients), log: endpointLog(logger) });
  } catch (err) {
    if (!(err instanceof DiscordConfigError)) throw err;
    problems = err.problems;
  }
  return async (event, context) => {
    logger.addContext(context);
    if (!endpoint) {
      logger.error('the Discord endpoint is misconfigured', { problems });
      return { statusCode: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'the Discord endpoint is not configured' }) };
    }
    return endpoint(event);
  };
}
