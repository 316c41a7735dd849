import { budgetItemKey, reclaimUpdate, reserveUpdate } from '../../lambdas/adapters/dynamo-budget-item';
import { headroomMicros, microsToUsd, splitReservations, usdToMicros, utcDay } from '../../lambdas/core/budget/budget-record';
import { formatUsd } from '../../lambdas/core/budget/budget';
import type { LlmReservation } from '../../lambdas/core/ports';

const reservation = (id: string, micros: number, expiresAt: number): LlmReservation => ({ id, micros, reservedAt: expiresAt - 1000, expiresAt });
const ref = { feature: 'ux-update', subFeature: 'llm-parsing', day: '2026-11-02' };

describe('budget arithmetic', () => {
  it.each([
    ['2026-11-02T00:00:00.000Z', '2026-11-02'],
    ['2026-11-02T23:59:59.999Z', '2026-11-02'],
    ['2026-11-03T00:00:00.000Z', '2026-11-03'],
  ])('the budget day of %s is %s (UTC)', (at, day) => {
    expect(utcDay(new Date(at))).toBe(day);
  });

  it('counts in exact micro-dollars', () => {
    expect(usdToMicros(0.1 + 0.2)).toBe(300_000);
    expect(usdToMicros(5)).toBe(5_000_000);
    expect(microsToUsd(usdToMicros(0.0123))).toBe(0.0123);
    expect(formatUsd(5)).toBe('$5');
    expect(formatUsd(0.1 + 0.2)).toBe('$0.3');
  });

  it('a reservation stops counting at its expiry instant', () => {
    const day = { capMicros: 1000, spentMicros: 100, reservations: [reservation('a', 200, 5000), reservation('b', 300, 6000)] };
    expect(splitReservations(day, 4999)).toMatchObject({ liveMicros: 500, expiredMicros: 0 });
    expect(splitReservations(day, 5000)).toMatchObject({ liveMicros: 300, expiredMicros: 200, expired: [expect.objectContaining({ id: 'a' })] });
    expect(headroomMicros(day, 6000)).toBe(900);
    expect(headroomMicros({ ...day, spentMicros: 2000 }, 0)).toBe(0);
  });
});

describe('budget item writes', () => {
  it('keys budgets in a partition of their own per feature, so IAM LeadingKeys can grant them alone', () => {
    expect(budgetItemKey(ref)).toEqual({ pk: { S: 'BUDGET#ux-update' }, sk: { S: 'BUDGET#llm-parsing#2026-11-02' } });
  });

  it('a reservation may create the day only when the cap could hold it', () => {
    expect(reserveUpdate(ref, reservation('a', 100, 1), 5_000_000).ConditionExpression).toBe('attribute_not_exists(#remaining) OR #remaining >= :est');
    expect(reserveUpdate(ref, reservation('a', 100, 1), 0).ConditionExpression).toBe('#remaining >= :est');
  });

  it('names only the attributes an expression uses (DynamoDB refuses unused placeholders)', () => {
    const update = reclaimUpdate(ref, [reservation('a', 100, 1), reservation('b', 50, 2)], 10);
    expect(update.ExpressionAttributeNames).toEqual({ '#reserved': 'reservedMicros', '#remaining': 'remainingMicros', '#expired': 'expiredReclaimed', '#exp': 'expiresAt', '#r0': 'rsv#a', '#r1': 'rsv#b' });
    expect(update.ConditionExpression).toBe('#r0.#exp <= :now AND #r1.#exp <= :now');
    expect(update.ExpressionAttributeValues[':sum']).toEqual({ N: '150' });
  });
});
