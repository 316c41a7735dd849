import { offFlagValues, phaseFlagValues } from '../../lambdas/core/flags/flags';
import { featureAlarmSpecs, phaseGateMetrics } from '../../lambdas/core/gates/gate-metrics';
import { evaluateMetric } from '../../lambdas/core/gates/gates';
import { holdPolicy } from '../../lambdas/core/rollout/hold';
import { planIssueMessage } from '../../lambdas/core/plan/messages';
import { loadPlans, variableClashes } from '../../lambdas/core/plan/load';
import { PlanObjectSchema, type PlanInput } from '../../lambdas/core/plan/schema';
import { parsePlan, validatePlan } from '../../lambdas/core/plan/validate';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small valid plan; `extra` replaces top-level fields. */
function planInput(extra: Partial<PlanInput> = {}): PlanInput {
  return {
    feature: 'lang',
    targets: ['lang-api'],
    phases: [
      { name: 'one', roles: ['admin'], bake: 'PT1H' },
      { name: 'two', roles: ['all'], bake: 'PT1H' },
    ],
    ...extra,
  };
}

const problems = (raw: unknown, stage?: string): string[] => {
  const r = validatePlan(raw, { stage });
  return r.ok ? [] : r.problems;
};
const at = '2026-01-01T12:00:00.000Z';

