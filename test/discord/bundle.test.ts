import { join } from 'node:path';
import { buildSync } from 'esbuild';

/**
 * The endpoint answers within Discord's 3 seconds from a cold start: its bundle must stay small, and its import
 * graph free of the plan validator (zod) and of runtime values from discord-api-types (types only).
 */
describe('discord-interactions bundle', () => {
  const result = buildSync({
    absWorkingDir: join(__dirname, '..', '..'),
    entryPoints: ['lambdas/discord-interactions/index.ts'],
    bundle: true,
    write: false,
    minify: true,
    metafile: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: ['@aws-sdk/*'],
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);

  it('stays under 150 KB with the AWS SDK left to the runtime', () => {
    expect(result.outputFiles[0]!.contents.byteLength).toBeLessThan(150 * 1024);
  });

  it('leaves zod, the plan validator and discord-api-types out', () => {
    // The ISO 8601 duration parser (no imports; the approval deadline needs it) is the one plan module allowed in.
    expect(inputs.filter((i) => /node_modules\/(zod|discord-api-types)\//.test(i) || (i.includes('lambdas/core/plan/') && !i.endsWith('plan/duration.ts')))).toEqual([]);
  });

  it('imports the AWS SDK from the runtime instead of bundling it', () => {
    expect(inputs.filter((i) => /node_modules\/(@aws-sdk|@smithy)\//.test(i))).toEqual([]);
  });
});
