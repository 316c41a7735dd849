import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  TooManyRequestsException,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { FakeLambdaControlPlane } from '../../local/fakes/lambda-control-plane';
import { LAMBDA_COMMAND_QUOTAS, LambdaQuotas, type LambdaCommandName } from '../../local/fakes/lambda-quotas';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** Calls `admit` `times` times at the same instant; returns how many were admitted. */
function admitted(quotas: LambdaQuotas, command: LambdaCommandName, times: number): number {
  let ok = 0;
  for (let i = 0; i < times; i++) {
    try {
      quotas.admit(command);
      ok++;
    } catch (error) {
      if (!(error instanceof TooManyRequestsException)) throw error;
    }
  }
  return ok;
}

function throttleError(quotas: LambdaQuotas, command: LambdaCommandName): TooManyRequestsException {
  try {
    quotas.admit(command);
  } catch (error) {
    if (error instanceof TooManyRequestsException) return error;
    throw error;
  }
  throw new Error(`${command} was admitted`);
}

describe('LambdaQuotas', () => {
  it('puts every command the fake serves in a bucket, GetFunction alone in its own', () => {
    expect(LAMBDA_COMMAND_QUOTAS).toEqual({
      GetFunctionConfiguration: 'controlPlane',
      UpdateFunctionConfiguration: 'controlPlane',
      PublishVersion: 'controlPlane',
      GetAlias: 'controlPlane',
      UpdateAlias: 'controlPlane',
      GetFunction: 'getFunction',
    });
  });

  it('admits a burst of 15 control-plane calls at one instant and throttles the 16th with the SDK exception', () => {
    const clock = manualClock();
    const quotas = new LambdaQuotas({ now: clock.now });
    expect(admitted(quotas, 'GetFunctionConfiguration', 10) + admitted(quotas, 'UpdateFunctionConfiguration', 5)).toBe(15);
    const error = throttleError(quotas, 'UpdateFunctionConfiguration');
    expect(error).toMatchObject({
      name: 'TooManyRequestsException',
      message: 'Rate exceeded',
      Reason: 'CallerRateLimitExceeded',
      Type: 'User',
      retryAfterSeconds: '1',
      $metadata: { httpStatusCode: 429 },
    });
    expect(quotas.counts.controlPlane).toEqual({ accepted: 15, throttled: 1 });
  });

  it('refills at 15 per second: one token every 66.7 ms, never above the burst', () => {
    const clock = manualClock();
    const quotas = new LambdaQuotas({ now: clock.now });
    expect(admitted(quotas, 'GetFunctionConfiguration', 15)).toBe(15);
    clock.advance(66);
    expect(admitted(quotas, 'GetFunctionConfiguration', 1)).toBe(0);
    clock.advance(1);
    expect(admitted(quotas, 'GetFunctionConfiguration', 2)).toBe(1);
    clock.advance(1000);
    expect(quotas.available('controlPlane')).toBeCloseTo(15);
    clock.advance(60_000);
    expect(admitted(quotas, 'GetFunctionConfiguration', 20)).toBe(15);
  });

  it('sustains the rate, not more: 10 seconds of calls every 10 ms admit 15 per second plus the burst', () => {
    const clock = manualClock();
    const quotas = new LambdaQuotas({ now: clock.now });
    let ok = 0;
    for (let i = 0; i < 1000; i++) {
      ok += admitted(quotas, 'GetFunctionConfiguration', 1);
      clock.advance(10);
    }
    // 15 at once, then 15 per second over the 9.99 s that followed.
    expect(ok).toBe(15 + Math.floor(9.99 * 15));
    expect(quotas.counts.controlPlane).toEqual({ accepted: ok, throttled: 1000 - ok });
  });

  it('gives GetFunction its own 100 per second, untouched by control-plane throttling', () => {
    const clock = manualClock();
    const quotas = new LambdaQuotas({ now: clock.now });
    expect(admitted(quotas, 'GetFunctionConfiguration', 20)).toBe(15);
    expect(admitted(quotas, 'GetFunction', 120)).toBe(100);
    clock.advance(10);
    expect(admitted(quotas, 'GetFunction', 2)).toBe(1);
    expect(quotas.counts).toEqual({ controlPlane: { accepted: 15, throttled: 5 }, getFunction: { accepted: 101, throttled: 21 } });
  });

  it('says in whole seconds, at least 1, when the next token comes', () => {
    const clock = manualClock();
    const quotas = new LambdaQuotas({ now: clock.now, controlPlane: { ratePerSecond: 0.25, burst: 1 } });
    quotas.admit('UpdateFunctionConfiguration');
    expect(throttleError(quotas, 'UpdateFunctionConfiguration').retryAfterSeconds).toBe('4');
    clock.advance(2500);
    expect(throttleError(quotas, 'UpdateFunctionConfiguration').retryAfterSeconds).toBe('2');
    clock.advance(1400);
    expect(throttleError(quotas, 'UpdateFunctionConfiguration').retryAfterSeconds).toBe('1');
    clock.advance(100);
    expect(() => quotas.admit('UpdateFunctionConfiguration')).not.toThrow();
  });

  it('takes other rates and bursts', () => {
    const clock = manualClock();
    const quotas = new LambdaQuotas({ now: clock.now, controlPlane: { ratePerSecond: 2, burst: 5 }, getFunction: { burst: 3 } });
    expect(admitted(quotas, 'GetFunctionConfiguration', 10)).toBe(5);
    clock.advance(1000);
    expect(admitted(quotas, 'GetFunctionConfiguration', 10)).toBe(2);
    expect(admitted(quotas, 'GetFunction', 10)).toBe(3);
  });

  it('switched off, admits everything and still counts it', () => {
    const quotas = new LambdaQuotas({ enabled: false, now: manualClock().now });
    expect(admitted(quotas, 'UpdateFunctionConfiguration', 500)).toBe(500);
    expect(quotas.counts.controlPlane).toEqual({ accepted: 500, throttled: 0 });
  });

  it('lists every invalid option at once', () => {
    expect(() => new LambdaQuotas({ controlPlane: { ratePerSecond: 0 }, getFunction: { burst: 0.5 } })).toThrow(
      /controlPlane\.ratePerSecond: must be a number greater than 0, got 0\n {2}- getFunction\.burst: must be a number of at least 1, got 0\.5/,
    );
  });
});

