/**
 * Where a stage's Discord secrets and settings live in SSM Parameter Store by default. The stack's props, the
 * registration script and the local world all derive the names here, so they agree without configuration.
 */

/** The default SSM parameter names of a stage's Discord application. */
export interface DiscordParameterNames {
  /** The application's public key, hex (String). */
  readonly publicKey: string;
  /** The bot token (SecureString). */
  readonly botToken: string;
  /** The application id (String), read by `npm run discord:register` when the environment does not give it. */
  readonly applicationId: string;
}

/** `/phasegate/<stage>/discord/{public-key,bot-token,application-id}`. */
export function discordParameterNames(stage: string): DiscordParameterNames {
  const prefix = `/phasegate/${stage}/discord`;
  return { publicKey: `${prefix}/public-key`, botToken: `${prefix}/bot-token`, applicationId: `${prefix}/application-id` };
}
