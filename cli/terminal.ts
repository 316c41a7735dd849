/**
 * What the CLI knows about the terminal it writes to: whether to colour, and "did you mean" suggestions for
 * mistyped words. Pure functions; the process facts (TTY, environment) come from the caller.
 */

/** ANSI styles the CLI uses, by meaning rather than by colour. */
export type Style = 'bold' | 'dim' | 'good' | 'bad' | 'warn' | 'accent';

const SGR: Readonly<Record<Style, readonly [number, number]>> = {
  bold: [1, 22],
  dim: [2, 22],
  good: [32, 39],
  bad: [31, 39],
  warn: [33, 39],
  accent: [36, 39],
};

/** Applies a style to text, or returns it unchanged when colour is off. */
export type Paint = (style: Style, text: string) => string;

/** A {@link Paint} that never colours. */
export const plain: Paint = (_style, text) => text;

/** A {@link Paint} that wraps text in ANSI SGR sequences. */
export const ansi: Paint = (style, text) => `\x1b[${SGR[style][0]}m${text}\x1b[${SGR[style][1]}m`;

/**
 * Whether output to a stream should be coloured: never when `NO_COLOR` is set to anything but the empty string
 * (https://no-color.org), nor on a dumb terminal; always when `FORCE_COLOR` is set (not `0`); otherwise only
 * when the stream is a terminal.
 */
export function colourWanted(env: Readonly<Record<string, string | undefined>>, isTTY: boolean): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.TERM === 'dumb') return false;
  return isTTY;
}

/** Text without ANSI escape sequences (for widths and tests). */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

/** Edit distance between two short words, a swap of neighbours counting as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidates close enough to `word` to be what was meant, closest first: within a third of the word's length
 * (at least 1, at most 3 edits), or having `word` as a prefix.
 */
export function didYouMean(word: string, candidates: readonly string[]): string[] {
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  return candidates
    .map((c) => ({ c, d: editDistance(word.toLowerCase(), c.toLowerCase()) }))
    .filter(({ c, d }) => d <= limit || (word.length >= 2 && c.startsWith(word.toLowerCase())))
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .map(({ c }) => c);
}
