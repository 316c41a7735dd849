import type { AuxiliaryFunctionName, PhasegateFunctionName } from '../core/contract';

/**
 * Every AWS call each deployed function makes, by IAM action and what it acts on: the one list the stack grants
 * table actions from, and the least-privilege test checks the synthesized policies against (each call allowed by
 * an IAM policy simulator, and no action granted that is not listed here). Add a call here in the same change
 * that makes the code call it.
 */

/** The Lambda functions a stage deploys: the state machine's steps and the functions around them. */
export type DeployedFunctionName = PhasegateFunctionName | AuxiliaryFunctionName;

/** What a call acts on. The test resolves each to the ARNs of the synthesized stack. */
export type CallResource =
  /** The stage's state table (rollout state, approvals, audit trail, LLM budgets, the rollback-active marker). */
  | 'state-table'
  /** The plans' target functions. */
  | 'target-functions'
  /** The calling function itself (an asynchronous invocation of itself). */
  | 'own-function'
  /** The stage's alarm-rollback function (a rollback follow-up handed to it). */
  | 'alarm-rollback-function'
  /** The stage's daily-report function (a report asked for in Discord). */
  | 'daily-report-function'
  /** The stage's rollout state machines. */
  | 'rollout-state-machines'
  /** Executions of the stage's rollout state machines. */
  | 'rollout-executions'
  /** The SSM parameter holding the Discord application's public key. */
  | 'discord-public-key'
  /** The SSM parameter holding the Discord bot token. */
  | 'discord-bot-token'
  /** The function's on-failure queue (Lambda sends failed asynchronous events there with the function's role). */
  | 'failure-queue'
  /** `*`: the action has no resource-level permissions, or (DescribeAlarms) only returns everything it must with `*`. */
  | 'any';

/** One call a function's code (or Lambda, on its behalf) makes. */
export interface AwsCall {
  readonly action: string;
  readonly resource: CallResource;
  /** Which code path makes it. */
  readonly why: string;
}

const table = (why: string, ...actions: string[]): AwsCall[] => actions.map((action) => ({ action: `dynamodb:${action}`, resource: 'state-table', why }));
const targets = (why: string): AwsCall[] => [
  { action: 'lambda:GetFunction', resource: 'target-functions', why: `${why}: read each target's environment, RevisionId and LastUpdateStatus` },
  { action: 'lambda:UpdateFunctionConfiguration', resource: 'target-functions', why: `${why}: write the flags` },
];
const botToken = (why: string): AwsCall => ({ action: 'ssm:GetParameter', resource: 'discord-bot-token', why });

