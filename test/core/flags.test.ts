import {
  ALL_ROLES,
  envPrefix,
  offFlagValues,
  phaseFlagValues,
  planFlagNames,
  planFlagSets,
  planManifest,
  resolveFlagNames,
  safeFlagValues,
  subFeatureKey,
  subFeatureOffValues,
} from '../../lambdas/core/flags/flags';
import type { Plan } from '../../lambdas/core/plan/schema';
import { parseManifest } from '../../runtime/names';
import { validatePlan } from '../../lambdas/core/plan/validate';
import { examplePlan, rawPlan } from './example-plans';

/** Validate a modified example plan (fails the test when invalid). */
function planFrom(raw: unknown): Plan {
  const result = validatePlan(raw);
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.plan;
}

describe('default variable names', () => {
  it.each([
    ['ux-update', 'UX_UPDATE'],
    ['cohort-analyzer', 'COHORT_ANALYZER'],
    ['v2-api', 'V2_API'],
    ['a--b', 'A_B'],
    ['ux-update.llm-parsing', 'UX_UPDATE_LLM_PARSING'],
  ])('envPrefix(%j) = %s', (id, prefix) => {
    expect(envPrefix(id)).toBe(prefix);
  });

  it('derives all three names from a feature id', () => {
    expect(resolveFlagNames('ux-update')).toEqual({
      enabled: { name: 'UX_UPDATE_ENABLED', inverted: false },
      roles: 'UX_UPDATE_ROLES',
      percent: 'UX_UPDATE_PERCENT',
    });
  });

  it('derives a sub-feature’s names from its key', () => {
    expect(subFeatureKey('ux-update', 'llm-parsing')).toBe('ux-update.llm-parsing');
    expect(resolveFlagNames(subFeatureKey('ux-update', 'llm-parsing'))).toEqual({
      enabled: { name: 'UX_UPDATE_LLM_PARSING_ENABLED', inverted: false },
      roles: 'UX_UPDATE_LLM_PARSING_ROLES',
      percent: 'UX_UPDATE_LLM_PARSING_PERCENT',
    });
  });

  it('keeps custom names and defaults the others', () => {
    expect(resolveFlagNames('ux-update', { enabled: { name: 'DISABLE_UX', inverted: true } })).toEqual({
      enabled: { name: 'DISABLE_UX', inverted: true },
      roles: 'UX_UPDATE_ROLES',
      percent: 'UX_UPDATE_PERCENT',
    });
    expect(resolveFlagNames('ux-update', { enabled: 'UX_ON', percent: 'UX_SHARE' })).toEqual({
      enabled: { name: 'UX_ON', inverted: false },
      roles: 'UX_UPDATE_ROLES',
      percent: 'UX_SHARE',
    });
  });

  it('a plan that writes { name } without inverted gets a plain switch', () => {
    const raw = rawPlan('ux-update');
    raw.flags.enabled = { name: 'UX_ON' };
    expect(planFlagSets(planFrom(raw))[0]!.names.enabled).toEqual({ name: 'UX_ON', inverted: false });
  });
});

/** The manifest variables of the example plans, exactly as written. */
const UX_MANIFEST = {
  PHASEGATE_MANIFEST_UX_UPDATE:
    '{"v":1,"e":"!DISABLE_UX_UPDATES","s":{"llm-parsing":{"e":"USE_LLM_PARSING","r":"LLM_PARSING_ROLES","p":"LLM_PARSING_PERCENT","c":"LLM_PARSING_DAILY_CAP_USD"}}}',
};
const COHORT_MANIFEST = {
  PHASEGATE_MANIFEST_COHORT_ANALYZER: '{"v":1,"e":"ULTRA_FAST_ANALYZER_ENABLED","r":"ULTRA_FAST_ANALYZER_ROLES","p":"ULTRA_FAST_ANALYZER_PERCENT"}',
};

