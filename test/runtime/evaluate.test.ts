import {
  createFlagReader,
  evaluate,
  isEnabled,
  type FlagContext,
  type FlagEnv,
  type FlagEvaluation,
  type FlagNames,
  type FlagReason,
} from 'phasegate/runtime';

/** Variables of the flag key `feat` under its default names. */
const feat = (roles: string, percent = '100', enabled = 'true'): Record<string, string> => ({
  FEAT_ENABLED: enabled,
  FEAT_ROLES: roles,
  FEAT_PERCENT: percent,
});

const ALWAYS_IN = 'user-87383'; // bucketOf('feat', ALWAYS_IN) === 0: inside every percentage above 0

describe('roles', () => {
  const cases: [string, FlagContext, boolean, FlagReason][] = [
    ['admin', { role: 'admin' }, true, 'TARGETED'],
    ['admin', { role: 'pm' }, false, 'ROLE_NOT_ALLOWED'],
    ['admin', {}, false, 'ROLE_NOT_ALLOWED'],
    ['admin,pm', { role: 'pm' }, true, 'TARGETED'],
    ['admin,pm', { role: 'developer' }, false, 'ROLE_NOT_ALLOWED'],
    [' admin , pm ', { role: 'pm' }, true, 'TARGETED'],
    ['admin,pm', { roles: ['developer', 'pm'] }, true, 'TARGETED'],
    ['admin,pm', { roles: ['developer', 'on-call'] }, false, 'ROLE_NOT_ALLOWED'],
    ['admin', { role: 'developer', roles: ['admin'] }, true, 'TARGETED'],
    ['admin', { role: 'admin', roles: [] }, true, 'TARGETED'],
    ['admin', { roles: [] }, false, 'ROLE_NOT_ALLOWED'],
    ['ADMIN', { role: 'admin' }, false, 'ROLE_NOT_ALLOWED'],
    ['*', {}, true, 'ENABLED_FOR_ALL'],
    ['*', { role: 'anyone-at-all' }, true, 'ENABLED_FOR_ALL'],
    // An empty roles list lets nobody in: off for everyone.
    ['', { role: 'admin' }, false, 'DISABLED'],
    ['', {}, false, 'DISABLED'],
    [' , ', { role: '' }, false, 'DISABLED'],
  ];
  it.each(cases)('roles %j, context %j -> %s (%s)', (roles, ctx, enabled, reason) => {
    const result = evaluate('feat', ctx, { env: feat(roles) });
    expect(result).toMatchObject({ enabled, reason });
    expect(isEnabled('feat', ctx, { env: feat(roles) })).toBe(enabled);
  });
});

describe('the enabled switch', () => {
  const killSwitch: FlagNames = { enabled: { name: 'DISABLE_FEAT', inverted: true } };
  const env = (value: string | undefined): FlagEnv => ({ DISABLE_FEAT: value, FEAT_ROLES: '*', FEAT_PERCENT: '100' });

  it.each([
    ['true', true],
    ['TRUE', true],
    [' true ', true],
    ['false', false],
    ['False', false],
  ])('plain switch %j -> %s', (value, enabled) => {
    expect(isEnabled('feat', {}, { env: feat('*', '100', value) })).toBe(enabled);
  });

  it.each([
    ['false', true, 'ENABLED_FOR_ALL'],
    ['true', false, 'DISABLED'],
    ['TRUE', false, 'DISABLED'],
  ] as const)('inverted kill switch %j -> %s', (value, enabled, reason) => {
    expect(evaluate('feat', {}, { env: env(value), flags: killSwitch })).toEqual({ enabled, reason, percent: enabled ? 100 : undefined });
  });

  it('reports DISABLED when the switch is off even though roles and percent would let the user in', () => {
    expect(evaluate('feat', { role: 'admin', userId: ALWAYS_IN }, { env: feat('*', '100', 'false') })).toEqual({
      enabled: false,
      reason: 'DISABLED',
    });
  });

  it('an inverted switch given as { name } without inverted is a plain switch', () => {
    const flags: FlagNames = { enabled: { name: 'FEAT_ON' } };
    expect(isEnabled('feat', {}, { env: { FEAT_ON: 'true', FEAT_ROLES: '*', FEAT_PERCENT: '100' }, flags })).toBe(true);
  });
});

