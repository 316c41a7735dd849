import { LLM_BUDGET, METRICS } from '../../lambdas/core/contract';
import { dailyCapVariable, subFeatureKey } from '../../lambdas/core/flags/flags';
import type { LlmBudgetDay } from '../../lambdas/core/ports';
import {
  costUsdOf,
  createLlmBudget,
  LlmBudgetConfigError,
  LlmPriceMissingError,
  type LlmBudgetOptions,
  type LlmBudgetResult,
  type PriceTable,
} from '../../runtime/llm-budget';
import { encodeManifest, manifestVariable, resolveFlagNames } from '../../runtime/names';
import { ManualClock } from '../support/local-aws';
import { deferred, startBudgetTable, type LocalBudgetTable } from '../support/local-budget';

const SUB = 'llm-parsing';
const PRICES: PriceTable = {
  'gpt-4o-mini': { inputUsdPerMillionTokens: 0.15, outputUsdPerMillionTokens: 0.6 },
  'claude-3-5-haiku': { inputUsdPerMillionTokens: 0.8, outputUsdPerMillionTokens: 4 },
};

let table: LocalBudgetTable;
let n = 0;

beforeAll(async () => {
  table = await startBudgetTable();
});
afterAll(async () => table.stop());

const capVariable = (feature: string): string => dailyCapVariable(subFeatureKey(feature, SUB));

/** A guard for a fresh feature on the shared table, its metric lines, and a way to read its day. */
function setup(capUsd: string | undefined, options: Partial<LlmBudgetOptions> & { clock?: ManualClock } = {}) {
  const feature = `feat-${++n}`;
  const clock = options.clock ?? new ManualClock();
  const metrics: string[] = [];
  const warnings: string[] = [];
  const budget = createLlmBudget({
    env: { [LLM_BUDGET.tableNameEnv]: table.tableName, ...(capUsd !== undefined ? { [capVariable(feature)]: capUsd } : {}) },
    client: table.client,
    clock,
    emitMetric: (line) => metrics.push(line),
    warn: (line) => warnings.push(line),
    // dynalite answers 200 concurrent reservations slowly on a busy machine; the deadline has its own tests.
    timeoutMs: 60_000,
    ...options,
  });
  const day = (d = clock.now().toISOString().slice(0, 10)): Promise<LlmBudgetDay | undefined> => table.budgets.getDay(feature, SUB, d);
  return { feature, clock, budget, metrics, warnings, day };
}

/** The invariant every write keeps. */
function expectConsistent(day: LlmBudgetDay): void {
  expect(day.remainingMicros).toBe(day.capMicros - day.spentMicros - day.reservedMicros);
  expect(day.reservedMicros).toBe(day.reservations.reduce((sum, r) => sum + r.micros, 0));
}

describe('withLlmBudget: reserve, call, settle', () => {
  it('reserves the estimate while the call runs, then counts the actual cost and gives the rest back', async () => {
    const { feature, budget, day } = setup('1');
    let during: LlmBudgetDay | undefined;
    const result = await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, async (ctx) => {
      during = await day();
      expect(ctx).toMatchObject({ estimateUsd: 0.1, day: '2026-11-02' });
      return { value: 'parsed', costUsd: 0.04 };
    });
    expect(result).toEqual({
      ok: true,
      value: 'parsed',
      costUsd: 0.04,
      estimateUsd: 0.1,
      day: '2026-11-02',
      reservationId: expect.any(String),
      settlement: 'settled',
    });
    expect(during).toMatchObject({ capMicros: 1_000_000, capSource: 'plan', spentMicros: 0, reservedMicros: 100_000, remainingMicros: 900_000 });
    expect(during!.reservations).toEqual([expect.objectContaining({ id: (result as { reservationId: string }).reservationId, micros: 100_000 })]);
    const after = (await day())!;
    expect(after).toMatchObject({ spentMicros: 40_000, reservedMicros: 0, remainingMicros: 960_000, calls: 1, reservations: [] });
    expectConsistent(after);
  });

  it('prices reported tokens with the model’s price', async () => {
    const { feature, budget, day } = setup('1', { prices: PRICES });
    const result = await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01, model: 'gpt-4o-mini' }, async () => ({
      value: 'ok',
      usage: { inputTokens: 1200, outputTokens: 500 },
    }));
    expect(costUsdOf(PRICES, 'gpt-4o-mini', { inputTokens: 1200, outputTokens: 500 })).toBeCloseTo(0.00048, 10);
    expect(result).toMatchObject({ ok: true, costUsd: 0.00048 });
    expect((await day())!.spentMicros).toBe(480);
  });

  it('counts a call that cost more than its estimate in full', async () => {
    const { feature, budget, day } = setup('1');
    await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, async () => ({ value: 1, costUsd: 0.25 }));
    const after = (await day())!;
    expect(after).toMatchObject({ spentMicros: 250_000, remainingMicros: 750_000 });
    expectConsistent(after);
  });

  it('gives the whole reservation back when the call throws, and rethrows the same error', async () => {
    const { feature, budget, day } = setup('1');
    const boom = new Error('provider timeout');
    await expect(budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.3 }, async () => Promise.reject(boom))).rejects.toBe(boom);
    const after = (await day())!;
    expect(after).toMatchObject({ spentMicros: 0, reservedMicros: 0, remainingMicros: 1_000_000, released: 1, calls: 0, reservations: [] });
  });
});

