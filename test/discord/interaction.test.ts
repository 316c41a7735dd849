import fc from 'fast-check';
import { commandDefinitions, MAX_TEXT_LENGTH, SUBCOMMAND_SPECS, SUBCOMMANDS } from '../../lambdas/core/discord/commands';
import { CUSTOM_ID_MAX_LENGTH, decodeCustomId, encodeCustomId, executionHash } from '../../lambdas/core/discord/custom-id';
import { parseStagePlans, stagePlanOf, StagePlansInvalidError } from '../../lambdas/core/discord/directory';
import { parseInteraction } from '../../lambdas/core/discord/interaction';
import { approvalRequestMessage, statusMessage, truncate } from '../../lambdas/core/discord/messages';
import { discordPlan } from './world';

const member = { user: { id: '123456789012345678', username: 'priya', global_name: 'Priya' }, roles: ['1100000000000000012'], nick: null };
const base = { id: '1', application_id: '2', token: 'tok', guild_id: '3', channel_id: '4', member };
const command = (sub: unknown, options?: unknown, name = 'rollout') => ({
  ...base,
  type: 2,
  data: { name, type: 1, options: [{ name: sub, type: 1, ...(options !== undefined ? { options } : {}) }] },
});
const opt = (name: string, value: unknown, extra: object = {}) => ({ name, type: 3, value, ...extra });

describe('parseInteraction', () => {
  it('reads a PING', () => {
    expect(parseInteraction({ type: 1 })).toEqual({ kind: 'ping' });
  });

  it('reads a command with its invoker, roles and trimmed options', () => {
    expect(parseInteraction(command('approve', [opt('feature', 'ux-update'), opt('note', '  looks good  ')]))).toEqual({
      kind: 'command',
      meta: { id: '1', applicationId: '2', token: 'tok', guildId: '3', channelId: '4' },
      invoker: { id: '123456789012345678', name: 'Priya', roleIds: ['1100000000000000012'], inGuild: true },
      subcommand: 'approve',
      options: { feature: 'ux-update', note: 'looks good' },
    });
  });

  it('prefers the server nickname and marks a direct message as outside a server', () => {
    const dm = { ...command('status'), guild_id: undefined, member: undefined, user: { id: '9', username: 'dan' } };
    expect(parseInteraction(dm)).toMatchObject({ kind: 'command', invoker: { id: '9', name: 'dan', roleIds: [], inGuild: false } });
    const nick = { ...command('status'), member: { ...member, nick: 'P.' } };
    expect(parseInteraction(nick)).toMatchObject({ invoker: { name: 'P.' } });
  });

  it.each([
    ['a body that is not an object', [1, 2], 'http-400'],
    ['an unknown interaction type', { ...base, type: 42, data: {} }, 'http-400'],
    ['a missing type', { ...base, data: {} }, 'http-400'],
    ['no token', { ...command('status'), token: undefined }, 'http-400'],
    ['no user at all', { ...command('status'), member: undefined }, 'http-400'],
    ['no data', { ...base, type: 2 }, 'http-400'],
    ['another command', command('status', undefined, 'deploy'), 'ephemeral'],
    ['an unknown subcommand', command('destroy'), 'ephemeral'],
    ['an unknown option', command('status', [opt('colour', 'red')]), 'ephemeral'],
    ['an option that is not text', command('status', [{ name: 'feature', type: 4, value: 3 }]), 'ephemeral'],
    ['options that are not a list', command('status', { feature: 'x' }), 'ephemeral'],
    ['a missing required option', command('reject', [opt('feature', 'ux-update')]), 'ephemeral'],
    ['a blank required option', command('rollback', [opt('feature', 'ux-update'), opt('reason', '   ')]), 'ephemeral'],
    ['an over-long reason', command('rollback', [opt('feature', 'ux-update'), opt('reason', 'x'.repeat(MAX_TEXT_LENGTH + 1))]), 'ephemeral'],
    ['a button that is not Phasegate\'s', { ...base, type: 3, data: { custom_id: 'other:thing', component_type: 2 } }, 'ephemeral'],
    ['a select menu with a Phasegate id', { ...base, type: 3, data: { custom_id: 'pg1:a:ux-update:admin:AAAAAAAAAAAA', component_type: 3 } }, 'ephemeral'],
    ['a modal without a reason', { ...base, type: 5, data: { custom_id: 'pg1:m:ux-update:admin:AAAAAAAAAAAA', components: [] } }, 'ephemeral'],
  ])('refuses %s (%#)', (_what, raw, answer) => {
    expect(parseInteraction(raw)).toMatchObject({ kind: 'invalid', answer });
  });

  it('reads autocomplete with the focused option, even when required options are still missing', () => {
    const raw = { ...command('reject', [opt('feature', 'ux', { focused: true })]), type: 4 };
    expect(parseInteraction(raw)).toMatchObject({ kind: 'autocomplete', subcommand: 'reject', focused: { name: 'feature', value: 'ux' } });
  });

  it('reads a button and a reject-reason modal', () => {
    const id = encodeCustomId({ action: 'approve', feature: 'ux-update', phase: 'admin', executionHash: executionHash('arn:x') });
    expect(parseInteraction({ ...base, type: 3, data: { custom_id: id, component_type: 2 }, message: { id: '77' } })).toMatchObject({
      kind: 'button',
      component: { action: 'approve', feature: 'ux-update', phase: 'admin', executionHash: executionHash('arn:x') },
      messageId: '77',
    });
    const modal = { ...base, type: 5, data: { custom_id: id.replace(':a:', ':m:'), components: [{ type: 1, components: [{ type: 4, custom_id: 'reason', value: ' too many errors ' }] }] } };
    expect(parseInteraction(modal)).toMatchObject({ kind: 'modal', reason: 'too many errors', component: { action: 'reject-reason' } });
  });

  it('never throws, whatever JSON it is given', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const parsed = parseInteraction(value);
        expect(['ping', 'command', 'autocomplete', 'button', 'modal', 'invalid']).toContain(parsed.kind);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.record({ type: fc.integer({ min: 1, max: 5 }), data: fc.jsonValue(), member: fc.jsonValue() }), (value) => {
        parseInteraction({ ...base, ...value });
      }),
      { numRuns: 500 },
    );
  });
});