describe('custom variable names', () => {
  const flags: FlagNames = { enabled: 'MY_FEATURE_ON', roles: 'MY_FEATURE_WHO', percent: 'MY_FEATURE_SHARE' };
  const custom = { MY_FEATURE_ON: 'true', MY_FEATURE_WHO: 'pm', MY_FEATURE_SHARE: '100' };

  it('reads the custom names', () => {
    expect(isEnabled('feat', { role: 'pm' }, { env: custom, flags })).toBe(true);
    expect(isEnabled('feat', { role: 'admin' }, { env: custom, flags })).toBe(false);
  });

  it('ignores the default names when custom ones are given', () => {
    expect(evaluate('feat', { role: 'pm' }, { env: feat('pm'), flags })).toEqual({
      enabled: false,
      reason: 'MISSING_FLAGS',
      variable: 'MY_FEATURE_ON',
    });
  });

  it('defaults only the names left out', () => {
    const env = { MY_FEATURE_ON: 'true', FEAT_ROLES: 'pm', FEAT_PERCENT: '100' };
    expect(isEnabled('feat', { role: 'pm' }, { env, flags: { enabled: 'MY_FEATURE_ON' } })).toBe(true);
  });

  it('derives default names from a hyphenated key', () => {
    const env = { UX_UPDATE_ENABLED: 'true', UX_UPDATE_ROLES: 'admin', UX_UPDATE_PERCENT: '100' };
    expect(isEnabled('ux-update', { role: 'admin' }, { env })).toBe(true);
  });
});

describe('fails closed on missing or unparseable variables', () => {
  const complete = feat('*', '100');
  const without = (name: string): FlagEnv => ({ ...complete, [name]: undefined });

  it.each(['FEAT_ENABLED', 'FEAT_ROLES', 'FEAT_PERCENT'])('missing %s -> off, MISSING_FLAGS', (name) => {
    expect(evaluate('feat', { role: 'admin', userId: ALWAYS_IN }, { env: without(name) })).toEqual({
      enabled: false,
      reason: 'MISSING_FLAGS',
      variable: name,
    });
  });

  it('an empty environment -> off', () => {
    expect(evaluate('feat', { role: 'admin', userId: ALWAYS_IN }, { env: {} })).toMatchObject({ enabled: false, reason: 'MISSING_FLAGS' });
  });

  it('a missing kill switch -> off, not on', () => {
    const flags: FlagNames = { enabled: { name: 'DISABLE_FEAT', inverted: true } };
    expect(evaluate('feat', {}, { env: { FEAT_ROLES: '*', FEAT_PERCENT: '100' }, flags })).toEqual({
      enabled: false,
      reason: 'MISSING_FLAGS',
      variable: 'DISABLE_FEAT',
    });
  });

  it.each(['yes', '1', '0', '', 'on', 'truee', 'null'])('enabled %j -> off, INVALID_FLAGS', (value) => {
    expect(evaluate('feat', { userId: ALWAYS_IN }, { env: feat('*', '100', value) })).toEqual({
      enabled: false,
      reason: 'INVALID_FLAGS',
      variable: 'FEAT_ENABLED',
    });
  });

  it.each(['yes', '0', '1'])('an inverted kill switch holding %j -> off, INVALID_FLAGS', (value) => {
    const flags: FlagNames = { enabled: { name: 'DISABLE_FEAT', inverted: true } };
    expect(evaluate('feat', {}, { env: { DISABLE_FEAT: value, FEAT_ROLES: '*', FEAT_PERCENT: '100' }, flags })).toMatchObject({
      enabled: false,
      reason: 'INVALID_FLAGS',
    });
  });

  it.each(['', ' ', 'abc', '101', '100.5', '100.001', '-1', '-0', 'NaN', 'Infinity', '50%', '0x10', '1,5', '5 5', '1e3', '1e1', '.5', '5.', '1e-7', '0.0001', '12.3456'])(
    'percent %j -> off, INVALID_FLAGS',
    (value) => {
      expect(evaluate('feat', { userId: ALWAYS_IN }, { env: feat('*', value) })).toEqual({
        enabled: false,
        reason: 'INVALID_FLAGS',
        variable: 'FEAT_PERCENT',
      });
    },
  );

  it.each([
    ['100', 100],
    ['100.0', 100],
    [' 50 ', 50],
    ['12.5', 12.5],
    ['0.5', 0.5],
    ['0.001', 0.001],
    ['12.3450', 12.345],
    ['007', 7],
  ])('percent %j parses as %d', (value, percent) => {
    expect(evaluate('feat', { userId: ALWAYS_IN }, { env: feat('*', value) })).toMatchObject({ enabled: true, percent });
  });

  it('a variable named like an Object.prototype member is missing, not a value', () => {
    expect(evaluate('feat', {}, { env: feat('*'), flags: { enabled: 'constructor' } })).toEqual({
      enabled: false,
      reason: 'MISSING_FLAGS',
      variable: 'constructor',
    });
  });
});

