import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { ConflictError, PlanInvalidError, RefusedError } from '../../lambdas/core/errors';
import { optInToPhase } from '../../lambdas/core/rollout/operations';
import { parsePlan } from '../../lambdas/core/plan/validate';
import type { Plan } from '../../lambdas/core/plan/schema';
import {
  SYSTEM_ACTOR,
  beginPhase,
  optionalPhaseOptedIn,
  phaseRuns,
  phaseSkipped,
  phasesBetween,
  startRollout,
  type AuditEvent,
  type RolloutState,
  type Transition,
} from '../../lambdas/core/rollout/rollout-state';
import { nextPhaseStart, wallClock } from '../../lambdas/core/rollout/schedule';
import { parseStepPayload } from '../../lambdas/core/rollout/step-payload';
import { buildTestApp, definitionNamed } from '../lib/template-helpers';

const plan: Plan = parsePlan({
  feature: 'five',
  targets: ['five-api'],
  phases: [
    { name: 'one', roles: ['admin'], bake: 'PT1H' },
    { name: 'two', roles: ['admin', 'pm'], bake: 'PT1H' },
    { name: 'three', roles: ['admin'], bake: 'PT1H', optional: true },
    { name: 'four', roles: ['all'], bake: 'PT1H', start: { time: '09:00', timeZone: 'Europe/Berlin', days: ['fri'] } },
  ],
});
const at = '2026-03-02T10:00:00.000Z';
const start = (startAt?: number): RolloutState =>
  startRollout(undefined, { plan, stage: 'dev', executionId: 'exec-1', actor: SYSTEM_ACTOR, at, ...(startAt !== undefined ? { startAt } : {}) })!.next;
const approved = (s: RolloutState): RolloutState => ({ ...s, step: 'approved', status: 'RUNNING' });
const apply = (t: Transition | null): RolloutState => t!.next;

describe('h. start at phase N (one mechanism for skipping, retrying from a phase, carrying a rollout over)', () => {
  it('records the phases before startAt as skipped, on the state and in the start event', () => {
    const t = startRollout(undefined, { plan, stage: 'dev', executionId: 'exec-1', actor: SYSTEM_ACTOR, at, startAt: 2 })!;
    expect(t.next).toMatchObject({ startAt: 2, skippedPhases: ['one', 'two'], optedIn: ['three'], phaseIndex: -1, step: 'starting' });
    expect(t.event).toMatchObject({ action: 'rollout-started', detail: { startAt: 2, skipped: ['one', 'two'] } });
    expect(t.event.message).toMatch(/starting at phase three, skipped one, two$/);
    expect(phasesBetween(plan, 0, 2)).toEqual(['one', 'two']);
  });

  it('lets the first phase of the execution be phase startAt, and no other', () => {
    const s = start(1);
    expect(apply(beginPhase(s, 1, at))).toMatchObject({ phaseIndex: 1, step: 'applying' });
    expect(() => beginPhase(s, 0, at)).toThrow(ConflictError);
    expect(() => beginPhase(s, 2, at)).toThrow(ConflictError);
    expect(() => beginPhase(start(), 1, at)).toThrow(ConflictError);
  });

  it('refuses a startAt outside the plan, at the start step and in the execution input', () => {
    expect(() => start(4)).toThrow(RangeError);
    const payload = { plan, stage: 'dev', executionId: 'e' };
    expect(() => parseStepPayload({ ...payload, input: { startAt: 7 } })).toThrow(PlanInvalidError);
    expect(() => parseStepPayload({ ...payload, input: { startAt: '2' } })).toThrow('input.startAt: expected a phase index from 0 to 3, got "2"');
    expect(parseStepPayload({ ...payload, input: { startAt: 2 } }).startAt).toBe(2);
  });
});

