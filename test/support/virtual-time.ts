/**
 * Time for the Lambda fake, the call scheduler and the flag writer that moves only when everyone waiting sleeps: a
 * `sleep(ms)` registers a timer, and on the next turn of the event loop time jumps to the earliest timer and wakes
 * it. Timers fire in the order of their times, as real ones do, but no test waits for real: quotas refill, updates
 * settle and deadlines pass in the same order however busy the machine is.
 */
export interface VirtualTime {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  advance(ms: number): void;
}

/** A {@link VirtualTime} starting at `start` (epoch ms). */
export function virtualTime(start = Date.parse('2026-11-02T09:00:00.000Z')): VirtualTime {
  let t = start;
  const timers: { at: number; resolve: () => void }[] = [];
  let ticking = false;
  const tick = (): void => {
    ticking = false;
    if (timers.length === 0) return;
    timers.sort((a, b) => a.at - b.at);
    t = Math.max(t, timers[0]!.at);
    const due = timers.filter((timer) => timer.at <= t);
    timers.splice(0, due.length);
    for (const timer of due) timer.resolve();
    if (timers.length > 0) schedule();
  };
  const schedule = (): void => {
    if (ticking) return;
    ticking = true;
    setImmediate(tick);
  };
  return {
    now: () => t,
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        timers.push({ at: t + Math.max(1, ms), resolve });
        schedule();
      }),
    advance(ms: number) {
      t += ms;
    },
  };
}