describe('FakeLambdaControlPlane with quotas', () => {
  const lambda = new LambdaClient({});
  let fake: FakeLambdaControlPlane | undefined;
  afterEach(() => fake?.restore());

  const read = (name: string) => lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
  const outcomes = async (calls: (() => Promise<unknown>)[]) => {
    const results: string[] = [];
    for (const call of calls) results.push(await call().then(() => 'ok', (e: Error) => e.name));
    return results;
  };

  it('applies Lambda quotas by default: two functions share the account-wide 15 per second', async () => {
    const clock = manualClock();
    fake = new FakeLambdaControlPlane({ now: clock.now }).install();
    fake.addFunction('orders-api');
    fake.addFunction('payments-api');
    const calls = Array.from({ length: 10 }, () => [() => read('orders-api'), () => read('payments-api')]).flat();
    const results = await outcomes(calls);
    expect(results.filter((r) => r === 'ok')).toHaveLength(15);
    expect(results.slice(15)).toEqual(Array(5).fill('TooManyRequestsException'));
    expect(fake.calls.filter((c) => c.functionName === 'payments-api' && c.outcome === 'TooManyRequestsException')).toHaveLength(3);
    expect(fake.quotas.counts.controlPlane).toEqual({ accepted: 15, throttled: 5 });

    clock.advance(1000);
    await expect(read('payments-api')).resolves.toMatchObject({ FunctionName: 'payments-api' });
  });

  it('one LambdaQuotas shared by two fakes is one account', async () => {
    const clock = manualClock();
    const account = new LambdaQuotas({ now: clock.now, controlPlane: { ratePerSecond: 1, burst: 2 } });
    const first = new FakeLambdaControlPlane({ quotas: account });
    const second = new FakeLambdaControlPlane({ quotas: account });
    expect(first.quotas).toBe(account);
    expect(second.quotas).toBe(account);
    fake = first.install();
    first.addFunction('orders-api');
    await read('orders-api');
    await read('orders-api');
    first.restore();
    fake = second.install();
    second.addFunction('orders-api');
    await expect(read('orders-api')).rejects.toBeInstanceOf(TooManyRequestsException);
  });

  it('counts GetFunction against its own bucket: it still answers when the control plane is throttled', async () => {
    const clock = manualClock();
    fake = new FakeLambdaControlPlane({ now: clock.now }).install();
    fake.addFunction('orders-api');
    const results = await outcomes(Array.from({ length: 16 }, () => () => read('orders-api')));
    expect(results.at(-1)).toBe('TooManyRequestsException');
    await expect(lambda.send(new GetFunctionCommand({ FunctionName: 'orders-api' }))).resolves.toMatchObject({
      Configuration: { FunctionName: 'orders-api' },
    });
    expect(fake.quotas.counts.getFunction).toEqual({ accepted: 1, throttled: 0 });
  });

  it('throttles before anything else: a throttled update changes nothing', async () => {
    const clock = manualClock();
    fake = new FakeLambdaControlPlane({ now: clock.now, quotas: { controlPlane: { burst: 1 } } }).install();
    fake.addFunction('orders-api', { A1: 'before' });
    await read('orders-api');
    await expect(
      lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'orders-api', Environment: { Variables: { A1: 'after' } } })),
    ).rejects.toBeInstanceOf(TooManyRequestsException);
    expect(fake.environmentOf('orders-api')).toEqual({ A1: 'before' });
  });

  it('quotas: false admits every call', async () => {
    fake = new FakeLambdaControlPlane({ quotas: false, now: manualClock().now }).install();
    fake.addFunction('orders-api');
    const results = await outcomes(Array.from({ length: 50 }, () => () => read('orders-api')));
    expect(results.every((r) => r === 'ok')).toBe(true);
    expect(fake.quotas.enabled).toBe(false);
    expect(fake.quotas.counts.controlPlane).toEqual({ accepted: 50, throttled: 0 });
  });

  it('runs on one clock: a shared LambdaQuotas with another clock is refused', () => {
    const account = new LambdaQuotas({ now: manualClock().now });
    expect(() => new FakeLambdaControlPlane({ quotas: account, now: manualClock().now })).toThrow(/now: differs from the clock of the shared quotas/);
  });
});