describe('withLlmBudget: an exhausted budget', () => {
  it('does not call the LLM and returns BUDGET_EXHAUSTED with the numbers, never throwing', async () => {
    const { feature, budget } = setup('0.25');
    const call = jest.fn(async () => ({ value: 'llm', costUsd: 0.1 }));
    const results: LlmBudgetResult<string>[] = [];
    for (let i = 0; i < 3; i++) results.push(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, call));
    expect(results.map((r) => r.ok)).toEqual([true, true, false]);
    expect(call).toHaveBeenCalledTimes(2);
    expect(results[2]).toEqual({
      ok: false,
      reason: 'BUDGET_EXHAUSTED',
      day: '2026-11-02',
      estimateUsd: 0.1,
      capUsd: 0.25,
      spentUsd: 0.2,
      reservedUsd: 0,
      remainingUsd: 0.05,
    });
    // A smaller call still fits what is left.
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.05 }, call)).toMatchObject({ ok: true });
  });

  it.each([
    ['missing', undefined],
    ['"0" (the sub-feature is off)', '0'],
    ['malformed', '5 dollars'],
    ['negative', '-5'],
  ])('treats a %s cap variable as no budget, without creating the day', async (_what, cap) => {
    const { feature, budget, day } = setup(cap);
    const call = jest.fn(async () => ({ value: 1, costUsd: 0 }));
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, call)).toMatchObject({ ok: false, reason: 'BUDGET_EXHAUSTED', capUsd: 0 });
    expect(call).not.toHaveBeenCalled();
    expect(await day()).toBeUndefined();
  });

  it('reads a custom cap variable, as the plan’s llm.dailyCapVariable names it', async () => {
    const feature = `feat-${++n}`;
    const budget = createLlmBudget({
      env: { [LLM_BUDGET.tableNameEnv]: table.tableName, LLM_PARSING_DAILY_CAP_USD: '0.5' },
      capVariables: { [subFeatureKey(feature, SUB)]: 'LLM_PARSING_DAILY_CAP_USD' },
      client: table.client,
      clock: new ManualClock(),
      emitMetric: () => undefined,
    });
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.5 }, async () => ({ value: 1, costUsd: 0.5 }))).toMatchObject({ ok: true });
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, async () => ({ value: 1, costUsd: 0 }))).toMatchObject({ ok: false });
  });

  it('reads the cap variable the feature’s manifest names, so the plan’s llm.dailyCapVariable needs no repeating', async () => {
    const feature = `feat-${++n}`;
    const manifest = encodeManifest({
      feature,
      names: resolveFlagNames(feature),
      subFeatures: { [SUB]: { names: resolveFlagNames(subFeatureKey(feature, SUB)), dailyCapVariable: 'LLM_PARSING_DAILY_CAP_USD' } },
    });
    const budget = createLlmBudget({
      env: { [LLM_BUDGET.tableNameEnv]: table.tableName, [manifestVariable(feature)]: manifest, LLM_PARSING_DAILY_CAP_USD: '0.5' },
      client: table.client,
      clock: new ManualClock(),
      emitMetric: () => undefined,
    });
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.5 }, async () => ({ value: 1, costUsd: 0.5 }))).toMatchObject({ ok: true });
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, async () => ({ value: 1, costUsd: 0 }))).toMatchObject({
      ok: false,
      reason: 'BUDGET_EXHAUSTED',
      capUsd: 0.5,
    });
  });

  it('returns BUDGET_UNAVAILABLE, without calling, when the budget cannot be reached', async () => {
    const denied = Object.assign(new Error('not authorized to perform dynamodb:UpdateItem'), { name: 'AccessDeniedException' });
    const { feature, budget, warnings } = setup('5', { client: { send: async () => Promise.reject(denied) } });
    const call = jest.fn(async () => ({ value: 1, costUsd: 0 }));
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, call)).toEqual({
      ok: false,
      reason: 'BUDGET_UNAVAILABLE',
      day: '2026-11-02',
      estimateUsd: 0.01,
      error: 'AccessDeniedException: not authorized to perform dynamodb:UpdateItem',
    });
    expect(call).not.toHaveBeenCalled();
    expect(warnings).toHaveLength(1);
  });
});

