import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Plan } from '../lambdas/core/plan/schema';
import { STATE_MACHINES_OUTPUT, TABLE_NAME_OUTPUT, pascalCase, stateMachineOutputKey } from './naming';
import { PhasegateFunctions } from './phasegate-functions';
import { throwIfProblems } from './props-problems';
import { RolloutStateMachine, rolloutPlanProblems } from './rollout-state-machine';
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
}

/**
 * One stage of Phasegate: the state table, the six functions and one rollout state machine per feature.
 * Outputs the table name, each feature's state machine ARN (`<Feature>StateMachineArn`) and a JSON map of all
 * of them (`RolloutStateMachines`), so tooling finds them without listing resources.
 */
export class PhasegateStack extends Stack {
  /** The state table. */
  public readonly stateTable: StateTable;
  /** The Phasegate functions. */
  public readonly functions: PhasegateFunctions;
  /** One rollout state machine per feature id. */
  public readonly rollouts: Readonly<Record<string, RolloutStateMachine>>;

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

    const rollouts: Record<string, RolloutStateMachine> = {};
    for (const plan of props.plans) {
      rollouts[plan.feature] = new RolloutStateMachine(this, `Rollout${pascalCase(plan.feature)}`, {
        plan,
        stage: props.stage,
        functions: this.functions.functions,
        production,
        logRetention: props.logRetention,
      });
    }
    this.rollouts = rollouts;

    new CfnOutput(this, TABLE_NAME_OUTPUT, {
      value: this.stateTable.table.tableName,
      description: 'Phasegate state table: rollout state, approvals and audit trail.',
    });
    for (const [feature, rollout] of Object.entries(rollouts)) {
      new CfnOutput(this, stateMachineOutputKey(feature), {
        value: rollout.stateMachine.stateMachineArn,
        description: `State machine that rolls out ${feature}.`,
      });
    }
    new CfnOutput(this, STATE_MACHINES_OUTPUT, {
      value: this.toJsonString(
        Object.fromEntries(Object.entries(rollouts).map(([feature, r]) => [feature, r.stateMachine.stateMachineArn])),
      ),
      description: 'JSON object mapping each feature id to its rollout state machine ARN.',
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
