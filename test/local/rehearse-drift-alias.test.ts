import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { offFlagValues, phaseFlagValues } from '../../lambdas/core/flags/flags';
import { loadPlanFile } from '../../lambdas/core/plan/load';
import { parseRehearseArgs } from '../../local/rehearse';
import { closeRehearsalResources, rehearse, RehearsalInputError, withAliasTargets } from '../../local/rehearsal';
import { resolveIntrinsics, stageStack } from '../lib/template-helpers';
import { matchesEventPattern } from '../support/event-pattern';

const ROOT = join(__dirname, '..', '..');
const UX = join(ROOT, 'rollouts/ux-update.json');
const TARGET = 'valine-orchestrator-discord-dev';

// Hang guards, not speed limits (see jest.config.js).
jest.setTimeout(600_000);

afterAll(() => closeRehearsalResources());

describe('npm run rehearse -- --drift-at / --alias (arguments)', () => {
  it('reads --drift-at and --alias into the rehearsal options', () => {
    expect(parseRehearseArgs(['--drift-at', 'pm', '--alias', 'live', '--alarm-at', 'developer']).options).toMatchObject({ driftAt: 'pm', alias: 'live', alarmAt: 'developer' });
    const plain = parseRehearseArgs([]).options;
    expect(plain).not.toHaveProperty('driftAt');
    expect(plain).not.toHaveProperty('alias');
  });

  it.each([
    [{ driftAt: 'nope' }, /--drift-at: plan ux-update has no phase "nope"/],
    [{ alias: '42' }, /--alias: "42" is not an alias name/],
    [{ alias: 'live:2' }, /--alias: "live:2" is not an alias name/],
  ])('refuses %p before running anything', async (options, message) => {
    await expect(rehearse({ planFile: UX, ...options })).rejects.toThrow(RehearsalInputError);
    await expect(rehearse({ planFile: UX, ...options })).rejects.toThrow(message);
  });

  it('qualifies every target with the alias, names and ARNs alike, and refuses targets that already name one', () => {
    const plan = loadPlanFile(join(ROOT, 'rollouts/cohort-analyzer.json'), 'dev');
    const arn = 'arn:aws:lambda:us-east-1:123456789012:function:cohort-api-dev';
    expect(withAliasTargets({ ...plan, targets: ['cohort-api-dev', arn] }, 'live').targets).toEqual(['cohort-api-dev:live', `${arn}:live`]);
    expect(() => withAliasTargets({ ...plan, targets: ['cohort-api-dev:prod'] }, 'live')).toThrow(/targets cohort-api-dev:prod already name an alias/);
  });
});

describe('a redeploy of a target during a phase (--drift-at)', () => {
  it('wipes the flags, the CloudTrail event reaches the reconcile function, which repairs them; the run ends with the right flags', async () => {
    const result = await rehearse({ planFile: UX, driftAt: 'pm', bakeMs: 20 });
    const plan = loadPlanFile(UX, 'dev');
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'COMPLETED', asExpected: true, drift: { phase: 'pm', target: TARGET, outcome: 'repaired' } });
    // The deploy wiped the phase's flags (the target's own variables came back with it).
    expect(result.drift!.wiped).toEqual(expect.arrayContaining(Object.keys(phaseFlagValues(plan, 1))));
    expect(result.drift!.repairMs).toBeGreaterThan(0);
    expect(result.targets[TARGET]).toEqual(phaseFlagValues(plan, plan.phases.length - 1));

    // The event is CloudTrail's for the deploy's call, and the stack's rule routes it to the reconcile function.
    const [event] = result.drift!.events;
    expect(event).toMatchObject({ source: 'aws.lambda', 'detail-type': 'AWS API Call via CloudTrail', detail: { eventName: 'UpdateFunctionConfiguration20150331v2', requestParameters: { functionName: TARGET } } });
    const template = Template.fromStack(stageStack('dev').stack).toJSON();
    const rules = Object.values(resolveIntrinsics(template.Resources) as Record<string, { Type: string; Properties: { EventPattern?: unknown; Targets?: { Arn: string }[] } }>).filter(
      (r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern !== undefined && matchesEventPattern(r.Properties.EventPattern, event),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties.Targets![0]!.Arn).toMatch(/Reconcile/);

    // The timeline: the deploy, the event reaching the reconcile, the repair (audited and posted), and how long it took,
    // all before the phase's gate.
    const pm = result.timeline.filter((e) => e.phase === 'pm').map((e) => e.action);
    const order = ['flags-applied', 'drift', 'drift-detected', 'drift-repaired', 'drift-result', 'gate-evaluated'].map((a) => pm.indexOf(a));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(result.timeline.find((e) => e.action === 'drift-result')!.text).toMatch(new RegExp(`drift on ${TARGET} repaired \\d+ ms after the deploy's event`));
    expect(result.timeline.find((e) => e.action === 'drift-repaired')!.text).toContain('cfn-exec-role');
    expect(result.timeline.some((e) => e.action === 'discord' && /flags drifted and were repaired/.test(e.text))).toBe(true);
  });
});

describe('alias targets rehearsed end to end (--alias)', () => {
  it('every phase reaches the code behind the alias, and an alarm rolls it back to the safe values', async () => {
    const result = await rehearse({ planFile: UX, alias: 'live', alarmAt: 'pm', bakeMs: 20 });
    const plan = loadPlanFile(UX, 'dev');
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ outcome: 'ROLLED_BACK', asExpected: true, alarm: { phase: 'pm', outcome: 'rolled-back' } });
    // The flags are read from the version the alias points to: the one published before the rollout had none.
    expect(Object.keys(result.targets)).toEqual([`${TARGET}:live`]);
    expect(result.targets[`${TARGET}:live`]).toEqual(offFlagValues(plan));
    const applied = result.timeline.filter((e) => e.action === 'flags-applied').map((e) => e.text);
    expect(applied).toEqual([expect.stringContaining(`flags written to ${TARGET}:live`), expect.stringContaining(`flags written to ${TARGET}:live`)]);
    expect(result.timeline.find((e) => e.action === 'rolled-back')!.text).toContain(`${TARGET}:live`);
  });

  it('a redeploy that publishes and moves the alias (SAM AutoPublishAlias) is repaired through a new version', async () => {
    const result = await rehearse({ planFile: UX, alias: 'live', driftAt: 'admin', bakeMs: 0 });
    const plan = loadPlanFile(UX, 'dev');
    expect(result.problems).toEqual([]);
    expect(result.drift!.events.map((e) => e.detail.eventName)).toEqual(['UpdateFunctionConfiguration20150331v2', 'PublishVersion20150331', 'UpdateAlias20150331']);
    expect(result.drift!.outcome).toBe('repaired');
    expect(result.targets[`${TARGET}:live`]).toEqual(phaseFlagValues(plan, plan.phases.length - 1));
  });
});