describe('percent edge cases', () => {
  it.each([
    ['0', { userId: ALWAYS_IN }, false, 'DISABLED'],
    ['0', {}, false, 'DISABLED'],
    ['100', {}, true, 'ENABLED_FOR_ALL'],
    ['100', { userId: '' }, true, 'ENABLED_FOR_ALL'],
    ['50', {}, false, 'MISSING_USER_ID'],
    ['50', { userId: '' }, false, 'MISSING_USER_ID'],
    ['99.99', {}, false, 'MISSING_USER_ID'],
    ['0.001', { userId: ALWAYS_IN }, true, 'INSIDE_PERCENT'],
    ['50', { userId: ALWAYS_IN }, true, 'INSIDE_PERCENT'],
  ] as const)('percent %s with %j -> %s (%s)', (percent, ctx, enabled, reason) => {
    expect(evaluate('feat', ctx, { env: feat('*', percent) })).toMatchObject({ enabled, reason, percent: Number(percent) });
  });

  it('percent 0 lets nobody in, whatever the bucket', () => {
    const env = feat('*', '0');
    for (let i = 0; i < 2000; i++) expect(isEnabled('feat', { userId: `user-${i}` }, { env })).toBe(false);
  });

  it('percent 100 lets everyone in, with or without a user id', () => {
    const env = feat('*', '100');
    for (let i = 0; i < 2000; i++) expect(isEnabled('feat', { userId: `user-${i}` }, { env })).toBe(true);
  });

  it('reports the bucket it compared', () => {
    const result = evaluate('feat', { userId: 'user-43474' }, { env: feat('*', '99.999') });
    expect(result).toEqual({ enabled: false, reason: 'OUTSIDE_PERCENT', bucket: 99.999, percent: 99.999 });
    expect(evaluate('feat', { userId: ALWAYS_IN }, { env: feat('*', '0.001') })).toEqual({ enabled: true, reason: 'INSIDE_PERCENT', bucket: 0, percent: 0.001 });
  });

  it('checks roles before the percentage', () => {
    expect(evaluate('feat', { role: 'pm', userId: ALWAYS_IN }, { env: feat('admin', '50') })).toEqual({
      enabled: false,
      reason: 'ROLE_NOT_ALLOWED',
    });
  });
});

