import { authorize } from '../rollout/authorize';
import { microsToUsd, splitReservations, usdToMicros, utcDay } from './budget-record';
import { ConflictError, RefusedError } from '../errors';
import { subFeatureKey } from '../flags/flags';
import type { Person } from '../rollout/operations';
import type { Plan, SubFeature } from '../plan/schema';
import type { BudgetReader, Clock, FeatureBudgetStatus, LlmBudgetDay, LlmBudgetStatus, LlmBudgetStore, RolloutStore } from '../ports';
import { refusalEvent, type AuditEvent, type RolloutState } from '../rollout/rollout-state';

/**
 * LLM budgets as people see and change them: today's spend, reservations and cap per LLM sub-feature
 * (`/rollout budget <feature>`, the CLI), and an admin's change of today's cap. The target functions' runtime
 * guard (`phasegate/runtime/llm-budget`) writes the same records; see `lambdas/adapters/dynamo-budget-item.ts`.
 */

/** What {@link budgetStatus} needs. */
export interface BudgetPorts {
  readonly budgets: LlmBudgetStore;
  readonly clock: Clock;
  /** The stage's resolved plans (the Discord and CLI functions get them from `PHASEGATE_PLANS`). */
  readonly plans: readonly Plan[];
}

/** What {@link setDailyCap} needs: the rollout store too, for the feature's audit trail. */
export interface SetDailyCapPorts extends BudgetPorts {
  readonly store: RolloutStore;
}

/** A sub-feature with an LLM budget. */
export type LlmSubFeature = SubFeature & { readonly llm: NonNullable<SubFeature['llm']> };

/** The sub-features of a plan that carry an LLM budget, in plan order. */
export function llmSubFeatures(plan: Pick<Plan, 'subFeatures'>): LlmSubFeature[] {
  return plan.subFeatures.filter((sub): sub is LlmSubFeature => sub.llm !== undefined);
}

/** `$5`, `$0.0123`: dollars to the micro-dollar, without trailing zeros. */
export function formatUsd(usd: number): string {
  return `$${Number(usd.toFixed(6))}`;
}

/**
 * One sub-feature's budget on `day` as people read it, from its stored record (undefined when nothing was
 * reserved or set that day: the plan's cap, nothing spent). Expired reservations are shown but do not count.
 */
export function toBudgetStatus(
  feature: string,
  sub: LlmSubFeature,
  record: LlmBudgetDay | undefined,
  day: string,
  nowMs: number,
): LlmBudgetStatus {
  const planCapMicros = usdToMicros(sub.llm.dailyCapUsd);
  const capMicros = record?.capMicros ?? planCapMicros;
  const spentMicros = record?.spentMicros ?? 0;
  const split = record ? splitReservations(record, nowMs) : { live: [], expired: [], liveMicros: 0, expiredMicros: 0 };
  const remainingMicros = Math.max(0, capMicros - spentMicros - split.liveMicros);
  const change = record?.capChange;
  return {
    feature,
    subFeature: sub.id,
    day,
    capUsd: microsToUsd(capMicros),
    planCapUsd: sub.llm.dailyCapUsd,
    capSource: record?.capSource ?? 'plan',
    ...(change ? { capChange: { by: change.by, at: change.at, reason: change.reason, previousCapUsd: microsToUsd(change.previousCapMicros) } } : {}),
    hardLimitUsd: sub.llm.hardLimitUsd,
    spentUsd: microsToUsd(spentMicros),
    reservations: {
      live: split.live.length,
      liveUsd: microsToUsd(split.liveMicros),
      expired: split.expired.length,
      expiredUsd: microsToUsd(split.expiredMicros),
    },
    remainingUsd: microsToUsd(remainingMicros),
    calls: record?.calls ?? 0,
    exhausted: remainingMicros === 0,
    overHardLimit: spentMicros > usdToMicros(sub.llm.hardLimitUsd),
  };
}

function planOf(plans: readonly Plan[], feature: string): Plan {
  const plan = plans.find((p) => p.feature === feature);
  if (!plan) {
    throw new RefusedError('NOT_FOUND', `no plan for feature "${feature}" on this stage (features: ${plans.map((p) => p.feature).join(', ') || 'none'})`);
  }
  return plan;
}

/**
 * Today's (UTC) budget of every LLM sub-feature of `feature`: spend, live and expired reservations, the cap in
 * force (and who changed it), the hard limit and what remains. Read-only. Throws `RefusedError` NOT_FOUND for
 * a feature without a plan on this stage; a feature without LLM sub-features has an empty list.
 */
export async function budgetStatus(ports: BudgetPorts, feature: string): Promise<FeatureBudgetStatus> {
  const plan = planOf(ports.plans, feature);
  const now = ports.clock.now();
  const day = utcDay(now);
  const subs = llmSubFeatures(plan);
  const records = await Promise.all(subs.map((sub) => ports.budgets.getDay(feature, sub.id, day)));
  return {
    feature,
    day,
    asOf: now.toISOString(),
    subFeatures: subs.map((sub, i) => toBudgetStatus(feature, sub, records[i], day, now.getTime())),
  };
}

/** A {@link BudgetReader} over these ports: what the Discord handler and the CLI are given. */
export function createBudgetReader(ports: BudgetPorts): BudgetReader {
  return { budgetStatus: (feature) => budgetStatus(ports, feature) };
}

