import { manifestVariable, offFlagValues, phaseFlagValues, planFlagNames, safeFlagValues, subFeatureKey, subFeatureOffValues } from '../../lambdas/core/flags/flags';
import { createFlagReader, isEnabled, type FlagContext, type FlagReader } from 'phasegate/runtime';
import { EXAMPLE_PLANS, examplePlan } from '../core/example-plans';

/**
 * The flag contract end to end: the variables Phasegate writes (lambdas/core/flags/flags.ts) read back by the runtime
 * library a target function uses, for the example plans in rollouts/. The reader is given no names: the
 * feature's manifest variable, written with the flags, names them.
 */

/** A target's environment: its own variables with Phasegate's flags laid over them. */
const targetEnv = (flags: Record<string, string>): Record<string, string> => ({ NODE_OPTIONS: '--enable-source-maps', TABLE: 't', ...flags });

const PERSONAS: Record<string, FlagContext> = {
  admin: { role: 'admin', userId: 'discord-1001' },
  pm: { roles: ['pm'], userId: 'discord-1002' },
  developer: { roles: ['developer', 'on-call'], userId: 'discord-1003' },
  member: { role: 'member', userId: 'discord-1004' },
  anonymous: {},
};

/** The personas for whom `key` is on. */
const audience = (reader: FlagReader, key: string): string[] =>
  Object.entries(PERSONAS)
    .filter(([, ctx]) => reader.isEnabled(key, ctx))
    .map(([name]) => name);

const USER_IDS = Array.from({ length: 10000 }, (_, i) => `user-${i}`);
const exposed = (reader: FlagReader, key: string): Set<string> => new Set(USER_IDS.filter((userId) => reader.isEnabled(key, { userId })));

describe('ux-update: role phases with an inverted kill switch and an LLM sub-feature', () => {
  const plan = examplePlan('ux-update');
  const llm = subFeatureKey(plan.feature, 'llm-parsing');
  const read = (flags: Record<string, string>): FlagReader => createFlagReader({ env: targetEnv(flags) });

  it('has the phases this table expects', () => {
    expect(plan.phases.map((p) => p.name)).toEqual(['admin', 'pm', 'developer', 'llm-canary', 'ga']);
  });

  it.each([
    [0, 'admin', ['admin'], []],
    [1, 'pm', ['admin', 'pm'], []],
    [2, 'developer', ['admin', 'pm', 'developer'], []],
    [3, 'llm-canary', ['admin', 'pm', 'developer'], ['admin']],
    [4, 'ga', ['admin', 'pm', 'developer', 'member', 'anonymous'], ['admin']],
  ])('phase %d (%s): feature for %j, llm-parsing for %j', (index, name, feature, llmParsing) => {
    expect(plan.phases[index]!.name).toBe(name);
    const reader = read(phaseFlagValues(plan, index));
    expect(audience(reader, plan.feature)).toEqual(feature);
    expect(audience(reader, llm)).toEqual(llmParsing);
  });

  it('reaches every user id in ga, and none outside the admin role before it', () => {
    expect(exposed(read(phaseFlagValues(plan, 4)), plan.feature).size).toBe(USER_IDS.length);
    expect(exposed(read(phaseFlagValues(plan, 3)), plan.feature).size).toBe(0);
  });

  it('writes the kill switch, not an enabled switch', () => {
    expect(phaseFlagValues(plan, 0)).toMatchObject({ DISABLE_UX_UPDATES: 'false' });
    expect(offFlagValues(plan)).toMatchObject({ DISABLE_UX_UPDATES: 'true' });
  });

  it('offFlagValues: nobody has the feature or the sub-feature', () => {
    const reader = read(offFlagValues(plan));
    expect(audience(reader, plan.feature)).toEqual([]);
    expect(audience(reader, llm)).toEqual([]);
    expect(reader.evaluate(plan.feature, PERSONAS.admin).reason).toBe('DISABLED');
  });

  it.each([0, 1, 2, 3, 4])('safeFlagValues after a failure in phase %d (rollback.to off): nobody', (failed) => {
    const reader = read(safeFlagValues(plan, failed));
    expect(audience(reader, plan.feature)).toEqual([]);
    expect(audience(reader, llm)).toEqual([]);
  });

  it('subFeatureOffValues over ga: everyone keeps the feature, nobody has llm-parsing', () => {
    const reader = read({ ...phaseFlagValues(plan, 4), ...subFeatureOffValues(plan, 'llm-parsing') });
    expect(audience(reader, plan.feature)).toEqual(Object.keys(PERSONAS));
    expect(audience(reader, llm)).toEqual([]);
  });

  it('llm-parsing falls with its feature: kill switch on, sub-feature variables untouched', () => {
    const reader = read({ ...phaseFlagValues(plan, 4), DISABLE_UX_UPDATES: 'true' });
    expect(reader.evaluate(llm, PERSONAS.admin)).toEqual({ enabled: false, reason: 'PARENT_DISABLED', parent: { enabled: false, reason: 'DISABLED' } });
  });
});

