import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { KEYS, LLM_BUDGET } from '../core/contract';
import type { Actor } from '../core/rollout/rollout-state';
import type { LlmBudgetCapChange, LlmBudgetDay, LlmReservation } from '../core/ports';

/**
 * The DynamoDB item of one LLM sub-feature's budget for one UTC day, and every conditional write on it. Shared
 * by the runtime guard in the target functions and by Phasegate's budget store, so both sides write the same
 * item the same way. Only type imports from the AWS SDK: the runtime bundles this file.
 *
 * Key: `pk = BUDGET#<feature>` (a partition IAM's `dynamodb:LeadingKeys` can grant on its own), `sk =
 * BUDGET#<subFeature>#<YYYY-MM-DD>`. Attributes, all amounts in integer micro-dollars:
 *
 * | attribute | meaning |
 * | --- | --- |
 * | `capMicros` | cap in force for the day (the plan's, or an admin's) |
 * | `planCapMicros`, `capSource`, `capChange` | where the cap came from; who changed it, when, why |
 * | `spentMicros` | settled spend |
 * | `reservedMicros` | sum of the reservations still held |
 * | `remainingMicros` | `capMicros - spentMicros - reservedMicros`, kept by every write |
 * | `rsv#<id>` | one reservation: `{ micros, reservedAt, expiresAt, model? }` (epoch ms) |
 * | `calls`, `lateSettles`, `released`, `expiredReclaimed` | counters |
 *
 * Why `remainingMicros`: a DynamoDB condition can compare but not add, so `spent + reserved + estimate <= cap`
 * cannot be written as a condition. The item keeps the difference instead, every write updates it in the same
 * request as the amounts it derives from, and a reservation's condition compares that one number.
 *
 * Why one top-level attribute per reservation and not a map: `SET reservations.#id = ...` fails on an item (or
 * map) that does not exist yet, and the first reservation of the day must create the item in the same single
 * write that checks the cap.
 */

/** Attribute names of the budget item. */
export const BUDGET_ATTRIBUTES = {
  kind: 'kind',
  feature: 'feature',
  subFeature: 'subFeature',
  day: 'day',
  cap: 'capMicros',
  planCap: 'planCapMicros',
  capSource: 'capSource',
  capChange: 'capChange',
  spent: 'spentMicros',
  reserved: 'reservedMicros',
  remaining: 'remainingMicros',
  calls: 'calls',
  lateSettles: 'lateSettles',
  released: 'released',
  expiredReclaimed: 'expiredReclaimed',
} as const;

/** Prefix of a reservation's attribute name: `rsv#<id>`. */
export const RESERVATION_PREFIX = 'rsv#';

/** Most expired reservations reclaimed by one write (keeps the expression far below DynamoDB's 4 KB). */
export const MAX_RECLAIM_PER_WRITE = 25;

/** The key and the condition and update expressions of one UpdateItem, in the low-level attribute format. */
export interface BudgetUpdate {
  readonly Key: Record<string, AttributeValue>;
  readonly UpdateExpression: string;
  readonly ConditionExpression: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues: Record<string, AttributeValue>;
}

/** Which day's budget of which sub-feature. */
export interface BudgetDayRef {
  readonly feature: string;
  readonly subFeature: string;
  readonly day: string;
}

const A = BUDGET_ATTRIBUTES;
const n = (value: number): AttributeValue => ({ N: String(value) });
const s = (value: string): AttributeValue => ({ S: value });

/** Placeholders for every attribute name of the item (`#cap` -> `capMicros`, ...). */
const NAMES: Record<string, string> = {
  '#kind': A.kind,
  '#feature': A.feature,
  '#sub': A.subFeature,
  '#day': A.day,
  '#cap': A.cap,
  '#planCap': A.planCap,
  '#capSource': A.capSource,
  '#capChange': A.capChange,
  '#spent': A.spent,
  '#reserved': A.reserved,
  '#remaining': A.remaining,
  '#calls': A.calls,
  '#late': A.lateSettles,
  '#released': A.released,
  '#expired': A.expiredReclaimed,
};

