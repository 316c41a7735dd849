import { LambdaCallScheduler, QuotaDeadlineError, type RollbackActivity } from '../../lambdas/adapters/lambda-call-scheduler';
import { rateExceeded } from '../../local/fakes/lambda-quotas';
import { virtualTime, type VirtualTime } from '../support/virtual-time';

let time: VirtualTime;
beforeEach(() => {
  time = virtualTime(0);
});

const scheduler = (options: ConstructorParameters<typeof LambdaCallScheduler>[0] = {}) => new LambdaCallScheduler({ now: time.now, sleep: time.sleep, ...options });

describe('LambdaCallScheduler', () => {
  it('keeps under its rate by itself: a burst, then one call per interval', async () => {
    const s = scheduler({ ratePerSecond: { 'control-plane': 10 }, burst: { 'control-plane': 5 } });
    const at: number[] = [];
    await Promise.all(Array.from({ length: 25 }, () => s.call('control-plane', 'rollback', async () => void at.push(time.now()))));
    expect(at.filter((t) => t === 0)).toHaveLength(5);
    // 20 more at 10 per second: the last no earlier than 2 s after the start.
    expect(Math.max(...at)).toBeGreaterThanOrEqual(2000);
    // In any one-second window no more than burst + rate calls went out.
    for (const start of at) expect(at.filter((t) => t >= start && t < start + 1000).length).toBeLessThanOrEqual(15);
  });

  it('serves rollback calls before apply calls waiting for the same quota', async () => {
    const s = scheduler({ ratePerSecond: { 'control-plane': 5 }, burst: { 'control-plane': 1 } });
    const order: string[] = [];
    const calls = [
      ...Array.from({ length: 4 }, (_, i) => s.call('control-plane', 'apply', async () => void order.push(`apply-${i}`))),
      ...Array.from({ length: 4 }, (_, i) => s.call('control-plane', 'rollback', async () => void order.push(`rollback-${i}`))),
    ];
    await Promise.all(calls);
    // Asked for first, the applies still wait: every rollback call goes first.
    expect(order).toEqual(['rollback-0', 'rollback-1', 'rollback-2', 'rollback-3', 'apply-0', 'apply-1', 'apply-2', 'apply-3']);
  });

  it('retries a 429 itself, halves its rate, and wins it back on success', async () => {
    const s = scheduler();
    let first = true;
    const result = await s.call('control-plane', 'rollback', async () => {
      if (first) {
        first = false;
        throw rateExceeded(1);
      }
      return 'done';
    });
    expect(result).toBe('done');
    expect(s.stats()['control-plane']).toMatchObject({ calls: 2, throttled: 1 });
    expect(s.stats()['control-plane'].ratePerSecond).toBeLessThan(14.5);
    for (let i = 0; i < 10; i++) await s.call('control-plane', 'rollback', async () => undefined);
    expect(s.stats()['control-plane'].ratePerSecond).toBe(14.5);
  });

  it('gives up at the deadline with QuotaDeadlineError, never later', async () => {
    const s = scheduler();
    const deadline = time.now() + 3_000;
    const err = await s.call('control-plane', 'rollback', async () => Promise.reject(rateExceeded(1)), { deadline }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaDeadlineError);
    expect(time.now()).toBeLessThan(deadline + 2_000);
  });

  it('does not retry errors that are not throttling', async () => {
    const s = scheduler();
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
    await expect(s.call('control-plane', 'rollback', async () => Promise.reject(denied))).rejects.toBe(denied);
    expect(s.stats()['control-plane']).toMatchObject({ calls: 1, throttled: 0 });
  });

  it('holds apply calls while a rollback is active anywhere in the stage, rollback calls never', async () => {
    let activeUntil = 5_000;
    const activity: RollbackActivity = { isActive: async () => time.now() < activeUntil, markActive: async () => undefined, clear: async () => undefined };
    const s = scheduler({ rollbackActivity: activity });
    const at: Record<string, number> = {};
    await Promise.all([
      s.call('control-plane', 'apply', async () => void (at.apply = time.now())),
      s.call('control-plane', 'rollback', async () => void (at.rollback = time.now())),
      s.call('get-function', 'apply', async () => void (at.read = time.now())),
    ]);
    expect(at.rollback).toBe(0);
    expect(at.read).toBe(0); // GetFunction has its own quota: reads need not yield.
    expect(at.apply).toBeGreaterThanOrEqual(activeUntil);
    activeUntil = 0;
  });

  it('an apply waiting on a rollback gives up at its deadline (the state machine retries it later)', async () => {
    const activity: RollbackActivity = { isActive: async () => true, markActive: async () => undefined, clear: async () => undefined };
    const s = scheduler({ rollbackActivity: activity });
    await expect(s.call('control-plane', 'apply', async () => 'never', { deadline: time.now() + 4_000 })).rejects.toBeInstanceOf(QuotaDeadlineError);
  });

  it('a burst of calls that all meet a 429 cuts the rate once, not once per call', async () => {
    const s = scheduler();
    const failedOnce = new Set<number>();
    const ratesOnRetry: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        s.call('control-plane', 'rollback', async () => {
          if (!failedOnce.has(i)) {
            failedOnce.add(i);
            throw rateExceeded(1);
          }
          ratesOnRetry.push(s.stats()['control-plane'].ratePerSecond);
        }),
      ),
    );
    expect(s.stats()['control-plane'].throttled).toBe(8);
    expect(Math.min(...ratesOnRetry)).toBeGreaterThanOrEqual(14.5 / 2);
  });

  it('an apply already queued when a rollback starts yields with its token in hand', async () => {
    let activeFrom = Infinity;
    const activity: RollbackActivity = { isActive: async () => time.now() >= activeFrom && time.now() < 10_000, markActive: async () => undefined, clear: async () => undefined };
    const s = scheduler({ rollbackActivity: activity, ratePerSecond: { 'control-plane': 1 }, burst: { 'control-plane': 1 } });
    const at: number[] = [];
    const first = s.call('control-plane', 'apply', async () => void at.push(time.now()));
    const second = s.call('control-plane', 'apply', async () => void at.push(time.now()));
    await first;
    activeFrom = time.now(); // a rollback starts while the second apply waits for its token
    await second;
    expect(at[1]).toBeGreaterThanOrEqual(10_000);
  });
});
