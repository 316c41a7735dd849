import { buildSync } from 'esbuild';
import { join } from 'node:path';

/**
 * `phasegate/runtime` ships inside every target function: bundling it must pull in the flag contract and nothing
 * else (no zod, no AWS SDK, no plan schema, no Node built-ins that could mean I/O).
 */
describe('phasegate/runtime bundle', () => {
  const root = join(__dirname, '..', '..');
  const result = buildSync({
    absWorkingDir: root,
    entryPoints: ['runtime/index.ts'],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'neutral',
    format: 'esm',
    logLevel: 'silent',
  });

  it('contains only the reader and the flag contract (runtime/index.ts, runtime/names.ts)', () => {
    expect(Object.keys(result.metafile.inputs).sort()).toEqual(['runtime/index.ts', 'runtime/names.ts']);
  });

  it('imports nothing at run time', () => {
    const output = Object.values(result.metafile.outputs)[0]!;
    expect(output.imports).toEqual([]);
    expect(result.outputFiles[0]!.text).not.toMatch(/\brequire\(/);
  });

  it('stays small', () => {
    expect(result.outputFiles[0]!.contents.byteLength).toBeLessThan(16 * 1024);
  });
});
