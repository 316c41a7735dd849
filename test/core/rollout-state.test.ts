import fc from 'fast-check';
import { ConflictError, RolloutActiveError, StaleExecutionError } from '../../lambdas/core/errors';
import {
  ROLLOUT_STATUSES,
  SYSTEM_ACTOR,
  approvalGranted,
  approvalRequested,
  assertOwnedBy,
  beginPhase,
  canRollBack,
  gateEvaluated,
  isTerminal,
  phaseApplied,
  phaseName,
  rollbackFinished,
  rollbackProgressed,
  rollbackStarted,
  rolloutCompleted,
  startRollout,
  type Actor,
  type RolloutState,
  type RolloutStatus,
  type Transition,
} from '../../lambdas/core/rollout/rollout-state';
import { examplePlan } from './example-plans';

const PLAN = examplePlan('ux-update', 'dev'); // five phases, each needing approval by pm or admin
const NO_APPROVAL_PLAN = examplePlan('cohort-analyzer', 'dev'); // canary needs no approval
const PM: Actor = { id: 'discord-42', name: 'Pat', via: 'discord' };
const EXEC = 'arn:aws:states:us-east-1:123456789012:execution:phasegate:run-1';
const OTHER_EXEC = 'arn:aws:states:us-east-1:123456789012:execution:phasegate:run-2';

let clock = 0;
/** A fresh, strictly increasing timestamp. */
const at = (): string => new Date(Date.UTC(2025, 0, 1) + ++clock * 1000).toISOString();

/** The state a transition produced, failing the test when it was a no-op. */
const next = (transition: Transition | null): RolloutState => {
  if (!transition) throw new Error('expected a transition, got a no-op');
  return transition.next;
};

const started = (plan = PLAN, executionId = EXEC): RolloutState =>
  next(startRollout(undefined, { plan, stage: 'dev', executionId, actor: PM, at: at() }));

/** Runs phase `index` from begin to approval granted (or to the gate when the phase needs no approval). */
function throughPhase(state: RolloutState, index: number): RolloutState {
  let s = next(beginPhase(state, index, at()));
  s = next(phaseApplied(s, index, at(), { targets: 1 }));
  s = gateEvaluated(s, index, at(), 'proceed', []).next;
  if (!s.plan.phases[index]!.approval.required) return s;
  s = next(approvalRequested(s, index, at()));
  return approvalGranted(s, index, at(), PM).next;
}

const atPhase = (index: number, plan = PLAN): RolloutState => {
  let s = started(plan);
  for (let i = 0; i < index; i++) s = throughPhase(s, i);
  return s;
};

/** A state with `changes` applied directly, for setting up situations. */
const withState = (state: RolloutState, changes: Partial<RolloutState>): RolloutState => ({ ...state, ...changes });

/** Every transition keeps the same bookkeeping: one version up, the event describing exactly the change. */
function expectWellFormed(before: RolloutState, transition: Transition, when: string): void {
  const { next: after, event } = transition;
  expect(after.version).toBe(before.version + 1);
  expect(event.version).toBe(after.version);
  expect(after.lastEvent).toEqual(event);
  expect(after.updatedAt).toBe(when);
  expect(event.at).toBe(when);
  expect(event.feature).toBe(before.feature);
  expect(event.executionId).toBe(after.executionId);
  expect(event.fromPhase).toBe(phaseName(before.plan, before.phaseIndex));
  expect(event.toPhase).toBe(phaseName(after.plan, after.phaseIndex));
  expect(event.fromStatus).toBe(before.status);
  expect(event.toStatus).toBe(after.status);
  expect(event.message).not.toBe('');
}

describe('statuses', () => {
  it.each([
    ['RUNNING', false, true],
    ['AWAITING_APPROVAL', false, true],
    ['COMPLETED', true, true],
    ['ROLLING_BACK', false, false],
    ['ROLLED_BACK', true, false],
    ['ROLLBACK_FAILED', true, true],
  ] as const)('%s: terminal %s, can roll back %s', (status, terminal, rollBack) => {
    expect(isTerminal(status)).toBe(terminal);
    expect(canRollBack(status)).toBe(rollBack);
  });

  it('the table above covers every status', () => {
    expect([...ROLLOUT_STATUSES].sort()).toEqual(['AWAITING_APPROVAL', 'COMPLETED', 'ROLLBACK_FAILED', 'ROLLED_BACK', 'ROLLING_BACK', 'RUNNING']);
  });
});

