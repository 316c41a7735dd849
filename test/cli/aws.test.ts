import '../../local/node-compat';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { describeStageStack, planFromDefinition } from '../../cli/aws';
import { ConfigError } from '../../cli/errors';
import { buildApp } from '../../lib/app';
import { stateMachineName } from '../../lib/naming';
import { loadPlanFile } from '../../lambdas/core/plan/load';
import { stateMachinesFromTemplate } from '../../local/asl';
import { synthesizedStackTemplate } from '../../local/nested-stacks';
import { definitionWithPlan } from './support';
import { threePhasePlan } from '../support/plans';

/** Resource discovery: the stack's outputs, and the plan a deployed state machine carries. */

const ROOT = join(__dirname, '..', '..');

describe('planFromDefinition', () => {
  it('finds, in each synthesized state machine, exactly the plan the stack was built from (the deployed plan)', () => {
    // The stack and the expectation read the same copy of the plans.
    const plansDir = mkdtempSync(join(tmpdir(), 'phasegate-cli-plans-'));
    const features = ['ux-update', 'cohort-analyzer'];
    for (const feature of features) copyFileSync(join(ROOT, 'rollouts', `${feature}.json`), join(plansDir, `${feature}.json`));
    const { app } = buildApp({
      context: { stage: 'dev', plansDir, 'aws:cdk:bundling-stacks': [] },
      outdir: mkdtempSync(join(tmpdir(), 'phasegate-cli-cdk-')),
      builtinCloudFormationValidation: false,
    });
    const template = synthesizedStackTemplate(app.synth(), 'phasegate-dev');
    for (const feature of features) {
      const machine = stateMachinesFromTemplate(template).find((m) => m.name === stateMachineName('dev', feature))!;
      const { $schema: _schema, ...expected } = loadPlanFile(join(plansDir, `${feature}.json`), 'dev');
      expect(planFromDefinition(JSON.stringify(machine.definition), feature)).toEqual(expected);
    }
  });

  it('refuses a definition without the feature\'s plan', () => {
    const plan = threePhasePlan();
    expect(() => planFromDefinition(definitionWithPlan(plan), 'other-feature')).toThrow(ConfigError);
    expect(() => planFromDefinition('not json', plan.feature)).toThrow(/carries no plan for it/);
  });
});

describe('describeStageStack', () => {
  const cfn = mockClient(CloudFormationClient);
  afterAll(() => cfn.restore());
  const stack = (outputs: Record<string, string>) => ({
    Stacks: [{ StackName: 'phasegate-dev', StackStatus: 'CREATE_COMPLETE' as const, CreationTime: new Date(), Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })) }],
  });

  it('reads the table and the state machines from the outputs', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'phasegate-dev' }).resolves(stack({ TableName: 't-1', RolloutStateMachines: '{"a-b":"arn:a","c-d":"arn:c"}' }));
    await expect(describeStageStack(new CloudFormationClient({}), 'dev')).resolves.toEqual({
      stackName: 'phasegate-dev',
      region: 'us-east-1',
      tableName: 't-1',
      stateMachines: { 'a-b': 'arn:a', 'c-d': 'arn:c' },
    });
  });

  it.each([
    [{ RolloutStateMachines: '{}' }, /has no TableName output/],
    [{ TableName: 't-1' }, /has no RolloutStateMachines output/],
    [{ TableName: 't-1', RolloutStateMachines: '[not json' }, /is not a JSON object of feature -> ARN/],
    [{ TableName: 't-1', RolloutStateMachines: '{"a":1}' }, /is not a JSON object of feature -> ARN/],
  ])('refuses a stack whose outputs are %j', async (outputs, message) => {
    cfn.on(DescribeStacksCommand, { StackName: 'phasegate-dev' }).resolves(stack(outputs));
    const err = await describeStageStack(new CloudFormationClient({}), 'dev').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('STACK_OUTPUTS');
    expect((err as Error).message).toMatch(message);
  });
});
