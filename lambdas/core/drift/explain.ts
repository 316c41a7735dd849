import { evaluate, type FlagEvaluation } from '../../../runtime/index';
import { planFlagSets } from '../flags/flags';
import type { Plan } from '../plan/schema';

/**
 * `phasegate flags explain`: what one user gets from the variables a target serves now, and why, evaluated by the very
 * reader target functions install (`@phasegate/runtime`), per feature and sub-feature.
 */

/** One flag set's answer for the user. */
export interface FlagExplanation {
  /** `ux-update` or `ux-update.llm-parsing`. */
  readonly key: string;
  readonly enabled: boolean;
  readonly evaluation: FlagEvaluation;
  /** The variables this answer was read from, as the target serves them (null: absent). */
  readonly variables: Readonly<Record<string, string | null>>;
  /** The rule, in words: kill switch, role match, bucket against percent, parent feature. */
  readonly why: string;
}

/** Who is asked about. */
export interface ExplainUser {
  readonly userId?: string;
  readonly roles: readonly string[];
}

/** Pure: every flag set of `plan` evaluated for `user` against `variables`. */
export function explainFlags(plan: Plan, variables: Readonly<Record<string, string>>, user: ExplainUser): FlagExplanation[] {
  return planFlagSets(plan).map((set) => {
    const evaluation = evaluate(set.key, { roles: user.roles, ...(user.userId !== undefined ? { userId: user.userId } : {}) }, { env: variables });
    const names = [set.names.enabled.name, set.names.roles, set.names.percent];
    return {
      key: set.key,
      enabled: evaluation.enabled,
      evaluation,
      variables: Object.fromEntries(names.map((n) => [n, variables[n] ?? null])),
      why: because(evaluation, set.names.enabled, variables, user),
    };
  });
}

function because(e: FlagEvaluation, enabled: { name: string; inverted: boolean }, variables: Readonly<Record<string, string>>, user: ExplainUser): string {
  const switchText = enabled.inverted ? `kill switch ${enabled.name}=${variables[enabled.name] ?? '(absent)'}` : `${enabled.name}=${variables[enabled.name] ?? '(absent)'}`;
  switch (e.reason) {
    case 'ENABLED_FOR_ALL':
      return `on for everyone (roles *, 100 %; ${switchText})`;
    case 'TARGETED':
      return `role ${user.roles.join(', ')} is allowed, 100 %`;
    case 'INSIDE_PERCENT':
      return `role allowed; bucket ${e.bucket} < percent ${e.percent}`;
    case 'OUTSIDE_PERCENT':
      return `role allowed, but bucket ${e.bucket} >= percent ${e.percent}`;
    case 'ROLE_NOT_ALLOWED':
      return `none of the roles ${user.roles.join(', ') || '(none)'} is allowed`;
    case 'DISABLED':
      return `off for everyone (${switchText}${e.percent !== undefined ? `, percent ${e.percent}` : ''})`;
    case 'PARENT_DISABLED':
      return `its feature is off for this user${e.parent ? ` (${e.parent.reason})` : ''}`;
    case 'MISSING_USER_ID':
      return `a percentage between 0 and 100 needs a user id (--user)`;
    case 'MISSING_FLAGS':
      return `variable ${e.variable} is not set: off (fail closed)${e.decidedBy ? `, in ${e.decidedBy}` : ''}`;
    case 'INVALID_FLAGS':
      return `variable ${e.variable} cannot be read: off (fail closed)`;
  }
}
