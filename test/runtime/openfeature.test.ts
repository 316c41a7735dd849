import { ErrorCode, OpenFeature, StandardResolutionReasons } from '@openfeature/server-sdk';
import { phaseFlagValues } from '../../lambdas/core/flags/flags';
import { bucketOf } from 'phasegate/runtime';
import { PhasegateProvider } from 'phasegate/runtime/openfeature';
import { examplePlan } from '../core/example-plans';

const { STATIC, TARGETING_MATCH, SPLIT, DISABLED, ERROR } = StandardResolutionReasons;

/** ux-update in its last phase as Phasegate writes it (manifest included), and hand-written flags around it. */
const env = {
  ...phaseFlagValues(examplePlan('ux-update'), examplePlan('ux-update').phases.length - 1),
  ADMINS_ENABLED: 'true',
  ADMINS_ROLES: 'admin,pm',
  ADMINS_PERCENT: '100',
  COHORT_ANALYZER_ENABLED: 'true',
  COHORT_ANALYZER_ROLES: '*',
  COHORT_ANALYZER_PERCENT: '10',
  COHORT_ANALYZER_DEEP_ENABLED: 'true',
  COHORT_ANALYZER_DEEP_ROLES: '*',
  COHORT_ANALYZER_DEEP_PERCENT: '100',
  EVERYONE_ENABLED: 'true',
  EVERYONE_ROLES: '*',
  EVERYONE_PERCENT: '100',
  OFF_FEATURE_ENABLED: 'false',
  OFF_FEATURE_ROLES: '',
  OFF_FEATURE_PERCENT: '0',
  ZERO_ENABLED: 'true',
  ZERO_ROLES: '*',
  ZERO_PERCENT: '0',
  BROKEN_ENABLED: 'true',
  BROKEN_ROLES: '*',
  BROKEN_PERCENT: '1e1',
  BROKEN_SUB_ENABLED: 'true',
  BROKEN_SUB_ROLES: '*',
  BROKEN_SUB_PERCENT: '100',
};

const provider = new PhasegateProvider({ env });

beforeAll(async () => {
  await OpenFeature.setProviderAndWait('phasegate-test', provider);
});
afterAll(async () => {
  await OpenFeature.close();
});

const client = () => OpenFeature.getClient('phasegate-test');

/** Users inside and outside cohort-analyzer's 10 %. */
const USERS = Array.from({ length: 400 }, (_, i) => `user-${i}`);
const inside = USERS.find((u) => bucketOf('cohort-analyzer', u) < 10)!;
const outside = USERS.find((u) => bucketOf('cohort-analyzer', u) >= 10)!;

