/**
 * Names that tooling reads back from a deployed stack: the stack, its state machines and its outputs.
 * One helper per name, so the constructs and the tooling derive them the same way.
 */

/** `ux-update` -> `UxUpdate`: a construct id or output key part from a feature or function id. */
export function pascalCase(id: string): string {
  return id
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}

/** The CloudFormation stack of a stage: `phasegate-<stage>`. */
export function stackName(stage: string): string {
  return `phasegate-${stage}`;
}

/** The state machine that rolls out one feature in one stage: `phasegate-<stage>-<feature>` (the functions derive its ARN). */
export { stateMachineName } from '../lambdas/core/contract';

/** Step Functions' limit on a state machine name. */
export const STATE_MACHINE_NAME_MAX_LENGTH = 80;

/** Stack output holding the state table's name. */
export const TABLE_NAME_OUTPUT = 'TableName';

/** Stack output holding a JSON object that maps each feature id to its state machine ARN. */
export const STATE_MACHINES_OUTPUT = 'RolloutStateMachines';

/** Stack output holding one feature's state machine ARN: `ux-update` -> `UxUpdateStateMachineArn`. */
export function stateMachineOutputKey(feature: string): string {
  return `${pascalCase(feature)}StateMachineArn`;
}

/**
 * The managed policy that lets a target function guard one feature's LLM spend:
 * `phasegate-<stage>-<feature>-llm-budget`. A fixed name, so a target's own stack can attach it by name.
 */
export function llmBudgetPolicyName(stage: string, feature: string): string {
  return `phasegate-${stage}-${feature}-llm-budget`;
}

/** Stack output holding one feature's LLM budget policy ARN: `ux-update` -> `UxUpdateLlmBudgetPolicyArn`. */
export function llmBudgetPolicyOutputKey(feature: string): string {
  return `${pascalCase(feature)}LlmBudgetPolicyArn`;
}
