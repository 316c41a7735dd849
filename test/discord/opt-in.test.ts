import { messageText } from '../../local/discord';
import { discordPlan, discordWorld, type DiscordWorld } from './world';

/** An optional phase runs only when the approver of the phase before opts in: `/rollout approve opt_in:<phase>`. */
describe('/rollout approve opt_in', () => {
  let w: DiscordWorld;
  const plan = discordPlan('canaried', {
    phases: [
      { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] } },
      { name: 'llm-canary', roles: ['admin'], bake: 'PT1H', optional: true, approval: { required: true, approvers: ['pm'] } },
      { name: 'ga', roles: ['all'], bake: 'PT1H', approval: { required: false } },
    ],
  });
  beforeAll(async () => {
    w = await discordWorld({ plans: [plan, discordPlan('plain')] });
  });
  afterAll(async () => w.stop());

  it('offers the optional phases to choose from', async () => {
    const reply = await w.discord.send(w.discord.signer.autocomplete(w.pm, 'approve', 'opt_in', '', { feature: 'canaried' }));
    expect((reply.body as { data: { choices: { value: string }[] } }).data.choices.map((c) => c.value)).toEqual(['llm-canary']);
  });

  it('records the opt-in with the approval, audited under the approver', async () => {
    await w.awaitApproval('canaried', 0);
    const reply = await w.discord.command(w.pm, 'approve', { feature: 'canaried', opt_in: 'llm-canary' });
    expect(reply.status).toBe(200);
    const audit = await w.aws.ports.store.listAudit('canaried', 50);
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['opted-in', 'approved']));
    expect(audit.find((e) => e.action === 'opted-in')).toMatchObject({ actor: { id: w.pm.id } });
  });

  it('refuses to opt in to a phase that is not optional, and decides nothing', async () => {
    await w.awaitApproval('plain', 0);
    const reply = await w.discord.command(w.pm, 'approve', { feature: 'plain', opt_in: 'pm' });
    expect(messageText((reply.body as { data: never }).data)).toContain('is not an optional phase');
    expect((await w.aws.ports.store.listAudit('plain', 50)).map((e) => e.action)).not.toContain('approved');
  });
});
