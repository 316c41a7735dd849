/** The part of the Lambda context a deadline is taken from. */
export interface RemainingTime {
  getRemainingTimeInMillis(): number;
}

/**
 * Time kept back from the invocation's end: enough to record what is safe and what is not, post to the channel and
 * hand the rest to a follow-up before Lambda kills the invocation at its timeout.
 */
export const DEADLINE_MARGIN_MS = 20_000;

/**
 * The deadline of the work in this invocation: its remaining time less {@link DEADLINE_MARGIN_MS} (at least a few
 * seconds, so a nearly spent invocation still tries once). Undefined outside Lambda (no context).
 */
export function invocationDeadline(context: RemainingTime | undefined, now: number = Date.now(), marginMs = DEADLINE_MARGIN_MS): Date | undefined {
  if (!context || typeof context.getRemainingTimeInMillis !== 'function') return undefined;
  const remaining = context.getRemainingTimeInMillis();
  if (!Number.isFinite(remaining)) return undefined;
  return new Date(now + Math.max(remaining - marginMs, Math.min(remaining / 2, 5_000)));
}
