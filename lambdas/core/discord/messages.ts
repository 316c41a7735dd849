import type { APIEmbed, APIEmbedField } from 'discord-api-types/v10';
import type { RefusedError } from '../errors';
import type { FeatureBudgetStatus, RolloutNotification } from '../ports';
import type { FeatureVerification, TargetVerification } from '../drift/reconcile';
import type { Actor, AuditEvent, RolloutState } from '../rollout/rollout-state';
import { encodeCustomId, executionHash } from './custom-id';
import type { StagePlan } from './directory';
import type { DiscordMessage } from './ports';

/**
 * Every message Phasegate shows in Discord, as plain data. Embeds with short titles and one field per line read
 * well on a phone; times are Discord timestamps (`<t:…:R>`), which each reader sees in their own time zone.
 * Nothing here pings anyone: every message carries `allowed_mentions: { parse: [] }`.
 */

/** Embed colours by tone. */
export const COLORS = { ok: 0x2ecc71, waiting: 0xf1c40f, bad: 0xe74c3c, info: 0x3498db, quiet: 0x95a5a6 } as const;

/** Discord's embed limits that Phasegate's content can reach. */
const LIMITS = { title: 256, description: 4096, fieldValue: 1024, embeds: 10 } as const;

/** The interaction response flag that shows a message to the person who asked only. */
export const EPHEMERAL = 64;

const NO_PINGS = { parse: [] } as const;

/** `text` cut to `max` characters, with an ellipsis when it was longer. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A Discord timestamp for an ISO time: `R` relative ("3 hours ago"), `f` date and time. */
export function when(iso: string | undefined, style: 'R' | 'f' = 'R'): string {
  const ms = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(ms) ? `<t:${Math.floor(ms / 1000)}:${style}>` : 'unknown';
}

/** Who did something: the name in bold, with a mention (which never pings) for Discord users. */
export function who(actor: Actor | undefined): string {
  if (!actor) return 'someone';
  const name = `**${escapeMarkdown(actor.name ?? actor.id)}**`;
  return actor.via === 'discord' && /^\d{17,20}$/.test(actor.id) ? `${name} (<@${actor.id}>)` : name;
}

