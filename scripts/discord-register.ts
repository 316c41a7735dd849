/**
 * `npm run discord:register -- --stage <stage> [--guild <id>] [--dry-run]`
 *
 * Puts the `/rollout` command definitions to Discord with a bulk overwrite (PUT), in one server (`--guild`,
 * instant) or globally: running it again with the same definitions changes nothing. The application id and the
 * bot token come from the environment (`DISCORD_APPLICATION_ID`, `DISCORD_BOT_TOKEN`) or else from the stage's
 * SSM parameters (`/phasegate/<stage>/discord/application-id`, `/phasegate/<stage>/discord/bot-token`).
 * `--dry-run` prints the JSON body and calls nothing.
 *
 * Exit codes: 0 registered (or printed), 1 credentials or Discord failed, 2 unusable arguments.
 */
import { parseArgs } from 'node:util';
import { DISCORD_API_BASE_URL, DiscordApiClient, DiscordApiError } from '../lambdas/adapters/discord-api';
import { ParameterUnavailableError, SsmParameters } from '../lambdas/adapters/ssm-parameters';
import { ENV } from '../lambdas/core/contract';
import { commandDefinitions, ROLLOUT_COMMAND, SUBCOMMANDS } from '../lambdas/core/discord/commands';
import { discordParameterNames } from '../lambdas/core/discord/parameters';

const USAGE = `usage: npm run discord:register -- --stage <stage> [--guild <id>] [--dry-run]

  --stage <stage>   the stage whose Discord application gets the commands (dev, staging, prod)
  --guild <id>      register in this server only (appears at once); default: globally
  --dry-run         print the JSON body of the PUT and call nothing
  --help            show this help

Credentials: DISCORD_APPLICATION_ID and DISCORD_BOT_TOKEN, or else the SSM parameters
/phasegate/<stage>/discord/application-id (String) and /phasegate/<stage>/discord/bot-token (SecureString).
PHASEGATE_DISCORD_API_BASE_URL overrides the API (default ${DISCORD_API_BASE_URL}).`;

/** Where the script writes and what it reads; tests pass their own. */
export interface RegisterIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** @default - SSM with the default credentials chain */
  readonly ssm?: SsmParameters;
}

class UsageError extends Error {}

function readArgs(argv: readonly string[]): { stage: string; guild?: string; dryRun: boolean; help: boolean } {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: { stage: { type: 'string' }, guild: { type: 'string' }, 'dry-run': { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { stage: '', dryRun: false, help: true };
  const problems: string[] = [];
  if (!values.stage) problems.push('--stage is required');
  else if (!/^[a-z][a-z0-9-]*$/.test(values.stage)) problems.push(`--stage must be a lowercase stage name, got ${JSON.stringify(values.stage)}`);
  if (values.guild !== undefined && !/^\d{17,20}$/.test(values.guild)) problems.push(`--guild must be a Discord server id (17-20 digits), got ${JSON.stringify(values.guild)}`);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return { stage: values.stage!, ...(values.guild ? { guild: values.guild } : {}), dryRun: values['dry-run'] === true, help: false };
}

/** Run the script; resolves with the exit code. */
export async function main(argv: readonly string[], io: RegisterIo): Promise<number> {
  let args: ReturnType<typeof readArgs>;
  try {
    args = readArgs(argv);
  } catch (err) {
    io.stderr(`discord:register: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  const body = commandDefinitions();
  const route = `PUT /applications/{application}${args.guild ? `/guilds/${args.guild}` : ''}/commands`;
  if (args.dryRun) {
    io.stderr(`discord:register: dry run for stage ${args.stage}: ${route}\n`);
    io.stdout(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }

  const names = discordParameterNames(args.stage);
  const ssm = io.ssm ?? new SsmParameters();
  let applicationId: string;
  let token: string;
  try {
    applicationId = io.env.DISCORD_APPLICATION_ID ?? io.env[ENV.discordApplicationId] ?? (await ssm.get(names.applicationId));
    token = io.env.DISCORD_BOT_TOKEN ?? (await ssm.get(names.botToken, { secure: true }));
  } catch (err) {
    const which = err instanceof ParameterUnavailableError ? err.parameterName : 'an SSM parameter';
    io.stderr(
      `discord:register: no credentials for stage ${args.stage}: ${(err as Error).message}\n` +
        `Set DISCORD_APPLICATION_ID and DISCORD_BOT_TOKEN, or create ${which === names.botToken ? names.botToken : names.applicationId} (see README "Discord").\n`,
    );
    return 1;
  }
  if (!/^\d{17,20}$/.test(applicationId.trim())) {
    io.stderr(`discord:register: the application id must be a Discord id (17-20 digits), got ${JSON.stringify(applicationId)}\n`);
    return 1;
  }

  const api = new DiscordApiClient({ baseUrl: io.env[ENV.discordApiBaseUrl] ?? DISCORD_API_BASE_URL, botToken: async () => token.trim() });
  try {
    const registered = await api.putCommands(applicationId.trim(), body, args.guild);
    const where = args.guild ? `in server ${args.guild}` : 'globally';
    io.stdout(
      `registered /${ROLLOUT_COMMAND} (${SUBCOMMANDS.join(', ')}) ${where} for application ${applicationId.trim()}: ` +
        `${registered.map((c) => `${c.name} ${c.id}`).join(', ')}\n`,
    );
    return 0;
  } catch (err) {
    const detail = err instanceof DiscordApiError ? err.message : `${(err as Error).name}: ${(err as Error).message}`;
    io.stderr(`discord:register: Discord refused the commands: ${detail}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2), {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then((code) => {
    process.exitCode = code;
  });
}
