import type { PhasegateRole, Plan } from '../plan/schema';

/**
 * Who a CLI caller is, as Phasegate sees it. With AWS, the caller is the principal ARN that STS
 * GetCallerIdentity returns (`arn:aws:sts::123456789012:assumed-role/OnCall/alice`); against a local rehearsal
 * it is `local:<os user>`. A plan's `principals` maps patterns of those to Phasegate roles, as `discord.roles`
 * maps Discord roles. Pure functions, no AWS SDK.
 */

/** Prefix of the principal a CLI caller has against a local rehearsal: `local:<os user>`. */
export const LOCAL_PRINCIPAL_PREFIX = 'local:';

/** Splits an ARN into its six parts (`arn:partition:service:region:account:resource`); the resource keeps its colons. */
function arnParts(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

/** `*` matches any run of characters (also none), `?` exactly one; everything else itself, case-sensitively. */
function globMatches(pattern: string, text: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 's').test(text);
}

/**
 * Whether `principal` matches `pattern`, the way IAM's `ArnLike` condition compares ARNs: each of the six
 * colon-separated parts separately (so a `*` never reaches across a colon into the next part), with `*` and `?`
 * wildcards, case-sensitively. Non-ARN principals (`local:alice`) are compared as a whole with the same wildcards.
 */
export function principalMatches(pattern: string, principal: string): boolean {
  const wanted = arnParts(pattern);
  const actual = arnParts(principal);
  if (!wanted || !actual) return !wanted && !actual && globMatches(pattern, principal);
  return wanted.every((part, i) => globMatches(part, actual[i]!));
}

/**
 * Phasegate roles a CLI caller holds through the plan's `principals` mapping: the union of the roles of every
 * pattern the principal matches. Empty when no pattern matches: the caller holds no role and is refused like a
 * Discord member without a mapped role.
 */
export function rolesFromPrincipal(plan: Pick<Plan, 'principals'>, principal: string): PhasegateRole[] {
  const roles = new Set<PhasegateRole>();
  for (const [pattern, granted] of Object.entries(plan.principals)) {
    if (principalMatches(pattern, principal)) for (const role of granted) roles.add(role);
  }
  return [...roles];
}

/**
 * The name to show for a principal: the session name of an assumed role, the user name of an IAM or federated
 * user, `root` for an account's root user, the user of `local:<user>`; otherwise the principal itself.
 */
export function principalName(principal: string): string {
  if (principal.startsWith(LOCAL_PRINCIPAL_PREFIX)) return principal.slice(LOCAL_PRINCIPAL_PREFIX.length) || principal;
  const parts = arnParts(principal);
  if (!parts) return principal;
  const resource = parts[5]!;
  if (resource === 'root') return 'root';
  const [kind, ...rest] = resource.split('/');
  if ((kind === 'assumed-role' || kind === 'user' || kind === 'federated-user') && rest.length > 0) return rest.at(-1) || principal;
  return principal;
}
