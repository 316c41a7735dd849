import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** Run bin/phasegate.ts the way the CDK CLI does: context in CDK_CONTEXT_JSON, output in CDK_OUTDIR. */
function runApp(context: Record<string, unknown>, outdir: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [TSX, join(ROOT, 'bin', 'phasegate.ts')], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir },
    // A hang guard, not a speed limit: synth of a stack is slow on a busy machine.
    timeout: 270_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('bin/phasegate.ts', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phasegate-bin-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('synthesizes phasegate-<stage> into the CLI\'s output directory', () => {
    const { status, stderr } = runApp({ stage: 'prod', 'aws:cdk:bundling-stacks': [] }, dir);
    expect(stderr).not.toMatch(/Error/);
    expect(status).toBe(0);
    const template = JSON.parse(readFileSync(join(dir, 'phasegate-prod.template.json'), 'utf8')) as { Resources: object };
    expect(Object.keys(template.Resources).length).toBeGreaterThan(10);
  });

  it('exits 1 with one line naming the allowed stages for an unknown stage, without a stack trace', () => {
    const { status, stdout, stderr } = runApp({ stage: 'qa' }, dir);
    expect(status).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'phasegate: unknown stage "qa": expected one of dev, staging, prod (choose with -c stage=<name>; the list comes from the "stages" context or the defaults)\n',
    );
  });

  it('exits 1 listing every plan problem with its field path, without a stack trace', () => {
    const plans = join(dir, 'plans');
    mkdirSync(plans);
    writeFileSync(
      join(plans, 'bad.json'),
      JSON.stringify({ feature: 'bad', targets: ['fn'], phases: [{ name: 'a', roles: ['all'], bake: 'PT1H' }, { name: 'b', roles: ['all'], bake: 'PT1H' }, { name: 'c', roles: ['all'], bake: '2 days' }] }),
    );
    const { status, stderr } = runApp({ plansDir: plans }, join(dir, 'out'));
    expect(status).toBe(1);
    expect(stderr).toBe(`phasegate: ${join(plans, 'bad.json')} is invalid:\n  - phases[2].bake: expected ISO 8601 duration, got "2 days" (e.g. PT30M, PT48H, P5D; no years or months)\n`);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 1 with the stack\'s problem list, before bundling, when a valid plan does not fit a state machine', () => {
    const plans = join(dir, 'plans');
    mkdirSync(plans);
    // A valid plan whose state machine name, with this stage's long name, passes Step Functions' 80 characters.
    const stage = 'a-stage-with-a-name-long-enough-to-matter';
    const feature = 'a-feature-with-a-rather-long-name';
    writeFileSync(join(plans, `${feature}.json`), JSON.stringify({ feature, targets: ['fn'], phases: [{ name: 'a', roles: ['all'], bake: 'PT1H' }] }));
    const { status, stderr } = runApp({ plansDir: plans, stages: [stage], stage }, join(dir, 'out'));
    expect(status).toBe(1);
    expect(stderr).toBe(
      `phasegate: PhasegateStack phasegate-${stage} is invalid:\n` +
        `  - plans[0] (${feature}): stage: state machine name phasegate-${stage}-${feature} is longer than 80 characters\n`,
    );
  });
});
