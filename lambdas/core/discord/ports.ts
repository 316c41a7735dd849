import type { APIActionRowComponent, APIComponentInMessageActionRow, APIEmbed } from 'discord-api-types/v10';
import type { ApprovalDecision } from '../ports';
import type { Person } from '../rollout/operations';

/**
 * The outside world as the Discord endpoint and notifier see it. `lambdas/adapters/discord-api.ts` implements
 * {@link DiscordRest} over HTTP; the local fake Discord API serves the same routes in tests and the rehearsal.
 */

/** A message as Phasegate sends it: embeds first, so it reads well on a phone. */
export interface DiscordMessage {
  readonly content?: string;
  readonly embeds?: readonly APIEmbed[];
  /** Action rows; an empty list removes the buttons of a message being edited. */
  readonly components?: readonly APIActionRowComponent<APIComponentInMessageActionRow>[];
  /** 64: ephemeral (only the person who asked sees it). */
  readonly flags?: number;
  /**
   * Phasegate pings nobody from text (`parse: []`: user text in a reason cannot mention @everyone); an approval
   * request may ping exactly the approver roles it names in `roles`, where the stage opted in.
   */
  readonly allowed_mentions?: { readonly parse: readonly ('roles' | 'users' | 'everyone')[]; readonly roles?: readonly string[] };
  /** The files uploaded with the message: `id` is the index of the file in the upload (`files[<id>]`). */
  readonly attachments?: readonly { readonly id: number; readonly filename: string; readonly description?: string }[];
}

/** A file to upload with a message (a PNG of the rollout); an embed shows it as `attachment://<name>`. */
export interface DiscordFile {
  /** The file name, `[A-Za-z0-9._-]` only so `attachment://<name>` resolves. */
  readonly name: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  /** Alt text. */
  readonly description?: string;
}

/** The Discord REST routes Phasegate calls. Errors are `DiscordApiError`s that never contain a token. */
export interface DiscordRest {
  /** Post a message to a channel (bot token), with files uploaded alongside when given. Returns the message id. */
  postChannelMessage(channelId: string, message: DiscordMessage, files?: readonly DiscordFile[]): Promise<{ id: string }>;
  /** Edit a message the bot posted (bot token). */
  editChannelMessage(channelId: string, messageId: string, message: DiscordMessage): Promise<void>;
  /** Edit the original response of an interaction (its token, valid 15 minutes). */
  editOriginalResponse(applicationId: string, interactionToken: string, message: DiscordMessage): Promise<void>;
  /** Delete the original response of an interaction. */
  deleteOriginalResponse(applicationId: string, interactionToken: string): Promise<void>;
  /** Send a follow-up message for an interaction. */
  postFollowUp(applicationId: string, interactionToken: string, message: DiscordMessage): Promise<{ id: string }>;
}

/** Where an approval request was posted, so the message can be updated once the phase is decided. */
export interface ApprovalMessageRef {
  readonly feature: string;
  readonly executionId: string;
  readonly phaseIndex: number;
  readonly channelId: string;
  readonly messageId: string;
}

/** Remembers where approval requests were posted (one item per execution and phase in the state table). */
export interface ApprovalMessages {
  save(ref: ApprovalMessageRef): Promise<void>;
  find(feature: string, executionId: string, phaseIndex: number): Promise<ApprovalMessageRef | undefined>;
}

/** The interaction a deferred job answers, with what it needs to edit the deferred response. */
export interface JobInteraction {
  readonly id: string;
  readonly applicationId: string;
  readonly token: string;
  readonly channelId?: string;
  /**
   * How the interaction was deferred: `message` (type 5, a public "thinking" reply that the job replaces), or
   * `update` (type 6, the job edits the message the button was on).
   */
  readonly deferred: 'message' | 'update';
}

/**
 * Work the endpoint finishes after it answered Discord: it invokes itself asynchronously with the job, because a
 * Function URL Lambda cannot go on working after it returned its response.
 */
export type DiscordJob =
  | { readonly kind: 'start'; readonly feature: string; readonly person: Person; readonly interaction: JobInteraction }
  /** `/rollout retry`: a new execution of a rolled-back feature starting at `from` (default: the phase rolled back in). */
  | { readonly kind: 'retry'; readonly feature: string; readonly person: Person; readonly from?: string; readonly interaction: JobInteraction }
  | { readonly kind: 'rollback'; readonly feature: string; readonly person: Person; readonly reason: string; readonly interaction: JobInteraction }
  | {
      readonly kind: 'decide';
      readonly feature: string;
      readonly person: Person;
      readonly phase: string;
      readonly decision: ApprovalDecision;
      readonly note?: string;
      /** Set when the decision came from a button: only this execution may be decided. */
      readonly executionId?: string;
      /** The decision came from the approval message's button or modal: the job updates that message. */
      readonly fromMessage: boolean;
      readonly interaction: JobInteraction;
    };

/** The key marking an event as a deferred job of the endpoint (not a Function URL request). */
export const JOB_EVENT_KEY = 'phasegateDiscordJob';

/** The event the endpoint invokes itself with. */
export interface DiscordJobEvent {
  readonly [JOB_EVENT_KEY]: DiscordJob;
}

/** Hands a job to a later invocation of the endpoint (Lambda Invoke, InvocationType Event, on itself). */
export interface DeferredJobs {
  enqueue(job: DiscordJob): Promise<void>;
}

/** Where a notification is being sent from, so the notifier does not repeat what the reply already says. */
export interface NotifierContext {
  /** The channel of the interaction: the reply is the announcement there, so no separate post is made to it. */
  readonly replyChannelId?: string;
  /** The reply itself updates the approval message (a button or modal): the notifier leaves it alone. */
  readonly replyUpdatesApprovalMessage?: boolean;
}
