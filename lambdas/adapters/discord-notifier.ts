import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ENV, KEYS } from '../core/contract';
import { approvalRequestDetails, type ApprovalPostingOptions } from '../core/discord/approval-details';
import { approvalDecidedMessage, approvalRequestMessage, notificationMessage } from '../core/discord/messages';
import type { ApprovalMessageRef, ApprovalMessages, DiscordRest, NotifierContext } from '../core/discord/ports';
import type { Plan } from '../core/plan/schema';
import { systemClock, type Clock, type Notifier, type RolloutNotification, type RolloutStore } from '../core/ports';
import { DiscordApiClient } from './discord-api';
import { SsmParameters } from './ssm-parameters';

/**
 * Where approval requests were posted: one item per execution and phase next to the approval itself
 * (`FEATURE#<feature>` / `DISCORD#<executionId>#<phase>`), so the message can be updated however the phase is
 * decided (a button, `/rollout approve`, the CLI).
 */
export class DynamoApprovalMessages implements ApprovalMessages {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    private readonly tableName: string,
    client: DynamoDBClient = new DynamoDBClient({}),
  ) {
    // Document clients made from one DynamoDBClient share its config, marshalling options included: these must
    // match the state store's, or whichever is made last changes how the other writes.
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async save(ref: ApprovalMessageRef): Promise<void> {
    // No condition: the approval step notifies once per execution and phase; a repeat would only point at the
    // newer of two identical messages.
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: KEYS.partition(ref.feature), sk: KEYS.discordMessage(ref.executionId, ref.phaseIndex), kind: 'discord-message', ...ref },
      }),
    );
  }

  async find(feature: string, executionId: string, phaseIndex: number): Promise<ApprovalMessageRef | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: KEYS.partition(feature), sk: KEYS.discordMessage(executionId, phaseIndex) } }),
    );
    if (!out.Item) return undefined;
    const { channelId, messageId } = out.Item as { channelId: string; messageId: string };
    return { feature, executionId, phaseIndex, channelId, messageId };
  }
}

/** What {@link DiscordNotifier} needs. */
export interface DiscordNotifierOptions {
  readonly api: DiscordRest;
  readonly messages: ApprovalMessages;
  /** The channel a feature is announced in (its plan's `discord.channelId`); undefined: it is not announced. */
  readonly channelOf: (feature: string) => Promise<string | undefined>;
  /** Where a reply already says what happened. @default - nowhere: everything is posted */
  readonly context?: NotifierContext;
  /**
   * The plan a feature's execution runs, and how the stage posts approval requests: with both, a request says
   * what approving starts, by when, links the dashboard and execution, and mentions approvers where opted in.
   * @default - requests name the phase and its approvers only
   */
  readonly approvals?: { readonly planOf: (feature: string) => Promise<Plan | undefined>; readonly posting: ApprovalPostingOptions; readonly clock: Clock };
}

/**
 * Announces a rollout in its feature's Discord channel: approval requests with Approve and Reject buttons (and
 * remembers where, so the request is updated when the phase is decided, whoever decides it and however), phase
 * starts, gate results, completion, rollbacks, pauses. Features whose plan names no channel are not announced.
 */
export class DiscordNotifier implements Notifier {
  constructor(private readonly options: DiscordNotifierOptions) {}

  /** The same notifier, told where an interaction's reply goes (see {@link NotifierContext}). */
  withContext(context: NotifierContext): DiscordNotifier {
    return new DiscordNotifier({ ...this.options, context });
  }

  async notify(n: RolloutNotification): Promise<void> {
    const channelId = await this.options.channelOf(n.feature);
    if (!channelId) return;
    const { api, messages, context = {} } = this.options;
    if (n.kind === 'approval-requested') {
      const { approvals } = this.options;
      const plan = approvals ? await approvals.planOf(n.feature) : undefined;
      const details =
        approvals && plan ? approvalRequestDetails(plan, { ...n, requestedAt: approvals.clock.now().toISOString() }, approvals.posting) : {};
      const posted = await api.postChannelMessage(channelId, approvalRequestMessage({ ...n, ...details }));
      await messages.save({ feature: n.feature, executionId: n.executionId, phaseIndex: n.phaseIndex, channelId, messageId: posted.id });
      return;
    }
    if (n.kind === 'approval-decided') {
      if (context.replyUpdatesApprovalMessage) return;
      const ref = await messages.find(n.feature, n.executionId, n.phaseIndex);
      if (ref) {
        await api.editChannelMessage(ref.channelId, ref.messageId, approvalDecidedMessage(n));
        return;
      }
    }
    // The interaction's own reply is the announcement in its channel.
    if (channelId === context.replyChannelId) return;
    await api.postChannelMessage(channelId, notificationMessage(n));
  }
}

/**
 * The Discord notifier of a state machine step, configured from its environment: the bot token's SSM parameter
 * (read when the first message is posted, then kept) and the API base URL. Undefined when the function has no
 * bot token parameter (the stack sets it on the steps that notify).
 */
export function discordNotifierFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  store: RolloutStore,
  clients: { readonly dynamo?: DynamoDBClient; readonly ssm?: SsmParameters } = {},
): DiscordNotifier | undefined {
  const tokenParameter = env[ENV.discordBotTokenParameter];
  const tableName = env[ENV.tableName];
  if (!tokenParameter || !tableName) return undefined;
  const ssm = clients.ssm ?? new SsmParameters();
  return new DiscordNotifier({
    api: new DiscordApiClient({
      ...(env[ENV.discordApiBaseUrl] ? { baseUrl: env[ENV.discordApiBaseUrl] } : {}),
      botToken: () => ssm.get(tokenParameter, { secure: true }),
    }),
    messages: new DynamoApprovalMessages(tableName, clients.dynamo),
    // The plan the execution runs carries the channel: no extra configuration per feature.
    channelOf: async (feature) => (await store.getState(feature))?.plan.discord.channelId,
    approvals: {
      planOf: async (feature) => (await store.getState(feature))?.plan,
      posting: {
        stage: env[ENV.stage] ?? 'unknown',
        ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
        mentionApprovers: env[ENV.discordMentionApprovers] === 'true',
      },
      clock: systemClock,
    },
  });
}
