import { durationToSeconds } from '../plan/duration';
import type { Phase } from '../plan/schema';

/** When a held phase checks its gate again, and when it stops holding and asks a person. */
export interface HoldPolicy {
  readonly intervalSeconds: number;
  readonly maxSeconds: number;
}

/**
 * The phase's hold policy with defaults: re-check every bake (at most hourly), ask after one more bake. A bake range
 * (`bake` to `bakeMax`, "48-72 hours") holds for what is left of the range: past `bakeMax` a person is asked.
 */
export function holdPolicy(phase: Pick<Phase, 'bake' | 'gates'> & { readonly bakeMax?: string }): HoldPolicy {
  const bake = durationToSeconds(phase.bake);
  const hold = phase.gates.hold;
  const range = phase.bakeMax !== undefined ? Math.max(0, durationToSeconds(phase.bakeMax) - bake) : undefined;
  return {
    intervalSeconds: Math.max(1, hold?.interval ? durationToSeconds(hold.interval) : Math.min(range !== undefined && range > 0 ? range : bake, 3600)),
    maxSeconds: range ?? (hold?.max ? durationToSeconds(hold.max) : bake),
  };
}
