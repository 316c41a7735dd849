import '../../local/node-compat';
import { CloudFormationServiceException } from '@aws-sdk/client-cloudformation';
import { useLocalDynamo } from '../../local/dynamo';
import { offFlagValues, phaseFlagValues } from '../../lambdas/core/flags/flags';
import type { Plan } from '../../lambdas/core/plan/schema';
import { systemClock } from '../../lambdas/core/ports';
import type { AuditEvent } from '../../lambdas/core/rollout/rollout-state';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, gateStep, requestApprovalStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import type { StageStatus, StatusSummary } from '../../cli/views';
import { startLocalAws, type LocalAws } from '../support/local-aws';
import { threePhasePlan } from '../support/plans';
import { CALLERS, FakeDeployment, PRINCIPALS, overlong, runCli } from './support';

/**
 * Every command through the real AWS-mode code path: the stack's outputs from a DescribeStacks fake, the caller
 * from an STS fake, the deployed plan from DescribeStateMachine, the state in dynalite, and the Lambda and Step
 * Functions control planes behind their stateful fakes.
 */

let aws: LocalAws;
let deployment: FakeDeployment;
let restoreEndpoint: () => void;
let n = 0;
const plansByArn = new Map<string, Plan>();

/** The steps run with the system clock, like the CLI, so the audit trail sorts in real order. */
const ports = () => ({ ...aws.ports, clock: systemClock });

beforeAll(async () => {
  aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
  restoreEndpoint = useLocalDynamo(aws.dynamo.endpoint);
  deployment = new FakeDeployment().install();
  deployment.deployStage('dev', aws.tableName);
  // What Step Functions does on StartExecution: the execution's first step claims the feature.
  aws.sfn.onStartExecution(async (execution) => {
    const plan = plansByArn.get(execution.stateMachineArn)!;
    const { actor, startAt } = JSON.parse(execution.input) as { actor: StepPayload['startedBy']; startAt?: number };
    await startRolloutStep(ports(), { plan, stage: 'dev', executionId: execution.executionArn, startedBy: actor, ...(startAt !== undefined ? { startAt } : {}) });
    aws.sfn.registerExecution(execution, () => undefined);
  });
});
afterAll(async () => {
  deployment.restore();
  restoreEndpoint();
  await aws.stop();
});
beforeEach(() => {
  deployment.caller = CALLERS.pm;
});

/** A fresh feature deployed on dev, with its targets and the CLI principals mapped. */
function deployedFeature(overrides: Record<string, unknown> = {}): Plan {
  const feature = `cli-${++n}`;
  const plan = threePhasePlan({ feature, targets: [`${feature}-api`, `${feature}-worker`], principals: PRINCIPALS, ...overrides });
  for (const t of plan.targets) aws.lambda.addFunction(t, { KEEP_ME: 'yes' });
  plansByArn.set(deployment.deployFeature('dev', plan), plan);
  return plan;
}

/** Walk a feature to "phase 0 is baking" through the real steps. */
async function baking(overrides: Record<string, unknown> = {}): Promise<{ plan: Plan; payload: StepPayload }> {
  const plan = deployedFeature(overrides);
  const payload: StepPayload = { plan, stage: 'dev', executionId: `arn:aws:states:us-east-1:123456789012:execution:x:${plan.feature}`, startedBy: { id: 'u-pat', name: 'Pat', via: 'discord' } };
  await startRolloutStep(ports(), payload);
  await applyPhaseStep(ports(), { ...payload, phaseIndex: 0 });
  return { plan, payload };
}

/** Walk a feature to "phase 0 waits for approval"; returns the task token's settlement. */
async function awaitingApproval(overrides: Record<string, unknown> = {}): Promise<{ plan: Plan; wait: Promise<unknown>; token: string }> {
  const { plan, payload } = await baking(overrides);
  await gateStep(ports(), { ...payload, phaseIndex: 0 });
  const token = aws.sfn.issueToken({ executionArn: payload.executionId });
  const wait = aws.sfn.waitForToken(token);
  wait.catch(() => undefined);
  await requestApprovalStep(ports(), { ...payload, phaseIndex: 0, taskToken: token });
  return { plan, wait, token };
}

