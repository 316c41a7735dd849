import { messageText } from '../../local/discord';
import { discordPlan, discordWorld, type DiscordWorld } from './world';

/** `/rollout report`: the report itself is the daily-report function's; the endpoint asks it for one now. */
describe('/rollout report', () => {
  const asked: string[] = [];
  let withReports: DiscordWorld;
  let withoutReports: DiscordWorld;
  beforeAll(async () => {
    withReports = await discordWorld({
      plans: [discordPlan('ux-update')],
      customize: (ports) => ({ ...ports, reports: { request: async (feature) => void asked.push(feature) } }),
    });
    withoutReports = await discordWorld({ plans: [discordPlan('search')] });
  });
  afterAll(async () => {
    await withReports.stop();
    await withoutReports.stop();
  });

  it('asks the daily-report function for the feature\'s report and says so in the channel', async () => {
    const reply = await withReports.discord.command(withReports.dev, 'report', { feature: 'ux-update' });
    expect(reply.body.type).toBe(4);
    expect(reply.body.data.flags ?? 0).toBe(0);
    expect(messageText(reply.body.data as never)).toContain('ux-update: phase report requested');
    expect(asked).toEqual(['ux-update']);
  });

  it('says there are no reports on a stage without a report function, and asks nobody', async () => {
    const reply = await withoutReports.discord.command(withoutReports.dev, 'report', { feature: 'search' });
    expect(reply.body.data.flags).toBe(64);
    expect(messageText(reply.body.data as never)).toContain('no phase reports on this stage');
  });

  it('refuses an unknown feature before asking for anything', async () => {
    const before = asked.length;
    const reply = await withReports.discord.command(withReports.dev, 'report', { feature: 'nope' });
    expect(messageText(reply.body.data as never)).toMatch(/nope/);
    expect(asked).toHaveLength(before);
  });
});