/** Only the placeholders an expression uses: DynamoDB refuses unused ones. */
function namesFor(...expressions: string[]): Record<string, string> {
  const text = expressions.join(' ');
  const used: Record<string, string> = {};
  for (const [placeholder, name] of Object.entries(NAMES)) {
    if (new RegExp(`${placeholder}(?![A-Za-z0-9_])`).test(text)) used[placeholder] = name;
  }
  return used;
}

/** The budget item's key. */
export function budgetItemKey(ref: BudgetDayRef): Record<string, AttributeValue> {
  return { pk: s(LLM_BUDGET.partition(ref.feature)), sk: s(KEYS.budget(ref.subFeature, ref.day)) };
}

function reservationValue(r: LlmReservation): AttributeValue {
  return {
    M: {
      micros: n(r.micros),
      reservedAt: n(r.reservedAt),
      expiresAt: n(r.expiresAt),
      ...(r.model !== undefined ? { model: s(r.model) } : {}),
    },
  };
}

function actorValue(actor: Actor): AttributeValue {
  return { M: { id: s(actor.id), via: s(actor.via), ...(actor.name !== undefined ? { name: s(actor.name) } : {}) } };
}

function identity(ref: BudgetDayRef): Record<string, AttributeValue> {
  return { ':kind': s('llm-budget'), ':feature': s(ref.feature), ':sub': s(ref.subFeature), ':day': s(ref.day) };
}

function build(ref: BudgetDayRef, update: string, condition: string, values: Record<string, AttributeValue>, extraNames: Record<string, string> = {}): BudgetUpdate {
  return {
    Key: budgetItemKey(ref),
    UpdateExpression: update,
    ConditionExpression: condition,
    ExpressionAttributeNames: { ...namesFor(update, condition), ...extraNames },
    ExpressionAttributeValues: values,
  };
}

/**
 * Reserve `reservation.micros` against the day's budget, creating the day's item (with `planCapMicros` as its
 * cap) when this is the day's first reservation.
 *
 * Race prevented: many invocations of the target functions each read "there is room for one more call" and all
 * call the LLM (check-then-act), overshooting the cap by as many calls as run at once. Here the check and the
 * reservation are one conditional write, applied to the item one at a time: once `remainingMicros` is below
 * the estimate every further reservation fails, however many race. The first reservations of a day race on
 * creating the item too: `if_not_exists` makes whichever lands first create it and the others count on it.
 * A cap too small for the estimate never creates the item, so a target whose cap variable says "0" (the
 * sub-feature is off) cannot fix a zero cap for the day before the phase turns the sub-feature on.
 */
export function reserveUpdate(ref: BudgetDayRef, reservation: LlmReservation, planCapMicros: number): BudgetUpdate {
  const update =
    'SET #kind = :kind, #feature = :feature, #sub = :sub, #day = :day, ' +
    '#cap = if_not_exists(#cap, :cap), #planCap = if_not_exists(#planCap, :cap), #capSource = if_not_exists(#capSource, :plan), ' +
    '#spent = if_not_exists(#spent, :zero), #reserved = if_not_exists(#reserved, :zero) + :est, ' +
    '#remaining = if_not_exists(#remaining, :cap) - :est, #rsv = :reservation';
  const condition = planCapMicros >= reservation.micros ? 'attribute_not_exists(#remaining) OR #remaining >= :est' : '#remaining >= :est';
  return build(
    ref,
    update,
    condition,
    {
      ...identity(ref),
      ':cap': n(planCapMicros),
      ':plan': s('plan'),
      ':zero': n(0),
      ':est': n(reservation.micros),
      ':reservation': reservationValue(reservation),
    },
    { '#rsv': `${RESERVATION_PREFIX}${reservation.id}` },
  );
}

