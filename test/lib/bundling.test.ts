import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { AUXILIARY_FUNCTIONS, ENV, PHASEGATE_FUNCTIONS } from '../../lambdas/core/contract';
import { STAGE_PLANS_FILE, stagePlanOf } from '../../lambdas/core/discord/directory';
import { parsePlan } from '../../lambdas/core/plan/validate';
import { buildApp } from '../../lib/app';

// The one test that bundles for real, with the local esbuild package (no Docker here).
describe('bundling', () => {
  let outdir: string;
  let plansDir: string;
  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'phasegate-bundle-'));
    // The project's plans, each announced in a Discord channel, so that every function is built (rollback-alerts
    // only exists when a plan of the stage names a channel).
    plansDir = join(mkdtempSync(join(tmpdir(), 'phasegate-plans-')), 'rollouts');
    mkdirSync(plansDir);
    for (const file of readdirSync('rollouts').filter((f) => f.endsWith('.json'))) {
      const plan = JSON.parse(readFileSync(join('rollouts', file), 'utf8')) as { discord?: Record<string, unknown> };
      plan.discord = { roles: {}, ...plan.discord, channelId: '123456789012345678' };
      writeFileSync(join(plansDir, file), JSON.stringify(plan));
    }
  });
  afterAll(() => {
    rmSync(outdir, { recursive: true, force: true });
    rmSync(join(plansDir, '..'), { recursive: true, force: true });
  });

  it('bundles every function with a source map, leaving the AWS SDK to the runtime; validation finds nothing', () => {
    const { app, stack } = buildApp({ context: { stage: 'dev', plansDir }, outdir });
    const assembly = app.synth();
    const template = assembly.getStackByName(stack.stackName).template as {
      Resources: Record<string, { Type: string; Properties: any }>;
    };
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions.map((f) => f.Properties.Environment.Variables.PHASEGATE_FUNCTION).sort()).toEqual([...PHASEGATE_FUNCTIONS, ...AUXILIARY_FUNCTIONS].sort());

    // The built-in CloudFormation validation and cdk-nag both ran during synth and reported nothing.
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: { violations?: unknown[] }[] };
    expect(report.pluginReports.flatMap((r) => r.violations ?? [])).toEqual([]);

    for (const fn of functions) {
      const name = fn.Properties.Environment.Variables.PHASEGATE_FUNCTION as string;
      const hash = /^([0-9a-f]{64})\.zip$/.exec(fn.Properties.Code.S3Key as string)?.[1];
      expect(hash).toBeDefined();
      const assetDir = join(outdir, `asset.${hash}`);
      expect(statSync(join(assetDir, 'index.js')).size).toBeGreaterThan(0);
      expect(existsSync(join(assetDir, 'index.js.map'))).toBe(true);

      const sources = (JSON.parse(readFileSync(join(assetDir, 'index.js.map'), 'utf8')) as { sources: string[] }).sources;
      expect(sources.some((s) => s.endsWith(`lambdas/${name}/index.ts`))).toBe(true);
      expect(sources.filter((s) => s.includes('node_modules/@aws-sdk/') || s.includes('node_modules/@smithy/'))).toEqual([]);
    }

    // The Discord endpoint's plan summaries ship in its bundle (not its environment), and the bundled handler finds them.
    const discord = functions.find((f) => f.Properties.Environment.Variables.PHASEGATE_FUNCTION === 'discord-interactions')!;
    const discordDir = join(outdir, `asset.${/^([0-9a-f]{64})\.zip$/.exec(discord.Properties.Code.S3Key as string)![1]}`);
    const plans = readdirSync(plansDir).map((f) => parsePlan(JSON.parse(readFileSync(join(plansDir, f), 'utf8')), { stage: 'dev' }));
    const bundled = JSON.parse(readFileSync(join(discordDir, STAGE_PLANS_FILE), 'utf8')) as unknown[];
    expect(bundled).toEqual(expect.arrayContaining(plans.map(stagePlanOf)));
    expect(bundled).toHaveLength(plans.length);
    expect(discord.Properties.Environment.Variables[ENV.plans]).toBeUndefined();
    const probe = `require(${JSON.stringify(join(discordDir, 'index.js'))}).handler({}).then((r) => process.stdout.write('status ' + r.statusCode + '\\n'));`;
    const run = spawnSync(process.execPath, ['-e', probe], {
      // The AWS SDK from this repository's node_modules, as the Lambda runtime provides it.
      env: { PATH: process.env.PATH, NODE_PATH: join(process.cwd(), 'node_modules'), AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      encoding: 'utf8',
    });
    // Run with no PHASEGATE_PLANS and no other variable: the problems it logs name the unset variables, not the plans,
    // which came from the bundle.
    const output = run.stdout + run.stderr;
    expect(output).toContain('status 500');
    expect(output).toContain(`${ENV.tableName}: not set`);
    expect(output).not.toContain(STAGE_PLANS_FILE);
    expect(output).not.toContain(ENV.plans);
  });
});
