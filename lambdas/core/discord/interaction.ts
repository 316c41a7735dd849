import { MAX_TEXT_LENGTH, ROLLOUT_COMMAND, SUBCOMMANDS, SUBCOMMAND_SPECS, type OptionName, type OptionSpec, type Subcommand } from './commands';
import { decodeCustomId, type ApprovalComponent } from './custom-id';

/**
 * Parsing of Discord interactions, after the signature was verified. The payload is untrusted in shape (the
 * signature proves it came from Discord, not that it is what Phasegate expects), so every field is checked by
 * hand here: cheap, and no schema library in the endpoint's bundle. Anything unexpected becomes a
 * {@link ParseFailure} that says whether to answer HTTP 400 (not an interaction Phasegate understands at all) or
 * an ephemeral message (a well-formed interaction asking for something that does not exist).
 */

/** Discord's interaction types. */
export const INTERACTION_TYPE = { ping: 1, command: 2, component: 3, autocomplete: 4, modalSubmit: 5 } as const;

/** Who sent the interaction. */
export interface Invoker {
  readonly id: string;
  /** The name to show: server nickname, else display name, else user name. */
  readonly name: string;
  /** Discord role ids the member holds in the server; empty outside a server. */
  readonly roleIds: readonly string[];
  /** False for direct messages (no guild member): Phasegate refuses those. */
  readonly inGuild: boolean;
}

/** What every interaction but a PING carries and the endpoint needs to answer later. */
export interface InteractionMeta {
  readonly id: string;
  readonly applicationId: string;
  /** The interaction token: lets the endpoint edit its response for 15 minutes. Never logged. */
  readonly token: string;
  readonly guildId?: string;
  readonly channelId?: string;
}

/** The options of a `/rollout` subcommand, trimmed. */
export type CommandOptions = Partial<Readonly<Record<OptionName, string>>>;

/** An interaction Phasegate understands. */
export type ParsedInteraction =
  | { readonly kind: 'ping' }
  | { readonly kind: 'command'; readonly meta: InteractionMeta; readonly invoker: Invoker; readonly subcommand: Subcommand; readonly options: CommandOptions }
  | {
      readonly kind: 'autocomplete';
      readonly meta: InteractionMeta;
      readonly invoker: Invoker;
      readonly subcommand: Subcommand;
      readonly focused: { readonly name: OptionName; readonly value: string };
      /** The other options filled in so far: the feature whose sub-features or phases to offer. */
      readonly options: CommandOptions;
    }
  | {
      readonly kind: 'button';
      readonly meta: InteractionMeta;
      readonly invoker: Invoker;
      readonly component: ApprovalComponent;
      /** The message the button is on. */
      readonly messageId?: string;
    }
  | {
      readonly kind: 'modal';
      readonly meta: InteractionMeta;
      readonly invoker: Invoker;
      readonly component: ApprovalComponent;
      /** What the person typed into the modal's reason field. */
      readonly reason: string;
      /** The message whose button opened the modal. */
      readonly messageId?: string;
    };

/** Why an interaction cannot be served, and how to say so. */
export interface ParseFailure {
  readonly kind: 'invalid';
  /** `http-400`: not an interaction at all. `ephemeral`: tell the person (only they see it). */
  readonly answer: 'http-400' | 'ephemeral';
  readonly reason: string;
  /** Present when the interaction was well-formed enough to know who sent it and about what. */
  readonly meta?: InteractionMeta;
  readonly invoker?: Invoker;
  readonly feature?: string;
}

/** The id of the text input in the reject-reason modal. */
export const REASON_INPUT_ID = 'reason';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const show = (v: unknown): string => JSON.stringify(typeof v === 'string' ? v.slice(0, 40) : v) ?? String(v);

function invokerOf(raw: Json): Invoker | undefined {
  const member = isObject(raw.member) ? raw.member : undefined;
  const memberUser = member && isObject(member.user) ? member.user : undefined;
  const user = memberUser ?? (isObject(raw.user) ? raw.user : undefined);
  const id = user ? str(user.id) : undefined;
  if (!user || !id) return undefined;
  const inGuild = memberUser !== undefined && str(raw.guild_id) !== undefined;
  const name = (member && str(member.nick)) ?? str(user.global_name) ?? str(user.username) ?? id;
  const roleIds = inGuild && Array.isArray(member!.roles) ? member!.roles.filter((r): r is string => typeof r === 'string') : [];
  return { id, name, roleIds, inGuild };
}