/**
 * Settle a call: count its actual cost as spent and give back the difference to its reservation (or take the
 * excess when it cost more than estimated).
 *
 * Race prevented: the reservation expired and another call reclaimed it while this call was still running.
 * Giving back its amount again would count it twice; the condition fails instead and the caller settles late
 * ({@link lateSettleUpdate}).
 */
export function settleUpdate(ref: BudgetDayRef, reservation: LlmReservation, actualMicros: number): BudgetUpdate {
  return build(
    ref,
    'SET #spent = #spent + :actual, #reserved = #reserved - :est, #remaining = #remaining + :refund REMOVE #rsv ADD #calls :one',
    'attribute_exists(#rsv)',
    { ':actual': n(actualMicros), ':est': n(reservation.micros), ':refund': n(reservation.micros - actualMicros), ':one': n(1) },
    { '#rsv': `${RESERVATION_PREFIX}${reservation.id}` },
  );
}

/** Settle a call whose reservation was already reclaimed: the spend counts, nothing is given back. */
export function lateSettleUpdate(ref: BudgetDayRef, actualMicros: number): BudgetUpdate {
  return build(
    ref,
    'SET #spent = #spent + :actual, #remaining = #remaining - :actual ADD #calls :one, #late :one',
    // The item exists: this call reserved on it. The condition only keeps a stray settle from creating one.
    'attribute_exists(#remaining)',
    { ':actual': n(actualMicros), ':one': n(1) },
  );
}

/**
 * Give a reservation back whole: the call threw before it could report a cost.
 *
 * Race prevented: as for {@link settleUpdate}, a reservation reclaimed as expired is not given back twice.
 */
export function releaseUpdate(ref: BudgetDayRef, reservation: LlmReservation): BudgetUpdate {
  return build(
    ref,
    'SET #reserved = #reserved - :est, #remaining = #remaining + :est REMOVE #rsv ADD #released :one',
    'attribute_exists(#rsv)',
    { ':est': n(reservation.micros), ':one': n(1) },
    { '#rsv': `${RESERVATION_PREFIX}${reservation.id}` },
  );
}

/**
 * Reclaim expired reservations (at most {@link MAX_RECLAIM_PER_WRITE}) left by calls that crashed or timed out,
 * so they stop counting against the cap.
 *
 * Race prevented: two refused callers both find the same expired reservation and both reclaim it, or its call
 * settles at the same moment. The condition requires every reservation named to still be there (and expired),
 * so its amount is given back exactly once; a caller whose reclaim fails reads again.
 */
export function reclaimUpdate(ref: BudgetDayRef, expired: readonly LlmReservation[], nowMs: number): BudgetUpdate {
  const batch = expired.slice(0, MAX_RECLAIM_PER_WRITE);
  if (batch.length === 0) throw new RangeError('reclaimUpdate needs at least one expired reservation');
  const names: Record<string, string> = { '#exp': 'expiresAt' };
  batch.forEach((r, i) => (names[`#r${i}`] = `${RESERVATION_PREFIX}${r.id}`));
  const sum = batch.reduce((total, r) => total + r.micros, 0);
  return build(
    ref,
    `SET #reserved = #reserved - :sum, #remaining = #remaining + :sum REMOVE ${batch.map((_, i) => `#r${i}`).join(', ')} ADD #expired :count`,
    batch.map((_, i) => `#r${i}.#exp <= :now`).join(' AND '),
    { ':sum': n(sum), ':count': n(batch.length), ':now': n(nowMs) },
    names,
  );
}

/** An admin's new cap for a day. */
export interface CapChangeInput extends BudgetDayRef {
  readonly capMicros: number;
  /** The cap that was read; `undefined` when the day had no item yet. */
  readonly expectedCapMicros: number | undefined;
  /** The plan's cap, recorded when the change creates the day's item. */
  readonly planCapMicros: number;
  readonly change: LlmBudgetCapChange;
}

