import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readableDiscordTime, terminalText } from '../../local/discord';
import { captureFunctionLogs, fitToWidth, formatTimelineEntry, parseRehearseArgs, RehearseArgsError } from '../../local/rehearse';

/** How the rehearsal reads in a terminal: Discord posts rendered, lines fitted to the width, the functions' logs kept aside. */

describe('a Discord message in the terminal', () => {
  const message = {
    content: '<@&1100000000000000012> a decision is needed',
    embeds: [
      {
        title: '**ux-update**: phase pm waits for approval',
        description: 'Requested by **Pat (PM)** (<@1577000000000000001>); decide by <t:1796134637:f>, or it rolls back.\nSee [the dashboard](https://example.com/d) in <#1100000000000000003>.',
        fields: [{ name: 'Next', value: '*developer* at 25%' }],
      },
    ],
    components: [
      {
        type: 1,
        components: [
          { type: 2, style: 3, label: 'Approve', custom_id: 'a' },
          { type: 2, style: 4, label: 'Reject', custom_id: 'r' },
          { type: 2, style: 2, label: 'Pause', custom_id: 'p' },
        ],
      },
    ],
  };

  it('shows names, readable times, no markup, and the buttons', () => {
    const text = terminalText(message, {
      users: { '1577000000000000001': 'Pat (PM)' },
      roles: { '1100000000000000012': 'pm' },
      channels: { '1100000000000000003': 'phasegate' },
    });
    expect(text).toBe(
      [
        '@pm a decision is needed',
        'ux-update: phase pm waits for approval',
        'Requested by Pat (PM) (@Pat (PM)); decide by 2026-12-01 14:17 UTC, or it rolls back.',
        'See the dashboard (https://example.com/d) in #phasegate.',
        'Next: developer at 25%',
        '[Approve] [Reject] [Pause]',
      ].join('\n'),
    );
  });

  it('keeps an id nobody named, and leaves underscores inside names alone', () => {
    expect(terminalText({ content: 'by <@42> for snake_case_flag', embeds: [], components: [] })).toBe('by @42 for snake_case_flag');
  });

  it.each([
    ['f', '2026-12-01 14:17 UTC'],
    ['R', '2026-12-01 14:17 UTC'],
    ['t', '14:17 UTC'],
    ['T', '14:17:17 UTC'],
    ['d', '2026-12-01'],
  ])('renders a %s timestamp as %s', (style, expected) => {
    expect(readableDiscordTime(1796134637, style)).toBe(expected);
  });
});

describe('lines fitted to the terminal width', () => {
  it('wraps at spaces under the prefix and never passes the width', () => {
    const lines = fitToWidth('  +1.00s  ', 'one two three four five six seven eight nine ten eleven twelve', 30);
    expect(lines.every((l) => l.length <= 30)).toBe(true);
    expect(lines[0]).toMatch(/^ {2}\+1\.00s {2}one two/);
    expect(lines.slice(1).every((l) => l.startsWith(' '.repeat(10)))).toBe(true);
    expect(lines.map((l) => l.trim()).join(' ').replace(/\+1\.00s /, '').trim()).toBe('one two three four five six seven eight nine ten eleven twelve');
  });

  it('cuts what would take more than the most lines with an ellipsis', () => {
    const lines = fitToWidth('> ', 'word '.repeat(200).trim(), 40, 3);
    expect(lines).toHaveLength(3);
    expect(lines[2]!.endsWith('…')).toBe(true);
    expect(lines.every((l) => l.length <= 40)).toBe(true);
  });

  it('cuts a word longer than a line', () => {
    const lines = fitToWidth('', 'x'.repeat(100), 30);
    expect(lines.map((l) => l.length)).toEqual([30, 30, 30, 10]);
  });

  it('fits a timeline entry, each line of a multi-line post included, at 80 columns', () => {
    const lines = formatTimelineEntry(
      { atMs: 1234, phase: 'pm', action: 'discord', text: 'raw', display: `#phasegate: ${'long text '.repeat(20)}\n[Approve] [Reject] [Pause]` },
      80,
    );
    expect(lines[0]).toMatch(/^ {2}\+1\.23s {2}pm {12}#phasegate: long text/);
    expect(lines.at(-1)).toBe(`${' '.repeat(24)}[Approve] [Reject] [Pause]`);
    expect(lines.every((l) => l.length <= 80)).toBe(true);
  });
});

describe("the functions' logs", () => {
  it('go to the file while captured, not to stdout, and the command still writes to stdout', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'phasegate-logs-')), 'nested', 'functions.log');
    const seen: string[] = [];
    const real = process.stdout.write;
    process.stdout.write = ((chunk: string) => {
      seen.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      const capture = captureFunctionLogs(file);
      try {
        process.stdout.write('{"level":"INFO","message":"flags written"}\n');
        process.stdout.write(Buffer.from('{"level":"WARN","message":"as bytes"}\n'));
        capture.write('timeline line\n');
      } finally {
        capture.restore();
      }
      process.stdout.write('after\n');
    } finally {
      process.stdout.write = real;
    }
    expect(seen).toEqual(['timeline line\n', 'after\n']);
    expect(readFileSync(file, 'utf8')).toBe('{"level":"INFO","message":"flags written"}\n{"level":"WARN","message":"as bytes"}\n');
  });

  it('are asked for with --log-file or --verbose, not both', () => {
    expect(parseRehearseArgs(['--log-file', '/tmp/x.log'])).toMatchObject({ logFile: '/tmp/x.log', verbose: false });
    expect(parseRehearseArgs(['--verbose'])).toMatchObject({ verbose: true });
    expect(parseRehearseArgs([]).logFile).toBeUndefined();
    expect(() => parseRehearseArgs(['--verbose', '--log-file', 'x'])).toThrow(RehearseArgsError);
  });
});