describe('the README example, for every shipped plan', () => {
  it.each(EXAMPLE_PLANS)('%s in its last phase: isEnabled(feature, { role: "pm", userId: "42" }) with no names given', (name) => {
    const plan = examplePlan(name);
    const env = targetEnv(phaseFlagValues(plan, plan.phases.length - 1));
    expect(isEnabled(plan.feature, { role: 'pm', userId: '42' }, { env })).toBe(true);
    expect(createFlagReader({ env, snapshot: true }).isEnabled(plan.feature, { role: 'pm', userId: '42' })).toBe(true);
    expect(isEnabled(plan.feature, { role: 'pm', userId: '42' }, { env: targetEnv(offFlagValues(plan)) })).toBe(false);
  });

  it.each(EXAMPLE_PLANS)('%s: every write, off and safe ones included, carries the same manifest', (name) => {
    const plan = examplePlan(name);
    const manifest = phaseFlagValues(plan, 0)[manifestVariable(plan.feature)];
    expect(manifest).toBeDefined();
    const writes = [
      ...plan.phases.map((_, i) => phaseFlagValues(plan, i)),
      ...plan.phases.map((_, i) => safeFlagValues(plan, i)),
      offFlagValues(plan),
      ...plan.subFeatures.map((s) => subFeatureOffValues(plan, s.id)),
    ];
    for (const values of writes) expect(values[manifestVariable(plan.feature)]).toBe(manifest);
    expect(planFlagNames(plan)).toContain(manifestVariable(plan.feature));
  });

  it('keeps the manifest small: under 200 bytes for each shipped plan', () => {
    for (const name of EXAMPLE_PLANS) {
      const plan = examplePlan(name);
      expect(Buffer.byteLength(manifestVariable(plan.feature) + phaseFlagValues(plan, 0)[manifestVariable(plan.feature)]!)).toBeLessThan(200);
    }
  });
});

describe('cohort-analyzer: sticky percentages, rolling back to the previous phase', () => {
  const plan = examplePlan('cohort-analyzer');
  const read = (flags: Record<string, string>): FlagReader => createFlagReader({ env: targetEnv(flags) });
  const share = (users: Set<string>): number => (users.size / USER_IDS.length) * 100;

  it('exposes about 1 %, 10 % and 100 % of users, each phase a superset of the one before', () => {
    const [canary, ramp, full] = [0, 1, 2].map((i) => exposed(read(phaseFlagValues(plan, i)), plan.feature)) as [Set<string>, Set<string>, Set<string>];
    expect(share(canary)).toBeGreaterThan(0.5);
    expect(share(canary)).toBeLessThan(1.5);
    expect(share(ramp)).toBeGreaterThan(8.5);
    expect(share(ramp)).toBeLessThan(11.5);
    expect(full.size).toBe(USER_IDS.length);
    for (const id of canary) expect(ramp.has(id)).toBe(true);
  });

  it('nobody without a user id before 100 %, everybody at 100 %', () => {
    expect(read(phaseFlagValues(plan, 1)).evaluate(plan.feature, { role: 'admin' }).reason).toBe('MISSING_USER_ID');
    expect(read(phaseFlagValues(plan, 2)).evaluate(plan.feature, {})).toMatchObject({ enabled: true, reason: 'ENABLED_FOR_ALL' });
  });

  it.each([
    [2, 1],
    [1, 0],
  ])('safeFlagValues after a failure in phase %d exposes exactly the users of phase %d', (failed, previous) => {
    const safe = exposed(read(safeFlagValues(plan, failed)), plan.feature);
    const before = exposed(read(phaseFlagValues(plan, previous)), plan.feature);
    expect(safe.size).toBeGreaterThan(0);
    expect([...safe].sort()).toEqual([...before].sort());
  });

  it('safeFlagValues after a failure in the first phase: nobody', () => {
    expect(exposed(read(safeFlagValues(plan, 0)), plan.feature).size).toBe(0);
  });

  it('offFlagValues: nobody', () => {
    expect(exposed(read(offFlagValues(plan)), plan.feature).size).toBe(0);
  });
});
