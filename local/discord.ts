/**
 * Discord, locally: everything the tests and the rehearsal need to talk to the real interactions handler the way
 * Discord does, with nothing faked inside Phasegate.
 *
 * - {@link DiscordKeyPair} and {@link InteractionSigner}: a generated Ed25519 application key, and interactions
 *   (slash commands, autocomplete, button clicks read from a posted message, modal submits) signed with it.
 * - {@link FakeDiscordApi}: a localhost HTTP server with Discord's REST routes that Phasegate calls (channel
 *   messages, interaction webhooks, command registration), keeping the channel as Discord would show it.
 * - {@link serveFunctionUrl}: the handler on a localhost HTTP server, with Function URL (payload v2) events.
 * - {@link FakeSelfInvoke}: the handler's asynchronous self-invocation (deferred jobs), delivered back to it.
 * - {@link startLocalDiscord}: all of the above wired around the real handler, with the public key and the bot
 *   token in a fake SSM, ready for `send(...)`, `clickApprove(...)` and `channelMessages()`.
 */
import './node-compat';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import type { APIEmbed } from 'discord-api-types/v10';
import { discordEndpointPortsFromEnv } from '../lambdas/adapters/discord-endpoint-ports';
import type { LambdaFlagWriterOptions } from '../lambdas/adapters/lambda-flag-writer';
import { ENV } from '../lambdas/core/contract';
import { ROLLOUT_COMMAND, SUBCOMMAND_SPECS, type OptionName, type Subcommand, type SubcommandSpec } from '../lambdas/core/discord/commands';
import { decodeCustomId } from '../lambdas/core/discord/custom-id';
import { stagePlanOf } from '../lambdas/core/discord/directory';
import { createInteractionEndpoint, type InteractionEndpointPorts } from '../lambdas/core/discord/endpoint';
import { REASON_INPUT_ID } from '../lambdas/core/discord/interaction';
import { discordParameterNames } from '../lambdas/core/discord/parameters';
import { BUILT_IN_ROLES, type PhasegateRole, type Plan } from '../lambdas/core/plan/schema';
import { LOCAL_AWS, type TemplateFunction } from './asl';
import { FakeSsm } from './fakes/ssm';

// ---- ids ------------------------------------------------------------------------------------------------------

const DISCORD_EPOCH = 1420070400000n;
let sequence = 0n;

/** A fresh Discord snowflake id (time-ordered, unique in this process). */
export function snowflake(): string {
  sequence = (sequence + 1n) & 0xfffn;
  return String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (BigInt(process.pid & 0x1f) << 17n) | sequence);
}

/** Fixed ids of the local Discord world: one application, one server, one channel, one role per Phasegate role. */
export const LOCAL_DISCORD = {
  applicationId: '1100000000000000001',
  guildId: '1100000000000000002',
  channelId: '1100000000000000003',
  /** Discord role id per Phasegate role. */
  roles: {
    admin: '1100000000000000011',
    pm: '1100000000000000012',
    developer: '1100000000000000013',
    'on-call': '1100000000000000014',
  } satisfies Record<(typeof BUILT_IN_ROLES)[number], string>,
} as const;

/**
 * The local Discord role id of a Phasegate role: the fixed one of a built-in role, and for a team's own role
 * (`product-owner`) an id derived from its name, the same in every run.
 */
export function localRoleId(role: PhasegateRole): string {
  const fixed = (LOCAL_DISCORD.roles as Readonly<Record<string, string>>)[role];
  if (fixed !== undefined && Object.hasOwn(LOCAL_DISCORD.roles, role)) return fixed;
  const digits = createHash('sha256').update(role).digest().readBigUInt64BE(0) % 10n ** 16n;
  return `12${digits.toString().padStart(16, '0')}`;
}

/**
 * The `discord` settings of a plan for the local world: its channel, and each local role mapped to its Phasegate role,
 * the built-in ones and the team roles given (a plan's `roles`).
 */
export function localDiscordSettings(channelId: string = LOCAL_DISCORD.channelId, teamRoles: readonly PhasegateRole[] = []): Plan['discord'] {
  const roles: PhasegateRole[] = [...BUILT_IN_ROLES, ...teamRoles.filter((r) => !(BUILT_IN_ROLES as readonly string[]).includes(r))];
  return { channelId, roles: Object.fromEntries(roles.map((role) => [localRoleId(role), [role]])) };
}

/** A person in the local Discord server (or in a direct message, with `dm`). */
export interface DiscordTestUser {
  readonly id: string;
  readonly name: string;
  /** Discord role ids the member holds. */
  readonly roleIds: readonly string[];
  /** The interaction comes from a direct message: no server, no member. */
  readonly dm?: boolean;
}

/** A member holding the local roles of the given Phasegate roles. */
export function discordUser(name: string, roles: readonly PhasegateRole[] = [], options: { id?: string; dm?: boolean } = {}): DiscordTestUser {
  return { id: options.id ?? snowflake(), name, roleIds: roles.map(localRoleId), ...(options.dm ? { dm: true } : {}) };
}

// ---- signing --------------------------------------------------------------------------------------------------

/** A generated Ed25519 key pair, as a Discord application has (the public key is what the endpoint is configured with). */
export class DiscordKeyPair {
  private constructor(
    private readonly privateKey: KeyObject,
    /** The raw 32-byte public key in hex: what the Discord developer portal shows as "Public Key". */
    readonly publicKeyHex: string,
  ) {}

  static generate(): DiscordKeyPair {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    // The raw public key is the last 32 bytes of its SPKI DER encoding.
    return new DiscordKeyPair(privateKey, publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('hex'));
  }

  /** The hex signature of `timestamp + body`, as in `X-Signature-Ed25519`. */
  sign(timestamp: string, body: string | Buffer): string {
    return sign(null, Buffer.concat([Buffer.from(timestamp), Buffer.isBuffer(body) ? body : Buffer.from(body)]), this.privateKey).toString('hex');
  }
}

