import { PlanInvalidError } from '../../lambdas/core/errors';
import { parsePlan, resolvePlanForStage, validatePlan } from '../../lambdas/core/plan/validate';
import { EXAMPLE_PLANS, examplePlan, rawPlan, type ExamplePlanName } from './example-plans';

const STAGES = ['dev', 'staging', 'prod'] as const;

/** The problems validatePlan reports for a plan, or [] when it is valid. */
function problemsOf(raw: unknown, stage?: string): string[] {
  const result = validatePlan(raw, { stage });
  return result.ok ? [] : result.problems;
}

/** Asserts the problems are exactly these, each given as a prefix, in any order. */
function expectExactly(problems: readonly string[], prefixes: readonly string[]): void {
  const unmatched = [...problems];
  const missing: string[] = [];
  for (const prefix of prefixes) {
    const i = unmatched.findIndex((p) => p.startsWith(prefix));
    if (i === -1) missing.push(prefix);
    else unmatched.splice(i, 1);
  }
  expect({ missing, unexpected: unmatched }).toEqual({ missing: [], unexpected: [] });
}

/** `mutate` applied to a fresh copy of an example plan. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function broken(mutate: (plan: any) => void, name: ExamplePlanName = 'ux-update'): unknown {
  const raw = rawPlan(name);
  mutate(raw);
  return raw;
}

describe('the example plans', () => {
  it.each(EXAMPLE_PLANS.flatMap((name) => [undefined, ...STAGES].map((stage) => [name, stage ?? '(no stage)'] as const)))(
    'rollouts/%s.json is valid for %s',
    (name, stage) => {
      expect(problemsOf(rawPlan(name), stage === '(no stage)' ? undefined : stage)).toEqual([]);
    },
  );

  it.each(EXAMPLE_PLANS.flatMap((name) => [undefined, ...STAGES].map((stage) => [name, stage] as const)))(
    '%s resolved for %s validates again unchanged',
    (name, stage) => {
      const plan = examplePlan(name, stage);
      const again = validatePlan(plan);
      expect(again).toEqual({ ok: true, plan });
      expect(validatePlan(plan, { stage: stage ?? 'dev' })).toEqual({ ok: true, plan: resolvePlanForStage(plan, stage ?? 'dev') });
    },
  );

  it('fills in the defaults', () => {
    const plan = examplePlan('cohort-analyzer');
    expect(plan.subFeatures).toEqual([]);
    expect(plan.flags.enabled).toBe('ULTRA_FAST_ANALYZER_ENABLED');
    expect(plan.phases[0]!.approval).toEqual({ required: false, approvers: ['pm'], starterMayApprove: true });
    expect(plan.phases[0]!.gates.alarms).toEqual([]);
    const ux = examplePlan('ux-update');
    expect(ux.phases.map((p) => p.percent)).toEqual([100, 100, 100, 100, 100]);
    expect(ux.phases[0]!.subFeatures).toEqual({});
  });
});

describe('stage overrides', () => {
  const bakes = (name: ExamplePlanName, stage: string): string[] => examplePlan(name, stage).phases.map((p) => p.bake);
  const approvers = (name: ExamplePlanName, stage: string): string[][] =>
    examplePlan(name, stage).phases.map((p) => p.approval.approvers);

  it.each([
    ['ux-update', 'dev', ['valine-orchestrator-discord-dev'], ['PT10M', 'PT10M', 'PT10M', 'PT10M', 'PT10M']],
    ['ux-update', 'staging', ['valine-orchestrator-discord-staging'], ['PT4H', 'PT12H', 'PT12H', 'PT12H', 'P1D']],
    ['ux-update', 'prod', ['valine-orchestrator-discord-prod'], ['PT48H', 'P5D', 'P5D', 'PT48H', 'P7D']],
    ['cohort-analyzer', 'dev', ['cohort-api-dev', 'cohort-worker-dev'], ['PT5M', 'PT5M', 'PT5M']],
    ['cohort-analyzer', 'staging', ['cohort-api-staging', 'cohort-worker-staging'], ['PT2H', 'PT4H', 'P7D']],
    ['cohort-analyzer', 'prod', ['cohort-api-prod', 'cohort-worker-prod'], ['PT2H', 'PT4H', 'P7D']],
  ] as const)('%s on %s: targets %j, bakes %j', (name, stage, targets, expectedBakes) => {
    const plan = examplePlan(name, stage);
    expect(plan.targets).toEqual(targets);
    expect(bakes(name, stage)).toEqual(expectedBakes);
    expect(plan.stages).toEqual({});
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'])(
    'treats stage %j, which no plan overrides, as a stage without overrides',
    (stage) => {
      const result = validatePlan(rawPlan('ux-update'), { stage });
      expect(result).toEqual({ ok: true, plan: { ...examplePlan('ux-update'), stages: {} } });
    },
  );

  it('replaces every phase’s approvers where the stage says so, and only there', () => {
    expect(approvers('ux-update', 'dev')).toEqual(Array(5).fill(['pm', 'admin']));
    expect(approvers('ux-update', 'staging')).toEqual(Array(5).fill(['pm']));
    expect(approvers('ux-update', 'prod')).toEqual(Array(5).fill(['pm']));
    expect(approvers('cohort-analyzer', 'dev')).toEqual([['pm'], ['pm', 'admin'], ['pm', 'admin']]);
  });

  it('keeps what a stage does not override: roles, percent, gates, approval requirement, sub-features', () => {
    const base = examplePlan('ux-update');
    const dev = examplePlan('ux-update', 'dev');
    dev.phases.forEach((phase, i) => {
      const { bake: _b, approval, ...rest } = phase;
      const { bake: _bb, approval: baseApproval, ...baseRest } = base.phases[i]!;
      expect(rest).toEqual(baseRest);
      expect(approval.required).toBe(baseApproval.required);
    });
    expect(dev.flags).toEqual(base.flags);
    expect(dev.subFeatures).toEqual(base.subFeatures);
  });

  it('applies a phase’s percent, approval and gate overrides', () => {
    const raw = broken((p) => {
      p.stages.dev.phases.admin = {
        percent: 25,
        approval: { required: false, timeout: 'PT1H' },
        gates: { errorRate: { proceedBelow: 0.1, rollbackAbove: 0.2 } },
      };
    });
    const admin = examplePlanFrom(raw, 'dev').phases[0]!;
    expect(admin.percent).toBe(25);
    expect(admin.approval).toEqual({ required: false, approvers: ['pm', 'admin'], timeout: 'PT1H', starterMayApprove: true });
    expect(admin.gates.errorRate).toEqual({ proceedBelow: 0.1, rollbackAbove: 0.2 });
    expect(admin.gates.p95Ms).toEqual({ proceedBelow: 5000, rollbackAbove: 10000 });
  });

  it('a gate override that does not mention alarms keeps the phase’s alarms', () => {
    // Guards against the stage's partial gates schema filling in `alarms: []` and wiping the phase's alarms.
    const raw = broken((p) => {
      p.phases[0].gates.alarms = ['orders-api-5xx'];
      p.stages.prod.phases = { admin: { gates: { errorRate: { proceedBelow: 0.001, rollbackAbove: 0.002 } } } };
    });
    const admin = examplePlanFrom(raw, 'prod').phases[0]!;
    expect(admin.gates.errorRate).toEqual({ proceedBelow: 0.001, rollbackAbove: 0.002 });
    expect(admin.gates.alarms).toEqual(['orders-api-5xx']);
  });

  it('a stage override that sets alarms replaces them', () => {
    const raw = broken((p) => {
      p.phases[0].gates.alarms = ['orders-api-5xx'];
      p.stages.prod.phases = { admin: { gates: { alarms: ['orders-api-prod-5xx'] } } };
    });
    expect(examplePlanFrom(raw, 'prod').phases[0]!.gates.alarms).toEqual(['orders-api-prod-5xx']);
  });

  it('a stage with no override block gets the plan as written', () => {
    const qa = examplePlanFrom(rawPlan('ux-update'), 'qa');
    const { stages: _stages, ...base } = examplePlan('ux-update');
    expect(qa).toEqual({ ...base, stages: {} });
  });

  it('checks the resolved plan, and says which stage broke it', () => {
    const raw = broken((p) => {
      p.stages.dev.phases.admin = { approval: { approvers: [] } };
    });
    expect(problemsOf(raw)).toEqual([]);
    expectExactly(problemsOf(raw, 'dev'), [
      'phases[0].approval.approvers: a required approval needs at least one approver role (after stages.dev overrides)',
    ]);
    expect(problemsOf(raw, 'staging')).toEqual([]);
  });
});

/** validatePlan for a stage, failing the test when invalid. */
function examplePlanFrom(raw: unknown, stage: string): ReturnType<typeof examplePlan> {
  const result = validatePlan(raw, { stage });
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.plan;
}