describe('custom_id', () => {
  it('round-trips and fits Discord\'s 100 characters with the longest feature and phase names', () => {
    const longest = { action: 'approve' as const, feature: `f${'x'.repeat(39)}`, phase: 'p'.repeat(40), executionHash: executionHash('arn:aws:states:us-east-1:123456789012:execution:phasegate-prod-x:' + 'y'.repeat(80)) };
    const id = encodeCustomId(longest);
    expect(id.length).toBe(CUSTOM_ID_MAX_LENGTH);
    expect(decodeCustomId(id)).toEqual(longest);
  });

  it('hashes executions stably and tells different ones apart', () => {
    expect(executionHash('arn:a')).toBe(executionHash('arn:a'));
    expect(executionHash('arn:a')).not.toBe(executionHash('arn:b'));
    expect(executionHash('arn:a')).toMatch(/^[A-Za-z0-9_-]{12}$/);
  });

  it.each(['', 'pg1:x:ux-update:admin:AAAAAAAAAAAA', 'pg1:a:UX:admin:AAAAAAAAAAAA', 'pg1:a:ux-update:admin:short', `pg1:a:ux-update:admin:AAAAAAAAAAAA${'x'.repeat(100)}`, 42])(
    'decodes %p to nothing',
    (raw) => {
      expect(decodeCustomId(raw)).toBeUndefined();
    },
  );
});

describe('command definitions', () => {
  const [rollout] = commandDefinitions() as unknown as [{ name: string; contexts: number[]; options: { name: string; description: string; options: { name: string; description: string; required: boolean; autocomplete?: boolean; max_length?: number }[] }[] }];

  it('define /rollout with every subcommand, guild-only', () => {
    expect(rollout.name).toBe('rollout');
    expect(rollout.contexts).toEqual([0]);
    expect(rollout.options.map((o) => o.name)).toEqual([...SUBCOMMANDS]);
  });

  it('keep every description within Discord\'s 100 characters', () => {
    for (const sub of rollout.options) {
      expect(sub.description.length).toBeLessThanOrEqual(100);
      for (const o of sub.options) expect(o.description.length).toBeLessThanOrEqual(100);
    }
  });

  it('autocomplete every feature option and every option from a known list, bound numbers and cap free text', () => {
    for (const sub of rollout.options) {
      const specs = SUBCOMMAND_SPECS[sub.name as keyof typeof SUBCOMMAND_SPECS].options;
      expect(sub.options.map((o) => o.name)).toEqual(specs.map((o) => o.name));
      for (const o of sub.options) {
        const spec = specs.find((x) => x.name === o.name)!;
        if (o.name === 'feature' || spec.autocomplete) expect(o.autocomplete).toBe(true);
        else if (spec.type === 'number' || spec.type === 'integer') expect([(o as { type?: number }).type, (o as { min_value?: number }).min_value]).toEqual([spec.type === 'number' ? 10 : 4, spec.min]);
        else expect(o.max_length).toBe(MAX_TEXT_LENGTH);
      }
    }
    expect(rollout.options.find((o) => o.name === 'status')!.options[0]!.required).toBe(false);
    expect(rollout.options.find((o) => o.name === 'rollback')!.options.map((o) => o.required)).toEqual([true, true]);
  });
});

