import { EnvLimitError, FlagWriteError, TransientError } from '../../lambdas/core/errors';
import { LambdaFlagWriter } from '../../lambdas/adapters/lambda-flag-writer';
import { LambdaClient, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { FakeLambdaControlPlane } from '../../local/fakes/lambda-control-plane';
import { virtualTime, type VirtualTime } from '../support/virtual-time';

let lambda: FakeLambdaControlPlane;
let writer: LambdaFlagWriter;
let time: VirtualTime;

beforeEach(() => {
  // The fake's quotas and in-progress times and the writer's pacing share one virtual time: nothing here waits for real.
  time = virtualTime();
  lambda = new FakeLambdaControlPlane({ readsWhileInProgress: 2, now: time.now }).install();
  writer = new LambdaFlagWriter(undefined, { now: time.now, sleep: time.sleep });
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
    expect(lambda.calls.some((c) => c.command === 'UpdateFunctionConfiguration' && c.outcome === 'PreconditionFailedException')).toBe(true);
  });

  it('retries throttling and succeeds', async () => {
    lambda.throttle('orders-worker', 3);
    await writer.applyAll(['orders-api', 'orders-worker'], flags);
    expect(lambda.environmentOf('orders-worker')).toMatchObject(flags);
    expect(lambda.calls.filter((c) => c.outcome === 'TooManyRequestsException')).toHaveLength(3);
  });

  it('stops at its deadline under endless throttling with a TransientError and puts the other targets back', async () => {
    lambda.throttle('orders-worker', 1_000_000);
    await expect(writer.applyAll(['orders-api', 'orders-worker'], flags, { deadline: new Date(time.now() + 10_000) })).rejects.toBeInstanceOf(TransientError);
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

  it('writes targets in parallel: one stuck target does not hold the others back, and is reported pending at the deadline', async () => {
    const targets = Array.from({ length: 10 }, (_, i) => `fn-${i}`);
    for (const t of targets) lambda.addFunction(t, {});
    lambda.stickInProgress('fn-0');
    const report = await writer.forceAll(targets, flags, { deadline: new Date(time.now() + 20_000) });
    expect(report.results.filter((r) => r.ok).map((r) => r.functionName)).toEqual(targets.slice(1));
    expect(report.results[0]).toMatchObject({ functionName: 'fn-0', ok: false, pending: true, error: expect.stringContaining('in progress') });
    lambda.settle('fn-0');
  });

  it('reads with GetFunction and spends one control-plane call per target', async () => {
    await writer.forceAll(['orders-api', 'orders-worker'], flags);
    const commands = lambda.calls.map((c) => c.command);
    expect(commands.filter((c) => c !== 'GetFunction')).toEqual(['UpdateFunctionConfiguration', 'UpdateFunctionConfiguration']);
  });

  it('waits out an update somebody else has in progress, then writes (never collides with it)', async () => {
    lambda.stickInProgress('orders-api');
    await lambda_update('orders-api', { DEPLOYED_BY: 'pipeline' });
    const pending = writer.forceAll(['orders-api'], flags, { deadline: new Date(time.now() + 600_000) });
    await time.sleep(5_000);
    lambda.settle('orders-api');
    const report = await pending;
    expect(report.results[0]).toMatchObject({ ok: true });
    expect(lambda.environmentOf('orders-api')).toMatchObject({ DEPLOYED_BY: 'pipeline', ...flags });
    expect(lambda.calls.some((c) => c.outcome === 'ResourceConflictException')).toBe(false);
  });

  it('forceAll does not add off-valued variables a target lacks (absent reads as off), so a full environment stays as it is', async () => {
    lambda.addFunction('full-fn', { BLOB: 'x'.repeat(4070) });
    const off = { UX_ENABLED: 'false', UX_ROLES: '', UX_PERCENT: '0' };
    const report = await writer.forceAll(['full-fn', 'orders-api'], off, { absentIsSafe: Object.keys(off) });
    expect(report.results.map((r) => r.ok)).toEqual([true, true]);
    expect(lambda.environmentOf('full-fn')).toEqual({ BLOB: 'x'.repeat(4070) });
  });

  it('marks a rollback active while forceAll writes, and clears its marker after', async () => {
    const marks: string[] = [];
    const activity = {
      isActive: async () => false,
      markActive: async (until: number) => void marks.push(`mark ${until > time.now()}`),
      clear: async () => void marks.push('clear'),
    };
    const marked = new LambdaFlagWriter(undefined, { now: time.now, sleep: time.sleep, rollbackActivity: activity });
    await marked.forceAll(['orders-api'], flags);
    expect(marks).toEqual(['mark true', 'clear']);
  });
});

/** Somebody else's UpdateFunctionConfiguration (a deploy), straight through the SDK. */
async function lambda_update(name: string, add: Record<string, string>): Promise<void> {
  const client = new LambdaClient({ region: 'us-east-1' });
  const current = lambda.environmentOf(name);
  await client.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables: { ...current, ...add } } }));
}

