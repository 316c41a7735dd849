import { buildApp } from '../../lib/app';
import { stackName, stateMachineName } from '../../lib/naming';
import { stateMachinesFromTemplate, validateAsl } from '../../local/asl';
import { synthesizedStackTemplate } from '../../local/nested-stacks';
import { DEFAULT_PLANS_DIR, loadPlans } from '../../lambdas/core/plan/load';

describe.each(['dev', 'prod'])('the state machines synthesized for %s', (stage) => {
  const { app } = buildApp({ context: { stage, 'aws:cdk:bundling-stacks': [] } });
  const template = synthesizedStackTemplate(app.synth(), stackName(stage));
  const machines = stateMachinesFromTemplate(template);
  const plans = loadPlans(DEFAULT_PLANS_DIR, stage).map((l) => l.plan);

  it('are one per plan, named after the stage and feature', () => {
    expect(machines.map((m) => m.name).sort()).toEqual(plans.map((p) => stateMachineName(stage, p.feature)).sort());
  });

  it.each(plans.map((p) => [p.feature]))('%s: is valid Amazon States Language (asl-validator)', (feature) => {
    const machine = machines.find((m) => m.name === stateMachineName(stage, feature))!;
    const result = validateAsl(machine.definition);
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
  });
});
