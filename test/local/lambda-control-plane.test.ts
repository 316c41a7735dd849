import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ResourceConflictException,
  ResourceNotFoundException,
  TooManyRequestsException,
  InvalidParameterValueException,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { FakeLambdaControlPlane, fakeFunctionArn } from '../../local/fakes/lambda-control-plane';

describe('FakeLambdaControlPlane', () => {
  let fake: FakeLambdaControlPlane;
  const lambda = new LambdaClient({});

  beforeEach(() => {
    fake = new FakeLambdaControlPlane().install();
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
    fake.restore();
    fake = new FakeLambdaControlPlane({ readsWhileInProgress: 3 }).install();
    fake.addFunction('slow');
    await update('slow', { A1: '1' });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get('slow')).LastUpdateStatus);
    expect(statuses).toEqual(['InProgress', 'InProgress', 'InProgress', 'Successful']);

    fake.restore();
    fake = new FakeLambdaControlPlane({ readsWhileInProgress: 0 }).install();
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

  it('rejects an update with a stale RevisionId', async () => {
    const stale = (await get('checkout')).RevisionId;
    await update('checkout', { FLAG: 'on' });
    fake.settle('checkout');
    const error = await update('checkout', { FLAG: 'off' }, stale).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceConflictException);
    expect((error as Error).message).toMatch(/^The Revision Id provided does not match the latest Revision Id/);
    expect(fake.environmentOf('checkout')).toEqual({ FLAG: 'on' });
  });

  it('conflictOnce: a concurrent writer makes a RevisionId-guarded update conflict, and an unguarded one overwrite it', async () => {
    const read = await get('checkout');
    fake.conflictOnce('checkout', { OTHER_TEAM: 'x' });
    const error = await update('checkout', { ...read.Environment?.Variables, FLAG: 'on' }, read.RevisionId).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ResourceConflictException);
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

  it('rejects an environment over 4 KB counted as UTF-8 bytes of keys and values, and accepts exactly 4 KB', async () => {
    const key = 'BIG';
    const exactly = `${'é'.repeat(2046)}x`;
    expect(Buffer.byteLength(key) + Buffer.byteLength(exactly)).toBe(4096);
    await expect(update('checkout', { [key]: exactly })).resolves.toBeDefined();
    fake.settle('checkout');

    const error = await update('checkout', { [key]: `${exactly}x` }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidParameterValueException);
    expect((error as Error).message).toMatch(/exceeded the 4KB limit/);
    expect(fake.environmentOf('checkout')).toEqual({ [key]: exactly });
  });

  it('rejects reserved keys and malformed keys', async () => {
    await expect(update('checkout', { AWS_REGION: 'eu-west-1' })).rejects.toMatchObject({
      name: 'InvalidParameterValueException',
      message: expect.stringContaining('Reserved keys used in this request: AWS_REGION'),
    });
    await expect(update('checkout', { 'bad-key': '1' })).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('throttles the next N calls on a function, then serves again', async () => {
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

  it('failNextUpdateStatus ends the next update as Failed with a reason', async () => {
    fake.failNextUpdateStatus('checkout', 'DisabledKMSKey', 'key disabled');
    await update('checkout', { FLAG: 'on' });
    await get('checkout');
    expect(await get('checkout')).toMatchObject({
      LastUpdateStatus: 'Failed',
      LastUpdateStatusReasonCode: 'DisabledKMSKey',
      LastUpdateStatusReason: 'key disabled',
    });
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
