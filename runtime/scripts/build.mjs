/**
 * Builds @phasegate/runtime into dist/: one CommonJS file per entry point (Node's ESM `import` reads their named
 * exports too), bundled so the package has no dependencies of its own, with the peers (@openfeature/*,
 * @aws-sdk/*) left to the function; then the declarations of the public entry points. Run by `npm pack`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(pkg, 'dist');
const require = createRequire(import.meta.url);
const { build } = require('esbuild');

rmSync(dist, { recursive: true, force: true });

/** The provider loads the reader's own file, so a function using both loads the reader once. */
const readerOnce = {
  name: 'reader-once',
  setup(b) {
    b.onResolve({ filter: /^\.\/index$/ }, (args) => (args.importer.endsWith('openfeature.ts') ? { path: './index.js', external: true } : undefined));
  },
};

await build({
  absWorkingDir: pkg,
  entryPoints: { index: 'index.ts', openfeature: 'openfeature.ts', 'llm-budget': 'llm-budget.ts' },
  outdir: dist,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node18',
  external: ['@openfeature/*', '@aws-sdk/*'],
  plugins: [readerOnce],
  legalComments: 'none',
  logLevel: 'warning',
});

// Declarations: tsc emits the whole program under dist/types; only the runtime's own files are published, and
// they must not refer to anything outside the package.
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(pkg, 'tsconfig.build.json')], { stdio: 'inherit' });
const types = join(dist, 'types', 'runtime');
for (const file of readdirSync(types).filter((f) => f.endsWith('.d.ts'))) {
  const text = readFileSync(join(types, file), 'utf8');
  if (/from '\.\.\//.test(text)) throw new Error(`dist/${file} refers outside the package`);
  copyFileSync(join(types, file), join(dist, file));
}
rmSync(join(dist, 'types'), { recursive: true, force: true });
for (const entry of ['index', 'openfeature', 'llm-budget']) {
  for (const ext of ['.js', '.d.ts']) if (!existsSync(join(dist, entry + ext))) throw new Error(`dist/${entry}${ext} was not built`);
}
