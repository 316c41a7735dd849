import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../lambdas/core/rollout/rollout-state';
import { summarizePhases, synthesizeForRehearsal } from '../../local/rehearsal';
import { threePhasePlan } from '../support/plans';

/** Parts of the rehearsal that need no run: its temp folders and its per-phase summary. */

describe('synthesizing for a rehearsal', () => {
  it('leaves no temp folder behind, whether synth succeeds or fails', () => {
    const root = mkdtempSync(join(tmpdir(), 'phasegate-rehearsal-root-'));
    const template = synthesizeForRehearsal(join(__dirname, '..', '..', 'rollouts', 'cohort-analyzer.json'), 'dev', root);
    expect(Object.keys(template.Resources ?? {}).length).toBeGreaterThan(0);
    expect(readdirSync(root)).toEqual([]);
    const broken = join(mkdtempSync(join(tmpdir(), 'phasegate-broken-plan-')), 'broken.json');
    writeFileSync(broken, JSON.stringify({ feature: 'broken', targets: [], phases: [] }));
    expect(() => synthesizeForRehearsal(broken, 'dev', root)).toThrow(/broken/);
    expect(readdirSync(root)).toEqual([]);
  });
});

describe('the summary of a phase', () => {
  it('shows the gate result that decided the phase, not its first check', () => {
    const plan = threePhasePlan({ feature: 'summary' });
    const at = (s: number): string => new Date(Date.UTC(2026, 10, 2, 9, 0, s)).toISOString();
    const event = (s: number, action: AuditEvent['action'], detail?: Record<string, unknown>): AuditEvent => ({
      feature: 'summary',
      at: at(s),
      actor: { id: 'phasegate', via: 'state-machine' },
      action,
      executionId: 'arn:exec',
      fromPhase: 'admin',
      toPhase: 'admin',
      message: action,
      ...(detail ? { detail } : {}),
    });
    const audit = [
      { ...event(0, 'phase-started'), fromPhase: null },
      event(1, 'gate-evaluated', { decision: 'HOLD', reasons: ['error rate 0.7 %: hold'] }),
      event(2, 'gate-evaluated', { decision: 'PROCEED', reasons: ['error rate 0.2 %: proceed'] }),
    ];
    const [admin] = summarizePhases(plan, audit, undefined, 'RUNNING');
    expect(admin!.gate).toEqual({ decision: 'PROCEED', reasons: ['error rate 0.2 %: proceed'] });
  });
});
