import { durationToSeconds } from './plan/duration';
import type { Phase } from './plan/schema';

/** When a held phase checks its gate again, and when it stops holding and asks a person. */
export interface HoldPolicy {
  readonly intervalSeconds: number;
  readonly maxSeconds: number;
}

/** The phase's hold policy with defaults: re-check every bake (at most hourly), ask after one more bake. */
export function holdPolicy(phase: Pick<Phase, 'bake' | 'gates'>): HoldPolicy {
  const bake = durationToSeconds(phase.bake);
  const hold = phase.gates.hold;
  return {
    intervalSeconds: Math.max(1, hold?.interval ? durationToSeconds(hold.interval) : Math.min(bake, 3600)),
    maxSeconds: hold?.max ? durationToSeconds(hold.max) : bake,
  };
}