describe('planManifest', () => {
  it('names every variable of the feature and its sub-features, leaving out default names', () => {
    expect(planManifest(examplePlan('ux-update'))).toEqual({ name: 'PHASEGATE_MANIFEST_UX_UPDATE', value: UX_MANIFEST.PHASEGATE_MANIFEST_UX_UPDATE });
    const raw = rawPlan('ux-update');
    delete raw.flags;
    delete raw.subFeatures[0].flags;
    delete raw.subFeatures[0].llm.dailyCapVariable;
    expect(planManifest(planFrom(raw)).value).toBe('{"v":1,"s":{"llm-parsing":{}}}');
  });

  it.each(['ux-update', 'cohort-analyzer'] as const)('%s: parses back to the plan’s flag sets', (name) => {
    const plan = examplePlan(name);
    const parsed = parseManifest(plan.feature, planManifest(plan).value)!;
    const [feature, ...subs] = planFlagSets(plan);
    expect(parsed.names).toEqual(feature!.names);
    expect(Object.keys(parsed.subFeatures)).toEqual(subs.map((s) => s.subFeatureId));
    for (const sub of subs) {
      expect(parsed.subFeatures[sub.subFeatureId!]).toEqual({ names: sub.names, dailyCapVariable: sub.dailyCap?.name ?? `${envPrefix(sub.key)}_DAILY_CAP_USD` });
    }
  });
});

describe('planFlagSets and planFlagNames', () => {
  it('lists the feature first, then each sub-feature', () => {
    expect(planFlagSets(examplePlan('ux-update'))).toEqual([
      {
        key: 'ux-update',
        names: { enabled: { name: 'DISABLE_UX_UPDATES', inverted: true }, roles: 'UX_UPDATE_ROLES', percent: 'UX_UPDATE_PERCENT' },
      },
      {
        key: 'ux-update.llm-parsing',
        subFeatureId: 'llm-parsing',
        names: { enabled: { name: 'USE_LLM_PARSING', inverted: false }, roles: 'LLM_PARSING_ROLES', percent: 'LLM_PARSING_PERCENT' },
        dailyCap: { name: 'LLM_PARSING_DAILY_CAP_USD', usd: 5 },
      },
    ]);
  });

  it.each([
    [
      'ux-update',
      ['DISABLE_UX_UPDATES', 'UX_UPDATE_ROLES', 'UX_UPDATE_PERCENT', 'USE_LLM_PARSING', 'LLM_PARSING_ROLES', 'LLM_PARSING_PERCENT', 'LLM_PARSING_DAILY_CAP_USD', 'PHASEGATE_MANIFEST_UX_UPDATE'],
    ],
    ['cohort-analyzer', ['ULTRA_FAST_ANALYZER_ENABLED', 'ULTRA_FAST_ANALYZER_ROLES', 'ULTRA_FAST_ANALYZER_PERCENT', 'PHASEGATE_MANIFEST_COHORT_ANALYZER']],
  ] as const)('%s owns %j', (name, names) => {
    expect(planFlagNames(examplePlan(name))).toEqual(names);
  });

  it('defaults a sub-feature without custom names from its key', () => {
    const raw = rawPlan('ux-update');
    delete raw.subFeatures[0].flags;
    delete raw.subFeatures[0].llm.dailyCapVariable;
    expect(planFlagNames(planFrom(raw)).slice(3)).toEqual([
      'UX_UPDATE_LLM_PARSING_ENABLED',
      'UX_UPDATE_LLM_PARSING_ROLES',
      'UX_UPDATE_LLM_PARSING_PERCENT',
      'UX_UPDATE_LLM_PARSING_DAILY_CAP_USD',
      'PHASEGATE_MANIFEST_UX_UPDATE',
    ]);
  });

  it('gives only an LLM sub-feature a cap variable', () => {
    const raw = rawPlan('ux-update');
    delete raw.subFeatures[0].llm;
    raw.phases.forEach((phase: { subFeatures?: unknown }) => delete phase.subFeatures);
    const plan = planFrom(raw);
    expect(planFlagSets(plan)[1]).not.toHaveProperty('dailyCap');
    expect(planFlagNames(plan)).not.toContain('LLM_PARSING_DAILY_CAP_USD');
  });
});

