import { Aws, Duration, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Policy, PolicyStatement, type IRole } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV, PHASEGATE_FUNCTIONS, type PhasegateFunctionName } from '../lambdas/core/contract';
import { TargetSchema } from '../lambdas/core/plan/schema';
import { parseTarget } from '../lambdas/core/flags/target';
import { pascalCase } from './naming';
import { PhasegateFunction, type TableAccess } from './phasegate-function';
import { throwIfProblems } from './props-problems';

/** How each Phasegate function is deployed and what it may touch besides its own logs. */
interface FunctionSpec {
  readonly timeout: Duration;
  readonly tableAccess: TableAccess;
  /** Reads and writes the environment of the plans' target functions. */
  readonly writesTargetFlags: boolean;
  /** Reads the state of the plan's CloudWatch alarms at the gate. */
  readonly readsAlarms: boolean;
  /** Reads metric statistics (GetMetricData): the gate's bake window, and the baseline when a rollout starts. */
  readonly readsMetrics?: boolean;
}

/** Seconds left between a flag write's wait and the Lambda timeout, so the handler can report and put back. */
const FLAG_WRITE_MARGIN_SECONDS = 60;

const FUNCTION_SPECS: Readonly<Record<PhasegateFunctionName, FunctionSpec>> = {
  'start-rollout': { timeout: Duration.seconds(30), tableAccess: 'readWrite', writesTargetFlags: false, readsAlarms: false, readsMetrics: true },
  // Applying flags and rolling back wait for every target's LastUpdateStatus to become Successful.
  'apply-phase': { timeout: Duration.minutes(5), tableAccess: 'readWrite', writesTargetFlags: true, readsAlarms: false },
  // The gate repairs drift of the phase's flags first (waiting out a target's own update in progress).
  gate: { timeout: Duration.minutes(2), tableAccess: 'readWrite', writesTargetFlags: true, readsAlarms: true, readsMetrics: true },
  'request-approval': { timeout: Duration.seconds(30), tableAccess: 'readWrite', writesTargetFlags: false, readsAlarms: false },
  'finish-rollout': { timeout: Duration.seconds(30), tableAccess: 'readWrite', writesTargetFlags: false, readsAlarms: false },
  rollback: { timeout: Duration.minutes(5), tableAccess: 'readWrite', writesTargetFlags: true, readsAlarms: false },
};