describe('sub-features', () => {
  const sub = (roles: string, percent = '100', enabled = 'true'): Record<string, string> => ({
    FEAT_LLM_ENABLED: enabled,
    FEAT_LLM_ROLES: roles,
    FEAT_LLM_PERCENT: percent,
  });

  const cases: [string, FlagEnv, FlagContext, FlagEvaluation][] = [
    ['parent and sub on', { ...feat('*'), ...sub('admin') }, { role: 'admin' }, { enabled: true, reason: 'TARGETED', percent: 100 }],
    ['parent off', { ...feat('*', '100', 'false'), ...sub('*') }, { role: 'admin' }, { enabled: false, reason: 'PARENT_DISABLED', parent: { enabled: false, reason: 'DISABLED' } }],
    ['parent not for this role', { ...feat('admin'), ...sub('*') }, { role: 'pm' }, { enabled: false, reason: 'PARENT_DISABLED', parent: { enabled: false, reason: 'ROLE_NOT_ALLOWED' } }],
    ['parent at 0 %', { ...feat('*', '0'), ...sub('*') }, { userId: ALWAYS_IN }, { enabled: false, reason: 'PARENT_DISABLED', parent: { enabled: false, reason: 'DISABLED', percent: 0 } }],
    ['parent variables missing: the parent’s error, not a silent off', sub('*'), { role: 'admin' }, { enabled: false, reason: 'MISSING_FLAGS', variable: 'FEAT_ENABLED', decidedBy: 'feat' }],
    ['parent malformed', { ...feat('*', 'x'), ...sub('*') }, {}, { enabled: false, reason: 'INVALID_FLAGS', variable: 'FEAT_PERCENT', decidedBy: 'feat' }],
    ['parent split, no user id', { ...feat('*', '50'), ...sub('*') }, {}, { enabled: false, reason: 'MISSING_USER_ID', percent: 50, decidedBy: 'feat' }],
    ['parent on, sub off', { ...feat('*'), ...sub('', '0', 'false') }, { role: 'admin' }, { enabled: false, reason: 'DISABLED' }],
    ['parent on, sub missing', feat('*'), { role: 'admin' }, { enabled: false, reason: 'MISSING_FLAGS', variable: 'FEAT_LLM_ENABLED' }],
    ['parent on, sub for another role', { ...feat('*'), ...sub('admin') }, { role: 'pm' }, { enabled: false, reason: 'ROLE_NOT_ALLOWED' }],
  ];
  it.each(cases)('%s', (_name, env, ctx, expected) => {
    expect(evaluate('feat.llm', ctx, { env })).toEqual(expected);
  });

  it('reads the parent through parentFlags', () => {
    const parentFlags: FlagNames = { enabled: { name: 'KILL_FEAT', inverted: true }, roles: 'WHO', percent: 'SHARE' };
    const env = { KILL_FEAT: 'false', WHO: '*', SHARE: '100', ...sub('*') };
    expect(isEnabled('feat.llm', {}, { env, parentFlags })).toBe(true);
    expect(evaluate('feat.llm', {}, { env: { ...env, KILL_FEAT: 'true' }, parentFlags })).toMatchObject({ enabled: false, reason: 'PARENT_DISABLED' });
    expect(evaluate('feat.llm', {}, { env })).toMatchObject({ enabled: false, reason: 'MISSING_FLAGS', variable: 'FEAT_ENABLED', decidedBy: 'feat' });
  });

  it('a reader finds the parent names in its flags map', () => {
    const reader = createFlagReader({
      env: { KILL_FEAT: 'true', WHO: '*', SHARE: '100', LLM_ON: 'true', LLM_WHO: '*', LLM_SHARE: '100' },
      flags: {
        feat: { enabled: { name: 'KILL_FEAT', inverted: true }, roles: 'WHO', percent: 'SHARE' },
        'feat.llm': { enabled: 'LLM_ON', roles: 'LLM_WHO', percent: 'LLM_SHARE' },
      },
    });
    expect(reader.evaluate('feat.llm', {})).toEqual({ enabled: false, reason: 'PARENT_DISABLED', parent: { enabled: false, reason: 'DISABLED' } });
    expect(reader.evaluate('feat', {})).toEqual({ enabled: false, reason: 'DISABLED' });
  });

  it('needs the parent for the same user: parent and sub-feature percentages bucket the user independently', () => {
    const env = { ...feat('*', '50'), ...sub('*', '100') };
    let parentOn = 0;
    for (let i = 0; i < 1000; i++) {
      const ctx = { userId: `user-${i}` };
      const parent = isEnabled('feat', ctx, { env });
      if (parent) parentOn++;
      expect(isEnabled('feat.llm', ctx, { env })).toBe(parent);
    }
    expect(parentOn).toBeGreaterThan(0);
    expect(parentOn).toBeLessThan(1000);
  });
});