describe('phaseFlagValues', () => {
  const llmOff = { USE_LLM_PARSING: 'false', LLM_PARSING_ROLES: '', LLM_PARSING_PERCENT: '0', LLM_PARSING_DAILY_CAP_USD: '0' };
  const llmAdmins = { USE_LLM_PARSING: 'true', LLM_PARSING_ROLES: 'admin', LLM_PARSING_PERCENT: '100', LLM_PARSING_DAILY_CAP_USD: '5' };
  const ux = (roles: string): Record<string, string> => ({ DISABLE_UX_UPDATES: 'false', UX_UPDATE_ROLES: roles, UX_UPDATE_PERCENT: '100', ...UX_MANIFEST });

  it.each([
    [0, 'admin', { ...ux('admin'), ...llmOff }],
    [1, 'pm', { ...ux('admin,pm'), ...llmOff }],
    [2, 'developer', { ...ux('admin,pm,developer'), ...llmOff }],
    [3, 'llm-canary', { ...ux('admin,pm,developer'), ...llmAdmins }],
    [4, 'ga', { ...ux(ALL_ROLES), ...llmAdmins }],
  ])('ux-update phase %d (%s)', (index, name, values) => {
    const plan = examplePlan('ux-update');
    expect(plan.phases[index]!.name).toBe(name);
    expect(phaseFlagValues(plan, index)).toEqual(values);
  });

  it.each([
    [0, 'canary', '1'],
    [1, 'ramp', '10'],
    [2, 'full', '100'],
  ])('cohort-analyzer phase %d (%s) at %s %%', (index, name, percent) => {
    const plan = examplePlan('cohort-analyzer');
    expect(plan.phases[index]!.name).toBe(name);
    expect(phaseFlagValues(plan, index)).toEqual({
      ULTRA_FAST_ANALYZER_ENABLED: 'true',
      ULTRA_FAST_ANALYZER_ROLES: '*',
      ULTRA_FAST_ANALYZER_PERCENT: percent,
      ...COHORT_MANIFEST,
    });
  });

  it.each(['dev', 'staging', 'prod'])('does not depend on the stage (%s)', (stage) => {
    for (const name of ['ux-update', 'cohort-analyzer'] as const) {
      const base = examplePlan(name);
      const staged = examplePlan(name, stage);
      base.phases.forEach((_, i) => expect(phaseFlagValues(staged, i)).toEqual(phaseFlagValues(base, i)));
    }
  });

  it('writes exactly the plan’s variables in every phase', () => {
    for (const name of ['ux-update', 'cohort-analyzer'] as const) {
      const plan = examplePlan(name);
      plan.phases.forEach((_, i) => expect(Object.keys(phaseFlagValues(plan, i)).sort()).toEqual([...planFlagNames(plan)].sort()));
    }
  });

  it('a sub-feature exposure without roles or percent takes the phase’s; "all" is written as *', () => {
    const raw = rawPlan('ux-update');
    raw.phases[2].percent = 40;
    raw.phases[2].subFeatures = { 'llm-parsing': {} };
    raw.phases[3].subFeatures = { 'llm-parsing': { roles: ['all'], percent: 5 } };
    const plan = planFrom(raw);
    expect(phaseFlagValues(plan, 2)).toMatchObject({ USE_LLM_PARSING: 'true', LLM_PARSING_ROLES: 'admin,pm,developer', LLM_PARSING_PERCENT: '40' });
    expect(phaseFlagValues(plan, 3)).toMatchObject({ USE_LLM_PARSING: 'true', LLM_PARSING_ROLES: '*', LLM_PARSING_PERCENT: '5' });
  });

  it('an inverted sub-feature switch says "false" when on and "true" when off', () => {
    const raw = rawPlan('ux-update');
    raw.subFeatures[0].flags.enabled = { name: 'DISABLE_LLM_PARSING', inverted: true };
    const plan = planFrom(raw);
    expect(phaseFlagValues(plan, 0)).toMatchObject({ DISABLE_LLM_PARSING: 'true' });
    expect(phaseFlagValues(plan, 3)).toMatchObject({ DISABLE_LLM_PARSING: 'false' });
  });

  it.each([-1, 5, 1.5])('refuses phase %d of a five-phase plan', (index) => {
    expect(() => phaseFlagValues(examplePlan('ux-update'), index)).toThrow(RangeError);
  });
});

