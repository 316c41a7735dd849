import { JOB_EVENT_KEY, type DiscordJob } from '../../lambdas/core/discord/ports';
import { buttonsOf, LOCAL_DISCORD, messageText } from '../../local/discord';
import { discordWorld, type DiscordWorld } from './world';

/**
 * Step Functions does not answer until the test lets it (a latch, not a sleep), and the endpoint waits only 50 ms
 * before it defers a decision: a decision can only be answered at once by deferring, whatever the machine's speed.
 */
let w: DiscordWorld;
let release: () => void = () => undefined;
let latch: Promise<void> = Promise.resolve();
/** Every hand-back the endpoint started, settled or not. */
const handBacks: Promise<unknown>[] = [];

function closeLatch(): void {
  latch = new Promise((resolve) => {
    release = resolve;
  });
}

beforeAll(async () => {
  w = await discordWorld({
    customize: (ports) => ({
      ...ports,
      inlineBudgetMs: 50,
      tokens: {
        succeed: (token, output) => {
          const call = latch.then(() => ports.tokens.succeed(token, output));
          handBacks.push(call.catch(() => undefined));
          return call;
        },
        fail: (token, error, cause) => {
          const call = latch.then(() => ports.tokens.fail(token, error, cause));
          handBacks.push(call.catch(() => undefined));
          return call;
        },
      },
    }),
  });
});
afterAll(async () => {
  // Inline attempts that outlived their budget finish before the world goes away.
  release();
  await Promise.all(handBacks);
  await w.stop();
});

const successes = (token: string) =>
  w.aws.sfn.calls.filter((c) => c.command === 'SendTaskSuccess' && (c.input as { taskToken: string }).taskToken === token);

describe('a decision that takes longer than the inline budget', () => {
  beforeEach(closeLatch);
  afterEach(() => {
    // Even after a failed test: the next one must find Step Functions and the self-invocation flowing.
    release();
    w.discord.selfInvoke.release();
  });

  it('button: answers "deferred update" before Step Functions answers; the asynchronous job decides and edits the message', async () => {
    const f = await w.awaitApproval('ux-update');
    const request = await w.discord.api.waitFor(() => w.discord.api.approvalRequests('ux-update', 'admin')[0]);
    w.discord.selfInvoke.hold();
    // Step Functions has not answered (the latch is closed): an answer now can only be a deferral.
    const reply = await w.discord.clickApprove(request, w.pm);
    expect(reply.body).toEqual({ type: 6 });
    expect(w.discord.selfInvoke.invocations.at(-1)).toMatchObject({
      functionName: 'phasegate-dev-discord-interactions',
      invocationType: 'Event',
      event: { [JOB_EVENT_KEY]: { kind: 'decide', feature: 'ux-update', phase: 'admin', decision: 'approve', fromMessage: true, person: { id: w.pm.id, roles: ['pm'] } } },
    });
    // Not decided yet: the request still offers its buttons.
    expect(buttonsOf(w.discord.api.message(request.id)!).map((b) => b.label)).toEqual(expect.arrayContaining(['Approve', 'Reject']));

    release();
    w.discord.selfInvoke.release();
    await w.discord.idle();
    const updated = w.discord.api.message(request.id)!;
    expect(buttonsOf(updated)).toEqual([]);
    expect(messageText(updated)).toMatch(/phase admin approved\nApproved by \*\*Priya\*\*/);
    expect(w.discord.selfInvoke.invocations.at(-1)!.result).toEqual({ job: 'decide', feature: 'ux-update', delivered: 'edited', visibility: 'update' });
    await expect(f.wait).resolves.toMatchObject({ decision: 'approve', by: { id: w.pm.id } });
    // The inline attempt and the job raced to hand the token back: Step Functions accepted it exactly once.
    await Promise.all(handBacks);
    expect(successes(f.token).filter((c) => c.outcome === 'ok')).toHaveLength(1);
    expect((await w.aws.ports.store.listAudit('ux-update')).filter((e) => e.action === 'approved')).toHaveLength(1);
  });

  it('command: answers "deferred" at once; the job replaces the placeholder with the public answer', async () => {
    const f = await w.awaitApproval('cohort-analyzer');
    const reply = await w.discord.command(w.pm, 'approve', { feature: 'cohort-analyzer', note: 'fine' });
    expect(reply.body).toEqual({ type: 5 });
    expect(reply.message?.pending).toBe(true);
    release();
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