describe('withLlmBudget: abandoned reservations expire', () => {
  it('a crashed call’s reservation stops counting after the TTL; if the call was only slow, it settles late', async () => {
    const clock = new ManualClock();
    const { feature, budget, day } = setup('0.1', { clock, reservationTtlMs: 60_000 });
    const slow = deferred<{ value: string; costUsd: number }>();
    const stuck = budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, () => slow.promise);
    await waitFor(async () => ((await day())?.reservations.length ?? 0) === 1);

    const call = jest.fn(async () => ({ value: 'second', costUsd: 0.05 }));
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, call)).toMatchObject({ ok: false, reason: 'BUDGET_EXHAUSTED', reservedUsd: 0.1 });
    clock.advance(59_000);
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, call)).toMatchObject({ ok: false });
    expect(call).not.toHaveBeenCalled();

    clock.advance(1_000);
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, call)).toMatchObject({ ok: true, costUsd: 0.05 });
    expect((await day())!).toMatchObject({ expiredReclaimed: 1, spentMicros: 50_000, reservedMicros: 0 });

    slow.resolve({ value: 'first', costUsd: 0.08 });
    expect(await stuck).toMatchObject({ ok: true, value: 'first', settlement: 'late' });
    const after = (await day())!;
    // The late call's cost counts; its reservation is not given back a second time.
    expect(after).toMatchObject({ spentMicros: 130_000, reservedMicros: 0, remainingMicros: -30_000, lateSettles: 1, calls: 2 });
    expectConsistent(after);
  });

  it('defaults the TTL to Lambda’s longest timeout, 15 minutes', async () => {
    const { feature, budget, day } = setup('1');
    const hanging = deferred<{ value: number; costUsd: number }>();
    const pending = budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.2 }, () => hanging.promise);
    await waitFor(async () => ((await day())?.reservations.length ?? 0) === 1);
    const [reservation] = (await day())!.reservations;
    expect(reservation!.expiresAt - reservation!.reservedAt).toBe(15 * 60 * 1000);
    hanging.resolve({ value: 1, costUsd: 0 });
    await pending;
  });
});

describe('withLlmBudget: the day is UTC', () => {
  it('starts a fresh budget at midnight UTC; a call reserved before midnight settles on its own day', async () => {
    const clock = new ManualClock(Date.parse('2026-11-02T23:59:58.000Z'));
    const { feature, budget, day } = setup('0.2', { clock });
    const lateNight = deferred<{ value: number; costUsd: number }>();
    const pending = budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, () => lateNight.promise);
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, async () => ({ value: 1, costUsd: 0.1 }))).toMatchObject({ ok: true, day: '2026-11-02' });
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, async () => ({ value: 1, costUsd: 0.1 }))).toMatchObject({
      ok: false,
      reason: 'BUDGET_EXHAUSTED',
    });

    clock.advance(2_000);
    expect(await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.1 }, async () => ({ value: 1, costUsd: 0.1 }))).toMatchObject({ ok: true, day: '2026-11-03' });
    lateNight.resolve({ value: 1, costUsd: 0.07 });
    expect(await pending).toMatchObject({ ok: true, day: '2026-11-02', settlement: 'settled' });
    expect(await day('2026-11-02')).toMatchObject({ spentMicros: 170_000, calls: 2 });
    expect(await day('2026-11-03')).toMatchObject({ spentMicros: 100_000, calls: 1 });
  });
});

