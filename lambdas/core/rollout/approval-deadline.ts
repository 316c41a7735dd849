import { durationToSeconds } from '../plan/duration';
import type { Phase } from '../plan/schema';

/** How long an approval waits for a person's decision when the phase does not say: 7 days. */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 7 * 24 * 3600;

/**
 * How long the phase's approval waits before it times out, in seconds: the plan's `approval.timeout`, else
 * {@link DEFAULT_APPROVAL_TIMEOUT_SECONDS}. The state machine's approval task times out then, and a timed-out
 * approval rolls the feature back.
 */
export function approvalTimeoutSeconds(phase: Pick<Phase, 'approval'>): number {
  return phase.approval.timeout === undefined ? DEFAULT_APPROVAL_TIMEOUT_SECONDS : durationToSeconds(phase.approval.timeout);
}

/** When an approval requested at `requestedAt` times out (ISO 8601). */
export function approvalDeadline(phase: Pick<Phase, 'approval'>, requestedAt: string): string {
  return new Date(Date.parse(requestedAt) + approvalTimeoutSeconds(phase) * 1000).toISOString();
}