describe('alias targets (fn:alias): flags reach the published version the alias serves', () => {
  beforeEach(() => {
    lambda.addFunction('checkout', { LOG_LEVEL: 'info' });
    lambda.addAlias('checkout', 'live');
  });

  it('writes $LATEST, waits for it, publishes a version and moves the alias to it, conditional all the way', async () => {
    const before = lambda.aliasOf('checkout', 'live').functionVersion;
    const report = await writer.applyAll(['checkout:live'], flags);
    expect(report.results[0]).toMatchObject({ functionName: 'checkout:live', ok: true, changed: expect.arrayContaining(Object.keys(flags)) });
    expect(lambda.environmentServedBy('checkout', 'live')).toEqual({ LOG_LEVEL: 'info', ...flags });
    const after = lambda.aliasOf('checkout', 'live').functionVersion;
    expect(after).not.toBe(before);
    expect(lambda.versionsOf('checkout').map((v) => v.version)).toEqual([before, after]);
    const commands = lambda.calls.filter((c) => c.command !== 'GetFunction').map((c) => c.command);
    expect(commands).toEqual(['GetAlias', 'UpdateFunctionConfiguration', 'PublishVersion', 'UpdateAlias']);
    // Nothing left to do the second time: no new version.
    await writer.applyAll(['checkout:live'], flags);
    expect(lambda.versionsOf('checkout')).toHaveLength(2);
  });

  it('reads what the alias serves for inspection', async () => {
    await writer.applyAll(['checkout:live'], flags);
    const [seen] = await writer.inspect(['checkout:live']);
    expect(seen).toMatchObject({ target: 'checkout:live', ok: true, variables: { LOG_LEVEL: 'info', ...flags }, version: lambda.aliasOf('checkout', 'live').functionVersion });
  });

  it('refuses to move an alias with weighted routing (a CodeDeploy shift in progress) and says so', async () => {
    lambda.addFunction('payments', {});
    const v1 = lambda.addAlias('payments', 'live');
    lambda.deployUnreleased('payments');
    const v2 = lambda.addAlias('payments', 'next');
    lambda.addAlias('payments', 'live', { version: v1, routing: { [v2]: 0.1 } });
    const err = await writer.applyAll(['payments:live'], flags).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlagWriteError);
    expect((err as Error).message).toContain('weighted routing config (10 % to version 2; the rest to version 1)');
    expect(lambda.aliasOf('payments', 'live')).toEqual({ functionVersion: v1, routing: { [v2]: 0.1 } });
  });

  it('never releases code: refuses to publish when $LATEST holds an unreleased deploy, saying what differs', async () => {
    lambda.deployUnreleased('checkout', { memorySize: 512 });
    const err = await writer.applyAll(['checkout:live'], flags).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlagWriteError);
    expect((err as Error).message).toMatch(/refusing to publish checkout: \$LATEST differs from version 1 that alias live serves \(CodeSha256 .* -> .*; MemorySize 128 -> 512\)/);
    expect(lambda.versionsOf('checkout')).toHaveLength(1);
    expect(lambda.environmentServedBy('checkout', 'live')).toEqual({ LOG_LEVEL: 'info' });
  });

  it('a rollback of an alias target publishes the safe values and moves the alias (forceAll)', async () => {
    await writer.applyAll(['checkout:live'], flags);
    const off = { UX_ENABLED: 'false', UX_ROLES: '', UX_PERCENT: '0' };
    const report = await writer.forceAll(['checkout:live', 'orders-api'], off);
    expect(report.results.map((r) => r.ok)).toEqual([true, true]);
    expect(lambda.environmentServedBy('checkout', 'live')).toMatchObject(off);
  });

  it('all or nothing: when another target fails, the alias goes back to the version it served', async () => {
    const before = lambda.aliasOf('checkout', 'live').functionVersion;
    lambda.failUpdates('orders-worker');
    await expect(writer.applyAll(['checkout:live', 'orders-worker'], flags)).rejects.toBeInstanceOf(FlagWriteError);
    expect(lambda.aliasOf('checkout', 'live').functionVersion).toBe(before);
    expect(lambda.environmentServedBy('checkout', 'live')).toEqual({ LOG_LEVEL: 'info' });
  });
});
