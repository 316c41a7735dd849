import '../../local/node-compat';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { offFlagValues } from '../../lambdas/core/flags/flags';
import type { Plan } from '../../lambdas/core/plan/schema';
import { systemClock } from '../../lambdas/core/ports';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, gateStep, requestApprovalStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import { SESSION_FILE_ENV, startSessionServer, type SessionInfo, type SessionServer } from '../../local/session';
import type { StageStatus, StatusSummary } from '../../cli/views';
import { startLocalAws, type LocalAws } from '../support/local-aws';
import { threePhasePlan } from '../support/plans';
import { runCli } from './support';

/**
 * `--local`: the CLI talks to a session server that runs the core operations in the "rehearsal's" process, on
 * dynalite and the SDK-boundary fakes. Here the test plays the rehearsal: it builds the state with the real
 * steps and starts the session server around it.
 */

let aws: LocalAws;
let server: SessionServer;
const dir = mkdtempSync(join(tmpdir(), 'phasegate-session-'));
const sessionFile = join(dir, 'session.json');
const env = { [SESSION_FILE_ENV]: sessionFile, USER: 'alice' };
const ports = () => ({ ...aws.ports, clock: systemClock });
const STAGE = 'dev';

// `bob` is mapped by the plans to developer only: in the sandbox, a mapped principal gets exactly its roles.
const waiting = threePhasePlan({ feature: 'waiting', targets: ['waiting-fn'], principals: { 'local:bob': ['developer'] } });
const idle = threePhasePlan({ feature: 'idle', targets: ['idle-fn'] });
const machines = { waiting: 'arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-dev-waiting', idle: 'arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-dev-idle' };
let wait: Promise<unknown>;

async function awaitingApproval(plan: Plan): Promise<void> {
  const payload: StepPayload = { plan, stage: STAGE, executionId: `arn:exec:${plan.feature}`, startedBy: { id: 'rehearsal', via: 'rehearsal' } };
  await startRolloutStep(ports(), payload);
  await applyPhaseStep(ports(), { ...payload, phaseIndex: 0 });
  await gateStep(ports(), { ...payload, phaseIndex: 0 });
  const token = aws.sfn.issueToken({ executionArn: payload.executionId });
  wait = aws.sfn.waitForToken(token);
  wait.catch(() => undefined);
  await requestApprovalStep(ports(), { ...payload, phaseIndex: 0, taskToken: token });
}

beforeAll(async () => {
  aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
  for (const plan of [waiting, idle]) for (const t of plan.targets) aws.lambda.addFunction(t, { KEEP_ME: 'yes' });
  aws.sfn.onStartExecution(async (execution) => {
    const plan = execution.stateMachineArn === machines.idle ? idle : waiting;
    const { actor } = JSON.parse(execution.input) as { actor: StepPayload['startedBy'] };
    await startRolloutStep(ports(), { plan, stage: STAGE, executionId: execution.executionArn, startedBy: actor });
    aws.sfn.registerExecution(execution, () => undefined);
  });
  await awaitingApproval(waiting);
  server = await startSessionServer({
    stage: STAGE,
    plans: [waiting, idle],
    ports: ports(),
    stateMachines: machines,
    dynamoEndpoint: aws.dynamo.endpoint,
    tableName: aws.tableName,
    sessionFile,
  });
});
afterAll(async () => {
  await server.close();
  await aws.stop();
});

describe('the session server', () => {
  it('writes the session file: where it listens, the process, the stage and the local DynamoDB', () => {
    const info = JSON.parse(readFileSync(sessionFile, 'utf8')) as SessionInfo;
    expect(info).toMatchObject({ url: server.url, pid: process.pid, stage: 'dev', dynamoEndpoint: aws.dynamo.endpoint, tableName: aws.tableName, features: ['waiting', 'idle'] });
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Date.parse(info.startedAt)).not.toBeNaN();
  });

  it('refuses a request without the session token', async () => {
    const res = await fetch(server.url, { method: 'POST', body: JSON.stringify({ op: 'status', actor: { id: 'local:mallory' } }) });
    expect(res.status).toBe(401);
  });
});

