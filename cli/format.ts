import { formatSeconds } from '../lambdas/core/plan/duration';

/** Text layout for the CLI's human output: tables and wrapped lines that fit a terminal (80 columns by default). */

/** The width human output is laid out for when the terminal does not say. */
export const DEFAULT_WIDTH = 80;

/** `2026-11-02T09:00:01.123Z` -> `2026-11-02 09:00:01Z` (UTC, to the second). */
export function utcTime(iso: string | undefined): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** How long ago `iso` was, relative to `now`: `45s ago`, `3h 12m ago`. */
export function ago(iso: string | undefined, now: Date): string {
  if (!iso) return '';
  const seconds = (now.getTime() - Date.parse(iso)) / 1000;
  if (Number.isNaN(seconds)) return '';
  if (seconds < 1) return 'just now';
  // Two units are enough to read at a glance.
  return `${formatSeconds(seconds).split(' ').slice(0, 2).join(' ')} ago`;
}

/** `text` cut to `width` characters, ending with `...` when cut. */
export function truncate(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 3) return text.slice(0, width);
  return `${text.slice(0, width - 3)}...`;
}

/** Words of `text` laid out in lines of at most `width` characters; a word longer than a line is cut into pieces. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (let word of paragraph.split(/\s+/).filter(Boolean)) {
      while (word.length > width) {
        if (line) lines.push(line);
        lines.push(word.slice(0, width));
        word = word.slice(width);
        line = '';
      }
      if (!line) line = word;
      else if (line.length + 1 + word.length <= width) line += ` ${word}`;
      else {
        lines.push(line);
        line = word;
      }
    }
    lines.push(line);
  }
  return lines;
}

/** `label` then `value` wrapped under itself: `  approval   required, by pm or admin`. */
export function field(label: string, value: string, options: { width?: number; labelWidth?: number; indent?: number } = {}): string[] {
  const width = options.width ?? DEFAULT_WIDTH;
  const indent = ' '.repeat(options.indent ?? 0);
  const labelWidth = options.labelWidth ?? 12;
  const room = Math.max(20, width - indent.length - labelWidth);
  return wrap(value, room).map((line, i) => `${indent}${(i === 0 ? label : '').padEnd(labelWidth)}${line}`.trimEnd());
}

/** A column of {@link table}. */
export interface Column {
  readonly header: string;
  /** Allowed to shrink (cut with `...`) when the table is wider than the terminal; the last such column shrinks first. */
  readonly shrink?: boolean;
}

/**
 * Rows under headers, columns two spaces apart, as wide as their content but no wider than `width`: columns marked
 * `shrink` give up characters (right to left) until the table fits.
 */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[], width = DEFAULT_WIDTH): string[] {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const total = (): number => widths.reduce((a, b) => a + b, 0) + 2 * (columns.length - 1);
  for (let i = columns.length - 1; i >= 0 && total() > width; i--) {
    if (!columns[i]!.shrink) continue;
    widths[i] = Math.max(columns[i]!.header.length, 8, widths[i]! - (total() - width));
  }
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? truncate(cell, widths[i]!) : truncate(cell, widths[i]!).padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)];
}
