import { MAX_ROLLBACK_CONTINUATIONS } from '../../lambdas/core/rollback/rollback';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Function as LambdaFunction, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { ERROR_NAMES, PHASEGATE_FUNCTIONS, type PhasegateFunctionName } from '../../lambdas/core/contract';
import { DEFAULT_PLANS_DIR, loadPlanFile } from '../../lambdas/core/plan/load';
import type { PlanInput } from '../../lambdas/core/plan/schema';
import { parsePlan } from '../../lambdas/core/plan/validate';
import { planFromDefinition } from '../../cli/aws';
import { RolloutStateMachine } from '../../lib/rollout-state-machine';
import {
  type Asl,
  type AslState,
  definitionNamed,
  fakeFunctionArn,
  functionId,
  happyPath,
  resolveIntrinsics,
  stageStack,
  testApp,
} from './template-helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (definition: unknown) => { isValid: boolean; errorsText: (sep?: string) => string };

const RETRY = [
  {
    ErrorEquals: [
      'Lambda.ServiceException',
      'Lambda.AWSLambdaException',
      'Lambda.SdkClientException',
      'Lambda.TooManyRequestsException',
      ERROR_NAMES.transient,
      ERROR_NAMES.conflict,
    ],
    IntervalSeconds: 2,
    BackoffRate: 2,
    MaxAttempts: 6,
  },
];

const COMMON_PAYLOAD = {
  'plan.$': '$.plan',
  'stage.$': '$.stage',
  'executionId.$': '$$.Execution.Id',
  'input.$': '$.input',
};

const UX_PHASES = ['admin', 'pm', 'developer', 'llm-canary', 'ga'];

function planWithoutSchema(file: string, stage: string): unknown {
  const { $schema: _schema, ...rest } = loadPlanFile(join(DEFAULT_PLANS_DIR, file), stage);
  return JSON.parse(JSON.stringify(rest));
}