describe('a. team-named approver roles', () => {
  it('accepts a declared team role for approvers, Discord roles and CLI principals, per stage too', () => {
    const plan = parsePlan(
      planInput({
        roles: ['product-owner'],
        phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', approval: { approvers: ['product-owner'] } }],
        discord: { roles: { '11111111111111111': ['product-owner'] } },
        principals: { 'arn:aws:sts::*:assumed-role/Product/*': ['product-owner'] },
        stages: { prod: { discord: { roles: { '22222222222222222': ['product-owner', 'admin'] } } } },
      }),
      { stage: 'prod' },
    );
    expect(plan.phases[0]!.approval.approvers).toEqual(['product-owner']);
    expect(plan.discord.roles['22222222222222222']).toEqual(['product-owner', 'admin']);
  });

  it('keeps admin, pm, developer and on-call working with no declaration', () => {
    expect(problems(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', approval: { approvers: ['pm', 'admin', 'developer', 'on-call'] } }] }))).toEqual([]);
  });

  it('refuses a role that is neither built in nor declared, wherever it is named, with its path', () => {
    expect(
      problems(
        planInput({
          phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', approval: { approvers: ['product-ower'] } }],
          principals: { 'local:alice': ['deployment-lead'] },
          stages: { prod: { approvers: ['qa-lead'] } },
        }),
      ),
    ).toEqual([
      'phases[0].approval.approvers[0]: no role "product-ower" (built in: admin, pm, developer, on-call; declared in roles: none)',
      'principals["local:alice"][0]: no role "deployment-lead" (built in: admin, pm, developer, on-call; declared in roles: none)',
      'stages.prod.approvers[0]: no role "qa-lead" (built in: admin, pm, developer, on-call; declared in roles: none)',
    ]);
  });

  it('refuses a badly formed role name and a built-in role declared again', () => {
    expect(problems(planInput({ roles: ['Product Owner', 'pm'] }))).toEqual([
      'roles[0]: expected a role name (lowercase a-z, 0-9, -, e.g. product-owner), got "Product Owner"',
      'roles[1]: "pm" is built in; declare only the team\'s own roles',
    ]);
  });
});

describe('b. warning bands', () => {
  const secondary = (band: Record<string, number>) =>
    phaseGateMetrics(
      parsePlan(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', gates: { metrics: [{ name: 'cache-hit', namespace: 'App', metric: 'CacheHitRate', ...band }] } }] })),
      0,
    )[0]!;

  it('warns past the warning threshold and neither holds nor rolls back when there is no rollback band', () => {
    const metric = secondary({ proceedAbove: 0.4, warnBelow: 0.3 });
    expect(metric.band).toMatchObject({ direction: 'higher-is-better', proceed: 0.4, warn: 0.3 });
    expect(metric.band.rollback).toBeUndefined();
    const low = evaluateMetric(metric, { value: 0.2 }, { windowEnd: at });
    expect(low).toMatchObject({ decision: 'PROCEED', warning: 'cache-hit 0.2 is below 0.3: a warning, the gate does not hold for it' });
    expect(evaluateMetric(metric, { value: 0.35 }, { windowEnd: at })).toMatchObject({ decision: 'PROCEED', reason: 'cache-hit 0.35: proceed, watched only (target above 0.4)' });
    expect(evaluateMetric(metric, { value: 0.5 }, { windowEnd: at }).warning).toBeUndefined();
  });

  it('warns between proceed and rollback while the bands decide as before', () => {
    const metric = secondary({ proceedBelow: 0.8, warnAbove: 0.9, rollbackAbove: 0.95 });
    expect(evaluateMetric(metric, { value: 0.92 }, { windowEnd: at })).toMatchObject({ decision: 'HOLD', warning: expect.stringContaining('above 0.9') });
    expect(evaluateMetric(metric, { value: 0.97 }, { windowEnd: at }).decision).toBe('ROLLBACK');
  });

  it('creates no rollback alarm for a metric that is only watched', () => {
    const plan = parsePlan(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', gates: { metrics: [{ name: 'cache-hit', namespace: 'App', metric: 'CacheHitRate', proceedAbove: 0.4, warnBelow: 0.3 }] } }] }));
    expect(featureAlarmSpecs(plan, 'dev')).toEqual([]);
  });

  it('refuses a warning threshold on the wrong side', () => {
    expect(
      problems(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', gates: { metrics: [{ name: 'mem', namespace: 'App', metric: 'Mem', proceedBelow: 0.8, warnAbove: 0.7 }] } }] })),
    ).toEqual(['phases[0].gates.metrics[0].warnAbove: must not be below proceedBelow (0.7 < 0.8): a proceeding value would warn (metric mem)']);
  });
});

describe('c. missing data per metric', () => {
  const p1 = (missingData?: 'zero' | 'hold') =>
    parsePlan(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', gates: { metrics: [{ name: 'p1-errors', namespace: 'App', metric: 'P1Errors', statistic: 'Sum', proceedBelow: 0, rollbackAbove: 0, ...(missingData ? { missingData } : {}) }] } }] }));

  it('reads no data as zero when the metric says so, for the gate and its alarm alike', () => {
    const plan = p1('zero');
    const metric = phaseGateMetrics(plan, 0)[0]!;
    expect(evaluateMetric(metric, undefined, { windowEnd: at })).toMatchObject({ decision: 'PROCEED', reason: 'p1-errors 0 (no data, read as 0): proceed, at 0' });
    expect(featureAlarmSpecs(plan, 'dev')[0]).toMatchObject({ missingAsZero: true, threshold: 0 });
  });

  it('holds on no data by default', () => {
    expect(evaluateMetric(phaseGateMetrics(p1(), 0)[0]!, undefined, { windowEnd: at }).decision).toBe('HOLD');
  });
});

describe('d. baseline comparisons that roll back at once', () => {
  const plan = parsePlan(
    planInput({
      phases: [
        { name: 'one', roles: ['admin'], bake: 'P3D', gates: { metrics: [{ name: 'cost', namespace: 'App', metric: 'CostPerRequest', proceedBelow: 0.05, rollbackAbove: 0.1, baseline: { value: 0.03, rollbackBeyond: 1.5 } }] } },
      ],
    }),
  );

  it('gets a rollback alarm at the stated baseline times rollbackBeyond, next to the band alarm', () => {
    const specs = featureAlarmSpecs(plan, 'dev');
    expect(specs.map((s) => [s.name, Number(s.threshold.toFixed(6))])).toEqual([
      ['phasegate-dev_lang-cost', 0.1],
      ['phasegate-dev_lang-cost-baseline', 0.045],
    ]);
    expect(specs[1]).toMatchObject({ baseline: { value: 0.03, rollbackBeyond: 1.5 }, phases: ['one'] });
  });

  it('compares with the stated baseline at the gate too', () => {
    const metric = phaseGateMetrics(plan, 0)[0]!;
    expect(evaluateMetric(metric, { value: 0.046 }, { windowEnd: at, baseline: null })).toMatchObject({ decision: 'ROLLBACK', baseline: 0.03 });
  });
});

describe('e. a dark phase', () => {
  const plan = parsePlan(planInput({ phases: [{ name: 'infra', dark: true, bake: 'P7D' }, { name: 'admin', roles: ['admin'], bake: 'P2D' }] }));

  it('writes the off values and needs no roles', () => {
    expect(plan.phases[0]!.roles).toEqual([]);
    expect(phaseFlagValues(plan, 0)).toEqual(offFlagValues(plan));
    expect(phaseFlagValues(plan, 1).LANG_ENABLED).toBe('true');
  });

  it('still asks for approval and may carry gates', () => {
    expect(plan.phases[0]!.approval.required).toBe(true);
  });

  it('refuses a phase with no roles that is not dark', () => {
    expect(problems(planInput({ phases: [{ name: 'one', bake: 'PT1H' }] }))).toEqual([
      'phases[0].roles: required: expected at least one role (admin, pm, developer or all), or "dark": true',
    ]);
  });
});

describe('f. bake ranges', () => {
  it('proceeds after the minimum and holds up to the maximum, then asks', () => {
    const plan = parsePlan(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT48H', bakeMax: 'PT72H' }] }));
    expect(holdPolicy(plan.phases[0]!)).toEqual({ intervalSeconds: 3600, maxSeconds: 24 * 3600 });
  });

  it('refuses a maximum below the minimum, and a hold limit besides a range', () => {
    expect(problems(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'P7D', bakeMax: 'P5D', gates: { hold: { max: 'P1D' } } }] }))).toEqual([
      'phases[0].bakeMax: P5D is shorter than the bake P7D',
      'phases[0].gates.hold.max: a bake range (bake P7D to bakeMax P5D) already says how long the phase may hold; drop one',
    ]);
  });

  it('lets a stage override the range', () => {
    const plan = parsePlan(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'P5D', bakeMax: 'P7D' }], stages: { dev: { phases: { one: { bake: 'PT1H', bakeMax: 'PT2H' } } } } }), { stage: 'dev' });
    expect(holdPolicy(plan.phases[0]!).maxSeconds).toBe(3600);
  });
});