describe('createFlagReader', () => {
  it('evaluates like evaluate() with the same names', () => {
    const flags: FlagNames = { enabled: { name: 'DISABLE_FEAT', inverted: true } };
    const env = { DISABLE_FEAT: 'false', FEAT_ROLES: 'admin,pm', FEAT_PERCENT: '30' };
    const reader = createFlagReader({ env, flags: { feat: flags } });
    for (let i = 0; i < 500; i++) {
      const ctx = { role: i % 3 === 0 ? 'developer' : 'pm', userId: `user-${i}` };
      expect(reader.evaluate('feat', ctx)).toEqual(evaluate('feat', ctx, { env, flags }));
      expect(reader.isEnabled('feat', ctx)).toBe(reader.evaluate('feat', ctx).enabled);
    }
  });

  it('sees a changed value in the same environment object', () => {
    const env: Record<string, string> = feat('*');
    const reader = createFlagReader({ env });
    expect(reader.isEnabled('feat')).toBe(true);
    env.FEAT_ENABLED = 'false';
    expect(reader.isEnabled('feat')).toBe(false);
    env.FEAT_ENABLED = 'true';
    env.FEAT_ROLES = 'admin';
    expect(reader.evaluate('feat', { role: 'pm' }).reason).toBe('ROLE_NOT_ALLOWED');
  });

  it('keeps environments apart: equal names, different objects, different answers', () => {
    const on = createFlagReader({ env: feat('*') });
    const off = createFlagReader({ env: feat('*', '100', 'false') });
    expect([on.isEnabled('feat'), off.isEnabled('feat'), on.isEnabled('feat')]).toEqual([true, false, true]);
  });

  it('reads process.env by default, and follows it when it changes', () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { RUNTIME_TEST_FEATURE_ENABLED: 'true', RUNTIME_TEST_FEATURE_ROLES: 'pm', RUNTIME_TEST_FEATURE_PERCENT: '100' });
      const reader = createFlagReader();
      expect(reader.isEnabled('runtime-test-feature', { role: 'pm' })).toBe(true);
      expect(isEnabled('runtime-test-feature', { role: 'pm' })).toBe(true);
      process.env.RUNTIME_TEST_FEATURE_ENABLED = 'false';
      expect(reader.isEnabled('runtime-test-feature', { role: 'pm' })).toBe(false);
      expect(isEnabled('runtime-test-feature', { role: 'pm' })).toBe(false);
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it('reads the manifest and the three variables of a feature (twice that for a sub-feature) and never scans the environment', () => {
    const reads: string[] = [];
    let scans = 0;
    const env = new Proxy(
      { ...feat('*', '50'), FEAT_LLM_ENABLED: 'true', FEAT_LLM_ROLES: '*', FEAT_LLM_PERCENT: '100' },
      {
        get: (target, name, receiver) => {
          reads.push(String(name));
          return Reflect.get(target, name, receiver);
        },
        ownKeys: (target) => {
          scans++;
          return Reflect.ownKeys(target);
        },
      },
    );
    const reader = createFlagReader({ env });
    reader.isEnabled('feat', { userId: ALWAYS_IN });
    expect(reads.sort()).toEqual(['FEAT_ENABLED', 'FEAT_PERCENT', 'FEAT_ROLES', 'PHASEGATE_MANIFEST_FEAT']);
    reads.length = 0;
    reader.isEnabled('feat.llm', { userId: ALWAYS_IN });
    expect(reads).toHaveLength(8);
    reads.length = 0;
    createFlagReader({ env, flags: { feat: {} } }).isEnabled('feat', { userId: ALWAYS_IN });
    expect(reads.sort()).toEqual(['FEAT_ENABLED', 'FEAT_PERCENT', 'FEAT_ROLES']); // names from the caller: no manifest
    expect(scans).toBe(0);
  });
});