/** A signed interaction request, ready to POST. */
export interface SignedInteraction {
  /** The interaction's id and token. */
  readonly id: string;
  readonly token: string;
  readonly userId: string;
  readonly channelId: string;
  /** The message a component interaction is on. */
  readonly messageId?: string;
  /** The exact bytes that were signed. */
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: Record<string, unknown>;
}

/** Options of one signature. */
export interface SignOptions {
  /** Unix seconds of `X-Signature-Timestamp`. @default now */
  readonly timestamp?: number;
}

/** Builds interactions as Discord sends them and signs them with the application's key. */
export class InteractionSigner {
  constructor(
    readonly keys: DiscordKeyPair,
    readonly app: { readonly applicationId: string; readonly guildId: string; readonly channelId: string } = LOCAL_DISCORD,
  ) {}

  /** Signature headers for `body`. */
  headers(body: string | Buffer, options: SignOptions = {}): Record<string, string> {
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    return {
      'content-type': 'application/json',
      'x-signature-ed25519': this.keys.sign(timestamp, body),
      'x-signature-timestamp': timestamp,
    };
  }

  /** A PING (Discord sends one when the endpoint URL is saved). */
  ping(options: SignOptions = {}): SignedInteraction {
    const payload = { id: snowflake(), application_id: this.app.applicationId, type: 1, token: randomToken(), version: 1 };
    return this.signed(payload, { id: payload.id, token: payload.token, userId: '', channelId: this.app.channelId }, options);
  }

  /** Any interaction of `type` with `data`, from `user`. */
  interaction(type: number, data: Record<string, unknown>, user: DiscordTestUser, extra: Record<string, unknown> = {}, options: SignOptions = {}): SignedInteraction {
    const id = snowflake();
    const token = randomToken();
    const discordUser = { id: user.id, username: user.name.toLowerCase().replace(/[^a-z0-9_.]/g, ''), global_name: user.name, discriminator: '0' };
    const payload: Record<string, unknown> = {
      id,
      application_id: this.app.applicationId,
      type,
      token,
      version: 1,
      data,
      channel_id: this.app.channelId,
      channel: { id: this.app.channelId, type: user.dm ? 1 : 0 },
      locale: 'en-US',
      ...(user.dm
        ? { user: discordUser }
        : { guild_id: this.app.guildId, member: { user: discordUser, roles: [...user.roleIds], nick: null, joined_at: new Date(0).toISOString() } }),
      ...extra,
    };
    const messageId = (extra.message as { id?: string } | undefined)?.id;
    return this.signed(payload, { id, token, userId: user.id, channelId: this.app.channelId, ...(messageId ? { messageId } : {}) }, options);
  }

  /** `/rollout <subcommand>` with string options. */
  command(user: DiscordTestUser, subcommand: Subcommand | string, options: Partial<Record<OptionName | string, string>> = {}, sign: SignOptions = {}): SignedInteraction {
    const subOptions = Object.entries(options).map(([name, value]) => commandOption(subcommand, name, value));
    return this.interaction(2, { id: snowflake(), name: ROLLOUT_COMMAND, type: 1, options: [{ name: subcommand, type: 1, options: subOptions }] }, user, {}, sign);
  }

  /** Autocomplete while `user` types `value` into option `focused` of a subcommand. */
  autocomplete(user: DiscordTestUser, subcommand: Subcommand, focused: OptionName, value: string, filled: Partial<Record<OptionName, string>> = {}): SignedInteraction {
    const others = Object.entries(filled).map(([name, v]) => commandOption(subcommand, name, v));
    return this.interaction(
      4,
      { id: snowflake(), name: ROLLOUT_COMMAND, type: 1, options: [{ name: subcommand, type: 1, options: [...others, { name: focused, type: 3, value, focused: true }] }] },
      user,
    );
  }

  /** A click on the button labelled `label` of a posted message (its `custom_id` as the message carries it). */
  click(user: DiscordTestUser, message: RecordedMessage, label: string): SignedInteraction {
    const button = buttonsOf(message).find((b) => b.label === label);
    if (!button) throw new Error(`message ${message.id} has no button labelled ${JSON.stringify(label)} (buttons: ${buttonsOf(message).map((b) => b.label).join(', ') || 'none'})`);
    return this.interaction(3, { custom_id: button.custom_id, component_type: 2 }, user, { message: messageJson(message) });
  }

  /** A submitted modal (the reject-reason form), optionally opened from a message's button. */
  modalSubmit(user: DiscordTestUser, customId: string, reason: string, message?: RecordedMessage): SignedInteraction {
    return this.interaction(
      5,
      { custom_id: customId, components: [{ type: 1, components: [{ type: 4, custom_id: REASON_INPUT_ID, value: reason }] }] },
      user,
      message ? { message: messageJson(message) } : {},
    );
  }

  private signed(payload: Record<string, unknown>, ids: Omit<SignedInteraction, 'body' | 'headers' | 'payload'>, options: SignOptions): SignedInteraction {
    const body = JSON.stringify(payload);
    return { ...ids, body, headers: this.headers(body, options), payload };
  }
}

function randomToken(): string {
  return `aW50ZXJhY3Rpb246${randomBytes(60).toString('base64url')}`;
}

// ---- the fake Discord API -------------------------------------------------------------------------------------

/** A button as it appears in a recorded message. */
export interface RecordedButton {
  readonly label: string;
  readonly custom_id: string;
  readonly style?: number;
  readonly disabled?: boolean;
}

/** A file uploaded with a message: `files[n]` of a multipart/form-data request. */
export interface RecordedAttachment {
  /** The `id` of the payload's `attachments` entry (the `n` of `files[n]`). */
  readonly id: string;
  readonly filename: string;
  readonly contentType: string;
  readonly data: Buffer;
}

/** One version of a message. */
export interface MessageVersion {
  readonly at: Date;
  readonly content?: string;
  readonly embeds: readonly APIEmbed[];
  readonly components: readonly unknown[];
}