const audit = (feature: string): Promise<AuditEvent[]> => aws.ports.store.listAudit(feature);
const tokenStatus = (token: string) => aws.sfn.tokens.find((t) => t.token === token)?.status;

describe('status', () => {
  it('lists every feature of the stage with where it stands, in text that fits 80 columns and as JSON', async () => {
    const { plan } = await awaitingApproval();
    const idle = deployedFeature();
    const text = await runCli(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Phasegate dev: stack phasegate-dev (us-east-1)');
    expect(text.stdout).toMatch(new RegExp(`${plan.feature}\\s+AWAITING_APPROVAL\\s+admin \\(1/3\\)`));
    expect(text.stdout).toMatch(new RegExp(`${idle.feature}\\s+not started`));
    expect(overlong(text.stdout)).toEqual([]);

    const json = (await runCli(['status', '--json'])).json<StageStatus>();
    expect(json.stage).toBe('dev');
    expect(json.features.find((f) => f.feature === plan.feature)).toMatchObject({ status: 'AWAITING_APPROVAL', phase: { index: 0, name: 'admin', of: 3 } });
    expect(json.features.find((f) => f.feature === idle.feature)).toEqual({ feature: idle.feature, stage: 'dev', status: 'NOT_STARTED' });
  });

  it('shows one feature in detail: who may decide, its phases and what can be done next', async () => {
    const { plan } = await awaitingApproval();
    const text = await runCli(['status', plan.feature]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${plan.feature} on dev: AWAITING_APPROVAL`);
    expect(text.stdout).toContain('phase admin (1 of 3) waits for approval by pm');
    expect(text.stdout).toMatch(/current\s+admin\s+admin; 100%; bake 1h/);
    expect(text.stdout).toMatch(/pending\s+ga\s+all; 100%; bake 1h/);
    expect(text.stdout).toContain(`phasegate approve ${plan.feature}`);
    expect(overlong(text.stdout)).toEqual([]);

    const json = (await runCli(['status', plan.feature, '--json'])).json<StatusSummary>();
    expect(json).toMatchObject({
      feature: plan.feature,
      status: 'AWAITING_APPROVAL',
      step: 'awaiting-approval',
      waitingFor: { phase: 'admin', approvers: ['pm'] },
      startedBy: { id: 'u-pat', via: 'discord' },
      paused: null,
    });
    expect(json.phases!.map((p) => p.progress)).toEqual(['current', 'pending', 'pending']);
  });

  it('refuses a feature the stage does not have, naming the ones it has (exit 1)', async () => {
    const run = await runCli(['status', 'no-such-feature']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/stage dev has no feature "no-such-feature" \(features: cli-/);
    const json = await runCli(['status', 'no-such-feature', '--json']);
    expect(json.json()).toMatchObject({ error: { code: 'NOT_FOUND', exit: 1 } });
  });
});

describe('approve and reject', () => {
  it('approves as the caller\'s AWS identity: the task token resumes the execution and the audit names the principal', async () => {
    const { plan, wait } = await awaitingApproval();
    const run = await runCli(['approve', plan.feature, '--note', 'admins are happy']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Approved phase admin of ${plan.feature} as priya (cli).`);
    expect(run.stdout).toContain('The rollout goes on to phase pm.');
    await expect(wait).resolves.toMatchObject({ decision: 'approve', by: { id: CALLERS.pm, name: 'priya', via: 'cli' }, note: 'admins are happy' });
    expect((await audit(plan.feature))[0]).toMatchObject({ action: 'approved', actor: { id: CALLERS.pm, name: 'priya', via: 'cli' }, fromPhase: 'admin' });
  });

  it('opts in to the optional phase that follows with --opt-in, audited under the caller, then approves', async () => {
    const { plan, wait } = await awaitingApproval({
      phases: [
        { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] } },
        { name: 'canary', roles: ['admin', 'pm'], bake: 'PT1H', optional: true, approval: { required: true, approvers: ['pm'] } },
        { name: 'ga', roles: ['all'], bake: 'PT1H', approval: { required: false } },
      ],
    });
    const run = await runCli(['approve', plan.feature, '--opt-in', 'canary']);
    expect(run.code).toBe(0);
    await expect(wait).resolves.toMatchObject({ decision: 'approve' });
    expect((await audit(plan.feature)).map((e) => e.action)).toEqual(expect.arrayContaining(['opted-in', 'approved']));
  });

  it.each([
    ['a caller whose principal maps to no approver role', CALLERS.onCall, /only pm may approve phase admin; you hold on-call/],
    ['a caller whose principal matches no pattern', CALLERS.stranger, /you hold no Phasegate role/],
  ])('refuses %s (exit 1), changes nothing and audits the refusal', async (_what, caller, message) => {
    const { plan, token } = await awaitingApproval();
    deployment.caller = caller;
    const before = await aws.ports.store.getState(plan.feature);
    const run = await runCli(['approve', plan.feature]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(await aws.ports.store.getState(plan.feature)).toEqual(before);
    expect(tokenStatus(token)).toBe('open');
    expect((await audit(plan.feature))[0]).toMatchObject({ action: 'refused', actor: { id: caller, via: 'cli' }, detail: { code: 'FORBIDDEN' } });
  });

  it('takes the roles from the deployed plan, not from the plan the rollout started with', async () => {
    const { plan } = await awaitingApproval();
    // A later deploy stopped mapping the Product role: its members no longer hold pm.
    deployment.deployFeature('dev', { ...plan, principals: { [`arn:aws:sts::123456789012:assumed-role/OnCall/*`]: ['pm'] } });
    expect((await runCli(['approve', plan.feature])).code).toBe(1);
    deployment.caller = CALLERS.onCall;
    expect((await runCli(['approve', plan.feature])).code).toBe(0);
  });

  it('refuses to approve when nothing waits (stale state), audited', async () => {
    const { plan } = await baking();
    const run = await runCli(['approve', plan.feature, '--json']);
    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ error: { code: 'NOT_PENDING', message: expect.stringContaining('is not waiting for approval (status RUNNING, phase admin)') } });
    expect((await audit(plan.feature))[0]).toMatchObject({ action: 'refused', detail: { code: 'NOT_PENDING' } });
  });

  it('refuses a decision for another phase than the one waiting (--phase)', async () => {
    const { plan, token } = await awaitingApproval();
    const run = await runCli(['approve', plan.feature, '--phase', 'pm']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('phase pm of');
    expect(tokenStatus(token)).toBe('open');
  });

  it('refuses a feature that never started (exit 1)', async () => {
    const plan = deployedFeature();
    const run = await runCli(['approve', plan.feature]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`feature "${plan.feature}" has no rollout`);
  });

  it('rejects with a reason: the execution fails its approval and rolls back', async () => {
    const { plan, wait } = await awaitingApproval();
    expect((await runCli(['reject', plan.feature])).code).toBe(2);
    const run = await runCli(['reject', plan.feature, '--reason', 'error rate too high', '--json']);
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ decision: 'reject', phase: 'admin', status: 'REJECTED', note: 'error rate too high', decidedBy: { id: CALLERS.pm } });
    // The task token is a credential for the execution: never printed.
    expect(run.stdout).not.toMatch(/taskToken|AQ[A-Za-z0-9+/]{20}/);
    await expect(wait).rejects.toMatchObject({ name: 'PhasegateApprovalRejected', message: expect.stringContaining('error rate too high') });
  });
});

