import { ENV } from '../../lambdas/core/contract';

/** A step's handler logs through the shared logger, with the invocation's request id and cold start. */
it('carries the request id and cold start on the step\'s log lines', async () => {
  const saved = { ...process.env };
  process.env[ENV.tableName] = 'phasegate-test-steps';
  process.env[ENV.stage] = 'dev';
  const lines: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => lines.push(String(chunk)) > 0);
  try {
    let stepHandler!: typeof import('../../lambdas/adapters/step-handler').stepHandler;
    jest.isolateModules(() => {
      stepHandler = (require('../../lambdas/adapters/step-handler') as typeof import('../../lambdas/adapters/step-handler')).stepHandler;
    });
    const handler = stepHandler('gate', async () => 'ok');
    const event = { plan: { feature: 'x' }, stage: 'dev', executionId: 'arn:exec' };
    const context = (id: string) => ({ awsRequestId: id, functionName: 'phasegate-dev-gate', getRemainingTimeInMillis: () => 30_000 });
    // The payload does not parse (no valid plan): the failure is logged with the same keys.
    await handler(event, context('req-1')).catch(() => undefined);
    await handler(event, context('req-2')).catch(() => undefined);
  } finally {
    write.mockRestore();
    process.env = saved;
  }
  const logged = lines.flatMap((l) => l.split('\n')).filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(logged.map((l) => [l.service, l.function_request_id, l.cold_start])).toEqual([
    ['gate', 'req-1', true],
    ['gate', 'req-2', false],
  ]);
});
