import '../../local/node-compat';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchMetricsReader } from '../../lambdas/adapters/cloudwatch-metrics-reader';
import { useLocalDynamo } from '../../local/dynamo';
import type { Plan } from '../../lambdas/core/plan/schema';
import { systemClock } from '../../lambdas/core/ports';
import type { PhaseReport } from '../../lambdas/core/gates/report';
import { applyPhaseStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import { steadyLambdaTraffic } from '../../local/fakes/cloudwatch';
import { SESSION_FILE_ENV, startSessionServer, type SessionServer } from '../../local/session';
import { startLocalAws, type LocalAws } from '../support/local-aws';
import { threePhasePlan } from '../support/plans';
import { CALLERS, FakeDeployment, PRINCIPALS, overlong, runCli } from './support';

/** `phasegate report <feature>`: AWS mode (stack outputs, dynalite, FakeCloudWatch) and `--local` (a session server). */

let aws: LocalAws;
let deployment: FakeDeployment;
let restoreEndpoint: () => void;
let server: SessionServer;
let dir: string;
let n = 0;

const ports = () => ({ ...aws.ports, clock: systemClock, metrics: new CloudWatchMetricsReader() });
const gates = { errorRate: { proceedBelow: 0.005, rollbackAbove: 0.01 }, p95Ms: { proceedBelow: 500, rollbackAbove: 1000 } };

function deployedFeature(): Plan {
  const feature = `rep-${++n}`;
  const base = threePhasePlan({ feature, targets: [`${feature}-api`], principals: PRINCIPALS });
  const plan = threePhasePlan({
    feature,
    targets: [`${feature}-api`],
    principals: PRINCIPALS,
    phases: base.phases.map((p, i) => (i === 0 ? { name: p.name, roles: p.roles, bake: p.bake, gates } : { name: p.name, roles: p.roles, bake: p.bake })),
  });
  for (const t of plan.targets) aws.lambda.addFunction(t);
  deployment.deployFeature('dev', plan);
  return plan;
}

async function inFirstPhase(plan: Plan): Promise<void> {
  const payload = { plan, stage: 'dev', executionId: `arn:exec:${plan.feature}`, startedBy: { id: CALLERS.admin, via: 'cli' as const } };
  await startRolloutStep(ports(), payload);
  await applyPhaseStep(ports(), { ...payload, phaseIndex: 0 });
}

let active: Plan;
let idle: Plan;

beforeAll(async () => {
  aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
  restoreEndpoint = useLocalDynamo(aws.dynamo.endpoint);
  deployment = new FakeDeployment().install();
  deployment.deployStage('dev', aws.tableName);
  // 10 errors in 10,000 invocations a minute (0.1 %), every duration 120 ms.
  aws.cloudwatch.setMetricData(steadyLambdaTraffic({ invocationsPerMinute: 10_000, errorsPerMinute: 10, durationMs: 120 }));
  active = deployedFeature();
  idle = deployedFeature();
  await inFirstPhase(active);
  dir = mkdtempSync(join(tmpdir(), 'phasegate-report-'));
  server = await startSessionServer({ stage: 'dev', plans: [active, idle], ports: { store: aws.ports.store }, dynamoEndpoint: aws.dynamo.endpoint, tableName: aws.tableName, sessionFile: join(dir, 'session.json') });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  deployment.restore();
  restoreEndpoint();
  await aws.stop();
});

describe('phasegate report', () => {
  it('prints the markdown report of an active rollout: phase, metrics against the bands, the recommendation', async () => {
    const run = await runCli(['report', active.feature]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`## Phase report: ${active.feature} on dev`);
    expect(run.stdout).toContain('- Phase: **admin** (1 of 3), 100 % of admin, bake PT1H');
    expect(run.stdout).toContain('- Error rate: 0.1 %; band: proceed below 0.5 %, roll back above 1 %: **proceed**');
    expect(run.stdout).toContain('- P95 duration: 120 ms; band: proceed below 500 ms, roll back above 1000 ms: **proceed**');
    expect(run.stdout).toContain('**Proceed**');
    expect(run.stdout).toMatch(/- error rate 0\.1 % \(\d+ error\(s\) \/ \d+ invocation\(s\)\): proceed, below 0\.5 %/);
  });

  it('prints the report object with --json', async () => {
    const report = (await runCli(['report', active.feature, '--json'])).json<PhaseReport>();
    expect(report).toMatchObject({ feature: active.feature, stage: 'dev', phase: { name: 'admin', index: 0 }, recommendation: { decision: 'PROCEED', label: 'Proceed' } });
    expect(report.metrics.map((m) => m.id)).toEqual(['error-rate', 'p95-ms']);
    expect(report.requests).toBeGreaterThan(0);
  });

  it('refuses a feature without an active rollout, and one the stage does not have (exit 1)', async () => {
    const never = await runCli(['report', idle.feature]);
    expect(never.code).toBe(1);
    expect(never.stderr).toContain(`${idle.feature} has never rolled out on stage dev: nothing to report`);
    const unknown = await runCli(['report', 'no-such-feature']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('stage dev has no feature "no-such-feature"');
  });

  it('works against the rehearsal with --local, the same report', async () => {
    const run = await runCli(['report', active.feature, '--local'], { env: { [SESSION_FILE_ENV]: join(dir, 'session.json') } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`## Phase report: ${active.feature} on dev`);
    expect(run.stdout).toContain('**Proceed**');
    const json = (await runCli(['report', active.feature, '--local', '--json'], { env: { [SESSION_FILE_ENV]: join(dir, 'session.json') } })).json<PhaseReport>();
    expect(json.recommendation.decision).toBe('PROCEED');
  });

  it('has help, and needs a feature (exit 2)', async () => {
    const help = await runCli(['report', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('phasegate report <feature>');
    expect(overlong(help.stdout)).toEqual([]);
    expect((await runCli(['report'])).code).toBe(2);
  });
});