describe('ux-update state machine (dev)', () => {
  const { template } = stageStack('dev');
  const asl = definitionNamed(template, 'phasegate-dev-ux-update');
  const fnArn = (name: string): string => fakeFunctionArn(functionId(template, name));
  const state = (name: string): AslState => {
    const s = asl.States[name];
    if (!s) throw new Error(`no state "${name}"; states: ${Object.keys(asl.States).join(', ')}`);
    return s;
  };

  it('walks load, start, each phase (apply, bake, gate, decision, approval) in plan order, complete', () => {
    expect(happyPath(asl)).toEqual([
      'Read input',
      'Load plan',
      'Start rollout',
      'Start at phase',
      ...UX_PHASES.flatMap((n) => [`${n}: apply flags`, `${n}: bake`, `${n}: gate`, `${n}: gate decision`, `${n}: approval`]),
      'Complete rollout',
      'Completed',
    ]);
  });

  it('has no state besides the happy path and the failure states', () => {
    expect(Object.keys(asl.States).sort()).toEqual(
      [...happyPath(asl), ...UX_PHASES.map((n) => `${n}: hold`), 'Roll back', 'Rolled back', 'Rollback failed', 'Not started', 'Superseded'].sort(),
    );
  });

  it('is valid JSONPath ASL', () => {
    expect(asl.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    expect(JSON.stringify(asl)).not.toMatch(/JSONata/i);
    const result = aslValidator(structuredClone(asl));
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('loads the resolved plan without $schema, the stage and the execution input', () => {
    expect(state('Read input')).toEqual({ Type: 'Pass', Parameters: { stage: 'dev', 'input.$': '$' }, Next: 'Load plan' });
    expect(state('Load plan')).toEqual({
      Type: 'Pass',
      Result: planWithoutSchema('ux-update.json', 'dev'),
      ResultPath: '$.plan',
      Next: 'Start rollout',
    });
    expect(JSON.stringify(state('Load plan'))).not.toContain('$schema');
  });

  it('starts with the common payload and never rolls back a failed start', () => {
    expect(state('Start rollout')).toEqual({
      Type: 'Task',
      Resource: fnArn('start-rollout'),
      Parameters: COMMON_PAYLOAD,
      ResultPath: null,
      Retry: RETRY,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Not started' }],
      Next: 'Start at phase',
    });
  });

  it.each(UX_PHASES.map((name, phaseIndex) => ({ name, phaseIndex })))(
    'phase $phaseIndex ($name): apply, bake 600 s, gate into $.gate, decision, approval with a task token',
    ({ name, phaseIndex }) => {
      const guardCatch = [
        { ErrorEquals: [ERROR_NAMES.staleExecution], Next: 'Superseded' },
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Roll back' },
      ];
      expect(state(`${name}: apply flags`)).toEqual({
        Type: 'Task',
        Resource: fnArn('apply-phase'),
        Parameters: { ...COMMON_PAYLOAD, phaseIndex },
        ResultPath: null,
        Retry: RETRY,
        Catch: guardCatch,
        Next: `${name}: bake`,
      });
      // The bake waits for a task token that promote may hand back; its timeout (the bake is over) goes on to the gate.
      expect(state(`${name}: bake`)).toEqual({
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: {
          FunctionName: fnArn('apply-phase'),
          Payload: { ...COMMON_PAYLOAD, phaseIndex, mode: 'bake', 'taskToken.$': '$$.Task.Token' },
        },
        TimeoutSeconds: 600,
        ResultPath: null,
        Retry: RETRY,
        Catch: [
          { ErrorEquals: ['States.Timeout'], ResultPath: null, Next: `${name}: gate` },
          { ErrorEquals: [ERROR_NAMES.staleExecution], Next: 'Superseded' },
          { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Roll back' },
        ],
        Next: `${name}: gate`,
      });
      expect(state(`${name}: gate`)).toEqual({
        Type: 'Task',
        Resource: fnArn('gate'),
        Parameters: { ...COMMON_PAYLOAD, phaseIndex },
        ResultPath: '$.gate',
        Retry: RETRY,
        Catch: guardCatch,
        Next: `${name}: gate decision`,
      });
      expect(state(`${name}: gate decision`)).toEqual({
        Type: 'Choice',
        Choices: [
          { Variable: '$.gate.decision', StringEquals: 'ROLLBACK', Next: 'Roll back' },
          { Variable: '$.gate.decision', StringEquals: 'HOLD', Next: `${name}: hold` },
          { Variable: '$.gate.decision', StringEquals: 'ASK', Next: `${name}: approval` },
        ],
        Default: `${name}: approval`,
      });
      // A hold keeps baking (every bake, at most hourly) and checks the gate again.
      expect(state(`${name}: hold`)).toEqual({ Type: 'Wait', Seconds: 600, Next: `${name}: gate` });
      expect(state(`${name}: approval`)).toEqual({
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: {
          FunctionName: fnArn('request-approval'),
          Payload: { ...COMMON_PAYLOAD, phaseIndex, 'taskToken.$': '$$.Task.Token' },
        },
        TimeoutSeconds: 7 * 24 * 3600,
        ResultPath: null,
        Retry: RETRY,
        Catch: [
          { ErrorEquals: [ERROR_NAMES.staleExecution], Next: 'Superseded' },
          { ErrorEquals: [ERROR_NAMES.approvalRejected, 'States.Timeout'], ResultPath: '$.error', Next: 'Roll back' },
          { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Roll back' },
        ],
        Next: phaseIndex + 1 < UX_PHASES.length ? `${UX_PHASES[phaseIndex + 1]}: apply flags` : 'Complete rollout',
      });
    },
  );

  it('completes with finish-rollout, guarded like every step after the start', () => {
    expect(state('Complete rollout')).toEqual({
      Type: 'Task',
      Resource: fnArn('finish-rollout'),
      Parameters: COMMON_PAYLOAD,
      ResultPath: null,
      Retry: RETRY,
      Catch: [
        { ErrorEquals: [ERROR_NAMES.staleExecution], Next: 'Superseded' },
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Roll back' },
      ],
      Next: 'Completed',
    });
    expect(state('Completed')).toEqual({ Type: 'Succeed' });
  });

  it('rolls back with the whole state as context, then fails; a failed rollback fails differently', () => {
    expect(state('Roll back')).toEqual({
      Type: 'Task',
      Resource: fnArn('rollback'),
      Parameters: { ...COMMON_PAYLOAD, 'context.$': '$' },
      ResultPath: null,
      // A rollback that ran out of time recorded its progress: each retry continues it, once more than its follow-ups.
      Retry: [...RETRY, { ErrorEquals: [ERROR_NAMES.rollbackIncomplete], IntervalSeconds: 5, BackoffRate: 1, MaxAttempts: MAX_ROLLBACK_CONTINUATIONS + 1 }],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.rollbackError', Next: 'Rollback failed' }],
      Next: 'Rolled back',
    });
    expect(state('Rolled back')).toMatchObject({ Type: 'Fail', Error: 'PhasegateRolledBack', Cause: expect.any(String) });
    expect(state('Rollback failed')).toMatchObject({ Type: 'Fail', Error: 'PhasegateRollbackFailed' });
    expect(state('Not started')).toMatchObject({ Type: 'Fail', Error: 'PhasegateNotStarted' });
    expect(state('Superseded')).toMatchObject({ Type: 'Fail', Error: 'PhasegateSuperseded' });
  });

  it('gives every Lambda task exactly the one retrier and no other (Roll back: also its continuation)', () => {
    const tasks = Object.entries(asl.States).filter(([, s]) => s.Type === 'Task');
    expect(tasks).toHaveLength(2 + UX_PHASES.length * 4 + 1);
    for (const [name, task] of tasks) expect(name === 'Roll back' ? task.Retry.slice(0, 1) : task.Retry).toEqual(RETRY);
  });
});

describe('state machines per stage and plan', () => {
  it.each([
    { stage: 'dev', bake: 600 },
    { stage: 'staging', bake: 4 * 3600 },
    { stage: 'prod', bake: 48 * 3600 },
  ])('$stage: ux-update admin bake waits $bake s', ({ stage, bake }) => {
    const asl = definitionNamed(stageStack(stage).template, `phasegate-${stage}-ux-update`);
    expect(asl.States['admin: bake']).toMatchObject({ Type: 'Task', TimeoutSeconds: bake });
  });

  it('prod ux-update bakes follow the plan (48 h, 5 d, 5 d, 48 h, 7 d)', () => {
    const asl = definitionNamed(stageStack('prod').template, 'phasegate-prod-ux-update');
    expect(UX_PHASES.map((n) => asl.States[`${n}: bake`]!.TimeoutSeconds)).toEqual([172800, 432000, 432000, 172800, 604800]);
    expect((asl.States['Load plan']!.Result as { targets: string[] }).targets).toEqual(['valine-orchestrator-discord-prod']);
  });

  it('cohort-analyzer: canary needs no approval, so its gate decision leads straight to ramp unless a hold lasted too long', () => {
    const asl = definitionNamed(stageStack('dev').template, 'phasegate-dev-cohort-analyzer');
    expect(asl.States['canary: gate decision']).toMatchObject({ Default: 'ramp: apply flags' });
    // The approval state is only reached when the gate asks a person (ASK), and then leads on to ramp too.
    expect(asl.States['canary: gate decision'].Choices).toContainEqual({ Variable: '$.gate.decision', StringEquals: 'ASK', Next: 'canary: approval' });
    expect(asl.States['canary: approval']).toMatchObject({ Next: 'ramp: apply flags' });
    expect(happyPath(asl)).toEqual([
      'Read input',
      'Load plan',
      'Start rollout',
      'Start at phase',
      'canary: apply flags',
      'canary: bake',
      'canary: gate',
      'canary: gate decision',
      ...['ramp', 'full'].flatMap((n) => [`${n}: apply flags`, `${n}: bake`, `${n}: gate`, `${n}: gate decision`, `${n}: approval`]),
      'Complete rollout',
      'Completed',
    ]);
    expect(asl.States['canary: bake']).toMatchObject({ TimeoutSeconds: 300 });
  });

  it.each(['dev', 'prod'])('%s: one Standard state machine per plan, logging ALL with execution data, traced', (stage) => {
    const { template } = stageStack(stage);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 2);
    for (const feature of ['ux-update', 'cohort-analyzer']) {
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: `phasegate-${stage}-${feature}`,
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: {
          Level: 'ALL',
          IncludeExecutionData: true,
          Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }],
        },
      });
      template.hasResource('AWS::Logs::LogGroup', {
        Properties: { LogGroupName: `/aws/vendedlogs/states/phasegate-${stage}-${feature}`, RetentionInDays: 30 },
        DeletionPolicy: stage === 'prod' ? 'Retain' : 'Delete',
      });
    }
  });
});