/** A message as the fake Discord keeps it: where it came from, and every version of it. */
export interface RecordedMessage {
  readonly id: string;
  readonly channelId: string;
  /** `bot`: posted to the channel with the bot token. `interaction`: an interaction's response. `follow-up`: a follow-up. */
  readonly origin: 'bot' | 'interaction' | 'follow-up';
  /** Only the person who interacted sees it. */
  readonly ephemeral: boolean;
  /** The user an interaction message answers. */
  readonly forUserId?: string;
  readonly createdAt: Date;
  content?: string;
  embeds: APIEmbed[];
  components: unknown[];
  /** Files uploaded with the message (multipart/form-data), as Discord keeps them. @default - none */
  attachments?: RecordedAttachment[];
  /** A deferred response still "thinking". */
  pending: boolean;
  editedAt?: Date;
  deleted: boolean;
  /** Earlier versions, oldest first. */
  readonly history: MessageVersion[];
}

/** One request the fake received. */
export interface DiscordRequestRecord {
  readonly method: string;
  /** The route, with ids and tokens replaced by placeholders. */
  readonly route: string;
  readonly path: string;
  readonly status: number;
  readonly body: unknown;
  readonly at: Date;
}

/** A command as the fake stores it after registration. */
export interface RegisteredCommandRecord {
  readonly id: string;
  readonly application_id: string;
  readonly guild_id?: string;
  readonly name: string;
  readonly version: string;
  readonly [field: string]: unknown;
}

interface InteractionBinding {
  readonly applicationId: string;
  readonly channelId: string;
  readonly userId: string;
  /** The message a component interaction is on. */
  readonly componentMessageId?: string;
  originalId?: string;
}

/** The buttons of a message, across its action rows. */
export function buttonsOf(message: Pick<RecordedMessage, 'components'>): RecordedButton[] {
  return (message.components as { components?: RecordedButton[] }[]).flatMap((row) => row.components ?? []).filter((c) => typeof c.custom_id === 'string');
}

/** The text of a message: content, then each embed's title, description and fields. */
export function messageText(message: Pick<RecordedMessage, 'content' | 'embeds'>): string {
  const parts = [message.content ?? ''];
  for (const e of message.embeds) {
    parts.push(e.title ?? '', e.description ?? '', ...(e.fields ?? []).flatMap((f) => [f.name, f.value]), e.footer?.text ?? '');
  }
  return parts.filter(Boolean).join('\n');
}

/** Who the ids in a message are, for {@link terminalText}: user id -> name, role id -> role name, channel id -> name. */
export interface DiscordNames {
  readonly users?: Readonly<Record<string, string>>;
  readonly roles?: Readonly<Record<string, string>>;
  readonly channels?: Readonly<Record<string, string>>;
}

/**
 * A Discord timestamp (`<t:seconds:style>`) as a terminal shows it: in UTC, so every run reads the same; the time
 * alone for the `t`/`T` styles, the day alone for `d`/`D`, the day and the time for the others (`f`, `F`, `R`).
 */
export function readableDiscordTime(seconds: number, style = 'f'): string {
  const iso = new Date(seconds * 1000).toISOString();
  const day = iso.slice(0, 10);
  const time = style === 'T' ? iso.slice(11, 19) : iso.slice(11, 16);
  if (style === 't' || style === 'T') return `${time} UTC`;
  if (style === 'd' || style === 'D') return day;
  return `${day} ${time} UTC`;
}

/**
 * A message as a person reads it in a terminal: its text as {@link messageText} gives it (a field as `name: value`), with mentions as names (`<@id>` -> `@Pat`,
 * `<@&id>` -> `@pm`, `<#id>` -> `#phasegate`; an unknown id stays as `@<id>`), Discord timestamps as readable times,
 * no bold/italic/strike markup, links as `label (url)`, and the buttons on a last line: `[Approve] [Reject] [Pause]`.
 */
export function terminalText(message: Pick<RecordedMessage, 'content' | 'embeds' | 'components'>, names: DiscordNames = {}): string {
  // A field reads as `name: value` on one line when its value is one line.
  const parts = [message.content ?? ''];
  for (const e of message.embeds) {
    const fields = (e.fields ?? []).map((f) => (f.value.includes('\n') ? `${f.name}\n${f.value}` : `${f.name}: ${f.value}`));
    parts.push(e.title ?? '', e.description ?? '', ...fields, e.footer?.text ?? '');
  }
  const text = parts
    .filter(Boolean)
    .join('\n')
    .replace(/<@!?(\d+)>/g, (_, id: string) => `@${names.users?.[id] ?? id}`)
    .replace(/<@&(\d+)>/g, (_, id: string) => `@${names.roles?.[id] ?? id}`)
    .replace(/<#(\d+)>/g, (_, id: string) => `#${names.channels?.[id] ?? id}`)
    .replace(/<t:(-?\d+)(?::([tTdDfFR]))?>/g, (_, s: string, style: string | undefined) => readableDiscordTime(Number(s), style))
    .replace(/\[([^\]]+)\]\((https?:[^)\s]+)\)/g, '$1 ($2)')
    .replace(/\*\*|__|~~/g, '')
    .replace(/(^|[\s(])\*(\S(?:[^*]*\S)?)\*(?=$|[\s).,;:!?])/gm, '$1$2')
    .replace(/^#{1,3} /gm, '');
  const buttons = (message.components as { components?: { type?: number; label?: string }[] }[])
    .flatMap((row) => row.components ?? [])
    .filter((c) => typeof c.label === 'string' && (c.type === undefined || c.type === 2))
    .map((c) => `[${c.label}]`);
  return buttons.length > 0 ? `${text}\n${buttons.join(' ')}` : text;
}

/**
 * An option as Discord sends it: STRING (3) for text, NUMBER (10) or INTEGER (4) with a numeric value for the options
 * registered as numbers (application command option types). Text that is no number goes as it was typed, so a test
 * can send what no Discord client would.
 */