describe('withLlmBudget under concurrency', () => {
  it('200 concurrent reservations against a $0.50 cap: exactly 50 run, spend and live reservations never pass the cap', async () => {
    const { feature, budget, day } = setup('0.5');
    const gate = deferred();
    let refused = 0;
    const calls = Array.from({ length: 200 }, (_, i) =>
      budget
        .withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, async () => {
          await gate.promise;
          return { value: i, costUsd: (0.01 * ((i % 10) + 1)) / 10 };
        })
        .then((result) => {
          if (!result.ok) refused++;
          return result;
        }),
    );
    // Every call that got through holds its reservation until the gate opens; the others have been refused.
    await waitFor(async () => refused === 150);
    const held = (await day())!;
    expect(held).toMatchObject({ capMicros: 500_000, spentMicros: 0, reservedMicros: 500_000, remainingMicros: 0 });
    gate.resolve();
    const results = await Promise.all(calls);
    expect(results.filter((r) => r.ok)).toHaveLength(50);
    expect(results.filter((r) => !r.ok && r.reason === 'BUDGET_EXHAUSTED')).toHaveLength(150);
    const after = (await day())!;
    expectConsistent(after);
    expect(after.reservations).toEqual([]);
    const overshootMicros = Math.max(0, after.spentMicros - after.capMicros);
    expect(overshootMicros).toBe(0);
  });

  it('200 calls with random durations, reserving and settling at once: spend + reservations stay under the cap throughout', async () => {
    const { feature, budget, day } = setup('0.3');
    let sampling = true;
    let worst = 0;
    let samples = 0;
    const sampler = (async () => {
      while (sampling) {
        const d = await day();
        if (d) {
          expectConsistent(d);
          worst = Math.max(worst, d.spentMicros + d.reservedMicros);
          samples++;
        }
      }
    })();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, async () => {
          await new Promise((resolve) => setTimeout(resolve, (i * 7) % 13));
          return { value: i, costUsd: 0.002 + (i % 5) * 0.002 };
        }),
      ),
    );
    sampling = false;
    await sampler;
    const after = (await day())!;
    expectConsistent(after);
    expect(samples).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(300_000);
    expect(after.spentMicros).toBeLessThanOrEqual(300_000);
    // Refunds of cheap calls let later calls in: more ran than the 30 the estimates alone would allow.
    expect(results.filter((r) => r.ok).length).toBeGreaterThan(30);
  });
});

describe('withLlmBudget: prices and misuse', () => {
  it('refuses a model missing from the price table before reserving or calling', async () => {
    const { feature, budget, day } = setup('1', { prices: PRICES });
    const call = jest.fn(async () => ({ value: 1, usage: { inputTokens: 10, outputTokens: 10 } }));
    const err = await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01, model: 'gpt-5-ultra' }, call).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmPriceMissingError);
    expect(err).toMatchObject({ name: 'LlmPriceMissingError', model: 'gpt-5-ultra', knownModels: ['gpt-4o-mini', 'claude-3-5-haiku'] });
    expect((err as Error).message).toBe(
      'no price for model "gpt-5-ultra" in the LLM price table (known: gpt-4o-mini, claude-3-5-haiku); add it to createLlmBudget({ prices }) or report costUsd',
    );
    expect(call).not.toHaveBeenCalled();
    expect(await day()).toBeUndefined();
  });

  it('a call that reports tokens of an unpriced model: counts the estimate, then throws LlmPriceMissingError', async () => {
    const { feature, budget, day, metrics } = setup('1', { prices: PRICES });
    const err = await budget
      .withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.02 }, async () => ({ value: 1, usage: { inputTokens: 10, outputTokens: 10 }, model: 'mystery-model' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LlmPriceMissingError);
    expect((await day())!).toMatchObject({ spentMicros: 20_000, reservedMicros: 0, calls: 1 });
    expect(JSON.parse(metrics[0]!)).toMatchObject({ [METRICS.llmSpendUsd]: 0.02 });
  });

  it('without any price table, tokens cannot be priced', () => {
    expect(() => costUsdOf({}, 'gpt-4o-mini', { inputTokens: 1, outputTokens: 1 })).toThrow(LlmPriceMissingError);
    expect(() => costUsdOf(PRICES, 'toString', { inputTokens: 1, outputTokens: 1 })).toThrow(LlmPriceMissingError);
  });

  it.each([
    ['a zero estimate', { estimateUsd: 0 }],
    ['a negative estimate', { estimateUsd: -1 }],
    ['an estimate that is not a number', { estimateUsd: Number.NaN }],
    ['no sub-feature', { subFeature: '' }],
  ])('throws LlmBudgetConfigError for %s', async (_what, change) => {
    const { feature, budget } = setup('1');
    await expect(budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01, ...change }, async () => ({ value: 1, costUsd: 0 }))).rejects.toBeInstanceOf(
      LlmBudgetConfigError,
    );
  });

  it('throws LlmBudgetConfigError naming the variable when the table name is not set', async () => {
    const budget = createLlmBudget({ env: {}, client: table.client });
    await expect(budget.withLlmBudget({ feature: 'x', subFeature: SUB, estimateUsd: 0.01 }, async () => ({ value: 1, costUsd: 0 }))).rejects.toThrow(
      /PHASEGATE_BUDGET_TABLE_NAME/,
    );
  });

  it('a call returning neither cost nor usage: its estimate counts and the misuse is thrown', async () => {
    const { feature, budget, day } = setup('1');
    const bad = (async () => ({ value: 1 })) as unknown as () => Promise<{ value: number; costUsd: number }>;
    await expect(budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, bad)).rejects.toBeInstanceOf(LlmBudgetConfigError);
    expect((await day())!.spentMicros).toBe(10_000);
  });
});

