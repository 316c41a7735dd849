import type { APIEmbedField } from 'discord-api-types/v10';
import { COLORS, escapeMarkdown, truncate } from '../discord/messages';
import type { DiscordMessage } from '../discord/ports';

/**
 * Rollback alerts: when the automatic rollback itself fails (the alarm-rollback function errors, its event gives
 * up after Lambda's retries, or EventBridge cannot deliver the alarm to it), a CloudWatch "ops alarm" notifies the
 * stage's alerts topic, and the `rollback-alerts` function posts each notification to the stage's Discord channels.
 * Everything here is plain data: naming the ops alarms, reading a notification, writing the message.
 */

/** What an ops alarm watches: the function's errors, its on-failure queue, the rule's dead-letter queue. */
export const OPS_ALARM_SUBJECTS = ['rollback-errors', 'rollback-failures', 'rule-dead-letters'] as const;

/** One of {@link OPS_ALARM_SUBJECTS}. */
export type OpsAlarmSubject = (typeof OPS_ALARM_SUBJECTS)[number];

/**
 * `ops-phasegate-<stage>-`: every ops alarm of a stage starts with this. Deliberately NOT `phasegate-<stage>-`:
 * the stage's rollback rule matches that prefix (stageAlarmPrefix in alarm-names.ts), and an ops alarm going off
 * must page people, not start a rollback of a feature it does not belong to. A name that does not start with
 * `phasegate-` can match no stage's rule, whatever the stage is called (even a stage named `ops`).
 */
export function opsAlarmPrefix(stage: string): string {
  return `ops-phasegate-${stage}-`;
}

/** `ops-phasegate-<stage>-<subject>`, e.g. `ops-phasegate-prod-rollback-errors`. */
export function opsAlarmName(stage: string, subject: OpsAlarmSubject): string {
  return `${opsAlarmPrefix(stage)}${subject}`;
}

/** The stage and subject of an ops alarm name; undefined for any other name. */
export function parseOpsAlarmName(name: string): { stage: string; subject: OpsAlarmSubject } | undefined {
  const prefix = 'ops-phasegate-';
  if (!name.startsWith(prefix)) return undefined;
  const subject = OPS_ALARM_SUBJECTS.find((s) => name.endsWith(`-${s}`));
  if (!subject) return undefined;
  const stage = name.slice(prefix.length, name.length - subject.length - 1);
  return stage.length > 0 ? { stage, subject } : undefined;
}

/** The stage's Discord channels for rollback alerts: every channel a plan of the stage announces in, once, sorted. */
export function stageAlertChannels(plans: readonly { readonly discord?: { readonly channelId?: string } }[]): string[] {
  return [...new Set(plans.flatMap((p) => (p.discord?.channelId ? [p.discord.channelId] : [])))].sort();
}

/**
 * The fields of a CloudWatch alarm's SNS notification that an alert shows. CloudWatch publishes the alarm as a
 * JSON string in the SNS message (AlarmName, NewStateValue, NewStateReason, StateChangeTime, AlarmArn, Trigger
 * with the metric's Namespace, MetricName and Dimensions as `{ name, value }`):
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html
 */
export interface AlarmNotification {
  readonly alarmName: string;
  readonly newState: string;
  readonly oldState?: string;
  readonly reason?: string;
  readonly changedAt?: string;
  readonly alarmArn?: string;
  readonly namespace?: string;
  readonly metricName?: string;
  /** The metric's dimensions by name, e.g. `{ FunctionName: 'phasegate-prod-alarm-rollback…' }` or `{ QueueName: … }`. */
  readonly dimensions: Readonly<Record<string, string>>;
}

/** An SNS message that is not a CloudWatch alarm notification; the message says what is wrong, never the whole input. */
export class AlarmNotificationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AlarmNotificationError';
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Read a CloudWatch alarm notification from an SNS message body; throws {@link AlarmNotificationError}. */
export function parseAlarmNotification(snsMessage: string): AlarmNotification {
  let body: unknown;
  try {
    body = JSON.parse(snsMessage);
  } catch (err) {
    throw new AlarmNotificationError(`the SNS message is not JSON (${snsMessage.length} characters)`, { cause: err });
  }
  if (!isRecord(body)) throw new AlarmNotificationError('the SNS message is JSON but not an object');
  const alarmName = optionalString(body.AlarmName);
  const newState = optionalString(body.NewStateValue);
  const missing = [!alarmName && 'AlarmName', !newState && 'NewStateValue'].filter(Boolean);
  if (missing.length > 0) throw new AlarmNotificationError(`the SNS message is not a CloudWatch alarm notification: no ${missing.join(', no ')}`);
  const trigger = isRecord(body.Trigger) ? body.Trigger : {};
  const dimensions: Record<string, string> = {};
  if (Array.isArray(trigger.Dimensions)) {
    for (const d of trigger.Dimensions) {
      if (isRecord(d) && typeof d.name === 'string' && typeof d.value === 'string') dimensions[d.name] = d.value;
    }
  }
  return {
    alarmName: alarmName!,
    newState: newState!,
    oldState: optionalString(body.OldStateValue),
    reason: optionalString(body.NewStateReason),
    changedAt: optionalString(body.StateChangeTime),
    alarmArn: optionalString(body.AlarmArn),
    namespace: optionalString(trigger.Namespace),
    metricName: optionalString(trigger.MetricName),
    dimensions,
  };
}

