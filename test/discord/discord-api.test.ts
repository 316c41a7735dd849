import { DiscordApiClient, DiscordApiError } from '../../lambdas/adapters/discord-api';
import { commandDefinitions } from '../../lambdas/core/discord/commands';
import { FakeDiscordApi, LOCAL_DISCORD } from '../../local/discord';

let api: FakeDiscordApi;
beforeAll(async () => {
  api = await FakeDiscordApi.start();
});
afterAll(async () => api.stop());

const client = (botToken = api.botToken) => new DiscordApiClient({ baseUrl: api.baseUrl, botToken: async () => botToken, maxRetryWaitMs: 100 });

describe('DiscordApiClient', () => {
  it('posts and edits channel messages with the bot token', async () => {
    const { id } = await client().postChannelMessage(LOCAL_DISCORD.channelId, { content: 'hello' });
    await client().editChannelMessage(LOCAL_DISCORD.channelId, id, { content: 'edited', components: [] });
    expect(api.message(id)).toMatchObject({ content: 'edited', origin: 'bot', history: [{ content: 'hello' }] });
  });

  it('uploads files with a message as multipart/form-data (payload_json + files[0]); the channel keeps the attachment', async () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 0, 255]);
    const message = { embeds: [{ title: 'report', image: { url: 'attachment://rollout.png' } }], allowed_mentions: { parse: [] as [] } };
    const { id } = await client().postChannelMessage(LOCAL_DISCORD.channelId, message, [{ name: 'rollout.png', contentType: 'image/png', data: png, description: 'the curve' }]);
    const posted = api.message(id)!;
    expect(posted.embeds).toEqual(message.embeds);
    expect(posted.attachments).toHaveLength(1);
    expect(posted.attachments![0]).toMatchObject({ id: '0', filename: 'rollout.png', contentType: 'image/png' });
    expect([...posted.attachments![0]!.data]).toEqual([...png]);
    // The JSON part declares the attachment the embed refers to.
    expect(api.requests.at(-1)!.body).toMatchObject({ attachments: [{ id: 0, filename: 'rollout.png', description: 'the curve' }] });
  });

  it('waits out a rate limit (429 retry_after) and retries', async () => {
    api.failNext(/^POST \/channels/, 429, { retryAfter: 0.05 });
    const { id } = await client().postChannelMessage(LOCAL_DISCORD.channelId, { content: 'after the limit' });
    expect(api.message(id)?.content).toBe('after the limit');
    expect(api.requests.slice(-2).map((r) => r.status)).toEqual([429, 200]);
  });

  it('gives up after its retries with an error naming the route, never a token', async () => {
    for (let i = 0; i < 3; i++) api.failNext(/^POST \/channels/, 502);
    const err = await client().postChannelMessage(LOCAL_DISCORD.channelId, { content: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscordApiError);
    expect(err).toMatchObject({ status: 502, route: '/channels/{channel}/messages' });

    const wrong = await client('not-the-token').postChannelMessage(LOCAL_DISCORD.channelId, { content: 'x' }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ status: 401, message: 'POST /channels/{channel}/messages: HTTP 401: 401: Unauthorized' });
    expect(String((wrong as Error).message)).not.toContain('not-the-token');

    const secretToken = 'aW50ZXJhY3Rpb246c2VjcmV0LXRva2Vu';
    const webhook = await client().editOriginalResponse(LOCAL_DISCORD.applicationId, secretToken, { content: 'x' }).catch((e: unknown) => e);
    expect(webhook).toMatchObject({ status: 401, route: '/webhooks/{application}/{token}/messages/@original' });
    expect(JSON.stringify({ message: (webhook as Error).message, stack: (webhook as Error).stack })).not.toContain(secretToken);
  });

  it('reports an unreachable API without the URL (which may hold an interaction token)', async () => {
    const down = new DiscordApiClient({ baseUrl: 'http://127.0.0.1:1', retries: 0 });
    const err = await down.postFollowUp('1', 'secret-interaction-token', { content: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 0, route: '/webhooks/{application}/{token}' });
    expect((err as Error).message).not.toContain('secret-interaction-token');
  });

  it('needs a bot token for bot routes', async () => {
    const err = await new DiscordApiClient({ baseUrl: api.baseUrl }).postChannelMessage('1', { content: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 0, message: 'POST /channels/{channel}/messages: no bot token configured' });
  });

  it('overwrites the commands of an application (global or in one server)', async () => {
    const global = await client().putCommands(LOCAL_DISCORD.applicationId, commandDefinitions());
    const guild = await client().putCommands(LOCAL_DISCORD.applicationId, commandDefinitions(), LOCAL_DISCORD.guildId);
    expect(global.map((c) => c.name)).toEqual(['rollout']);
    expect(guild[0]!.id).not.toBe(global[0]!.id);
    expect(api.registeredCommands(LOCAL_DISCORD.applicationId, LOCAL_DISCORD.guildId)).toHaveLength(1);
  });
});
