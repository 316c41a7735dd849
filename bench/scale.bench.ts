/**
 * Platform scale: a stage of 10 and of 50 features, each of 10 phases over 20 targets with error-rate and p95 gates
 * that tighten phase by phase, synthesized as `cdk synth -c stage=<name>` does (minus asset bundling, which costs
 * the same whatever the plans). Printed against AWS's limits as ratios (1.00 = at the limit): the largest template
 * (1 MB through S3) and resource count (500) of the stage's stack and its feature stacks, the stack description
 * (1,024 bytes), the stage stack's outputs (200), the largest role's inline policies (IAM: 10,240 characters per
 * role) and every function's Lambda environment (4 KB, resolved as deployed, measured as Lambda does). A stage the
 * constructs refuse at synth (a function whose environment could pass 4 KB once deployed) is reported with the reason. Then the worst case of every shipped plan in one execution
 * (lambdas/core/plan/limits.ts) against 25,000 history events and one year. A CloudFormation or Step Functions
 * ratio above 1 sets a non-zero exit code; the IAM and Lambda figures are printed for what they are.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ENV } from '../lambdas/core/contract';
import { environmentBytes } from '../lambdas/core/flags/env-merge';
import { executionCost, MAX_EXECUTION_SECONDS, MAX_HISTORY_EVENTS } from '../lambdas/core/plan/limits';
import { validatePlan } from '../lambdas/core/plan/validate';
import { buildApp, MAX_STACK_DESCRIPTION_BYTES } from '../lib/app';
import { stackName } from '../lib/naming';
import { policyCharsAtMost } from '../lib/policy-size';
import { InvalidPropsError } from '../lib/props-problems';
import { functionsFromTemplate } from '../local/asl';
import { synthesizedStackTemplate } from '../local/nested-stacks';

const ROOT = join(__dirname, '..');
const FEATURE_COUNTS = [10, 50] as const;
const PHASES = 10;
const TARGETS = 20;

/** CloudFormation quotas (CloudFormation quotas page): template body via S3, resources, outputs per template. */
const LIMITS = { templateBytes: 1_048_576, resources: 500, outputs: 200, descriptionBytes: MAX_STACK_DESCRIPTION_BYTES } as const;
/** IAM: the inline policies of one role together (IAM quotas page, "Role policy size"); Lambda: 4 KB of environment. */
const IAM_ROLE_POLICY_CHARS = 10_240;
const LAMBDA_ENV_BYTES = 4_096;

/** A feature of 10 phases over 20 targets of its own, error rate and p95 tightening as exposure grows. */
function featurePlan(i: number): Record<string, unknown> {
  const feature = `scale-feature-${String(i).padStart(2, '0')}`;
  return {
    feature,
    targets: Array.from({ length: TARGETS }, (_, t) => `svc-${String(i).padStart(2, '0')}-fn-${String(t).padStart(2, '0')}`),
    phases: Array.from({ length: PHASES }, (_, p) => ({
      name: `phase-${p}`,
      roles: ['all'],
      percent: Math.min(100, (p + 1) * 10),
      bake: 'PT6H',
      approval: { required: true, approvers: ['pm'] },
      gates: {
        errorRate: { proceedBelow: 0.01 / (p + 1), rollbackAbove: 0.02 / (p + 1) },
        p95Ms: { proceedBelow: 300, rollbackAbove: 600 - p * 10 },
      },
    })),
  };
}

interface Template {
  readonly Resources?: Record<string, { Type: string; Properties?: Record<string, any> }>;
  readonly Outputs?: Record<string, unknown>;
  readonly Description?: string;
}

function ratio(value: number, limit: number): string {
  return `${(value / limit).toFixed(2)}`;
}

