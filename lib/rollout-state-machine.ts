import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  Errors,
  Fail,
  IntegrationPattern,
  JsonPath,
  LogLevel,
  Pass,
  Result,
  QueryLanguage,
  type State,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ERROR_NAMES, PHASEGATE_FUNCTIONS, type PhasegateFunctionName } from '../lambdas/core/contract';
import { holdPolicy } from '../lambdas/core/rollout/hold';
import { durationToSeconds } from '../lambdas/core/plan/duration';
import type { Plan } from '../lambdas/core/plan/schema';
import { validatePlan } from '../lambdas/core/plan/validate';
import { MAX_ROLLBACK_CONTINUATIONS } from '../lambdas/core/rollback/rollback';
import type { GateDecision } from '../lambdas/core/rollout/steps';
import { STATE_MACHINE_NAME_MAX_LENGTH, stateMachineName } from './naming';
import { throwIfProblems } from './props-problems';

/** How long an approval waits for a person's decision when the phase does not say. */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 7 * 24 * 3600;

/** Step Functions ends a Standard execution after one year. */
const MAX_EXECUTION_SECONDS = 365 * 24 * 3600;

/** Errors of the Lambda service itself, and Phasegate's own retryable errors: all retried with backoff. */
export const RETRYABLE_ERRORS: readonly string[] = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  ERROR_NAMES.transient,
  ERROR_NAMES.conflict,
];

/** The gate decisions the Choice after each gate routes on; typed against the gate's result. */
export const GATE_DECISIONS: Readonly<Record<'rollback' | 'hold' | 'ask', GateDecision>> = {
  rollback: 'ROLLBACK',
  hold: 'HOLD',
  ask: 'ASK',
};

/** Error names of the state machine's own Fail states, which an execution ends with. */
export const STATE_MACHINE_ERRORS = {
  notStarted: 'PhasegateNotStarted',
  superseded: 'PhasegateSuperseded',
  rolledBack: 'PhasegateRolledBack',
  rollbackFailed: 'PhasegateRollbackFailed',
} as const;

/** Props of {@link RolloutStateMachine}. */
export interface RolloutStateMachineProps {
  /**
   * The feature's plan, resolved for {@link RolloutStateMachineProps.stage} (`validatePlan(raw, { stage })`).
   * It is embedded in the definition, so every execution carries the plan it was deployed with.
   */
  readonly plan: Plan;
  /** Deployment stage the plan was resolved for. */
  readonly stage: string;
  /** The Phasegate functions the states invoke, by name. */
  readonly functions: Readonly<Record<PhasegateFunctionName, IFunction>>;
  /**
   * Keep the execution log group when the stack is deleted (production).
   * @default - false: the log group is destroyed with the stack
   */
  readonly production?: boolean;
  /**
   * How long execution logs are kept.
   * @default - one month
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The Standard state machine that walks one feature's rollout phases: load the plan, start, then per phase apply
 * the flags, bake, gate (roll back on `ROLLBACK`) and, when the phase requires it, wait for a person's approval
 * with a task token; then finish. Any failure after the start rolls back; a failed start changes nothing.
 * JSONPath only, every state's name and payload fixed by the contract the handlers and the local executor use.
 * Logs ALL events with execution data to its own log group, and traces with X-Ray.
 */
export class RolloutStateMachine extends Construct {
  /** The state machine, named `phasegate-<stage>-<feature>`. */
  public readonly stateMachine: StateMachine;
  /** Where the state machine logs its executions. */
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: RolloutStateMachineProps) {
    super(scope, id);
    throwIfProblems(`RolloutStateMachine ${this.node.path}`, validate(props));
    const { plan, stage, functions } = props;
    const name = stateMachineName(stage, plan.feature);

    this.logGroup = new LogGroup(this, 'Logs', {
      // The /aws/vendedlogs/ prefix lets CloudWatch Logs cover every state machine with one resource policy
      // entry; otherwise each log group adds to a policy capped at 5,120 characters.
      logGroupName: `/aws/vendedlogs/states/${name}`,
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: name,
      stateMachineType: StateMachineType.STANDARD,
      queryLanguage: QueryLanguage.JSON_PATH,
      definitionBody: DefinitionBody.fromChainable(this.buildDefinition(plan, stage, functions)),
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      comment: `Phasegate rollout of ${plan.feature} (${stage}): ${plan.phases.map((p) => p.name).join(' -> ')}`,
    });
    this.acknowledgeWildcards(functions);
  }

