import { formatLlmSpendReport, runLlmSpendScenario } from '../../local/scenarios/llm-spend';
import { METRICS } from '../../lambdas/core/contract';
import { llmPlan, startBudgetTable, type LocalBudgetTable } from '../support/local-budget';

let table: LocalBudgetTable;
let n = 0;

beforeAll(async () => {
  table = await startBudgetTable();
});
afterAll(async () => table.stop());

const start = new Date('2026-11-02T00:00:00.000Z');

describe('runLlmSpendScenario', () => {
  it('$2/h in $0.02 calls against a $5 cap: calls run until 02:30, then fall back; spend stops at the cap', async () => {
    const plan = llmPlan(`spend-${++n}`, { dailyCapUsd: 5, hardLimitUsd: 10 });
    const metrics: string[] = [];
    const report = await runLlmSpendScenario({ endpoint: table.dynamo.endpoint, tableName: table.tableName, plan, usdPerHour: 2, callUsd: 0.02, hours: 3, start, onMetric: (l) => metrics.push(l) });
    expect(report).toMatchObject({
      capUsd: 5,
      hardLimitUsd: 10,
      calls: { attempted: 300, succeeded: 250, fellBack: 50, unavailable: 0, skipped: 0 },
      days: [{ day: '2026-11-02', spentUsd: 5, capUsd: 5 }],
      spentUsd: 5,
      overshootUsd: 0,
      capReachedAt: '2026-11-02T02:30:00.000Z',
      hardLimitPassedAt: null,
    });
    expect(report.hourly.map((h) => [h.succeeded, h.fellBack, h.daySpentUsd])).toEqual([
      [100, 0, 2],
      [100, 0, 4],
      [50, 50, 5],
    ]);
    // The guard's own metric lines: one spend line per call that ran, one exhaustion line per fallback.
    const parsed = metrics.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.filter((m) => METRICS.llmSpendUsd in m)).toHaveLength(250);
    expect(parsed.filter((m) => METRICS.llmBudgetExhausted in m)).toHaveLength(50);
    expect(formatLlmSpendReport(report)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^LLM spend of spend-\d+\.llm-parsing: \$2\/h in calls of \$0\.02/),
        'cap reached at 2026-11-02 02:30Z: 50 of 300 call(s) fell back to the non-LLM path',
        'overshoot past the cap: $0',
        'spend never passed the hard limit of $10',
      ]),
    );
  });

  it('a cap variable above the hard limit: the scenario says when spend passed it, and a rollback hook stops the calls', async () => {
    const plan = llmPlan(`spend-${++n}`, { dailyCapUsd: 5, hardLimitUsd: 10 });
    let llmOn = true;
    const report = await runLlmSpendScenario({
      endpoint: table.dynamo.endpoint,
      tableName: table.tableName,
      plan,
      usdPerHour: 4,
      hours: 4,
      start,
      callUsd: 0.05,
      capUsd: 50,
      llmEnabled: () => llmOn,
      onSpend: (s) => {
        if (s.daySpentUsd > s.hardLimitUsd) llmOn = false; // what the cost alarm's LLM-only rollback does
      },
    });
    expect(report.hardLimitPassedAt).toBe('2026-11-02T02:30:00.000Z');
    expect(report).toMatchObject({ calls: { succeeded: 201, fellBack: 0, skipped: 119 }, spentUsd: 10.05, capUsd: 50 });
    expect(formatLlmSpendReport(report)).toContain(
      'spend passed the hard limit of $10 at 2026-11-02 02:30Z: the daily-cost alarm fires and rolls back the LLM flag',
    );
  });

  it('refuses a plan without an LLM sub-feature and a rate that is not positive', async () => {
    const plan = llmPlan(`spend-${++n}`);
    await expect(
      runLlmSpendScenario({ endpoint: table.dynamo.endpoint, tableName: table.tableName, plan: { ...plan, subFeatures: [] }, usdPerHour: 0 }),
    ).rejects.toThrow(/usdPerHour: expected a positive rate, got 0[\s\S]*has no LLM sub-feature/);
  });
});