/** What each ops alarm means, and what the person on call does about it. */
const GUIDE: Readonly<Record<OpsAlarmSubject, { readonly what: string; readonly todo: string }>> = {
  'rollback-errors': {
    what: 'The alarm-rollback function failed (an error or a timeout). Lambda retries it twice; a rollback may be incomplete.',
    todo:
      "Read the function's logs for `rollback-failed` and the feature it names. Run `phasegate status <feature>`; " +
      'if any target is not in the safe state, run `phasegate rollback <feature> --reason "…"`.',
  },
  'rollback-failures': {
    what:
      'An automatic rollback gave up after Lambda\'s retries (or waited too long to start): its event is in the on-failure queue. ' +
      'The rollback may be incomplete.',
    todo:
      'Inspect the queue\'s messages (the original alarm event and the error) and the function\'s logs. Run `phasegate status <feature>` ' +
      'and `phasegate rollback <feature> --reason "…"` for each feature named; delete the messages once handled.',
  },
  'rule-dead-letters': {
    what: 'EventBridge could not deliver a rollback alarm to the alarm-rollback function (8 retries over an hour): that rollback never started.',
    todo:
      'Inspect the dead-letter queue (each message is the alarm event; its attributes ERROR_CODE and ERROR_MESSAGE say why). ' +
      'Run `phasegate status <feature>` and `phasegate rollback <feature> --reason "…"`, then check the function\'s permissions and throttling.',
  },
};

const RECOVERED_TODO = 'Make sure what it reported was handled: `phasegate status <feature>` for the features involved.';
const UNKNOWN_TODO = "Read the alarm in CloudWatch and the alarm-rollback function's logs; run `phasegate status <feature>`.";

/** The embed colour of an alarm state: ALARM is bad, OK is good, anything else is a warning. */
function stateColor(state: string): number {
  if (state === 'ALARM') return COLORS.bad;
  if (state === 'OK') return COLORS.ok;
  return COLORS.waiting;
}

const field = (name: string, value: string, inline = false): APIEmbedField => ({ name, value: truncate(value || '-', 1024), inline });

/**
 * The Discord message for one ops alarm notification: the alarm, its new state, why, which function or queue, and
 * what to do. A message that is not an alarm notification still gives a post (saying so, and to check the alerts
 * topic), so a malformed notification is never dropped quietly; `problem` then says what was wrong, for the log.
 */
export function rollbackAlertMessage(
  snsMessage: string,
  context: { readonly stage: string; readonly subject?: string },
): { message: DiscordMessage; alarmName?: string; problem?: string } {
  let n: AlarmNotification;
  try {
    n = parseAlarmNotification(snsMessage);
  } catch (err) {
    const problem = err instanceof Error ? err.message : String(err);
    return {
      problem,
      message: {
        embeds: [
          {
            title: truncate(`⚠️ Phasegate ${context.stage}: an alert arrived that could not be read`, 256),
            color: COLORS.bad,
            description:
              `${escapeMarkdown(problem)}.${context.subject ? ` Subject: ${escapeMarkdown(truncate(context.subject, 200))}.` : ''} ` +
              'A rollback may have failed: check the CloudWatch alarms named `' + opsAlarmPrefix(context.stage) + '…`, the alarm-rollback ' +
              'function\'s logs, and run `phasegate status <feature>`.',
          },
        ],
        allowed_mentions: { parse: [] },
      },
    };
  }
  const parsed = parseOpsAlarmName(n.alarmName);
  const guide = parsed ? GUIDE[parsed.subject] : undefined;
  const resource = n.dimensions.FunctionName
    ? `function \`${n.dimensions.FunctionName}\``
    : n.dimensions.QueueName
      ? `queue \`${n.dimensions.QueueName}\``
      : undefined;
  const recovered = n.newState === 'OK';
  const fields: APIEmbedField[] = [
    field('Alarm', `\`${n.alarmName}\``),
    field('State', `${n.oldState ? `${n.oldState} → ` : ''}**${n.newState}**`, true),
    ...(resource ? [field('Watching', resource, true)] : []),
    ...(n.reason ? [field('Reason', escapeMarkdown(n.reason))] : []),
    field('What to do', recovered ? RECOVERED_TODO : (guide?.todo ?? UNKNOWN_TODO)),
  ];
  const changedAt = n.changedAt ? Date.parse(n.changedAt) : NaN;
  const title = recovered
    ? `✅ Phasegate ${context.stage}: ${n.alarmName} is OK again`
    : `🚨 Phasegate ${context.stage}: ${n.alarmName} is ${n.newState}`;
  return {
    alarmName: n.alarmName,
    message: {
      embeds: [
        {
          title: truncate(title, 256),
          color: stateColor(n.newState),
          description: recovered ? 'The alarm is back to OK.' : (guide?.what ?? 'An alarm on the automatic rollback changed state.'),
          fields,
          // CloudWatch writes `…+0000`; Discord takes ISO 8601 with a colon in the offset, so the time is re-written.
          ...(Number.isFinite(changedAt) ? { timestamp: new Date(changedAt).toISOString() } : {}),
        },
      ],
      allowed_mentions: { parse: [] },
    },
  };
}

