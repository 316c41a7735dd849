/** The Discord endpoint with an incomplete environment: it loads, answers a clear JSON error, and logs why. */

type Handler = (event: unknown, context?: { awsRequestId?: string }) => Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;

it('loads without its environment, answers 500 with a JSON error, and logs every missing variable with the request id', async () => {
  const lines: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => lines.push(String(chunk)) > 0);
  let handler: Handler | undefined;
  try {
    jest.isolateModules(() => {
      handler = (require('../../lambdas/discord-interactions/index') as { handler: Handler }).handler;
    });
    const response = await handler!({ requestContext: { http: { method: 'POST' } }, headers: {}, body: '{}' }, { awsRequestId: 'req-7' });
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toBe('application/json');
    expect(JSON.parse(response.body)).toEqual({ error: 'the Discord endpoint is not configured' });
  } finally {
    write.mockRestore();
  }
  const logged = lines.flatMap((l) => l.split('\n')).filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(logged).toContainEqual(
    expect.objectContaining({
      level: 'ERROR',
      service: 'discord-interactions',
      function_request_id: 'req-7',
      problems: expect.arrayContaining([expect.stringContaining('PHASEGATE_TABLE_NAME'), expect.stringContaining('PHASEGATE_PLANS')]),
    }),
  );
});
