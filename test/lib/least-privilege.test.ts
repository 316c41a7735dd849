import { runSimulation } from '@cloud-copilot/iam-simulate';
import { AWS_CALLS, type AwsCall, type CallResource, type DeployedFunctionName } from '../../lambdas/adapters/aws-calls';
import { ENV } from '../../lambdas/core/contract';
import { stageStack, FAKE_ENV, resolveIntrinsics, asArray } from './template-helpers';

/**
 * Least privilege, checked with an IAM policy simulator (@cloud-copilot/iam-simulate, which follows the Service
 * Authorization Reference) over the synthesized template: every call in {@link AWS_CALLS} is allowed by its
 * function's policies, on its own resources only, and no function is granted an action its list does not name.
 */

const { template } = stageStack('dev');
const resources = template.toJSON().Resources as Record<string, { Type: string; Properties?: Record<string, any> }>;
const { partition, region, account } = FAKE_ENV;

/** A resource's ARN as CloudFormation would resolve `Fn::GetAtt [id, Arn]` (or `Ref` for the types whose Ref is one). */
function arnOf(logicalId: string): string {
  const resource = resources[logicalId];
  if (!resource) return logicalId;
  const name = (key: string): string => String(resolve(resource.Properties?.[key] ?? logicalId));
  switch (resource.Type) {
    case 'AWS::Lambda::Function':
      return `arn:${partition}:lambda:${region}:${account}:function:${name('FunctionName')}`;
    case 'AWS::DynamoDB::Table':
      return `arn:${partition}:dynamodb:${region}:${account}:table/${name('TableName')}`;
    case 'AWS::StepFunctions::StateMachine':
      return `arn:${partition}:states:${region}:${account}:stateMachine:${name('StateMachineName')}`;
    case 'AWS::SQS::Queue':
      return `arn:${partition}:sqs:${region}:${account}:${name('QueueName')}`;
    case 'AWS::Logs::LogGroup':
      return `arn:${partition}:logs:${region}:${account}:log-group:${name('LogGroupName')}:*`;
    case 'AWS::SNS::Topic':
      return `arn:${partition}:sns:${region}:${account}:${name('TopicName')}`;
    default:
      return `arn:${partition}:unknown:${region}:${account}:${logicalId}`;
  }
}

function resolve(value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const ref = (value as { Ref?: unknown }).Ref;
    if (typeof ref === 'string' && resources[ref] && ['AWS::StepFunctions::StateMachine', 'AWS::SNS::Topic'].includes(resources[ref]!.Type)) return arnOf(ref);
  }
  if (Array.isArray(value)) return value.map(resolve);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && (entries[0]![0] === 'Ref' || entries[0]![0].startsWith('Fn::'))) {
      return resolveIntrinsics(
        Object.fromEntries(entries.map(([k, v]) => [k, k === 'Ref' ? v : resolve(v)])),
        (id, attribute) => (attribute === 'Arn' ? arnOf(id) : `${id}.${attribute}`),
      );
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v)]));
  }
  return value;
}

interface DeployedFunction {
  readonly logicalId: string;
  readonly arn: string;
  readonly statements: { Effect: string; Action: string | string[]; Resource: string | string[]; Condition?: unknown }[];
}

/** The deployed functions by their `PHASEGATE_FUNCTION`, with the statements of every policy attached to their role. */
const deployed = new Map<string, DeployedFunction>();
for (const [logicalId, fn] of Object.entries(resources)) {
  if (fn.Type !== 'AWS::Lambda::Function') continue;
  const name = fn.Properties?.Environment?.Variables?.PHASEGATE_FUNCTION as string | undefined;
  if (!name) continue;
  const roleId = fn.Properties!.Role['Fn::GetAtt'][0] as string;
  const statements = Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties!.Roles as { Ref: string }[]).some((role) => role.Ref === roleId))
    .flatMap((r) => (resolve(r.Properties!.PolicyDocument) as { Statement: DeployedFunction['statements'] }).Statement);
  deployed.set(name, { logicalId, arn: arnOf(logicalId), statements });
}

const stateMachineNames = Object.values(resources)
  .filter((r) => r.Type === 'AWS::StepFunctions::StateMachine')
  .map((r) => String(resolveIntrinsics(r.Properties!.StateMachineName)));
const targetArns = [...new Set(
  Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((r) => (resolve(r.Properties!.PolicyDocument) as { Statement: DeployedFunction['statements'] }).Statement)
    .filter((s) => asArray(s.Action).includes('lambda:UpdateFunctionConfiguration'))
    .flatMap((s) => asArray(s.Resource)),
)];
const tableArn = arnOf(Object.entries(resources).find(([, r]) => r.Type === 'AWS::DynamoDB::Table')![0]);
const parameter = (suffix: string): string => `arn:${partition}:ssm:${region}:${account}:parameter/phasegate/dev/discord/${suffix}`;

