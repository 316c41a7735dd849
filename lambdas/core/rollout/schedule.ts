import { WEEKDAYS, type PhaseStart } from '../plan/schema';

/**
 * Scheduled phase starts ("Enable Beta Day 4, 9:00 AM", "Friday 9 AM"), pure: the next time of day in a named time
 * zone, on an allowed day of the week, at or after a moment. Daylight saving time is followed the way people read a
 * wall clock: 09:00 is 09:00 local on either side of a change; a time that does not exist that day (skipped by a
 * spring-forward) starts at the same wall-clock offset after the change.
 */

interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly weekday: (typeof WEEKDAYS)[number];
}

const WEEKDAY_OF: Readonly<Record<string, (typeof WEEKDAYS)[number]>> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};

/** The wall clock in `timeZone` at `at`. */
export function wallClock(at: Date, timeZone: string): WallClock {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
  }).formatToParts(at);
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return {
    year: Number(get('year')),
    month: Number(get('month')),
    day: Number(get('day')),
    hour: Number(get('hour')) % 24,
    minute: Number(get('minute')),
    weekday: WEEKDAY_OF[get('weekday')] ?? 'mon',
  };
}

/** Minutes `timeZone` is ahead of UTC at `at`. */
function offsetMinutes(at: Date, timeZone: string): number {
  const w = wallClock(at, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
  return Math.round((asUtc - Math.floor(at.getTime() / 60_000) * 60_000) / 60_000);
}

/** The instant the wall clock in `timeZone` shows this local date and time. */
function instantOf(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): Date {
  const naive = Date.UTC(year, month - 1, day, hour, minute);
  const first = naive - offsetMinutes(new Date(naive), timeZone) * 60_000;
  // Around a daylight saving change the offset at the first guess may be the other one: settle on the second reading.
  return new Date(naive - offsetMinutes(new Date(first), timeZone) * 60_000);
}

/**
 * The first moment at or after `after` when the wall clock in `start.timeZone` shows `start.time` on one of
 * `start.days` (any day when unset).
 */
export function nextPhaseStart(start: PhaseStart, after: Date): Date {
  const [hour, minute] = start.time.split(':').map(Number) as [number, number];
  const today = wallClock(after, start.timeZone);
  for (let i = 0; i <= 8; i++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + i));
    const candidate = instantOf(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), hour, minute, start.timeZone);
    if (candidate.getTime() < after.getTime()) continue;
    const weekday = wallClock(candidate, start.timeZone).weekday;
    if (start.days && !start.days.includes(weekday)) continue;
    return candidate;
  }
  throw new RangeError(`no start of ${start.time} ${start.timeZone} on ${start.days?.join(', ') ?? 'any day'} within 8 days of ${after.toISOString()}`);
}
