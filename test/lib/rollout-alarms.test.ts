import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ENV, PHASEGATE_FUNCTIONS } from '../../lambdas/core/contract';
import { featureAlarmSpecs } from '../../lambdas/core/gates/gate-metrics';
import { loadPlanFile } from '../../lambdas/core/plan/load';
import { parsePlan } from '../../lambdas/core/plan/validate';
import { AlarmRollback } from '../../lib/alarm-rollback';
import { FeatureAlarms } from '../../lib/feature-alarms';
import { alarmStateChangeEvent, matchesEventPattern, rulesMatching } from '../../local/scenarios/alarm';
import type { CloudFormationTemplate } from '../../local/asl';
import { asArray, functionId, functionRoleId, policyStatements, resolveIntrinsics, stageStack, testApp } from './template-helpers';

const { template, stack } = stageStack('dev');
/** The features' rollback alarms by name (the ops alarms on the rollback itself are tested in rollback-alerts.test.ts). */
const alarms = (): Record<string, any> =>
  Object.fromEntries(
    Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .filter((r) => String(r.Properties.AlarmName).startsWith('phasegate-'))
      .map((r) => [r.Properties.AlarmName, r.Properties]),
  );

describe('FeatureAlarms in the dev stack', () => {
  it('creates one rollback alarm per distinct rollback rule of each plan, named phasegate-<stage>-<feature>-<metric>', () => {
    const expected = ['cohort-analyzer', 'ux-update'].flatMap((f) => featureAlarmSpecs(loadPlanFile(`rollouts/${f}.json`, 'dev'), 'dev').map((s) => s.name));
    expect(Object.keys(alarms()).sort()).toEqual(expected.sort());
    expect(expected).toEqual(
      expect.arrayContaining([
        'phasegate-dev_cohort-analyzer-error-rate-canary',
        'phasegate-dev_cohort-analyzer-error-rate-ramp',
        'phasegate-dev_cohort-analyzer-error-rate-full',
        'phasegate-dev_cohort-analyzer-duration-ms',
        'phasegate-dev_ux-update-llm-spend-llm-parsing',
      ]),
    );
  });

  it('alarms on the rollback band, treats missing data as not breaching, and spans the sustained-for', () => {
    const a = alarms();
    expect(a['phasegate-dev_cohort-analyzer-error-rate-canary']).toMatchObject({
      Threshold: 0.01,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
    // "above 0.1 % for more than 1 hour": 60 one-minute periods, all breaching.
    expect(a['phasegate-dev_cohort-analyzer-error-rate-full']).toMatchObject({ Threshold: 0.001, EvaluationPeriods: 60, DatapointsToAlarm: 60 });
    for (const props of Object.values(a)) expect(props.TreatMissingData).toBe('notBreaching');
  });

  it('computes the error rate as Errors / Invocations over every target with metric math', () => {
    const metrics = alarms()['phasegate-dev_cohort-analyzer-error-rate-canary'].Metrics as any[];
    expect(metrics.find((m) => m.Expression)).toMatchObject({ Expression: '(e0+e1)/(i0+i1)', ReturnData: true });
    const stats = metrics.filter((m) => m.MetricStat).map((m) => [m.Id, m.MetricStat.Metric.MetricName, m.MetricStat.Metric.Dimensions[0].Value, m.MetricStat.Stat, m.ReturnData]);
    expect(stats).toEqual([
      ['e0', 'Errors', 'cohort-api-dev', 'Sum', false],
      ['i0', 'Invocations', 'cohort-api-dev', 'Sum', false],
      ['e1', 'Errors', 'cohort-worker-dev', 'Sum', false],
      ['i1', 'Invocations', 'cohort-worker-dev', 'Sum', false],
    ]);
  });

  it('takes the worst target for a duration statistic (percentiles do not add up across functions)', () => {
    const metrics = alarms()['phasegate-dev_cohort-analyzer-duration-ms'].Metrics as any[];
    expect(metrics.find((m) => m.Expression)?.Expression).toBe('MAX([m0,m1])');
    expect(metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat.Stat)).toEqual(['p99', 'p99']);
  });

  it('uses a plain metric for one target, and alarms on the LLM daily cost at the sub-feature\'s hardLimitUsd', () => {
    const a = alarms();
    expect(a['phasegate-dev_ux-update-p95-ms']).toMatchObject({ MetricName: 'Duration', Namespace: 'AWS/Lambda', ExtendedStatistic: 'p95', Threshold: 10000, Period: 60 });
    expect(a['phasegate-dev_ux-update-llm-spend-llm-parsing']).toMatchObject({
      Namespace: 'Phasegate',
      MetricName: 'LlmSpendUsd',
      Dimensions: [
        { Name: 'Feature', Value: 'ux-update' },
        { Name: 'SubFeature', Value: 'llm-parsing' },
      ],
      Statistic: 'Sum',
      Period: 86400,
      Threshold: 10,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('builds one composite alarm per feature over the loosest rule per metric and the cost alarms', () => {
    const composites = Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm')).map((r) => r.Properties);
    expect(composites.map((c) => c.AlarmName).sort()).toEqual(['phasegate-dev_cohort-analyzer-composite', 'phasegate-dev_ux-update-composite']);
    const rule = JSON.stringify(resolveIntrinsics(composites.find((c) => c.AlarmName === 'phasegate-dev_ux-update-composite')!.AlarmRule));
    expect(rule).toContain('ALARM(');
    expect(rule).toContain(' OR ');
  });

  it('gives each feature a dashboard with its phase thresholds', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards.map((d) => d.Properties.DashboardName).sort()).toEqual(['phasegate-dev_cohort-analyzer', 'phasegate-dev_ux-update']);
    const body = JSON.stringify(resolveIntrinsics(dashboards.find((d) => d.Properties.DashboardName === 'phasegate-dev_cohort-analyzer')!.Properties.DashboardBody));
    for (const text of ['canary: roll back > 1 %', 'ramp: roll back > 0.5 %', 'full: roll back > 0.1 %', 'p99 duration']) expect(body).toContain(text);
  });

  it('splits an alarm over more targets than one alarm reads into parts under a composite of the plan\'s name', () => {
    const targets = Array.from({ length: 100 }, (_, i) => `checkout-${i + 1}`);
    const plan = parsePlan({
      feature: 'wide',
      targets,
      phases: [
        {
          name: 'all',
          roles: ['all'],
          bake: 'PT1H',
          gates: { errorRate: { proceedBelow: 0.01, rollbackAbove: 0.02 }, p95Ms: { proceedBelow: 200, rollbackAbove: 400 }, throttles: { proceedBelow: 10, rollbackAbove: 50 } },
        },
      ],
    });
    const s = new Stack(testApp(), 'Wide');
    const alarms = new FeatureAlarms(s, 'Alarms', { plan, stage: 'dev' });
    const t = Template.fromStack(s);
    const metricAlarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((r) => r.Properties);
    const parts = (name: string) => metricAlarms.filter((a) => String(a.AlarmName).startsWith(`${name}~`));
    // Error rate: 20 alarms of 5 targets (10 metrics each), each at the plan's threshold; exact errors / invocations per group.
    const errorParts = parts('phasegate-dev_wide-error-rate');
    expect(errorParts).toHaveLength(20);
    for (const [g, part] of errorParts.entries()) {
      expect(part.AlarmName).toBe(`phasegate-dev_wide-error-rate~${g + 1}`);
      expect(part.Threshold).toBe(0.02);
      const stats = (part.Metrics as any[]).filter((m) => m.MetricStat);
      expect(stats).toHaveLength(10);
      expect(stats.map((m) => m.MetricStat.Metric.Dimensions[0].Value)).toEqual(expect.arrayContaining(targets.slice(g * 5, g * 5 + 5)));
    }
    // Latency: 10 alarms of the worst of 10 targets; throttles: 10 alarms at a tenth of the threshold each.
    expect(parts('phasegate-dev_wide-p95-ms').map((a) => [a.Threshold, (a.Metrics as any[]).find((m) => m.Expression).Expression])).toEqual(
      Array.from({ length: 10 }, () => [400, 'MAX([m0,m1,m2,m3,m4,m5,m6,m7,m8,m9])']),
    );
    expect(parts('phasegate-dev_wide-throttles').map((a) => a.Threshold)).toEqual(Array.from({ length: 10 }, () => 5));
    // Every metric alarm within CloudWatch's 10 metrics; the rollback alarms are composites of their parts.
    for (const a of metricAlarms) expect(((a.Metrics as any[] | undefined) ?? []).filter((m) => m.MetricStat).length).toBeLessThanOrEqual(10);
    const composites = Object.values(t.findResources('AWS::CloudWatch::CompositeAlarm')).map((r) => r.Properties);
    const rule = (name: string) => String(resolveIntrinsics(composites.find((c) => c.AlarmName === name)!.AlarmRule));
    expect(rule('phasegate-dev_wide-error-rate').match(/ALARM\(/g)).toHaveLength(20);
    expect(rule('phasegate-dev_wide-p95-ms').match(/ALARM\(/g)).toHaveLength(10);
    expect(Object.keys(alarms.parts).sort()).toEqual(['phasegate-dev_wide-error-rate', 'phasegate-dev_wide-p95-ms', 'phasegate-dev_wide-throttles']);
    // The feature's composite names the three rollback alarms, not their 40 parts.
    expect(rule('phasegate-dev_wide-composite').match(/ALARM\(/g)).toHaveLength(3);
  });
});

describe('AlarmRollback: the EventBridge rule and the alarm-rollback function', () => {
  const cfn = template.toJSON() as CloudFormationTemplate;

  it('matches CloudWatch Alarm State Change to ALARM for the stage\'s Phasegate alarms, targeting alarm-rollback', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: { alarmName: [{ prefix: 'phasegate-dev_' }], state: { value: ['ALARM'] } },
      },
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId(template, 'alarm-rollback'), 'Arn'] }, RetryPolicy: Match.anyValue() })],
    });
    const alarm = (name: string, state: 'ALARM' | 'OK' = 'ALARM') => alarmStateChangeEvent({ alarmName: name, state });
    expect(rulesMatching(cfn, alarm('phasegate-dev_ux-update-error-rate-admin')).map((r) => r.targetFunctions)).toEqual([[functionId(template, 'alarm-rollback')]]);
    expect(rulesMatching(cfn, alarm('phasegate-dev_ux-update-error-rate-admin', 'OK'))).toEqual([]);
    expect(rulesMatching(cfn, alarm('phasegate-prod_ux-update-error-rate-admin'))).toEqual([]);
    expect(rulesMatching(cfn, alarm('orders-api-5xx'))).toEqual([]);
  });

  it('is not a step of the state machine, and knows the stage\'s features (not their state machine ARNs)', () => {
    expect(PHASEGATE_FUNCTIONS as readonly string[]).not.toContain('alarm-rollback');
    const fn = template.findResources('AWS::Lambda::Function')[functionId(template, 'alarm-rollback')]!;
    expect(JSON.parse(fn.Properties.Environment.Variables[ENV.features] as string)).toEqual(['cohort-analyzer', 'ux-update']);
    expect(JSON.stringify(fn.Properties.Environment.Variables)).not.toContain('stateMachine');
    // Five minutes; the flag writer takes its deadline from the invocation's remaining time, not from a variable.
    expect(fn.Properties.Timeout).toBe(300);
    expect(fn.Properties.Environment.Variables[ENV.flagWriteTimeoutSeconds]).toBeUndefined();
    for (const sm of Object.values(template.findResources('AWS::StepFunctions::StateMachine'))) {
      expect(JSON.stringify(sm.Properties.DefinitionString)).not.toContain(functionId(template, 'alarm-rollback'));
    }
  });

  it('has least privilege: target configurations only, itself, task failure and stop on Phasegate\'s own state machines only', () => {
    const role = functionRoleId(template, 'alarm-rollback');
    const statements = policyStatements(template).filter((s) => s.roles.includes(role)).map((s) => s.statement);
    const byAction = (prefix: string) => statements.filter((s) => asArray(s.Action).some((a: string) => a.startsWith(prefix)));
    expect(byAction('lambda:').map((s) => [asArray(s.Action).sort(), asArray(s.Resource).sort()])).toEqual([
      [
        ['lambda:GetFunction', 'lambda:UpdateFunctionConfiguration'],
        ['cohort-api-dev', 'cohort-worker-dev', 'valine-orchestrator-discord-dev'].map((n) => `arn:aws:lambda:us-east-1:123456789012:function:${n}`),
      ],
      [['lambda:InvokeFunction'], [`${functionId(template, 'alarm-rollback')}.Arn`]],
    ]);
    const states = byAction('states:');
    expect(states.map((s) => s.Action)).toEqual(['states:SendTaskFailure', 'states:StopExecution']);
    expect(asArray(states[1]!.Resource).sort()).toEqual([
      'arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-cohort-analyzer:*',
      'arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-ux-update:*',
    ]);
    for (const s of statements) {
      if (asArray(s.Resource).includes('*')) expect(asArray(s.Action).every((a: string) => a.startsWith('xray:'))).toBe(true);
    }
    expect(byAction('dynamodb:').flatMap((s) => asArray(s.Action)).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
  });

  it('passes cdk-nag with every acknowledgement reasoned', () => {
    const report = new AwsSolutionsChecks(stack.node.root as never).validateScope(stack);
    expect(report.violations).toEqual([]);
  });

  it('refuses to build without a feature to roll back, listing every problem', () => {
    const s = new Stack(testApp(), 'Empty');
    const table = new Table(s, 'T', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    expect(() => new AlarmRollback(s, 'AlarmRollback', { stage: 'Dev', table, targets: ['bad name'], stateMachines: {} })).toThrow(
      /AlarmRollback Empty\/AlarmRollback is invalid:\n {2}- stage: .*\n {2}- targets\[0\]: .*\n {2}- stateMachines: expected at least one feature/,
    );
  });
});