describe('h. optional phases', () => {
  const inTwo = (): RolloutState => approved(apply(beginPhase(approved(apply(beginPhase(start(), 0, at))), 1, at)));

  it('is skipped unless someone opted in, recorded as skipped, and the next phase may then begin', () => {
    const s = inTwo();
    expect(phaseRuns(s, 2)).toBe(false);
    const skip = phaseSkipped(s, 2, at)!;
    expect(skip.event).toMatchObject({ action: 'phase-skipped', toPhase: 'three', message: 'phase three skipped: it is optional and nobody opted in' });
    expect(skip.next.skippedPhases).toEqual(['three']);
    expect(phaseSkipped(skip.next, 2, at)).toBeNull();
    expect(apply(beginPhase(skip.next, 3, at))).toMatchObject({ phaseIndex: 3, step: 'applying' });
  });

  it('runs once opted in, and can no longer be skipped', () => {
    const opted = optionalPhaseOptedIn(inTwo(), 2, at, { id: 'u1', name: 'Pat', via: 'discord' })!;
    expect(opted.event).toMatchObject({ action: 'opted-in', message: 'Pat opted in to optional phase three' });
    expect(phaseRuns(opted.next, 2)).toBe(true);
    expect(() => phaseSkipped(opted.next, 2, at)).toThrow(ConflictError);
    expect(optionalPhaseOptedIn(opted.next, 2, at, { id: 'u1', via: 'discord' })).toBeNull();
  });

  it('lets only the approvers of the phase before opt in, and audits a refusal', async () => {
    const audit: AuditEvent[] = [];
    let state: RolloutState = { ...inTwo(), status: 'AWAITING_APPROVAL', step: 'awaiting-approval' };
    const store = {
      getState: async () => state,
      appendAudit: async (e: AuditEvent) => void audit.push(e),
      saveTransition: async (_: RolloutState, t: Transition) => void (state = t.next),
    } as unknown as Parameters<typeof optInToPhase>[0]['store'];
    const clock = { now: () => new Date(at) };
    await expect(optInToPhase({ store, clock }, { feature: 'five', phase: 'three', actor: { id: 'd', via: 'discord', roles: ['developer'] } })).rejects.toThrow(RefusedError);
    expect(audit[0]).toMatchObject({ action: 'refused', detail: { request: 'opt-in', code: 'FORBIDDEN' } });
    await expect(optInToPhase({ store, clock }, { feature: 'five', phase: 'two', actor: { id: 'p', via: 'discord', roles: ['pm'] } })).rejects.toThrow('phase two of five is not an optional phase');
    await optInToPhase({ store, clock }, { feature: 'five', phase: 'three', actor: { id: 'p', via: 'discord', roles: ['pm'] } });
    expect(state.optedIn).toEqual(['three']);
  });
});

describe('g. scheduled starts', () => {
  const berlin9 = { time: '09:00', timeZone: 'Europe/Berlin' };

  it('is the next time of day in the zone, today when still ahead, tomorrow otherwise', () => {
    expect(nextPhaseStart(berlin9, new Date('2026-01-15T07:59:00Z')).toISOString()).toBe('2026-01-15T08:00:00.000Z');
    expect(nextPhaseStart(berlin9, new Date('2026-01-15T08:00:01Z')).toISOString()).toBe('2026-01-16T08:00:00.000Z');
  });

  it('follows daylight saving time: 09:00 is 09:00 on the wall clock on either side of a change', () => {
    // Berlin springs forward on 2026-03-29: 09:00 is 08:00 UTC before, 07:00 UTC after.
    expect(nextPhaseStart(berlin9, new Date('2026-03-28T12:00:00Z')).toISOString()).toBe('2026-03-29T07:00:00.000Z');
    expect(wallClock(new Date('2026-03-29T07:00:00Z'), 'Europe/Berlin')).toMatchObject({ hour: 9, minute: 0, weekday: 'sun' });
  });

  it('starts only on the days given ("Friday 9 AM")', () => {
    // 2026-01-15 is a Thursday.
    expect(nextPhaseStart({ ...berlin9, days: ['fri'] }, new Date('2026-01-15T10:00:00Z')).toISOString()).toBe('2026-01-16T08:00:00.000Z');
    expect(nextPhaseStart({ ...berlin9, days: ['mon'] }, new Date('2026-01-15T10:00:00Z')).toISOString()).toBe('2026-01-19T08:00:00.000Z');
  });
});

describe('the state machine: start at, optional skip and scheduled start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phasegate-start-at-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'five.json'), JSON.stringify(plan));
  const { stack } = buildTestApp({ stage: 'dev', plansDir: dir });
  // The stack (or nested stack) that holds the feature's state machine.
  const machine = stack.node.findAll().find((c) => c instanceof StateMachine)!;
  const asl = definitionNamed(Template.fromStack(Stack.of(machine)), 'phasegate-dev-five');

  it('jumps from the start to the first state of phase startAt', () => {
    expect(asl.States['Start rollout']).toMatchObject({ Next: 'Start at phase' });
    const choice = asl.States['Start at phase'] as unknown as { Choices: { And: { Variable: string; NumericEquals?: number }[]; Next: string }[]; Default: string };
    expect(choice.Default).toBe('one: apply flags');
    expect(choice.Choices.map((c) => [c.And[1]!.NumericEquals, c.Next])).toEqual([
      [1, 'two: apply flags'],
      [2, 'three: apply flags'],
      [3, 'four: schedule'],
    ]);
  });

  it('skips an optional phase to the next phase, else bakes it', () => {
    expect(asl.States['three: apply flags']).toMatchObject({ ResultPath: '$.applied', Next: 'three: skipped?' });
    expect(asl.States['three: skipped?']).toMatchObject({ Default: 'three: bake', Choices: [expect.objectContaining({ Next: 'four: schedule' })] });
    expect(asl.States['two: approval']).toMatchObject({ Next: 'three: apply flags' });
  });

  it('waits for a scheduled phase until the time its schedule step returns', () => {
    expect(asl.States['four: schedule']).toMatchObject({ ResultPath: '$.schedule', Next: 'four: wait for start' });
    expect(asl.States['four: wait for start']).toEqual({ Type: 'Wait', TimestampPath: '$.schedule.startAt', Next: 'four: apply flags' });
  });
});