describe('startRollout', () => {
  it('starts a fresh rollout at version 1, before the first phase', () => {
    const when = at();
    const transition = startRollout(undefined, { plan: PLAN, stage: 'dev', executionId: EXEC, actor: PM, at: when })!;
    expect(transition.next).toEqual({
      feature: 'ux-update',
      stage: 'dev',
      status: 'RUNNING',
      step: 'starting',
      phaseIndex: -1,
      executionId: EXEC,
      version: 1,
      plan: PLAN,
      startedAt: when,
      startedBy: PM,
      updatedAt: when,
      lastEvent: transition.event,
    });
    expect(transition.event).toEqual({
      feature: 'ux-update',
      at: when,
      actor: PM,
      action: 'rollout-started',
      executionId: EXEC,
      fromPhase: null,
      toPhase: null,
      toStatus: 'RUNNING',
      version: 1,
      message: 'rollout of ux-update started on dev: admin -> pm -> developer -> llm-canary -> ga',
    });
  });

  it.each(['COMPLETED', 'ROLLED_BACK', 'ROLLBACK_FAILED'] as const)('starts again after a %s rollout, one version up', (status) => {
    const previous = withState(atPhase(2), { status, version: 7, reason: 'old' });
    const transition = startRollout(previous, { plan: PLAN, stage: 'dev', executionId: OTHER_EXEC, actor: PM, at: at() })!;
    expect(transition.next).toMatchObject({ status: 'RUNNING', step: 'starting', phaseIndex: -1, executionId: OTHER_EXEC, version: 8 });
    expect(transition.next).not.toHaveProperty('reason');
    expect(transition.next).not.toHaveProperty('lastGate');
    expect(transition.event).toMatchObject({ fromStatus: status, toStatus: 'RUNNING', version: 8, fromPhase: null, toPhase: null });
  });

  it.each(['RUNNING', 'AWAITING_APPROVAL', 'ROLLING_BACK'] as const)('refuses while another execution’s rollout is %s', (status) => {
    const previous = withState(atPhase(1), { status });
    let error: unknown;
    try {
      startRollout(previous, { plan: PLAN, stage: 'dev', executionId: OTHER_EXEC, actor: PM, at: at() });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RolloutActiveError);
    expect(error).toMatchObject({ name: 'PhasegateRolloutActiveError', feature: 'ux-update', activeExecutionId: EXEC });
  });

  it.each([...ROLLOUT_STATUSES])('a retried start by the same execution is a no-op (%s)', (status) => {
    const previous = withState(atPhase(1), { status });
    expect(startRollout(previous, { plan: PLAN, stage: 'dev', executionId: EXEC, actor: PM, at: at() })).toBeNull();
  });
});