describe('withLlmBudget: Embedded Metric Format', () => {
  it('prints each settled call’s dollars as LlmSpendUsd with the Feature and SubFeature dimensions, on stdout', async () => {
    const clock = new ManualClock(Date.parse('2026-11-02T10:00:00.000Z'));
    const feature = `feat-${++n}`;
    const budget = createLlmBudget({
      env: { [LLM_BUDGET.tableNameEnv]: table.tableName, [capVariable(feature)]: '1' },
      client: table.client,
      clock,
    });
    const written: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.05, model: 'gpt-4o-mini' }, async () => ({ value: 1, costUsd: 0.0123 }));
    } finally {
      write.mockRestore();
    }
    const lines = written.join('').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const doc = JSON.parse(lines[0]!);
    expect(doc._aws).toEqual({
      Timestamp: expect.any(Number),
      CloudWatchMetrics: [{ Namespace: 'Phasegate', Dimensions: [['Feature', 'SubFeature']], Metrics: [{ Name: 'LlmSpendUsd', Unit: 'None' }] }],
    });
    expect(doc._aws.Timestamp).toBeGreaterThanOrEqual(Date.parse('2026-11-02T10:00:00.000Z'));
    expect(doc).toMatchObject({ Feature: feature, SubFeature: SUB, LlmSpendUsd: 0.0123, model: 'gpt-4o-mini', day: '2026-11-02' });
    // Every dimension and metric the document declares is a top-level member, as EMF requires.
    for (const name of [...doc._aws.CloudWatchMetrics[0].Dimensions[0], ...doc._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)]) {
      expect(doc).toHaveProperty([name]);
    }
  });

  it('counts each refused call as LlmBudgetExhausted', async () => {
    const { feature, budget, metrics } = setup('0');
    await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, async () => ({ value: 1, costUsd: 0 }));
    expect(metrics.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({
        _aws: expect.objectContaining({
          CloudWatchMetrics: [{ Namespace: 'Phasegate', Dimensions: [['Feature', 'SubFeature']], Metrics: [{ Name: 'LlmBudgetExhausted', Unit: 'Count' }] }],
        }),
        Feature: feature,
        SubFeature: SUB,
        LlmBudgetExhausted: 1,
      }),
    ]);
  });

  it('emits no spend for a call that threw', async () => {
    const { feature, budget, metrics } = setup('1');
    await budget.withLlmBudget({ feature, subFeature: SUB, estimateUsd: 0.01 }, async () => Promise.reject(new Error('x'))).catch(() => undefined);
    expect(metrics).toEqual([]);
  });
});

/** Polls until `check` holds (at most 5 s). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
