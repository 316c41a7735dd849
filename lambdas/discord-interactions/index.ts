import { discordEndpointPortsFromEnv } from '../adapters/discord-endpoint-ports';
import { createInteractionEndpoint } from '../core/discord/endpoint';

/** Configured once per cold start: environment, SDK clients; the public key is fetched now and kept. */
const endpoint = createInteractionEndpoint(discordEndpointPortsFromEnv(process.env));

/**
 * The Discord interactions endpoint behind a Lambda Function URL (payload v2), and its own deferred jobs
 * (asynchronous invocations of this function): see {@link createInteractionEndpoint}.
 */
export const handler = async (event: unknown) => endpoint(event);