function measureStage(features: number): boolean {
  const plansDir = mkdtempSync(join(tmpdir(), 'phasegate-bench-scale-plans-'));
  const outdir = mkdtempSync(join(tmpdir(), 'phasegate-bench-scale-cdk-'));
  try {
    for (let i = 0; i < features; i++) writeFileSync(join(plansDir, `scale-feature-${i}.json`), JSON.stringify(featurePlan(i)));
    const started = performance.now();
    let assembly: ReturnType<ReturnType<typeof buildApp>['app']['synth']>;
    try {
      const { app } = buildApp({ context: { stage: 'prod', plansDir, 'aws:cdk:bundling-stacks': [] }, outdir, builtinCloudFormationValidation: false });
      assembly = app.synth();
    } catch (err) {
      // A limit the constructs check themselves (props, or a function's 4 KB environment at synth): refused with the reason.
      if (!(err instanceof InvalidPropsError) && !/^Validation failed/.test((err as Error).message)) throw err;
      console.log(`${features} features x ${PHASES} phases x ${TARGETS} targets: synth refused after ${((performance.now() - started) / 1000).toFixed(1)} s:`);
      for (const problem of (err as Error).message.split('\n')) console.log(`  ${problem.trim()}`);
      return false;
    }
    const synthMs = performance.now() - started;

    const templates: { file: string; bytes: number; template: Template }[] = readdirSync(assembly.directory)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => {
        const text = readFileSync(join(assembly.directory, f), 'utf8');
        return { file: f, bytes: Buffer.byteLength(text), template: JSON.parse(text) as Template };
      });
    const stage = templates.find((t) => t.file === `${stackName('prod')}.template.json`)!;
    const largest = templates.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const mostResources = templates.reduce((a, b) => (Object.keys(b.template.Resources ?? {}).length > Object.keys(a.template.Resources ?? {}).length ? b : a));
    const resources = (t: Template): number => Object.keys(t.Resources ?? {}).length;
    const all = templates.flatMap((t) => Object.values(t.template.Resources ?? {}));
    const rolePolicyChars = new Map<string, number>();
    for (const t of templates) {
      for (const r of Object.values(t.template.Resources ?? {})) {
        if (r.Type !== 'AWS::IAM::Policy') continue;
        for (const role of (r.Properties?.Roles ?? []) as unknown[]) {
          const key = `${t.file}:${JSON.stringify(role)}`;
          rolePolicyChars.set(key, (rolePolicyChars.get(key) ?? 0) + policyCharsAtMost(r.Properties?.PolicyDocument));
        }
      }
    }
    const maxPolicy = Math.max(0, ...rolePolicyChars.values());
    // Environments as Lambda measures them, with every reference resolved (local account and Region).
    const flat = synthesizedStackTemplate(assembly, stackName('prod'));
    const environments = [...new Set(functionsFromTemplate(flat).values())].map((f) => ({
      name: f.environment[ENV.functionRole] ?? f.logicalId,
      bytes: environmentBytes(f.environment),
    }));
    const maxEnv = Math.max(0, ...environments.map((e) => e.bytes));
    const featureStacks = templates.filter((t) => t !== stage);
    const largestFeature = featureStacks.reduce((a, b) => (b.bytes > a.bytes ? b : a), featureStacks[0]!);
    const description = Buffer.byteLength(stage.template.Description ?? '');
    const outputs = Object.keys(stage.template.Outputs ?? {}).length;

    console.log(`${features} features x ${PHASES} phases x ${TARGETS} targets: synth ${(synthMs / 1000).toFixed(1)} s, ${templates.length} templates, ${all.length} resources in all`);
    const rows: [string, number, number, boolean][] = [
      [`largest template (${largest.file === stage.file ? 'stage stack' : 'a feature stack'}), bytes`, largest.bytes, LIMITS.templateBytes, true],
      ['stage stack template, bytes', stage.bytes, LIMITS.templateBytes, true],
      ['largest feature stack template, bytes', largestFeature.bytes, LIMITS.templateBytes, true],
      ['largest feature stack resources', Math.max(...featureStacks.map((t) => resources(t.template))), LIMITS.resources, true],
      [`most resources in one template (${mostResources.file === stage.file ? 'stage stack' : 'a feature stack'})`, resources(mostResources.template), LIMITS.resources, true],
      ['stage stack resources', resources(stage.template), LIMITS.resources, true],
      ['stage stack outputs', outputs, LIMITS.outputs, true],
      ['stack description, bytes', description, LIMITS.descriptionBytes, true],
      ['largest role inline policies, characters (IAM)', maxPolicy, IAM_ROLE_POLICY_CHARS, false],
      ['largest Lambda environment, bytes (Lambda)', maxEnv, LAMBDA_ENV_BYTES, false],
    ];
    // Every function's environment as Lambda measures it (the synth check refuses one that could pass 4 KB).
    for (const e of environments.sort((a, b) => b.bytes - a.bytes)) rows.push([`  environment of ${e.name}, bytes (Lambda)`, e.bytes, LAMBDA_ENV_BYTES, true]);
    let ok = true;
    for (const [label, value, limit, must] of rows) {
      const r = value / limit;
      if (must && r > 1) ok = false;
      console.log(`  ${label.padEnd(58)} ${String(value).padStart(9)} / ${String(limit).padStart(9)} = ${ratio(value, limit)}${r > 1 ? (must ? '  OVER THE LIMIT' : '  over (see README)') : ''}`);
    }
    return ok;
  } finally {
    rmSync(plansDir, { recursive: true, force: true });
    rmSync(outdir, { recursive: true, force: true });
  }
}

function shippedPlans(): boolean {
  const files = [
    ...readdirSync(join(ROOT, 'rollouts')).filter((f) => f.endsWith('.json')).map((f) => join('rollouts', f)),
    ...readdirSync(join(ROOT, 'rollouts', 'examples')).filter((f) => f.endsWith('.json')).map((f) => join('rollouts', 'examples', f)),
  ].sort();
  console.log(`worst case of one execution, shipped plans (prod), against ${MAX_HISTORY_EVENTS.toLocaleString('en-US')} events and 365 days:`);
  let ok = true;
  for (const file of files) {
    const checked = validatePlan(JSON.parse(readFileSync(join(ROOT, file), 'utf8')), { stage: 'prod' });
    if (!checked.ok) {
      ok = false;
      console.log(`  ${file}: invalid: ${checked.problems.join('; ')}`);
      continue;
    }
    const cost = executionCost(checked.plan);
    const events = cost.events / MAX_HISTORY_EVENTS;
    const time = cost.seconds / MAX_EXECUTION_SECONDS;
    if (events > 1 || time > 1) ok = false;
    console.log(
      `  ${file.padEnd(42)} ${cost.events.toLocaleString('en-US').padStart(7)} events = ${events.toFixed(2)}   ` +
        `${(cost.seconds / 86_400).toFixed(1).padStart(6)} days = ${time.toFixed(2)}`,
    );
  }
  return ok;
}

export async function run(): Promise<void> {
  let ok = true;
  for (const features of FEATURE_COUNTS) ok = measureStage(features) && ok;
  ok = shippedPlans() && ok;
  if (!ok) process.exitCode = 1;
}