/** Props of {@link PhasegateFunctions}. */
export interface PhasegateFunctionsProps {
  /** Deployment stage, written to each function's environment. */
  readonly stage: string;
  /** The state table every function reads and writes. */
  readonly table: ITable;
  /**
   * The target functions of every plan of the stage, as names or unqualified ARNs. `apply-phase` and
   * `rollback` may read and update the configuration of exactly these functions and no other.
   */
  readonly targets: readonly string[];
  /**
   * Keep the log groups when the stack is deleted (production).
   * @default - false: log groups are destroyed with the stack
   */
  readonly production?: boolean;
  /**
   * How long the functions' logs are kept.
   * @default - one month
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The Lambda actions a flag writer needs on a target, and the only ones any Phasegate function gets on one:
 * `GetFunction` reads the environment, RevisionId and LastUpdateStatus (its own quota of 100 requests per second,
 * instead of the 15 per second that GetFunctionConfiguration shares with every control-plane call; see
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Lambda API requests"), and
 * `UpdateFunctionConfiguration` writes the flags.
 */
export const TARGET_FLAG_ACTIONS: readonly string[] = ['lambda:GetFunction', 'lambda:UpdateFunctionConfiguration'];

/**
 * The ARN of a target function given by name or by ARN. A name becomes an ARN in the stack's own partition,
 * region and account, which is where a plan's bare names live.
 */
export function targetFunctionArn(target: string): string {
  const { functionName } = parseTarget(target);
  if (functionName.startsWith('arn:')) return functionName;
  return `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:${functionName}`;
}

/**
 * Up to this many distinct target functions in a stage, flag writers are granted each target by ARN. Beyond it the
 * ARNs no longer fit: a role's inline policies hold at most 10,240 characters and a managed policy 6,144 (IAM quotas),
 * and six roles repeating a thousand ARNs push the stage's template past CloudFormation's 1 MB.
 */
export const EXACT_TARGET_GRANT_LIMIT = 150;

/** The tag a target function carries when its stage grants targets by tag: `phasegate:<stage>` = `target`. */
export function targetTagKey(stage: string): string {
  return `phasegate:${stage}`;
}

/** Value of {@link targetTagKey} on a target function. */
export const TARGET_TAG_VALUE = 'target';

/**
 * The statements a flag writer needs on the plans' targets, and nothing more: {@link TARGET_FLAG_ACTIONS} on each
 * unqualified function; for alias targets (`fn:live`) also `PublishVersion` on that function and `GetAlias`,
 * `UpdateAlias` and `GetFunction` on exactly that alias (the writer reads the served version through the alias).
 * A stage with more than {@link EXACT_TARGET_GRANT_LIMIT} distinct target functions grants the same actions on the
 * functions that carry the stage's target tag instead (Lambda's attribute-based access control: `aws:ResourceTag` on
 * function, version and alias actions); the README says how to tag them.
 */
export function targetFlagStatements(sid: string, targets: readonly string[], stage?: string): PolicyStatement[] {
  const unique = [...new Set(targets)].sort();
  if (unique.length === 0) return [];
  const functions = [...new Set(unique.map(targetFunctionArn))].sort();
  const aliased = unique.filter((t) => parseTarget(t).alias !== undefined);
  if (stage !== undefined && functions.length > EXACT_TARGET_GRANT_LIMIT) {
    const anyFunction = `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:*`;
    return [
      new PolicyStatement({
        sid,
        actions: [...TARGET_FLAG_ACTIONS, ...(aliased.length > 0 ? ['lambda:PublishVersion', 'lambda:GetAlias', 'lambda:UpdateAlias'] : [])],
        resources: [anyFunction],
        conditions: { StringEquals: { [`aws:ResourceTag/${targetTagKey(stage)}`]: TARGET_TAG_VALUE } },
      }),
    ];
  }
  const statements = [new PolicyStatement({ sid, actions: [...TARGET_FLAG_ACTIONS], resources: functions })];
  if (aliased.length > 0) {
    statements.push(
      new PolicyStatement({ sid: `${sid}PublishVersions`, actions: ['lambda:PublishVersion'], resources: [...new Set(aliased.map(targetFunctionArn))].sort() }),
      new PolicyStatement({
        sid: `${sid}MoveAliases`,
        actions: ['lambda:GetAlias', 'lambda:UpdateAlias', 'lambda:GetFunction'],
        resources: aliased.map((t) => `${targetFunctionArn(t)}:${parseTarget(t).alias!}`),
      }),
    );
  }
  return statements;
}

/**
 * Give a flag writer's role {@link targetFlagStatements}. Granted by tag (a large stage), the statements go in a policy
 * of their own whose function wildcard is acknowledged with its reason.
 */
export function grantTargetFlags(scope: Construct, role: IRole, sid: string, targets: readonly string[], stage: string): void {
  const statements = targetFlagStatements(sid, targets, stage);
  const byTag = statements.some((st) => st.resources.some((r) => r.endsWith(':function:*')));
  if (!byTag) {
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    return;
  }
  const policy = new Policy(scope, `${sid}ByTag`, { statements });
  role.attachInlinePolicy(policy);
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]',
    reason:
      `The stage has more than ${EXACT_TARGET_GRANT_LIMIT} target functions, whose ARNs no longer fit IAM's policy size limits; the ` +
      `flag actions are granted only on functions tagged ${targetTagKey(stage)}=${TARGET_TAG_VALUE} (aws:ResourceTag condition).`,
  });
}