/** The ARNs a call's resource stands for in the dev stack, and one of the same kind the function must not reach. */
function resourceArns(name: string, resource: CallResource): { own: string[]; foreign: string | undefined } {
  const fn = deployed.get(name)!;
  switch (resource) {
    case 'state-table':
      return { own: [tableArn], foreign: `arn:${partition}:dynamodb:${region}:${account}:table/someone-elses-table` };
    case 'target-functions':
      return { own: targetArns, foreign: `arn:${partition}:lambda:${region}:${account}:function:someone-elses-function` };
    case 'own-function':
      return { own: [fn.arn], foreign: deployed.get('gate')!.arn };
    case 'alarm-rollback-function':
      return { own: [deployed.get('alarm-rollback')!.arn], foreign: deployed.get('rollback')!.arn };
    case 'daily-report-function':
      return { own: [deployed.get('daily-report')!.arn], foreign: deployed.get('rollback')!.arn };
    case 'rollout-state-machines':
      return { own: stateMachineNames.map((n) => `arn:${partition}:states:${region}:${account}:stateMachine:${n}`), foreign: `arn:${partition}:states:${region}:${account}:stateMachine:someone-elses-machine` };
    case 'rollout-executions':
      return { own: stateMachineNames.map((n) => `arn:${partition}:states:${region}:${account}:execution:${n}:run-1`), foreign: `arn:${partition}:states:${region}:${account}:execution:someone-elses-machine:run-1` };
    case 'discord-public-key':
      return { own: [parameter('public-key')], foreign: `arn:${partition}:ssm:${region}:${account}:parameter/someone/elses/key` };
    case 'discord-bot-token':
      return { own: [parameter('bot-token')], foreign: `arn:${partition}:ssm:${region}:${account}:parameter/someone/elses/secret` };
    case 'failure-queue': {
      const queues = fn.statements.filter((s) => asArray(s.Action).includes('sqs:SendMessage')).flatMap((s) => asArray(s.Resource));
      return { own: queues, foreign: `arn:${partition}:sqs:${region}:${account}:someone-elses-queue` };
    }
    case 'any':
      return { own: ['*'], foreign: undefined };
  }
}

/** Whether the stack gave the function the bot token's parameter name: only then does its code post to Discord. */
function hasBotToken(name: string): boolean {
  return resources[deployed.get(name)!.logicalId]!.Properties?.Environment?.Variables?.[ENV.discordBotTokenParameter] !== undefined;
}

async function simulate(name: string, action: string, resource: string): Promise<string> {
  const fn = deployed.get(name)!;
  const result = await runSimulation(
    {
      identityPolicies: [{ name: 'role', policy: { Version: '2012-10-17', Statement: fn.statements } }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        action,
        principal: `arn:${partition}:iam::${account}:role/${name}`,
        resource: { resource, accountId: account },
        contextVariables: {},
      },
    },
    {},
  );
  return result.resultType === 'error' ? `error: ${JSON.stringify(result.errors)}` : result.overallResult;
}

/**
 * Actions the Service Authorization Reference lists without resource types, though AWS authorizes them against a
 * resource: SendTaskSuccess and SendTaskFailure are checked against the state machine of the task (their
 * AccessDeniedException names `...:stateMachine:<name>`), so the stack scopes them to the stage's machines. The
 * simulator only evaluates them on "*"; for these the test matches the statements itself.
 */
const SCOPED_WITHOUT_RESOURCE_TYPES = new Set(['states:SendTaskSuccess', 'states:SendTaskFailure']);

/** What Lambda itself needs of every function's role: its log group and X-Ray tracing. */
const PLATFORM_ACTIONS = new Set(['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTraceSegments', 'xray:PutTelemetryRecords']);

const calls = Object.entries(AWS_CALLS).flatMap(([name, list]) => list.map((call) => [name, call] as [DeployedFunctionName, AwsCall]));
const present = calls.filter(([name]) => deployed.has(name));

describe('every call a function makes is allowed, on its own resources only', () => {
  it('covers the stage\'s deployed functions', () => {
    expect([...deployed.keys()].filter((name) => !(name in AWS_CALLS))).toEqual([]);
  });

  it.each(present.map(([name, call]) => [name, call.action, call.resource, call]))('%s: %s on %s', async (name, action, resource, call) => {
    if (resource === 'discord-bot-token' && !hasBotToken(name)) {
      // Without the variable the code never reads the token (no notifier), and the stack grants nothing.
      expect(await simulate(name, action, parameter('bot-token'))).toBe('ImplicitlyDenied');
      return;
    }
    const { own, foreign } = resourceArns(name, (call as AwsCall).resource);
    expect(own.length).toBeGreaterThan(0);
    if (SCOPED_WITHOUT_RESOURCE_TYPES.has(action)) {
      const granted = deployed.get(name)!.statements.filter((s) => s.Effect === 'Allow' && asArray(s.Action).includes(action)).flatMap((s) => asArray(s.Resource));
      expect(granted.sort()).toEqual([...own].sort());
      return;
    }
    for (const arn of own) expect([arn, await simulate(name, action, arn)]).toEqual([arn, 'Allowed']);
    if (foreign) expect([foreign, await simulate(name, action, foreign)]).toEqual([foreign, 'ImplicitlyDenied']);
  });
});

describe('no function holds an action its code does not call', () => {
  it.each([...deployed.keys()])('%s', (name) => {
    const listed = new Set((AWS_CALLS[name as DeployedFunctionName] ?? []).map((c) => c.action));
    const granted = deployed.get(name)!.statements.filter((s) => s.Effect === 'Allow').flatMap((s) => asArray(s.Action));
    expect([...new Set(granted.filter((a) => !listed.has(a) && !PLATFORM_ACTIONS.has(a)))]).toEqual([]);
  });
});
