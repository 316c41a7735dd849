import { renderMermaid, planTimeline } from '../../cli/plan-view';
import { threePhasePlan } from '../support/plans';
import { runCli } from './support';

/** `plan show --format mermaid`: the plan as a flowchart GitHub renders. */

/** Edges `from -->|label| to` of a diagram. */
function edges(lines: readonly string[]): string[] {
  return lines.flatMap((l) => {
    const m = /^\s+(\w+) -->(\|[^|]+\|)? (\w+)(?: --> (\w+))?$/.exec(l);
    if (!m) return [];
    const out = [`${m[1]} ${m[2] ?? '-'} ${m[3]}`];
    if (m[4]) out.push(`${m[3]} - ${m[4]}`);
    return out;
  });
}

describe('plan show --format mermaid', () => {
  it('draws each phase, its bake, its gate and its approval, and every failure path to the rollback', () => {
    const plan = threePhasePlan({
      phases: [
        { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'], timeout: 'PT12H' }, gates: { errorRate: { proceedBelow: 0.01, rollbackAbove: 0.02 } } },
        { name: 'ga', roles: ['all'], percent: 50, bake: 'PT2H', approval: { required: false } },
      ],
    });
    const lines = renderMermaid(planTimeline(plan, 'dev', 'rollouts/ux-update.json'));
    expect(lines[1]).toBe('flowchart TD');
    expect(lines).toContain('  p0["1. admin<br/>admin, 100%"]');
    expect(lines).toContain('  p0_bake{{"bake 1h"}}');
    expect(lines).toContain('  p0_gate{"gate<br/>error rate: proceed #lt; 0.01, roll back #gt; 0.02"}');
    expect(lines).toContain('  p0_approval[/"approval by pm<br/>within 12h, else roll back"/]');
    expect(lines).toContain('  p1["2. ga<br/>every user, 50%"]');
    expect(edges(lines)).toEqual([
      'start - p0',
      'p0 - p0_bake',
      'p0_bake - p0_gate',
      'p0_gate |hold| p0_bake',
      'p0_gate |roll back| rollback',
      'p0_gate |proceed| p0_approval',
      'p0_approval |reject or timeout| rollback',
      'p0_approval |approve| p1',
      'p1 - p1_bake',
      'p1_bake - p1_gate',
      // No gates in ga: nothing to hold on or roll back for; no approval: the gate leads on.
      'p1_gate |proceed| completed',
    ]);
    // Every node an edge names is declared.
    const declared = new Set(lines.map((l) => /^\s+(\w+)[[({/]/.exec(l)?.[1]).filter(Boolean));
    for (const e of edges(lines)) for (const node of [e.split(' ')[0]!, e.split(' ').at(-1)!]) expect(declared).toContain(node);
  });

  it('is printed by the CLI as is, and refuses an unknown format or --json with it', async () => {
    const run = await runCli(['plan', 'show', 'rollouts/ux-update.json', '--format', 'mermaid']);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[1]).toBe('flowchart TD');
    expect(run.stdout).toContain('p4_approval -->|approve| completed');
    expect((await runCli(['plan', 'show', 'ux-update', '--format', 'svg'])).stderr).toContain('--format must be text or mermaid, got "svg"');
    expect((await runCli(['plan', 'show', 'ux-update', '--format', 'mermaid', '--json'])).code).toBe(2);
  });
});
