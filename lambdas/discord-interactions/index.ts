import { discordInteractionsHandler } from '../adapters/discord-endpoint-ports';

/**
 * The Discord interactions endpoint behind a Lambda Function URL (payload v2), and its own deferred jobs
 * (asynchronous invocations of this function): see {@link discordInteractionsHandler}. Configured once per cold
 * start: environment, SDK clients; the public key is fetched now and kept.
 */
export const handler = discordInteractionsHandler(process.env);
