import { discordWorld, type DiscordWorld } from './world';

/**
 * A Function URL Lambda is frozen once it has returned its response: an inline decision that outlived its budget
 * may have claimed the approval and never hand it back. The deferred job of the same click must finish it.
 */

let w: DiscordWorld;
let frozen = 0;

beforeAll(async () => {
  w = await discordWorld({
    customize: (ports) => ({
      ...ports,
      inlineBudgetMs: 50,
      tokens: {
        succeed: async (token, output) => {
          // The first hand-back is the inline attempt's: its process never runs again.
          if (frozen++ === 0) return new Promise<void>(() => undefined);
          return ports.tokens.succeed(token, output);
        },
        fail: (token, error, cause) => ports.tokens.fail(token, error, cause),
      },
    }),
  });
});
afterAll(async () => w.stop());

it('hands the decision back from the deferred job when the inline attempt claimed it and froze', async () => {
  const f = await w.awaitApproval('ux-update');
  const request = await w.discord.api.waitFor(() => w.discord.api.approvalRequests('ux-update', 'admin')[0]);
  const reply = await w.discord.clickApprove(request, w.pm);
  expect(reply.body).toEqual({ type: 6 });
  await w.discord.idle();
  expect(w.aws.sfn.tokens.find((t) => t.token === f.token)).toMatchObject({ status: 'succeeded', output: { decision: 'approve', by: { id: w.pm.id } } });
  const approval = await w.aws.ports.store.getApproval('ux-update', f.payload.executionId, 0);
  expect(approval).toMatchObject({ status: 'APPROVED', settled: true });
});
