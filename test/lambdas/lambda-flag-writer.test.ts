import { EnvLimitError, FlagWriteError, TransientError } from '../../lambdas/core/errors';
import { LambdaFlagWriter } from '../../lambdas/adapters/lambda-flag-writer';
import { FakeLambdaControlPlane } from '../../local/fakes/lambda-control-plane';

const noSleep = { sleep: async () => undefined, pollMs: 0 };
let lambda: FakeLambdaControlPlane;
let writer: LambdaFlagWriter;

beforeEach(() => {
  lambda = new FakeLambdaControlPlane({ readsWhileInProgress: 2 }).install();
  writer = new LambdaFlagWriter(undefined, noSleep);
  lambda.addFunction('orders-api', { LOG_LEVEL: 'info', DB_URL: 'postgres://db/orders', GREETING: 'héllo wörld' });
  lambda.addFunction('orders-worker', { QUEUE_URL: 'https://sqs/q' });
  lambda.addFunction('orders-cron', {});
});
afterEach(() => lambda.restore());

const flags = { UX_ENABLED: 'true', UX_ROLES: 'admin', UX_PERCENT: '100' };

describe('LambdaFlagWriter against the stateful Lambda fake', () => {
  it('merges flags into every target, keeping every other variable byte for byte, and waits for Successful', async () => {
    const report = await writer.applyAll(['orders-api', 'orders-worker'], flags);
    expect(lambda.environmentOf('orders-api')).toEqual({ LOG_LEVEL: 'info', DB_URL: 'postgres://db/orders', GREETING: 'héllo wörld', ...flags });
    expect(lambda.environmentOf('orders-worker')).toEqual({ QUEUE_URL: 'https://sqs/q', ...flags });
    expect(report.results.map((r) => [r.functionName, r.ok, [...r.changed].sort()])).toEqual([
      ['orders-api', true, ['UX_ENABLED', 'UX_PERCENT', 'UX_ROLES']],
      ['orders-worker', true, ['UX_ENABLED', 'UX_PERCENT', 'UX_ROLES']],
    ]);
    for (const name of ['orders-api', 'orders-worker']) expect(lambda.configurationOf(name).LastUpdateStatus).toBe('Successful');
  });

  it('sends the RevisionId it read, and does not update a function already in the wanted state', async () => {
    await writer.applyAll(['orders-api'], flags);
    const updates = () => lambda.calls.filter((c) => c.command === 'UpdateFunctionConfiguration').length;
    const before = updates();
    const report = await writer.applyAll(['orders-api'], flags);
    expect(updates()).toBe(before);
    expect(report.results[0]!.changed).toEqual([]);
  });

  it('retries a stale RevisionId with a fresh read, keeping the concurrent writer\'s change', async () => {
    lambda.conflictOnce('orders-api', { ADDED_BY_SOMEONE_ELSE: 'yes' });
    await writer.applyAll(['orders-api'], flags);
    expect(lambda.environmentOf('orders-api')).toMatchObject({ ADDED_BY_SOMEONE_ELSE: 'yes', ...flags, LOG_LEVEL: 'info' });
    expect(lambda.calls.some((c) => c.command === 'UpdateFunctionConfiguration' && c.outcome === 'ResourceConflictException')).toBe(true);
  });

  it('retries throttling and succeeds', async () => {
    lambda.throttle('orders-worker', 3);
    await writer.applyAll(['orders-api', 'orders-worker'], flags);
    expect(lambda.environmentOf('orders-worker')).toMatchObject(flags);
    expect(lambda.calls.filter((c) => c.outcome === 'TooManyRequestsException')).toHaveLength(3);
  });

  it('gives up on endless throttling with a TransientError and puts the other targets back', async () => {
    lambda.throttle('orders-worker', 1000);
    await expect(writer.applyAll(['orders-api', 'orders-worker'], flags)).rejects.toBeInstanceOf(TransientError);
    expect(lambda.environmentOf('orders-api')).toEqual({ LOG_LEVEL: 'info', DB_URL: 'postgres://db/orders', GREETING: 'héllo wörld' });
  });

  it('is all or nothing: a permanent failure on one target puts the changed ones back (new variables removed)', async () => {
    await writer.applyAll(['orders-api', 'orders-worker', 'orders-cron'], { UX_ENABLED: 'true', UX_ROLES: 'admin', UX_PERCENT: '100' });
    lambda.failUpdates('orders-worker');
    const err = await writer
      .applyAll(['orders-api', 'orders-worker', 'orders-cron'], { UX_ENABLED: 'true', UX_ROLES: 'admin,pm', UX_PERCENT: '100', UX_NEW: 'x' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlagWriteError);
    expect((err as FlagWriteError).failures.map((f) => f.functionName)).toEqual(['orders-worker']);
    expect((err as Error).message).toContain('put back');
    for (const name of ['orders-api', 'orders-cron']) {
      expect(lambda.environmentOf(name)).toMatchObject({ UX_ROLES: 'admin' });
      expect(lambda.environmentOf(name)).not.toHaveProperty('UX_NEW');
    }
  });

  it('names a target that does not exist', async () => {
    const err = await writer.applyAll(['orders-api', 'no-such-fn'], flags).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlagWriteError);
    expect((err as Error).message).toMatch(/no-such-fn: ResourceNotFoundException/);
    expect(lambda.environmentOf('orders-api')).not.toHaveProperty('UX_ENABLED');
  });

  it('refuses a write that would pass the 4 KB environment limit and writes nothing', async () => {
    lambda.addFunction('big-fn', { BLOB: 'x'.repeat(4050) });
    const err = await writer.applyAll(['orders-api', 'big-fn'], { UX_ENABLED: 'true', UX_ROLES: 'admin,pm,developer', UX_PERCENT: '100' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvLimitError);
    expect((err as Error).message).toMatch(/big-fn.*over Lambda's 4096-byte limit/);
    expect(lambda.environmentOf('orders-api')).not.toHaveProperty('UX_ENABLED');
    expect(lambda.environmentOf('big-fn')).toEqual({ BLOB: 'x'.repeat(4050) });
  });

  it('forceAll writes every target it can and reports the ones it cannot, without undoing the others', async () => {
    lambda.failUpdates('orders-worker');
    const report = await writer.forceAll(['orders-api', 'orders-worker', 'orders-cron'], flags);
    expect(report.results.map((r) => [r.functionName, r.ok])).toEqual([
      ['orders-api', true],
      ['orders-worker', false],
      ['orders-cron', true],
    ]);
    expect(lambda.environmentOf('orders-api')).toMatchObject(flags);
    expect(lambda.environmentOf('orders-cron')).toMatchObject(flags);
  });

  it('writes targets in parallel, not one after another', async () => {
    lambda.setLatency({ latencyMs: 40 });
    const targets = Array.from({ length: 10 }, (_, i) => `fn-${i}`);
    for (const t of targets) lambda.addFunction(t, {});
    const started = Date.now();
    await writer.applyAll(targets, flags);
    // Each target takes about 4 calls x 40 ms (reads until Successful, update): serial would be 10x that.
    expect(Date.now() - started).toBeLessThan(4 * 40 * 4);
  });
});
