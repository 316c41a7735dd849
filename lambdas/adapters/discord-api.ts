import type { RESTPutAPIApplicationCommandsJSONBody } from 'discord-api-types/v10';
import type { DiscordFile, DiscordMessage, DiscordRest } from '../core/discord/ports';

/** Discord's REST API, version 10. */
export const DISCORD_API_BASE_URL = 'https://discord.com/api/v10';

/**
 * A Discord API call failed. The message names the route as a template (`/webhooks/{application}/{token}/…`)
 * and never contains the bot token or an interaction token.
 */
export class DiscordApiError extends Error {
  constructor(
    readonly status: number,
    readonly route: string,
    message: string,
    /** Discord's JSON error code, when it sent one. */
    readonly code?: number,
  ) {
    super(message);
    this.name = 'DiscordApiError';
  }
}

/** Options of {@link DiscordApiClient}. */
export interface DiscordApiClientOptions {
  /** @default {@link DISCORD_API_BASE_URL} */
  readonly baseUrl?: string;
  /** The bot token, fetched when first needed (channel messages, command registration). @default - none: bot routes fail */
  readonly botToken?: () => Promise<string>;
  /** Per-request timeout. @default 5000 */
  readonly timeoutMs?: number;
  /** Retries of a rate-limited (429) or failed (5xx) request. @default 2 */
  readonly retries?: number;
  /** Longest wait Discord's `retry_after` may impose before a retry. @default 5000 */
  readonly maxRetryWaitMs?: number;
}

/** One registered application command, as Discord returns it. */
export interface RegisteredCommand {
  readonly id: string;
  readonly name: string;
}

interface Call {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** The real path (may contain an interaction token). */
  readonly path: string;
  /** The same path as a template, for errors and logs. */
  readonly route: string;
  readonly body?: unknown;
  /** Files uploaded with the body: the request becomes multipart/form-data. */
  readonly files?: readonly DiscordFile[];
  readonly bot: boolean;
}

/**
 * A message with files as Discord takes it ("Uploading Files" in Discord's API reference): multipart/form-data, the
 * JSON message in `payload_json` with an `attachments` entry per file, each file in the part `files[<id>]`.
 */