function metaOf(raw: Json): InteractionMeta | undefined {
  const id = str(raw.id);
  const applicationId = str(raw.application_id);
  const token = str(raw.token);
  if (!id || !applicationId || !token) return undefined;
  const guildId = str(raw.guild_id);
  const channelId = str(raw.channel_id) ?? (isObject(raw.channel) ? str(raw.channel.id) : undefined);
  return { id, applicationId, token, ...(guildId ? { guildId } : {}), ...(channelId ? { channelId } : {}) };
}

/** The subcommand and its options, or what is wrong with them. */
function readSubcommand(
  data: Json,
  mode: 'execute' | 'autocomplete',
): { subcommand: Subcommand; options: CommandOptions; focused?: { name: OptionName; value: string } } | { problem: string } {
  if (data.name !== ROLLOUT_COMMAND) return { problem: `unknown command ${show(data.name)}: Phasegate only has /${ROLLOUT_COMMAND}` };
  const top = Array.isArray(data.options) ? data.options : [];
  const sub = top[0];
  if (top.length !== 1 || !isObject(sub) || sub.type !== 1 || !(SUBCOMMANDS as readonly unknown[]).includes(sub.name)) {
    return { problem: `unknown subcommand ${show(isObject(sub) ? sub.name : undefined)}: use one of ${SUBCOMMANDS.join(', ')}` };
  }
  const subcommand = sub.name as Subcommand;
  const spec = SUBCOMMAND_SPECS[subcommand];
  const options: Partial<Record<OptionName, string>> = {};
  let focused: { name: OptionName; value: string } | undefined;
  if (sub.options !== undefined && !Array.isArray(sub.options)) return { problem: `malformed options for /${ROLLOUT_COMMAND} ${subcommand}` };
  for (const option of (sub.options ?? []) as unknown[]) {
    const known = isObject(option) ? spec.options.find((o) => o.name === option.name) : undefined;
    if (!isObject(option) || !known) {
      return { problem: `unknown option ${show(isObject(option) ? option.name : option)} for /${ROLLOUT_COMMAND} ${subcommand}` };
    }
    const read = optionValue(known, option, mode);
    if ('problem' in read) return read;
    const value = read.value;
    if (option.focused === true) focused = { name: known.name, value };
    if (mode === 'execute' && value.length > MAX_TEXT_LENGTH) {
      return { problem: `option ${known.name} is longer than ${MAX_TEXT_LENGTH} characters` };
    }
    if (value !== '') options[known.name] = value;
  }
  if (mode === 'execute') {
    const missing = spec.options.filter((o) => o.required && options[o.name] === undefined).map((o) => o.name);
    if (missing.length > 0) return { problem: `/${ROLLOUT_COMMAND} ${subcommand} needs ${missing.join(' and ')}` };
  } else if (!focused) {
    return { problem: 'autocomplete without a focused option' };
  }
  return { subcommand, options, ...(focused ? { focused } : {}) };
}

/** Discord's option types: STRING 3, INTEGER 4, NUMBER 10 (application command option types). */
const OPTION_TYPES = { string: 3, integer: 4, number: 10 } as const;

/**
 * An option's value as text: a string trimmed, a number written out. Discord checks a number's bounds before it
 * sends the interaction; they are checked again here, because nothing but a valid signature stops a hand-made one.
 */