  private buildDefinition(plan: Plan, stage: string, functions: RolloutStateMachineProps['functions']): State {
    const common = {
      plan: JsonPath.objectAt('$.plan'),
      stage: JsonPath.stringAt('$.stage'),
      executionId: JsonPath.executionId,
      input: JsonPath.objectAt('$.input'),
    };
    const invoke = (stateName: string, fn: PhasegateFunctionName, payload: Record<string, unknown>): LambdaInvoke => {
      const task = new LambdaInvoke(this, stateName, {
        stateName,
        lambdaFunction: functions[fn],
        payloadResponseOnly: true,
        payload: TaskInput.fromObject(payload),
        resultPath: JsonPath.DISCARD,
        retryOnServiceExceptions: false,
      });
      return retried(task);
    };

    const notStarted = new Fail(this, 'Not started', {
      stateName: 'Not started',
      error: STATE_MACHINE_ERRORS.notStarted,
      cause: 'The rollout did not start, so nothing was changed: another rollout may own the flags, or the plan is invalid.',
    });
    const superseded = new Fail(this, 'Superseded', {
      stateName: 'Superseded',
      error: STATE_MACHINE_ERRORS.superseded,
      cause: 'A rollback or a newer execution took over this rollout; this execution stopped without changing anything.',
    });
    const rolledBack = new Fail(this, 'Rolled back', {
      stateName: 'Rolled back',
      error: STATE_MACHINE_ERRORS.rolledBack,
      cause: 'The rollout was rolled back (a gate, a rejected or expired approval, or a failed step) and the flags are in their safe state.',
    });
    const rollbackFailed = new Fail(this, 'Rollback failed', {
      stateName: 'Rollback failed',
      error: STATE_MACHINE_ERRORS.rollbackFailed,
      cause: 'Rolling back failed: the targets may not be in their safe state. Check the targets and the audit trail.',
    });

    const rollBack = invoke('Roll back', 'rollback', { ...common, context: JsonPath.entirePayload });
    // A rollback that ran out of time recorded its progress; each retry continues it. The step itself declares
    // ROLLBACK_FAILED (and fails) after its last follow-up, so the retries here are one more than those follow-ups.
    rollBack.addRetry({ errors: [ERROR_NAMES.rollbackIncomplete], interval: Duration.seconds(5), backoffRate: 1, maxAttempts: MAX_ROLLBACK_CONTINUATIONS + 1 });
    rollBack.addCatch(rollbackFailed, { errors: [Errors.ALL], resultPath: '$.rollbackError' });
    rollBack.next(rolledBack);

    // Stale first: an execution that lost ownership must stop, never roll back flags it no longer owns.
    const guarded = <T extends LambdaInvoke>(task: T, rollBackOn: readonly string[] = []): T => {
      task.addCatch(superseded, { errors: [ERROR_NAMES.staleExecution] });
      if (rollBackOn.length > 0) task.addCatch(rollBack, { errors: [...rollBackOn], resultPath: '$.error' });
      task.addCatch(rollBack, { errors: [Errors.ALL], resultPath: '$.error' });
      return task;
    };

    const readInput = new Pass(this, 'Read input', {
      stateName: 'Read input',
      parameters: { stage, input: JsonPath.entirePayload },
    });
    // The plan is the Pass state's Result, which Step Functions takes as literal JSON. In Parameters, a plan key
    // that ends in ".$" (a metric dimension, a principal pattern) would be read as a JSONPath and break the definition.
    const loadPlan = new Pass(this, 'Load plan', {
      stateName: 'Load plan',
      result: Result.fromObject(planDocument(plan)),
      resultPath: '$.plan',
    });
    readInput.next(loadPlan);
    const startRollout = invoke('Start rollout', 'start-rollout', common);
    // A failed start must never roll back: the flags may belong to another rollout of the feature.
    startRollout.addCatch(notStarted, { errors: [Errors.ALL], resultPath: '$.error' });
    loadPlan.next(startRollout);

    const completeRollout = guarded(invoke('Complete rollout', 'finish-rollout', common));

    // The first state of each phase: its apply, or for a phase that starts at a time of day, the step that says when.
    const applies = plan.phases.map((phase, phaseIndex) =>
      phase.optional
        ? // An optional phase's apply says whether it was skipped (nobody opted in): the result is read below.
          guarded(
            retried(
              new LambdaInvoke(this, `${phase.name}: apply flags`, {
                stateName: `${phase.name}: apply flags`,
                lambdaFunction: functions['apply-phase'],
                payloadResponseOnly: true,
                payload: TaskInput.fromObject({ ...common, phaseIndex }),
                resultPath: '$.applied',
                retryOnServiceExceptions: false,
              }),
            ),
          )
        : guarded(invoke(`${phase.name}: apply flags`, 'apply-phase', { ...common, phaseIndex })),
    );
    const entries: State[] = plan.phases.map((phase, phaseIndex) => {
      if (!phase.start) return applies[phaseIndex]!;
      const schedule = guarded(
        retried(
          new LambdaInvoke(this, `${phase.name}: schedule`, {
            stateName: `${phase.name}: schedule`,
            lambdaFunction: functions['apply-phase'],
            payloadResponseOnly: true,
            payload: TaskInput.fromObject({ ...common, phaseIndex, mode: 'schedule' }),
            resultPath: '$.schedule',
            retryOnServiceExceptions: false,
          }),
        ),
      );
      const waitForStart = new Wait(this, `${phase.name}: wait for start`, {
        stateName: `${phase.name}: wait for start`,
        time: WaitTime.timestampPath('$.schedule.startAt'),
      });
      schedule.next(waitForStart).next(applies[phaseIndex]!);
      return schedule;
    });
    const entryAfter = (phaseIndex: number): State => entries[phaseIndex + 1] ?? completeRollout;

    // Start at phase N (the execution input's `startAt`): skip a phase, retry from a phase after a rollback, carry a
    // long rollout into a fresh execution. The start step has checked the index and recorded the skipped phases.
    if (plan.phases.length > 1) {
      const startAt = new Choice(this, 'Start at phase', { stateName: 'Start at phase' });
      plan.phases.forEach((_, phaseIndex) => {
        if (phaseIndex === 0) return;
        startAt.when(Condition.and(Condition.isPresent('$.input.startAt'), Condition.numberEquals('$.input.startAt', phaseIndex)), entries[phaseIndex]!);
      });
      startAt.otherwise(entries[0]!);
      startRollout.next(startAt);
    } else {
      startRollout.next(entries[0]!);
    }

    let connect: ((next: State) => void) | undefined;
    plan.phases.forEach((phase, phaseIndex) => {
      const n = phase.name;
      const apply = applies[phaseIndex]!;
      // The bake is a task that waits for its token, timing out when the bake is over: `promote` hands the token
      // back to end it early, at the cost of no history events (a Wait could not be interrupted, and polling would
      // spend the execution's 25,000 events). Either way the gate decides next.
      const bake = new LambdaInvoke(this, `${n}: bake`, {
        stateName: `${n}: bake`,
        lambdaFunction: functions['apply-phase'],
        integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        payload: TaskInput.fromObject({ ...common, phaseIndex, mode: 'bake', taskToken: JsonPath.taskToken }),
        resultPath: JsonPath.DISCARD,
        taskTimeout: Timeout.duration(Duration.seconds(Math.max(1, durationToSeconds(phase.bake)))),
        retryOnServiceExceptions: false,
      });
      retried(bake);
      const gate = guarded(
        retried(
          new LambdaInvoke(this, `${n}: gate`, {
            stateName: `${n}: gate`,
            lambdaFunction: functions.gate,
            payloadResponseOnly: true,
            payload: TaskInput.fromObject({ ...common, phaseIndex }),
            resultPath: '$.gate',
            retryOnServiceExceptions: false,
          }),
        ),
      );
      // HOLD: keep baking and check again. The gate turns a hold that lasted the plan's limit into ASK.
      const hold = new Wait(this, `${n}: hold`, {
        stateName: `${n}: hold`,
        time: WaitTime.duration(Duration.seconds(holdPolicy(phase).intervalSeconds)),
      });
      hold.next(gate);
      const decision = new Choice(this, `${n}: gate decision`, { stateName: `${n}: gate decision` })
        .when(Condition.stringEquals('$.gate.decision', GATE_DECISIONS.rollback), rollBack)
        .when(Condition.stringEquals('$.gate.decision', GATE_DECISIONS.hold), hold);
      connect?.(entries[phaseIndex]!);
      if (phase.optional) {
        const skipped = new Choice(this, `${n}: skipped?`, { stateName: `${n}: skipped?` })
          .when(Condition.and(Condition.isPresent('$.applied.skipped'), Condition.booleanEquals('$.applied.skipped', true)), entryAfter(phaseIndex))
          .otherwise(bake);
        apply.next(skipped);
      } else {
        apply.next(bake);
      }
      // The bake's time is up: the usual way on to the gate. Caught before the rollback catchers below.
      bake.addCatch(gate, { errors: [Errors.TIMEOUT], resultPath: JsonPath.DISCARD });
      guarded(bake);
      bake.next(gate).next(decision);

      const timeoutSeconds =
        phase.approval.timeout === undefined ? DEFAULT_APPROVAL_TIMEOUT_SECONDS : durationToSeconds(phase.approval.timeout);
      const approval = guarded(
        retried(
          new LambdaInvoke(this, `${n}: approval`, {
            stateName: `${n}: approval`,
            lambdaFunction: functions['request-approval'],
            integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload: TaskInput.fromObject({ ...common, phaseIndex, taskToken: JsonPath.taskToken }),
            resultPath: JsonPath.DISCARD,
            taskTimeout: Timeout.duration(Duration.seconds(timeoutSeconds)),
            retryOnServiceExceptions: false,
          }),
        ),
        [ERROR_NAMES.approvalRejected, Errors.TIMEOUT],
      );
      // A person decides when the phase needs approval, and whenever a hold lasted too long.
      decision.when(Condition.stringEquals('$.gate.decision', GATE_DECISIONS.ask), approval);
      if (phase.approval.required) {
        decision.otherwise(approval);
        connect = (next) => approval.next(next);
      } else {
        connect = (next) => {
          decision.otherwise(next);
          approval.next(next);
        };
      }
    });

    connect?.(completeRollout);
    completeRollout.next(new Succeed(this, 'Completed', { stateName: 'Completed' }));
    return readInput;
  }

