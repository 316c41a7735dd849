import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ENV } from '../../lambdas/core/contract';
import { commandDefinitions } from '../../lambdas/core/discord/commands';
import { FakeDiscordApi, LOCAL_DISCORD } from '../../local/discord';
import { FakeSsm } from '../../local/fakes/ssm';
import { main } from '../../scripts/discord-register';

let api: FakeDiscordApi;
beforeAll(async () => {
  api = await FakeDiscordApi.start();
});
afterAll(async () => api.stop());

async function run(argv: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { env: { [ENV.discordApiBaseUrl]: api.baseUrl, ...env }, stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}
const credentials = () => ({ DISCORD_APPLICATION_ID: LOCAL_DISCORD.applicationId, DISCORD_BOT_TOKEN: api.botToken });

describe('npm run discord:register', () => {
  it('--dry-run prints the command definitions as JSON and calls nothing', async () => {
    const before = api.requests.length;
    const { code, stdout, stderr } = await run(['--stage', 'dev', '--dry-run', '--guild', LOCAL_DISCORD.guildId]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(JSON.parse(JSON.stringify(commandDefinitions())));
    expect(stderr).toBe(`discord:register: dry run for stage dev: PUT /applications/{application}/guilds/${LOCAL_DISCORD.guildId}/commands\n`);
    expect(api.requests.length).toBe(before);
  });

  it('puts the commands in one server; running it again changes nothing', async () => {
    const first = await run(['--stage', 'dev', '--guild', LOCAL_DISCORD.guildId], credentials());
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^registered /rollout \\(status, start, approve, reject, pause, resume, promote, rollback, retry, budget, verify, history, report\\) in server ${LOCAL_DISCORD.guildId} for application ${LOCAL_DISCORD.applicationId}: rollout \\d+\\n$`));
    const registered = api.registeredCommands(LOCAL_DISCORD.applicationId, LOCAL_DISCORD.guildId);
    expect(registered.map(({ id: _id, version: _version, application_id: _app, guild_id: _guild, ...definition }) => definition)).toEqual(JSON.parse(JSON.stringify(commandDefinitions())));

    const second = await run(['--stage', 'dev', '--guild', LOCAL_DISCORD.guildId], credentials());
    expect(second.code).toBe(0);
    expect(api.registeredCommands(LOCAL_DISCORD.applicationId, LOCAL_DISCORD.guildId)).toEqual(registered);
    const puts = api.requests.filter((r) => r.method === 'PUT');
    expect(puts.slice(-2).map((r) => [r.route, r.status])).toEqual([
      ['PUT /applications/{application}/guilds/{guild}/commands', 200],
      ['PUT /applications/{application}/guilds/{guild}/commands', 200],
    ]);
  });

  it('registers globally without --guild', async () => {
    expect((await run(['--stage', 'prod'], credentials())).code).toBe(0);
    expect(api.registeredCommands(LOCAL_DISCORD.applicationId).map((c) => c.name)).toEqual(['rollout']);
  });

  it('reads the application id and the bot token from the stage\'s SSM parameters', async () => {
    const ssm = new FakeSsm().install();
    try {
      ssm.put('/phasegate/staging/discord/application-id', LOCAL_DISCORD.applicationId).put('/phasegate/staging/discord/bot-token', api.botToken, { secure: true });
      const { code } = await run(['--stage', 'staging', '--guild', LOCAL_DISCORD.guildId]);
      expect(code).toBe(0);
      expect(ssm.calls.map((c) => [c.name, c.withDecryption])).toEqual([
        ['/phasegate/staging/discord/application-id', false],
        ['/phasegate/staging/discord/bot-token', true],
      ]);
    } finally {
      ssm.restore();
    }
  });

  it('says which credentials are missing (exit 1)', async () => {
    const ssm = new FakeSsm().install();
    try {
      const { code, stderr } = await run(['--stage', 'qa']);
      expect(code).toBe(1);
      expect(stderr).toMatch(/no credentials for stage qa: cannot read SSM parameter \/phasegate\/qa\/discord\/application-id: ParameterNotFound/);
      expect(stderr).toMatch(/Set DISCORD_APPLICATION_ID and DISCORD_BOT_TOKEN, or create \/phasegate\/qa\/discord\/application-id/);
    } finally {
      ssm.restore();
    }
  });

  it('reports Discord\'s refusal without printing the token (exit 1)', async () => {
    const { code, stderr, stdout } = await run(['--stage', 'dev'], { ...credentials(), DISCORD_BOT_TOKEN: 'wrong-secret-token' });
    expect(code).toBe(1);
    expect(stderr).toBe('discord:register: Discord refused the commands: PUT /applications/{application}/commands: HTTP 401: 401: Unauthorized\n');
    expect(stdout + stderr).not.toContain('wrong-secret-token');
  });

  it.each([
    [[], /--stage is required/],
    [['--stage', 'Dev'], /--stage must be a lowercase stage name/],
    [['--stage', 'dev', '--guild', '12'], /--guild must be a Discord server id/],
    [['--stage', 'dev', '--bogus'], /Unknown option '--bogus'/],
  ])('refuses unusable arguments %p (exit 2, with usage)', async (argv, message) => {
    const { code, stderr } = await run(argv as string[]);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('usage: npm run discord:register');
  });

  it('runs as a command with the documented exit code', () => {
    const root = join(__dirname, '..', '..');
    const out = spawnSync(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'scripts/discord-register.ts', '--stage', 'dev', '--dry-run'], { cwd: root, encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(JSON.parse(out.stdout)[0].name).toBe('rollout');
    const bad = spawnSync(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'scripts/discord-register.ts'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).toBe(2);
  });
});