describe('beginPhase', () => {
  it('enters the first phase from the start', () => {
    const s = started();
    const when = at();
    const transition = beginPhase(s, 0, when)!;
    expectWellFormed(s, transition, when);
    expect(transition.next).toMatchObject({ status: 'RUNNING', step: 'applying', phaseIndex: 0 });
    expect(transition.event).toMatchObject({ action: 'phase-started', actor: SYSTEM_ACTOR, fromPhase: null, toPhase: 'admin' });
    expect(transition.event.message).toBe('phase admin started: roles admin, 100% of them, bake PT10M');
  });

  it('enters the next phase once the previous one is approved, and clears its gate', () => {
    const s = atPhase(1);
    expect(s.lastGate).toBeDefined();
    const transition = beginPhase(s, 1, at())!;
    expect(transition.next).toMatchObject({ phaseIndex: 1, step: 'applying', status: 'RUNNING' });
    expect(transition.next.lastGate).toBeUndefined();
    expect(transition.event).toMatchObject({ fromPhase: 'admin', toPhase: 'pm' });
  });

  it('enters the next phase after the gate when the phase needs no approval', () => {
    const s = atPhase(1, NO_APPROVAL_PLAN);
    expect(s.step).toBe('gating');
    expect(next(beginPhase(s, 1, at()))).toMatchObject({ phaseIndex: 1, step: 'applying' });
  });

  it.each(['applying', 'baking', 'gating', 'approved'] as const)('a retry inside the phase (step %s) is a no-op', (step) => {
    const s = withState(next(beginPhase(started(), 0, at())), { step });
    expect(beginPhase(s, 0, at())).toBeNull();
  });

  it.each([
    [-1, 1, 'skipping the first phase'],
    [-1, 4, 'jumping to the last phase'],
    [0, 2, 'skipping a phase'],
    [2, 1, 'going back a phase'],
    [3, 0, 'going back to the start'],
  ])('refuses from phase %d to phase %d (%s) with ConflictError', (from, to) => {
    const s = from === -1 ? started() : withState(atPhase(from + 1), { phaseIndex: from });
    expect(() => beginPhase(s, to, at())).toThrow(ConflictError);
  });

  it('refuses a phase past the last one', () => {
    expect(() => beginPhase(withState(atPhase(5), { step: 'approved' }), 5, at())).toThrow(RangeError);
  });

  it('refuses the next phase while the current one waits for approval', () => {
    let s = next(beginPhase(started(), 0, at()));
    s = next(phaseApplied(s, 0, at(), {}));
    s = gateEvaluated(s, 0, at(), 'proceed', []).next;
    s = next(approvalRequested(s, 0, at()));
    expect(s.status).toBe('AWAITING_APPROVAL');
    expect(() => beginPhase(s, 1, at())).toThrow(ConflictError);
  });

  it('refuses the next phase when the current one needs approval and has none yet', () => {
    let s = next(beginPhase(started(), 0, at()));
    s = next(phaseApplied(s, 0, at(), {}));
    s = gateEvaluated(s, 0, at(), 'proceed', []).next;
    expect(PLAN.phases[0]!.approval.required).toBe(true);
    expect(() => beginPhase(s, 1, at())).toThrow(ConflictError);
  });
});

describe('phaseApplied', () => {
  it('moves from applying to baking with the write’s detail', () => {
    const s = next(beginPhase(started(), 0, at()));
    const when = at();
    const transition = phaseApplied(s, 0, when, { targets: ['valine-orchestrator-discord-dev'] })!;
    expectWellFormed(s, transition, when);
    expect(transition.next.step).toBe('baking');
    expect(transition.event).toMatchObject({ action: 'flags-applied', detail: { targets: ['valine-orchestrator-discord-dev'] } });
    expect(transition.event.message).toBe('flags of phase admin written to 1 target(s)');
  });

  it('a retry after the bake began is a no-op', () => {
    const s = next(phaseApplied(next(beginPhase(started(), 0, at())), 0, at(), {}));
    expect(phaseApplied(s, 0, at(), {})).toBeNull();
  });

  it('refuses another phase', () => {
    expect(() => phaseApplied(next(beginPhase(started(), 0, at())), 1, at(), {})).toThrow(ConflictError);
  });
});

describe('gateEvaluated', () => {
  it('records the decision and its reasons', () => {
    const s = next(phaseApplied(next(beginPhase(started(), 0, at())), 0, at(), {}));
    const when = at();
    const transition = gateEvaluated(s, 0, when, 'hold', ['error rate 0.7 % between 0.5 % and 1 %']);
    expectWellFormed(s, transition, when);
    expect(transition.next).toMatchObject({ step: 'gating', lastGate: { decision: 'hold', reasons: ['error rate 0.7 % between 0.5 % and 1 %'], at: when } });
    expect(transition.event).toMatchObject({ action: 'gate-evaluated', detail: { decision: 'hold', reasons: ['error rate 0.7 % between 0.5 % and 1 %'] } });
    expect(transition.event.message).toBe('gate of phase admin: hold (error rate 0.7 % between 0.5 % and 1 %)');
  });

  it('refuses another phase', () => {
    expect(() => gateEvaluated(next(beginPhase(started(), 0, at())), 2, at(), 'proceed', [])).toThrow(ConflictError);
  });
});