describe('RolloutStateMachine construct', () => {
  function fakeFunctions(stack: Stack): Record<PhasegateFunctionName, IFunction> {
    return Object.fromEntries(
      PHASEGATE_FUNCTIONS.map((name) => [
        name,
        LambdaFunction.fromFunctionArn(stack, `Fake-${name}`, `arn:aws:lambda:us-east-1:123456789012:function:fake-${name}`),
      ]),
    ) as Record<PhasegateFunctionName, IFunction>;
  }

  const rawPlan: PlanInput = {
    feature: 'checkout-v2',
    targets: ['checkout-api'],
    phases: [
      { name: 'internal', roles: ['admin'], bake: 'PT30M', approval: { required: true, approvers: ['pm'], timeout: 'PT2H' } },
      { name: 'everyone', roles: ['all'], bake: 'P1D', approval: { required: false } },
    ],
    stages: { dev: { phases: { internal: { bake: 'PT1M' } } } },
  };

  function definitionOf(stack: Stack): Asl {
    const sm = Object.values(Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachine'))[0]!;
    return JSON.parse(resolveIntrinsics(sm.Properties.DefinitionString) as string) as Asl;
  }

  it('uses the phase\'s approval timeout, ends on a phase without approval, and invokes the given functions', () => {
    const stack = new Stack(testApp(), 'Construct');
    new RolloutStateMachine(stack, 'Checkout', { plan: parsePlan(rawPlan, { stage: 'dev' }), stage: 'dev', functions: fakeFunctions(stack) });
    const asl = definitionOf(stack);
    expect(asl.States['internal: bake']).toMatchObject({ TimeoutSeconds: 60 });
    expect(asl.States['internal: approval']).toMatchObject({
      TimeoutSeconds: 7200,
      Parameters: { FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:fake-request-approval' },
    });
    expect(asl.States['everyone: gate decision']).toMatchObject({ Default: 'Complete rollout' });
    expect(asl.States['everyone: apply flags']).toMatchObject({
      Resource: 'arn:aws:lambda:us-east-1:123456789012:function:fake-apply-phase',
      Parameters: { phaseIndex: 1 },
    });
  });

  it('reports every invalid prop in one error: unresolved plan, bad stage, missing functions', () => {
    const stack = new Stack(testApp(), 'Construct');
    const functions: Partial<Record<PhasegateFunctionName, IFunction>> = fakeFunctions(stack);
    delete functions.gate;
    delete functions.rollback;
    let message = '';
    try {
      new RolloutStateMachine(stack, 'Checkout', {
        plan: parsePlan(rawPlan),
        stage: 'Dev Stage',
        functions: functions as Record<PhasegateFunctionName, IFunction>,
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'RolloutStateMachine Construct/Checkout is invalid:',
      expect.stringContaining('stage: expected a lowercase stage name'),
      expect.stringContaining('plan.stages: expected a plan resolved for stage "Dev Stage"'),
      '  - functions.gate: missing',
      '  - functions.rollback: missing',
    ]);
  });

  it('carries plan keys that end in ".$" as data, never as paths: the definition stays valid', () => {
    const stack = new Stack(testApp(), 'Construct');
    const plan = parsePlan({
      ...rawPlan,
      principals: { 'local:ops.$': ['admin'] },
      phases: [
        {
          ...rawPlan.phases[0]!,
          gates: { metrics: [{ name: 'latency', namespace: 'Shop', metric: 'Latency', dimensions: { 'Service.$': 'checkout' }, proceedBelow: 1, rollbackAbove: 2 }] },
        },
        rawPlan.phases[1]!,
      ],
    }, { stage: 'dev' });
    new RolloutStateMachine(stack, 'Checkout', { plan, stage: 'dev', functions: fakeFunctions(stack) });
    const asl = definitionOf(stack);
    const result = aslValidator(structuredClone(asl));
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
    expect(planFromDefinition(JSON.stringify(asl), plan.feature)).toEqual(plan);
  });

  it('rejects a plan that fails the plan validator, with field paths', () => {
    const stack = new Stack(testApp(), 'Construct');
    const bad = { ...parsePlan(rawPlan, { stage: 'dev' }), phases: [] };
    expect(() => new RolloutStateMachine(stack, 'Checkout', { plan: bad, stage: 'dev', functions: fakeFunctions(stack) })).toThrow(
      /plan\.phases: expected at least one phase/,
    );
  });

  it('never gets a rollout that could outlast a Step Functions execution: the plan validator refuses it first', () => {
    const long = {
      ...rawPlan,
      stages: {},
      phases: [{ name: 'forever', roles: ['all'], bake: 'P300D', approval: { required: true, approvers: ['pm'], timeout: 'P70D' } }],
    };
    expect(() => parsePlan(long)).toThrow(/phases: the worst case runs \d+(\.\d)? days, past the one year a Step Functions execution may run; phases\[0\] \(forever\)/);
  });
});
