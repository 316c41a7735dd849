import { RefusedError } from '../../lambdas/core/errors';
import { decide, pauseRollout, requestRetry, requestStart, resumeRollout, rollBack, type Person } from '../../lambdas/core/rollout/operations';
import type { RolloutNotification, RolloutStarter } from '../../lambdas/core/ports';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, gateStep, requestApprovalStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import { startLocalAws, type LocalAws } from '../support/local-aws';
import { threePhasePlan } from '../support/plans';

const pm: Person = { id: 'u-pm', name: 'Priya', via: 'discord', roles: ['pm'] };
const dev: Person = { id: 'u-dev', name: 'Dan', via: 'discord', roles: ['developer'] };
let aws: LocalAws;
let n = 0;
const notes: RolloutNotification[] = [];

beforeAll(async () => {
  aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
});
afterAll(async () => aws.stop());

async function baking(): Promise<{ feature: string; payload: StepPayload }> {
  const feature = `ctl-${++n}`;
  const plan = threePhasePlan({ feature, targets: [`${feature}-fn`] });
  aws.lambda.addFunction(`${feature}-fn`, {});
  const payload: StepPayload = { plan, stage: 'dev', executionId: `arn:exec:${feature}`, startedBy: pm };
  const ports = { ...aws.ports, notifier: { notify: async (x: RolloutNotification) => void notes.push(x) } };
  await startRolloutStep(ports, payload);
  await applyPhaseStep(ports, { ...payload, phaseIndex: 0 });
  return { feature, payload };
}

describe('pause and resume', () => {
  it('a paused rollout holds at its gate without starting the hold clock, and approvals wait', async () => {
    const { feature, payload } = await baking();
    const ports = { ...aws.ports, notifier: { notify: async (x: RolloutNotification) => void notes.push(x) } };
    await pauseRollout(ports, { feature, actor: pm, reason: 'investigating a report' });
    expect(notes.at(-1)).toMatchObject({ kind: 'paused', feature, by: { id: 'u-pm' }, reason: 'investigating a report' });

    const gate = await gateStep(ports, { ...payload, phaseIndex: 0 });
    expect(gate).toEqual({ decision: 'HOLD', reasons: ['paused by Priya: investigating a report'] });
    expect((await aws.ports.store.getState(feature))?.holdingSince).toBeUndefined();

    await resumeRollout(ports, { feature, actor: pm });
    expect((await aws.ports.store.getState(feature))?.paused).toBeUndefined();
    expect(await gateStep(ports, { ...payload, phaseIndex: 0 })).toMatchObject({ decision: 'PROCEED' });
    expect(notes.filter((x) => x.feature === feature).map((x) => x.kind)).toEqual(['phase-started', 'paused', 'gate-evaluated', 'resumed', 'gate-evaluated']);
  });

  it('refuses an approval while paused, but lets a rejection through', async () => {
    const { feature, payload } = await baking();
    await gateStep(aws.ports, { ...payload, phaseIndex: 0 });
    const token = aws.sfn.issueToken();
    const wait = aws.sfn.waitForToken(token);
    wait.catch(() => undefined);
    await requestApprovalStep(aws.ports, { ...payload, phaseIndex: 0, taskToken: token });
    await pauseRollout(aws.ports, { feature, actor: pm });
    await expect(decide(aws.ports, { feature, phase: 'admin', decision: 'approve', actor: pm })).rejects.toMatchObject({ code: 'NOT_PENDING', message: expect.stringContaining('paused by Priya') });
    await decide(aws.ports, { feature, phase: 'admin', decision: 'reject', actor: pm, note: 'not good' });
    await expect(wait).rejects.toMatchObject({ name: 'PhasegateApprovalRejected' });
  });

  it.each([
    ['a developer pausing', () => ({ actor: dev }), 'FORBIDDEN', 'pause'],
    ['pausing twice', () => ({}), 'NOT_PENDING', 'pause-twice'],
    ['resuming what is not paused', () => ({}), 'NOT_PENDING', 'resume'],
  ] as const)('refuses %s and audits it', async (_what, change, code, kind) => {
    const { feature } = await baking();
    if (kind === 'pause-twice') await pauseRollout(aws.ports, { feature, actor: pm });
    const before = await aws.ports.store.getState(feature);
    const call = kind === 'resume' ? resumeRollout(aws.ports, { feature, actor: pm, ...change() }) : pauseRollout(aws.ports, { feature, actor: pm, ...change() });
    await expect(call).rejects.toMatchObject({ code });
    expect(await aws.ports.store.getState(feature)).toEqual(before);
    expect((await aws.ports.store.listAudit(feature))[0]).toMatchObject({ action: 'refused' });
  });
});