describe('approvals', () => {
  const gated = (): RolloutState => gateEvaluated(next(phaseApplied(next(beginPhase(started(), 0, at())), 0, at(), {})), 0, at(), 'proceed', []).next;

  it('approvalRequested waits for the phase’s approvers', () => {
    const s = gated();
    const when = at();
    const transition = approvalRequested(s, 0, when)!;
    expectWellFormed(s, transition, when);
    expect(transition.next).toMatchObject({ status: 'AWAITING_APPROVAL', step: 'awaiting-approval' });
    expect(transition.event).toMatchObject({ action: 'approval-requested', fromStatus: 'RUNNING', toStatus: 'AWAITING_APPROVAL' });
    expect(transition.event.message).toBe('phase admin waits for approval by pm or admin');
  });

  it('approvalRequested again is a no-op; for another phase a conflict', () => {
    const s = next(approvalRequested(gated(), 0, at()));
    expect(approvalRequested(s, 0, at())).toBeNull();
    expect(() => approvalRequested(gated(), 1, at())).toThrow(ConflictError);
  });

  it('approvalGranted resumes the rollout in the person’s name', () => {
    const s = next(approvalRequested(gated(), 0, at()));
    const when = at();
    const transition = approvalGranted(s, 0, when, PM, 'looks good');
    expectWellFormed(s, transition, when);
    expect(transition.next).toMatchObject({ status: 'RUNNING', step: 'approved', phaseIndex: 0 });
    expect(transition.event).toMatchObject({ action: 'approved', actor: PM, detail: { note: 'looks good' } });
    expect(transition.event.message).toBe('Pat approved phase admin: looks good');
    expect(approvalGranted(s, 0, at(), { id: 'u-9', via: 'cli' }).event).not.toHaveProperty('detail');
  });

  it('approvalGranted refuses when nothing waits, or another phase waits', () => {
    expect(() => approvalGranted(gated(), 0, at(), PM)).toThrow(ConflictError);
    const waiting = next(approvalRequested(gated(), 0, at()));
    expect(() => approvalGranted(waiting, 1, at(), PM)).toThrow(ConflictError);
    const approved = approvalGranted(waiting, 0, at(), PM).next;
    expect(() => approvalGranted(approved, 0, at(), PM)).toThrow(ConflictError);
  });
});

describe('rolloutCompleted', () => {
  it('completes after the last phase', () => {
    const s = atPhase(5);
    const when = at();
    const transition = rolloutCompleted(s, when)!;
    expectWellFormed(s, transition, when);
    expect(transition.next).toMatchObject({ status: 'COMPLETED', step: 'done', phaseIndex: 4 });
    expect(transition.event).toMatchObject({ action: 'rollout-completed', fromPhase: 'ga', toPhase: 'ga', toStatus: 'COMPLETED' });
    expect(isTerminal(transition.next.status)).toBe(true);
  });

  it.each([0, 1, 2, 3, 4])('refuses with ConflictError after %d of five phases', (done) => {
    const s = done === 0 ? started() : atPhase(done);
    expect(() => rolloutCompleted(s, at())).toThrow(ConflictError);
  });

  it('a retry once completed is a no-op', () => {
    expect(rolloutCompleted(next(rolloutCompleted(atPhase(5), at())), at())).toBeNull();
  });
});

