import { NestedStack, type NestedStackProps, Names, Stack, Validations } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { PhasegateFunctionName } from '../lambdas/core/contract';
import type { Plan } from '../lambdas/core/plan/schema';
import { FeatureAlarms } from './feature-alarms';
import { RolloutStateMachine } from './rollout-state-machine';

/** Props of {@link FeatureStack}. */
export interface FeatureStackProps extends NestedStackProps {
  /** The feature's plan, resolved for {@link FeatureStackProps.stage}. */
  readonly plan: Plan;
  /** Deployment stage. */
  readonly stage: string;
  /** The stage's Phasegate functions the state machine invokes (they live in the stage's stack). */
  readonly functions: Readonly<Record<PhasegateFunctionName, IFunction>>;
  /**
   * Keep the execution log group when the stack is deleted (production).
   * @default - false
   */
  readonly production?: boolean;
  /**
   * How long execution logs are kept.
   * @default - one month
   */
  readonly logRetention?: RetentionDays;
}

/**
 * Everything one feature adds to a stage, in a nested stack of its own: its rollout state machine (with its log
 * group and role) and its rollback alarms, composite alarm and dashboard. A 10-phase feature is about 90 KB of
 * template; one nested stack each keeps every template far from CloudFormation's 1 MB and 500 resources with 50
 * features, and a stage is still deployed with one `cdk deploy`. The construct ids come from the feature id only, so
 * adding or removing a feature never changes another feature's logical ids.
 */
export class FeatureStack extends NestedStack {
  /** The feature's rollout state machine. */
  public readonly rollout: RolloutStateMachine;
  /** The feature's rollback alarms, composite alarm and dashboard. */
  public readonly alarms: FeatureAlarms;

  constructor(scope: Construct, id: string, props: FeatureStackProps) {
    super(scope, id, { description: `Phasegate ${props.stage}: rollout of ${props.plan.feature}`, ...props });
    this.rollout = new RolloutStateMachine(this, 'Rollout', {
      plan: props.plan,
      stage: props.stage,
      functions: props.functions,
      production: props.production,
      logRetention: props.logRetention,
    });
    this.alarms = new FeatureAlarms(this, 'Alarms', { plan: props.plan, stage: props.stage });
    this.acknowledgeFunctionWildcards(props.functions);
  }

  /**
   * The functions live in the stage's stack, so here their ARNs arrive as the nested stack's parameters
   * (`referenceto<function>Arn`), and CDK's invoke grant on `<arn>:*` names the parameter, not the function.
   */
  private acknowledgeFunctionWildcards(functions: FeatureStackProps['functions']): void {
    const policy = this.rollout.stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (!policy) return;
    for (const fn of new Set(Object.values(functions))) {
      const resource = fn.node.defaultChild;
      if (!resource || Stack.of(fn) === this) continue;
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<referenceto${Names.nodeUniqueId(resource.node)}Arn>:*]`,
        reason:
          'CDK grants lambda:InvokeFunction on the Phasegate function and on its versions and aliases (<arn>:*); ' +
          "it is one of the stage's own functions (passed in as this feature stack's parameter), not a wildcard over others.",
      });
    }
  }
}
