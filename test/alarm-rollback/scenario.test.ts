import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchMetricsReader } from '../../lambdas/adapters/cloudwatch-metrics-reader';
import { DynamoRolloutStore } from '../../lambdas/adapters/dynamo-state-store';
import { LambdaFlagWriter } from '../../lambdas/adapters/lambda-flag-writer';
import { CloudWatchAlarmReader } from '../../lambdas/adapters/cloudwatch-alarm-reader';
import { offFlagValues, phaseFlagValues, subFeatureOffValues } from '../../lambdas/core/flags/flags';
import { loadPlanFile } from '../../lambdas/core/plan/load';
import { systemClock } from '../../lambdas/core/ports';
import { applyPhaseStep, startRolloutStep, type StepPorts } from '../../lambdas/core/rollout/steps';
import { buildApp } from '../../lib/app';
import type { CloudFormationTemplate } from '../../local/asl';
import { synthesizedStackTemplate } from '../../local/nested-stacks';
import { createTablesFromTemplate, localDynamoClient, startLocalDynamo, useLocalDynamo, type LocalDynamo } from '../../local/dynamo';
import { FakeCloudWatch } from '../../local/fakes/cloudwatch';
import { FakeLambdaControlPlane } from '../../local/fakes/lambda-control-plane';
import { FakeStepFunctions } from '../../local/fakes/step-functions';
import { AlarmScenarioError, alarmForPhase, raiseRollbackAlarm } from '../../local/scenarios/alarm';

let dynamo: LocalDynamo;
let restoreEndpoint: () => void;
let template: CloudFormationTemplate;
let tableNames: Record<string, string>;
const lambda = new FakeLambdaControlPlane();
const cloudwatch = new FakeCloudWatch();
const sfn = new FakeStepFunctions();
let ports: StepPorts;

beforeAll(async () => {
  const { app } = buildApp({ builtinCloudFormationValidation: false, outdir: mkdtempSync(join(tmpdir(), 'phasegate-alarm-')), context: { stage: 'dev', 'aws:cdk:bundling-stacks': [] } });
  template = synthesizedStackTemplate(app.synth(), 'phasegate-dev');
  dynamo = await startLocalDynamo();
  restoreEndpoint = useLocalDynamo(dynamo.endpoint);
  tableNames = await createTablesFromTemplate(template, dynamo.endpoint);
  lambda.install();
  cloudwatch.install();
  sfn.install();
  ports = {
    store: new DynamoRolloutStore(Object.values(tableNames)[0]!, localDynamoClient(dynamo.endpoint)),
    flags: new LambdaFlagWriter(undefined, { sleep: async () => undefined, pollMs: 0 }),
    alarms: new CloudWatchAlarmReader(),
    metrics: new CloudWatchMetricsReader(),
    clock: systemClock,
  };
});
afterAll(async () => {
  lambda.restore();
  cloudwatch.restore();
  sfn.restore();
  restoreEndpoint();
  await dynamo.stop();
});

async function rolloutIn(feature: string, phaseIndex: number) {
  const plan = loadPlanFile(join(__dirname, '..', '..', 'rollouts', `${feature}.json`), 'dev');
  for (const t of plan.targets) lambda.addFunction(t, { OWN: 'kept' });
  const executionId = `arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-${feature}:scenario`;
  sfn.registerExecution({ executionArn: executionId, stateMachineArn: `arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-dev-${feature}`, name: 'scenario', input: '{}' }, () => undefined);
  const payload = { plan, stage: 'dev', executionId, startedBy: { id: 'test', via: 'rehearsal' as const } };
  await startRolloutStep(ports, payload);
  // Walk the state to the phase (flags of each phase written, approvals granted through the state itself).
  for (let i = 0; i <= phaseIndex; i++) {
    await applyPhaseStep(ports, { ...payload, phaseIndex: i });
    if (i < phaseIndex) {
      const s = (await ports.store.getState(feature))!;
      await ports.store.saveTransition(s, { next: { ...s, version: s.version + 1, step: 'approved' }, event: { ...s.lastEvent, version: s.version + 1, action: 'approved', message: 'test' } });
    }
  }
  return plan;
}

describe('local/scenarios/alarm: a rollback alarm during a phase, through the synthesized rule and the real handler', () => {
  it('cohort-analyzer in ramp: the ramp alarm goes off, the rule routes it, the handler rolls back to canary\'s flags', async () => {
    const plan = await rolloutIn('cohort-analyzer', 1);
    const result = await raiseRollbackAlarm({ template, tableNames, stage: 'dev', plan, phase: 'ramp', cloudwatch, lambda });
    expect(result.alarm.name).toBe('phasegate-dev_cohort-analyzer-error-rate-ramp');
    expect(cloudwatch.stateOf(result.alarm.name)).toBe('ALARM');
    expect(result.event).toMatchObject({ source: 'aws.cloudwatch', 'detail-type': 'CloudWatch Alarm State Change', detail: { alarmName: result.alarm.name, state: { value: 'ALARM' }, previousState: { value: 'OK' } } });
    expect(result.event.resources).toEqual([`arn:aws:cloudwatch:us-east-1:123456789012:alarm:${result.alarm.name}`]);
    expect(result.rule.eventPattern).toMatchObject({ detail: { alarmName: [{ prefix: 'phasegate-dev_' }] } });
    expect(result.outcome).toMatchObject({ outcome: 'rolled-back', feature: 'cohort-analyzer', execution: 'stopped' });
    expect(result.timeToSafeMs).toBeGreaterThanOrEqual(0);
    for (const t of plan.targets) expect(result.targets[t]).toEqual(phaseFlagValues(plan, 0));
    expect(sfn.execution('arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-cohort-analyzer:scenario')?.status).toBe('ABORTED');
  });

  it('ux-update in llm-canary, LLM cost alarm: only the sub-feature goes off', async () => {
    const plan = await rolloutIn('ux-update', 3);
    const result = await raiseRollbackAlarm({ template, tableNames, stage: 'dev', plan, phase: 'llm-canary', metric: 'llm-spend-llm-parsing', cloudwatch, lambda });
    expect(result.outcome).toMatchObject({ outcome: 'sub-feature-rolled-back', subFeature: 'llm-parsing' });
    expect(result.targets['valine-orchestrator-discord-dev']).toEqual({ ...phaseFlagValues(plan, 3), ...subFeatureOffValues(plan, 'llm-parsing') });
    expect(result.targets['valine-orchestrator-discord-dev']).not.toEqual(offFlagValues(plan));
  });

  it('refuses a phase or metric without an alarm before raising anything', () => {
    const plan = loadPlanFile(join(__dirname, '..', '..', 'rollouts', 'ux-update.json'), 'dev');
    expect(() => alarmForPhase(plan, 'dev', 'beta')).toThrow(AlarmScenarioError);
    expect(() => alarmForPhase(plan, 'dev', 'admin', 'cache-hit-rate')).toThrow(/no rollback alarm for cache-hit-rate/);
    expect(alarmForPhase(plan, 'dev', 'ga').name).toBe('phasegate-dev_ux-update-error-rate-ga');
  });
});
