import { alarmName, alarmPartName, compositeAlarmName, dashboardName, parseAlarmName, stageAlarmPrefix } from '../../lambdas/core/gates/alarm-names';
import { opsAlarmName, OPS_ALARM_SUBJECTS, parseOpsAlarmName } from '../../lambdas/core/rollback/rollback-alerts';
import { matchesEventPattern } from '../support/event-pattern';

/** Stages whose names share a prefix, each with features chosen to collide under a `-` separator. */
const STAGES = [
  { stage: 'prod', features: ['eu', 'eu-ux-update', 'ux-update'] },
  { stage: 'prod-eu', features: ['ux-update', 'eu'] },
  { stage: 'prod-eu-west', features: ['x'] },
] as const;
const METRICS = ['error-rate', 'p95-ms', 'composite'];

describe('alarm names of stages that share a prefix', () => {
  const named = STAGES.flatMap(({ stage, features }) => features.flatMap((feature) => METRICS.map((metric) => ({ stage, feature, metric, name: alarmName(stage, feature, metric) }))));

  it('never give two stages the same alarm or dashboard name', () => {
    const names = named.map((n) => n.name);
    expect(new Set(names).size).toBe(names.length);
    const dashboards = STAGES.flatMap(({ stage, features }) => features.map((f) => dashboardName(stage, f)));
    expect(new Set(dashboards).size).toBe(dashboards.length);
  });

  it.each(STAGES.map((s) => [s.stage, s.features] as const))('stage %s: its prefix starts only its own alarms, and it parses back only its own', (stage, features) => {
    for (const n of named) {
      const own = n.stage === stage;
      expect(n.name.startsWith(stageAlarmPrefix(stage))).toBe(own);
      expect(parseAlarmName(n.name, stage, features)).toEqual(own ? { feature: n.feature, metric: n.metric } : undefined);
      // The rollback rule's pattern, as lib/alarm-rollback.ts writes it.
      const pattern = { source: ['aws.cloudwatch'], detail: { alarmName: [{ prefix: stageAlarmPrefix(stage) }] } };
      expect(matchesEventPattern(pattern, { source: 'aws.cloudwatch', detail: { alarmName: n.name } })).toBe(own);
    }
  });

  it('parts of a split alarm and the composite belong to the same stage and feature', () => {
    expect(parseAlarmName(alarmPartName(alarmName('prod-eu', 'ux-update', 'error-rate'), 3), 'prod', ['eu', 'eu-ux-update'])).toBeUndefined();
    expect(parseAlarmName(alarmPartName(alarmName('prod', 'ux-update', 'error-rate'), 3), 'prod', ['ux-update'])).toEqual({ feature: 'ux-update', metric: 'error-rate~3' });
    expect(compositeAlarmName('prod-eu', 'x')).toBe('phasegate-prod-eu_x-composite');
  });

  it('ops alarms name their own stage and start no stage\'s rollback prefix', () => {
    for (const { stage } of STAGES) {
      for (const subject of OPS_ALARM_SUBJECTS) {
        const name = opsAlarmName(stage, subject);
        expect(parseOpsAlarmName(name)).toEqual({ stage, subject });
        for (const other of STAGES) expect(name.startsWith(stageAlarmPrefix(other.stage))).toBe(false);
      }
    }
  });
});
