import { discordNotifierFromEnv } from '../../lambdas/adapters/discord-notifier';
import { ENV } from '../../lambdas/core/contract';
import { decide, type Person } from '../../lambdas/core/rollout/operations';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, finishRolloutStep, gateStep, requestApprovalStep, rollbackStep } from '../../lambdas/core/rollout/steps';
import { buttonsOf, messageText } from '../../local/discord';
import { discordPlan, discordWorld, type DiscordWorld } from './world';

const cliPm: Person = { id: 'arn:aws:sts::123456789012:assumed-role/Pm/pat', name: 'pat', via: 'cli', roles: ['pm'] };
let w: DiscordWorld;

beforeAll(async () => {
  w = await discordWorld({
    plans: [
      discordPlan('ux-update'),
      discordPlan('quiet', { discord: { roles: {} } }),
      discordPlan('flaky'),
      discordPlan('doomed'),
    ],
  });
});
afterAll(async () => w.stop());

const titles = (feature: string) => w.discord.channelMessages().filter((m) => messageText(m).includes(feature)).map((m) => m.embeds[0]?.title);

describe('the Discord notifier of the state machine steps', () => {
  it('announces a whole rollout; its approval buttons settle the execution\'s task token', async () => {
    const f = await w.awaitApproval('ux-update');
    const ports = { ...w.steps, tokens: w.aws.ports.tokens };
    const request = await w.discord.api.waitFor(() => w.discord.api.approvalRequests('ux-update', 'admin')[0]);

    // A decision made elsewhere (the CLI) still updates the approval request: buttons gone, who and when shown.
    await decide(ports, { feature: 'ux-update', phase: 'admin', decision: 'approve', actor: cliPm, note: 'from the terminal' });
    await expect(f.wait).resolves.toMatchObject({ decision: 'approve' });
    const decided = w.discord.api.message(request.id)!;
    expect(buttonsOf(decided)).toEqual([]);
    expect(messageText(decided)).toMatch(/Approved by \*\*pat\*\*[\s\S]*from the terminal/);

    // Phase pm: its request's Approve button, clicked as a PM, hands the token back.
    const payload: StepPayload = f.payload;
    await applyPhaseStep(w.steps, { ...payload, phaseIndex: 1 });
    await gateStep(w.steps, { ...payload, phaseIndex: 1 });
    const token = w.aws.sfn.issueToken({ executionArn: payload.executionId });
    const settled = w.aws.sfn.waitForToken(token);
    await requestApprovalStep(w.steps, { ...payload, phaseIndex: 1, taskToken: token });
    const pmRequest = await w.discord.api.waitFor(() => w.discord.api.approvalRequests('ux-update', 'pm')[0]);
    expect((await w.discord.clickApprove(pmRequest, w.pm)).body.type).toBe(7);
    await expect(settled).resolves.toMatchObject({ decision: 'approve', by: { id: w.pm.id, via: 'discord' } });

    await applyPhaseStep(w.steps, { ...payload, phaseIndex: 2 });
    await gateStep(w.steps, { ...payload, phaseIndex: 2 });
    await finishRolloutStep(w.steps, payload);

    expect(titles('ux-update')).toEqual([
      '▶️ ux-update: phase admin started (1/3)',
      '🚦 ux-update: gate of admin says PROCEED',
      '✅ ux-update: phase admin approved',
      '▶️ ux-update: phase pm started (2/3)',
      '🚦 ux-update: gate of pm says PROCEED',
      '✅ ux-update: phase pm approved',
      '▶️ ux-update: phase ga started (3/3)',
      '🚦 ux-update: gate of ga says PROCEED',
      '🎉 ux-update: rollout completed',
    ]);
    expect(w.discord.api.message(request.id)!.history[0]!.embeds[0]!.title).toBe('⏳ ux-update: approve phase admin?');
  });

  it('announces a rollback by the state machine', async () => {
    const f = await w.awaitApproval('doomed');
    await rollbackStep(w.steps, { ...f.payload, context: { error: { Error: 'PhasegateApprovalRejected', Cause: 'nope' } } });
    expect(titles('doomed').at(-1)).toBe('⏪ doomed: rolled back');
  });

  it('stays quiet for a feature whose plan names no channel', async () => {
    const before = w.discord.api.requests.length;
    await w.awaitApproval('quiet');
    expect(w.discord.api.requests.length).toBe(before);
  });

  it('never fails a step when Discord is down', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      for (let i = 0; i < 3; i++) w.discord.api.failNext(/^POST \/channels/, 503);
      const f = await w.awaitApproval('flaky');
      expect((await w.aws.ports.store.getState('flaky'))?.status).toBe('AWAITING_APPROVAL');
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('"message":"notification failed"'));
      expect(warn.mock.calls.flat().join('\n')).not.toContain(w.discord.api.botToken);
      void f;
    } finally {
      warn.mockRestore();
    }
  });

  it('is only configured where the stack gave the function a bot token parameter', () => {
    expect(discordNotifierFromEnv({ [ENV.tableName]: 't' }, w.aws.ports.store)).toBeUndefined();
    expect(discordNotifierFromEnv({ [ENV.tableName]: 't', [ENV.discordBotTokenParameter]: '/p' }, w.aws.ports.store)).toBeDefined();
  });
});