describe('offFlagValues', () => {
  it('turns the feature and every sub-feature off; a kill switch says "true"', () => {
    expect(offFlagValues(examplePlan('ux-update'))).toEqual({
      DISABLE_UX_UPDATES: 'true',
      UX_UPDATE_ROLES: '',
      UX_UPDATE_PERCENT: '0',
      USE_LLM_PARSING: 'false',
      LLM_PARSING_ROLES: '',
      LLM_PARSING_PERCENT: '0',
      LLM_PARSING_DAILY_CAP_USD: '0',
      ...UX_MANIFEST,
    });
    expect(offFlagValues(examplePlan('cohort-analyzer'))).toEqual({
      ULTRA_FAST_ANALYZER_ENABLED: 'false',
      ULTRA_FAST_ANALYZER_ROLES: '',
      ULTRA_FAST_ANALYZER_PERCENT: '0',
      ...COHORT_MANIFEST,
    });
  });
});

describe('safeFlagValues', () => {
  it.each([-1, 0, 1, 2, 3, 4])('rollback.to off: off after a failure in phase %d', (failed) => {
    const plan = examplePlan('ux-update');
    expect(safeFlagValues(plan, failed)).toEqual(offFlagValues(plan));
  });

  it.each([
    [2, 1],
    [1, 0],
  ])('rollback.to previous-phase: a failure in phase %d goes back to phase %d', (failed, previous) => {
    const plan = examplePlan('cohort-analyzer');
    expect(safeFlagValues(plan, failed)).toEqual(phaseFlagValues(plan, previous));
  });

  it.each([0, -1])('rollback.to previous-phase: a failure in phase %d (nothing before it) is off', (failed) => {
    const plan = examplePlan('cohort-analyzer');
    expect(safeFlagValues(plan, failed)).toEqual(offFlagValues(plan));
  });

  it('previous-phase on a plan with sub-features restores the sub-feature too', () => {
    const raw = rawPlan('ux-update');
    raw.rollback = { to: 'previous-phase' };
    const plan = planFrom(raw);
    expect(safeFlagValues(plan, 4)).toEqual(phaseFlagValues(plan, 3));
    expect(safeFlagValues(plan, 3)).toMatchObject({ USE_LLM_PARSING: 'false', UX_UPDATE_ROLES: 'admin,pm,developer' });
  });
});

describe('subFeatureOffValues', () => {
  it('turns only the sub-feature off and leaves the feature’s variables out (the manifest stays as it is)', () => {
    const plan = examplePlan('ux-update');
    const values = subFeatureOffValues(plan, 'llm-parsing');
    expect(values).toEqual({ USE_LLM_PARSING: 'false', LLM_PARSING_ROLES: '', LLM_PARSING_PERCENT: '0', LLM_PARSING_DAILY_CAP_USD: '0', ...UX_MANIFEST });
    for (const name of ['DISABLE_UX_UPDATES', 'UX_UPDATE_ROLES', 'UX_UPDATE_PERCENT']) expect(values).not.toHaveProperty(name);
  });

  it('refuses an unknown sub-feature', () => {
    expect(() => subFeatureOffValues(examplePlan('ux-update'), 'nope')).toThrow('plan "ux-update" has no sub-feature "nope"');
    expect(() => subFeatureOffValues(examplePlan('cohort-analyzer'), 'llm-parsing')).toThrow(RangeError);
  });
});

describe('sub-feature ids that are names of Object.prototype', () => {
  it('a sub-feature called "constructor" is off in a phase that does not turn it on', () => {
    const result = validatePlan({
      feature: 'proto-check',
      targets: ['fn-a'],
      subFeatures: [{ id: 'constructor' }],
      phases: [{ name: 'one', roles: ['admin'], bake: 'PT1H' }],
    });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const values = phaseFlagValues(result.plan, 0);
    expect(values).toMatchObject(subFeatureOffValues(result.plan, 'constructor'));
  });
});