/**
 * Every function in {@link PHASEGATE_FUNCTIONS}, each with least-privilege permissions: all of them read and
 * write the state table; `apply-phase` and `rollback` read and update the configuration of the plans' target
 * functions only; `gate` reads CloudWatch alarm states.
 */
export class PhasegateFunctions extends Construct {
  /** The functions by name. */
  public readonly functions: Readonly<Record<PhasegateFunctionName, NodejsFunction>>;
  /** The function constructs by name, with their roles and log groups. */
  public readonly constructs: Readonly<Record<PhasegateFunctionName, PhasegateFunction>>;

  constructor(scope: Construct, id: string, props: PhasegateFunctionsProps) {
    super(scope, id);
    const problems: string[] = [];
    if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) {
      problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
    }
    props.targets.forEach((target, i) => {
      const parsed = TargetSchema.safeParse(target);
      if (!parsed.success) problems.push(`targets[${i}]: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
    });
    throwIfProblems(`PhasegateFunctions ${this.node.path}`, problems);

    const built = {} as Record<PhasegateFunctionName, PhasegateFunction>;
    for (const name of PHASEGATE_FUNCTIONS) {
      const spec = FUNCTION_SPECS[name];
      const fn = new PhasegateFunction(this, pascalCase(name), {
        name,
        stage: props.stage,
        table: props.table,
        tableAccess: spec.tableAccess,
        timeout: spec.timeout,
        production: props.production,
        logRetention: props.logRetention,
        environment: spec.writesTargetFlags
          ? { [ENV.flagWriteTimeoutSeconds]: String(spec.timeout.toSeconds() - FLAG_WRITE_MARGIN_SECONDS) }
          : undefined,
      });
      if (spec.writesTargetFlags) {
        grantTargetFlags(fn, fn.role, 'ReadAndWriteTargetFlags', props.targets, props.stage);
      }
      if (spec.readsAlarms) grantAlarmReads(fn);
      if (spec.readsMetrics) grantMetricReads(fn);
      built[name] = fn;
    }
    this.constructs = built;
    this.functions = Object.fromEntries(PHASEGATE_FUNCTIONS.map((name) => [name, built[name].function])) as Record<
      PhasegateFunctionName,
      NodejsFunction
    >;
  }
}

/**
 * The gate's alarm reads, in a policy of their own so that their `*` is acknowledged on its own. DescribeAlarms
 * could be scoped to alarm ARNs, but then it silently leaves out composite alarms, which a gate may watch.
 */
function grantAlarmReads(fn: PhasegateFunction): void {
  const policy = new Policy(fn, 'AlarmReads', {
    statements: [
      new PolicyStatement({ sid: 'ReadGateAlarmStates', actions: ['cloudwatch:DescribeAlarms'], resources: ['*'] }),
    ],
  });
  fn.role.attachInlinePolicy(policy);
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'cloudwatch:DescribeAlarms has resource-level permissions (resource type alarm), but it returns composite alarms ' +
      'only when the permission is scoped to "*" (DescribeAlarms API reference). The gate reads the plans\' alarms, ' +
      'composite ones included (the feature\'s own composite rollback alarm among them), so Resource "*"; read-only.',
  });
}

/** GetMetricData for the gate's bands and the start's baseline, in a policy of its own so its `*` is acknowledged on its own. */
function grantMetricReads(fn: PhasegateFunction): void {
  const policy = new Policy(fn, 'MetricReads', {
    statements: [new PolicyStatement({ sid: 'ReadGateMetrics', actions: ['cloudwatch:GetMetricData'], resources: ['*'] })],
  });
  fn.role.attachInlinePolicy(policy);
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'cloudwatch:GetMetricData supports no resource-level permissions, so reading the gates\' metrics (the bake window ' +
      'and the baseline before a rollout) needs Resource "*"; the action is read-only.',
  });
}
