import { DiscordApiClient } from '../adapters/discord-api';
import { Logger } from '../adapters/logger';
import { SsmParameters } from '../adapters/ssm-parameters';
import { ENV } from '../core/contract';
import { parseAlertChannels, postRollbackAlerts, type RollbackAlertOutcome } from '../core/rollback/rollback-alerts';

const stage = process.env[ENV.stage] ?? 'unknown';
const logger = new Logger('rollback-alerts', { keys: { stage } });
const tokenParameter = process.env[ENV.discordBotTokenParameter];
if (!tokenParameter) throw new Error(`environment variable ${ENV.discordBotTokenParameter} is not set`);
const ssm = new SsmParameters();

/** Configured once per cold start. */
const ports = {
  stage,
  channels: parseAlertChannels(process.env[ENV.alertChannels]),
  discord: new DiscordApiClient({
    ...(process.env[ENV.discordApiBaseUrl] ? { baseUrl: process.env[ENV.discordApiBaseUrl] } : {}),
    botToken: () => ssm.get(tokenParameter, { secure: true }),
  }),
  log: logger,
};

/**
 * Subscribed to the stage's rollback alerts topic: posts each CloudWatch alarm notification (the automatic
 * rollback failed, or an event is waiting in one of its failure queues) to the stage's Discord channels. See
 * {@link postRollbackAlerts}; a failed post fails the invocation, so Lambda retries it.
 */
export const handler = async (event: unknown): Promise<RollbackAlertOutcome[]> => postRollbackAlerts(ports, event);