describe('requestStart', () => {
  const started: string[] = [];
  const starter: RolloutStarter = { start: async (feature) => (started.push(feature), { executionId: `arn:exec:new-${feature}` }) };

  it('starts an execution for a known, idle feature when a pm asks', async () => {
    await expect(requestStart({ ...aws.ports, starter }, { feature: 'fresh-feature', actor: pm, knownFeatures: ['fresh-feature'] })).resolves.toEqual({
      executionId: 'arn:exec:new-fresh-feature',
    });
    expect(started).toContain('fresh-feature');
  });

  it('refuses an unknown feature, a developer, and a feature already rolling out', async () => {
    await expect(requestStart({ ...aws.ports, starter }, { feature: 'nope', actor: pm, knownFeatures: ['a', 'b'] })).rejects.toThrow(/no plan for feature "nope" on this stage \(features: a, b\)/);
    await expect(requestStart({ ...aws.ports, starter }, { feature: 'x', actor: dev, knownFeatures: ['x'] })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const { feature } = await baking();
    const err = await requestStart({ ...aws.ports, starter }, { feature, actor: pm, knownFeatures: [feature] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as Error).message).toMatch(/already rolling out \(RUNNING, phase admin\)/);
  });
});

describe('requestRetry', () => {
  const starts: { feature: string; input: { actor: unknown; startAt?: number } }[] = [];
  const starter: RolloutStarter = { start: async (feature, input) => (starts.push({ feature, input }), { executionId: `arn:exec:retry-${feature}` }) };
  const onCall: Person = { id: 'u-oc', name: 'Olga', via: 'cli', roles: ['on-call'] };

  /** A rollout rolled back in its second phase (pm): one that started there, as a retry does. */
  async function rolledBackInPm(): Promise<string> {
    const feature = `ctl-${++n}`;
    const plan = threePhasePlan({ feature, targets: [`${feature}-fn`] });
    aws.lambda.addFunction(`${feature}-fn`, {});
    const payload: StepPayload = { plan, stage: 'dev', executionId: `arn:exec:${feature}`, startedBy: pm, startAt: 1 };
    await startRolloutStep(aws.ports, payload);
    await applyPhaseStep(aws.ports, { ...payload, phaseIndex: 1 });
    await rollBack(aws.ports, { feature, actor: { id: onCall.id, via: 'cli' }, reason: 'errors' });
    return feature;
  }

  it('starts a new execution at the phase rolled back in, or at --from, skipping the phases before it', async () => {
    const feature = await rolledBackInPm();
    const ports = { ...aws.ports, starter };
    await expect(requestRetry(ports, { feature, actor: pm, knownFeatures: [feature] })).resolves.toEqual({ executionId: `arn:exec:retry-${feature}`, phase: 'pm', phaseIndex: 1 });
    expect(starts.at(-1)).toEqual({ feature, input: { actor: { id: pm.id, name: pm.name, via: pm.via }, startAt: 1 } });
    await expect(requestRetry(ports, { feature, actor: pm, knownFeatures: [feature], from: 'admin' })).resolves.toMatchObject({ phase: 'admin', phaseIndex: 0 });
    expect(starts.at(-1)!.input.startAt).toBe(0);
  });

  it('refuses, and audits, a developer, an unknown phase, and a rollout that was not rolled back', async () => {
    const feature = await rolledBackInPm();
    const ports = { ...aws.ports, starter };
    const before = starts.length;
    await expect(requestRetry(ports, { feature, actor: dev, knownFeatures: [feature] })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(requestRetry(ports, { feature, actor: pm, knownFeatures: [feature], from: 'nope' })).rejects.toThrow(`${feature} has no phase "nope" (phases: admin, pm, ga)`);
    const running = (await baking()).feature;
    await expect(requestRetry(ports, { feature: running, actor: pm, knownFeatures: [running] })).rejects.toThrow(`${running} cannot be retried: it is RUNNING: only a rolled-back rollout can be retried`);
    expect(starts.length).toBe(before);
    const refused = (await aws.ports.store.listAudit(feature, 20)).filter((e) => e.action === 'refused');
    expect(refused).toHaveLength(2);
  });
});