/**
 * Change a day's cap. On an existing item the remaining amount moves by the difference, so the reservations and
 * spend already counted stay counted. On a day without an item, the item is created with the new cap.
 *
 * Race prevented: two admins change the cap at once, each computing the difference from the cap they read; the
 * second difference would be applied to the first admin's cap. The condition requires the cap read (or no item),
 * so the second write fails and its caller reads again. Reservations and settlements racing the change are
 * safe: they never touch the cap, and `remainingMicros` moves by addition on both sides.
 */
export function capChangeUpdate(input: CapChangeInput): BudgetUpdate {
  const change: AttributeValue = {
    M: {
      by: actorValue(input.change.by),
      at: s(input.change.at),
      reason: s(input.change.reason),
      previousCapMicros: n(input.change.previousCapMicros),
    },
  };
  if (input.expectedCapMicros === undefined) {
    return build(
      input,
      'SET #kind = :kind, #feature = :feature, #sub = :sub, #day = :day, #cap = :cap, #planCap = :planCap, #capSource = :admin, ' +
        '#capChange = :change, #spent = :zero, #reserved = :zero, #remaining = :cap',
      'attribute_not_exists(#remaining)',
      { ...identity(input), ':cap': n(input.capMicros), ':planCap': n(input.planCapMicros), ':admin': s('admin'), ':change': change, ':zero': n(0) },
    );
  }
  return build(
    input,
    'SET #cap = :cap, #remaining = #remaining + :delta, #capSource = :admin, #capChange = :change',
    '#cap = :expected',
    {
      ':cap': n(input.capMicros),
      ':delta': n(input.capMicros - input.expectedCapMicros),
      ':admin': s('admin'),
      ':change': change,
      ':expected': n(input.expectedCapMicros),
    },
  );
}

function num(value: AttributeValue | undefined): number {
  return value?.N !== undefined ? Number(value.N) : 0;
}

function str(value: AttributeValue | undefined): string | undefined {
  return value?.S;
}

function parseActor(value: AttributeValue | undefined): Actor {
  const m = value?.M ?? {};
  const name = str(m.name);
  return { id: str(m.id) ?? 'unknown', via: (str(m.via) ?? 'cli') as Actor['via'], ...(name !== undefined ? { name } : {}) };
}

/** Reads a budget item (low-level attribute format) into a {@link LlmBudgetDay}. */
export function parseBudgetItem(item: Record<string, AttributeValue>): LlmBudgetDay {
  const reservations: LlmReservation[] = [];
  for (const [name, value] of Object.entries(item)) {
    if (!name.startsWith(RESERVATION_PREFIX) || value.M === undefined) continue;
    const model = str(value.M.model);
    reservations.push({
      id: name.slice(RESERVATION_PREFIX.length),
      micros: num(value.M.micros),
      reservedAt: num(value.M.reservedAt),
      expiresAt: num(value.M.expiresAt),
      ...(model !== undefined ? { model } : {}),
    });
  }
  reservations.sort((a, b) => a.reservedAt - b.reservedAt || a.id.localeCompare(b.id));
  const changeMap = item[A.capChange]?.M;
  const capMicros = num(item[A.cap]);
  return {
    feature: str(item[A.feature]) ?? '',
    subFeature: str(item[A.subFeature]) ?? '',
    day: str(item[A.day]) ?? '',
    capMicros,
    planCapMicros: item[A.planCap] ? num(item[A.planCap]) : capMicros,
    capSource: str(item[A.capSource]) === 'admin' ? 'admin' : 'plan',
    ...(changeMap
      ? {
          capChange: {
            by: parseActor(changeMap.by),
            at: str(changeMap.at) ?? '',
            reason: str(changeMap.reason) ?? '',
            previousCapMicros: num(changeMap.previousCapMicros),
          },
        }
      : {}),
    spentMicros: num(item[A.spent]),
    reservedMicros: num(item[A.reserved]),
    remainingMicros: num(item[A.remaining]),
    calls: num(item[A.calls]),
    lateSettles: num(item[A.lateSettles]),
    released: num(item[A.released]),
    expiredReclaimed: num(item[A.expiredReclaimed]),
    reservations,
  };
}
