import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type IStateMachine, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { discordParameterNames } from '../lambdas/core/discord/parameters';
import { stageAlertChannels } from '../lambdas/core/rollback/rollback-alerts';
import type { Plan } from '../lambdas/core/plan/schema';
import { STATE_MACHINES_OUTPUT, TABLE_NAME_OUTPUT, pascalCase, stateMachineName, stateMachineOutputKey } from './naming';
import { LlmBudgetAccess } from './llm-budget-access';
import { AlarmRollback } from './alarm-rollback';
import { DailyReport } from './daily-report';
import { DriftReconcile } from './drift-reconcile';
import type { FeatureAlarms } from './feature-alarms';
import { FeatureStack } from './feature-stack';
import { DISCORD_URL_OUTPUT, DiscordEndpoint, NOTIFYING_STEPS, type PhasegateDiscordSettings } from './discord-endpoint';
import { PhasegateFunctions } from './phasegate-functions';
import { throwIfProblems } from './props-problems';
import { RollbackAlerts } from './rollback-alerts';
import { type RolloutStateMachine, rolloutPlanProblems } from './rollout-state-machine';
import { StateTable } from './state-table';

/** The tag every resource of a Phasegate stack carries, valued with the stage. */
export const STAGE_TAG = 'phasegate:stage';

/** Props of {@link PhasegateStack}. */
export interface PhasegateStackProps extends StackProps {
  /** Deployment stage (dev, staging, prod, ...). */
  readonly stage: string;
  /** Every feature's plan, each already resolved for {@link PhasegateStackProps.stage} (`loadPlans(dir, stage)`). */
  readonly plans: readonly Plan[];
  /**
   * Treat the stage as production: the table gets deletion protection, and the table and log groups are
   * retained when the stack is deleted.
   * @default - true when the stage is `prod`, false otherwise
   */
  readonly production?: boolean;
  /**
   * How long function and execution logs are kept.
   * @default - one month
   */
  readonly logRetention?: RetentionDays;
  /**
   * The stage's Discord application: where its public key and bot token live in SSM.
   * @default - `/phasegate/<stage>/discord/public-key` and `/phasegate/<stage>/discord/bot-token`, AWS managed key
   */
  readonly discord?: PhasegateDiscordSettings;
}

/**
 * One stage of Phasegate: the state table, the six functions and one rollout state machine per feature.
 * Outputs the table name, each feature's state machine ARN (`<Feature>StateMachineArn`) and a JSON map of all
 * of them (`RolloutStateMachines`), so tooling finds them without listing resources. With plans, also the automatic
 * rollback and its alerts topic (`RollbackAlertsTopicArn`, exported as `phasegate-<stage>-rollback-alerts`).
 */
export class PhasegateStack extends Stack {
  /** The state table. */
  public readonly stateTable: StateTable;
  /** The Phasegate functions. */
  public readonly functions: PhasegateFunctions;
  /** One rollout state machine per feature id, each in its feature's nested stack. */
  public readonly rollouts: Readonly<Record<string, RolloutStateMachine>>;
  /** One nested stack per feature id: its state machine, alarms and dashboard. */
  public readonly features: Readonly<Record<string, FeatureStack>>;
  /** The Discord interactions endpoint (slash commands, approval buttons). */
  public readonly discord: DiscordEndpoint;
  /** The managed policies that target functions attach to guard their LLM spend. */
  public readonly llmBudgetAccess: LlmBudgetAccess;
  /** Per feature: its rollback alarms, composite alarm and dashboard. */
  public readonly featureAlarms: Readonly<Record<string, FeatureAlarms>>;
  /** The rule and function that roll a feature back when one of its alarms goes off; undefined without plans. */
  public readonly alarmRollback?: AlarmRollback;
  /** The alarms and topic that report a failed automatic rollback (and post it to Discord); undefined without plans. */
  public readonly rollbackAlerts?: RollbackAlerts;
  /** Drift self-healing: the reconcile function, its CloudTrail rule and schedule; undefined without plans. */
  public readonly driftReconcile?: DriftReconcile;
  /** The daily phase report's function and schedules; undefined when no plan has a `report` setting. */
  public readonly dailyReport?: DailyReport;

