import { ErrorCode, OpenFeature, StandardResolutionReasons } from '@openfeature/server-sdk';
import { PhasegateProvider } from '../../runtime/openfeature';

const env = {
  DISABLE_UX_UPDATES: 'false',
  UX_UPDATE_ROLES: 'admin,pm',
  UX_UPDATE_PERCENT: '100',
  COHORT_ANALYZER_ENABLED: 'true',
  COHORT_ANALYZER_ROLES: '*',
  COHORT_ANALYZER_PERCENT: '10',
  EVERYONE_ENABLED: 'true',
  EVERYONE_ROLES: '*',
  EVERYONE_PERCENT: '100',
  OFF_FEATURE_ENABLED: 'false',
  OFF_FEATURE_ROLES: '',
  OFF_FEATURE_PERCENT: '0',
  BROKEN_ENABLED: 'maybe',
  BROKEN_ROLES: '*',
  BROKEN_PERCENT: '100',
};

const provider = new PhasegateProvider({ env, flags: { 'ux-update': { enabled: { name: 'DISABLE_UX_UPDATES', inverted: true } } } });

beforeAll(async () => {
  await OpenFeature.setProviderAndWait('phasegate-test', provider);
});
afterAll(async () => {
  await OpenFeature.close();
});

const client = () => OpenFeature.getClient('phasegate-test');

describe('PhasegateProvider through the OpenFeature SDK', () => {
  it.each([
    ['everyone', {}, true, StandardResolutionReasons.STATIC],
    ['ux-update', { targetingKey: 'u1', role: 'pm' }, true, StandardResolutionReasons.TARGETING_MATCH],
    ['ux-update', { targetingKey: 'u1', roles: ['developer', 'admin'] }, true, StandardResolutionReasons.TARGETING_MATCH],
    ['ux-update', { targetingKey: 'u1', role: 'developer' }, false, StandardResolutionReasons.TARGETING_MATCH],
    ['off-feature', { targetingKey: 'u1', role: 'admin' }, false, StandardResolutionReasons.DISABLED],
  ])('%s for %p -> %p (%s)', async (key, ctx, value, reason) => {
    const details = await client().getBooleanDetails(key, !value, ctx);
    expect(details).toMatchObject({ value, reason });
    expect(details.errorCode).toBeUndefined();
  });

  it('reports a percentage split with the bucket, and agrees with the reader', async () => {
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) => client().getBooleanDetails('cohort-analyzer', false, { targetingKey: `user-${i}` })),
    );
    for (const d of results) expect(d.reason).toBe(d.value ? StandardResolutionReasons.TARGETING_MATCH : StandardResolutionReasons.SPLIT);
    for (const d of results) expect(d.value).toBe((d.flagMetadata.bucket as number) < 10);
    const share = results.filter((d) => d.value).length / results.length;
    expect(share).toBeGreaterThan(0.04);
    expect(share).toBeLessThan(0.18);
  });

  it.each([
    ['a flag with no variables', 'never-written', {}, ErrorCode.FLAG_NOT_FOUND],
    ['unparseable variables', 'broken', { targetingKey: 'u1' }, ErrorCode.PARSE_ERROR],
    ['a percentage without a targeting key', 'cohort-analyzer', {}, ErrorCode.TARGETING_KEY_MISSING],
  ])('returns the default with an error code for %s', async (_what, key, ctx, errorCode) => {
    for (const fallback of [true, false]) {
      const details = await client().getBooleanDetails(key, fallback, ctx);
      expect(details).toMatchObject({ value: fallback, reason: StandardResolutionReasons.ERROR, errorCode });
    }
  });

  it('refuses non-boolean evaluations with TYPE_MISMATCH and the default', async () => {
    expect(await client().getStringDetails('ux-update', 'x', { targetingKey: 'u1' })).toMatchObject({ value: 'x', errorCode: ErrorCode.TYPE_MISMATCH });
    expect(await client().getNumberDetails('ux-update', 7)).toMatchObject({ value: 7, errorCode: ErrorCode.TYPE_MISMATCH });
    expect(await client().getObjectDetails('ux-update', { a: 1 })).toMatchObject({ value: { a: 1 }, errorCode: ErrorCode.TYPE_MISMATCH });
  });

  it('names itself', () => {
    expect(provider.metadata.name).toBe('phasegate');
    expect(client().metadata.providerMetadata.name).toBe('phasegate');
  });
});

describe('createFlagReader({ snapshot: true })', () => {
  it('reads the environment once, at creation', () => {
    const { createFlagReader } = require('../../runtime') as typeof import('../../runtime');
    const env: Record<string, string> = { SNAP_ENABLED: 'true', SNAP_ROLES: '*', SNAP_PERCENT: '100' };
    const live = createFlagReader({ env });
    const snap = createFlagReader({ env, snapshot: true });
    env.SNAP_ENABLED = 'false';
    expect(live.isEnabled('snap')).toBe(false);
    expect(snap.isEnabled('snap')).toBe(true);
  });
});