describe('pause and resume', () => {
  it('pauses and resumes as a pm; the state says who paused', async () => {
    const { plan } = await baking();
    const paused = await runCli(['pause', plan.feature, '--reason', 'investigating a report']);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain(`Paused ${plan.feature} in phase admin`);
    expect((await aws.ports.store.getState(plan.feature))?.paused).toMatchObject({ by: { id: CALLERS.pm, via: 'cli' }, reason: 'investigating a report' });
    const status = (await runCli(['status', plan.feature, '--json'])).json<StatusSummary>();
    expect(status.paused).toMatchObject({ by: { name: 'priya' } });

    const resumed = await runCli(['resume', plan.feature, '--json']);
    expect(resumed.code).toBe(0);
    expect(resumed.json<StatusSummary>()).toMatchObject({ feature: plan.feature, status: 'RUNNING', paused: null });
    expect((await aws.ports.store.getState(plan.feature))?.paused).toBeUndefined();
    const again = await runCli(['resume', plan.feature]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is not paused');
  });

  it('refuses on-call (they may roll back, not pause), audited', async () => {
    const { plan } = await baking();
    deployment.caller = CALLERS.onCall;
    const run = await runCli(['pause', plan.feature]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('only pm or admin may pause a rollout; you hold on-call');
    expect((await audit(plan.feature))[0]).toMatchObject({ action: 'refused', detail: { code: 'FORBIDDEN', request: 'pause' } });
  });
});

describe('rollback', () => {
  it('puts every target back in the safe state as on-call, audited like any rollback, and ends the execution', async () => {
    const { plan, token } = await awaitingApproval();
    deployment.caller = CALLERS.onCall;
    const run = await runCli(['rollback', plan.feature, '--reason', 'p95 regression']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Rolled back ${plan.feature} in`);
    expect(overlong(run.stdout)).toEqual([]);
    for (const t of plan.targets) expect(aws.lambda.environmentOf(t)).toEqual({ KEEP_ME: 'yes', ...offFlagValues(plan) });
    expect(await aws.ports.store.getState(plan.feature)).toMatchObject({ status: 'ROLLED_BACK', reason: 'p95 regression' });
    const trail = await audit(plan.feature);
    expect(trail.find((e) => e.action === 'rollback-started')).toMatchObject({ actor: { id: CALLERS.onCall, name: 'olga', via: 'cli' } });
    expect(tokenStatus(token)).not.toBe('open');
  });

  it('refuses a pm, audited, and leaves the targets as they are', async () => {
    const { plan } = await baking();
    const run = await runCli(['rollback', plan.feature, '--reason', 'I think it is broken']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('only on-call or admin may rollback a rollout; you hold pm');
    for (const t of plan.targets) expect(aws.lambda.environmentOf(t)).toMatchObject(phaseFlagValues(plan, 0));
    expect((await audit(plan.feature))[0]).toMatchObject({ action: 'refused', actor: { id: CALLERS.pm }, detail: { code: 'FORBIDDEN', request: 'rollback' } });
  });

  it('exits 1 and names the target when a target cannot be made safe', async () => {
    const { plan } = await baking();
    deployment.caller = CALLERS.admin;
    aws.lambda.failUpdates(plan.targets[1]!);
    const run = await runCli(['rollback', plan.feature, '--reason', 'errors', '--json']);
    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ error: { code: 'ROLLBACK_FAILED', message: expect.stringContaining(plan.targets[1]!) } });
    expect(await aws.ports.store.getState(plan.feature)).toMatchObject({ status: 'ROLLBACK_FAILED' });
  });

  it('needs --reason (usage, exit 2)', async () => {
    const run = await runCli(['rollback', 'cli-1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--reason <text> is required');
    expect(run.stderr).toContain('usage: phasegate rollback <feature> [options]');
  });
});

describe('start', () => {
  it('starts an execution of the deployed state machine with the caller as the actor; refuses a second one', async () => {
    const plan = deployedFeature();
    const run = await runCli(['start', plan.feature, '--json']);
    expect(run.code).toBe(0);
    const { executionId } = run.json<{ executionId: string }>();
    expect(executionId).toMatch(new RegExp(`^arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-${plan.feature}:cli-\\d{8}T\\d{6}Z-[0-9a-f]{6}$`));
    expect(await aws.ports.store.getState(plan.feature)).toMatchObject({ status: 'RUNNING', executionId, startedBy: { id: CALLERS.pm, name: 'priya', via: 'cli' } });

    const again = await runCli(['start', plan.feature]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is already rolling out (RUNNING');
  });

  it('refuses a developer, audited when the feature has a trail', async () => {
    const { plan } = await baking();
    deployment.caller = CALLERS.developer;
    const run = await runCli(['start', plan.feature]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('only pm or admin may start a rollout; you hold developer');
    expect((await audit(plan.feature))[0]).toMatchObject({ action: 'refused', detail: { request: 'start' } });
  });
});

describe('retry', () => {
  it('after a rollback, starts a new execution at the phase rolled back in (or --from), with startAt in its input', async () => {
    const { plan } = await baking();
    deployment.caller = CALLERS.onCall;
    expect((await runCli(['rollback', plan.feature, '--reason', 'errors'], { lambdaTime: aws.time })).code).toBe(0);
    deployment.caller = CALLERS.pm;
    const run = await runCli(['retry', plan.feature, '--from', 'pm', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const { executionId, phase, phaseIndex } = run.json<{ executionId: string; phase: string; phaseIndex: number }>();
    expect([phase, phaseIndex]).toEqual(['pm', 1]);
    expect(await aws.ports.store.getState(plan.feature)).toMatchObject({ status: 'RUNNING', executionId, startAt: 1 });

    const again = await runCli(['retry', plan.feature]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('cannot be retried: it is RUNNING');
  });
});

describe('history', () => {
  it('prints the audit trail newest first, with --limit, as text and as JSON', async () => {
    const { plan } = await awaitingApproval();
    await runCli(['approve', plan.feature]);
    const run = await runCli(['history', plan.feature]);
    expect(run.code).toBe(0);
    const actions = ['approved', 'approval-requested', 'gate-evaluated', 'flags-applied', 'phase-started', 'rollout-started'];
    const positions = actions.map((a) => run.stdout.search(new RegExp(`\\s${a}\\s`)));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(run.stdout).toContain('priya (cli)');
    expect(overlong(run.stdout)).toEqual([]);

    const json = (await runCli(['history', plan.feature, '--limit', '2', '--json'])).json<{ feature: string; events: AuditEvent[] }>();
    expect(json.feature).toBe(plan.feature);
    expect(json.events.map((e) => e.action)).toEqual(['approved', 'approval-requested']);
  });

  it('refuses an unknown feature and a malformed --limit', async () => {
    expect((await runCli(['history', 'not-deployed'])).code).toBe(1);
    const bad = await runCli(['history', 'cli-1', '--limit', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--limit must be a whole number from 1 to 1000, got "lots"');
  });
});

describe('budget', () => {
  const llm = {
    subFeatures: [{ id: 'llm-parsing', llm: { dailyCapUsd: 5, hardLimitUsd: 10 } }],
    phases: [
      { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] }, subFeatures: { 'llm-parsing': {} } },
      { name: 'ga', roles: ['all'], bake: 'PT1H', approval: { required: false } },
    ],
  };

  it("shows today's LLM budget, and lets an admin change today's cap with a reason (audited)", async () => {
    const { plan } = await baking(llm);
    const read = await runCli(['budget', plan.feature, '--json']);
    expect(read.code).toBe(0);
    expect(read.json()).toMatchObject({ feature: plan.feature, subFeatures: [{ subFeature: 'llm-parsing', capUsd: 5, spentUsd: 0, capSource: 'plan', hardLimitUsd: 10 }] });
    expect((await runCli(['budget', plan.feature])).stdout).toMatch(/llm-parsing\s+\$0\s+\$5\s+\$5\s+\$10\s+0\s+ok/);

    deployment.caller = CALLERS.admin;
    const set = await runCli(['budget', plan.feature, '--set', '2.5', '--reason', 'spend spike']);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/llm-parsing\s+\$0\s+\$2\.5\*/);
    expect((await audit(plan.feature))[0]).toMatchObject({ action: 'budget-cap-changed', actor: { id: CALLERS.admin, via: 'cli' } });
  });

  it('refuses a pm changing the cap (audited), and --set without a reason', async () => {
    const { plan } = await baking(llm);
    const run = await runCli(['budget', plan.feature, '--set', '1', '--reason', 'cheaper']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('only admin may change the LLM budget');
    expect((await audit(plan.feature))[0]).toMatchObject({ action: 'refused', detail: { request: 'set-budget' } });
    expect((await runCli(['budget', plan.feature, '--set', '1'])).code).toBe(2);
    expect((await runCli(['budget', plan.feature, '--set', 'ten', '--reason', 'x'])).code).toBe(2);
  });
});

describe('AWS and configuration errors (exit 3)', () => {
  it('says how to deploy when the stage has no stack', async () => {
    const run = await runCli(['status', '--stage', 'prod']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('stack phasegate-prod was not found in us-east-1: deploy the stage with `npx cdk deploy -c stage=prod`');
    expect((await runCli(['status', '--stage', 'prod', '--json'])).json()).toMatchObject({ error: { code: 'STACK_NOT_FOUND', exit: 3 } });
  });

  it('says what to do without credentials', async () => {
    deployment.failNext = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    const run = await runCli(['status']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('no AWS credentials found');
    expect(run.stderr).toContain('--local');
  });

  it('fails a write command before changing anything when STS finds no credentials', async () => {
    const { plan, token } = await awaitingApproval();
    deployment.caller = undefined;
    const run = await runCli(['approve', plan.feature, '--json']);
    expect(run.code).toBe(3);
    expect(run.json()).toMatchObject({ error: { code: 'NO_CREDENTIALS' } });
    expect(tokenStatus(token)).toBe('open');
  });

  it('reports access denied with a pointer to the permissions the CLI needs', async () => {
    deployment.failNext = new CloudFormationServiceException({
      name: 'AccessDenied',
      $fault: 'client',
      message: 'User: arn:aws:sts::123456789012:assumed-role/Product/priya is not authorized to perform: cloudformation:DescribeStacks',
      $metadata: { httpStatusCode: 403 },
    });
    const run = await runCli(['status']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('AWS denied the request (User: arn:aws:sts::123456789012:assumed-role/Product/priya is not authorized');
    expect(run.stderr).toContain('IAM permissions');
  });
});

describe('usage errors (exit 2)', () => {
  it.each([
    [['frobnicate'], 'unknown command "frobnicate"'],
    [[], 'no command given'],
    [['approve'], 'missing <feature>'],
    [['approve', 'Not_A_Feature'], '"Not_A_Feature" is not a feature id'],
    [['approve', 'x-1', 'extra'], 'unexpected argument "extra"'],
    [['status', '--verbose'], 'unknown option --verbose for status'],
    [['status', '--stage', 'Prod'], '--stage must be a stage name'],
    [['status', '--local', '--region', 'eu-west-1'], '--region has no meaning with --local'],
    [['plan'], 'plan needs a subcommand'],
    [['plan', 'check', 'x.json'], 'unknown plan subcommand "check"'],
  ])('%j -> %s', async (argv, message) => {
    const run = await runCli(argv);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('usage: phasegate');
  });

  it('answers --help on every command and at the top level (exit 0)', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['status', 'history', 'budget', 'start', 'approve', 'reject', 'pause', 'resume', 'rollback', 'plan validate', 'plan show']) {
      expect(top.stdout).toContain(`  ${c}`);
      const help = await runCli([...c.split(' '), '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^usage: phasegate ${c}`));
      expect(help.stdout).toContain('--json');
      expect(overlong(help.stdout)).toEqual([]);
    }
    expect(overlong(top.stdout)).toEqual([]);
    expect(top.stdout).toContain('3  AWS or configuration error');
    expect((await runCli(['help', 'rollback'])).stdout).toContain('--reason <text>');
  });
});