describe('rollback', () => {
  it.each(['RUNNING', 'AWAITING_APPROVAL', 'COMPLETED', 'ROLLBACK_FAILED'] as const)('starts from %s', (status) => {
    const s = withState(atPhase(2), { status });
    const when = at();
    const transition = rollbackStarted(s, when, PM, 'error rate 2 % above 1 %')!;
    expectWellFormed(s, transition, when);
    expect(transition.next).toMatchObject({ status: 'ROLLING_BACK', step: 'done', reason: 'error rate 2 % above 1 %', phaseIndex: 1 });
    expect(transition.event).toMatchObject({ action: 'rollback-started', actor: PM, fromStatus: status, toStatus: 'ROLLING_BACK' });
    expect(transition.event.message).toBe('rollback of ux-update by Pat: error rate 2 % above 1 %');
    expect(transition.next).not.toHaveProperty('safeFlags');
  });

  it('records the safe flag values it will write, so a racing step can restore them', () => {
    const safeFlags = { DISABLE_UX_UPDATES: 'true', UX_UPDATE_ROLES: '', UX_UPDATE_PERCENT: '0' };
    const transition = rollbackStarted(atPhase(1), at(), SYSTEM_ACTOR, 'gate', safeFlags)!;
    expect(transition.next.safeFlags).toEqual(safeFlags);
    expect(transition.event.message).toBe('rollback of ux-update by Phasegate: gate');
  });

  it.each(['ROLLING_BACK', 'ROLLED_BACK'] as const)('is idempotent: a second rollbackStarted on %s is a no-op', (status) => {
    const first = next(rollbackStarted(atPhase(1), at(), SYSTEM_ACTOR, 'gate'));
    expect(rollbackStarted(withState(first, { status }), at(), PM, 'again')).toBeNull();
  });

  it('finishes ok: every target safe', () => {
    const s = next(rollbackStarted(atPhase(2), at(), SYSTEM_ACTOR, 'alarm'));
    const when = at();
    const transition = rollbackFinished(s, when, { ok: true, detail: { targets: 1 } })!;
    expectWellFormed(s, transition, when);
    expect(transition.next.status).toBe('ROLLED_BACK');
    expect(transition.next.reason).toBe('alarm');
    expect(transition.event).toMatchObject({ action: 'rolled-back', detail: { targets: 1 }, toStatus: 'ROLLED_BACK' });
  });

  it('finishes failed: names the targets it could not write', () => {
    const s = next(rollbackStarted(atPhase(2), at(), SYSTEM_ACTOR, 'alarm'));
    const transition = rollbackFinished(s, at(), { ok: false, failedTargets: ['fn-a', 'fn-b'], detail: {} })!;
    expect(transition.next.status).toBe('ROLLBACK_FAILED');
    expect(transition.event).toMatchObject({ action: 'rollback-failed', toStatus: 'ROLLBACK_FAILED' });
    expect(transition.event.message).toBe('ROLLBACK FAILED for ux-update: could not make safe fn-a, fn-b');
  });

  it('the recorded status follows the targets: ROLLBACK_FAILED becomes ROLLED_BACK when a later attempt makes every target safe', () => {
    const t = rollbackFinished(withState(atPhase(1), { status: 'ROLLBACK_FAILED' }), at(), { ok: true, detail: {} })!;
    expect(t.next.status).toBe('ROLLED_BACK');
    expect(t.event).toMatchObject({ action: 'rolled-back', fromStatus: 'ROLLBACK_FAILED', toStatus: 'ROLLED_BACK' });
  });

  it('a rollback that ran out of time records its progress and stays ROLLING_BACK; nothing else does', () => {
    const progress = { attempt: 0, elapsedMs: 250_000, safeTargets: ['fn-a'], pendingTargets: [{ functionName: 'fn-b', error: 'update in progress' }] };
    const t = rollbackProgressed(withState(atPhase(1), { status: 'ROLLING_BACK' }), at(), progress)!;
    expect(t.next).toMatchObject({ status: 'ROLLING_BACK', rollbackProgress: progress });
    expect(t.event).toMatchObject({ action: 'rollback-in-progress', message: expect.stringContaining('not yet fn-b (update in progress)') });
    expect(rollbackProgressed(withState(atPhase(1), { status: 'ROLLED_BACK' }), at(), progress)).toBeNull();
    // Finishing clears it.
    expect(rollbackFinished(t.next, at(), { ok: true, detail: {} })!.next.rollbackProgress).toBeUndefined();
  });

  it.each(['RUNNING', 'AWAITING_APPROVAL', 'COMPLETED', 'ROLLED_BACK'] as const)(
    'rollbackFinished on %s is a no-op',
    (status) => {
      expect(rollbackFinished(withState(atPhase(1), { status }), at(), { ok: true, detail: {} })).toBeNull();
    },
  );

  it('a failed rollback can be started again and finish', () => {
    let s = next(rollbackStarted(atPhase(2), at(), SYSTEM_ACTOR, 'alarm'));
    s = next(rollbackFinished(s, at(), { ok: false, failedTargets: ['fn-a'], detail: {} }));
    s = next(rollbackStarted(s, at(), PM, 'retry after fixing permissions'));
    expect(next(rollbackFinished(s, at(), { ok: true, detail: {} })).status).toBe('ROLLED_BACK');
  });
});