/** The SNS records of a Lambda invocation by SNS, as far as the alerts read them (Records[].Sns.Message, Subject). */
export interface SnsAlertEvent {
  readonly Records?: readonly { readonly Sns?: { readonly Message?: unknown; readonly Subject?: unknown; readonly MessageId?: unknown } }[];
}

/** What {@link postRollbackAlerts} needs. */
export interface RollbackAlertPorts {
  readonly stage: string;
  /** The stage's alert channels ({@link stageAlertChannels}). */
  readonly channels: readonly string[];
  readonly discord: { postChannelMessage(channelId: string, message: DiscordMessage): Promise<{ id: string }> };
  readonly log: {
    info(message: string, extra?: Record<string, unknown>): void;
    error(message: string, extra?: Record<string, unknown>): void;
  };
}

/** How one SNS record was posted. */
export interface RollbackAlertOutcome {
  readonly messageId?: string;
  readonly alarmName?: string;
  readonly posted: readonly string[];
  readonly failed: readonly { readonly channelId: string; readonly error: string }[];
  /** Set when the record was not a readable alarm notification (a generic alert was posted instead). */
  readonly problem?: string;
}

/** Some alert could not be posted to some channel; Lambda retries the invocation (a channel may see an alert twice). */
export class RollbackAlertPostError extends Error {
  constructor(
    message: string,
    readonly outcomes: readonly RollbackAlertOutcome[],
  ) {
    super(message);
    this.name = 'RollbackAlertPostError';
  }
}

/**
 * Post every alarm notification of an SNS invocation to every alert channel. A record that cannot be read is
 * logged as an error and still posted (generically). Every channel is tried; if any post failed, throws
 * {@link RollbackAlertPostError} afterwards so that Lambda retries: an alert twice beats an alert lost.
 */
export async function postRollbackAlerts(ports: RollbackAlertPorts, event: unknown): Promise<RollbackAlertOutcome[]> {
  const records = isRecord(event) && Array.isArray((event as SnsAlertEvent).Records) ? (event as SnsAlertEvent).Records! : undefined;
  const bodies = records
    ? records.map((r) => ({
        message: typeof r?.Sns?.Message === 'string' ? r.Sns.Message : '',
        subject: typeof r?.Sns?.Subject === 'string' ? r.Sns.Subject : undefined,
        messageId: typeof r?.Sns?.MessageId === 'string' ? r.Sns.MessageId : undefined,
      }))
    : [{ message: '', subject: undefined, messageId: undefined }];
  if (!records) ports.log.error('rollback alert: the event is not an SNS event (no Records); posting a generic alert');
  const outcomes: RollbackAlertOutcome[] = [];
  for (const body of bodies) {
    const { message, alarmName, problem } = rollbackAlertMessage(body.message, { stage: ports.stage, ...(body.subject ? { subject: body.subject } : {}) });
    if (problem) ports.log.error('rollback alert: unreadable SNS message; posting a generic alert', { problem, snsMessageId: body.messageId });
    const posted: string[] = [];
    const failed: { channelId: string; error: string }[] = [];
    for (const channelId of ports.channels) {
      try {
        await ports.discord.postChannelMessage(channelId, message);
        posted.push(channelId);
      } catch (err) {
        failed.push({ channelId, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
      }
    }
    const outcome: RollbackAlertOutcome = { ...(body.messageId ? { messageId: body.messageId } : {}), ...(alarmName ? { alarmName } : {}), posted, failed, ...(problem ? { problem } : {}) };
    (failed.length > 0 ? ports.log.error : ports.log.info)('rollback alert posted', { ...outcome });
    outcomes.push(outcome);
  }
  const failures = outcomes.flatMap((o) => o.failed);
  if (failures.length > 0) {
    throw new RollbackAlertPostError(`${failures.length} rollback alert post(s) failed: ${failures.map((f) => `${f.channelId} (${f.error})`).join('; ')}`, outcomes);
  }
  return outcomes;
}

/** The alert channels from the function's environment (a JSON array of Discord ids); throws on anything else. */
export function parseAlertChannels(raw: string | undefined): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw ?? '');
  } catch {
    throw new Error('the alert channels are not set: expected a JSON array of Discord channel ids');
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((c) => typeof c === 'string' && /^\d{17,20}$/.test(c))) {
    throw new Error(`the alert channels must be a non-empty JSON array of Discord channel ids (17-20 digits), got ${truncate(String(raw), 200)}`);
  }
  return parsed as string[];
}
