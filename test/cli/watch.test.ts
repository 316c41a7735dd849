import '../../local/node-compat';
import type { Plan } from '../../lambdas/core/plan/schema';
import { systemClock } from '../../lambdas/core/ports';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, finishRolloutStep, gateStep, requestApprovalStep, startRolloutStep } from '../../lambdas/core/rollout/steps';
import type { StatusSummary } from '../../cli/views';
import { stripAnsi } from '../../cli/terminal';
import { threePhasePlan } from '../support/plans';
import { CALLERS, PRINCIPALS, runCli, useDeployedStage } from './support';

/**
 * `status <feature> --watch` against a stage whose rollout moves while it watches: each wait between frames runs
 * the rollout's next real step, so the frames show every state the rollout passes through, and the watch ends
 * when the rollout does.
 */

const stage = useDeployedStage();
let n = 0;
const ports = () => ({ ...stage.aws.ports, clock: systemClock });


async function bakingFeature(overrides: Record<string, unknown> = {}): Promise<{ plan: Plan; payload: StepPayload }> {
  const feature = `watch-${++n}`;
  const plan = threePhasePlan({ feature, targets: [`${feature}-api`], principals: PRINCIPALS, ...overrides });
  for (const t of plan.targets) stage.aws.lambda.addFunction(t, { KEEP_ME: 'yes' });
  stage.deployment.deployFeature('dev', plan);
  const payload: StepPayload = { plan, stage: 'dev', executionId: `arn:aws:states:us-east-1:123456789012:execution:x:${feature}`, startedBy: { id: 'u-pat', name: 'Pat', via: 'discord' } };
  await startRolloutStep(ports(), payload);
  await applyPhaseStep(ports(), { ...payload, phaseIndex: 0 });
  return { plan, payload };
}

/** Each call runs the next of `steps`; waits asked for are recorded. */
function stepper(steps: (() => Promise<unknown>)[]): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    sleep: async (ms) => {
      waits.push(ms);
      const next = steps.shift();
      if (!next) throw new Error('the watch kept going after the rollout ended');
      await next();
    },
  };
}

describe('status --watch', () => {
  it('writes a frame per change (not a terminal) and ends with exit 1 when the rollout is rolled back', async () => {
    const { plan, payload } = await bakingFeature();
    const steps = stepper([
      () => gateStep(ports(), { ...payload, phaseIndex: 0 }),
      async () => {
        const token = stage.aws.sfn.issueToken({ executionArn: payload.executionId });
        stage.aws.sfn.waitForToken(token).catch(() => undefined);
        await requestApprovalStep(ports(), { ...payload, phaseIndex: 0, taskToken: token });
      },
      // Nothing changes: no new frame.
      async () => undefined,
      async () => {
        stage.deployment.caller = CALLERS.onCall;
        // On the Lambda fake's virtual time: the CLI's rollback polls and paces without waiting for real.
        expect((await runCli(['rollback', plan.feature, '--reason', 'errors'], { lambdaTime: stage.aws.time })).code).toBe(0);
        stage.deployment.caller = CALLERS.pm;
      },
    ]);
    const run = await runCli(['status', plan.feature, '--watch', '--interval', '5'], { sleep: steps.sleep });
    expect(run.code).toBe(1);
    expect(steps.waits).toEqual([5000, 5000, 5000, 5000]);
    const heads = run.stdout.split('\n').filter((l) => l.startsWith(`${plan.feature} on dev:`));
    // Baking, then the gate's result (still RUNNING), then waiting for a person; the step that changed nothing drew nothing.
    expect(heads).toEqual([
      `${plan.feature} on dev: RUNNING`,
      `${plan.feature} on dev: RUNNING`,
      `${plan.feature} on dev: AWAITING_APPROVAL`,
      `${plan.feature} on dev: ROLLED_BACK`,
    ]);
    expect(run.stdout).not.toContain('\x1b[');
  });

  it('redraws in place on a terminal, in colour unless NO_COLOR, and stops on Ctrl-C with exit 0', async () => {
    const { plan } = await bakingFeature();
    const interrupt = new AbortController();
    let frames = 0;
    const sleep = async (): Promise<void> => {
      if (++frames === 2) interrupt.abort();
    };
    const run = await runCli(['status', plan.feature, '--watch'], { isTTY: true, sleep, signal: interrupt.signal });
    expect(run.code).toBe(0);
    expect(run.stdout.split('\x1b[H\x1b[2J')).toHaveLength(3);
    expect(run.stdout).toContain('\x1b[36mRUNNING\x1b[39m');
    expect(stripAnsi(run.stdout)).toContain('Ctrl-C to stop');

    const again = new AbortController();
    const noColor = await runCli(['status', plan.feature, '--watch'], { isTTY: true, env: { NO_COLOR: '1' }, sleep: async () => again.abort(), signal: again.signal });
    expect(noColor.stdout).toContain('\x1b[H\x1b[2J');
    expect(noColor.stdout).not.toMatch(/\x1b\[\d+m/);
  });

  it('prints one JSON line per change with --json and exits 0 when the feature completed', async () => {
    const unattended = [
      { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: false } },
      { name: 'ga', roles: ['all'], bake: 'PT1H', approval: { required: false } },
    ];
    const { plan, payload } = await bakingFeature({ phases: unattended });
    const steps = stepper([
      async () => {
        await gateStep(ports(), { ...payload, phaseIndex: 0 });
        await applyPhaseStep(ports(), { ...payload, phaseIndex: 1 });
      },
      async () => {
        await gateStep(ports(), { ...payload, phaseIndex: 1 });
        await finishRolloutStep(ports(), payload);
      },
    ]);
    const run = await runCli(['status', plan.feature, '--watch', '--json'], { sleep: steps.sleep });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as StatusSummary);
    expect(lines.map((l) => [l.status, l.phase?.name])).toEqual([
      ['RUNNING', 'admin'],
      ['RUNNING', 'ga'],
      ['COMPLETED', 'ga'],
    ]);
  });

  it('refuses --interval without --watch and out of range', async () => {
    expect((await runCli(['status', 'x-1', '--interval', '3'])).stderr).toContain('--interval goes with --watch');
    expect((await runCli(['status', 'x-1', '--watch', '--interval', '0'])).stderr).toContain('--interval must be from 1 to 300 seconds');
  });
});
