import { JOB_EVENT_KEY, type DiscordJob } from '../../lambdas/core/discord/ports';
import { buttonsOf, LOCAL_DISCORD, messageText } from '../../local/discord';
import { discordWorld, type DiscordWorld } from './world';

/** Step Functions answers slowly here, and the endpoint waits only 50 ms before it defers a decision. */
const SLOW_MS = 300;
let w: DiscordWorld;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  w = await discordWorld({
    customize: (ports) => ({
      ...ports,
      inlineBudgetMs: 50,
      tokens: {
        succeed: async (token, output) => {
          await sleep(SLOW_MS);
          return ports.tokens.succeed(token, output);
        },
        fail: async (token, error, cause) => {
          await sleep(SLOW_MS);
          return ports.tokens.fail(token, error, cause);
        },
      },
    }),
  });
});
afterAll(async () => {
  // Inline attempts that outlived their budget finish before the world goes away.
  await sleep(SLOW_MS * 3);
  await w.stop();
});

const successes = (token: string) =>
  w.aws.sfn.calls.filter((c) => c.command === 'SendTaskSuccess' && (c.input as { taskToken: string }).taskToken === token);

describe('a decision that takes longer than the inline budget', () => {
  it('button: answers "deferred update" at once; the asynchronous job decides and edits the message', async () => {
    const f = await w.awaitApproval('ux-update');
    const request = await w.discord.api.waitFor(() => w.discord.api.approvalRequests('ux-update', 'admin')[0]);
    w.discord.selfInvoke.hold();
    const started = Date.now();
    const reply = await w.discord.clickApprove(request, w.pm);
    expect(Date.now() - started).toBeLessThan(SLOW_MS);
    expect(reply.body).toEqual({ type: 6 });
    expect(w.discord.selfInvoke.invocations.at(-1)).toMatchObject({
      functionName: 'phasegate-dev-discord-interactions',
      invocationType: 'Event',
      event: { [JOB_EVENT_KEY]: { kind: 'decide', feature: 'ux-update', phase: 'admin', decision: 'approve', fromMessage: true, person: { id: w.pm.id, roles: ['pm'] } } },
    });
    expect(buttonsOf(w.discord.api.message(request.id)!)).toHaveLength(2);

    w.discord.selfInvoke.release();
    await w.discord.idle();
    const updated = w.discord.api.message(request.id)!;
    expect(buttonsOf(updated)).toEqual([]);
    expect(messageText(updated)).toMatch(/phase admin approved\nApproved by \*\*Priya\*\*/);
    expect(w.discord.selfInvoke.invocations.at(-1)!.result).toEqual({ job: 'decide', feature: 'ux-update', delivered: 'edited', visibility: 'update' });
    await expect(f.wait).resolves.toMatchObject({ decision: 'approve', by: { id: w.pm.id } });
    // The inline attempt and the job raced to hand the token back: Step Functions accepted it exactly once.
    await sleep(SLOW_MS * 2);
    expect(successes(f.token).filter((c) => c.outcome === 'ok')).toHaveLength(1);
    expect((await w.aws.ports.store.listAudit('ux-update')).filter((e) => e.action === 'approved')).toHaveLength(1);
  });

  it('command: answers "deferred" at once; the job replaces the placeholder with the public answer', async () => {
    const f = await w.awaitApproval('cohort-analyzer');
    const reply = await w.discord.command(w.pm, 'approve', { feature: 'cohort-analyzer', note: 'fine' });
    expect(reply.body).toEqual({ type: 5 });
    expect(reply.message?.pending).toBe(true);
    await w.discord.idle();
    const answer = w.discord.api.message(reply.message!.id)!;
    expect(answer.pending).toBe(false);
    expect(answer.ephemeral).toBe(false);
    expect(messageText(answer)).toMatch(/cohort-analyzer: phase admin approved[\s\S]*fine/);
    await expect(f.wait).resolves.toMatchObject({ decision: 'approve' });
  });
});

describe('a deferred job', () => {
  const interaction = (deferred: 'message' | 'update') => ({ id: '1574000000000000001', applicationId: LOCAL_DISCORD.applicationId, token: `tok-${deferred}-${Date.now()}`, channelId: LOCAL_DISCORD.channelId, deferred });

  it('shows a refusal only to the person, as an ephemeral follow-up', async () => {
    const i = interaction('update');
    w.discord.api.bindInteraction(i.token, { applicationId: i.applicationId, channelId: i.channelId, userId: w.pm.id });
    const job: DiscordJob = { kind: 'decide', feature: 'search', person: { id: w.pm.id, name: 'Priya', via: 'discord', roles: ['pm'] }, phase: 'admin', decision: 'approve', fromMessage: true, interaction: i };
    expect(await w.discord.handler({ [JOB_EVENT_KEY]: job })).toEqual({ job: 'decide', feature: 'search', delivered: 'follow-up', visibility: 'ephemeral' });
    const shown = w.discord.api.ephemeralMessages(w.pm.id).at(-1)!;
    expect(shown.origin).toBe('follow-up');
    expect(messageText(shown)).toMatch(/feature "search" has no rollout/i);
  });

  it('reports a rollback that could not make every target safe publicly, and loudly', async () => {
    const f = await w.awaitApproval('billing');
    w.aws.lambda.failUpdates('billing-worker');
    const reply = await w.discord.command(w.onCall, 'rollback', { feature: 'billing', reason: 'errors' });
    await w.discord.idle();
    const answer = w.discord.api.message(reply.message!.id)!;
    expect(answer.ephemeral).toBe(false);
    expect(messageText(answer)).toMatch(/🚨 billing: ROLLBACK FAILED[\s\S]*billing-worker/);
    expect((await w.aws.ports.store.getState('billing'))?.status).toBe('ROLLBACK_FAILED');
    void f;
  });

  it('does not throw when Discord cannot be reached (Lambda would run it again)', async () => {
    const i = interaction('message');
    const job: DiscordJob = { kind: 'decide', feature: 'search', person: { id: w.pm.id, via: 'discord', roles: ['pm'] }, phase: 'admin', decision: 'approve', fromMessage: false, interaction: i };
    // Never bound: Discord answers 401 Invalid Webhook Token.
    expect(await w.discord.handler({ [JOB_EVENT_KEY]: job })).toMatchObject({ delivered: 'failed' });
  });
});
