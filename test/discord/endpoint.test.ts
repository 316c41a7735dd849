import fc from 'fast-check';
import { ERROR_NAMES } from '../../lambdas/core/contract';
import { commandDefinitions } from '../../lambdas/core/discord/commands';
import { encodeCustomId, executionHash } from '../../lambdas/core/discord/custom-id';
import { JOB_EVENT_KEY } from '../../lambdas/core/discord/ports';
import { offFlagValues } from '../../lambdas/core/flags/flags';
import { rollBack } from '../../lambdas/core/rollout/operations';
import { applyPhaseStep, bakePhaseStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import type { AuditEvent } from '../../lambdas/core/rollout/rollout-state';
import { buttonsOf, discordUser, InteractionSigner, DiscordKeyPair, messageText, serveFunctionUrl, type RecordedMessage } from '../../local/discord';
import { discordPlan, discordWorld, type DiscordWorld } from './world';

const FEATURES = Array.from({ length: 40 }, (_, i) => `ft-${String(i + 1).padStart(2, '0')}`);
let w: DiscordWorld;
let next = 0;
/** A feature no earlier test touched. */
const fresh = (): string => FEATURES[next++]!;

beforeAll(async () => {
  w = await discordWorld({
    plans: [
      discordPlan('ux-update', { subFeatures: [{ id: 'llm-parsing', llm: { dailyCapUsd: 5, hardLimitUsd: 10 } }] }),
      discordPlan('cohort-analyzer'),
      discordPlan('strict', { phases: [{ name: 'only', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'], starterMayApprove: false } }] }),
      ...FEATURES.map((f) => discordPlan(f)),
    ],
  });
  w.aws.sfn.onStartExecution(() => undefined);
});
afterAll(async () => w.stop());

const audit = (feature: string): Promise<AuditEvent[]> => w.aws.ports.store.listAudit(feature, 100);
const refusals = async (feature: string): Promise<AuditEvent[]> => (await audit(feature)).filter((e) => e.action === 'refused');
const approvalMessage = (feature: string, phase = 'admin'): Promise<RecordedMessage> =>
  w.discord.api.waitFor(() => w.discord.api.approvalRequests(feature, phase).at(-1));
const tokenStatus = (token: string): string | undefined => w.aws.sfn.tokens.find((t) => t.token === token)?.status;
const ephemeralText = (reply: { body: { type: number; data: { flags?: number } } }): string => {
  expect(reply.body.type).toBe(4);
  expect(reply.body.data.flags).toBe(64);
  return messageText(reply.body.data as never);
};

describe('requests that are not from Discord', () => {
  it('answers a signed PING with {"type":1}', async () => {
    const reply = await w.discord.send(w.discord.signer.ping());
    expect(reply).toMatchObject({ status: 200, body: { type: 1 } });
  });

  it('serves base64-encoded bodies as Function URLs deliver them', async () => {
    const server = await serveFunctionUrl(w.discord.handler, { base64Bodies: true });
    try {
      const ping = w.discord.signer.ping();
      const res = await fetch(server.url, { method: 'POST', headers: ping.headers, body: ping.body });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ type: 1 });
      const tampered = await fetch(server.url, { method: 'POST', headers: ping.headers, body: ping.body.replace('"type":1', '"type":2') });
      expect(tampered.status).toBe(401);
    } finally {
      await server.stop();
    }
  });

  it('reads signature headers whatever their case', async () => {
    const ping = w.discord.signer.ping();
    const headers = { 'X-Signature-Ed25519': ping.headers['x-signature-ed25519']!, 'X-Signature-Timestamp': ping.headers['x-signature-timestamp']! };
    const result = (await w.discord.handler({ headers, body: ping.body, isBase64Encoded: false, requestContext: { http: { method: 'POST' } } })) as { statusCode: number; body: string };
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toEqual({ type: 1 });
  });

  it('refuses unsigned, tampered, foreign and replayed requests with 401, changing nothing', async () => {
    const f = await w.awaitApproval(fresh());
    const approve = w.discord.signer.command(w.pm, 'approve', { feature: f.plan.feature });
    const stranger = new InteractionSigner(DiscordKeyPair.generate()).command(w.pm, 'approve', { feature: f.plan.feature });
    const old = w.discord.signer.command(w.pm, 'approve', { feature: f.plan.feature }, { timestamp: Math.floor(Date.now() / 1000) - 330 });
    const future = w.discord.signer.command(w.pm, 'approve', { feature: f.plan.feature }, { timestamp: Math.floor(Date.now() / 1000) + 360 });
    const { 'x-signature-ed25519': _sig, ...unsigned } = approve.headers;
    const attempts = [
      w.discord.post(approve.body, unsigned),
      w.discord.post(approve.body.replace('"approve"', '"reject"'), approve.headers),
      w.discord.post(approve.body, { ...approve.headers, 'x-signature-timestamp': String(Number(approve.headers['x-signature-timestamp']) + 1) }),
      w.discord.post(stranger.body, stranger.headers),
      w.discord.post(old.body, old.headers),
      w.discord.post(future.body, future.headers),
    ];
    for (const reply of await Promise.all(attempts)) expect(reply).toEqual({ status: 401, body: { error: 'invalid request signature' } });
    expect(tokenStatus(f.token)).toBe('open');
    expect((await w.aws.ports.store.getState(f.plan.feature))?.status).toBe('AWAITING_APPROVAL');
    expect(await refusals(f.plan.feature)).toEqual([]);
  });

  it('answers 405 to anything but POST', async () => {
    const res = await fetch(w.discord.server.url);
    expect(res.status).toBe(405);
  });

  it('answers malformed JSON and unknown interaction types with 400', async () => {
    const junk = '{"type": 2, ';
    expect(await w.discord.post(junk, w.discord.signer.headers(junk))).toEqual({ status: 400, body: { error: 'the body is not JSON' } });
    const odd = JSON.stringify({ type: 99, id: '1', application_id: '2', token: 't' });
    expect(await w.discord.post(odd, w.discord.signer.headers(odd))).toMatchObject({ status: 400, body: { error: 'unknown interaction type 99' } });
  });

  it('answers unknown subcommands and options ephemerally', async () => {
    expect(ephemeralText(await w.discord.command(w.pm, 'destroy', { feature: 'ux-update' }))).toMatch(/unknown subcommand "destroy"/);
    expect(ephemeralText(await w.discord.command(w.pm, 'status', { colour: 'red' }))).toMatch(/unknown option "colour"/);
    expect(ephemeralText(await w.discord.command(w.onCall, 'rollback', { feature: 'ux-update' }))).toMatch(/needs reason/);
  });

  it('never answers 500 and never changes anything, whatever signed JSON it gets', async () => {
    const f = await w.awaitApproval(fresh());
    const before = await w.aws.ports.store.getState(f.plan.feature);
    const bodies = fc.sample(
      fc.oneof(
        fc.jsonValue(),
        fc.record({ type: fc.integer({ min: 0, max: 6 }), id: fc.string(), application_id: fc.string(), token: fc.string(), data: fc.jsonValue(), member: fc.jsonValue(), guild_id: fc.string() }),
      ),
      60,
    );
    for (const value of bodies) {
      const body = JSON.stringify(value) ?? 'null';
      const reply = await w.discord.post(body, w.discord.signer.headers(body));
      expect([200, 400]).toContain(reply.status);
    }
    expect(await w.aws.ports.store.getState(f.plan.feature)).toEqual(before);
    expect(tokenStatus(f.token)).toBe('open');
    expect(w.discord.selfInvoke.invocations.filter((i) => JSON.stringify(i.event).includes(f.plan.feature))).toEqual([]);
  });
});

describe('/rollout status and autocomplete', () => {
  it('shows one feature in detail: phase, waiting since, gate, who may approve, decisions', async () => {
    const f = await w.awaitApproval(fresh());
    const text = ephemeralText(await w.discord.command(w.dev, 'status', { feature: f.plan.feature }));
    expect(text).toContain(`${f.plan.feature}: admin`);
    expect(text).toContain('admin (1/3)');
    expect(text).toContain('Waiting for approval');
    expect(text).toContain('Who may approve\npm');
    expect(text).toContain('Last gate: PROCEED');
    expect(text).toContain('Decisions\nnone yet');
    await w.discord.command(w.pm, 'approve', { feature: f.plan.feature, note: 'admins are happy' });
    const after = ephemeralText(await w.discord.command(w.dev, 'status', { feature: f.plan.feature }));
    expect(after).toMatch(/✅ admin: \*\*Priya\*\* .*\(admins are happy\)/);
  });

  it('shows every feature of the stage (Discord\'s ten embeds at most) when none is named', async () => {
    const reply = await w.discord.command(w.dev, 'status');
    expect(reply.body.data.embeds).toHaveLength(10);
    expect(reply.body.data.content).toBe(`${w.plans.length - 10} more feature(s): name one with /rollout status <feature>`);
    expect(reply.body.data.embeds[0].title).toBe('ux-update: not started');
  });

  it('says which features exist when asked about an unknown one', async () => {
    expect(ephemeralText(await w.discord.command(w.pm, 'status', { feature: 'nope' }))).toMatch(/no plan for feature "nope" on stage dev \(features: ux-update, cohort-analyzer, strict, ft-01/i);
  });

  it('autocompletes feature names from the stage\'s plans, prefix matches first', async () => {
    const choices = async (value: string, focused: 'feature' | 'reason' = 'feature', user = w.pm) =>
      (await w.discord.send(w.discord.signer.autocomplete(user, 'rollback', focused, value))).body;
    expect(await choices('ux')).toEqual({ type: 8, data: { choices: [{ name: 'ux-update', value: 'ux-update' }] } });
    expect((await choices('ft-0')).data.choices.map((c: { name: string }) => c.name)).toEqual(['ft-01', 'ft-02', 'ft-03', 'ft-04', 'ft-05', 'ft-06', 'ft-07', 'ft-08', 'ft-09']);
    // Names that start with what was typed come before names that merely contain it.
    expect((await choices('co')).data.choices.map((c: { name: string }) => c.name)).toEqual(['cohort-analyzer']);
    expect((await choices('t-2')).data.choices.map((c: { name: string }) => c.name)).toEqual(['ft-20', 'ft-21', 'ft-22', 'ft-23', 'ft-24', 'ft-25', 'ft-26', 'ft-27', 'ft-28', 'ft-29']);
    expect((await choices('')).data.choices).toHaveLength(25);
    expect((await choices('zzz')).data.choices).toEqual([]);
    expect((await choices('x', 'reason')).data.choices).toEqual([]);
    expect((await choices('ux', 'feature', discordUser('Dee', ['pm'], { dm: true }))).data.choices).toEqual([]);
  });
});

describe('/rollout history', () => {
  it('lists the latest events newest first, as many as asked (an INTEGER option with bounds)', async () => {
    const f = await w.awaitApproval(fresh());
    const all = await audit(f.plan.feature);
    const text = ephemeralText(await w.discord.command(w.dev, 'history', { feature: f.plan.feature, limit: '2' }));
    expect(text).toContain(`${f.plan.feature}: the latest 2 event(s)`);
    expect(text).toContain(`**${all[0]!.action}**`);
    expect(text).toContain(`**${all[1]!.action}**`);
    expect(text).not.toContain(`**${all.at(-1)!.action}**`);
    expect(ephemeralText(await w.discord.command(w.dev, 'history', { feature: f.plan.feature }))).toContain(`the latest ${Math.min(all.length, 10)} event(s)`);
    // Out of bounds, or not whole: refused before anything is read.
    for (const limit of ['0', '26', '2.5']) {
      expect(ephemeralText(await w.discord.command(w.dev, 'history', { feature: f.plan.feature, limit }))).toMatch(/option limit must be (from 1 to 25|a whole number)/);
    }
  });
});

describe('numeric options and autocomplete from known lists', () => {
  it('registers set_cap_usd as a NUMBER from 0, history limit as an INTEGER from 1 to 25, sub_feature with autocomplete', () => {
    const [rollout] = commandDefinitions() as unknown as { options: { name: string; options: Record<string, unknown>[] }[] }[];
    const option = (sub: string, name: string) => rollout!.options.find((o) => o.name === sub)!.options.find((o) => o.name === name);
    expect(option('budget', 'set_cap_usd')).toMatchObject({ type: 10, min_value: 0 });
    expect(option('history', 'limit')).toMatchObject({ type: 4, min_value: 1, max_value: 25 });
    expect(option('budget', 'sub_feature')).toMatchObject({ type: 3, autocomplete: true });
    expect(rollout!.options.map((o) => o.name)).toContain('history');
  });

  it("autocompletes sub_feature from the named feature's LLM sub-features", async () => {
    const choices = async (value: string, feature?: string) =>
      (await w.discord.send(w.discord.signer.autocomplete(w.admin, 'budget', 'sub_feature', value, feature ? { feature } : {}))).body.data.choices as { name: string }[];
    expect(await choices('', 'ux-update')).toEqual([{ name: 'llm-parsing', value: 'llm-parsing' }]);
    expect(await choices('pars', 'ux-update')).toEqual([{ name: 'llm-parsing', value: 'llm-parsing' }]);
    expect(await choices('zzz', 'ux-update')).toEqual([]);
    expect(await choices('', 'cohort-analyzer')).toEqual([]);
    expect(await choices('')).toEqual([]);
  });

  it('refuses a hand-made NUMBER outside its bounds, or text where a number belongs', async () => {
    expect(ephemeralText(await w.discord.command(w.admin, 'budget', { feature: 'ux-update', set_cap_usd: '-1', reason: 'x' }))).toMatch(/option set_cap_usd must be from 0 to 100000, got -1/);
  });
});

describe('/rollout approve, reject, pause, resume', () => {
  it('approves the waiting phase: public answer, token handed back, the approval request updated', async () => {
    const f = await w.awaitApproval(fresh());
    const request = await approvalMessage(f.plan.feature);
    const reply = await w.discord.command(w.pm, 'approve', { feature: f.plan.feature, note: 'ship it' });
    expect(reply.body.type).toBe(4);
    expect(reply.body.data.flags).toBeUndefined();
    expect(messageText(reply.body.data)).toContain(`✅ ${f.plan.feature}: phase admin approved`);
    await expect(f.wait).resolves.toMatchObject({ decision: 'approve', by: { id: w.pm.id, via: 'discord' }, note: 'ship it' });
    const updated = w.discord.api.message(request.id)!;
    expect(buttonsOf(updated)).toEqual([]);
    expect(messageText(updated)).toMatch(/Approved by \*\*Priya\*\*/);
  });

  it('rejects with a reason: the task fails as a rejection, the request shows it', async () => {
    const f = await w.awaitApproval(fresh());
    const request = await approvalMessage(f.plan.feature);
    const reply = await w.discord.command(w.pm, 'reject', { feature: f.plan.feature, reason: 'p95 doubled' });
    expect(messageText(reply.body.data)).toContain('phase admin rejected');
    await expect(f.wait).rejects.toMatchObject({ name: ERROR_NAMES.approvalRejected, message: expect.stringContaining('p95 doubled') });
    expect(messageText(w.discord.api.message(request.id)!)).toMatch(/Rejected by \*\*Priya\*\*.*\n?.*p95 doubled/s);
  });

  it('refuses a person without an approver role: ephemeral, audited, nothing changed', async () => {
    const f = await w.awaitApproval(fresh());
    const text = ephemeralText(await w.discord.command(w.dev, 'approve', { feature: f.plan.feature }));
    expect(text).toMatch(/Not allowed[\s\S]*only pm may approve phase admin; you hold developer/i);
    expect(tokenStatus(f.token)).toBe('open');
    expect(await refusals(f.plan.feature)).toEqual([expect.objectContaining({ actor: expect.objectContaining({ id: w.dev.id, via: 'discord' }), detail: { code: 'FORBIDDEN', request: 'approve' } })]);
  });

  it('refuses direct messages, and audits the refusal under the feature', async () => {
    const f = await w.awaitApproval(fresh());
    const dm = discordUser('Priya in DMs', ['pm'], { dm: true });
    const text = ephemeralText(await w.discord.command(dm, 'approve', { feature: f.plan.feature }));
    expect(text).toMatch(/server channel only, not in direct messages/);
    expect(tokenStatus(f.token)).toBe('open');
    expect(await refusals(f.plan.feature)).toEqual([expect.objectContaining({ actor: expect.objectContaining({ id: dm.id }), detail: { code: 'FORBIDDEN', request: 'approve' } })]);
  });

  it('keeps the person who started the rollout from approving it when the plan says so', async () => {
    const f = await w.awaitApproval('strict', 0, { startedBy: { id: w.pm.id, name: 'Priya', via: 'discord', roles: ['pm'] } });
    expect(ephemeralText(await w.discord.command(w.pm, 'approve', { feature: 'strict' }))).toMatch(/does not let the person who started the rollout approve/);
    expect(tokenStatus(f.token)).toBe('open');
    const other = await w.discord.command(w.pm2, 'approve', { feature: 'strict' });
    expect(messageText(other.body.data)).toContain('phase only approved');
  });

  it('pauses and resumes for a PM; refuses a developer (audited)', async () => {
    const f = await w.awaitApproval(fresh());
    const feature = f.plan.feature;
    const before = w.discord.channelMessages().length;
    const paused = await w.discord.command(w.pm, 'pause', { feature, reason: 'waiting for the release notes' });
    expect(messageText(paused.body.data)).toMatch(/⏸️ .*: paused in phase admin[\s\S]*waiting for the release notes/);
    // The public answer is the announcement: the notifier posts nothing more to the same channel.
    expect(w.discord.channelMessages().length).toBe(before + 1);
    expect((await w.aws.ports.store.getState(feature))?.paused).toMatchObject({ by: { id: w.pm.id }, reason: 'waiting for the release notes' });
    expect(ephemeralText(await w.discord.command(w.pm, 'approve', { feature }))).toMatch(/paused by Priya; resume it before approving/);

    expect(ephemeralText(await w.discord.command(w.dev, 'resume', { feature }))).toMatch(/only pm or admin may resume a rollout/i);
    expect((await w.aws.ports.store.getState(feature))?.paused).toBeDefined();
    expect((await refusals(feature)).map((e) => e.detail)).toContainEqual({ code: 'FORBIDDEN', request: 'resume' });

    expect(messageText((await w.discord.command(w.admin, 'resume', { feature })).body.data)).toContain('resumed in phase admin');
    expect((await w.aws.ports.store.getState(feature))?.paused).toBeUndefined();
  });
});

describe('/rollout start and rollback (deferred)', () => {
  it('starts a rollout: deferred answer, StartExecution named after the interaction, the answer edited in', async () => {
    const feature = fresh();
    const interaction = w.discord.signer.command(w.pm, 'start', { feature });
    const reply = await w.discord.send(interaction);
    expect(reply.body).toEqual({ type: 5 });
    expect(reply.message?.pending).toBe(true);
    await w.discord.idle();
    const starts = w.aws.sfn.calls.filter((c) => c.command === 'StartExecution' && JSON.stringify(c.input).includes(`phasegate-dev-${feature}`));
    expect(starts).toEqual([
      expect.objectContaining({
        outcome: 'ok',
        input: {
          stateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-dev-${feature}`,
          name: `discord-${interaction.id}`,
          input: JSON.stringify({ actor: { id: w.pm.id, name: 'Priya', via: 'discord' } }),
        },
      }),
    ]);
    const answer = w.discord.api.message(reply.message!.id)!;
    expect(answer.pending).toBe(false);
    expect(messageText(answer)).toContain(`🚀 ${feature}: rollout started`);
    expect(w.discord.api.requests.some((r) => r.route === 'PATCH /webhooks/{application}/{token}/messages/@original' && r.status === 200)).toBe(true);

    // Lambda may run an asynchronous invocation again: the same execution name makes it the same execution.
    const job = w.discord.selfInvoke.invocations.find((i) => JSON.stringify(i.event).includes(interaction.id))!.event as Record<string, unknown>;
    await w.discord.handler(job);
    const again = w.aws.sfn.calls.filter((c) => c.command === 'StartExecution' && JSON.stringify(c.input).includes(`phasegate-dev-${feature}`));
    expect(again).toHaveLength(2);
    expect(new Set(w.aws.sfn.tokens.length >= 0 ? again.map((c) => (c.input as { name: string }).name) : [])).toEqual(new Set([`discord-${interaction.id}`]));
    expect(again.every((c) => c.outcome === 'ok')).toBe(true);
  });

  it('refuses to start for a developer (audited) and while a rollout is running, without invoking anything', async () => {
    const feature = fresh();
    const invocations = w.discord.selfInvoke.invocations.length;
    expect(ephemeralText(await w.discord.command(w.dev, 'start', { feature }))).toMatch(/only pm or admin may start a rollout/i);
    expect(await refusals(feature)).toEqual([expect.objectContaining({ detail: { code: 'FORBIDDEN', request: 'start' } })]);
    await w.awaitApproval(feature);
    expect(ephemeralText(await w.discord.command(w.pm, 'start', { feature }))).toMatch(/is already rolling out \(AWAITING_APPROVAL, phase admin\)/);
    expect(w.discord.selfInvoke.invocations.length).toBe(invocations);
  });

  it('tells the person privately when a deferred start turns out to be refused', async () => {
    const feature = fresh();
    w.discord.selfInvoke.hold();
    const reply = await w.discord.command(w.pm, 'start', { feature });
    expect(reply.body).toEqual({ type: 5 });
    // Someone else's rollout claims the feature before the job runs.
    await w.awaitApproval(feature);
    w.discord.selfInvoke.release();
    await w.discord.idle();
    expect(w.discord.api.message(reply.message!.id)!.deleted).toBe(true);
    const privately = w.discord.api.ephemeralMessages(w.pm.id).at(-1)!;
    expect(privately.origin).toBe('follow-up');
    expect(messageText(privately)).toMatch(/already rolling out/);
  });

  it('rolls back for on-call: every target safe, the waiting execution released, the answer edited in', async () => {
    const f = await w.awaitApproval(fresh());
    const feature = f.plan.feature;
    const reply = await w.discord.command(w.onCall, 'rollback', { feature, reason: 'error budget burning' });
    expect(reply.body).toEqual({ type: 5 });
    await w.discord.idle();
    const state = await w.aws.ports.store.getState(feature);
    expect(state).toMatchObject({ status: 'ROLLED_BACK', reason: 'error budget burning' });
    for (const target of f.plan.targets) expect(w.aws.lambda.environmentOf(target)).toMatchObject({ ...offFlagValues(f.plan), KEEP_ME: 'yes' });
    // The execution waiting for approval is released at once rather than after the approval timeout.
    await expect(f.wait).rejects.toBeInstanceOf(Error);
    expect(tokenStatus(f.token)).toBe('failed');
    expect(messageText(w.discord.api.message(reply.message!.id)!)).toMatch(/⏪ .*: rolled back[\s\S]*Olga[\s\S]*error budget burning[\s\S]*✓ .*-api/);
    expect((await audit(feature)).find((e) => e.action === 'rollback-started')).toMatchObject({ actor: { id: w.onCall.id, via: 'discord' } });

    expect(ephemeralText(await w.discord.command(w.onCall, 'rollback', { feature, reason: 'again' }))).toMatch(/already rolled back/);
  });

  it('refuses a rollback by a PM (audited) and of a feature that never ran', async () => {
    const f = await w.awaitApproval(fresh());
    const invocations = w.discord.selfInvoke.invocations.length;
    expect(ephemeralText(await w.discord.command(w.pm, 'rollback', { feature: f.plan.feature, reason: 'hm' }))).toMatch(/only on-call or admin may rollback a rollout; you hold pm/i);
    expect((await w.aws.ports.store.getState(f.plan.feature))?.status).toBe('AWAITING_APPROVAL');
    expect(await refusals(f.plan.feature)).toEqual([expect.objectContaining({ detail: { code: 'FORBIDDEN', request: 'rollback' } })]);
    expect(ephemeralText(await w.discord.command(w.onCall, 'rollback', { feature: fresh(), reason: 'x' }))).toMatch(/has no rollout/);
    expect(w.discord.selfInvoke.invocations.length).toBe(invocations);
  });
});

describe('/rollout promote', () => {
  /** A feature whose first phase bakes: started, flags applied, the bake's token stored by the real bake step. */
  const baking = async (feature: string) => {
    const plan = w.plans.find((p) => p.feature === feature)!;
    const executionId = `arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-${feature}:bake-${'x'.repeat(36)}`;
    const payload = { plan, stage: 'dev', executionId, startedBy: { id: 'u-starter', name: 'Sam', via: 'cli' as const } };
    await startRolloutStep(w.steps, payload);
    await applyPhaseStep(w.steps, { ...payload, phaseIndex: 0 });
    const token = w.aws.sfn.issueToken({ executionArn: executionId, stateName: 'admin: bake' });
    const wait = w.aws.sfn.waitForToken(token);
    wait.catch(() => undefined);
    await bakePhaseStep(w.steps, { ...payload, phaseIndex: 0, mode: 'bake', taskToken: token });
    return { token, wait };
  };

  it('ends the bake for a PM: the token handed back once, in public, audited; a second promote is told who did', async () => {
    const feature = fresh();
    const bake = await baking(feature);
    const reply = await w.discord.command(w.pm, 'promote', { feature });
    expect(reply.body.type).toBe(4);
    expect(reply.body.data.flags).toBeUndefined();
    expect(messageText(reply.body.data as never)).toMatch(new RegExp(`⏩ ${feature}: bake of admin ended[\\s\\S]*Priya[\\s\\S]*gate decides next`));
    await expect(bake.wait).resolves.toMatchObject({ promotedBy: { id: w.pm.id, via: 'discord' } });
    expect((await audit(feature)).find((e) => e.action === 'promoted')).toMatchObject({ actor: { id: w.pm.id }, fromPhase: 'admin' });
    expect(ephemeralText(await w.discord.command(w.admin, 'promote', { feature }))).toMatch(/already promoted by Priya/);
    expect(w.aws.sfn.calls.filter((c) => c.command === 'SendTaskSuccess' && JSON.stringify(c.input).includes(bake.token))).toHaveLength(1);
  });

  it('refuses a developer and a rollout that is not baking: ephemeral, audited, the bake untouched', async () => {
    const feature = fresh();
    const bake = await baking(feature);
    expect(ephemeralText(await w.discord.command(w.dev, 'promote', { feature }))).toMatch(/only pm or admin may promote/i);
    expect(tokenStatus(bake.token)).toBe('open');
    const waiting = await w.awaitApproval(fresh());
    expect(ephemeralText(await w.discord.command(w.pm, 'promote', { feature: waiting.plan.feature }))).toMatch(/is AWAITING_APPROVAL; only a running rollout's bake can be ended early/);
    expect((await refusals(feature)).map((e) => e.detail)).toEqual([expect.objectContaining({ code: 'FORBIDDEN', request: 'promote' })]);
    expect((await refusals(waiting.plan.feature)).map((e) => e.detail)).toEqual([expect.objectContaining({ code: 'NOT_PENDING', request: 'promote' })]);
  });
});

describe('/rollout retry (deferred)', () => {
  const startsOf = (feature: string) => w.aws.sfn.calls.filter((c) => c.command === 'StartExecution' && JSON.stringify(c.input).includes(`phasegate-dev-${feature}`));

  it('starts a rolled-back feature again at the phase named: deferred, StartExecution with startAt, the answer edited in', async () => {
    const f = await w.awaitApproval(fresh(), 1);
    const feature = f.plan.feature;
    await rollBack(w.aws.ports, { feature, actor: { id: 'ops', via: 'cli' }, reason: 'pm phase misbehaved' });
    const before = startsOf(feature).length;
    const interaction = w.discord.signer.command(w.pm, 'retry', { feature, from: 'ga' });
    const reply = await w.discord.send(interaction);
    expect(reply.body).toEqual({ type: 5 });
    await w.discord.idle();
    const starts = startsOf(feature).slice(before);
    expect(starts).toEqual([
      expect.objectContaining({
        outcome: 'ok',
        input: {
          stateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-dev-${feature}`,
          name: `discord-${interaction.id}`,
          input: JSON.stringify({ actor: { id: w.pm.id, name: 'Priya', via: 'discord' }, startAt: 2 }),
        },
      }),
    ]);
    expect(messageText(w.discord.api.message(reply.message!.id)!)).toMatch(new RegExp(`🔁 ${feature}: retried from ga[\\s\\S]*Priya`));
  });

  it('defaults to the phase it was rolled back in', async () => {
    const f = await w.awaitApproval(fresh(), 1);
    const feature = f.plan.feature;
    await rollBack(w.aws.ports, { feature, actor: { id: 'ops', via: 'cli' }, reason: 'restart' });
    const before = startsOf(feature).length;
    await w.discord.command(w.pm, 'retry', { feature });
    await w.discord.idle();
    expect(startsOf(feature).slice(before).map((c) => JSON.parse((c.input as { input: string }).input))).toEqual([expect.objectContaining({ startAt: 1 })]);
  });

  it('refuses a developer, a rollout that was not rolled back and an unknown phase: ephemeral, audited, nothing invoked', async () => {
    const f = await w.awaitApproval(fresh());
    const feature = f.plan.feature;
    const invocations = w.discord.selfInvoke.invocations.length;
    expect(ephemeralText(await w.discord.command(w.pm, 'retry', { feature }))).toMatch(/cannot be retried: it is AWAITING_APPROVAL/);
    await rollBack(w.aws.ports, { feature, actor: { id: 'ops', via: 'cli' }, reason: 'restart' });
    expect(ephemeralText(await w.discord.command(w.dev, 'retry', { feature }))).toMatch(/only pm or admin may start a rollout/i);
    expect(ephemeralText(await w.discord.command(w.pm, 'retry', { feature, from: 'nope' }))).toMatch(/has no phase "nope" \(phases: admin, pm, ga\)/);
    expect((await refusals(feature)).map((e) => (e.detail as { code: string }).code).sort()).toEqual(['FORBIDDEN', 'INVALID', 'NOT_PENDING']);
    expect(w.discord.selfInvoke.invocations.length).toBe(invocations);
  });

  it('autocompletes from with the named feature\'s phases in plan order', async () => {
    const choices = async (value: string) =>
      ((await w.discord.send(w.discord.signer.autocomplete(w.pm, 'retry', 'from', value, { feature: 'cohort-analyzer' }))).body.data.choices as { name: string }[]).map((c) => c.name);
    expect(await choices('')).toEqual(['admin', 'pm', 'ga']);
    expect(await choices('m')).toEqual(['admin', 'pm']);
    expect(await choices('a')).toEqual(['admin', 'ga']);
    expect(await choices('zzz')).toEqual([]);
  });

  it('registers from as an autocompleted option', () => {
    const [rollout] = commandDefinitions() as unknown as { options: { name: string; options: Record<string, unknown>[] }[] }[];
    const retry = rollout!.options.find((o) => o.name === 'retry')!;
    expect(retry.options).toEqual([expect.objectContaining({ name: 'feature', required: true }), expect.objectContaining({ name: 'from', autocomplete: true, required: false })]);
  });
});

describe('/rollout budget', () => {
  it('shows the LLM budget of a feature that has one', async () => {
    const text = ephemeralText(await w.discord.command(w.dev, 'budget', { feature: 'ux-update' }));
    expect(text).toMatch(/ux-update: LLM budget for \d{4}-\d{2}-\d{2}/);
    expect(text).toMatch(/ux-update\.llm-parsing\n✅ within budget\nSpent \$0\.00 of \$5\.00; \$5\.00 left\nHard limit \$10\.00/);
  });

  it("lets an admin change today's cap with a reason, in public, and audits it", async () => {
    const reply = await w.discord.command(w.admin, 'budget', { feature: 'ux-update', set_cap_usd: '7.5', reason: 'demo day' });
    const text = messageText(reply.message!);
    expect(text).toMatch(/of \$7\.50/);
    expect(text).toMatch(/set by .*Ada.*demo day/);
    const audit = await w.aws.ports.store.listAudit('ux-update');
    expect(audit[0]).toMatchObject({ action: 'budget-cap-changed', actor: { id: w.admin.id } });
  });

  it.each([
    ['a developer', () => w.dev, { set_cap_usd: '20', reason: 'more' }, /only admin may change the LLM budget/i],
    ['no reason', () => w.admin, { set_cap_usd: '3' }, /reason/],
    ['not a number', () => w.admin, { set_cap_usd: 'lots', reason: 'x' }, /set_cap_usd must be a number/],
    ['above the hard limit', () => w.admin, { set_cap_usd: '50', reason: 'x' }, /hard limit/],
  ])('refuses a cap change by %s, privately, changing nothing', async (_what, user, options, message) => {
    const budgetNow = async () => ephemeralText(await w.discord.command(w.dev, 'budget', { feature: 'ux-update' })).replace(/as of .*/, '');
    const before = await budgetNow();
    expect(ephemeralText(await w.discord.command(user(), 'budget', { feature: 'ux-update', ...options }))).toMatch(message);
    expect(await budgetNow()).toEqual(before);
  });

  it('says clearly when a feature has no LLM budget', async () => {
    expect(ephemeralText(await w.discord.command(w.dev, 'budget', { feature: 'cohort-analyzer' }))).toMatch(/No LLM budget for cohort-analyzer/);
  });
});

describe('approval buttons', () => {
  it('approve: the message is updated in place (who, when, no buttons) and the token handed back once', async () => {
    const f = await w.awaitApproval(fresh());
    const request = await approvalMessage(f.plan.feature);
    const reply = await w.discord.clickApprove(request, w.pm);
    expect(reply.body.type).toBe(7);
    expect(reply.message?.id).toBe(request.id);
    expect(buttonsOf(reply.message!)).toEqual([]);
    expect(messageText(reply.message!)).toMatch(/✅ .*: phase admin approved\nApproved by \*\*Priya\*\* \(<@\d+>\) <t:\d+:f>/);
    await expect(f.wait).resolves.toMatchObject({ decision: 'approve', by: { id: w.pm.id } });
    expect(w.aws.sfn.calls.filter((c) => c.command === 'SendTaskSuccess' && (c.input as { taskToken: string }).taskToken === f.token)).toHaveLength(1);
  });

  it('reject: asks why in a modal, then rejects with that reason', async () => {
    const f = await w.awaitApproval(fresh());
    const request = await approvalMessage(f.plan.feature);
    const opened = await w.discord.send(w.discord.signer.click(w.pm, request, 'Reject'));
    expect(opened.body).toMatchObject({ type: 9, data: { custom_id: expect.stringMatching(/^pg1:m:/), components: [{ components: [{ custom_id: 'reason', required: true }] }] } });
    expect(tokenStatus(f.token)).toBe('open');
    const reply = await w.discord.send(w.discord.signer.modalSubmit(w.pm, opened.body.data.custom_id, 'checkout errors up 3x', request));
    expect(reply.body.type).toBe(7);
    expect(messageText(reply.message!)).toMatch(/❌ .*phase admin rejected[\s\S]*checkout errors up 3x/);
    await expect(f.wait).rejects.toMatchObject({ name: ERROR_NAMES.approvalRejected });
  });

  it('refuses a click by someone without the approver role: ephemeral, audited, message untouched', async () => {
    const f = await w.awaitApproval(fresh());
    const request = await approvalMessage(f.plan.feature);
    const reply = await w.discord.clickApprove(request, w.dev);
    expect(ephemeralText(reply)).toMatch(/only pm may approve phase admin/i);
    expect(buttonsOf(w.discord.api.message(request.id)!)).toHaveLength(3);
    expect(tokenStatus(f.token)).toBe('open');
    expect(await refusals(f.plan.feature)).toEqual([expect.objectContaining({ detail: { code: 'FORBIDDEN', request: 'approve' } })]);
  });

  it('never lets a button of an earlier rollout approve a later one', async () => {
    const first = await w.awaitApproval(fresh());
    const feature = first.plan.feature;
    const oldRequest = await approvalMessage(feature);
    await rollBack(w.aws.ports, { feature, actor: { id: 'ops', via: 'cli' }, reason: 'restart' });
    const second = await w.awaitApproval(feature);
    expect(second.payload.executionId).not.toBe(first.payload.executionId);
    const reply = await w.discord.clickApprove(oldRequest, w.pm);
    expect(ephemeralText(reply)).toMatch(/Out of date[\s\S]*made for an earlier rollout/);
    expect(tokenStatus(second.token)).toBe('open');
    expect((await refusals(feature)).at(0)).toMatchObject({ executionId: second.payload.executionId, detail: { code: 'STALE', request: 'approve' } });
  });

  it('never lets a button of an earlier phase decide a later one', async () => {
    const f = await w.awaitApproval(fresh(), 1);
    const feature = f.plan.feature;
    expect((await w.aws.ports.store.getState(feature))?.phaseIndex).toBe(1);
    // A client still showing phase admin's buttons (they were removed when it was decided).
    const staleId = encodeCustomId({ action: 'approve', feature, phase: 'admin', executionHash: executionHash(f.payload.executionId) });
    const reply = await w.discord.send(w.discord.signer.interaction(3, { custom_id: staleId, component_type: 2 }, w.pm, { message: { id: (await approvalMessage(feature)).id } }));
    expect(ephemeralText(reply)).toMatch(/phase admin( of \S+)? was already approved by Earlier PM/i);
    expect(tokenStatus(f.token)).toBe('open');
    expect((await w.aws.ports.store.getState(feature))?.status).toBe('AWAITING_APPROVAL');
  });

  it('turns two simultaneous clicks into exactly one decision; the other person is told who decided', async () => {
    const f = await w.awaitApproval(fresh());
    const request = await approvalMessage(f.plan.feature);
    const clicks = [w.discord.signer.click(w.pm, request, 'Approve'), w.discord.signer.click(w.pm2, request, 'Approve')];
    const replies = await Promise.all(clicks.map((c) => w.discord.send(c)));
    const types = replies.map((r) => r.body.type).sort();
    expect(types).toEqual([4, 7]);
    const loser = replies.find((r) => r.body.type === 4)!;
    expect(ephemeralText(loser)).toMatch(/Already decided[\s\S]*phase admin( of \S+)? was already approved by (Priya|Paul)/i);
    expect(w.aws.sfn.calls.filter((c) => c.command === 'SendTaskSuccess' && (c.input as { taskToken: string }).taskToken === f.token)).toHaveLength(1);
    const decisions = (await audit(f.plan.feature)).filter((e) => e.action === 'approved');
    expect(decisions).toHaveLength(1);
  });
});

describe('configuration', () => {
  it('reads the public key and the bot token from SSM once (a cold start), whatever the traffic', async () => {
    const reads = (name: string) => w.discord.ssm.calls.filter((c) => c.name === name);
    expect(reads(w.discord.parameters.publicKey)).toEqual([expect.objectContaining({ withDecryption: false, outcome: 'ok' })]);
    // The bot token: once for the endpoint, once for the steps' notifier (two functions in the cloud).
    expect(reads(w.discord.parameters.botToken).map((c) => c.withDecryption)).toEqual([true, true]);
  });

  it('never logs the bot token or an interaction token', async () => {
    const logs: unknown[] = [];
    const spies = (['log', 'warn', 'error'] as const).map((level) => jest.spyOn(console, level).mockImplementation((...args) => void logs.push(args)));
    try {
      const f = await w.awaitApproval(fresh());
      const interaction = w.discord.signer.command(w.pm, 'approve', { feature: f.plan.feature });
      w.discord.api.failNext(/@original/, 500);
      await w.discord.send(interaction);
      await w.discord.send(w.discord.signer.command(w.onCall, 'rollback', { feature: f.plan.feature, reason: 'x' }));
      await w.discord.idle();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const text = JSON.stringify(logs);
    expect(text).not.toContain(w.discord.api.botToken);
    expect(text).not.toMatch(/aW50ZXJhY3Rpb246/);
  });
});

describe('a job event', () => {
  it('is only ever read from an invocation, never from a Function URL body', async () => {
    const f = await w.awaitApproval(fresh());
    const job = { [JOB_EVENT_KEY]: { kind: 'rollback', feature: f.plan.feature, reason: 'forged', person: { id: 'x', via: 'discord', roles: ['admin'] }, interaction: { id: '1', applicationId: '2', token: 't', deferred: 'message' } } };
    const body = JSON.stringify(job);
    const reply = await w.discord.post(body, w.discord.signer.headers(body));
    expect(reply.status).toBe(400);
    expect((await w.aws.ports.store.getState(f.plan.feature))?.status).toBe('AWAITING_APPROVAL');
  });
});
