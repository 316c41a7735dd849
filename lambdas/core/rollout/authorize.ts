import type { Phase, PhasegateRole, Plan } from '../plan/schema';
import { ownValue } from '../own';

/** What a person may ask Phasegate to do. */
export type RolloutAction = 'start' | 'pause' | 'resume' | 'promote' | 'rollback' | 'approve' | 'reject' | 'set-budget';

/** Roles allowed to take each action that does not depend on the phase. */
export const ACTION_ROLES: Readonly<Record<Exclude<RolloutAction, 'approve' | 'reject'>, readonly PhasegateRole[]>> = {
  start: ['pm', 'admin'],
  pause: ['pm', 'admin'],
  resume: ['pm', 'admin'],
  promote: ['pm', 'admin'],
  rollback: ['on-call', 'admin'],
  'set-budget': ['admin'],
};

/** Whether an action is allowed, and if not, a sentence saying why. */
export type Authorization = { ok: true } | { ok: false; reason: string };

/**
 * Who may do what. Approve and reject belong to the phase's approver roles (and, when the plan says so, never
 * to the person who started the rollout); everything else to {@link ACTION_ROLES}.
 */
export function authorize(
  action: RolloutAction,
  person: { id: string; roles: readonly PhasegateRole[] },
  context: { phase?: Phase; startedBy?: string } = {},
): Authorization {
  const held = person.roles.length > 0 ? person.roles.join(', ') : 'no Phasegate role';
  if (action === 'approve' || action === 'reject') {
    const phase = context.phase;
    if (!phase) return { ok: false, reason: 'no phase is waiting for a decision' };
    const approvers = phase.approval.approvers;
    if (!person.roles.some((r) => approvers.includes(r))) {
      return { ok: false, reason: `only ${approvers.join(' or ')} may ${action} phase ${phase.name}; you hold ${held}` };
    }
    if (!phase.approval.starterMayApprove && context.startedBy === person.id) {
      return { ok: false, reason: `the plan does not let the person who started the rollout ${action} its phases` };
    }
    return { ok: true };
  }
  const allowed = ACTION_ROLES[action];
  if (!person.roles.some((r) => allowed.includes(r))) {
    const what = action === 'set-budget' ? 'change the LLM budget' : `${action} a rollout`;
    return { ok: false, reason: `only ${allowed.join(' or ')} may ${what}; you hold ${held}` };
  }
  return { ok: true };
}

/** Phasegate roles a person holds through their Discord roles, per the plan's mapping. */
export function rolesFromDiscord(plan: Pick<Plan, 'discord'>, discordRoleIds: readonly string[]): PhasegateRole[] {
  const roles = new Set<PhasegateRole>();
  for (const id of discordRoleIds) for (const role of ownValue(plan.discord.roles, id) ?? []) roles.add(role);
  return [...roles];
}