describe('invalid plans: every problem, with its field path', () => {
  const ARN = 'arn:aws:lambda:us-east-1:123456789012:function';
  // [what, how to break the plan, the problems expected (prefixes), plan to break]
  const cases: [string, (p: any) => void, string[], ExamplePlanName?][] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
    ['a bake in words', (p) => (p.phases[2].bake = '2 days'), ['phases[2].bake: expected ISO 8601 duration, got "2 days"']],
    ['a bake in years', (p) => (p.phases[0].bake = 'P1Y'), ['phases[0].bake: expected ISO 8601 duration, got "P1Y"']],
    ['a bake as a number', (p) => (p.phases[0].bake = 48), ['phases[0].bake: expected ISO 8601 duration, got 48']],
    ['a missing bake', (p) => delete p.phases[1].bake, ['phases[1].bake: expected ISO 8601 duration, got nothing']],
    ['an approval timeout in words', (p) => (p.phases[0].approval.timeout = '1 week'), ['phases[0].approval.timeout: expected ISO 8601 duration, got "1 week"']],
    ['a stage bake in words', (p) => (p.stages.dev.phases.admin.bake = '10 minutes'), ['stages.dev.phases.admin.bake: expected ISO 8601 duration, got "10 minutes"']],
    ['an unknown top-level key', (p) => (p.rolloutPlan = true), ['(plan): unknown field "rolloutPlan" (fields here: $schema, feature, description']],
    ['an unknown gate', (p) => (p.phases[0].gates.errorRatio = { proceedBelow: 0, rollbackAbove: 1 }), ['phases[0].gates: unknown field "errorRatio" (fields here: alarms, errorRate, ']],
    ['an unknown flag field', (p) => (p.flags.kill = 'X_KILL'), ['flags: unknown field "kill" (fields here: enabled, roles, percent)']],
    ['missing targets', (p) => delete p.targets, ['targets: ']],
    ['no targets', (p) => (p.targets = []), ['targets: expected at least one target function']],
    [
      'bad target names and ARNs',
      (p) => (p.targets = ['ok-function', 'bad name!', `${ARN}:x`.replace('123456789012', '12345'), 'x'.repeat(65)]),
      [
        'targets[1]: expected a Lambda function name or ARN (optionally with an alias, e.g. my-fn:live), got "bad name!"',
        'targets[2]: expected a Lambda function name or ARN (optionally with an alias, e.g. my-fn:live), got "arn:aws:lambda:us-east-1:12345:function:x"',
        'targets[3]: expected a Lambda function name or ARN',
      ],
    ],
    [
      'qualified targets: a version or $LATEST (an alias is accepted)',
      (p) => (p.targets = [`${ARN}:orders`, `${ARN}:orders:7`, `${ARN}:orders:live`, `${ARN}:orders:$LATEST`, 'orders:12', 'orders:live', 'orders:$LATEST']),
      [
        `targets[1]: "${ARN}:orders:7" names version 7: a published version's environment can never change; name the alias that is invoked instead (e.g. :live)`,
        `targets[3]: "${ARN}:orders:$LATEST" names $LATEST: leave the qualifier out (a bare name is $LATEST)`,
        `targets[4]: "orders:12" names version 12: a published version's environment can never change; name the alias that is invoked instead (e.g. :live)`,
        `targets[6]: "orders:$LATEST" names $LATEST: leave the qualifier out (a bare name is $LATEST)`,
      ],
    ],
    ['a target listed twice', (p) => p.targets.push(p.targets[0]), ['targets: "valine-orchestrator-discord-dev" is listed twice']],
    [
      'duplicate phase names',
      (p) => {
        p.stages = {};
        p.phases[1].name = 'admin';
        p.phases[4].name = 'admin';
      },
      ['phases[1].name: "admin" is used by an earlier phase', 'phases[4].name: "admin" is used by an earlier phase'],
    ],
    [
      'a bad phase name',
      (p) => {
        p.stages = {};
        p.phases[0].name = 'Admin Phase';
      },
      ['phases[0].name: expected a short lowercase name (a-z, 0-9, -), got "Admin Phase"'],
    ],
    ['an unknown sub-feature in a phase', (p) => (p.phases[1].subFeatures = { ghost: {} }), ['phases[1].subFeatures.ghost: no sub-feature "ghost" (known: llm-parsing)']],
    ['a sub-feature in a plan without any', (p) => (p.phases[0].subFeatures = { ghost: {} }), ['phases[0].subFeatures.ghost: no sub-feature "ghost" (known: none)'], 'cohort-analyzer'],
    ['a duplicate sub-feature id', (p) => p.subFeatures.push({ id: 'llm-parsing' }), ['subFeatures[1].id: "llm-parsing" is used by an earlier sub-feature']],
    ['a stage override naming an unknown phase', (p) => (p.stages.prod.phases = { nope: { bake: 'PT1H' } }), ['stages.prod.phases.nope: no phase "nope" (phases: admin, pm, developer, llm-canary, ga)']],
    ['a sub-feature reusing the feature’s roles variable', (p) => (p.subFeatures[0].flags.roles = 'UX_UPDATE_ROLES'), ['subFeatures[0].flags.roles: variable UX_UPDATE_ROLES is already used by flags.roles']],
    ['a sub-feature reusing the feature’s kill switch', (p) => (p.subFeatures[0].flags.enabled = 'DISABLE_UX_UPDATES'), ['subFeatures[0].flags.enabled: variable DISABLE_UX_UPDATES is already used by flags.enabled']],
    ['one variable for two fields', (p) => (p.flags.percent = 'UX_UPDATE_ROLES'), ['flags.percent: variable UX_UPDATE_ROLES is already used by flags.roles']],
    ['a reserved variable as a string switch', (p) => (p.flags.enabled = 'AWS_REGION'), ['flags.enabled: "AWS_REGION" is reserved by AWS Lambda']],
    ['a reserved variable in a kill switch', (p) => (p.flags.enabled = { name: 'AWS_LAMBDA_SOMETHING', inverted: true }), ['flags.enabled.name: "AWS_LAMBDA_SOMETHING" is reserved by AWS Lambda']],
    ['a reserved variable for roles', (p) => (p.subFeatures[0].flags.roles = 'LAMBDA_TASK_ROOT'), ['subFeatures[0].flags.roles: "LAMBDA_TASK_ROOT" is reserved by AWS Lambda']],
    ['a variable name with a hyphen', (p) => (p.flags.percent = 'UX-PERCENT'), ['flags.percent: expected an environment variable name']],
    // Lambda's key pattern is [a-zA-Z]([a-zA-Z0-9_])+: it refuses a leading underscore and one-character names.
    ['a variable name Lambda refuses (leading _)', (p) => (p.flags.percent = '_UX_PERCENT'), ['flags.percent: expected an environment variable name']],
    ['a variable name Lambda refuses (one character)', (p) => (p.flags.roles = 'R'), ['flags.roles: expected an environment variable name']],
    ['"all" with other roles', (p) => (p.phases[4].roles = ['all', 'admin']), ['phases[4].roles: "all" already includes every role']],
    ['"all" with other roles in a sub-feature exposure', (p) => (p.phases[4].subFeatures['llm-parsing'].roles = ['admin', 'all']), ['phases[4].subFeatures.llm-parsing.roles: "all" already includes every role']],
    ['an unknown role', (p) => (p.phases[0].roles = ['admin', 'owner']), ['phases[0].roles[1]: ']],
    ['no roles', (p) => (p.phases[0].roles = []), ['phases[0].roles: required: expected at least one role (admin, pm, developer or all), or "dark": true']],
    ['a band that proceeds above its rollback', (p) => (p.phases[0].gates.errorRate = { proceedBelow: 0.02, rollbackAbove: 0.01 }), ['phases[0].gates.errorRate: proceedBelow must not be above rollbackAbove']],
    ['a negative band', (p) => (p.phases[0].gates.p95Ms = { proceedBelow: -1, rollbackAbove: 10 }), ['phases[0].gates.p95Ms.proceedBelow: ']],
    ['a required approval without approvers', (p) => (p.phases[0].approval = { required: true, approvers: [] }), ['phases[0].approval.approvers: a required approval needs at least one approver role']],
    ['an approval by a role that does not exist', (p) => (p.phases[0].approval.approvers = ['cto']), ['phases[0].approval.approvers[0]: ']],
    ['a stage replacing approvers with none', (p) => (p.stages.dev.approvers = []), ['stages.dev.approvers: ']],
    ['a percent above 100', (p) => (p.phases[0].percent = 101), ['phases[0].percent: expected at most 100, got 101']],
    ['a negative percent', (p) => (p.phases[0].percent = -1), ['phases[0].percent: expected at least 0, got -1']],
    ['a sub-feature percent above 100', (p) => (p.phases[3].subFeatures['llm-parsing'].percent = 150), ['phases[3].subFeatures.llm-parsing.percent: expected at most 100, got 150']],
    ['a stage percent above 100', (p) => (p.stages.dev.phases.admin.percent = 200), ['stages.dev.phases.admin.percent: expected at most 100, got 200']],
    ['a percent as a string', (p) => (p.phases[0].percent = '10'), ['phases[0].percent: ']],
    ['a bad feature id', (p) => (p.feature = 'UX_Update'), ['feature: expected a lowercase feature id (a-z, 0-9, -; 2-40 characters), got "UX_Update"']],
    ['an LLM cap above its hard limit', (p) => (p.subFeatures[0].llm = { dailyCapUsd: 20, hardLimitUsd: 10 }), ['subFeatures[0].llm: dailyCapUsd must not be above hardLimitUsd']],
    [
      'no phases',
      (p) => {
        p.phases = [];
        p.stages = {};
      },
      ['phases: expected at least one phase'],
    ],
    ['an unknown rollback target', (p) => (p.rollback.to = 'last-good'), ['rollback.to: ']],
  ];

  const rows = cases.map(([what, mutate, expected, plan]) => ({ what, mutate, expected, plan }));
  it.each(rows)('$what', ({ mutate, expected, plan }) => {
    const problems = problemsOf(broken(mutate, plan));
    expectExactly(problems, expected);
    for (const problem of problems) expect(problem).toMatch(/^[^\s:]+: \S/);
  });

  it('reports every schema problem at once', () => {
    const raw = broken((p) => {
      p.phases[2].bake = '2 days';
      p.targets = ['bad name!'];
      p.phases[0].percent = 101;
      p.rolloutPlan = true;
      p.flags.roles = 'AWS_REGION';
      p.phases[0].gates.errorRate = { proceedBelow: 0.02, rollbackAbove: 0.01 };
    });
    expectExactly(problemsOf(raw), [
      'phases[2].bake: expected ISO 8601 duration, got "2 days"',
      'targets[0]: expected a Lambda function name or ARN',
      'phases[0].percent: expected at most 100, got 101',
      '(plan): unknown field "rolloutPlan"',
      'flags.roles: "AWS_REGION" is reserved by AWS Lambda',
      'phases[0].gates.errorRate: proceedBelow must not be above rollbackAbove',
    ]);
  });

  it('reports every cross-field problem at once', () => {
    const raw = broken((p) => {
      p.stages = { staging: { phases: { nope: { bake: 'PT1H' } } } };
      p.phases[1].name = 'admin';
      p.phases[2].subFeatures = { ghost: {} };
      p.subFeatures[0].flags.percent = 'UX_UPDATE_PERCENT';
      p.targets.push(p.targets[0]);
    });
    expectExactly(problemsOf(raw), [
      'phases[1].name: "admin" is used by an earlier phase',
      'phases[2].subFeatures.ghost: no sub-feature "ghost"',
      'subFeatures[0].flags.percent: variable UX_UPDATE_PERCENT is already used by flags.percent',
      'stages.staging.phases.nope: no phase "nope"',
      'targets: "valine-orchestrator-discord-dev" is listed twice',
    ]);
  });

  it('reports cross-field problems together with schema problems', () => {
    // One bad bake must not hide a duplicate phase name: the author should see both in one run.
    const raw = broken((p) => {
      p.stages = {};
      p.phases[2].bake = '2 days';
      p.phases[1].name = 'admin';
      p.subFeatures[0].flags.roles = 'UX_UPDATE_ROLES';
    });
    expectExactly(problemsOf(raw), [
      'phases[2].bake: expected ISO 8601 duration, got "2 days"',
      'phases[1].name: "admin" is used by an earlier phase',
      'subFeatures[0].flags.roles: variable UX_UPDATE_ROLES is already used by flags.roles',
    ]);
  });

  it.each([null, undefined, 42, 'plan', [], {}])('refuses %j with problems, not an exception', (raw) => {
    expect(problemsOf(raw).length).toBeGreaterThan(0);
  });
});