describe('g. scheduled starts (schema)', () => {
  it('accepts a time of day in a named zone on chosen days, and refuses bad ones with their paths', () => {
    expect(problems(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H' }, { name: 'two', roles: ['all'], bake: 'PT1H', start: { time: '09:00', timeZone: 'Europe/Berlin', days: ['fri'] } }] }))).toEqual([]);
    expect(problems(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', start: { time: '9am', timeZone: 'Mars/Olympus', days: ['friday' as 'fri'] } }] }))).toEqual([
      'phases[0].start.time: expected a time of day as HH:MM (00:00-23:59), got "9am"',
      'phases[0].start.timeZone: expected an IANA time zone such as "Europe/Berlin" or "UTC", got "Mars/Olympus"',
      'phases[0].start.days[0]: expected a day of the week (mon, tue, wed, thu, fri, sat, sun), got "friday"',
    ]);
  });
});

describe('h. optional phases (schema)', () => {
  it('refuses an optional first phase, and an optional phase whose phase before needs no approval', () => {
    expect(problems(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', optional: true }] }))).toEqual([
      'phases[0].optional: the first phase cannot be optional: nobody before it can opt in',
    ]);
    expect(
      problems(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', approval: { required: false } }, { name: 'two', roles: ['admin'], bake: 'PT1H', optional: true }] })),
    ).toEqual(['phases[0].approval.required: phase two is optional, so the approval of phase one (where its approver opts in) must be required']);
  });
});

describe('i. triggers for every phase', () => {
  const plan = parsePlan(
    planInput({
      gates: {
        errorRate: { proceedBelow: 0.001, rollbackAbove: 0.01, sustainedFor: 'PT15M' },
        metrics: [{ name: 'db-cpu', namespace: 'AWS/RDS', metric: 'CPUUtilization', proceedBelow: 70, rollbackAbove: 85, sustainedFor: 'PT10M' }],
        alarms: ['security-incident'],
      },
      phases: [
        { name: 'one', roles: ['admin'], bake: 'PT1H' },
        { name: 'two', roles: ['all'], bake: 'PT1H', gates: { errorRate: { proceedBelow: 0.001, rollbackAbove: 0.005 }, alarms: ['p1-open'] } },
      ],
    }),
  );

  it('applies the plan-wide gates to every phase, the phase overriding per field', () => {
    expect(plan.phases[0]!.gates).toMatchObject({ errorRate: { rollbackAbove: 0.01, sustainedFor: 'PT15M' }, alarms: ['security-incident'], metrics: [{ name: 'db-cpu' }] });
    expect(plan.phases[1]!.gates.errorRate).toEqual({ proceedBelow: 0.001, rollbackAbove: 0.005 });
    expect(plan.phases[1]!.gates.alarms).toEqual(['security-incident', 'p1-open']);
    expect(plan.phases[1]!.gates.metrics?.map((m) => m.name)).toEqual(['db-cpu']);
  });

  it('is applied once: the plan the state machine carries validates to itself', () => {
    expect(parsePlan(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
    expect(plan.gates).toBeUndefined();
  });
});

describe('k. rates over a window', () => {
  const plan = parsePlan(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT3H', gates: { throttles: { proceedBelow: 1, rollbackAbove: 5, per: 'PT1H' } } }] }));

  it('scales the bake total to the period: 12 throttles over 3 hours is 4 per hour', () => {
    const metric = phaseGateMetrics(plan, 0)[0]!;
    expect(metric.label).toBe('throttles per 1h');
    const verdict = evaluateMetric(metric, { value: 12 }, { windowEnd: at, windowSeconds: 3 * 3600 });
    expect(verdict).toMatchObject({ decision: 'HOLD', value: 4 });
    expect(evaluateMetric(metric, { value: 18 }, { windowEnd: at, windowSeconds: 3 * 3600 }).decision).toBe('ROLLBACK');
  });

  it('alarms on one period of that length', () => {
    expect(featureAlarmSpecs(plan, 'dev')[0]).toMatchObject({ perSeconds: 3600, threshold: 5 });
  });

  it('refuses a rate on a statistic that is not a count', () => {
    expect(problems(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', gates: { metrics: [{ name: 'lat', namespace: 'App', metric: 'Latency', statistic: 'p95', proceedBelow: 1, rollbackAbove: 2, per: 'PT1H' }] } }] }))).toEqual([
      'phases[0].gates.metrics[0].per: a rate per PT1H needs statistic Sum (a count), got p95 (metric lat)',
    ]);
  });
});

describe('l. a zero target', () => {
  it('proceeds at exactly zero when the proceed threshold is 0, and rolls back on any error above a zero rollback band', () => {
    const plan = parsePlan(planInput({ phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H', gates: { errorRate: { proceedBelow: 0, rollbackAbove: 0.01 } } }] }));
    const metric = phaseGateMetrics(plan, 0)[0]!;
    expect(evaluateMetric(metric, { value: 0 }, { windowEnd: at })).toMatchObject({ decision: 'PROCEED', reason: 'error rate 0 %: proceed, at 0 %' });
    expect(evaluateMetric(metric, { value: 0.001 }, { windowEnd: at }).decision).toBe('HOLD');
  });
});

describe('m. two features writing the same variable on the same function', () => {
  it('are refused when the plans are loaded for synth, naming both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'phasegate-clash-'));
    try {
      writeFileSync(join(dir, 'a.json'), JSON.stringify(planInput({ feature: 'alpha', targets: ['shared-fn'], flags: { enabled: 'SHARED_ENABLED' } })));
      writeFileSync(join(dir, 'b.json'), JSON.stringify(planInput({ feature: 'beta', targets: ['shared-fn:live'], flags: { enabled: 'SHARED_ENABLED' } })));
      expect(() => loadPlans(dir, 'dev')).toThrow(
        'targets: feature beta writes SHARED_ENABLED on shared-fn, which feature alpha (a.json) writes too: give one of them other flag names',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts the same variable names on different functions', () => {
    const a = { file: 'a.json', plan: parsePlan(planInput({ feature: 'alpha', targets: ['fn-a'], flags: { enabled: 'SHARED_ENABLED' } })) };
    const b = { file: 'b.json', plan: parsePlan(planInput({ feature: 'beta', targets: ['fn-b'], flags: { enabled: 'SHARED_ENABLED' } })) };
    expect(variableClashes([a, b]).size).toBe(0);
  });
});

describe("validator messages in Phasegate's words", () => {
  it.each([
    ['a missing field', { targets: ['x'], phases: [] }, 'feature: required: expected text'],
    ['a wrong type', planInput({ targets: 'lang-api' as unknown as string[] }), 'targets: expected a list, got "lang-api"'],
    ['an unknown field', planInput({ colour: 'blue' } as Partial<PlanInput>), '(plan): unknown field "colour" (fields here: $schema, feature'],
    ['an empty list', planInput({ phases: [] }), 'phases: expected at least one phase'],
    ['a value not in a set', planInput({ rollback: { to: 'previous' as 'off' } }), 'rollback.to: expected one of "off", "previous-phase", got "previous"'],
    ['a union neither form fits', planInput({ flags: { enabled: 5 as unknown as string } }), 'flags.enabled: expected text or an object, got 5'],
  ])('%s', (_, raw, message) => {
    const found = problems(raw);
    expect(found.some((p) => p.startsWith(message))).toBe(true);
    for (const p of found) expect(p).not.toMatch(/Invalid input|Unrecognized key|Too (big|small)|Invalid option/);
  });

  it('maps every issue code it knows to a sentence, never to zod text', () => {
    const r = PlanObjectSchema.safeParse({ feature: 1, targets: [], phases: [{ name: 'x', bake: 'PT1H', percent: 'all', extra: true }] }, { error: planIssueMessage });
    expect(r.success).toBe(false);
    for (const issue of r.error!.issues) expect(issue.message).not.toMatch(/^Invalid|Unrecognized|Too (big|small)/);
  });
});
