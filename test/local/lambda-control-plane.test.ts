import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ResourceConflictException,
  ResourceNotFoundException,
  TooManyRequestsException,
  InvalidParameterValueException,
  PreconditionFailedException,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { LAMBDA_ENV_LIMIT_BYTES } from '../../lambdas/core/contract';
import { environmentBytes, mergeEnvironment } from '../../lambdas/core/flags/env-merge';
import { EnvLimitError } from '../../lambdas/core/errors';
import { FakeLambdaControlPlane, fakeFunctionArn, type FakeLambdaOptions } from '../../local/fakes/lambda-control-plane';

describe('FakeLambdaControlPlane', () => {
  let fake: FakeLambdaControlPlane;
  const lambda = new LambdaClient({});
  /** The fake's clock, moved by hand: quotas and time-based InProgress never depend on the machine's speed. */
  let t: number;
  const now = () => t;
  const fresh = (options: FakeLambdaOptions = {}) => {
    fake.restore();
    fake = new FakeLambdaControlPlane({ now, ...options }).install();
    return fake;
  };

  beforeEach(() => {
    t = Date.parse('2026-11-02T09:00:00.000Z');
    fake = new FakeLambdaControlPlane({ now }).install();
    fake.addFunction('checkout', { EXISTING: 'keep' });
  });
  afterEach(() => fake.restore());

  const get = (name: string) => lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
  const update = (name: string, variables: Record<string, string>, revisionId?: string) =>
    lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: name, Environment: { Variables: variables }, RevisionId: revisionId }),
    );

  it('finds a function by name, full ARN and partial ARN, and reports it Active and Successful', async () => {
    const byName = await get('checkout');
    const byArn = await get(fakeFunctionArn('checkout'));
    const byPartial = await get('123456789012:function:checkout');
    expect(byName).toMatchObject({
      FunctionName: 'checkout',
      FunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:checkout',
      State: 'Active',
      LastUpdateStatus: 'Successful',
      Environment: { Variables: { EXISTING: 'keep' } },
    });
    expect(byArn.RevisionId).toBe(byName.RevisionId);
    expect(byPartial.RevisionId).toBe(byName.RevisionId);
  });

  it.each([
    ['an unknown name', 'nope', 'Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope'],
    [
      'an ARN in another account',
      'arn:aws:lambda:us-east-1:999999999999:function:checkout',
      'Function not found: arn:aws:lambda:us-east-1:999999999999:function:checkout',
    ],
    [
      'a published version',
      'arn:aws:lambda:us-east-1:123456789012:function:checkout:7',
      'Function not found: arn:aws:lambda:us-east-1:123456789012:function:checkout:7',
    ],
  ])('answers %s with ResourceNotFoundException', async (_, name, message) => {
    const error = await get(name).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error).toMatchObject({ name: 'ResourceNotFoundException', message, $metadata: { httpStatusCode: 404 } });
    expect(fake.calls.at(-1)).toMatchObject({ command: 'GetFunctionConfiguration', outcome: 'ResourceNotFoundException' });
  });

  it('replaces the whole environment on update and gives a new RevisionId', async () => {
    const before = await get('checkout');
    const updated = await update('checkout', { FLAG: 'on' }, before.RevisionId);
    expect(updated.Environment?.Variables).toEqual({ FLAG: 'on' });
    expect(updated.RevisionId).not.toBe(before.RevisionId);
    expect(fake.environmentOf('checkout')).toEqual({ FLAG: 'on' });
    expect(fake.historyOf('checkout').map((h) => [h.cause, h.variables])).toEqual([
      ['created', { EXISTING: 'keep' }],
      ['update', { FLAG: 'on' }],
    ]);
  });

  it('keeps LastUpdateStatus InProgress for one read after an update, then Successful', async () => {
    const updated = await update('checkout', { FLAG: 'on' });
    expect(updated.LastUpdateStatus).toBe('InProgress');
    expect((await get('checkout')).LastUpdateStatus).toBe('InProgress');
    expect((await get('checkout')).LastUpdateStatus).toBe('Successful');
    expect((await lambda.send(new GetFunctionCommand({ FunctionName: 'checkout' }))).Configuration?.LastUpdateStatus).toBe(
      'Successful',
    );
  });

  it('can hold InProgress for more reads, or none', async () => {
    fresh({ readsWhileInProgress: 3 });
    fake.addFunction('slow');
    await update('slow', { A1: '1' });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get('slow')).LastUpdateStatus);
    expect(statuses).toEqual(['InProgress', 'InProgress', 'InProgress', 'Successful']);

    fresh({ readsWhileInProgress: 0 });
    fake.addFunction('fast');
    await update('fast', { A1: '1' });
    expect((await get('fast')).LastUpdateStatus).toBe('Successful');
  });

  it('rejects an update while the previous one is in progress', async () => {
    await update('checkout', { FLAG: 'on' });
    const error = await update('checkout', { FLAG: 'off' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceConflictException);
    expect((error as Error).message).toBe(
      'The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:checkout',
    );
    expect(fake.environmentOf('checkout')).toEqual({ FLAG: 'on' });
  });

  it('rejects an update with a stale RevisionId with PreconditionFailedException (412), not a conflict', async () => {
    const stale = (await get('checkout')).RevisionId;
    await update('checkout', { FLAG: 'on' });
    fake.settle('checkout');
    const error = await update('checkout', { FLAG: 'off' }, stale).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreconditionFailedException);
    expect(error).toMatchObject({
      name: 'PreconditionFailedException',
      message:
        'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
      $metadata: { httpStatusCode: 412 },
    });
    expect(fake.environmentOf('checkout')).toEqual({ FLAG: 'on' });
  });

  it('answers 409 for an update in progress and 412 for a stale RevisionId, each for its own reason', async () => {
    const read = await get('checkout');
    const updated = await update('checkout', { FLAG: 'on' }, read.RevisionId);
    // In progress, even with the RevisionId the update itself returned: 409.
    await expect(update('checkout', { FLAG: 'off' }, updated.RevisionId)).rejects.toMatchObject({
      name: 'ResourceConflictException',
      $metadata: { httpStatusCode: 409 },
    });
    fake.settle('checkout');
    // Settled, with the RevisionId read before the update: 412.
    await expect(update('checkout', { FLAG: 'off' }, read.RevisionId)).rejects.toMatchObject({
      name: 'PreconditionFailedException',
      $metadata: { httpStatusCode: 412 },
    });
    // The update's own RevisionId is stale too once it has settled: the service changes it again then.
    const settled = await get('checkout');
    expect(settled.RevisionId).not.toBe(updated.RevisionId);
    await expect(update('checkout', { FLAG: 'off' }, updated.RevisionId)).rejects.toBeInstanceOf(PreconditionFailedException);
    await expect(update('checkout', { FLAG: 'off' }, settled.RevisionId)).resolves.toMatchObject({ LastUpdateStatus: 'InProgress' });
    expect(fake.environmentOf('checkout')).toEqual({ FLAG: 'off' });
  });

  it('conflictOnce: a concurrent writer makes a RevisionId-guarded update conflict, and an unguarded one overwrite it', async () => {
    const read = await get('checkout');
    fake.conflictOnce('checkout', { OTHER_TEAM: 'x' });
    const error = await update('checkout', { ...read.Environment?.Variables, FLAG: 'on' }, read.RevisionId).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PreconditionFailedException);
    expect(fake.environmentOf('checkout')).toEqual({ EXISTING: 'keep', OTHER_TEAM: 'x' });

    const fresh = await get('checkout');
    await update('checkout', { ...fresh.Environment?.Variables, FLAG: 'on' }, fresh.RevisionId);
    expect(fake.environmentOf('checkout')).toEqual({ EXISTING: 'keep', OTHER_TEAM: 'x', FLAG: 'on' });

    fake.settle('checkout');
    fake.conflictOnce('checkout', { OTHER_TEAM: 'y' });
    await update('checkout', { FLAG: 'lost-update' });
    expect(fake.environmentOf('checkout')).toEqual({ FLAG: 'lost-update' });
    expect(fake.historyOf('checkout').map((h) => h.cause)).toEqual([
      'created',
      'concurrent-writer',
      'update',
      'concurrent-writer',
      'update',
    ]);
  });

  it("measures the 4 KB limit as Lambda does and agrees with Phasegate's own check: 4096 accepted by both, 4097 refused by both", async () => {
    // {"BIG":"…"} is 10 bytes around the value; each é is escaped to \u00e9, 6 bytes.
    const exactly = { BIG: `${'é'.repeat(681)}${'x'.repeat(4096 - 10 - 681 * 6)}` };
    expect(environmentBytes(exactly)).toBe(LAMBDA_ENV_LIMIT_BYTES);
    expect(mergeEnvironment('checkout', {}, exactly).bytes).toBe(4096);
    await expect(update('checkout', exactly)).resolves.toBeDefined();
    fake.settle('checkout');

    const over = { BIG: `${exactly.BIG}x` };
    expect(() => mergeEnvironment('checkout', {}, over)).toThrow(EnvLimitError);
    const error = await update('checkout', over).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidParameterValueException);
    expect((error as Error).message).toBe(
      `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${JSON.stringify(over)}`,
    );
    expect(fake.environmentOf('checkout')).toEqual(exactly);
  });

  it('refuses, as Phasegate now does first, a near-limit environment the sum of key and value bytes let through', async () => {
    const existing = { APP_CONFIG: JSON.stringify({ regions: Array.from({ length: 400 }, (_, i) => `r${i}`) }), MOTD: 'été '.repeat(200) };
    const flags = { UX_ENABLED: 'true', UX_ROLES: 'admin,pm' };
    const merged = { ...existing, ...flags };
    expect(Object.entries(merged).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0)).toBeLessThan(4096);
    expect(() => mergeEnvironment('checkout', existing, flags)).toThrow(
      /^writing Phasegate's flags to checkout would make its environment \d+ bytes, over Lambda's 4096-byte limit$/,
    );
    await expect(update('checkout', merged)).rejects.toBeInstanceOf(InvalidParameterValueException);
  });

  it('rejects reserved keys and malformed keys', async () => {
    await expect(update('checkout', { AWS_REGION: 'eu-west-1' })).rejects.toMatchObject({
      name: 'InvalidParameterValueException',
      message: expect.stringContaining('Reserved keys used in this request: AWS_REGION'),
    });
    await expect(update('checkout', { 'bad-key': '1' })).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('throttle(): the next N calls on a function fail with TooManyRequestsException, then it serves again', async () => {
    fake.throttle('checkout', 2);
    await expect(get('checkout')).rejects.toBeInstanceOf(TooManyRequestsException);
    await expect(update('checkout', { FLAG: 'on' })).rejects.toMatchObject({
      name: 'TooManyRequestsException',
      $metadata: { httpStatusCode: 429 },
    });
    await expect(get('checkout')).resolves.toMatchObject({ LastUpdateStatus: 'Successful' });
    expect(fake.calls.map((c) => c.outcome)).toEqual(['TooManyRequestsException', 'TooManyRequestsException', 'ok']);
  });

  it('failUpdates makes every update fail while reads still work', async () => {
    fake.failUpdates('checkout');
    for (let i = 0; i < 3; i++) {
      await expect(update('checkout', { FLAG: 'on' })).rejects.toMatchObject({ name: 'AccessDeniedException' });
    }
    await expect(get('checkout')).resolves.toMatchObject({ Environment: { Variables: { EXISTING: 'keep' } } });

    const custom = new Error('boom');
    custom.name = 'ServiceException';
    fake.failUpdates('checkout', custom);
    await expect(update('checkout', { FLAG: 'on' })).rejects.toBe(custom);
  });

  it('failNextUpdateStatus ends the next update as Failed with a reason, keeping the environment from before it', async () => {
    fake.failNextUpdateStatus('checkout', 'DisabledKMSKey', 'key disabled');
    const updated = await update('checkout', { FLAG: 'on' });
    expect(updated).toMatchObject({ LastUpdateStatus: 'InProgress', Environment: { Variables: { FLAG: 'on' } } });
    await get('checkout');
    const failed = await get('checkout');
    expect(failed).toMatchObject({
      LastUpdateStatus: 'Failed',
      LastUpdateStatusReasonCode: 'DisabledKMSKey',
      LastUpdateStatusReason: 'key disabled',
      Environment: { Variables: { EXISTING: 'keep' } },
    });
    expect(failed.RevisionId).not.toBe(updated.RevisionId);
    expect(fake.environmentOf('checkout')).toEqual({ EXISTING: 'keep' });
    expect(fake.historyOf('checkout').map((h) => [h.cause, h.variables])).toEqual([
      ['created', { EXISTING: 'keep' }],
      ['update', { FLAG: 'on' }],
      ['update-failed', { EXISTING: 'keep' }],
    ]);

    // Lambda accepts a later update of a function whose last update failed; that one ends Successful.
    await expect(update('checkout', { FLAG: 'on' }, failed.RevisionId)).resolves.toMatchObject({ LastUpdateStatus: 'InProgress' });
    await get('checkout');
    const after = await get('checkout');
    expect(after).toMatchObject({ LastUpdateStatus: 'Successful', Environment: { Variables: { FLAG: 'on' } } });
    expect(after).not.toHaveProperty('LastUpdateStatusReason');
    expect(after).not.toHaveProperty('LastUpdateStatusReasonCode');
  });

  it('markEarlierUpdateFailed: the function reports an earlier Failed update, its environment intact, and takes the next update', async () => {
    const before = await get('checkout');
    fake.markEarlierUpdateFailed('checkout', 'InsufficientRolePermissions', 'The role cannot be assumed by Lambda.');
    const read = await get('checkout');
    expect(read).toMatchObject({
      LastUpdateStatus: 'Failed',
      LastUpdateStatusReasonCode: 'InsufficientRolePermissions',
      LastUpdateStatusReason: 'The role cannot be assumed by Lambda.',
      Environment: { Variables: { EXISTING: 'keep' } },
    });
    expect(read.RevisionId).not.toBe(before.RevisionId);
    await update('checkout', { EXISTING: 'keep', FLAG: 'on' }, read.RevisionId);
    fake.settle('checkout');
    expect(fake.configurationOf('checkout')).toMatchObject({ LastUpdateStatus: 'Successful', Environment: { Variables: { EXISTING: 'keep', FLAG: 'on' } } });

    await update('checkout', { FLAG: 'off' });
    expect(() => fake.markEarlierUpdateFailed('checkout')).toThrow(/update in progress/);
  });

  describe('time-based InProgress (inProgressMs)', () => {
    beforeEach(() => {
      fresh({ inProgressMs: 2000 });
      fake.addFunction('checkout', { EXISTING: 'keep' });
    });

    it('reports InProgress until the time has passed on the fake clock, however many reads, then Successful', async () => {
      await update('checkout', { FLAG: 'on' });
      for (let i = 0; i < 5; i++) expect((await get('checkout')).LastUpdateStatus).toBe('InProgress');
      t += 1999;
      expect((await get('checkout')).LastUpdateStatus).toBe('InProgress');
      expect(fake.configurationOf('checkout').LastUpdateStatus).toBe('InProgress');
      t += 1;
      expect(fake.configurationOf('checkout').LastUpdateStatus).toBe('Successful');
      expect((await get('checkout')).LastUpdateStatus).toBe('Successful');
    });

    it('takes precedence over readsWhileInProgress', async () => {
      fresh({ inProgressMs: 500, readsWhileInProgress: 0 });
      fake.addFunction('slow');
      await update('slow', { A1: '1' });
      expect((await get('slow')).LastUpdateStatus).toBe('InProgress');
      t += 500;
      expect((await get('slow')).LastUpdateStatus).toBe('Successful');
    });

    it('ends a Failed update on time too, and the environment goes back then', async () => {
      fake.failNextUpdateStatus('checkout');
      await update('checkout', { FLAG: 'on' });
      expect(fake.environmentOf('checkout')).toEqual({ FLAG: 'on' });
      t += 2000;
      expect(fake.environmentOf('checkout')).toEqual({ EXISTING: 'keep' });
      expect(await get('checkout')).toMatchObject({ LastUpdateStatus: 'Failed', LastUpdateStatusReasonCode: 'InternalError' });
    });

    it('an update accepted after the time has passed is not refused as in progress', async () => {
      await update('checkout', { FLAG: 'on' });
      await expect(update('checkout', { FLAG: 'off' })).rejects.toBeInstanceOf(ResourceConflictException);
      t += 2000;
      await expect(update('checkout', { FLAG: 'off' })).resolves.toMatchObject({ LastUpdateStatus: 'InProgress' });
    });

    it('0 ms: the update response says InProgress and the next read Successful', async () => {
      fresh({ inProgressMs: 0 });
      fake.addFunction('fast');
      await expect(update('fast', { A1: '1' })).resolves.toMatchObject({ LastUpdateStatus: 'InProgress' });
      expect((await get('fast')).LastUpdateStatus).toBe('Successful');
    });
  });

  it('stickInProgress: a stuck target stays InProgress through time and reads until settle()', async () => {
    fresh({ inProgressMs: 100 });
    fake.addFunction('stuck', { A1: 'before' });
    fake.stickInProgress('stuck');
    await update('stuck', { A1: 'after' });
    t += 3_600_000;
    for (let i = 0; i < 10; i++) expect((await get('stuck')).LastUpdateStatus).toBe('InProgress');
    await expect(update('stuck', { A1: 'again' })).rejects.toBeInstanceOf(ResourceConflictException);
    fake.settle('stuck');
    expect(await get('stuck')).toMatchObject({ LastUpdateStatus: 'Successful', Environment: { Variables: { A1: 'after' } } });

    // Only that update was stuck: the next one ends on time.
    await update('stuck', { A1: 'again' });
    t += 100;
    expect((await get('stuck')).LastUpdateStatus).toBe('Successful');
  });

  it('stickInProgress on an update already in progress holds it, in read-count mode too', async () => {
    await update('checkout', { FLAG: 'on' });
    fake.stickInProgress('checkout');
    for (let i = 0; i < 5; i++) expect((await get('checkout')).LastUpdateStatus).toBe('InProgress');
    fake.settle('checkout');
    expect((await get('checkout')).LastUpdateStatus).toBe('Successful');
  });

  it('GetFunction returns exactly the configuration GetFunctionConfiguration returns, plus Code and Tags', async () => {
    fresh({ inProgressMs: 1000 });
    fake.addFunction('checkout', { EXISTING: 'keep' });
    fake.failNextUpdateStatus('checkout', 'EniLimitExceeded', 'no ENI');
    await update('checkout', { FLAG: 'on' });
    for (const step of [0, 1000]) {
      t += step;
      const configuration = await get('checkout');
      const fn = await lambda.send(new GetFunctionCommand({ FunctionName: 'checkout' }));
      const { $metadata: _, ...withoutMetadata } = configuration;
      expect(fn.Configuration).toEqual(withoutMetadata);
      expect(fn.Code).toMatchObject({ RepositoryType: 'S3' });
      expect(fn.Tags).toEqual({});
    }
    expect(fake.configurationOf('checkout')).toMatchObject({ LastUpdateStatus: 'Failed', LastUpdateStatusReason: 'no ENI' });
    expect(fake.quotas.counts).toEqual({ controlPlane: { accepted: 3, throttled: 0 }, getFunction: { accepted: 2, throttled: 0 } });
  });

  it('rejects invalid options, all at once', () => {
    expect(() => new FakeLambdaControlPlane({ readsWhileInProgress: -1, inProgressMs: Number.NaN })).toThrow(
      /readsWhileInProgress: must be a whole number of at least 0, got -1\n {2}- inProgressMs: must be a number of milliseconds of at least 0, got NaN/,
    );
  });

  it('adds the configured latency to each call', async () => {
    fake.setLatency({ latencyMs: 40 });
    const started = Date.now();
    await get('checkout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });

  it('fails loudly on a command it does not fake, and restore() gives the client back', async () => {
    await expect(lambda.send(new InvokeCommand({ FunctionName: 'checkout' }))).rejects.toThrow(/not faked/);
    const isStubbed = () => 'restore' in LambdaClient.prototype.send;
    expect(isStubbed()).toBe(true);
    fake.restore();
    expect(isStubbed()).toBe(false);
  });
});
