import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_PLANS_DIR, PlansInvalidError } from '../../lambdas/core/plan/load';
import { AppConfigError } from '../../lib/app';
import { buildTestApp, stackTemplate } from './template-helpers';

const validPlan = (feature: string, bake = 'PT5M'): object => ({
  feature,
  targets: [`${feature}-fn`],
  phases: [{ name: 'all', roles: ['all'], bake }],
});

describe('buildApp', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phasegate-plans-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const writePlan = (file: string, plan: unknown): void => writeFileSync(join(dir, file), JSON.stringify(plan));

  it('builds phasegate-dev from rollouts/ by default', () => {
    const built = buildTestApp();
    expect(built.stage).toBe('dev');
    expect(built.stack.stackName).toBe('phasegate-dev');
    expect(built.plansDir).toBe(DEFAULT_PLANS_DIR);
    expect(built.planFiles.map((f) => f.slice(DEFAULT_PLANS_DIR.length + 1))).toEqual(['cohort-analyzer.json', 'ux-update.json']);
    expect(Object.keys(built.stack.rollouts).sort()).toEqual(['cohort-analyzer', 'ux-update']);
  });

  it('mentions the approvers in approval requests only where the stage opts in (phasegate:<stage>:mentionApprovers)', () => {
    const mentionEnv = (context: Record<string, unknown>): string[] => {
      const resources = stackTemplate(buildTestApp(context).stack).findResources('AWS::Lambda::Function');
      return Object.values(resources)
        .map((r) => (r as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties.Environment?.Variables ?? {})
        .filter((v) => v.PHASEGATE_DISCORD_MENTION_APPROVERS !== undefined)
        .map((v) => `${String(v.PHASEGATE_FUNCTION)}=${String(v.PHASEGATE_DISCORD_MENTION_APPROVERS)}`);
    };
    const optedIn = mentionEnv({ stage: 'prod', 'phasegate:prod:mentionApprovers': true });
    expect(optedIn).toContain('request-approval=true');
    expect(optedIn.every((e) => e.endsWith('=true'))).toBe(true);
    expect(mentionEnv({ stage: 'prod', 'phasegate:dev:mentionApprovers': true })).toEqual([]);
    expect(mentionEnv({ stage: 'dev' })).toEqual([]);
    expect(() => buildTestApp({ stage: 'dev', 'phasegate:dev:mentionApprovers': 'yes' })).toThrow('context "phasegate:dev:mentionApprovers" must be true or false, got "yes"');
  });

  it('rejects an unknown stage, naming the allowed ones', () => {
    expect(() => buildTestApp({ stage: 'qa' })).toThrow(AppConfigError);
    expect(() => buildTestApp({ stage: 'qa' })).toThrow(
      /^unknown stage "qa": expected one of dev, staging, prod \(choose with -c stage=<name>/,
    );
  });

  it.each([
    { stages: ['dev', 'qa'], label: 'an array' },
    { stages: 'dev, qa', label: 'a comma-separated string' },
  ])('takes the allowed stages from the "stages" context given as $label', ({ stages }) => {
    writePlan('a.json', validPlan('alpha'));
    expect(buildTestApp({ stages, stage: 'qa', plansDir: dir }).stack.stackName).toBe('phasegate-qa');
    expect(() => buildTestApp({ stages, stage: 'prod', plansDir: dir })).toThrow(
      /unknown stage "prod": expected one of dev, qa/,
    );
  });

  it('rejects a malformed "stages" context', () => {
    expect(() => buildTestApp({ stages: ['Dev'] })).toThrow(/context "stages" must be a non-empty list/);
  });

  it('reads plans from the "plansDir" context', () => {
    writePlan('alpha.json', validPlan('alpha'));
    writePlan('notes.txt', 'ignored');
    const built = buildTestApp({ plansDir: dir });
    expect(Object.keys(built.stack.rollouts)).toEqual(['alpha']);
  });

  it('rejects a plans directory that does not exist', () => {
    const missing = join(dir, 'missing');
    expect(() => buildTestApp({ plansDir: missing })).toThrow(
      new AppConfigError(`plans directory ${missing} does not exist (choose one with -c plansDir=<dir>)`),
    );
  });

  it('reports every problem of every invalid plan file at once, with field paths', () => {
    writePlan('a-good.json', validPlan('good'));
    writePlan('b-bad.json', { ...validPlan('bad'), phases: [{ name: 'one', roles: ['all'], bake: 'PT1H' }, { name: 'two', roles: ['all'], bake: 'PT1H' }, { name: 'three', roles: [], bake: '2 days' }] });
    writePlan('c-dup.json', validPlan('good'));
    writeFileSync(join(dir, 'd-broken.json'), '{ not json');
    let error: unknown;
    try {
      buildTestApp({ plansDir: dir });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PlansInvalidError);
    const message = (error as Error).message;
    expect(message).toContain(`${join(dir, 'b-bad.json')} is invalid:`);
    expect(message).toContain('  - phases[2].roles: required: expected at least one role');
    expect(message).toContain('  - phases[2].bake: expected ISO 8601 duration, got "2 days"');
    expect(message).toContain(`${join(dir, 'c-dup.json')} is invalid:\n  - feature: "good" is already defined by a-good.json`);
    expect(message).toContain(`${join(dir, 'd-broken.json')} is invalid:\n  - (file): `);
    expect(message).not.toContain('a-good.json is invalid');
  });
});

describe('cdk-nag AwsSolutions', () => {
  it.each(['dev', 'prod'])('%s: no unacknowledged violation', (stage) => {
    const { app, stack } = buildTestApp({ stage });
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('still reports what nobody acknowledged', () => {
    const { app, stack } = buildTestApp({ stage: 'dev' });
    new Table(stack, 'Unprotected', { partitionKey: { name: 'id', type: AttributeType.STRING } });
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual(['AwsSolutions-DDB3']);
  });

  it('is registered on the app, so synth fails on a violation', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'phasegate-out-'));
    try {
      const { app, stack } = buildTestApp({ stage: 'dev' }, { outdir });
      new Table(stack, 'Unprotected', { partitionKey: { name: 'id', type: AttributeType.STRING } });
      const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
      const log = jest.spyOn(console, 'error').mockImplementation(() => undefined);
      try {
        expect(() => app.synth()).toThrow(/AwsSolutions-DDB3/);
      } finally {
        write.mockRestore();
        log.mockRestore();
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