describe('parsePlan', () => {
  it('returns the plan with defaults when valid', () => {
    expect(parsePlan(rawPlan('cohort-analyzer'), { stage: 'prod' })).toEqual(examplePlan('cohort-analyzer', 'prod'));
  });

  it('throws PlanInvalidError listing every problem', () => {
    const raw = broken((p) => {
      p.phases[2].bake = '2 days';
      p.phases[0].percent = 101;
    });
    let error: unknown;
    try {
      parsePlan(raw, { source: 'rollouts/ux-update.json' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PlanInvalidError);
    const invalid = error as PlanInvalidError;
    expect(invalid.name).toBe('PhasegatePlanInvalidError');
    expect(invalid.problems).toHaveLength(2);
    expect(invalid.message).toBe(`rollouts/ux-update.json is invalid:\n${invalid.problems.map((p) => `  - ${p}`).join('\n')}`);
    expect(invalid.message).toContain('  - phases[2].bake: expected ISO 8601 duration, got "2 days"');
    expect(invalid.message).toContain('  - phases[0].percent: expected at most 100, got 101');
  });

  it('names "rollout plan" when no source is given', () => {
    expect(() => parsePlan({})).toThrow(/^rollout plan is invalid:\n {2}- /);
  });
});

describe('LLM sub-features always need a person before the money is spent', () => {
  const raw = {
    feature: 'llm-thing',
    targets: ['fn-one'],
    subFeatures: [{ id: 'llm', llm: { dailyCapUsd: 5, hardLimitUsd: 10 } }],
    phases: [
      { name: 'base', roles: ['admin'], bake: 'PT1H', approval: { required: false } },
      { name: 'llm-on', roles: ['admin'], bake: 'PT1H', approval: { required: true }, subFeatures: { llm: {} } },
    ],
  };

  it('refuses a plan whose approval leading into the LLM phase is not required, even when the LLM phase itself is approved', () => {
    const result = validatePlan(raw);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems).toEqual([
      'phases[0].approval.required: phase llm-on turns on the LLM sub-feature "llm", so the approval of phase base that leads into it must be required',
    ]);
  });

  it('accepts it once the phase before requires approval, whatever the LLM phase itself says', () => {
    const approved = { ...raw, phases: [{ ...raw.phases[0], approval: { required: true } }, { ...raw.phases[1], approval: { required: false } }] };
    expect(validatePlan(approved).ok).toBe(true);
  });

  it('accepts an LLM sub-feature in the first phase: starting the rollout (pm or admin) is the decision that leads into it', () => {
    expect(validatePlan({ ...raw, phases: [{ ...raw.phases[1], name: 'first', approval: { required: false } }] }).ok).toBe(true);
  });

  it('refuses a stage override that drops that approval', () => {
    const approved = { ...raw, phases: [{ ...raw.phases[0], approval: { required: true } }, raw.phases[1]] };
    expect(validatePlan(approved).ok).toBe(true);
    const result = validatePlan({ ...approved, stages: { dev: { phases: { base: { approval: { required: false } } } } } }, { stage: 'dev' });
    expect(!result.ok && result.problems[0]).toMatch(/phases\[0\]\.approval\.required: .*must be required \(after stages\.dev overrides\)/);
  });
});

describe('LLM cap variables', () => {
  it('refuses a cap variable that another flag already uses', () => {
    const result = validatePlan({
      feature: 'llm-thing',
      targets: ['fn-one'],
      flags: { roles: 'SHARED_NAME' },
      subFeatures: [{ id: 'llm', llm: { dailyCapUsd: 5, hardLimitUsd: 10, dailyCapVariable: 'SHARED_NAME' } }],
      phases: [{ name: 'base', roles: ['admin'], bake: 'PT1H' }],
    });
    expect(!result.ok && result.problems).toEqual(['subFeatures[0].llm.dailyCapVariable: variable SHARED_NAME is already used by flags.roles']);
  });
});
