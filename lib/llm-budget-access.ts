import { CfnOutput } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, ManagedPolicy, PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { LLM_BUDGET } from '../lambdas/core/contract';
import type { Plan } from '../lambdas/core/plan/schema';
import { llmBudgetPolicyName, llmBudgetPolicyOutputKey, pascalCase } from './naming';
import { throwIfProblems } from './props-problems';

/** What the runtime budget guard does on the table: read a day's budget, reserve and settle on it. */
export const LLM_BUDGET_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'] as const;

/**
 * The IAM condition that limits a principal to one feature's budget items: the partition `BUDGET#<feature>`
 * only, never the feature's rollout state, approvals (task tokens) or audit trail.
 */
export function llmBudgetConditions(feature: string): Record<string, Record<string, unknown>> {
  return { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [LLM_BUDGET.partition(feature)] } };
}

/**
 * Grants a function of the same CDK app what `phasegate/runtime/llm-budget` needs for one feature. Functions of
 * other stacks attach the managed policy of {@link LlmBudgetAccess} by name instead. Either way the function
 * also needs `PHASEGATE_BUDGET_TABLE_NAME` set to the table's name.
 */
export function grantLlmBudget(grantee: IGrantable, table: ITable, feature: string): Grant {
  return Grant.addToPrincipal({
    grantee,
    actions: [...LLM_BUDGET_ACTIONS],
    resourceArns: [table.tableArn],
    conditions: llmBudgetConditions(feature),
  });
}

/** Props of {@link LlmBudgetAccess}. */
export interface LlmBudgetAccessProps {
  /** The state table that holds the budgets. */
  readonly table: ITable;
  /** Deployment stage: part of each policy's name. */
  readonly stage: string;
  /** The stage's plans: one policy for each feature with at least one LLM sub-feature, none for the others. */
  readonly plans: readonly Plan[];
}

/**
 * One customer-managed policy per feature with an LLM budget, named `phasegate-<stage>-<feature>-llm-budget`,
 * allowing `dynamodb:GetItem` and `dynamodb:UpdateItem` on the state table for the feature's budget partition
 * only (`dynamodb:LeadingKeys`). The target functions live in other stacks: their owners attach the policy
 * (`ManagedPolicy.fromManagedPolicyName(this, 'LlmBudget', 'phasegate-prod-ux-update-llm-budget')`) and set
 * `PHASEGATE_BUDGET_TABLE_NAME` from the stack output `TableName`. Outputs each policy's ARN as
 * `<Feature>LlmBudgetPolicyArn`.
 */
export class LlmBudgetAccess extends Construct {
  /** The policy of each feature with an LLM budget, by feature id. */
  public readonly policies: Readonly<Record<string, ManagedPolicy>>;

  constructor(scope: Construct, id: string, props: LlmBudgetAccessProps) {
    super(scope, id);
    const problems: string[] = [];
    if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) {
      problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
    }
    props.plans.forEach((plan, i) => {
      const name = llmBudgetPolicyName(props.stage, plan.feature);
      if (name.length > 128) problems.push(`plans[${i}].feature: the policy name ${name} is longer than IAM's 128 characters`);
    });
    throwIfProblems(`LlmBudgetAccess ${this.node.path}`, problems);

    const policies: Record<string, ManagedPolicy> = {};
    for (const plan of props.plans) {
      if (!plan.subFeatures.some((sub) => sub.llm !== undefined)) continue;
      const pascal = pascalCase(plan.feature);
      const policy = new ManagedPolicy(this, pascal, {
        managedPolicyName: llmBudgetPolicyName(props.stage, plan.feature),
        description: `Lets a target function guard the LLM spend of ${plan.feature} (phasegate/runtime/llm-budget): its budget items only.`,
        statements: [
          new PolicyStatement({
            sid: `LlmBudgetOf${pascal}`,
            actions: [...LLM_BUDGET_ACTIONS],
            resources: [props.table.tableArn],
            conditions: llmBudgetConditions(plan.feature),
          }),
        ],
      });
      const key = llmBudgetPolicyOutputKey(plan.feature);
      new CfnOutput(this, key, {
        value: policy.managedPolicyArn,
        description: `Managed policy for the target functions of ${plan.feature}: reserve and settle its LLM budget.`,
      }).overrideLogicalId(key);
      policies[plan.feature] = policy;
    }
    this.policies = policies;
  }
}
