import type { AllowedMentionsTypes, APIAllowedMentions, APIButtonComponentWithCustomId, APIButtonComponentWithURL, RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { ButtonStyle, ComponentType } from 'discord-api-types/v10';
import { approvalRequestDetails, dashboardConsoleUrl, executionConsoleUrl } from '../../lambdas/core/discord/approval-details';
import { decodeCustomId } from '../../lambdas/core/discord/custom-id';
import { dashboardName } from '../../lambdas/core/gates/alarm-names';
import { approvalRequestMessage } from '../../lambdas/core/discord/messages';
import type { DiscordMessage } from '../../lambdas/core/discord/ports';
import { buttonsOf, messageText } from '../../local/discord';
import { discordPlan, discordWorld, type DiscordWorld } from './world';

/**
 * The approval request as a PM decides from it: what approving starts, by when, who is asked (mentions only where
 * the stage opted in), links to the dashboard and the execution, and Approve / Reject / Pause. The message is
 * typed against discord-api-types' request body, so a field Discord does not accept fails the type check.
 */

type DeepMutable<T> = T extends readonly (infer U)[] ? DeepMutable<U>[] : T extends object ? { -readonly [K in keyof T]: DeepMutable<T[K]> } : T;

/**
 * Discord's Create Message body, with `allowed_mentions.parse` as the string values of discord-api-types' enum
 * (a TypeScript enum is nominal: the literal "roles" is its value but not assignable to it).
 */
type RequestBody = Omit<RESTPostAPIChannelMessageJSONBody, 'allowed_mentions'> & {
  allowed_mentions?: Omit<APIAllowedMentions, 'parse'> & { parse?: `${AllowedMentionsTypes}`[] };
};

/** The message as Discord's API takes it: fails the type check if Phasegate's message has a field Discord does not. */
function asRequestBody(message: DiscordMessage): RequestBody {
  return message as DeepMutable<DiscordMessage>;
}

const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:phasegate-prod-ux-update:run-1';
const PM_ROLE = '111111111111111111';
const ADMIN_ROLE = '222222222222222222';
const DEV_ROLE = '333333333333333333';

function plan() {
  return discordPlan('ux-update', {
    phases: [
      { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm', 'admin'], timeout: 'PT12H' } },
      { name: 'beta', roles: ['pm', 'developer'], percent: 25, bake: 'PT1H', approval: { required: true, approvers: ['pm'] } },
      { name: 'ga', roles: ['all'], bake: 'PT1H', approval: { required: false } },
    ],
    discord: { channelId: '999999999999999999', roles: { [PM_ROLE]: ['pm'], [ADMIN_ROLE]: ['admin'], [DEV_ROLE]: ['developer'] } },
  });
}

describe('the approval request message', () => {
  const requestedAt = '2026-11-02T09:00:00.000Z';

  it('says what approving starts, by when, links the dashboard and the execution, and mentions the approvers where opted in', () => {
    const details = approvalRequestDetails(plan(), { phaseIndex: 0, executionId: EXECUTION, requestedAt }, { stage: 'prod', region: 'eu-west-1', mentionApprovers: true });
    expect(details).toEqual({
      next: { phase: 'beta', roles: ['pm', 'developer'], percent: 25 },
      deadline: '2026-11-02T21:00:00.000Z',
      mentionRoleIds: [PM_ROLE, ADMIN_ROLE],
      links: { dashboard: dashboardConsoleUrl('eu-west-1', dashboardName('prod', 'ux-update')), execution: executionConsoleUrl('eu-west-1', EXECUTION) },
    });
    const body = asRequestBody(approvalRequestMessage({ feature: 'ux-update', stage: 'prod', executionId: EXECUTION, phase: 'admin', approvers: ['pm', 'admin'], ...details }));

    expect(body.content).toBe(`<@&${PM_ROLE}> <@&${ADMIN_ROLE}> a decision is needed`);
    // Exactly the approver roles may be pinged; nothing parsed from text.
    expect(body.allowed_mentions).toEqual({ parse: [], roles: [PM_ROLE, ADMIN_ROLE] });
    const fields = Object.fromEntries(body.embeds![0]!.fields!.map((f) => [f.name, f.value]));
    expect(fields['Approving starts']).toBe('phase **beta**: 25 % of pm, developer');
    expect(fields['Decide by']).toBe('<t:1793653200:f> (<t:1793653200:R>); undecided, ux-update rolls back then');
    expect(fields['Who may decide']).toBe('pm or admin');

    const [decisions, links] = body.components as { type: number; components: (APIButtonComponentWithCustomId | APIButtonComponentWithURL)[] }[];
    expect(decisions!.type).toBe(ComponentType.ActionRow);
    expect(decisions!.components.map((b) => [b.label, b.style, decodeCustomId((b as APIButtonComponentWithCustomId).custom_id)?.action])).toEqual([
      ['Approve', ButtonStyle.Success, 'approve'],
      ['Reject', ButtonStyle.Danger, 'reject'],
      ['Pause', ButtonStyle.Secondary, 'pause'],
    ]);
    expect(links!.components).toEqual([
      { type: ComponentType.Button, style: ButtonStyle.Link, label: 'Dashboard', url: `https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/${dashboardName('prod', 'ux-update')}` },
      { type: ComponentType.Button, style: ButtonStyle.Link, label: 'Execution', url: `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${encodeURIComponent(EXECUTION)}` },
    ]);
  });

  it('mentions nobody unless the stage opted in, uses the 7-day default deadline, and says the last approval completes', () => {
    const details = approvalRequestDetails(plan(), { phaseIndex: 1, executionId: EXECUTION, requestedAt }, { stage: 'prod' });
    expect(details).toEqual({ next: { phase: 'ga', roles: ['all'], percent: 100 }, deadline: '2026-11-09T09:00:00.000Z' });
    const body = asRequestBody(approvalRequestMessage({ feature: 'ux-update', stage: 'prod', executionId: EXECUTION, phase: 'beta', approvers: ['pm'], ...details }));
    expect(body.content).toBeUndefined();
    expect(body.allowed_mentions).toEqual({ parse: [] });
    expect(body.components).toHaveLength(1);
    expect(messageText(body as never)).toContain('phase **ga**: every user');

    const last = approvalRequestMessage({ feature: 'ux-update', stage: 'prod', executionId: EXECUTION, phase: 'ga', approvers: ['pm'], next: null });
    expect(messageText(last as never)).toContain('nothing more: the rollout completes');
  });
});

describe('the request as posted by a step, and its Pause button', () => {
  let w: DiscordWorld;
  beforeAll(async () => {
    w = await discordWorld();
  });
  afterAll(async () => {
    await w.stop();
  });

  it('posts what approving starts and the deadline; Pause holds the rollout (pm), audited, the request stays', async () => {
    await w.awaitApproval('search');
    const request = w.discord.channelMessages().at(-1)!;
    expect(messageText(request)).toContain('Approving starts');
    expect(messageText(request)).toContain('phase **pm**: admin, pm');
    expect(messageText(request)).toMatch(/Decide by\n<t:\d+:f> \(<t:\d+:R>\); undecided, search rolls back then/);
    expect(buttonsOf(request).map((b) => b.label)).toEqual(['Approve', 'Reject', 'Pause']);

    const refused = await w.discord.send(w.discord.signer.click(w.dev, request, 'Pause'));
    expect(refused.body.data.flags).toBe(64);
    expect(messageText(refused.body.data)).toMatch(/only pm or admin may pause/i);
    expect((await w.aws.ports.store.getState('search'))!.paused).toBeUndefined();

    const reply = await w.discord.send(w.discord.signer.click(w.pm, request, 'Pause'));
    expect(reply.body.data.flags).toBeUndefined();
    expect(messageText(reply.body.data)).toContain('search: paused in phase admin');
    const state = await w.aws.ports.store.getState('search');
    expect(state).toMatchObject({ status: 'AWAITING_APPROVAL', paused: { by: { id: w.pm.id, via: 'discord' }, reason: 'paused from the approval request' } });
    expect(buttonsOf(w.discord.api.message(request.id)!).map((b) => b.label)).toEqual(['Approve', 'Reject', 'Pause']);
    // While paused the approval waits: Approve is refused, and says why.
    const approve = await w.discord.clickApprove(request, w.pm);
    expect(messageText(approve.body.data)).toMatch(/paused/i);
    expect((await w.aws.ports.store.getState('search'))!.status).toBe('AWAITING_APPROVAL');
  });
});
