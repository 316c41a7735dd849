/**
 * ISO 8601 durations as plans write them: `PT30M`, `PT48H`, `P5D`, `P1W`, `P1DT12H`.
 * Years and months are refused because their length in seconds depends on the calendar.
 */
/** The pattern of such a duration; the plan's JSON Schema carries it too, so editors check what the validator does. */
export const ISO_DURATION = /^P(?!$)(?:(\d+)W)?(?:(\d+)D)?(?:T(?!$)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** True when `text` is a duration {@link durationToSeconds} understands. */
export function isIsoDuration(text: string): boolean {
  return ISO_DURATION.test(text);
}

/** Seconds in an ISO 8601 duration; throws on anything {@link isIsoDuration} refuses. */
export function durationToSeconds(text: string): number {
  const m = ISO_DURATION.exec(text);
  if (!m) throw new Error(`expected ISO 8601 duration (e.g. PT30M, PT48H, P5D), got ${JSON.stringify(text)}`);
  const [, weeks, days, hours, minutes, seconds] = m;
  const n = (v: string | undefined): number => (v === undefined ? 0 : Number(v));
  return Math.round(n(weeks) * 604800 + n(days) * 86400 + n(hours) * 3600 + n(minutes) * 60 + n(seconds));
}

/** A short human form of a number of seconds: `48h`, `5d`, `1d 12h`, `30m`, `45s`. */
export function formatSeconds(total: number): string {
  const parts: string[] = [];
  const units: [number, string][] = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'm'],
    [1, 's'],
  ];
  let rest = Math.round(total);
  if (rest <= 0) return '0s';
  for (const [size, unit] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join(' ');
}
