import type { LlmBudgetDay, LlmReservation } from '../ports';

/**
 * Pure arithmetic of LLM budgets, shared by the runtime guard (`phasegate/runtime/llm-budget`), the budget
 * store and the budget operations. No dependencies: the runtime bundles this file.
 *
 * Money is counted in integer micro-dollars. DynamoDB adds decimals exactly, but JavaScript's `0.1 + 0.2` does
 * not, and a cap check that compares a float sum could let a call through by a rounding error.
 */

/** Micro-dollars in one US dollar. */
export const MICROS_PER_USD = 1_000_000;

/** US dollars to integer micro-dollars (rounded to the nearest). */
export function usdToMicros(usd: number): number {
  return Math.round(usd * MICROS_PER_USD);
}

/** Integer micro-dollars to US dollars. */
export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}

/** The UTC day of an instant, `YYYY-MM-DD`: budgets reset at midnight UTC. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** Whether a reservation still counts at `nowMs`: it expires at `expiresAt`, exactly. */
export function isLiveReservation(reservation: LlmReservation, nowMs: number): boolean {
  return reservation.expiresAt > nowMs;
}

/** A day's reservations split into live ones and expired ones (which no longer count), with their sums. */
export interface ReservationSplit {
  readonly live: readonly LlmReservation[];
  readonly expired: readonly LlmReservation[];
  readonly liveMicros: number;
  readonly expiredMicros: number;
}

/** Splits a day's reservations at `nowMs`. */
export function splitReservations(day: Pick<LlmBudgetDay, 'reservations'>, nowMs: number): ReservationSplit {
  const live: LlmReservation[] = [];
  const expired: LlmReservation[] = [];
  let liveMicros = 0;
  let expiredMicros = 0;
  for (const r of day.reservations) {
    if (isLiveReservation(r, nowMs)) {
      live.push(r);
      liveMicros += r.micros;
    } else {
      expired.push(r);
      expiredMicros += r.micros;
    }
  }
  return { live, expired, liveMicros, expiredMicros };
}

/** What a new call could still reserve at `nowMs`: cap - spent - live reservations, never below 0. */
export function headroomMicros(day: Pick<LlmBudgetDay, 'capMicros' | 'spentMicros' | 'reservations'>, nowMs: number): number {
  return Math.max(0, day.capMicros - day.spentMicros - splitReservations(day, nowMs).liveMicros);
}