function commandOption(subcommand: string, name: string, value: string | undefined): { name: string; type: number; value: string | number | undefined } {
  const spec = (SUBCOMMAND_SPECS as Partial<Record<string, SubcommandSpec>>)[subcommand]?.options.find((o) => o.name === name);
  if (spec?.type !== 'number' && spec?.type !== 'integer') return { name, type: 3, value };
  const n = value !== undefined && value.trim() !== '' ? Number(value) : NaN;
  return { name, type: spec.type === 'number' ? 10 : 4, value: Number.isFinite(n) ? n : value };
}

function messageJson(m: RecordedMessage): Record<string, unknown> {
  const attachments = (m.attachments ?? []).map((a) => ({ id: a.id, filename: a.filename, size: a.data.length, content_type: a.contentType, url: `https://cdn.discordapp.com/attachments/${m.channelId}/${m.id}/${a.filename}` }));
  return { id: m.id, channel_id: m.channelId, content: m.content ?? '', embeds: m.embeds, components: m.components, attachments, type: 0 };
}

/** Where {@link parseUpload} puts the uploaded files in the parsed body. */
const UPLOADED_FILES = Symbol('uploaded files');

/**
 * A message with files, as Discord takes it ("Uploading Files" in Discord's API reference): multipart/form-data with
 * the JSON message in the `payload_json` part and each file in a `files[n]` part, `n` being the `id` of its entry in
 * the message's `attachments`. An embed shows an uploaded image with `attachment://<filename>`.
 */
async function parseUpload(raw: Buffer, contentType: string): Promise<Record<string | symbol, unknown>> {
  const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  const payload = form.get('payload_json');
  const body = (typeof payload === 'string' ? JSON.parse(payload) : {}) as Record<string | symbol, unknown>;
  const declared = new Map(((body.attachments as { id: string | number; filename?: string }[] | undefined) ?? []).map((a) => [String(a.id), a]));
  const files: RecordedAttachment[] = [];
  for (const [name, value] of form.entries()) {
    const n = /^files\[(\d+)\]$/.exec(name)?.[1];
    if (n === undefined || typeof value === 'string') continue;
    files.push({ id: n, filename: declared.get(n)?.filename ?? value.name, contentType: value.type, data: Buffer.from(await value.arrayBuffer()) });
  }
  body[UPLOADED_FILES] = files;
  return body;
}

/** Options of {@link FakeDiscordApi.start}. */
export interface FakeDiscordApiOptions {
  /** The bot token requests must carry. @default a random token */
  readonly botToken?: string;
  /** Listen on this port. @default a free port */
  readonly port?: number;
}

/**
 * Discord's REST API on localhost, for the routes Phasegate calls: POST and PATCH channel messages (bot token),
 * PATCH/DELETE `@original` and POST follow-ups on interaction webhooks, PUT and GET application commands
 * (global or per server). It keeps every message with its versions, so a test or the rehearsal reads the channel
 * as a person would see it. Interaction responses are applied by {@link LocalDiscord.send}, as Discord applies
 * what the endpoint answered.
 */
export class FakeDiscordApi {
  private readonly messages = new Map<string, RecordedMessage>();
  private readonly interactions = new Map<string, InteractionBinding>();
  private readonly commands = new Map<string, RegisteredCommandRecord[]>();
  private readonly requestLog: DiscordRequestRecord[] = [];
  private readonly failures: { route: RegExp; status: number; body: unknown; retryAfter?: number }[] = [];

  private constructor(
    private readonly server: Server,
    /** `http://127.0.0.1:<port>/api/v10`: what `PHASEGATE_DISCORD_API_BASE_URL` is set to. */
    readonly baseUrl: string,
    /** The bot token the fake accepts (held in the fake SSM for the handler and the steps). */
    readonly botToken: string,
  ) {}

