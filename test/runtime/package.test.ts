import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { phaseFlagValues } from '../../lambdas/core/flags/flags';
import { examplePlan } from '../core/example-plans';

/**
 * @phasegate/runtime as a target function gets it: packed into a tarball (`npm pack`, which builds it), installed
 * offline into an empty project, and the README's examples run with plain node, CommonJS and ES modules.
 */
const ROOT = join(__dirname, '..', '..');
const RUNTIME = join(ROOT, 'runtime');

interface Packed {
  filename: string;
  files: { path: string }[];
}

describe('the packed @phasegate/runtime', () => {
  let dir: string;
  let app: string;
  let packed: Packed;
  // Under `npm test`, npm's own settings (npm_config_local_prefix=<repository>, ...) are in the environment: they
  // would point the install at the repository instead of the empty project. npm runs here with none of them.
  const npmEnv = (): NodeJS.ProcessEnv => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_'))),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  });
  const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', env: npmEnv(), stdio: ['ignore', 'pipe', 'pipe'] });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'phasegate-pack-'));
    packed = (JSON.parse(npm(['pack', '--json', '--pack-destination', dir], RUNTIME)) as Packed[])[0]!;
    app = join(dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'target-function', version: '1.0.0', private: true }));
    npm(['install', '--offline', '--no-audit', '--no-fund', join(dir, packed.filename)], app);
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('contains the built entry points, their declarations, the Python reader and the README, and no sources', () => {
    const files = packed.files.map((f) => f.path).sort();
    expect(files).toEqual(
      expect.arrayContaining([
        'README.md',
        'dist/index.d.ts',
        'dist/index.js',
        'dist/llm-budget.d.ts',
        'dist/llm-budget.js',
        'dist/openfeature.d.ts',
        'dist/openfeature.js',
        'package.json',
        'python/phasegate_flags.py',
      ]),
    );
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('installs with no dependencies at all: OpenFeature and the DynamoDB client are optional peers', () => {
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules', '@phasegate', 'runtime', 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    expect(manifest.dependencies).toBeUndefined();
    expect(Object.keys(manifest.peerDependencies!).sort()).toEqual(['@aws-sdk/client-dynamodb', '@openfeature/server-sdk']);
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    expect(Object.keys(lock.packages).sort()).toEqual(['', 'node_modules/@phasegate/runtime']);
  });

  const gaEnv = (): Record<string, string> => {
    const plan = examplePlan('ux-update');
    return { ...(process.env as Record<string, string>), ...phaseFlagValues(plan, plan.phases.length - 1) };
  };

  it('runs the README example (CommonJS) against the flags Phasegate writes for ux-update in GA', () => {
    writeFileSync(
      join(app, 'example.cjs'),
      `const { createFlagReader, isEnabled } = require('@phasegate/runtime');
const flags = createFlagReader({ snapshot: true });
const user = { role: 'pm', userId: '42' };
console.log(JSON.stringify([isEnabled('ux-update', user), flags.isEnabled('ux-update', user), flags.isEnabled('ux-update.llm-parsing', user), flags.isEnabled('ux-update.llm-parsing', { role: 'admin' }), flags.evaluate('checkout.new-flow', user).reason]));
`,
    );
    const out = execFileSync(process.execPath, ['example.cjs'], { cwd: app, env: gaEnv(), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([true, true, false, true, 'MISSING_FLAGS']);
  });

  it('imports the reader from an ES module, and loads the LLM guard without the AWS SDK installed', () => {
    writeFileSync(
      join(app, 'example.mjs'),
      `import { isEnabled, bucketOf } from '@phasegate/runtime';
import { createLlmBudget } from '@phasegate/runtime/llm-budget';
console.log(JSON.stringify([isEnabled('ux-update', { role: 'pm', userId: '42' }), typeof bucketOf('ux-update', '42'), typeof createLlmBudget({ tableName: 't' }).withLlmBudget]));
`,
    );
    const out = execFileSync(process.execPath, ['example.mjs'], { cwd: app, env: gaEnv(), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([true, 'number', 'function']);
  });

  it('runs the OpenFeature example with the SDK the function provides', () => {
    writeFileSync(
      join(app, 'openfeature.cjs'),
      `const { OpenFeature } = require('@openfeature/server-sdk');
const { PhasegateProvider } = require('@phasegate/runtime/openfeature');
(async () => {
  await OpenFeature.setProviderAndWait(new PhasegateProvider({ snapshot: true }));
  const client = OpenFeature.getClient();
  const details = await client.getBooleanDetails('ux-update', false, { targetingKey: '42', role: 'pm' });
  const missing = await client.getBooleanDetails('checkout.new-flow', false, { targetingKey: '42' });
  console.log(JSON.stringify([details.value, details.reason, missing.errorCode]));
  await OpenFeature.close();
})();
`,
    );
    // The SDK is the function's own dependency: here the repository's copy, found through NODE_PATH.
    const out = execFileSync(process.execPath, ['openfeature.cjs'], { cwd: app, env: { ...gaEnv(), NODE_PATH: join(ROOT, 'node_modules') }, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([true, 'STATIC', 'FLAG_NOT_FOUND']);
  });
});
