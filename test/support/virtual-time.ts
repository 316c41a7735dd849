/**
 * Time for the Lambda fake, the call scheduler and the flag writer that moves only when someone sleeps: every
 * `sleep(ms)` moves it forward by `ms` and yields to the event loop. Tests built on it never depend on how fast the
 * machine is: quotas refill, updates settle and deadlines pass in the same order however busy it is.
 */
export interface VirtualTime {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  advance(ms: number): void;
}

/** A {@link VirtualTime} starting at `start` (epoch ms). */
export function virtualTime(start = Date.parse('2026-11-02T09:00:00.000Z')): VirtualTime {
  let t = start;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += Math.max(1, ms);
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
    advance(ms: number) {
      t += ms;
    },
  };
}