describe('PhasegateProvider through the OpenFeature SDK: reasons as the specification means them', () => {
  it.each([
    ['on for everyone: STATIC', 'everyone', {}, true, STATIC],
    ['ux-update in GA, names from the manifest: STATIC', 'ux-update', { targetingKey: '42', role: 'pm' }, true, STATIC],
    ['allowed by role: TARGETING_MATCH', 'admins', { targetingKey: 'u1', role: 'pm' }, true, TARGETING_MATCH],
    ['allowed by any of the roles: TARGETING_MATCH', 'admins', { targetingKey: 'u1', roles: ['developer', 'admin'] }, true, TARGETING_MATCH],
    ['refused by role: TARGETING_MATCH', 'admins', { targetingKey: 'u1', role: 'developer' }, false, TARGETING_MATCH],
    ['a sub-feature allowed by role: TARGETING_MATCH', 'ux-update.llm-parsing', { targetingKey: 'u1', role: 'admin' }, true, TARGETING_MATCH],
    ['a sub-feature refused by role: TARGETING_MATCH', 'ux-update.llm-parsing', { targetingKey: 'u1', role: 'pm' }, false, TARGETING_MATCH],
    ['inside a split: SPLIT', 'cohort-analyzer', { targetingKey: inside }, true, SPLIT],
    ['outside a split: SPLIT', 'cohort-analyzer', { targetingKey: outside }, false, SPLIT],
    ['a sub-feature whose feature leaves the user outside its split: SPLIT', 'cohort-analyzer.deep', { targetingKey: outside }, false, SPLIT],
    ['a sub-feature inside its feature’s split: STATIC', 'cohort-analyzer.deep', { targetingKey: inside }, true, STATIC],
    ['switched off: DISABLED', 'off-feature', { targetingKey: 'u1', role: 'admin' }, false, DISABLED],
    ['0 %: DISABLED', 'zero', { targetingKey: 'u1' }, false, DISABLED],
    ['a sub-feature of a switched-off feature: DISABLED', 'off-feature.sub', { targetingKey: 'u1' }, false, DISABLED],
  ])('%s', async (_what, key, ctx, value, reason) => {
    const details = await client().getBooleanDetails(key, !value, ctx);
    expect(details).toMatchObject({ value, reason });
    expect(details.errorCode).toBeUndefined();
  });

  it('reports every split evaluation as SPLIT, with the bucket, and agrees with the reader', async () => {
    const results = await Promise.all(USERS.map((u) => client().getBooleanDetails('cohort-analyzer', false, { targetingKey: u })));
    for (const d of results) expect(d.reason).toBe(SPLIT);
    for (const d of results) expect(d.value).toBe((d.flagMetadata.bucket as number) < 10);
    const share = results.filter((d) => d.value).length / results.length;
    expect(share).toBeGreaterThan(0.04);
    expect(share).toBeLessThan(0.18);
  });

  it.each([
    ['a flag with no variables', 'never-written', {}, ErrorCode.FLAG_NOT_FOUND],
    ['an unknown sub-feature of an unknown feature', 'checkout.new-flow', { targetingKey: 'u1' }, ErrorCode.FLAG_NOT_FOUND],
    ['an unknown sub-feature of a known feature', 'everyone.nothing', { targetingKey: 'u1' }, ErrorCode.FLAG_NOT_FOUND],
    ['a malformed percent', 'broken', { targetingKey: 'u1' }, ErrorCode.PARSE_ERROR],
    ['a sub-feature whose feature has a malformed percent', 'broken.sub', { targetingKey: 'u1' }, ErrorCode.PARSE_ERROR],
    ['a percentage without a targeting key', 'cohort-analyzer', {}, ErrorCode.TARGETING_KEY_MISSING],
    ['a sub-feature whose feature splits, without a targeting key', 'cohort-analyzer.deep', {}, ErrorCode.TARGETING_KEY_MISSING],
  ])('returns the default with an error code for %s', async (_what, key, ctx, errorCode) => {
    for (const fallback of [true, false]) {
      const details = await client().getBooleanDetails(key, fallback, ctx);
      expect(details).toMatchObject({ value: fallback, reason: ERROR, errorCode });
    }
  });

  it('refuses non-boolean evaluations of an existing flag with TYPE_MISMATCH and the default', async () => {
    expect(await client().getStringDetails('ux-update', 'x', { targetingKey: 'u1' })).toMatchObject({ value: 'x', errorCode: ErrorCode.TYPE_MISMATCH });
    expect(await client().getNumberDetails('ux-update', 7)).toMatchObject({ value: 7, errorCode: ErrorCode.TYPE_MISMATCH });
    expect(await client().getObjectDetails('ux-update', { a: 1 })).toMatchObject({ value: { a: 1 }, errorCode: ErrorCode.TYPE_MISMATCH });
  });

  it('answers FLAG_NOT_FOUND, not TYPE_MISMATCH, for an unknown flag of any type', async () => {
    expect(await client().getStringDetails('never-written', 'x')).toMatchObject({ value: 'x', errorCode: ErrorCode.FLAG_NOT_FOUND });
    expect(await client().getNumberDetails('checkout.new-flow', 7)).toMatchObject({ value: 7, errorCode: ErrorCode.FLAG_NOT_FOUND });
    expect(await client().getObjectDetails('never-written', { a: 1 })).toMatchObject({ value: { a: 1 }, errorCode: ErrorCode.FLAG_NOT_FOUND });
  });

  it('names itself', () => {
    expect(provider.metadata.name).toBe('phasegate');
    expect(client().metadata.providerMetadata.name).toBe('phasegate');
  });
});

describe('createFlagReader({ snapshot: true })', () => {
  it('reads the environment once, at creation', () => {
    const { createFlagReader } = require('phasegate/runtime') as typeof import('phasegate/runtime');
    const e: Record<string, string> = { SNAP_ENABLED: 'true', SNAP_ROLES: '*', SNAP_PERCENT: '100' };
    const live = createFlagReader({ env: e });
    const snap = createFlagReader({ env: e, snapshot: true });
    e.SNAP_ENABLED = 'false';
    expect(live.isEnabled('snap')).toBe(false);
    expect(snap.isEnabled('snap')).toBe(true);
  });
});