describe('the local event pattern matcher', () => {
  it.each([
    [{ source: ['aws.cloudwatch'] }, { source: 'aws.cloudwatch' }, true],
    [{ source: ['aws.cloudwatch'] }, { source: 'aws.s3' }, false],
    [{ detail: { alarmName: [{ prefix: 'phasegate-dev_' }] } }, { detail: { alarmName: 'phasegate-dev_x' } }, true],
    [{ detail: { alarmName: [{ prefix: 'phasegate-dev_' }] } }, { detail: { alarmName: 'phasegate-prod_x' } }, false],
    [{ detail: { alarmName: [{ suffix: '-composite' }] } }, { detail: { alarmName: 'a-composite' } }, true],
    [{ detail: { state: { value: [{ 'anything-but': ['OK'] }] } } }, { detail: { state: { value: 'ALARM' } } }, true],
    [{ detail: { state: { value: [{ 'anything-but': { prefix: 'O' } }] } } }, { detail: { state: { value: 'OK' } } }, false],
    [{ detail: { extra: [{ exists: false }] } }, { detail: {} }, true],
    [{ detail: { n: [{ numeric: ['>', 0, '<=', 5] }] } }, { detail: { n: 5 } }, true],
    [{ resources: ['arn:a'] }, { resources: ['arn:b', 'arn:a'] }, true],
    [{ detail: { state: { value: ['ALARM'] } } }, { detail: {} }, false],
  ])('%j against %j -> %s', (pattern, event, expected) => expect(matchesEventPattern(pattern, event)).toBe(expected));
});
