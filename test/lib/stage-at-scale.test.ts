import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EXACT_TARGET_GRANT_LIMIT, targetTagKey } from '../../lib/phasegate-functions';
import { policyCharsAtMost } from '../../lib/policy-size';
import { writeScalePlans } from '../support/scale-plans';
import { buildTestApp } from './template-helpers';

jest.setTimeout(300_000);

/** CloudFormation quotas: template body 1 MB (from S3), 500 resources per stack; IAM: 10,240 characters of inline policy per role. */
const LIMITS = { templateBytes: 1_048_576, resources: 500, rolePolicyChars: 10_240 };

interface CfnTemplate {
  Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
}

describe('a stage of 50 features, 10 phases and 20 targets each', () => {
  const plansDir = mkdtempSync(join(tmpdir(), 'phasegate-scale-'));
  const outdir = mkdtempSync(join(tmpdir(), 'phasegate-scale-out-'));
  afterAll(() => {
    rmSync(plansDir, { recursive: true, force: true });
    rmSync(outdir, { recursive: true, force: true });
  });
  writeScalePlans(plansDir, { features: 50 });
  const { app, stack } = buildTestApp({ stage: 'prod', plansDir }, { outdir });
  const assembly = app.synth();
  const templates = readdirSync(assembly.directory)
    .filter((f) => f.endsWith('.template.json'))
    .map((file) => ({ file, text: readFileSync(join(assembly.directory, file), 'utf8') }));

  it('synthesizes into one stage stack with a nested stack per feature, each template within CloudFormation\'s limits', () => {
    expect(templates.length).toBe(51);
    for (const t of templates) {
      const resources = Object.keys((JSON.parse(t.text) as CfnTemplate).Resources ?? {}).length;
      expect({ file: t.file, bytes: t.text.length <= LIMITS.templateBytes, resources: resources <= LIMITS.resources }).toEqual({ file: t.file, bytes: true, resources: true });
    }
  });

  it('keeps every role\'s inline policies within IAM\'s 10,240 characters: targets granted by tag past the exact-ARN limit', () => {
    const perRole = new Map<string, number>();
    let byTag = 0;
    for (const t of templates) {
      for (const r of Object.values((JSON.parse(t.text) as CfnTemplate).Resources ?? {})) {
        if (r.Type !== 'AWS::IAM::Policy') continue;
        const doc = r.Properties!.PolicyDocument as { Statement: { Condition?: Record<string, Record<string, string>> }[] };
        byTag += doc.Statement.filter((s) => s.Condition?.StringEquals?.[`aws:ResourceTag/${targetTagKey('prod')}`] === 'target').length;
        for (const role of r.Properties!.Roles as unknown[]) {
          const key = `${t.file}:${JSON.stringify(role)}`;
          perRole.set(key, (perRole.get(key) ?? 0) + policyCharsAtMost(r.Properties!.PolicyDocument));
        }
      }
    }
    expect(1000).toBeGreaterThan(EXACT_TARGET_GRANT_LIMIT);
    // apply-phase, rollback, gate, alarm-rollback, reconcile and the Discord endpoint.
    expect(byTag).toBe(6);
    for (const [role, chars] of perRole) expect({ role, ok: chars <= LIMITS.rolePolicyChars }).toEqual({ role, ok: true });
  });

  it('has no cdk-nag finding nobody acknowledged', () => {
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });
});