describe('names from the feature’s manifest', () => {
  const manifest = '{"v":1,"e":"!KILL_FEAT","r":"WHO","s":{"llm":{"e":"LLM_ON","c":"LLM_CAP"}}}';
  const env = (): Record<string, string> => ({
    PHASEGATE_MANIFEST_FEAT: manifest,
    KILL_FEAT: 'false',
    WHO: 'pm',
    FEAT_PERCENT: '100',
    LLM_ON: 'true',
    FEAT_LLM_ROLES: '*',
    FEAT_LLM_PERCENT: '100',
  });

  it('reads the names the manifest gives, defaults for the rest, in evaluate() and in a reader', () => {
    expect(evaluate('feat', { role: 'pm' }, { env: env() })).toEqual({ enabled: true, reason: 'TARGETED', percent: 100 });
    expect(evaluate('feat.llm', { role: 'pm' }, { env: env() })).toEqual({ enabled: true, reason: 'ENABLED_FOR_ALL', percent: 100 });
    const reader = createFlagReader({ env: env() });
    expect(reader.isEnabled('feat', { role: 'pm' })).toBe(true);
    expect(reader.isEnabled('feat.llm', { role: 'pm' })).toBe(true);
    expect(reader.isEnabled('feat', { role: 'admin' })).toBe(false);
  });

  it('lets names from the caller win over the manifest', () => {
    const e = { ...env(), FEAT_ENABLED: 'false', FEAT_ROLES: '*' };
    expect(evaluate('feat', { role: 'pm' }, { env: e, flags: {} })).toEqual({ enabled: false, reason: 'DISABLED' });
    expect(createFlagReader({ env: e, flags: { feat: {} } }).evaluate('feat', { role: 'pm' })).toEqual({ enabled: false, reason: 'DISABLED' });
  });

  it('follows a manifest that changes in the same environment object', () => {
    const e = env();
    const reader = createFlagReader({ env: e });
    expect(reader.isEnabled('feat', { role: 'pm' })).toBe(true);
    e.PHASEGATE_MANIFEST_FEAT = '{"v":1,"e":"!KILL_FEAT","r":"OTHER_WHO"}';
    e.OTHER_WHO = 'admin';
    expect(reader.isEnabled('feat', { role: 'pm' })).toBe(false);
    expect(reader.isEnabled('feat', { role: 'admin' })).toBe(true);
  });

  it.each(['not json', '[]', '{"v":2}', '{"v":"1"}', '{"v":1,"e":7}', '{"v":1,"e":"!"}', '{"v":1,"p":"A B"}', '{"v":1,"s":[]}', '{"v":1,"s":{"llm":"LLM_ON"}}'])(
    'a malformed manifest %j fails closed, naming it, for the feature and its sub-features',
    (raw) => {
      const e = { ...env(), PHASEGATE_MANIFEST_FEAT: raw };
      expect(evaluate('feat', { role: 'pm' }, { env: e })).toEqual({ enabled: false, reason: 'INVALID_FLAGS', variable: 'PHASEGATE_MANIFEST_FEAT' });
      expect(createFlagReader({ env: e }).isEnabled('feat.llm', { role: 'pm' })).toBe(false);
      expect(createFlagReader({ env: e }).evaluate('feat.llm', { role: 'pm' })).toEqual({
        enabled: false,
        reason: 'INVALID_FLAGS',
        variable: 'PHASEGATE_MANIFEST_FEAT',
        decidedBy: 'feat',
      });
    },
  );

  it('treats a sub-feature id such as __proto__ as a plain key', () => {
    const e = { PHASEGATE_MANIFEST_FEAT: '{"v":1,"s":{"__proto__":{"e":"PROTO_ON"}}}', ...feat('*'), PROTO_ON: 'true', FEAT_PROTO__ROLES: '*', FEAT_PROTO__PERCENT: '100' };
    expect(evaluate('feat.__proto__', {}, { env: e })).toEqual({ enabled: true, reason: 'ENABLED_FOR_ALL', percent: 100 });
  });
});
