import { DynamoRolloutStore } from '../../lambdas/adapters/dynamo-state-store';
import { budgetStatus, createBudgetReader, setDailyCap, type SetDailyCapPorts, type SetDailyCapRequest } from '../../lambdas/core/budget/budget';
import { LLM_BUDGET } from '../../lambdas/core/contract';
import { RefusedError } from '../../lambdas/core/errors';
import { dailyCapVariable, subFeatureKey } from '../../lambdas/core/flags/flags';
import type { Person } from '../../lambdas/core/rollout/operations';
import type { Plan } from '../../lambdas/core/plan/schema';
import { createLlmBudget, type LlmBudget } from '../../runtime/llm-budget';
import { ManualClock } from '../support/local-aws';
import { deferred, llmPlan, startBudgetTable, type LocalBudgetTable } from '../support/local-budget';
import { threePhasePlan } from '../support/plans';

const SUB = 'llm-parsing';
const ada: Person = { id: 'u-ada', name: 'Ada', via: 'discord', roles: ['admin'] };
const priya: Person = { id: 'u-priya', name: 'Priya', via: 'discord', roles: ['pm'] };

let table: LocalBudgetTable;
let store: DynamoRolloutStore;
let n = 0;

beforeAll(async () => {
  table = await startBudgetTable();
  store = new DynamoRolloutStore(table.tableName, table.client);
});
afterAll(async () => table.stop());

/** A fresh feature with a $5 cap and a $10 hard limit, the ports over it, and a guard of its target function. */
function setup(options: { capEnv?: string; clock?: ManualClock } = {}) {
  const feature = `budget-${++n}`;
  const plan = llmPlan(feature, { dailyCapUsd: 5, hardLimitUsd: 10 });
  const clock = options.clock ?? new ManualClock();
  const ports: SetDailyCapPorts = { budgets: table.budgets, store, clock, plans: [plan, threePhasePlan({ feature: `plain-${n}` })] };
  const guard: LlmBudget = createLlmBudget({
    env: { [LLM_BUDGET.tableNameEnv]: table.tableName, [dailyCapVariable(subFeatureKey(feature, SUB))]: options.capEnv ?? '5' },
    client: table.client,
    clock,
    emitMetric: () => undefined,
  });
  const spend = (costUsd: number, estimateUsd = costUsd) => guard.withLlmBudget({ feature, subFeature: SUB, estimateUsd }, async () => ({ value: null, costUsd }));
  const request = (change: Partial<SetDailyCapRequest> = {}): SetDailyCapRequest => ({ feature, subFeature: SUB, usd: 8, reason: 'demo day for the PMs', actor: ada, ...change });
  return { feature, plan, clock, ports, guard, spend, request };
}