function optionValue(known: OptionSpec, option: Json, mode: 'execute' | 'autocomplete'): { value: string } | { problem: string } {
  const kind = known.type ?? 'string';
  if (option.type !== OPTION_TYPES[kind]) return { problem: `option ${known.name} must be ${kind === 'string' ? 'text' : `a${kind === 'integer' ? 'n' : ''} ${kind}`}` };
  if (kind === 'string') return typeof option.value === 'string' ? { value: option.value.trim() } : { problem: `option ${known.name} must be text` };
  // While a person types, the focused value is what they typed so far, as text.
  if (mode === 'autocomplete' && typeof option.value === 'string') return { value: option.value.trim() };
  const n = option.value;
  if (typeof n !== 'number' || !Number.isFinite(n) || (kind === 'integer' && !Number.isInteger(n))) return { problem: `option ${known.name} must be a${kind === 'integer' ? ' whole' : ''} number` };
  if ((known.min !== undefined && n < known.min) || (known.max !== undefined && n > known.max)) {
    return { problem: `option ${known.name} must be from ${known.min ?? '-∞'} to ${known.max ?? '∞'}, got ${n}` };
  }
  return { value: String(n) };
}

function modalReason(data: Json): string | undefined {
  for (const row of Array.isArray(data.components) ? data.components : []) {
    const inputs = isObject(row) && Array.isArray(row.components) ? row.components : isObject(row) && isObject(row.component) ? [row.component] : [];
    for (const input of inputs) {
      if (isObject(input) && input.custom_id === REASON_INPUT_ID && typeof input.value === 'string') return input.value.trim();
    }
  }
  return undefined;
}

/**
 * Turn a parsed JSON body into a {@link ParsedInteraction}, or say why it cannot be served. Never throws.
 */
export function parseInteraction(raw: unknown): ParsedInteraction | ParseFailure {
  if (!isObject(raw)) return { kind: 'invalid', answer: 'http-400', reason: 'the body is not a JSON object' };
  if (raw.type === INTERACTION_TYPE.ping) return { kind: 'ping' };
  if (!(Object.values(INTERACTION_TYPE) as unknown[]).includes(raw.type)) {
    return { kind: 'invalid', answer: 'http-400', reason: `unknown interaction type ${show(raw.type)}` };
  }
  const meta = metaOf(raw);
  if (!meta) return { kind: 'invalid', answer: 'http-400', reason: 'the interaction has no id, application_id or token' };
  const invoker = invokerOf(raw);
  if (!invoker) return { kind: 'invalid', answer: 'http-400', reason: 'the interaction names no user' };
  const data = isObject(raw.data) ? raw.data : undefined;
  if (!data) return { kind: 'invalid', answer: 'http-400', reason: 'the interaction has no data' };
  const fail = (reason: string, feature?: string): ParseFailure => ({
    kind: 'invalid',
    answer: 'ephemeral',
    reason,
    meta,
    invoker,
    ...(feature ? { feature } : {}),
  });

  switch (raw.type) {
    case INTERACTION_TYPE.command:
    case INTERACTION_TYPE.autocomplete: {
      const autocomplete = raw.type === INTERACTION_TYPE.autocomplete;
      const read = readSubcommand(data, autocomplete ? 'autocomplete' : 'execute');
      if ('problem' in read) return fail(read.problem);
      if (autocomplete) return { kind: 'autocomplete', meta, invoker, subcommand: read.subcommand, focused: read.focused!, options: read.options };
      return { kind: 'command', meta, invoker, subcommand: read.subcommand, options: read.options };
    }
    case INTERACTION_TYPE.component: {
      const component = decodeCustomId(data.custom_id);
      if (!component || component.action === 'reject-reason' || data.component_type !== 2) {
        return fail('this button is not one of Phasegate\'s (or it is from an older version): use /rollout status');
      }
      const messageId = isObject(raw.message) ? str(raw.message.id) : undefined;
      return { kind: 'button', meta, invoker, component, ...(messageId ? { messageId } : {}) };
    }
    default: {
      const component = decodeCustomId(data.custom_id);
      if (!component || component.action !== 'reject-reason') return fail('this form is not one of Phasegate\'s');
      const reason = modalReason(data);
      if (!reason) return fail('a rejection needs a reason', component.feature);
      if (reason.length > MAX_TEXT_LENGTH) return fail(`the reason is longer than ${MAX_TEXT_LENGTH} characters`, component.feature);
      const messageId = isObject(raw.message) ? str(raw.message.id) : undefined;
      return { kind: 'modal', meta, invoker, component, reason, ...(messageId ? { messageId } : {}) };
    }
  }
}