/** The calls of each deployed function. */
export const AWS_CALLS: Readonly<Record<DeployedFunctionName, readonly AwsCall[]>> = {
  'start-rollout': [
    ...table('read the state, record the start (state and audit item)', 'GetItem', 'PutItem'),
    { action: 'cloudwatch:GetMetricData', resource: 'any', why: 'capture the gate metrics\' baseline' },
  ],
  'apply-phase': [
    ...table('read the state and the rollback-active marker, record the phase', 'GetItem', 'PutItem'),
    ...table('mark a rollback active while re-writing the safe flags after losing a race to a rollback', 'UpdateItem'),
    ...targets('write the phase\'s flags'),
    botToken('announce the phase in Discord'),
  ],
  gate: [
    ...table('read the state, record the gate result', 'GetItem', 'PutItem'),
    { action: 'cloudwatch:DescribeAlarms', resource: 'any', why: 'read the gate alarms\' states, composite alarms included (returned only with Resource "*")' },
    { action: 'cloudwatch:GetMetricData', resource: 'any', why: 'read the bands\' metrics over the bake window' },
    ...targets('repair drift of the phase\'s flags before judging the phase'),
    botToken('announce the gate result in Discord'),
  ],
  'request-approval': [
    ...table('read the state, store the approval request and the Discord message id, record the wait', 'GetItem', 'PutItem'),
    botToken('post the approval request in Discord'),
  ],
  'finish-rollout': [...table('read the state, record completion', 'GetItem', 'PutItem'), botToken('announce completion in Discord')],
  rollback: [
    ...table('read the state, record the rollback', 'GetItem', 'PutItem'),
    ...table('mark a rollback active (and clear it) so applies yield the Lambda quota', 'UpdateItem'),
    ...targets('write the safe flags'),
    botToken('announce the rollback in Discord'),
  ],
  'alarm-rollback': [
    ...table('read the state and the approval, record the rollback and the refusals', 'GetItem', 'PutItem'),
    ...table('claim the pending approval, mark it settled, mark a rollback active', 'UpdateItem'),
    ...targets('write the safe flags'),
    { action: 'states:SendTaskFailure', resource: 'rollout-state-machines', why: 'fail the pending approval\'s task token' },
    { action: 'states:StopExecution', resource: 'rollout-executions', why: 'stop an execution no approval token can end' },
    { action: 'lambda:InvokeFunction', resource: 'own-function', why: 'continue a rollback that ran out of time' },
    botToken('announce the rollback in Discord'),
    { action: 'sqs:SendMessage', resource: 'failure-queue', why: 'Lambda sends an event whose retries failed to the on-failure queue' },
    { action: 'sqs:GetQueueAttributes', resource: 'failure-queue', why: 'granted with SendMessage by the SQS on-failure destination' },
    { action: 'sqs:GetQueueUrl', resource: 'failure-queue', why: 'granted with SendMessage by the SQS on-failure destination' },
  ],
  'discord-interactions': [
    ...table('read states, approvals, budgets and drift records (/rollout verify); record decisions, pauses, refusals', 'GetItem', 'PutItem'),
    ...table('claim approvals, mark them settled, change a day\'s LLM cap, mark a rollback active', 'UpdateItem'),
    ...table('show the recent decisions in /rollout status and /rollout history (one feature\'s audit partition)', 'Query'),
    { action: 'states:SendTaskSuccess', resource: 'rollout-state-machines', why: 'hand an approval back' },
    { action: 'states:SendTaskFailure', resource: 'rollout-state-machines', why: 'hand a rejection back, end an execution on rollback' },
    { action: 'states:StartExecution', resource: 'rollout-state-machines', why: '/rollout start' },
    ...targets('/rollout rollback writes the safe flags, /rollout verify reads them'),
    { action: 'lambda:InvokeFunction', resource: 'own-function', why: 'run deferred work in an asynchronous invocation of itself' },
    { action: 'lambda:InvokeFunction', resource: 'alarm-rollback-function', why: 'hand a rollback that ran out of time to the stage\'s rollback worker' },
    { action: 'lambda:InvokeFunction', resource: 'daily-report-function', why: '/rollout report asks the daily-report function for a report now' },
    { action: 'ssm:GetParameter', resource: 'discord-public-key', why: 'verify interaction signatures' },
    botToken('post to the features\' channels'),
  ],
  'daily-report': [
    ...table('read the rollout states and the LLM budget days', 'GetItem'),
    { action: 'cloudwatch:GetMetricData', resource: 'any', why: 'the day\'s figures against the baseline and the bands' },
    { action: 'cloudwatch:GetMetricWidgetImage', resource: 'any', why: 'the picture of the rollout attached to the report' },
    botToken('post the report in Discord'),
  ],
  'rollback-alerts': [botToken('post rollback alerts in Discord')],
  reconcile: [
    ...table('read the rollout states and drift records, record repairs and back-offs (drift records and audit items)', 'GetItem', 'PutItem'),
    ...targets('repair drift: write back the flags a target\'s own deploy replaced'),
    botToken('announce repaired drift in Discord'),
    { action: 'sqs:SendMessage', resource: 'failure-queue', why: 'Lambda sends an event whose retries failed to the on-failure queue' },
    { action: 'sqs:GetQueueAttributes', resource: 'failure-queue', why: 'granted with SendMessage by the SQS on-failure destination' },
    { action: 'sqs:GetQueueUrl', resource: 'failure-queue', why: 'granted with SendMessage by the SQS on-failure destination' },
  ],
};

/** The DynamoDB actions a function calls on the state table, from {@link AWS_CALLS}. */
export function tableActionsOf(name: DeployedFunctionName): string[] {
  return [...new Set(AWS_CALLS[name].filter((c) => c.resource === 'state-table').map((c) => c.action))];
}

/** Whether `name` is one of the deployed functions {@link AWS_CALLS} knows. */
export function isDeployedFunction(name: string): name is DeployedFunctionName {
  return Object.prototype.hasOwnProperty.call(AWS_CALLS, name);
}
