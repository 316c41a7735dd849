import { randomUUID } from 'node:crypto';
import type { InteractionEndpointPorts } from '../../lambdas/core/discord/endpoint';
import { messageText } from '../../local/discord';
import { discordPlan, discordWorld, type DiscordWorld } from './world';

/** What people see when Phasegate itself fails: a reference to the log, never the internal error's text. */

const INTERNAL = 'ResourceNotFoundException: Requested resource not found: Table: phasegate-dev-state';
let w: DiscordWorld;
const logs: Record<string, unknown>[] = [];

beforeAll(async () => {
  w = await discordWorld({
    plans: [discordPlan('broken'), discordPlan('fragile'), discordPlan('crashy')],
    customize: (ports: InteractionEndpointPorts): InteractionEndpointPorts => {
      const store = Object.create(ports.store) as typeof ports.store;
      store.getState = async (feature: string) => {
        if (feature === 'broken') throw new Error(INTERNAL);
        return ports.store.getState(feature);
      };
      const flags = Object.create(ports.flags) as typeof ports.flags;
      flags.forceAll = async (targets, values, options) => {
        if (targets.includes('crashy-api')) throw new Error(INTERNAL);
        return ports.flags.forceAll(targets, values, options);
      };
      return { ...ports, store, flags, log: (entry) => void logs.push(entry) };
    },
  });
  w.aws.sfn.onStartExecution(() => undefined);
});
afterAll(async () => w.stop());

describe('internal errors in replies', () => {
  it('answers a command that failed inside Phasegate with a reference, and logs the error', async () => {
    const reply = await w.discord.command(w.pm, 'status', { feature: 'broken' });
    const text = messageText(reply.body.data);
    expect(text).toMatch(/Phasegate hit an error/);
    expect(text).not.toContain('ResourceNotFound');
    expect(text).not.toContain('phasegate-dev-state');
    expect(logs).toContainEqual(expect.objectContaining({ message: 'interaction failed', error: expect.stringContaining(INTERNAL) }));
  });

  it('answers a deferred job that failed inside Phasegate with a reference, and logs the error', async () => {
    await w.awaitApproval('crashy');
    const reply = await w.discord.command(w.onCall, 'rollback', { feature: 'crashy', reason: 'errors' });
    expect(reply.body).toEqual({ type: 5 });
    await w.discord.idle();
    const answered = w.discord.api.ephemeralMessages(w.onCall.id).at(-1)!;
    const text = messageText(answered);
    expect(text).toMatch(/Phasegate hit an error/);
    expect(text).not.toContain('ResourceNotFound');
    expect(logs).toContainEqual(expect.objectContaining({ message: 'deferred job failed', error: expect.stringContaining(INTERNAL) }));
  });

  it('names the targets a failed rollback could not write, without the AWS error text', async () => {
    const f = await w.awaitApproval('fragile');
    w.aws.lambda.failUpdates(f.plan.targets[1]!);
    const reply = await w.discord.command(w.onCall, 'rollback', { feature: 'fragile', reason: `errors ${randomUUID()}` });
    await w.discord.idle();
    const text = messageText(w.discord.api.message(reply.message!.id)!);
    expect(text).toMatch(/ROLLBACK FAILED/);
    expect(text).toContain(f.plan.targets[1]!);
    expect(text).not.toMatch(/not authorized|AccessDenied|arn:aws:sts/);
  });
});