/** An admin's request to change today's cap of an LLM sub-feature. */
export interface SetDailyCapRequest {
  readonly feature: string;
  readonly subFeature: string;
  /** Today's new cap in US dollars: from 0 (no more LLM calls today) up to the plan's hardLimitUsd. */
  readonly usd: number;
  /** Why: kept in the audit trail and shown with the budget. */
  readonly reason: string;
  readonly actor: Person;
}

/** Conditional writes lost to another admin's change before giving up. */
const CAP_WRITE_ATTEMPTS = 5;

/**
 * Change today's (UTC) cap of an LLM sub-feature. Admins only (`authorize('set-budget')`); needs a reason; the
 * new cap goes from 0 to the plan's `hardLimitUsd` (above it the alarm would roll the sub-feature back before
 * the cap is reached: change the plan instead). Applies to today only: tomorrow the plan's cap is back.
 * Spend and reservations already counted stay counted. One conditional write on the cap that was read; audited
 * in the feature's trail, and so is every refusal. Returns the sub-feature's new status.
 */
export async function setDailyCap(ports: SetDailyCapPorts, req: SetDailyCapRequest): Promise<LlmBudgetStatus> {
  const { store, budgets, clock } = ports;
  const plan = planOf(ports.plans, req.feature);
  const state = await store.getState(req.feature);
  const actor = { id: req.actor.id, name: req.actor.name, via: req.actor.via };
  const key = subFeatureKey(req.feature, req.subFeature);

  const refuse = async (error: RefusedError): Promise<never> => {
    await store.appendAudit(
      refusalEvent({
        feature: req.feature,
        state,
        actor,
        at: clock.now().toISOString(),
        request: 'set-budget',
        what: `set-budget of ${key}`,
        error,
        // As typed: NaN or Infinity cannot be stored as a DynamoDB number.
        detail: { subFeature: req.subFeature, usd: Number.isFinite(req.usd) ? req.usd : String(req.usd) },
      }),
    );
    throw error;
  };

  const allowed = authorize('set-budget', req.actor);
  if (!allowed.ok) return refuse(new RefusedError('FORBIDDEN', allowed.reason));
  const subs = llmSubFeatures(plan);
  const sub = subs.find((s) => s.id === req.subFeature);
  if (!sub) {
    return refuse(new RefusedError('INVALID', `${req.feature} has no LLM sub-feature "${req.subFeature}" (LLM sub-features: ${subs.map((s) => s.id).join(', ') || 'none'})`));
  }
  if (!(typeof req.usd === 'number' && Number.isFinite(req.usd) && req.usd >= 0)) {
    return refuse(new RefusedError('INVALID', `the cap must be an amount in US dollars, 0 or more; got ${String(req.usd)}`));
  }
  if (req.usd > sub.llm.hardLimitUsd) {
    return refuse(
      new RefusedError(
        'INVALID',
        `${formatUsd(req.usd)} is above the hard limit of ${formatUsd(sub.llm.hardLimitUsd)}, where ${key} is rolled back; change the plan's hardLimitUsd instead`,
      ),
    );
  }
  const reason = req.reason?.trim() ?? '';
  if (reason === '') return refuse(new RefusedError('INVALID', 'changing the budget needs a reason'));

  const now = clock.now();
  const at = now.toISOString();
  const day = utcDay(now);
  let before: LlmBudgetDay | undefined;
  let after: LlmBudgetDay | undefined;
  for (let attempt = 1; after === undefined; attempt++) {
    before = await budgets.getDay(req.feature, req.subFeature, day);
    try {
      after = await budgets.setCap({
        feature: req.feature,
        subFeature: req.subFeature,
        day,
        capMicros: usdToMicros(req.usd),
        expectedCapMicros: before?.capMicros,
        planCapMicros: usdToMicros(sub.llm.dailyCapUsd),
        by: actor,
        at,
        reason,
      });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      if (attempt >= CAP_WRITE_ATTEMPTS) return refuse(new RefusedError('STALE', `today's cap of ${key} kept changing while you set it; try again`));
    }
  }
  const fromUsd = microsToUsd(before?.capMicros ?? usdToMicros(sub.llm.dailyCapUsd));
  await store.appendAudit(
    auditEvent(
      state,
      req.feature,
      at,
      actor,
      'budget-cap-changed',
      `${req.actor.name ?? req.actor.id} set today's (${day} UTC) LLM cap of ${key} from ${formatUsd(fromUsd)} to ${formatUsd(req.usd)}: ${reason}`,
      { subFeature: req.subFeature, day, fromUsd, toUsd: req.usd, planCapUsd: sub.llm.dailyCapUsd, reason },
    ),
  );
  return toBudgetStatus(req.feature, sub, after, day, clock.now().getTime());
}

function auditEvent(
  state: RolloutState | undefined,
  feature: string,
  at: string,
  actor: AuditEvent['actor'],
  action: AuditEvent['action'],
  message: string,
  detail: Record<string, unknown>,
): AuditEvent {
  const phase = state ? (state.plan.phases[state.phaseIndex]?.name ?? null) : null;
  return { feature, at, actor, action, ...(state ? { executionId: state.executionId } : {}), fromPhase: phase, toPhase: phase, message, detail };
}