describe('the CLI with --local', () => {
  it('reads status from the rehearsal', async () => {
    const all = await runCli(['status', '--local', '--json'], { env });
    expect(all.code).toBe(0);
    expect(all.json<StageStatus>().features.map((f) => [f.feature, f.status])).toEqual([
      ['waiting', 'AWAITING_APPROVAL'],
      ['idle', 'NOT_STARTED'],
    ]);
    const text = await runCli(['status', '--local'], { env });
    expect(text.stdout).toContain(`Phasegate dev: the rehearsal at ${server.url} (pid ${process.pid})`);
  });

  it('refuses a principal the plan maps (sandbox roles are only for unmapped callers), audited', async () => {
    const run = await runCli(['approve', 'waiting', '--local'], { env: { ...env, USER: 'bob' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('only pm may approve phase admin; you hold developer');
    expect((await aws.ports.store.listAudit('waiting'))[0]).toMatchObject({ action: 'refused', actor: { id: 'local:bob', via: 'cli' } });
  });

  it('approves as local:<os user>, who holds every role in the sandbox; the execution resumes', async () => {
    const run = await runCli(['approve', 'waiting', '--local', '--note', 'tried it locally'], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Approved phase admin of waiting as alice (cli).');
    await expect(wait).resolves.toMatchObject({ decision: 'approve', by: { id: 'local:alice', name: 'alice', via: 'cli' } });
    expect((await aws.ports.store.listAudit('waiting'))[0]).toMatchObject({ action: 'approved', actor: { id: 'local:alice' } });
  });

  it('reports stale state the same way as with AWS: someone else decided first (exit 1, JSON error)', async () => {
    const run = await runCli(['approve', 'waiting', '--local', '--json'], { env: { ...env, USER: 'carol' } });
    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ error: { code: 'ALREADY_DECIDED', message: expect.stringContaining('already approved by alice') } });
    // The same person repeating their decision is a retry, not a conflict.
    expect((await runCli(['approve', 'waiting', '--local'], { env })).code).toBe(0);
  });

  it('pauses, shows the pause, resumes', async () => {
    expect((await runCli(['pause', 'waiting', '--local', '--reason', 'lunch'], { env })).code).toBe(0);
    expect((await runCli(['status', 'waiting', '--local', '--json'], { env })).json<StatusSummary>().paused).toMatchObject({ by: { id: 'local:alice' }, reason: 'lunch' });
    expect((await runCli(['resume', 'waiting', '--local'], { env })).code).toBe(0);
  });

  it('shows the history, newest first', async () => {
    const run = await runCli(['history', 'waiting', '--local', '--limit', '3', '--json'], { env });
    expect(run.json<{ events: { action: string }[] }>().events.map((e) => e.action)).toEqual(['resumed', 'paused', 'refused']);
  });

  it('rolls back: the fake targets get the safe flags', async () => {
    const run = await runCli(['rollback', 'waiting', '--local', '--reason', 'trying the rollback path'], { env });
    expect(run.code).toBe(0);
    expect(aws.lambda.environmentOf('waiting-fn')).toEqual({ KEEP_ME: 'yes', ...offFlagValues(waiting) });
    expect(await aws.ports.store.getState('waiting')).toMatchObject({ status: 'ROLLED_BACK', reason: 'trying the rollback path' });
  });

  it('starts a rollout through StartExecution on the rehearsal', async () => {
    const run = await runCli(['start', 'idle', '--local'], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Started a rollout of idle on dev: execution arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-idle:cli-');
    expect(await aws.ports.store.getState('idle')).toMatchObject({ status: 'RUNNING', startedBy: { id: 'local:alice', via: 'cli' } });
  });

  it('refuses an unknown feature', async () => {
    const run = await runCli(['status', 'nope', '--local'], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('stage dev has no feature "nope" (features: waiting, idle)');
  });

  it('refuses another stage than the rehearsal runs (exit 3)', async () => {
    const run = await runCli(['status', '--local', '--stage', 'prod'], { env });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('the running rehearsal is for stage dev, not prod');
  });
});

describe('without a running rehearsal', () => {
  it('says how to start one when there is no session file (exit 3)', async () => {
    const run = await runCli(['status', '--local'], { env: { [SESSION_FILE_ENV]: join(dir, 'missing.json') } });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('no rehearsal is running: start one with `npm run rehearse -- --manual`');
  });

  it('treats a session file whose process ended as no rehearsal', async () => {
    const stale = join(dir, 'stale.json');
    const info = JSON.parse(readFileSync(sessionFile, 'utf8')) as SessionInfo;
    // A pid far above Linux's pid_max: no such process.
    writeFileSync(stale, JSON.stringify({ ...info, pid: 2 ** 30 }));
    const run = await runCli(['status', '--local', '--json'], { env: { [SESSION_FILE_ENV]: stale } });
    expect(run.code).toBe(3);
    expect(run.json()).toMatchObject({ error: { code: 'NO_REHEARSAL', message: expect.stringContaining('which has ended') } });
  });

  it('removes the session file when the server closes', async () => {
    const other = join(dir, 'closing.json');
    // The least a rehearsal must give: its store; the other ports default to the SDK adapters its fakes serve.
    const s = await startSessionServer({ stage: STAGE, plans: [idle], ports: { store: aws.ports.store }, dynamoEndpoint: aws.dynamo.endpoint, tableName: aws.tableName, sessionFile: other });
    const run0 = await runCli(['status', 'idle', '--local', '--json'], { env: { [SESSION_FILE_ENV]: other } });
    expect(run0.json<StatusSummary>()).toMatchObject({ feature: 'idle', status: 'RUNNING' });
    expect(existsSync(other)).toBe(true);
    await s.close();
    expect(existsSync(other)).toBe(false);
    const run = await runCli(['status', '--local'], { env: { [SESSION_FILE_ENV]: other } });
    expect(run.code).toBe(3);
  });
});
