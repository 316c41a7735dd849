import fc from 'fast-check';
import { durationToSeconds, formatSeconds, isIsoDuration } from '../../lambdas/core/plan/duration';

describe('ISO 8601 durations', () => {
  it.each([
    ['PT30M', 1800],
    ['PT48H', 172800],
    ['P5D', 432000],
    ['P1W', 604800],
    ['P2W3D', 2 * 604800 + 3 * 86400],
    ['P1DT12H', 129600],
    ['PT1H30M', 5400],
    ['PT45S', 45],
    ['PT0S', 0],
    ['P0D', 0],
    ['PT1.5S', 2],
    ['PT0.4S', 0],
    ['P1DT2H3M4S', 86400 + 7200 + 180 + 4],
    ['PT90M', 5400],
    ['PT100000H', 360000000],
  ])('%s is %d seconds', (text, seconds) => {
    expect(isIsoDuration(text)).toBe(true);
    expect(durationToSeconds(text)).toBe(seconds);
  });

  it.each([
    '',
    'P',
    'PT',
    'P1DT',
    '2 days',
    '30m',
    'pt30m',
    'P1Y',
    'P1M',
    'P1Y2M',
    'PT1.5H',
    'PT1,5S',
    'P-1D',
    '-P1D',
    'P1D ',
    ' PT1H',
    'PT1H1D',
    'P1DT1H1H',
    'PT1S1M',
    'T1H',
    'P1.5D',
    '1H',
    'PT∞H',
  ])('%j is refused', (text) => {
    expect(isIsoDuration(text)).toBe(false);
    expect(() => durationToSeconds(text)).toThrow(`expected ISO 8601 duration (e.g. PT30M, PT48H, P5D), got ${JSON.stringify(text)}`);
  });

  it('adds up every component', () => {
    fc.assert(
      fc.property(
        fc.record({ w: fc.nat(60), d: fc.nat(400), h: fc.nat(1000), m: fc.nat(1000), s: fc.nat(100000) }),
        ({ w, d, h, m, s }) => {
          const text = `P${w}W${d}DT${h}H${m}M${s}S`;
          expect(isIsoDuration(text)).toBe(true);
          expect(durationToSeconds(text)).toBe(w * 604800 + d * 86400 + h * 3600 + m * 60 + s);
        },
      ),
    );
  });
});

describe('formatSeconds', () => {
  it.each([
    [0, '0s'],
    [1, '1s'],
    [45, '45s'],
    [60, '1m'],
    [90, '1m 30s'],
    [1800, '30m'],
    [3600, '1h'],
    [5400, '1h 30m'],
    [172800, '2d'],
    [432000, '5d'],
    [129600, '1d 12h'],
    [90061, '1d 1h 1m 1s'],
    [604800, '7d'],
    [59.6, '1m'],
  ])('%d -> %s', (seconds, text) => {
    expect(formatSeconds(seconds)).toBe(text);
  });

  it('formats every duration of a plan', () => {
    expect(['PT10M', 'PT48H', 'P5D', 'P7D', 'PT4H', 'PT12H', 'P1D'].map((d) => formatSeconds(durationToSeconds(d)))).toEqual([
      '10m',
      '2d',
      '5d',
      '7d',
      '4h',
      '12h',
      '1d',
    ]);
  });

  it('never returns an empty string: a fraction of a second rounds to 0s', () => {
    expect(formatSeconds(0.4)).toBe('0s');
  });

  it('round-trips with durationToSeconds for whole seconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 365 * 86400 }), (seconds) => {
        const text = formatSeconds(seconds);
        const iso = text === '0s' ? 'PT0S' : toIso(text);
        expect(durationToSeconds(iso)).toBe(seconds);
      }),
    );
  });
});

/** `1d 2h 3m 4s` -> `P1DT2H3M4S`. */
function toIso(text: string): string {
  const parts = Object.fromEntries(text.split(' ').map((p) => [p.slice(-1), p.slice(0, -1)]));
  const time = ['h', 'm', 's'].filter((u) => parts[u]).map((u) => `${parts[u]}${u.toUpperCase()}`).join('');
  return `P${parts.d ? `${parts.d}D` : ''}${time ? `T${time}` : ''}`;
}