describe('stage plans (PHASEGATE_PLANS)', () => {
  it('carry what the endpoint needs and parse back', () => {
    const plan = discordPlan('ux-update', {
      subFeatures: [
        { id: 'llm-parsing', llm: { dailyCapUsd: 5, hardLimitUsd: 10 } },
        { id: 'plain', flags: {} },
      ],
    });
    const summary = stagePlanOf(plan);
    expect(summary).toEqual({
      feature: 'ux-update',
      phases: ['admin', 'pm', 'ga'],
      subFeatures: [{ id: 'llm-parsing', llm: expect.objectContaining({ dailyCapUsd: 5, hardLimitUsd: 10 }) }],
      discord: plan.discord,
    });
    expect(parseStagePlans(JSON.stringify([summary]))).toEqual([summary]);
  });

  it('report every problem with its path', () => {
    const bad = [{ feature: 'X', phases: [], subFeatures: [{}], discord: { channelId: 'abc', roles: { '1': ['Boss Man'] } } }, { feature: 'ok-one', phases: ['a'], subFeatures: [], discord: { roles: {} } }, { feature: 'ok-one', phases: ['a'], subFeatures: [], discord: { roles: {} } }];
    let error: unknown;
    try {
      parseStagePlans(JSON.stringify(bad));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StagePlansInvalidError);
    expect((error as StagePlansInvalidError).problems).toEqual([
      '[0].feature: expected a feature id',
      '[0].phases: expected phase names',
      '[0].subFeatures[0]: expected { id, llm: { dailyCapUsd, hardLimitUsd } }',
      '[0].discord.channelId: expected a Discord id',
      '[0].discord.roles.1: expected Phasegate role names (admin, pm, developer, on-call, or the plan\'s own roles)',
      '[2].feature: "ok-one" appears twice',
    ]);
    expect(() => parseStagePlans(undefined)).toThrow(/not set/);
    expect(() => parseStagePlans('{')).toThrow(/not JSON/);
  });
});

describe('messages', () => {
  it('put Approve and Reject buttons bound to feature, phase and execution on an approval request', () => {
    const m = approvalRequestMessage({ feature: 'ux-update', stage: 'dev', executionId: 'arn:exec:1', phase: 'admin', approvers: ['pm', 'admin'] });
    const buttons = (m.components![0]!.components as { label: string; custom_id: string }[]).map((b) => [b.label, decodeCustomId(b.custom_id)]);
    expect(buttons).toEqual([
      ['Approve', { action: 'approve', feature: 'ux-update', phase: 'admin', executionHash: executionHash('arn:exec:1') }],
      ['Reject', { action: 'reject', feature: 'ux-update', phase: 'admin', executionHash: executionHash('arn:exec:1') }],
      ['Pause', { action: 'pause', feature: 'ux-update', phase: 'admin', executionHash: executionHash('arn:exec:1') }],
    ]);
    expect(m.allowed_mentions).toEqual({ parse: [] });
  });

  it('stay within Discord\'s embed limits however long the reasons are', () => {
    const plan = stagePlanOf(discordPlan('ux-update'));
    const views = Array.from({ length: 12 }, (_, i) => ({ plan: { ...plan, feature: `f-${i}` }, decisions: [] }));
    const m = statusMessage(views, 'dev');
    expect(m.embeds).toHaveLength(10);
    expect(m.content).toMatch(/^2 more feature/);
    expect(truncate('x'.repeat(2000), 1024)).toHaveLength(1024);
  });
});
