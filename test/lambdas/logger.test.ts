import { Logger, redact, rolloutKeys, withLogging } from '../../lambdas/adapters/logger';

function capture(): { lines: Record<string, unknown>[]; logger: Logger } {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: new Logger('apply-phase', { level: 'DEBUG', keys: { stage: 'dev' }, write: (l) => lines.push(JSON.parse(l)) }) };
}

describe('structured logging', () => {
  it('writes one JSON object per line with the service, level, message and persistent keys', () => {
    const { lines, logger } = capture();
    logger.info('hello', { n: 1 });
    expect(lines[0]).toMatchObject({ level: 'INFO', message: 'hello', service: 'apply-phase', stage: 'dev', n: 1 });
    expect(Date.parse(lines[0]!.timestamp as string)).not.toBeNaN();
  });

  it('never logs secrets: by key anywhere in the object, or by the shape of the value', () => {
    const botToken = 'MTE5ODk2NzM0NTY3ODkwMTIzNA.GhAbCd.abcdefghijklmnopqrstuvwxyz0123456789AB';
    const out = redact({
      botToken: 'x',
      headers: { Authorization: 'Bot abc', 'x-signature-ed25519': 'deadbeef' },
      taskToken: 'AQ' + 'a'.repeat(100),
      note: `Bot ${botToken}`,
      raw: botToken,
      nested: [{ password: 'p' }],
      fine: 'ux-update',
    }) as Record<string, unknown>;
    const text = JSON.stringify(out);
    expect(text).not.toContain(botToken);
    expect(text).not.toContain('Bot abc');
    expect(text).not.toContain('deadbeef');
    expect(text).not.toContain('a'.repeat(100));
    expect(out.fine).toBe('ux-update');
  });

  it('drops lines under the level', () => {
    const lines: string[] = [];
    const logger = new Logger('x', { level: 'WARN', write: (l) => lines.push(l) });
    logger.info('quiet');
    logger.warn('loud');
    expect(lines).toHaveLength(1);
  });

  it('wraps a handler: rollout keys on every line, duration, and the error name on failure', async () => {
    const { lines, logger } = capture();
    const event = { plan: { feature: 'ux-update', phases: [{ name: 'admin' }] }, stage: 'dev', executionId: 'arn:exec', phaseIndex: 0 };
    expect(rolloutKeys(event)).toEqual({ feature: 'ux-update', stage: 'dev', executionId: 'arn:exec', phase: 'admin' });
    await withLogging(logger, async () => 'ok')(event);
    expect(lines.at(-1)).toMatchObject({ message: 'step finished', feature: 'ux-update', phase: 'admin', executionId: 'arn:exec' });
    const failing = withLogging(logger, async () => {
      const e = new Error('lost the race');
      e.name = 'PhasegateConflictError';
      throw e;
    });
    await expect(failing(event)).rejects.toThrow('lost the race');
    expect(lines.at(-1)).toMatchObject({ level: 'ERROR', error: { name: 'PhasegateConflictError' }, feature: 'ux-update' });
    logger.info('after');
    expect(lines.at(-1)).not.toHaveProperty('feature');
  });

  it('carries the request id on every line of an invocation, and cold_start true on the first invocation only', async () => {
    // A fresh module: a new execution environment, whose first invocation is the cold start.
    let fresh!: typeof import('../../lambdas/adapters/logger');
    jest.isolateModules(() => {
      fresh = require('../../lambdas/adapters/logger') as typeof fresh;
    });
    const lines: Record<string, unknown>[] = [];
    const logger = new fresh.Logger('apply-phase', { write: (l) => lines.push(JSON.parse(l)) });
    const handler = fresh.withLogging(logger, async () => {
      logger.info('working');
      return 'ok';
    });
    const context = (id: string) => ({ awsRequestId: id, functionName: 'phasegate-dev-apply-phase', memoryLimitInMB: '256', invokedFunctionArn: 'arn:fn' });
    await handler({}, context('req-1'));
    await handler({}, context('req-2'));
    const first = lines.filter((l) => l.function_request_id === 'req-1');
    const second = lines.filter((l) => l.function_request_id === 'req-2');
    expect(first.map((l) => l.message)).toEqual(['working', 'step finished']);
    expect(second).toHaveLength(2);
    // Powertools Logger's key names, so queries work the same over every function.
    expect(first[0]).toMatchObject({ cold_start: true, function_name: 'phasegate-dev-apply-phase', function_memory_size: 256, function_arn: 'arn:fn' });
    expect(second.every((l) => l.cold_start === false)).toBe(true);
  });
});
