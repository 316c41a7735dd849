import { DynamoDriftLedger } from '../../lambdas/adapters/dynamo-drift-ledger';
import { commandDefinitions } from '../../lambdas/core/discord/commands';
import { phaseFlagValues } from '../../lambdas/core/flags/flags';
import { noteTargetChange } from '../../lambdas/core/drift/reconcile';
import { messageText } from '../../local/discord';
import { DEPLOY_ROLE_SESSION, redeployTarget } from '../../local/scenarios/drift';
import { localDynamoClient } from '../../local/dynamo';
import { discordPlan, discordWorld, type DiscordWorld } from './world';

let w: DiscordWorld;

beforeAll(async () => {
  w = await discordWorld({ plans: [discordPlan('ux-update'), discordPlan('search'), discordPlan('never')] });
});
afterAll(async () => w.stop());

/** The reply's text, checking it is an immediate answer only the person who asked sees. */
const ephemeralText = (reply: { status: number; body: { type: number; data: { flags?: number } } }): string => {
  expect(reply.status).toBe(200);
  expect(reply.body.type).toBe(4);
  expect(reply.body.data.flags).toBe(64);
  return messageText(reply.body.data as never);
};

describe('/rollout verify (signed requests to the real endpoint)', () => {
  it('is registered with Discord, with the feature required and autocompleted', () => {
    const [rollout] = commandDefinitions() as { options: { name: string; options: { name: string; required: boolean; autocomplete?: boolean }[] }[] }[];
    const verify = rollout!.options.find((o) => o.name === 'verify')!;
    expect(verify.options).toEqual([expect.objectContaining({ name: 'feature', required: true, autocomplete: true })]);
  });

  it("says every target serves the phase's flags when they do", async () => {
    await w.awaitApproval('ux-update');
    const text = ephemeralText(await w.discord.command(w.dev, 'verify', { feature: 'ux-update' }));
    expect(text).toMatch(/ux-update: in sync/);
    expect(text).toMatch(/Every target \(2\) serves phase admin's flags/);
    expect(text).toMatch(/✅ ux-update-api[\s\S]*In sync: \d+ flag\(s\) as expected/);
    expect(text).toMatch(/✅ ux-update-worker/);
    expect(text).not.toMatch(/❌/);
  });

  it('shows expected against actual for a target whose own deploy wiped the flags, and who changed it', async () => {
    await w.awaitApproval('search');
    await redeployTarget('search-worker', { KEEP_ME: 'yes' });
    const ledger = new DynamoDriftLedger(w.aws.tableName, localDynamoClient(w.aws.dynamo.endpoint));
    await noteTargetChange(ledger, 'search', 'search-worker', { by: `${DEPLOY_ROLE_SESSION} via cloudformation.amazonaws.com`, eventName: 'UpdateFunctionConfiguration', at: '2026-11-02T09:00:00Z' });

    const text = ephemeralText(await w.discord.command(w.pm, 'verify', { feature: 'search' }));
    const expected = phaseFlagValues(w.plans.find((p) => p.feature === 'search')!, 0);
    expect(text).toMatch(/search: drift/);
    expect(text).toMatch(/1 of 2 target\(s\) do not serve phase admin's flags/);
    expect(text).toMatch(/✅ search-api/);
    expect(text).toMatch(/❌ search-worker/);
    for (const [name, value] of Object.entries(expected)) expect(text).toContain(`\`${name}\` expected \`${value === '' ? '(empty)' : value}\`, is absent`);
    expect(text).toMatch(/Last changed by arn:aws:sts::123456789012:assumed-role\/cdk-hnb659fds-cfn-exec-role-123456789012\/AWSCloudFormation via cloudformation\.amazonaws\.com \(UpdateFunctionConfiguration\) <t:1793610000:R>/);
    // Read-only: nothing was written back.
    expect(w.aws.lambda.environmentOf('search-worker')).toEqual({ KEEP_ME: 'yes' });
  });

  it('says there is nothing to verify for a feature that never rolled out, and refuses an unknown feature', async () => {
    expect(ephemeralText(await w.discord.command(w.dev, 'verify', { feature: 'never' }))).toMatch(/never: nothing to verify[\s\S]*never rolled out: no flags are expected/);
    expect(ephemeralText(await w.discord.command(w.dev, 'verify', { feature: 'nope' }))).toMatch(/No plan for feature "nope"/);
  });
});
