import { createHash } from 'node:crypto';

/**
 * The `custom_id` of Phasegate's approval buttons and of the reject-reason modal. Discord hands a button's
 * `custom_id` back when it is clicked, and caps it at 100 characters. A button names the feature, the phase and
 * the execution it was made for, so a button left over from an earlier phase or rollout can never decide a later
 * one.
 *
 * An execution ARN alone is longer than 100 characters, so the id carries a short stable hash of the execution
 * id instead: the endpoint hashes the execution the feature runs now and compares. A match makes the decision
 * for exactly that execution (`decide(..., { executionId })`); a mismatch is refused as stale. Layout:
 *
 *     pg1:<a|r|m|p>:<feature>:<phase>:<hash12>    a = approve, r = reject (opens the modal), m = the modal, p = pause
 *
 * Feature ids and phase names are `[a-z0-9-]` of at most 40 characters (the plan validator's rules), so the
 * longest id is 4 + 2 + 40 + 1 + 40 + 1 + 12 = 100 characters.
 */

/** Discord's limit on a component's `custom_id`. */
export const CUSTOM_ID_MAX_LENGTH = 100;

/** Length of the execution hash in a `custom_id`: 72 bits of SHA-256, base64url. */
export const EXECUTION_HASH_LENGTH = 12;

/**
 * What an approval component does. `reject-reason` is the modal that asks why, opened by the Reject button;
 * `pause` holds the rollout in its phase (the approval keeps waiting).
 */
export type ApprovalComponentAction = 'approve' | 'reject' | 'reject-reason' | 'pause';

/** What an approval button or modal was made for. */
export interface ApprovalComponent {
  readonly action: ApprovalComponentAction;
  readonly feature: string;
  readonly phase: string;
  /** {@link executionHash} of the execution the request was posted for. */
  readonly executionHash: string;
}

const CODES: Readonly<Record<ApprovalComponentAction, string>> = { approve: 'a', reject: 'r', 'reject-reason': 'm', pause: 'p' };
const ACTIONS: Readonly<Record<string, ApprovalComponentAction>> = { a: 'approve', r: 'reject', m: 'reject-reason', p: 'pause' };
const PATTERN = /^pg1:([armp]):([a-z][a-z0-9-]{1,39}):([a-z0-9][a-z0-9-]{0,39}):([A-Za-z0-9_-]{12})$/;

/** A short, stable hash of an execution id (an execution ARN): what a `custom_id` carries instead of the ARN. */
export function executionHash(executionId: string): string {
  return createHash('sha256').update(executionId).digest('base64url').slice(0, EXECUTION_HASH_LENGTH);
}

/** The `custom_id` of an approval component. Throws if the parts would not fit (they always do for valid plans). */
export function encodeCustomId(component: ApprovalComponent): string {
  const id = `pg1:${CODES[component.action]}:${component.feature}:${component.phase}:${component.executionHash}`;
  if (!PATTERN.test(id) || id.length > CUSTOM_ID_MAX_LENGTH) {
    throw new RangeError(`cannot encode a custom_id for feature ${JSON.stringify(component.feature)} phase ${JSON.stringify(component.phase)}`);
  }
  return id;
}

/** The approval component a `custom_id` names, or undefined when it is not one of Phasegate's. */
export function decodeCustomId(customId: unknown): ApprovalComponent | undefined {
  if (typeof customId !== 'string' || customId.length > CUSTOM_ID_MAX_LENGTH) return undefined;
  const match = PATTERN.exec(customId);
  if (!match) return undefined;
  return { action: ACTIONS[match[1]!]!, feature: match[2]!, phase: match[3]!, executionHash: match[4]! };
}
