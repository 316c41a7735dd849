import { CloudWatchMetricsReader } from '../adapters/cloudwatch-metrics-reader';
import { CloudWatchWidgetImages } from '../adapters/cloudwatch-widget-images';
import { DiscordApiClient } from '../adapters/discord-api';
import { DynamoLlmBudgetStore } from '../adapters/dynamo-budget-store';
import { DynamoRolloutStore } from '../adapters/dynamo-state-store';
import { Logger, type LambdaContextLike } from '../adapters/logger';
import { SsmParameters } from '../adapters/ssm-parameters';
import { ENV } from '../core/contract';
import { parseDailyReportEvent, postDailyReports, type DailyReportOutcome } from '../core/gates/daily-report';
import { systemClock } from '../core/ports';

const logger = new Logger('daily-report', { keys: { stage: process.env[ENV.stage] } });
const tableName = process.env[ENV.tableName];
if (!tableName) throw new Error(`environment variable ${ENV.tableName} is not set`);
const tokenParameter = process.env[ENV.discordBotTokenParameter];
const ssm = new SsmParameters();

/** Configured once per cold start. */
const ports = {
  store: new DynamoRolloutStore(tableName),
  budgets: new DynamoLlmBudgetStore(tableName),
  metrics: new CloudWatchMetricsReader(),
  widgets: new CloudWatchWidgetImages(),
  clock: systemClock,
  log: logger,
  ...(tokenParameter
    ? {
        discord: new DiscordApiClient({
          ...(process.env[ENV.discordApiBaseUrl] ? { baseUrl: process.env[ENV.discordApiBaseUrl] } : {}),
          botToken: () => ssm.get(tokenParameter, { secure: true }),
        }),
      }
    : {}),
};

/**
 * EventBridge Scheduler target, one schedule per feature (`{ "feature": "<id>" }`): posts the feature's daily
 * phase report when its rollout is active. Never fails the invocation, so the scheduler does not post twice.
 */
export const handler = async (event: unknown, context?: LambdaContextLike): Promise<DailyReportOutcome[]> => {
  logger.addContext(context);
  const { features } = parseDailyReportEvent(event);
  const outcomes = await postDailyReports(ports, features);
  for (const o of outcomes) logger.info(`daily report ${o.outcome}`, { ...o });
  return outcomes;
};
