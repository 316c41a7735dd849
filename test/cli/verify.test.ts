import '../../local/node-compat';
import { phaseFlagValues } from '../../lambdas/core/flags/flags';
import type { Plan } from '../../lambdas/core/plan/schema';
import { systemClock } from '../../lambdas/core/ports';
import type { FeatureVerification } from '../../lambdas/core/drift/reconcile';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import { redeployTarget } from '../../local/scenarios/drift';
import { threePhasePlan } from '../support/plans';
import { PRINCIPALS, overlong, runCli, useDeployedStage } from './support';

/** `verify` and `flags explain` through the real AWS-mode path: dynalite, the Lambda fake, the stack's outputs from a fake. */

const stage = useDeployedStage();
let n = 0;

const ports = () => ({ ...stage.aws.ports, clock: systemClock });


/** A feature deployed on dev and baking in its first phase (roles admin, 100 %). */
async function baking(): Promise<Plan> {
  const feature = `verify-${++n}`;
  const plan = threePhasePlan({ feature, targets: [`${feature}-api`, `${feature}-worker`], principals: PRINCIPALS });
  for (const t of plan.targets) stage.aws.lambda.addFunction(t, { KEEP_ME: 'yes' });
  stage.deployment.deployFeature('dev', plan);
  const payload: StepPayload = { plan, stage: 'dev', executionId: `arn:aws:states:us-east-1:123456789012:execution:x:${feature}`, startedBy: { id: 'u-pat', name: 'Pat', via: 'discord' } };
  await startRolloutStep(ports(), payload);
  await applyPhaseStep(ports(), { ...payload, phaseIndex: 0 });
  return plan;
}

describe('phasegate verify', () => {
  it('exit 0 when every target serves the phase; exit 1 naming each drifted variable (expected / actual) after a redeploy', async () => {
    const plan = await baking();
    const clean = await runCli(['verify', plan.feature]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain(`${plan.feature}: RUNNING, phase admin`);
    expect(clean.stdout).toContain('Every target serves what the rollout says.');

    await redeployTarget(plan.targets[1]!, { KEEP_ME: 'yes', DEPLOYED: '2' });
    const drifted = await runCli(['verify', plan.feature]);
    expect(drifted.code).toBe(1);
    expect(drifted.stdout).toContain(`${plan.targets[0]}: ok`);
    expect(drifted.stdout).toContain(`${plan.targets[1]}: DRIFT (${Object.keys(phaseFlagValues(plan, 0)).length} variables)`);
    expect(drifted.stdout).toContain('DISABLE_UX_UPDATES: expected "false", actual (absent)');
    expect(drifted.stdout).toContain('last changed');
    expect(overlong(drifted.stdout)).toEqual([]);

    const json = (await runCli(['verify', plan.feature, '--json'])).json<FeatureVerification>();
    expect(json).toMatchObject({ feature: plan.feature, drifted: true, basis: 'phase' });
    expect(json.targets[1]!.drift).toContainEqual({ name: 'DISABLE_UX_UPDATES', expected: 'false', actual: null });
    expect(json.targets[0]!.drift).toEqual([]);
  });
});

describe('phasegate flags explain', () => {
  it('reads the live variables and says what a user gets and why: role match, role not allowed, fail closed on a wiped target', async () => {
    const plan = await baking();
    const admin = await runCli(['flags', 'explain', plan.feature, '--user', '42', '--role', 'admin', '--target', plan.targets[0]!]);
    expect(admin.code).toBe(0);
    expect(admin.stdout).toContain(`${plan.feature}: ON (TARGETED)`);
    expect(admin.stdout).toContain('DISABLE_UX_UPDATES="false"');

    const pm = await runCli(['flags', 'explain', plan.feature, '--user', '42', '--role', 'pm', '--json']);
    const doc = pm.json<{ targets: { target: string; flags: { key: string; enabled: boolean; evaluation: { reason: string } }[] }[] }>();
    expect(doc.targets.map((t) => t.target)).toEqual(plan.targets);
    expect(doc.targets[0]!.flags[0]).toMatchObject({ key: plan.feature, enabled: false, evaluation: { reason: 'ROLE_NOT_ALLOWED' } });

    await redeployTarget(plan.targets[0]!, { KEEP_ME: 'yes' });
    const wiped = await runCli(['flags', 'explain', plan.feature, '--user', '42', '--role', 'admin', '--target', plan.targets[0]!]);
    expect(wiped.stdout).toContain(`${plan.feature}: off (MISSING_FLAGS)`);
  });

  it('refuses a target the feature does not have (exit 1)', async () => {
    const plan = await baking();
    const out = await runCli(['flags', 'explain', plan.feature, '--role', 'admin', '--target', 'someone-else']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('is not a target of');
  });
});