/** Markdown characters in user-supplied text shown literally. */
export function escapeMarkdown(text: string): string {
  return text.replace(/([\\*_`~|>])/g, '\\$1');
}

const field = (name: string, value: string, inline = false): APIEmbedField => ({
  name: truncate(name, 256),
  value: truncate(value || '-', LIMITS.fieldValue),
  inline,
});

function message(embeds: APIEmbed[], extra: Partial<DiscordMessage> = {}): DiscordMessage {
  return { embeds: embeds.slice(0, LIMITS.embeds), allowed_mentions: NO_PINGS, ...extra };
}

function embed(title: string, color: number, description?: string, fields: APIEmbedField[] = [], footer?: string): APIEmbed {
  return {
    title: truncate(title, LIMITS.title),
    color,
    ...(description ? { description: truncate(description, LIMITS.description) } : {}),
    ...(fields.length > 0 ? { fields } : {}),
    ...(footer ? { footer: { text: truncate(footer, 2048) } } : {}),
  };
}

const footerOf = (stage: string, executionId: string): string => `stage ${stage} · execution ${executionHash(executionId)}`;

/** An ephemeral message saying something went wrong or cannot be done. */
export function errorMessage(title: string, text: string): DiscordMessage {
  return message([embed(title, COLORS.bad, text)], { flags: EPHEMERAL });
}

const REFUSAL_TITLES: Readonly<Record<RefusedError['code'], string>> = {
  FORBIDDEN: 'Not allowed',
  STALE: 'Out of date',
  ALREADY_DECIDED: 'Already decided',
  NOT_PENDING: 'Not waiting for that',
  NOT_FOUND: 'Not found',
  INVALID: 'Cannot do that',
};

/** An ephemeral refusal: nothing changed, and (where a feature is known) the refusal is on the audit trail. */
export function refusalMessage(err: Pick<RefusedError, 'code' | 'message'>): DiscordMessage {
  return errorMessage(REFUSAL_TITLES[err.code] ?? 'Refused', `${err.message.charAt(0).toUpperCase()}${err.message.slice(1)}. Nothing was changed.`);
}

/** Which approval request the buttons answer. */
export interface ApprovalRequestView {
  readonly feature: string;
  readonly stage: string;
  readonly executionId: string;
  readonly phase: string;
  readonly approvers: readonly string[];
  readonly gate?: { readonly decision: string; readonly reasons: readonly string[] };
  readonly heldTooLong?: boolean;
  /** What approving starts: the next phase's audience and percent; null when approving completes the rollout. */
  readonly next?: { readonly phase: string; readonly roles: readonly string[]; readonly percent: number } | null;
  /** When the approval times out (ISO 8601): the feature then rolls back. */
  readonly deadline?: string;
  /** Discord role ids to mention (and ping): the approvers' roles, where the stage opted in. */
  readonly mentionRoleIds?: readonly string[];
  /** Link buttons: the feature's CloudWatch dashboard and the Step Functions execution, in the AWS console. */
  readonly links?: { readonly dashboard?: string; readonly execution?: string };
}

/** `admin, pm` or `every user`, and the percent when it is not everyone of them. */
function audience(roles: readonly string[], percent: number): string {
  const who = roles.includes('all') ? 'every user' : roles.join(', ');
  return percent === 100 ? who : `${percent} % of ${who}`;
}

/**
 * The approval request posted to the feature's channel: what approving starts (the next phase's audience and
 * percent, or completion), by when a decision is needed and what happens then, Approve, Reject and Pause buttons
 * bound to this phase and execution, and links to the dashboard and the execution. It mentions the approvers'
 * roles only when the stage opted in, and pings nobody else.
 */
export function approvalRequestMessage(r: ApprovalRequestView): DiscordMessage {
  const hash = executionHash(r.executionId);
  const fields = [field('Who may decide', r.approvers.join(' or '), true)];
  if (r.next !== undefined) {
    fields.push(field('Approving starts', r.next ? `phase **${r.next.phase}**: ${audience(r.next.roles, r.next.percent)}` : 'nothing more: the rollout completes', true));
  }
  if (r.deadline) fields.push(field('Decide by', `${when(r.deadline, 'f')} (${when(r.deadline)}); undecided, ${r.feature} rolls back then`));
  if (r.gate) fields.push(field(`Gate: ${r.gate.decision}`, r.gate.reasons.map((reason) => `• ${reason}`).join('\n')));
  const description = r.heldTooLong
    ? `The gate of phase **${r.phase}** held past the plan's limit. Approve to go on, reject to roll back, pause to hold.`
    : `Phase **${r.phase}** baked and passed its gate. Approve to go on, reject to roll back, pause to hold.`;
  const mentions = [...new Set(r.mentionRoleIds ?? [])].filter((id) => /^\d{17,20}$/.test(id));
  const links = [
    ...(r.links?.dashboard ? [{ type: 2 as const, style: 5 as const, label: 'Dashboard', url: r.links.dashboard }] : []),
    ...(r.links?.execution ? [{ type: 2 as const, style: 5 as const, label: 'Execution', url: r.links.execution }] : []),
  ];
  const button = (action: 'approve' | 'reject' | 'pause', style: 2 | 3 | 4, label: string) => ({
    type: 2 as const,
    style,
    label,
    custom_id: encodeCustomId({ action, feature: r.feature, phase: r.phase, executionHash: hash }),
  });
  return message([embed(`⏳ ${r.feature}: approve phase ${r.phase}?`, COLORS.waiting, description, fields, footerOf(r.stage, r.executionId))], {
    ...(mentions.length ? { content: `${mentions.map((id) => `<@&${id}>`).join(' ')} a decision is needed`, allowed_mentions: { parse: [], roles: mentions } } : {}),
    components: [
      { type: 1, components: [button('approve', 3, 'Approve'), button('reject', 4, 'Reject'), button('pause', 2, 'Pause')] },
      ...(links.length ? [{ type: 1 as const, components: links }] : []),
    ],
  });
}

/** A decision on a phase. */
export interface DecisionView {
  readonly feature: string;
  readonly stage: string;
  readonly executionId: string;
  readonly phase: string;
  readonly decision: 'approve' | 'reject';
  readonly by: Actor;
  readonly at: string;
  readonly note?: string;
}

/** The approval request after the decision: who decided and when, buttons removed. */
export function approvalDecidedMessage(d: DecisionView): DiscordMessage {
  const approved = d.decision === 'approve';
  const fields = d.note ? [field(approved ? 'Note' : 'Reason', escapeMarkdown(d.note))] : [];
  return message(
    [
      embed(
        `${approved ? '✅' : '❌'} ${d.feature}: phase ${d.phase} ${approved ? 'approved' : 'rejected'}`,
        approved ? COLORS.ok : COLORS.bad,
        `${approved ? 'Approved' : 'Rejected'} by ${who(d.by)} ${when(d.at, 'f')}.${approved ? '' : ' The rollout rolls back.'}`,
        fields,
        footerOf(d.stage, d.executionId),
      ),
    ],
    { components: [] },
  );
}

/** Milliseconds for people: `850 ms`, `4.2 s`, `3 min 5 s`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms - minutes * 60_000) / 1000)} s`;
}

/** One line per item, as many as fit in a field, then how many more there are. */
function lines(items: readonly string[]): string {
  const out: string[] = [];
  let size = 0;
  for (const [i, item] of items.entries()) {
    const more = `… and ${items.length - i} more`;
    if (size + item.length + 1 + more.length > LIMITS.fieldValue) {
      out.push(more);
      break;
    }
    out.push(item);
    size += item.length + 1;
  }
  return out.join('\n');
}

/** The channel post for a notification other than an approval request or decision. */
export function notificationMessage(n: RolloutNotification): DiscordMessage {
  const footer = footerOf(n.stage, n.executionId);
  switch (n.kind) {
    case 'phase-started': {
      const audience = n.roles.includes('all') ? 'everyone' : n.roles.join(', ');
      return message([
        embed(`▶️ ${n.feature}: phase ${n.phase} started (${n.phaseIndex + 1}/${n.phases})`, COLORS.info, undefined, [
          field('Who gets it', `${audience}, ${n.percent}%`, true),
          field('Bake', n.bake, true),
        ], footer),
      ]);
    }
    case 'gate-evaluated': {
      const color = n.decision === 'PROCEED' ? COLORS.ok : n.decision === 'ROLLBACK' ? COLORS.bad : COLORS.waiting;
      return message([embed(`🚦 ${n.feature}: gate of ${n.phase} says ${n.decision}`, color, n.reasons.map((r) => `• ${r}`).join('\n'), [], footer)]);
    }
    case 'rollout-completed':
      return message([embed(`🎉 ${n.feature}: rollout completed`, COLORS.ok, 'Every phase passed.', [], footer)]);
    case 'rolled-back': {
      const what = n.subFeature ? `${n.feature}.${n.subFeature}` : n.feature;
      const fields = [
        ...(n.timeToSafeMs !== undefined ? [field('Time to safe', formatMs(n.timeToSafeMs), true)] : []),
        field('Targets safe', `${n.targets.filter((t) => t.ok).length} of ${n.targets.length}`, true),
        ...(n.targets.length > 0 ? [field('Targets', lines(n.targets.map((t) => `${t.ok ? '✓' : '✗'} ${t.functionName} (${formatMs(t.ms)})`)))] : []),
      ];
      return message([embed(`⏪ ${what}: rolled back`, COLORS.bad, `By ${who(n.by)}: ${escapeMarkdown(n.reason)}`, fields, footer)]);
    }
    case 'rollback-in-progress': {
      const what = n.subFeature ? `${n.feature}.${n.subFeature}` : n.feature;
      return message([
        embed(
          `⏳ ${what}: rollback still in progress`,
          COLORS.waiting,
          `By ${who(n.by)}: ${escapeMarkdown(n.reason)}\n${n.safeTargets.length} target(s) are safe after ${formatMs(n.elapsedMs)}; ` +
            `${n.pendingTargets.length} are not yet. Phasegate keeps working on them and posts here when every target is safe or when it gives up.`,
          [
            field('Not safe yet', lines(n.pendingTargets.map((t) => `… ${t.functionName}: ${escapeMarkdown(t.error)}`))),
            ...(n.safeTargets.length > 0 ? [field('Safe', lines(n.safeTargets.map((t) => `✓ ${t}`)))] : []),
          ],
          footer,
        ),
      ]);
    }
    case 'rollback-failed': {
      const what = n.subFeature ? `${n.feature}.${n.subFeature}` : n.feature;
      return message([
        embed(
          `🚨 ${what}: ROLLBACK FAILED`,
          COLORS.bad,
          `${escapeMarkdown(n.reason)}\nThese targets may still serve the old flags. Fix what the error says, then run \`phasegate rollback ${n.feature}\` (or /rollout rollback) again.`,
          [
            field('Failed targets', lines(n.failedTargets.map((t) => `✗ ${t.functionName}: ${escapeMarkdown(t.error)}`))),
            ...(n.safeTargets && n.safeTargets.length > 0 ? [field('Safe', lines(n.safeTargets.map((t) => `✓ ${t}`)))] : []),
          ],
          footer,
        ),
      ]);
    }
    case 'drift-repaired': {
      const by = `${escapeMarkdown(n.changedBy)}${n.eventName ? ` (${n.eventName})` : ''}`;
      const repaired = n.targets.map((t) => `✓ ${t.target}: ${t.variables.map((v) => `${v.name} ${v.actual === null ? 'was gone' : `was "${escapeMarkdown(v.actual)}"`}, back to "${escapeMarkdown(v.expected)}"`).join('; ')}`);
      return message([
        embed(
          n.failedTargets.length > 0 ? `🔧 ${n.feature}: flags drifted, not every target repaired yet` : `🔧 ${n.feature}: flags drifted and were repaired`,
          n.failedTargets.length > 0 ? COLORS.bad : COLORS.waiting,
          `Changed by ${by}. Phasegate wrote back only the variables that differed${n.targets.length > 0 ? `, ${formatMs(n.repairMs)} after the change` : ''}.` +
            ' Keep these variables out of the target\'s own IaC (README: "Your own deploys and Phasegate").',
          [
            ...(repaired.length > 0 ? [field('Repaired', lines(repaired))] : []),
            ...(n.failedTargets.length > 0 ? [field('Not repaired yet', lines(n.failedTargets.map((t) => `✗ ${t.target}: ${escapeMarkdown(t.error)}`)))] : []),
          ],
          footer,
        ),
      ]);
    }
    case 'drift-backoff':
      return message([
        embed(
          `🔁 ${n.feature}: ${n.target} keeps drifting, Phasegate backs off`,
          COLORS.bad,
          `Repaired ${n.repairs} times in ${n.windowMinutes} minutes (last change by ${escapeMarkdown(n.changedBy)}). Its drift is left as it is until ${when(n.until, 'f')}, ` +
            'then repaired again, backing off longer each time. Its pipeline is probably redeploying its environment: take the feature\'s variables out of it. ' +
            `\`phasegate verify ${n.feature}\` shows what it serves now.`,
          [],
          footer,
        ),
      ]);
    case 'paused':
      return message([embed(`⏸️ ${n.feature}: paused`, COLORS.waiting, `By ${who(n.by)}${n.reason ? `: ${escapeMarkdown(n.reason)}` : ''}. Gates hold and approvals wait until it is resumed.`, [], footer)]);
    case 'resumed':
      return message([embed(`▶️ ${n.feature}: resumed`, COLORS.info, `By ${who(n.by)}.`, [], footer)]);
    case 'approval-requested':
      return approvalRequestMessage(n);
    case 'approval-decided':
      return approvalDecidedMessage(n);
    default: {
      // A kind added to the union later still gets a readable line rather than nothing.
      const other = n as { kind: string; feature: string };
      return message([embed(`${other.feature}: ${other.kind}`, COLORS.quiet, undefined, [], footer)]);
    }
  }
}

/** What `/rollout status` shows for one feature. */
export interface FeatureStatusView {
  readonly plan: StagePlan;
  readonly state?: RolloutState;
  /** Approvals and rejections of the current execution, oldest first. */
  readonly decisions: readonly AuditEvent[];
}

const STATUS_LINES: Readonly<Record<string, string>> = {
  RUNNING: 'Running',
  AWAITING_APPROVAL: 'Waiting for approval',
  COMPLETED: 'Completed',
  ROLLING_BACK: 'Rolling back',
  ROLLED_BACK: 'Rolled back',
  ROLLBACK_FAILED: 'ROLLBACK FAILED',
};

function statusColor(state: RolloutState | undefined): number {
  if (!state) return COLORS.quiet;
  if (state.paused || state.status === 'AWAITING_APPROVAL') return COLORS.waiting;
  if (state.status === 'ROLLED_BACK' || state.status === 'ROLLBACK_FAILED' || state.status === 'ROLLING_BACK') return COLORS.bad;
  return state.status === 'COMPLETED' ? COLORS.ok : COLORS.info;
}

function featureEmbed(view: FeatureStatusView, detailed: boolean): APIEmbed {
  const { plan, state } = view;
  if (!state) {
    return embed(`${plan.feature}: not started`, COLORS.quiet, `Phases: ${plan.phases.join(' → ')}`);
  }
  const phases = state.plan.phases;
  const phase = phases[state.phaseIndex];
  const statusLine = state.paused ? `${STATUS_LINES[state.status]} (paused)` : (STATUS_LINES[state.status] ?? state.status);
  const fields = [
    field('Phase', phase ? `${phase.name} (${state.phaseIndex + 1}/${phases.length})` : 'starting', true),
    field('Status', state.status === 'RUNNING' ? `${statusLine}: ${state.step}` : statusLine, true),
    field('Since', when(state.updatedAt), true),
  ];
  if (state.status === 'AWAITING_APPROVAL' && phase) fields.push(field('Who may approve', phase.approval.approvers.join(' or ')));
  if (state.paused) fields.push(field('Paused', `by ${who(state.paused.by)} ${when(state.paused.at)}${state.paused.reason ? `: ${escapeMarkdown(state.paused.reason)}` : ''}`));
  if (state.lastGate) {
    fields.push(field(`Last gate: ${state.lastGate.decision}`, [when(state.lastGate.at), ...state.lastGate.reasons.map((r) => `• ${r}`)].join('\n')));
  }
  if (state.reason && (state.status === 'ROLLED_BACK' || state.status === 'ROLLING_BACK' || state.status === 'ROLLBACK_FAILED')) {
    fields.push(field('Why', escapeMarkdown(state.reason)));
  }
  if (detailed) {
    const lines = view.decisions.map((e) => {
      const note = (e.detail as { note?: unknown } | undefined)?.note;
      return `${e.action === 'approved' ? '✅' : '❌'} ${e.fromPhase ?? '?'}: ${who(e.actor)} ${when(e.at)}${typeof note === 'string' ? ` (${escapeMarkdown(truncate(note, 80))})` : ''}`;
    });
    fields.push(field('Decisions', lines.length > 0 ? lines.join('\n') : 'none yet'));
    fields.push(field('Started', `${when(state.startedAt, 'f')} by ${who(state.startedBy)}`));
  }
  return embed(`${state.feature}: ${phase?.name ?? 'starting'}`, statusColor(state), undefined, fields, footerOf(state.stage, state.executionId));
}

/** `/rollout status`: one feature in detail, or every feature of the stage in brief (at most 10, Discord's limit). */
export function statusMessage(views: readonly FeatureStatusView[], stage: string): DiscordMessage {
  if (views.length === 0) return message([embed(`No features on stage ${stage}`, COLORS.quiet, 'No rollout plans are deployed.')]);
  const detailed = views.length === 1;
  const embeds = views.slice(0, LIMITS.embeds).map((v) => featureEmbed(v, detailed));
  const more = views.length > LIMITS.embeds ? `${views.length - LIMITS.embeds} more feature(s): name one with /rollout status <feature>` : undefined;
  return message(embeds, more ? { content: more } : {});
}

/** `/rollout budget`: each LLM sub-feature's spend today. */
export function budgetMessage(status: FeatureBudgetStatus): DiscordMessage {
  const fields = status.subFeatures.map((s) => {
    const state = s.overHardLimit ? '🚨 over the hard limit' : s.exhausted ? '⛔ exhausted: calls fall back' : '✅ within budget';
    const cap = s.capSource === 'admin' && s.capChange ? ` (set by ${who(s.capChange.by)}: ${escapeMarkdown(s.capChange.reason)})` : '';
    return field(
      `${status.feature}.${s.subFeature}`,
      `${state}\nSpent $${s.spentUsd.toFixed(2)} of $${s.capUsd.toFixed(2)}${cap}; $${s.remainingUsd.toFixed(2)} left\n` +
        `Hard limit $${s.hardLimitUsd.toFixed(2)} · ${s.calls} call(s) · ${s.reservations.live} in flight`,
    );
  });
  return message([embed(`💸 ${status.feature}: LLM budget for ${status.day} (UTC)`, COLORS.info, undefined, fields, `as of ${status.asOf}`)]);
}

/** The public answer to a successful `/rollout start`. */
export function startedMessage(feature: string, by: Actor, executionId: string, stage: string): DiscordMessage {
  return message([embed(`🚀 ${feature}: rollout started`, COLORS.info, `Started by ${who(by)}. Phase starts, gates and approval requests follow in the feature's channel.`, [], footerOf(stage, executionId))]);
}

/** The public answer to `/rollout promote`: the bake ended early, the gate decides next. */
export function promotedMessage(promoted: { feature: string; phase: string; executionId: string; bakeUntil?: string }, by: Actor, stage: string): DiscordMessage {
  const until = promoted.bakeUntil ? ` (it would have baked until <t:${Math.floor(Date.parse(promoted.bakeUntil) / 1000)}:f>)` : '';
  return message([
    embed(
      `⏩ ${promoted.feature}: bake of ${escapeMarkdown(promoted.phase)} ended`,
      COLORS.info,
      `Promoted by ${who(by)}${until}. The phase's gate decides next: proceed, hold, ask or roll back.`,
      [],
      footerOf(stage, promoted.executionId),
    ),
  ]);
}

/** The public answer to `/rollout retry`: a new execution started at `phase`, the phases before it skipped. */
export function retryStartedMessage(feature: string, by: Actor, phase: string, executionId: string, stage: string): DiscordMessage {
  return message([
    embed(
      `🔁 ${feature}: retried from ${escapeMarkdown(phase)}`,
      COLORS.info,
      `Started again by ${who(by)} at phase ${escapeMarkdown(phase)}; the phases before it are skipped. Gates and approval requests follow in the feature's channel.`,
      [],
      footerOf(stage, executionId),
    ),
  ]);
}

/** The public answer to a rollback from Discord. */
export function rolledBackMessage(feature: string, by: Actor, reason: string, targets: readonly { functionName: string; ok: boolean; ms: number }[], already: boolean): DiscordMessage {
  if (already) return message([embed(`⏪ ${feature}: already rolled back`, COLORS.quiet, 'Its targets are in the safe state; nothing was changed.')]);
  const lines = targets.map((t) => `${t.ok ? '✓' : '✗'} ${t.functionName} (${t.ms} ms)`).join('\n');
  return message([embed(`⏪ ${feature}: rolled back`, COLORS.bad, `By ${who(by)}: ${escapeMarkdown(reason)}`, lines ? [field('Targets', lines)] : [])]);
}

/** The public answer when a rollback from Discord is not finished yet and the stage's rollback worker continues it. */
export function rollbackContinuesMessage(feature: string, by: Actor, reason: string, targets: readonly { functionName: string; ok: boolean; error?: string }[]): DiscordMessage {
  const safe = targets.filter((t) => t.ok).length;
  return message([
    embed(
      `⏳ ${feature}: rolling back`,
      COLORS.waiting,
      `By ${who(by)}: ${escapeMarkdown(reason)}\n${safe} of ${targets.length} targets are safe; Phasegate keeps working on the rest and posts in this channel when every target is safe.`,
      [field('Not safe yet', lines(targets.filter((t) => !t.ok).map((t) => `… ${t.functionName}`)))],
    ),
  ]);
}

/** The public answer when a rollback from Discord could not make every target safe. */
export function rollbackFailedMessage(feature: string, error: string): DiscordMessage {
  return message([embed(`🚨 ${feature}: ROLLBACK FAILED`, COLORS.bad, `${escapeMarkdown(error)}\nCheck the targets and run /rollout rollback again.`)]);
}

/** The public answer to a pause or resume. */
export function controlMessage(action: 'paused' | 'resumed', state: RolloutState, by: Actor, reason?: string): DiscordMessage {
  const phase = state.plan.phases[state.phaseIndex]?.name ?? 'starting';
  return action === 'paused'
    ? message([embed(`⏸️ ${state.feature}: paused in phase ${phase}`, COLORS.waiting, `By ${who(by)}${reason ? `: ${escapeMarkdown(reason)}` : ''}. Gates hold and approvals wait until it is resumed.`, [], footerOf(state.stage, state.executionId))])
    : message([embed(`▶️ ${state.feature}: resumed in phase ${phase}`, COLORS.info, `By ${who(by)}. The next gate check decides as usual.`, [], footerOf(state.stage, state.executionId))]);
}

/** Most targets `/rollout verify` lists one by one (an embed takes 25 fields); the rest are counted. */
const MAX_VERIFY_TARGETS = 20;

function verifiedTarget(t: TargetVerification): APIEmbedField {
  const name = `${t.drift.length > 0 || !t.readable ? '❌' : '✅'} ${t.target}${t.version ? ` (version ${t.version})` : ''}`;
  const rows: string[] = [];
  if (!t.readable) rows.push(`Cannot be read: ${escapeMarkdown(t.error ?? 'unknown error')}`);
  else if (t.drift.length === 0) rows.push(`In sync: ${t.flags.length} flag(s) as expected`);
  else for (const d of t.drift) rows.push(`\`${d.name}\` expected \`${escapeMarkdown(d.expected) || '(empty)'}\`, is ${d.actual === null ? 'absent' : `\`${escapeMarkdown(d.actual) || '(empty)'}\``}`);
  if (t.lastChange) rows.push(`Last changed by ${escapeMarkdown(t.lastChange.by)}${t.lastChange.eventName ? ` (${t.lastChange.eventName})` : ''} ${when(t.lastChange.at)}`);
  else if (t.lastModified) rows.push(`Last modified ${when(t.lastModified)} (by whom: no CloudTrail event seen)`);
  if (t.lastUpdateStatus && t.lastUpdateStatus !== 'Successful') rows.push(`Update ${t.lastUpdateStatus}`);
  if (t.backoffUntil) rows.push(`Keeps drifting: Phasegate leaves it alone until ${when(t.backoffUntil, 'f')}`);
  return field(name, rows.join('\n'));
}

/** `/rollout verify`: per target (and alias), expected against actual flags, the drift, and who changed it last. */
export function verifyMessage(v: FeatureVerification): DiscordMessage {
  const basis = v.basis === 'safe' ? "the rollback's safe values" : v.basis === 'completed' ? "the last phase's flags" : v.phase ? `phase ${v.phase}'s flags` : undefined;
  const drifted = v.targets.filter((t) => t.drift.length > 0 || !t.readable).length;
  const summary = v.note
    ? v.note
    : drifted > 0
      ? `${drifted} of ${v.targets.length} target(s) do not serve ${basis}. Phasegate repairs drift of a rollout in progress or rolled back on the next CloudTrail event, gate or scheduled check.`
      : `Every target (${v.targets.length}) serves ${basis}.`;
  const fields = v.targets.slice(0, MAX_VERIFY_TARGETS).map(verifiedTarget);
  if (v.targets.length > MAX_VERIFY_TARGETS) {
    const rest = v.targets.slice(MAX_VERIFY_TARGETS);
    fields.push(field(`${rest.length} more target(s)`, `${rest.filter((t) => t.drift.length > 0 || !t.readable).length} of them drift: see \`phasegate verify ${v.feature}\``));
  }
  const title = `${v.drifted ? '❌' : '🔍'} ${v.feature}: ${v.drifted ? 'drift' : v.note ? 'nothing to verify' : 'in sync'}`;
  const status = v.status ? `${v.status}${v.phase ? `, phase ${v.phase}` : ''}` : 'never rolled out';
  const footer = `${v.stage ? `stage ${v.stage} · ` : ''}${status} · checked ${v.checkedAt}`;
  return message([embed(title, v.drifted ? COLORS.bad : v.note ? COLORS.quiet : COLORS.ok, summary, fields, footer)]);
}

/** `/rollout history`: the feature's latest audit events, newest first, one line each (as `phasegate history` lists them). */
export function historyMessage(feature: string, stage: string, events: readonly AuditEvent[]): DiscordMessage {
  if (events.length === 0) return message([embed(`📜 ${feature}: no history`, COLORS.quiet, `${feature} has no recorded events on stage ${stage}.`)]);
  const lines = events.map((e) => {
    const phase = e.toPhase ?? e.fromPhase;
    return `${when(e.at, 'f')} · **${e.action}**${phase ? ` (${escapeMarkdown(phase)})` : ''} by ${who(e.actor)}: ${escapeMarkdown(truncate(e.message, 300))}`;
  });
  // Whole lines only, within the description's limit.
  const shown: string[] = [];
  for (const line of lines) {
    if ([...shown, line].join('\n').length > LIMITS.description - 80) break;
    shown.push(line);
  }
  const more = lines.length - shown.length;
  return message([
    embed(
      `📜 ${feature}: the latest ${shown.length} event(s)`,
      COLORS.info,
      `${shown.join('\n')}${more > 0 ? `\n… ${more} more: \`phasegate history ${feature} --stage ${stage}\`` : ''}`,
      [],
      `stage ${stage} · newest first`,
    ),
  ]);
}

/** The public answer to `/rollout report`: the report is on its way to the feature's channel. */
export function reportRequestedMessage(feature: string, by: Actor): DiscordMessage {
  return message([embed(`📊 ${feature}: phase report requested`, COLORS.info, `By ${who(by)}. The report (figures against the bands, the recommendation and a picture) is posted in the feature's channel in a moment.`)]);
}

/** The answer to `/rollout report` on a stage without daily reports. */
export function reportUnavailableMessage(feature: string): DiscordMessage {
  return message([embed(`📊 ${feature}: no phase reports on this stage`, COLORS.quiet, 'No plan of this stage has report settings (`report.time`), so the stage has no report function. `phasegate report <feature>` shows the same figures.')]);
}