  /** The wildcards CDK writes into the state machine's role, each acknowledged with why it is needed. */
  private acknowledgeWildcards(functions: RolloutStateMachineProps['functions']): void {
    const policy = this.stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (!policy) return;
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Step Functions log delivery (logs:CreateLogDelivery, PutResourcePolicy, DescribeLogGroups, ...) and X-Ray ' +
        '(xray:PutTraceSegments, GetSamplingRules, ...) support no resource-level permissions and require Resource "*".',
    });
    for (const fn of new Set(Object.values(functions))) {
      const arn = Stack.of(this).resolve(fn.functionArn) as { 'Fn::GetAtt'?: [string, string] } | string;
      const target = typeof arn === 'string' ? arn : arn['Fn::GetAtt'] ? `<${arn['Fn::GetAtt'].join('.')}>` : undefined;
      if (target === undefined) continue;
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${target}:*]`,
        reason:
          'CDK grants lambda:InvokeFunction on the Phasegate function and on its versions and aliases (<arn>:*); ' +
          'it is one of this stack\'s own functions, not a wildcard over others.',
      });
    }
  }
}

/** The retry every Lambda task gets: one retrier for service errors and Phasegate's transient errors. */
function retried<T extends LambdaInvoke>(task: T): T {
  task.addRetry({ errors: [...RETRYABLE_ERRORS], interval: Duration.seconds(2), backoffRate: 2, maxAttempts: 6 });
  return task;
}

/** The plan as it is embedded in the definition: plain JSON, without the editor-only `$schema`. */
function planDocument(plan: Plan): Record<string, unknown> {
  const { $schema: _schema, ...rest } = plan;
  return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
}

/**
 * Whether `plan` can become a rollout state machine for `stage`: it passes the plan validator, is resolved for
 * the stage, its state machine name fits, and its worst case (every bake plus every approval timeout) fits in
 * one Standard execution. Each problem is `plan.<path>: message` (or `stage: ...`).
 */
export function rolloutPlanProblems(plan: Plan, stage: string): string[] {
  const checked = validatePlan(plan);
  if (!checked.ok) return checked.problems.map((p) => `plan.${p}`);
  const problems: string[] = [];
  const leftOver = Object.keys(checked.plan.stages);
  if (leftOver.length > 0) {
    problems.push(
      `plan.stages: expected a plan resolved for stage "${stage}" (validatePlan(raw, { stage })), ` +
        `but it still has overrides for ${leftOver.join(', ')}`,
    );
  }
  const name = stateMachineName(stage, checked.plan.feature);
  if (name.length > STATE_MACHINE_NAME_MAX_LENGTH) {
    problems.push(`stage: state machine name ${name} is longer than ${STATE_MACHINE_NAME_MAX_LENGTH} characters`);
  }
  const worstCase = checked.plan.phases.reduce(
    (sum, p) =>
      sum +
      durationToSeconds(p.bake) +
      (p.approval.required ? (p.approval.timeout ? durationToSeconds(p.approval.timeout) : DEFAULT_APPROVAL_TIMEOUT_SECONDS) : 0),
    0,
  );
  if (worstCase > MAX_EXECUTION_SECONDS) {
    problems.push(
      `plan.phases: bakes plus approval timeouts add up to ${Math.round(worstCase / 86400)} days, ` +
        'past the one-year limit of a Step Functions execution',
    );
  }
  return problems;
}

function validate(props: RolloutStateMachineProps): string[] {
  const problems: string[] = [];
  if (!/^[a-z][a-z0-9-]*$/.test(props.stage)) {
    problems.push(`stage: expected a lowercase stage name (a-z, 0-9, -), got ${JSON.stringify(props.stage)}`);
  }
  problems.push(...rolloutPlanProblems(props.plan, props.stage));
  for (const fn of PHASEGATE_FUNCTIONS) {
    if (!props.functions?.[fn]) problems.push(`functions.${fn}: missing`);
  }
  return problems;
}
