import { authorize, rolesFromDiscord } from '../../lambdas/core/rollout/authorize';
import type { PhasegateRole } from '../../lambdas/core/plan/schema';
import { applyHoldRules } from '../../lambdas/core/rollout/steps';
import { holdPolicy } from '../../lambdas/core/rollout/hold';
import { threePhasePlan } from '../support/plans';

const person = (...roles: PhasegateRole[]) => ({ id: 'u1', roles });

describe('authorize', () => {
  it.each([
    ['start', ['pm'], true],
    ['start', ['admin'], true],
    ['start', ['developer'], false],
    ['pause', ['pm'], true],
    ['resume', ['on-call'], false],
    ['rollback', ['on-call'], true],
    ['rollback', ['admin'], true],
    ['rollback', ['pm'], false],
    ['set-budget', ['admin'], true],
    ['set-budget', ['pm'], false],
  ] as const)('%s by %p -> %p', (action, roles, ok) => {
    const result = authorize(action, person(...roles));
    expect(result.ok).toBe(ok);
    if (!result.ok) expect(result.reason).toMatch(/^only .* may .*; you hold/);
  });

  it('gives approve and reject to the phase approvers only', () => {
    const phase = threePhasePlan().phases[0]!;
    expect(authorize('approve', person('pm'), { phase }).ok).toBe(true);
    expect(authorize('reject', person('admin'), { phase })).toEqual({ ok: false, reason: 'only pm may reject phase admin; you hold admin' });
    expect(authorize('approve', person(), { phase })).toMatchObject({ ok: false, reason: expect.stringContaining('you hold no Phasegate role') });
    expect(authorize('approve', person('pm'))).toMatchObject({ ok: false });
  });

  it('keeps the starter from approving when the plan separates the duties', () => {
    const phase = { ...threePhasePlan().phases[0]!, approval: { required: true, approvers: ['pm' as const], starterMayApprove: false } };
    expect(authorize('approve', person('pm'), { phase, startedBy: 'u1' })).toMatchObject({ ok: false, reason: expect.stringContaining('started the rollout') });
    expect(authorize('approve', person('pm'), { phase, startedBy: 'someone-else' }).ok).toBe(true);
  });

  it('maps Discord roles to Phasegate roles through the plan', () => {
    const plan = { discord: { roles: { '111111111111111111': ['pm' as const], '222222222222222222': ['on-call' as const, 'developer' as const] } } };
    expect(rolesFromDiscord(plan, ['222222222222222222', '999999999999999999', '111111111111111111']).sort()).toEqual(['developer', 'on-call', 'pm']);
    expect(rolesFromDiscord(plan, [])).toEqual([]);
    expect(rolesFromDiscord(plan, ['constructor', '__proto__', 'toString', 'hasOwnProperty'])).toEqual([]);
  });
});

describe('holds', () => {
  const at = '2026-11-02T12:00:00.000Z';
  const proceed = { decision: 'PROCEED' as const, reasons: ['fine'] };
  const hold = { decision: 'HOLD' as const, reasons: ['too few invocations'] };

  it('defaults to checking every bake (at most hourly) and asking after one more bake', () => {
    expect(holdPolicy({ bake: 'PT10M', gates: { alarms: [] } })).toEqual({ intervalSeconds: 600, maxSeconds: 600 });
    expect(holdPolicy({ bake: 'P2D', gates: { alarms: [] } })).toEqual({ intervalSeconds: 3600, maxSeconds: 172800 });
    expect(holdPolicy({ bake: 'P2D', gates: { alarms: [], hold: { interval: 'PT15M', max: 'PT6H' } } })).toEqual({ intervalSeconds: 900, maxSeconds: 21600 });
  });

  it('holds without limit while paused, but never hides a rollback', () => {
    const paused = { by: { id: 'u1', name: 'Pat' }, reason: 'waiting for the fix' };
    expect(applyHoldRules(proceed, { paused, now: at, maxHoldSeconds: 1 })).toEqual({ decision: 'HOLD', reasons: ['paused by Pat: waiting for the fix'], countsTowardLimit: false });
    expect(applyHoldRules({ decision: 'ROLLBACK', reasons: ['alarm'] }, { paused, now: at, maxHoldSeconds: 1 }).decision).toBe('ROLLBACK');
  });

  it('turns a hold that lasted the limit into ASK, and leaves shorter holds alone', () => {
    expect(applyHoldRules(hold, { holdingSince: '2026-11-02T11:50:00.000Z', now: at, maxHoldSeconds: 3600 }).decision).toBe('HOLD');
    const asked = applyHoldRules(hold, { holdingSince: '2026-11-02T11:00:00.000Z', now: at, maxHoldSeconds: 3600 });
    expect(asked.decision).toBe('ASK');
    expect(asked.reasons.at(-1)).toMatch(/held for 3600 s, the plan's limit/);
    expect(applyHoldRules(proceed, { holdingSince: '2026-11-01T00:00:00.000Z', now: at, maxHoldSeconds: 1 }).decision).toBe('PROCEED');
  });
});