  /** Start the server. */
  static async start(options: FakeDiscordApiOptions = {}): Promise<FakeDiscordApi> {
    const botToken = options.botToken ?? `local-bot.${randomBytes(24).toString('base64url')}`;
    let api: FakeDiscordApi | undefined;
    const server = createServer((req, res) => void api!.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    api = new FakeDiscordApi(server, `http://127.0.0.1:${port}/api/v10`, botToken);
    return api;
  }

  /** Stop the server. */
  stop(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()));
      this.server.closeAllConnections();
    });
  }

  /** Every request received, oldest first. */
  get requests(): readonly DiscordRequestRecord[] {
    return this.requestLog;
  }

  /** Messages visible in a channel (not ephemeral, not deleted), oldest first. */
  channelMessages(channelId?: string): RecordedMessage[] {
    return [...this.messages.values()].filter((m) => !m.ephemeral && !m.deleted && (channelId === undefined || m.channelId === channelId));
  }

  /** Ephemeral messages (only their user saw them), oldest first. */
  ephemeralMessages(userId?: string): RecordedMessage[] {
    return [...this.messages.values()].filter((m) => m.ephemeral && !m.deleted && (userId === undefined || m.forUserId === userId));
  }

  /** A message by id (also a deleted one). */
  message(id: string): RecordedMessage | undefined {
    return this.messages.get(id);
  }

  /** Approval requests posted for `feature` (and `phase`), oldest first: messages whose buttons approve it. */
  approvalRequests(feature?: string, phase?: string): RecordedMessage[] {
    return this.channelMessages().filter((m) =>
      [...m.history.map((v) => v.components), m.components].some((components) =>
        buttonsOf({ components: [...components] }).some((b) => {
          const c = decodeCustomId(b.custom_id);
          return c?.action === 'approve' && (feature === undefined || c.feature === feature) && (phase === undefined || c.phase === phase);
        }),
      ),
    );
  }

  /** The commands registered for an application (globally, or in one server). */
  registeredCommands(applicationId: string, guildId?: string): readonly RegisteredCommandRecord[] {
    return this.commands.get(commandsKey(applicationId, guildId)) ?? [];
  }

  /** Make the next request whose route matches fail with `status` (429 carries `retry_after`). */
  failNext(route: RegExp, status: number, options: { body?: unknown; retryAfter?: number } = {}): void {
    this.failures.push({ route, status, body: options.body ?? { message: `fake failure ${status}`, code: 0 }, ...(options.retryAfter !== undefined ? { retryAfter: options.retryAfter } : {}) });
  }

  /** Wait until `predicate` holds (messages arrive asynchronously), or fail after `timeoutMs`. */
  async waitFor<T>(predicate: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`fake Discord: condition not met within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Record an interaction Discord "sent", so its webhook routes work. */
  bindInteraction(token: string, binding: Omit<InteractionBinding, 'originalId'>): void {
    this.interactions.set(token, { ...binding });
  }

  /**
   * Apply the endpoint's immediate answer to an interaction, as Discord does: a message (type 4), a "thinking"
   * placeholder (type 5), nothing yet (type 6), an update of the component's message (type 7).
   */
  applyInteractionResponse(token: string, response: { type: number; data?: Record<string, unknown> }): RecordedMessage | undefined {
    const binding = this.interactions.get(token);
    if (!binding) throw new Error('fake Discord: unknown interaction');
    const ephemeral = ((response.data?.flags as number | undefined) ?? 0) & 64;
    switch (response.type) {
      case 4:
      case 5: {
        const m = this.create(binding.channelId, 'interaction', response.data ?? {}, { ephemeral: Boolean(ephemeral), forUserId: binding.userId, pending: response.type === 5 });
        binding.originalId = m.id;
        return m;
      }
      case 6:
        binding.originalId = binding.componentMessageId;
        return binding.componentMessageId ? this.messages.get(binding.componentMessageId) : undefined;
      case 7: {
        if (!binding.componentMessageId) throw new Error('fake Discord: UPDATE_MESSAGE answered an interaction that is not on a message');
        binding.originalId = binding.componentMessageId;
        return this.edit(binding.componentMessageId, response.data ?? {});
      }
      default:
        return undefined;
    }
  }

  private create(
    channelId: string,
    origin: RecordedMessage['origin'],
    data: Record<string, unknown>,
    options: { ephemeral?: boolean; forUserId?: string; pending?: boolean } = {},
  ): RecordedMessage {
    const m: RecordedMessage = {
      id: snowflake(),
      channelId,
      origin,
      ephemeral: options.ephemeral ?? false,
      ...(options.forUserId ? { forUserId: options.forUserId } : {}),
      createdAt: new Date(),
      ...(typeof data.content === 'string' ? { content: data.content } : {}),
      embeds: (data.embeds as APIEmbed[] | undefined) ?? [],
      components: (data.components as unknown[] | undefined) ?? [],
      attachments: ((data as Record<symbol, unknown>)[UPLOADED_FILES] as RecordedAttachment[] | undefined) ?? [],
      pending: options.pending ?? false,
      deleted: false,
      history: [],
    };
    this.messages.set(m.id, m);
    return m;
  }

  private edit(id: string, data: Record<string, unknown>): RecordedMessage | undefined {
    const m = this.messages.get(id);
    if (!m || m.deleted) return undefined;
    m.history.push({ at: m.editedAt ?? m.createdAt, ...(m.content !== undefined ? { content: m.content } : {}), embeds: m.embeds, components: m.components });
    if ('content' in data) m.content = typeof data.content === 'string' ? data.content : undefined;
    if ('embeds' in data) m.embeds = (data.embeds as APIEmbed[]) ?? [];
    if ('components' in data) m.components = (data.components as unknown[]) ?? [];
    m.pending = false;
    m.editedAt = new Date();
    return m;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const text = raw.toString('utf8');
    let body: unknown;
    const contentType = req.headers['content-type'] ?? '';
    if (contentType.startsWith('multipart/form-data')) {
      body = await parseUpload(raw, contentType);
    } else {
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
    }
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!;
    const answer = (status: number, payload?: unknown, route = 'unknown', headers: Record<string, string> = {}): void => {
      this.requestLog.push({ method, route, path, status, body, at: new Date() });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(payload === undefined ? '' : JSON.stringify(payload));
    };
    const matched = this.route(method, path.replace(/^\/api\/v10/, ''));
    const failure = this.failures.findIndex((f) => f.route.test(matched?.route ?? path));
    if (failure >= 0) {
      const f = this.failures.splice(failure, 1)[0]!;
      const retry = f.retryAfter !== undefined ? { retry_after: f.retryAfter, global: false } : {};
      answer(f.status, { ...(f.body as object), ...retry }, matched?.route, f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {});
      return;
    }
    if (!matched) return answer(404, { message: '404: Not Found', code: 0 }, 'unknown');
    if (matched.bot && req.headers.authorization !== `Bot ${this.botToken}`) return answer(401, { message: '401: Unauthorized', code: 0 }, matched.route);
    const out = matched.handle(body as Record<string, unknown>);
    answer(out.status, out.payload, matched.route);
  }

  private route(
    method: string,
    path: string,
  ): { route: string; bot: boolean; handle: (body: Record<string, unknown>) => { status: number; payload?: unknown } } | undefined {
    let m: RegExpExecArray | null;
    const unknownMessage = { status: 404, payload: { message: 'Unknown Message', code: 10008 } };
    if ((m = /^\/channels\/(\d+)\/messages$/.exec(path)) && method === 'POST') {
      const channelId = m[1]!;
      return { route: 'POST /channels/{channel}/messages', bot: true, handle: (body) => ({ status: 200, payload: messageJson(this.create(channelId, 'bot', body ?? {})) }) };
    }
    if ((m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path)) && method === 'PATCH') {
      const [, channelId, messageId] = m;
      return {
        route: 'PATCH /channels/{channel}/messages/{message}',
        bot: true,
        handle: (body) => {
          const existing = this.messages.get(messageId!);
          if (!existing || existing.channelId !== channelId) return unknownMessage;
          const edited = this.edit(messageId!, body ?? {});
          return edited ? { status: 200, payload: messageJson(edited) } : unknownMessage;
        },
      };
    }
    if ((m = /^\/webhooks\/(\d+)\/([^/]+)(\/messages\/@original)?$/.exec(path))) {
      const [, applicationId, token, original] = m;
      const binding = this.interactions.get(token!);
      const check = (): { status: number; payload: unknown } | undefined =>
        !binding ? { status: 401, payload: { message: 'Invalid Webhook Token', code: 50027 } } : binding.applicationId !== applicationId ? { status: 404, payload: { message: 'Unknown Webhook', code: 10015 } } : undefined;
      if (original && method === 'PATCH') {
        return {
          route: 'PATCH /webhooks/{application}/{token}/messages/@original',
          bot: false,
          handle: (body) => {
            const problem = check();
            if (problem) return problem;
            const edited = binding!.originalId ? this.edit(binding!.originalId, body ?? {}) : undefined;
            return edited ? { status: 200, payload: messageJson(edited) } : unknownMessage;
          },
        };
      }
      if (original && method === 'DELETE') {
        return {
          route: 'DELETE /webhooks/{application}/{token}/messages/@original',
          bot: false,
          handle: () => {
            const problem = check();
            if (problem) return problem;
            const target = binding!.originalId ? this.messages.get(binding!.originalId) : undefined;
            if (!target || target.deleted) return unknownMessage;
            target.deleted = true;
            return { status: 204 };
          },
        };
      }
      if (!original && method === 'POST') {
        return {
          route: 'POST /webhooks/{application}/{token}',
          bot: false,
          handle: (body) => {
            const problem = check();
            if (problem) return problem;
            const ephemeral = Boolean(((body?.flags as number | undefined) ?? 0) & 64);
            return { status: 200, payload: messageJson(this.create(binding!.channelId, 'follow-up', body ?? {}, { ephemeral, forUserId: binding!.userId })) };
          },
        };
      }
    }
    if ((m = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(path)) && (method === 'PUT' || method === 'GET')) {
      const [, applicationId, guildId] = m;
      const route = `${method} /applications/{application}${guildId ? '/guilds/{guild}' : ''}/commands`;
      const key = commandsKey(applicationId!, guildId);
      if (method === 'GET') return { route, bot: true, handle: () => ({ status: 200, payload: this.commands.get(key) ?? [] }) };
      return {
        route,
        bot: true,
        handle: (body) => {
          if (!Array.isArray(body)) return { status: 400, payload: { message: 'Invalid Form Body', code: 50035 } };
          const previous = new Map((this.commands.get(key) ?? []).map((c) => [c.name, c]));
          // Bulk overwrite: the set becomes exactly the body; a command keeps its id when its name stays.
          const next = (body as Record<string, unknown>[]).map((c): RegisteredCommandRecord => {
            const before = previous.get(String(c.name));
            const definition = ({ id: _i, version: _v, application_id: _a, guild_id: _g, ...rest }: Record<string, unknown>): string => JSON.stringify(rest);
            const same = before !== undefined && definition(before) === definition(c);
            return {
              ...c,
              id: before?.id ?? snowflake(),
              application_id: applicationId!,
              ...(guildId ? { guild_id: guildId } : {}),
              name: String(c.name),
              version: same ? before!.version : snowflake(),
            };
          });
          this.commands.set(key, next);
          return { status: 200, payload: next };
        },
      };
    }
    return undefined;
  }
}

function commandsKey(applicationId: string, guildId?: string): string {
  return `${applicationId}/${guildId ?? 'global'}`;
}

// ---- the handler behind a Function URL --------------------------------------------------------------------------

/** A handler as Lambda calls it. */
export type UrlHandler = (event: unknown) => Promise<unknown>;

/** A handler served on localhost like a Function URL. */
export interface FunctionUrlServer {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  stop(): Promise<void>;
}

/** Options of {@link serveFunctionUrl}. */
export interface FunctionUrlOptions {
  /** Deliver every body base64-encoded (`isBase64Encoded: true`), as Function URLs do for binary content types. @default false */
  readonly base64Bodies?: boolean;
}

/**
 * Serve `handler` on a free localhost port, turning each HTTP request into a Function URL event (payload format
 * 2.0: lower-cased headers, raw body or base64) and its result back into the HTTP response.
 */
export async function serveFunctionUrl(handler: UrlHandler, options: FunctionUrlOptions = {}): Promise<FunctionUrlServer> {
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks);
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(req.headers)) if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
      const [rawPath, rawQueryString = ''] = (req.url ?? '/').split('?');
      const now = Date.now();
      const event = {
        version: '2.0',
        routeKey: '$default',
        rawPath,
        rawQueryString,
        headers,
        requestContext: {
          accountId: 'anonymous',
          apiId: 'local',
          domainName: headers.host ?? '127.0.0.1',
          domainPrefix: 'local',
          http: { method: req.method ?? 'GET', path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
          requestId: snowflake(),
          routeKey: '$default',
          stage: '$default',
          time: new Date(now).toISOString(),
          timeEpoch: now,
        },
        body: options.base64Bodies ? raw.toString('base64') : raw.toString('utf8'),
        isBase64Encoded: options.base64Bodies === true,
      };
      try {
        const result = (await handler(event)) as { statusCode?: number; headers?: Record<string, string>; body?: string; isBase64Encoded?: boolean };
        res.writeHead(result.statusCode ?? 200, result.headers ?? {});
        res.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''));
      } catch (err) {
        // What Lambda does with an unhandled error behind a Function URL.
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'Internal Server Error', error: (err as Error).message }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

// ---- the asynchronous self-invocation -----------------------------------------------------------------------------

/** One asynchronous invocation the fake received. */
export interface SelfInvocation {
  readonly functionName: string;
  readonly invocationType: string;
  readonly event: unknown;
  readonly at: Date;
  /** What the handler returned for it, once it ran. */
  result?: unknown;
  error?: string;
}

/**
 * Lambda's asynchronous Invoke of the endpoint on itself, at the SDK boundary: a `LambdaClient` whose `send`
 * accepts `InvokeCommand` with InvocationType `Event` for one function name, answers 202 at once and runs the
 * handler with the event shortly after, as Lambda's event queue does. Give {@link FakeSelfInvoke.client} to the
 * endpoint (`clients.selfInvoke`). Only that client is replaced, so it coexists with the Lambda control-plane fake.
 */
export class FakeSelfInvoke {
  /** The client to hand to the endpoint. */
  readonly client: LambdaClient;
  private readonly log: SelfInvocation[] = [];
  private readonly running = new Set<Promise<void>>();
  private handler?: UrlHandler;
  private held = false;
  private readonly queued: (() => void)[] = [];

  constructor(readonly functionName: string) {
    this.client = new LambdaClient({ region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    Object.defineProperty(this.client, 'send', { value: (command: unknown) => this.send(command), configurable: true });
  }

  /** Every invocation so far, oldest first. */
  get invocations(): readonly SelfInvocation[] {
    return this.log;
  }

  /** Where invocations go. */
  deliverTo(handler: UrlHandler): void {
    this.handler = handler;
  }

  /** Keep invocations queued (to look at a deferred answer before its job runs) until {@link release}. */
  hold(): void {
    this.held = true;
  }

  /** Run the queued invocations and stop holding. */
  release(): void {
    this.held = false;
    for (const run of this.queued.splice(0)) run();
  }

  /** Resolves once every invocation received so far (and any they caused) has run. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async send(command: unknown): Promise<{ StatusCode: number; $metadata: object }> {
    if (!(command instanceof InvokeCommand)) throw new Error('fake self-invoke: only InvokeCommand is faked');
    const { FunctionName, InvocationType, Payload } = command.input;
    if (FunctionName !== this.functionName) {
      throw new ResourceNotFoundException({ message: `Function not found: ${FunctionName}`, $metadata: { httpStatusCode: 404 } });
    }
    if (InvocationType !== 'Event') throw new Error(`fake self-invoke: expected InvocationType Event, got ${InvocationType}`);
    const record: SelfInvocation = { functionName: FunctionName, invocationType: InvocationType, event: JSON.parse(Buffer.from((Payload ?? new Uint8Array()) as Uint8Array).toString('utf8')), at: new Date() };
    this.log.push(record);
    let start!: () => void;
    const started = new Promise<void>((resolve) => (start = resolve));
    const run = (async () => {
      await started;
      await new Promise((resolve) => setImmediate(resolve));
      if (!this.handler) throw new Error('fake self-invoke: no handler to deliver to');
      try {
        record.result = await this.handler(record.event);
      } catch (err) {
        record.error = (err as Error).message;
      }
    })();
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
    if (this.held) this.queued.push(start);
    else start();
    return { StatusCode: 202, $metadata: { httpStatusCode: 202 } };
  }
}

// ---- all together -----------------------------------------------------------------------------------------------

/** Options of {@link startLocalDiscord}. */
export interface LocalDiscordOptions {
  readonly stage: string;
  /** The stage's plans, resolved for the stage. Give them a `discord` setting ({@link localDiscordSettings}) to be announced. */
  readonly plans: readonly Plan[];
  /** The state table (created on the local DynamoDB). */
  readonly tableName: string;
  /** Client of the local DynamoDB. @default - the SDK default (e.g. `AWS_ENDPOINT_URL_DYNAMODB`) */
  readonly dynamo?: DynamoDBClient;
  /** Use this SSM fake (already installed) instead of installing one. */
  readonly ssm?: FakeSsm;
  /** Port of the fake Discord API (keep it fixed when handlers that read the base URL at load are reused). */
  readonly apiPort?: number;
  /** The fake API's bot token (keep it fixed when step handlers that cache the token at load are reused). @default random */
  readonly botToken?: string;
  /** Function URL bodies base64-encoded. @default false */
  readonly base64Bodies?: boolean;
  /** Options of the rollback flag writer (e.g. no sleeps). */
  readonly flagWriter?: LambdaFlagWriterOptions;
  /** Change the endpoint's ports before the handler is built (e.g. a slower Step Functions). */
  readonly customize?: (ports: InteractionEndpointPorts) => InteractionEndpointPorts;
}

/** What the endpoint answered, as an HTTP response and as Discord applied it. */
export interface InteractionReply {
  readonly status: number;
  /** The parsed JSON body (or the text when it is not JSON). */
  readonly body: any;
  /** The message the answer created or updated in the fake Discord, if any. */
  readonly message?: RecordedMessage;
}

/** The local Discord world around the real handler. */
export interface LocalDiscord {
  readonly keys: DiscordKeyPair;
  readonly signer: InteractionSigner;
  readonly api: FakeDiscordApi;
  readonly server: FunctionUrlServer;
  readonly ssm: FakeSsm;
  readonly selfInvoke: FakeSelfInvoke;
  /** SSM parameter names of the public key and the bot token. */
  readonly parameters: { readonly publicKey: string; readonly botToken: string };
  /** The handler's environment. */
  readonly environment: Readonly<Record<string, string>>;
  /** What a notifying state machine step needs to post here: its bot token parameter and this API's base URL. */
  readonly notifierEnvironment: Readonly<Record<string, string>>;
  /** The handler, as the server calls it. */
  readonly handler: UrlHandler;
  /**
   * The template's functions with the Discord API base URL of every function that notifies pointed at the fake
   * API: pass the result to `runLocalStateMachine({ functions })` so the steps post to this channel.
   */
  withLocalDiscord(functions: ReadonlyMap<string, TemplateFunction>): Map<string, TemplateFunction>;
  /** POST a signed interaction to the handler's URL and apply its answer to the fake Discord. */
  send(interaction: SignedInteraction): Promise<InteractionReply>;
  /** POST arbitrary bytes and headers (tampered requests). */
  post(body: string | Buffer, headers: Readonly<Record<string, string>>): Promise<{ status: number; body: any }>;
  /** `/rollout <subcommand>` as `user`. */
  command(user: DiscordTestUser, subcommand: Subcommand | string, options?: Partial<Record<string, string>>): Promise<InteractionReply>;
  /** Click Approve on an approval request as `user`. */
  clickApprove(message: RecordedMessage, user: DiscordTestUser): Promise<InteractionReply>;
  /** Click Reject on an approval request as `user`, and submit `reason` in the modal it opens. */
  clickReject(message: RecordedMessage, user: DiscordTestUser, reason: string): Promise<InteractionReply>;
  /** The channel as people see it (no ephemeral, no deleted messages), oldest first. */
  channelMessages(channelId?: string): RecordedMessage[];
  /** Wait for every deferred job (and its webhook calls) to finish. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Start the local Discord world around the real handler (built exactly as `lambdas/discord-interactions/index.ts`
 * builds it, from an environment): a generated key pair whose public key is in the fake SSM with the bot token,
 * the fake Discord API, the handler on a Function URL-like server, and its self-invocation delivered back to it.
 */
export async function startLocalDiscord(options: LocalDiscordOptions): Promise<LocalDiscord> {
  const keys = DiscordKeyPair.generate();
  const signer = new InteractionSigner(keys);
  const api = await FakeDiscordApi.start({
    ...(options.apiPort !== undefined ? { port: options.apiPort } : {}),
    ...(options.botToken !== undefined ? { botToken: options.botToken } : {}),
  });
  const ownSsm = options.ssm === undefined;
  const ssm = options.ssm ?? new FakeSsm().install();
  const parameters = discordParameterNames(options.stage);
  ssm.put(parameters.publicKey, keys.publicKeyHex).put(parameters.botToken, api.botToken, { secure: true });
  const functionName = `phasegate-${options.stage}-discord-interactions`;
  const selfInvoke = new FakeSelfInvoke(functionName);

  const environment: Record<string, string> = {
    [ENV.tableName]: options.tableName,
    [ENV.stage]: options.stage,
    [ENV.functionRole]: 'discord-interactions',
    [ENV.plans]: JSON.stringify(options.plans.map(stagePlanOf)),
    // As the stack sets it: `/rollout start` derives each plan's state machine ARN (phasegate-<stage>-<feature>).
    [ENV.stateMachineArnPrefix]: `arn:${LOCAL_AWS.partition}:states:${LOCAL_AWS.region}:${LOCAL_AWS.accountId}:stateMachine:`,
    [ENV.discordPublicKeyParameter]: parameters.publicKey,
    [ENV.discordBotTokenParameter]: parameters.botToken,
    [ENV.discordApiBaseUrl]: api.baseUrl,
    [ENV.discordApplicationId]: LOCAL_DISCORD.applicationId,
    [ENV.flagWriteTimeoutSeconds]: '5',
    AWS_LAMBDA_FUNCTION_NAME: functionName,
  };
  let ports = discordEndpointPortsFromEnv(environment, {
    ...(options.dynamo ? { dynamo: options.dynamo } : {}),
    selfInvoke: selfInvoke.client,
    ...(options.flagWriter ? { flagWriter: options.flagWriter } : {}),
  });
  if (options.customize) ports = options.customize(ports);
  const endpoint = createInteractionEndpoint(ports);
  const handler: UrlHandler = (event) => endpoint(event);
  selfInvoke.deliverTo(handler);
  const server = await serveFunctionUrl(handler, options.base64Bodies ? { base64Bodies: true } : {});
  const notifierEnvironment = { [ENV.discordBotTokenParameter]: parameters.botToken, [ENV.discordApiBaseUrl]: api.baseUrl };

  const post = async (body: string | Buffer, headers: Readonly<Record<string, string>>): Promise<{ status: number; body: any }> => {
    const res = await fetch(server.url, { method: 'POST', headers: { ...headers }, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { status: res.status, body: parsed };
  };

  const send = async (interaction: SignedInteraction): Promise<InteractionReply> => {
    api.bindInteraction(interaction.token, {
      applicationId: LOCAL_DISCORD.applicationId,
      channelId: interaction.channelId,
      userId: interaction.userId,
      ...(interaction.messageId ? { componentMessageId: interaction.messageId } : {}),
    });
    const reply = await post(interaction.body, interaction.headers);
    const body = reply.body as { type?: number; data?: Record<string, unknown> } | undefined;
    const message = reply.status === 200 && typeof body?.type === 'number' ? api.applyInteractionResponse(interaction.token, body as { type: number }) : undefined;
    return { ...reply, ...(message ? { message } : {}) };
  };

  return {
    keys,
    signer,
    api,
    server,
    ssm,
    selfInvoke,
    parameters,
    environment,
    notifierEnvironment,
    handler,
    withLocalDiscord(functions) {
      const out = new Map<string, TemplateFunction>();
      for (const [key, fn] of functions) {
        const notifies = fn.environment[ENV.discordBotTokenParameter] !== undefined;
        out.set(key, notifies ? { ...fn, environment: { ...fn.environment, ...notifierEnvironment } } : fn);
      }
      return out;
    },
    send,
    post,
    command: (user, subcommand, commandOptions = {}) => send(signer.command(user, subcommand, commandOptions)),
    clickApprove: (message, user) => send(signer.click(user, message, 'Approve')),
    async clickReject(message, user, reason) {
      const opened = await send(signer.click(user, message, 'Reject'));
      const modal = opened.body as { type?: number; data?: { custom_id?: string } };
      if (modal?.type !== 9 || !modal.data?.custom_id) return opened;
      return send(signer.modalSubmit(user, modal.data.custom_id, reason, message));
    },
    channelMessages: (channelId) => api.channelMessages(channelId),
    idle: () => selfInvoke.idle(),
    async stop() {
      await selfInvoke.idle();
      await server.stop();
      await api.stop();
      if (ownSsm) ssm.restore();
    },
  };
}