describe('budgetStatus', () => {
  it('before any call today: the plan’s cap, nothing spent or reserved', async () => {
    const { feature, ports } = setup();
    expect(await budgetStatus(ports, feature)).toEqual({
      feature,
      day: '2026-11-02',
      asOf: expect.stringMatching(/^2026-11-02T09:00/),
      subFeatures: [
        {
          feature,
          subFeature: SUB,
          day: '2026-11-02',
          capUsd: 5,
          planCapUsd: 5,
          capSource: 'plan',
          hardLimitUsd: 10,
          spentUsd: 0,
          reservations: { live: 0, liveUsd: 0, expired: 0, expiredUsd: 0 },
          remainingUsd: 5,
          calls: 0,
          exhausted: false,
          overHardLimit: false,
        },
      ],
    });
  });

  it('shows spend, live reservations, and expired ones that no longer count', async () => {
    const { feature, ports, guard, spend, clock } = setup();
    await spend(1.25, 2);
    const crashed = deferred<{ value: null; costUsd: number }>();
    const crashedCall = guard.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.5 }, () => crashed.promise);
    await until(async () => (await budgetStatus(ports, feature)).subFeatures[0]!.reservations.live === 1);
    clock.advance(LLM_BUDGET.defaultReservationTtlMs);
    const inFlight = deferred<{ value: null; costUsd: number }>();
    const inFlightCall = guard.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.25 }, () => inFlight.promise);
    await until(async () => (await budgetStatus(ports, feature)).subFeatures[0]!.reservations.live === 1);

    const [status] = (await budgetStatus(ports, feature)).subFeatures;
    expect(status).toMatchObject({
      spentUsd: 1.25,
      reservations: { live: 1, liveUsd: 0.25, expired: 1, expiredUsd: 0.5 },
      remainingUsd: 3.5,
      calls: 1,
      exhausted: false,
    });
    inFlight.resolve({ value: null, costUsd: 0.1 });
    crashed.resolve({ value: null, costUsd: 0.1 });
    await Promise.all([inFlightCall, crashedCall]);
  });

  it('says when the budget is exhausted', async () => {
    const { feature, ports, spend } = setup();
    await spend(5);
    expect((await budgetStatus(ports, feature)).subFeatures[0]).toMatchObject({ spentUsd: 5, remainingUsd: 0, exhausted: true, overHardLimit: false });
  });

  it('lists nothing for a feature without an LLM budget, and refuses an unknown feature', async () => {
    const { ports } = setup();
    expect((await budgetStatus(ports, `plain-${n}`)).subFeatures).toEqual([]);
    await expect(budgetStatus(ports, 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('is what the BudgetReader port serves', async () => {
    const { feature, ports } = setup();
    const { asOf: _read, ...viaPort } = await createBudgetReader(ports).budgetStatus(feature);
    const { asOf: _direct, ...direct } = await budgetStatus(ports, feature);
    expect(viaPort).toEqual(direct);
  });
});

describe('setDailyCap', () => {
  it('an admin raises today’s cap with a reason: audited, counted spend kept, the guard gets the room', async () => {
    const { feature, ports, spend, request } = setup();
    await spend(4.5);
    expect(await spend(1)).toMatchObject({ ok: false, reason: 'BUDGET_EXHAUSTED' });

    const status = await setDailyCap(ports, request({ usd: 8 }));
    expect(status).toMatchObject({
      capUsd: 8,
      planCapUsd: 5,
      capSource: 'admin',
      capChange: { by: { id: 'u-ada', name: 'Ada', via: 'discord' }, reason: 'demo day for the PMs', previousCapUsd: 5, at: expect.stringMatching(/^2026-11-02T/) },
      spentUsd: 4.5,
      remainingUsd: 3.5,
    });
    expect(await spend(3.5)).toMatchObject({ ok: true });
    expect(await spend(0.01)).toMatchObject({ ok: false });

    const [event] = await store.listAudit(feature, 1);
    expect(event).toMatchObject({
      action: 'budget-cap-changed',
      actor: { id: 'u-ada', name: 'Ada', via: 'discord' },
      message: `Ada set today's (2026-11-02 UTC) LLM cap of ${feature}.llm-parsing from $5 to $8: demo day for the PMs`,
      detail: { subFeature: SUB, day: '2026-11-02', fromUsd: 5, toUsd: 8, planCapUsd: 5, reason: 'demo day for the PMs' },
    });
    expect(event!.actor).not.toHaveProperty('roles');
  });

  it('lowering the cap below today’s spend stops further calls at once', async () => {
    const { feature, ports, spend, request } = setup();
    await spend(2);
    expect(await setDailyCap(ports, request({ usd: 1, reason: 'runaway prompt' }))).toMatchObject({ capUsd: 1, spentUsd: 2, remainingUsd: 0, exhausted: true });
    expect(await spend(0.01)).toMatchObject({ ok: false, reason: 'BUDGET_EXHAUSTED', capUsd: 1, spentUsd: 2 });
    expect((await budgetStatus(ports, feature)).subFeatures[0]).toMatchObject({ capUsd: 1 });
  });

  it('before any call today it creates the day with the admin’s cap, which the guard then uses even if its variable says 0', async () => {
    const { ports, spend, request } = setup({ capEnv: '0' });
    expect(await spend(0.5)).toMatchObject({ ok: false });
    await setDailyCap(ports, request({ usd: 1, reason: 'try it on staging' }));
    expect(await spend(0.5)).toMatchObject({ ok: true });
  });

  it('applies to today only: at midnight UTC the plan’s cap is back', async () => {
    const clock = new ManualClock(Date.parse('2026-11-02T23:00:00.000Z'));
    const { feature, ports, request } = setup({ clock });
    await setDailyCap(ports, request({ usd: 2, reason: 'slow it down tonight' }));
    expect((await budgetStatus(ports, feature)).subFeatures[0]).toMatchObject({ day: '2026-11-02', capUsd: 2, capSource: 'admin' });
    clock.advance(60 * 60 * 1000);
    expect((await budgetStatus(ports, feature)).subFeatures[0]).toMatchObject({ day: '2026-11-03', capUsd: 5, capSource: 'plan' });
  });

  it('two admins at once: both changes land one after the other, and the amounts stay consistent', async () => {
    const { feature, ports, spend, request } = setup();
    await spend(1);
    const grace: Person = { id: 'u-grace', name: 'Grace', via: 'cli', roles: ['admin'] };
    await Promise.all([setDailyCap(ports, request({ usd: 7 })), setDailyCap(ports, request({ usd: 3, actor: grace, reason: 'budget review' }))]);
    const day = (await table.budgets.getDay(feature, SUB, '2026-11-02'))!;
    expect([3_000_000, 7_000_000]).toContain(day.capMicros);
    expect(day.remainingMicros).toBe(day.capMicros - day.spentMicros - day.reservedMicros);
    const changes = (await store.listAudit(feature, 10)).filter((e) => e.action === 'budget-cap-changed');
    expect(changes).toHaveLength(2);
  });

  it.each<[string, Partial<SetDailyCapRequest>, string, RegExp]>([
    ['a person who is not an admin', { actor: priya }, 'FORBIDDEN', /only admin may change the LLM budget; you hold pm/],
    ['a cap above the hard limit', { usd: 12 }, 'INVALID', /\$12 is above the hard limit of \$10/],
    ['a negative cap', { usd: -1 }, 'INVALID', /0 or more/],
    ['a cap that is not a number', { usd: Number.NaN }, 'INVALID', /0 or more/],
    ['no reason', { reason: '   ' }, 'INVALID', /needs a reason/],
    ['a sub-feature without a budget', { subFeature: 'summaries' }, 'INVALID', /no LLM sub-feature "summaries" \(LLM sub-features: llm-parsing\)/],
  ])('refuses %s, changes nothing and audits the refusal', async (_what, change, code, message) => {
    const { feature, ports, spend, request } = setup();
    await spend(1);
    const before = await table.budgets.getDay(feature, SUB, '2026-11-02');
    const err = await setDailyCap(ports, request(change)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect(err).toMatchObject({ code, message: expect.stringMatching(message) });
    expect(await table.budgets.getDay(feature, SUB, '2026-11-02')).toEqual(before);
    const [event] = await store.listAudit(feature, 1);
    expect(event).toMatchObject({ action: 'refused', detail: { code, request: 'set-budget' }, message: expect.stringContaining('refused set-budget') });
  });

  it('refuses a feature without a plan on this stage', async () => {
    const { ports, request } = setup();
    await expect(setDailyCap(ports, request({ feature: 'nope' }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('records the rollout’s execution and phase with the change when a rollout is under way', async () => {
    const { feature, plan, ports, request } = setup();
    await startRollout(plan);
    await setDailyCap(ports, request());
    expect((await store.listAudit(feature, 1))[0]).toMatchObject({ action: 'budget-cap-changed', executionId: `arn:exec:${feature}` });
  });
});

async function startRollout(plan: Plan): Promise<void> {
  const { startRollout: start } = await import('../../lambdas/core/rollout/rollout-state');
  const t = start(undefined, { plan, stage: 'dev', executionId: `arn:exec:${plan.feature}`, actor: priya, at: '2026-11-02T08:00:00.000Z' })!;
  await store.saveTransition(undefined, t);
}

/** Wait for a condition by checking it, a bounded number of times: a slow machine takes longer, never fails. */
async function until(check: () => Promise<boolean>, checks = 2000): Promise<void> {
  for (let i = 0; !(await check()); i++) {
    if (i >= checks) throw new Error(`condition not reached after ${checks} checks`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