  constructor(scope: Construct, id: string, props: PhasegateStackProps) {
    super(scope, id, props);
    throwIfProblems(`PhasegateStack ${id}`, validate(props));
    const production = props.production ?? props.stage === 'prod';

    this.stateTable = new StateTable(this, 'StateTable', { production });
    this.functions = new PhasegateFunctions(this, 'Functions', {
      stage: props.stage,
      table: this.stateTable.table,
      targets: props.plans.flatMap((plan) => plan.targets),
      production,
      logRetention: props.logRetention,
    });

    // A nested stack per feature keeps each template within CloudFormation's limits (1 MB, 500 resources) however many
    // features the stage has. Its id comes from the feature id alone: adding a feature leaves the others' logical ids.
    const features: Record<string, FeatureStack> = {};
    for (const plan of props.plans) {
      features[plan.feature] = new FeatureStack(this, `Feature${pascalCase(plan.feature)}`, {
        plan,
        stage: props.stage,
        functions: this.functions.functions,
        production,
        logRetention: props.logRetention,
      });
    }
    this.features = features;
    this.rollouts = Object.fromEntries(Object.entries(features).map(([feature, f]) => [feature, f.rollout]));
    // The stage's own functions know each state machine by its fixed name (phasegate-<stage>-<feature>), not through
    // the nested stacks' outputs: no output per feature, and no resource here waits for a feature's stack.
    const rollouts: Record<string, IStateMachine> = Object.fromEntries(
      props.plans.map((plan) => [
        plan.feature,
        StateMachine.fromStateMachineName(this, `${pascalCase(plan.feature)}StateMachineRef`, stateMachineName(props.stage, plan.feature)),
      ]),
    );
    const discordDefaults = discordParameterNames(props.stage);
    this.discord = new DiscordEndpoint(this, 'Discord', {
      stage: props.stage,
      table: this.stateTable.table,
      plans: props.plans,
      stateMachines: rollouts,
      publicKeyParameterName: props.discord?.publicKeyParameter ?? discordDefaults.publicKey,
      botTokenParameterName: props.discord?.botTokenParameter ?? discordDefaults.botToken,
      botTokenKey: props.discord?.botTokenKey,
      applicationId: props.discord?.applicationId,
      apiBaseUrl: props.discord?.apiBaseUrl,
      mentionApprovers: props.discord?.mentionApprovers,
      production,
      logRetention: props.logRetention,
    });
    for (const step of NOTIFYING_STEPS) this.discord.grantNotifications(this.functions.constructs[step]);
    this.featureAlarms = Object.fromEntries(Object.entries(features).map(([feature, f]) => [feature, f.alarms]));
    // Discord is configured for the stage when a plan names a channel: rollbacks and alerts are posted there.
    const alertChannels = stageAlertChannels(props.plans);
    const discordConfigured = alertChannels.length > 0;
    if (props.plans.length > 0) {
      this.alarmRollback = new AlarmRollback(this, 'AlarmRollback', {
        stage: props.stage,
        table: this.stateTable.table,
        targets: props.plans.flatMap((plan) => plan.targets),
        stateMachines: rollouts,
        production,
        logRetention: props.logRetention,
        ...(discordConfigured ? { discord: this.discord } : {}),
      });
      // A rollback from Discord that outlasts its invocation is finished by the stage's rollback worker.
      this.alarmRollback.grantContinuation(this.discord.handler);
      this.rollbackAlerts = new RollbackAlerts(this, 'RollbackAlerts', {
        stage: props.stage,
        table: this.stateTable.table,
        rollbackFunction: this.alarmRollback.function.function,
        failureQueue: this.alarmRollback.failures.queue,
        deadLetterQueue: this.alarmRollback.deadLetters.queue,
        ...(discordConfigured ? { discord: { notifications: this.discord, channelIds: alertChannels } } : {}),
        production,
        logRetention: props.logRetention,
      });
      this.driftReconcile = new DriftReconcile(this, 'DriftReconcile', {
        stage: props.stage,
        table: this.stateTable.table,
        features: props.plans.map((plan) => plan.feature),
        targets: props.plans.flatMap((plan) => plan.targets),
        ownRoles: [
          ...(['apply-phase', 'gate', 'rollback'] as const).map((step) => this.functions.constructs[step].role),
          this.alarmRollback.function.role,
          this.discord.handler.role,
        ],
        production,
        logRetention: props.logRetention,
        ...(discordConfigured ? { discord: this.discord } : {}),
      });
    }
    if (props.plans.some((plan) => plan.report !== undefined)) {
      this.dailyReport = new DailyReport(this, 'DailyReport', {
        stage: props.stage,
        table: this.stateTable.table,
        plans: props.plans,
        production,
        logRetention: props.logRetention,
      });
      this.discord.grantNotifications(this.dailyReport.function);
      // /rollout report asks the report function for a report now.
      this.dailyReport.grantReportRequests(this.discord.handler);
    }
    this.llmBudgetAccess = new LlmBudgetAccess(this, 'LlmBudgetAccess', { table: this.stateTable.table, stage: props.stage, plans: props.plans });

    new CfnOutput(this, TABLE_NAME_OUTPUT, {
      value: this.stateTable.table.tableName,
      description: 'Phasegate state table: rollout state, approvals and audit trail.',
    });
    for (const [feature, rollout] of Object.entries(rollouts)) {
      new CfnOutput(this, stateMachineOutputKey(feature), {
        value: rollout.stateMachineArn,
        description: `State machine that rolls out ${feature}.`,
      });
    }
    new CfnOutput(this, STATE_MACHINES_OUTPUT, {
      value: this.toJsonString(
        Object.fromEntries(Object.entries(rollouts).map(([feature, r]) => [feature, r.stateMachineArn])),
      ),
      description: 'JSON object mapping each feature id to its rollout state machine ARN.',
    });

    new CfnOutput(this, DISCORD_URL_OUTPUT, {
      value: this.discord.functionUrl.url,
      description: 'Discord interactions endpoint: paste it into the application\'s "Interactions Endpoint URL".',
    });

    Tags.of(this).add(STAGE_TAG, props.stage);
  }
}

function validate(props: PhasegateStackProps): string[] {
  const problems: string[] = [];
  if (typeof props.stage !== 'string' || !/^[a-z][a-z0-9-]*$/.test(props.stage)) {
    problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
  }
  const features = new Map<string, number>();
  const outputKeys = new Map<string, string>();
  props.plans.forEach((plan, i) => {
    // Checked before anything is built, so every plan's problems are reported together and before bundling.
    const planProblems = rolloutPlanProblems(plan, props.stage);
    if (planProblems.length > 0) {
      problems.push(...planProblems.map((p) => `plans[${i}] (${String(plan.feature)}): ${p}`));
      return;
    }
    const earlier = features.get(plan.feature);
    if (earlier !== undefined) problems.push(`plans[${i}].feature: "${plan.feature}" is already planned by plans[${earlier}]`);
    else features.set(plan.feature, i);
    const key = stateMachineOutputKey(plan.feature);
    const owner = outputKeys.get(key);
    if (owner !== undefined && owner !== plan.feature) {
      problems.push(`plans[${i}].feature: "${plan.feature}" and "${owner}" would share the stack output ${key}`);
    } else outputKeys.set(key, plan.feature);
  });
  return problems;
}
