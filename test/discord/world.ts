import { discordNotifierFromEnv } from '../../lambdas/adapters/discord-notifier';
import { ENV } from '../../lambdas/core/contract';
import type { InteractionEndpointPorts } from '../../lambdas/core/discord/endpoint';
import { decide, type Person } from '../../lambdas/core/rollout/operations';
import type { Plan, PlanInput } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import type { StepPayload } from '../../lambdas/core/rollout/step-payload';
import { applyPhaseStep, gateStep, requestApprovalStep, startRolloutStep, type StepPorts } from '../../lambdas/core/rollout/steps';
import { localDynamoClient } from '../../local/dynamo';
import { discordUser, localDiscordSettings, startLocalDiscord, type DiscordTestUser, type LocalDiscord } from '../../local/discord';
import { startLocalAws, type LocalAws } from '../support/local-aws';

/** A plan with the local Discord channel and role mapping, resolved for dev. */
export function discordPlan(feature: string, extra: Partial<PlanInput> = {}): Plan {
  return parsePlan(
    {
      feature,
      targets: [`${feature}-api`, `${feature}-worker`],
      phases: [
        { name: 'admin', roles: ['admin'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] } },
        { name: 'pm', roles: ['admin', 'pm'], bake: 'PT1H', approval: { required: true, approvers: ['pm'] } },
        { name: 'ga', roles: ['all'], bake: 'PT1H', approval: { required: false } },
      ],
      discord: localDiscordSettings(),
      ...extra,
    },
    { stage: 'dev' },
  );
}

/** A feature walked to "phase N waits for approval" through the real steps, with the Discord notifier. */
export interface WaitingFeature {
  readonly plan: Plan;
  readonly payload: StepPayload;
  readonly token: string;
  /** Settles when Step Functions would resume the execution. */
  readonly wait: Promise<unknown>;
}

/** dynalite, the AWS fakes and the local Discord world around the real handler. */
export interface DiscordWorld {
  readonly aws: LocalAws;
  readonly discord: LocalDiscord;
  /** The step functions' ports, with the Discord notifier configured the way `stepPortsFromEnv` does. */
  readonly steps: StepPorts;
  readonly plans: readonly Plan[];
  readonly pm: DiscordTestUser;
  readonly pm2: DiscordTestUser;
  readonly dev: DiscordTestUser;
  readonly onCall: DiscordTestUser;
  readonly admin: DiscordTestUser;
  /** Start a fresh feature's rollout (its plan must be among `plans`) and bring it to an approval of `phaseIndex`. */
  awaitApproval(feature: string, phaseIndex?: number, options?: { executionId?: string; startedBy?: Person }): Promise<WaitingFeature>;
  stop(): Promise<void>;
}

const STARTER: Person = { id: 'u-starter', name: 'Sam', via: 'cli', roles: ['pm'] };
const EARLIER_PM: Person = { id: 'u-earlier', name: 'Earlier PM', via: 'cli', roles: ['pm'] };

/** Build the world. `plans` default to a handful of features with the local Discord settings. */
export async function discordWorld(
  options: { plans?: Plan[]; customize?: (ports: InteractionEndpointPorts) => InteractionEndpointPorts; base64Bodies?: boolean } = {},
): Promise<DiscordWorld> {
  const aws = await startLocalAws({ lambda: { readsWhileInProgress: 0 } });
  const plans = options.plans ?? ['ux-update', 'cohort-analyzer', 'search', 'billing', 'exports'].map((f) => discordPlan(f));
  for (const plan of plans) for (const target of plan.targets) aws.lambda.addFunction(target, { KEEP_ME: 'yes' });
  const dynamo = localDynamoClient(aws.dynamo.endpoint);
  const discord = await startLocalDiscord({
    stage: 'dev',
    plans,
    tableName: aws.tableName,
    dynamo,
    flagWriter: { sleep: async () => undefined, pollMs: 0 },
    ...(options.base64Bodies ? { base64Bodies: true } : {}),
    customize: (ports) => {
      // Decisions are answered inline however slow a busy machine is; tests of deferral set a short budget themselves.
      const withClock = { ...ports, clock: aws.clock, inlineBudgetMs: 30_000 };
      return options.customize ? options.customize(withClock) : withClock;
    },
  });
  const notifier = discordNotifierFromEnv({ ...discord.notifierEnvironment, [ENV.tableName]: aws.tableName }, aws.ports.store, { dynamo });
  const steps: StepPorts = { ...aws.ports, notifier: notifier! };
  const executions = new Map<string, number>();

  return {
    aws,
    discord,
    steps,
    plans,
    pm: discordUser('Priya', ['pm']),
    pm2: discordUser('Paul', ['pm']),
    dev: discordUser('Dan', ['developer']),
    onCall: discordUser('Olga', ['on-call']),
    admin: discordUser('Ada', ['admin']),
    async awaitApproval(feature, phaseIndex = 0, opts = {}) {
      const plan = plans.find((p) => p.feature === feature);
      if (!plan) throw new Error(`no plan ${feature}`);
      const n = (executions.get(feature) ?? 0) + 1;
      executions.set(feature, n);
      const executionId = opts.executionId ?? `arn:aws:states:us-east-1:123456789012:execution:phasegate-dev-${feature}:run-${n}-${'x'.repeat(36)}`;
      const payload: StepPayload = { plan, stage: 'dev', executionId, startedBy: opts.startedBy ?? STARTER };
      const state = await aws.ports.store.getState(feature);
      if (state?.executionId !== executionId) await startRolloutStep(steps, payload);
      let token = '';
      let wait: Promise<unknown> = Promise.resolve();
      for (let i = 0; i <= phaseIndex; i++) {
        if (i > 0) {
          // The previous phase is approved by a PM at the CLI, through the same operation Discord uses.
          await decide(steps as StepPorts & { tokens: LocalAws['ports']['tokens'] }, { feature, phase: plan.phases[i - 1]!.name, decision: 'approve', actor: EARLIER_PM });
        }
        await applyPhaseStep(steps, { ...payload, phaseIndex: i });
        await gateStep(steps, { ...payload, phaseIndex: i });
        token = aws.sfn.issueToken({ executionArn: executionId, stateName: `${plan.phases[i]!.name}: approval` });
        wait = aws.sfn.waitForToken(token);
        wait.catch(() => undefined);
        await requestApprovalStep(steps, { ...payload, phaseIndex: i, taskToken: token });
      }
      return { plan, payload, token, wait };
    },
    async stop() {
      await discord.stop();
      dynamo.destroy();
      await aws.stop();
    },
  };
}