export function uploadForm(message: DiscordMessage, files: readonly DiscordFile[]): FormData {
  const form = new FormData();
  const attachments = files.map((f, id) => ({ id, filename: f.name, ...(f.description ? { description: f.description } : {}) }));
  form.append('payload_json', JSON.stringify({ ...message, attachments }));
  files.forEach((f, id) => form.append(`files[${id}]`, new Blob([f.data], { type: f.contentType }), f.name));
  return form;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Discord's REST API over `fetch`: channel messages (bot token) and interaction webhooks (interaction token). */
export class DiscordApiClient implements DiscordRest {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxRetryWaitMs: number;

  constructor(private readonly options: DiscordApiClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? DISCORD_API_BASE_URL).replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.retries = options.retries ?? 2;
    this.maxRetryWaitMs = options.maxRetryWaitMs ?? 5000;
  }

  async postChannelMessage(channelId: string, message: DiscordMessage, files?: readonly DiscordFile[]): Promise<{ id: string }> {
    const out = (await this.call({
      method: 'POST',
      path: `/channels/${encodeURIComponent(channelId)}/messages`,
      route: '/channels/{channel}/messages',
      body: message,
      ...(files && files.length > 0 ? { files } : {}),
      bot: true,
    })) as { id: string };
    return { id: out.id };
  }

  async editChannelMessage(channelId: string, messageId: string, message: DiscordMessage): Promise<void> {
    await this.call({
      method: 'PATCH',
      path: `/channels/${encodeURIComponent(channelId)}/messages/${encodeURIComponent(messageId)}`,
      route: '/channels/{channel}/messages/{message}',
      body: message,
      bot: true,
    });
  }

  async editOriginalResponse(applicationId: string, interactionToken: string, message: DiscordMessage): Promise<void> {
    await this.call({
      method: 'PATCH',
      path: `/webhooks/${encodeURIComponent(applicationId)}/${encodeURIComponent(interactionToken)}/messages/@original`,
      route: '/webhooks/{application}/{token}/messages/@original',
      body: message,
      bot: false,
    });
  }

  async deleteOriginalResponse(applicationId: string, interactionToken: string): Promise<void> {
    await this.call({
      method: 'DELETE',
      path: `/webhooks/${encodeURIComponent(applicationId)}/${encodeURIComponent(interactionToken)}/messages/@original`,
      route: '/webhooks/{application}/{token}/messages/@original',
      bot: false,
    });
  }

  async postFollowUp(applicationId: string, interactionToken: string, message: DiscordMessage): Promise<{ id: string }> {
    const out = (await this.call({
      method: 'POST',
      path: `/webhooks/${encodeURIComponent(applicationId)}/${encodeURIComponent(interactionToken)}`,
      route: '/webhooks/{application}/{token}',
      body: message,
      bot: false,
    })) as { id: string };
    return { id: out.id };
  }

  /** Overwrite the application's commands (globally, or in one server): registering the same set again changes nothing. */
  async putCommands(applicationId: string, commands: RESTPutAPIApplicationCommandsJSONBody, guildId?: string): Promise<RegisteredCommand[]> {
    const app = encodeURIComponent(applicationId);
    const out = await this.call({
      method: 'PUT',
      path: guildId ? `/applications/${app}/guilds/${encodeURIComponent(guildId)}/commands` : `/applications/${app}/commands`,
      route: guildId ? '/applications/{application}/guilds/{guild}/commands' : '/applications/{application}/commands',
      body: commands,
      bot: true,
    });
    return (out as RegisteredCommand[]).map((c) => ({ id: c.id, name: c.name }));
  }

  private async call(call: Call): Promise<unknown> {
    const headers: Record<string, string> = {
      'user-agent': 'DiscordBot (https://github.com/phasegate/phasegate, 0.1.0)',
      // With files, fetch sets multipart/form-data and its boundary itself.
      ...(call.body !== undefined && !call.files ? { 'content-type': 'application/json' } : {}),
    };
    if (call.bot) {
      if (!this.options.botToken) throw new DiscordApiError(0, call.route, `${call.method} ${call.route}: no bot token configured`);
      headers.authorization = `Bot ${await this.options.botToken()}`;
    }
    const body = call.files ? uploadForm(call.body as DiscordMessage, call.files) : call.body === undefined ? undefined : JSON.stringify(call.body);
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${this.baseUrl}${call.path}`, { method: call.method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (err) {
        // The cause may carry the URL, and the URL an interaction token: only its name goes into the message.
        const reason = err instanceof Error ? err.name : 'error';
        if (attempt < this.retries) {
          await sleep(100 * 2 ** attempt);
          continue;
        }
        throw new DiscordApiError(0, call.route, `${call.method} ${call.route}: request failed (${reason})`);
      }
      const text = await response.text();
      if (response.ok) return text ? (JSON.parse(text) as unknown) : undefined;
      const error = parseError(text);
      if ((response.status === 429 || response.status >= 500) && attempt < this.retries) {
        const seconds = error.retryAfter ?? Number(response.headers.get('retry-after') ?? '0.5');
        await sleep(Math.min(Math.max(seconds, 0) * 1000, this.maxRetryWaitMs));
        continue;
      }
      throw new DiscordApiError(response.status, call.route, `${call.method} ${call.route}: HTTP ${response.status}${error.message ? `: ${error.message}` : ''}`, error.code);
    }
  }
}

function parseError(text: string): { message?: string; code?: number; retryAfter?: number } {
  try {
    const parsed = JSON.parse(text) as { message?: unknown; code?: unknown; retry_after?: unknown };
    return {
      ...(typeof parsed.message === 'string' ? { message: parsed.message.slice(0, 200) } : {}),
      ...(typeof parsed.code === 'number' ? { code: parsed.code } : {}),
      ...(typeof parsed.retry_after === 'number' ? { retryAfter: parsed.retry_after } : {}),
    };
  } catch {
    return {};
  }
}
