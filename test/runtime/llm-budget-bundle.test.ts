import { buildSync } from 'esbuild';
import { join } from 'node:path';

/**
 * `phasegate/runtime/llm-budget` ships inside the target functions that call an LLM. Bundled as they bundle it
 * (the AWS SDK left to the Lambda runtime), it must carry the budget contract and nothing of Phasegate's own
 * machinery (no zod, no plan schema), and load the SDK only when a guarded call runs.
 */
describe('phasegate/runtime/llm-budget bundle', () => {
  const root = join(__dirname, '..', '..');
  const result = buildSync({
    absWorkingDir: root,
    entryPoints: ['runtime/llm-budget.ts'],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'neutral',
    format: 'esm',
    external: ['@aws-sdk/*'],
    logLevel: 'silent',
  });

  it('contains the guard, the budget item and the flag contract only', () => {
    expect(Object.keys(result.metafile.inputs).sort()).toEqual([
      'lambdas/adapters/dynamo-budget-item.ts',
      'lambdas/core/budget/budget-record.ts',
      'lambdas/core/contract.ts',
      'runtime/llm-budget.ts',
      'runtime/names.ts',
    ]);
  });

  it('imports the DynamoDB client lazily, and nothing else', () => {
    const output = Object.values(result.metafile.outputs)[0]!;
    expect(output.imports).toEqual([{ path: '@aws-sdk/client-dynamodb', kind: 'dynamic-import', external: true }]);
  });

  it('stays small', () => {
    expect(result.outputFiles[0]!.contents.byteLength).toBeLessThan(32 * 1024);
  });

  it('leaves the flag reader’s bundle alone', () => {
    const flags = buildSync({ absWorkingDir: root, entryPoints: ['runtime/index.ts'], bundle: true, write: false, metafile: true, platform: 'neutral', format: 'esm', logLevel: 'silent' });
    expect(Object.keys(flags.metafile.inputs)).not.toContain('runtime/llm-budget.ts');
  });
});