describe('assertOwnedBy', () => {
  it.each(['RUNNING', 'AWAITING_APPROVAL'] as const)('returns the state to its own execution while %s', (status) => {
    const s = withState(atPhase(1), { status });
    expect(assertOwnedBy(s, 'ux-update', EXEC)).toBe(s);
  });

  const stale: [string, RolloutState | undefined, string][] = [
    ['no state', undefined, EXEC],
    ['another execution', started(PLAN, OTHER_EXEC), EXEC],
    ...(['COMPLETED', 'ROLLED_BACK', 'ROLLBACK_FAILED', 'ROLLING_BACK'] as RolloutStatus[]).map(
      (status): [string, RolloutState, string] => [status, withState(started(), { status }), EXEC],
    ),
  ];
  it.each(stale)('throws StaleExecutionError: %s', (_what, state, executionId) => {
    let error: unknown;
    try {
      assertOwnedBy(state, 'ux-update', executionId);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StaleExecutionError);
    expect((error as Error).name).toBe('PhasegateStaleExecutionError');
  });
});

describe('a whole rollout', () => {
  it('takes one version per transition and describes each one in its event', () => {
    let s = started();
    const versions = [s.version];
    const step = (transition: Transition | null): void => {
      if (!transition) throw new Error('unexpected no-op');
      expectWellFormed(s, transition, transition.event.at);
      s = transition.next;
      versions.push(s.version);
    };
    PLAN.phases.forEach((_, i) => {
      step(beginPhase(s, i, at()));
      step(phaseApplied(s, i, at(), {}));
      step(gateEvaluated(s, i, at(), 'proceed', []));
      step(approvalRequested(s, i, at()));
      step(approvalGranted(s, i, at(), PM));
    });
    step(rolloutCompleted(s, at()));
    expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
    expect(s.status).toBe('COMPLETED');
  });

  it('any sequence of calls keeps the bookkeeping: one version per transition, no-ops change nothing', () => {
    type Op = (s: RolloutState, phase: number) => Transition | null;
    const ops: Record<string, Op> = {
      begin: (s, p) => beginPhase(s, p, at()),
      applied: (s, p) => phaseApplied(s, p, at(), {}),
      gate: (s, p) => gateEvaluated(s, p, at(), 'proceed', []),
      request: (s, p) => approvalRequested(s, p, at()),
      approve: (s, p) => approvalGranted(s, p, at(), PM),
      complete: (s) => rolloutCompleted(s, at()),
      rollback: (s) => rollbackStarted(s, at(), SYSTEM_ACTOR, 'random'),
      finishOk: (s) => rollbackFinished(s, at(), { ok: true, detail: {} }),
      finishFailed: (s) => rollbackFinished(s, at(), { ok: false, failedTargets: ['fn'], detail: {} }),
    };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...Object.keys(ops)), fc.integer({ min: -1, max: 5 })), { maxLength: 40 }),
        (calls) => {
          let s = started();
          for (const [name, phase] of calls) {
            const before = structuredClone(s);
            let transition: Transition | null;
            try {
              transition = ops[name]!(s, phase);
            } catch (err) {
              expect(err).toEqual(expect.any(Error));
              expect(s).toEqual(before);
              continue;
            }
            expect(s).toEqual(before);
            if (transition === null) continue;
            expectWellFormed(s, transition, transition.event.at);
            s = transition.next;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
