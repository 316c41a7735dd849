import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, StopExecutionCommand, TaskTimedOut } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { functionsFromTemplate, type AslDefinition, type AslState, type CloudFormationTemplate } from '../../local/asl';
import { FakeStepFunctions } from '../../local/fakes/step-functions';
import {
  LocalRunnerError,
  runLocalStateMachine,
  startLocalExecution,
  waitTimeOverrides,
  bakeTimeOverrides,
  isBakeTask,
  type LocalExecution,
  type LocalLambdaHandler,
  type LocalRunOptions,
} from '../../local/run-state-machine';

const arn = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;

const template: CloudFormationTemplate = {
  Resources: {
    Table: { Type: 'AWS::DynamoDB::Table', Properties: {} },
    PrepareFn: {
      Type: 'AWS::Lambda::Function',
      Properties: { Environment: { Variables: { PHASEGATE_FUNCTION: 'start-rollout', PHASEGATE_TABLE_NAME: { Ref: 'Table' } } } },
    },
    ApplyFn: {
      Type: 'AWS::Lambda::Function',
      Properties: { Timeout: 30, Environment: { Variables: { PHASEGATE_FUNCTION: 'apply-phase', ONLY_APPLY: 'yes' } } },
    },
    ApproveFn: {
      Type: 'AWS::Lambda::Function',
      Properties: { Environment: { Variables: { PHASEGATE_FUNCTION: 'request-approval' } } },
    },
    OrphanFn: { Type: 'AWS::Lambda::Function', Properties: {} },
  },
};
const functions = functionsFromTemplate(template, { tableNames: { Table: 'phasegate-local-Table' } });

/** Hand-written, in the shapes CDK emits: a payloadResponseOnly task, a lambda:invoke task, a token task. */
const definition: AslDefinition = {
  StartAt: 'Prepare',
  TimeoutSeconds: 30 * 24 * 3600,
  States: {
    Prepare: {
      Type: 'Task',
      Resource: arn('PrepareFn'),
      ResultPath: '$.prepared',
      Retry: [{ ErrorEquals: ['PhasegateTransientError'], IntervalSeconds: 5, MaxAttempts: 2, BackoffRate: 2 }],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'PlanRejected' }],
      Next: 'Apply',
    },
    Apply: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: arn('ApplyFn'), 'Payload.$': '$' },
      ResultSelector: { 'applied.$': '$.Payload', 'status.$': '$.StatusCode' },
      ResultPath: '$.apply',
      Next: 'Bake',
    },
    Bake: { Type: 'Wait', Seconds: 60, Next: 'Approve' },
    Approve: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: arn('ApproveFn'),
        Payload: { 'token.$': '$$.Task.Token', 'executionId.$': '$$.Execution.Id', 'feature.$': '$.feature' },
      },
      ResultPath: '$.approval',
      Catch: [{ ErrorEquals: ['PhasegateApprovalRejected'], ResultPath: '$.error', Next: 'Rejected' }],
      Next: 'Done',
    },
    Done: { Type: 'Succeed' },
    PlanRejected: { Type: 'Fail', Error: 'PlanRejected', CausePath: '$.error.Cause' },
    Rejected: { Type: 'Fail', Error: 'Rejected', Cause: 'a person said no' },
  },
};

/** The state as the machine's only state: no Next, no Catch. */
function endState(state: AslState): AslState {
  const { Next: _next, Catch: _catch, ...rest } = state;
  return { ...rest, End: true };
}

interface Calls {
  prepare: { event: unknown; table?: string; onlyApply?: string }[];
  apply: { event: unknown; context: Context; onlyApply?: string }[];
  approve: { token: string; executionId: string }[];
}

describe('runLocalStateMachine', () => {
  let stepFunctions: FakeStepFunctions;
  let calls: Calls;
  let prepareFailures: Error[];
  let approvalRequested: Promise<{ token: string; executionId: string }>;
  let onApprovalRequested: (request: { token: string; executionId: string }) => void;
  const sfn = new SFNClient({});

  const handlers: Record<string, LocalLambdaHandler> = {
    'start-rollout': async (event: { feature: string }) => {
      calls.prepare.push({ event, table: process.env.PHASEGATE_TABLE_NAME, onlyApply: process.env.ONLY_APPLY });
      const failure = prepareFailures.shift();
      if (failure) throw failure;
      return { feature: event.feature, at: new Date(Date.UTC(2025, 0, 1)) };
    },
    'apply-phase': async (event: unknown, context: Context) => {
      calls.apply.push({ event, context, onlyApply: process.env.ONLY_APPLY });
      return { flags: { CHECKOUT_V2: 'on' } };
    },
    'request-approval': async (event: { token: string; executionId: string }) => {
      calls.approve.push(event);
      onApprovalRequested(event);
    },
  };

  const options = (overrides: Partial<LocalRunOptions> = {}): LocalRunOptions => ({
    definition,
    functions,
    handlers,
    input: { feature: 'checkout' },
    stepFunctions,
    stateMachineName: 'phasegate-test',
    ...overrides,
  });

  const typedError = (name: string, message: string) => Object.assign(new Error(message), { name });

  /** The approval request of `execution`; fails fast if the execution ends before asking. */
  const approvalOf = (execution: LocalExecution) =>
    Promise.race([
      approvalRequested,
      execution.result.then((r) => {
        throw new Error(`execution ended before asking for approval: ${r.status} ${r.error ?? ''} ${r.cause ?? ''}`);
      }),
    ]);

  beforeEach(() => {
    stepFunctions = new FakeStepFunctions().install();
    calls = { prepare: [], apply: [], approve: [] };
    prepareFailures = [];
    approvalRequested = new Promise((resolve) => {
      onApprovalRequested = resolve;
    });
  });
  afterEach(() => stepFunctions.restore());

  it('runs every kind of task through the real handlers and resumes on SendTaskSuccess', async () => {
    const execution = startLocalExecution(options({ executionId: 'run-1' }));
    const { token, executionId } = await approvalOf(execution);
    expect(executionId).toBe('arn:aws:states:us-east-1:123456789012:execution:phasegate-test:run-1');
    expect(token).not.toContain('placeholder');
    expect(stepFunctions.openTokens(execution.executionArn).map((t) => t.meta.stateName)).toEqual(['Approve']);

    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ approvedBy: 'ana' }) }));
    const result = await execution.result;

    expect(result.status).toBe('SUCCEEDED');
    expect(result.path).toEqual(['Prepare', 'Apply', 'Bake', 'Approve', 'Done']);
    expect(result.output).toEqual({
      feature: 'checkout',
      prepared: { feature: 'checkout', at: '2025-01-01T00:00:00.000Z' },
      apply: { applied: { flags: { CHECKOUT_V2: 'on' } }, status: 200 },
      approval: { approvedBy: 'ana' },
    });
    // Each handler saw its own function's environment and nothing else.
    expect(calls.prepare).toEqual([{ event: { feature: 'checkout' }, table: 'phasegate-local-Table', onlyApply: undefined }]);
    expect(calls.apply[0].onlyApply).toBe('yes');
    expect(calls.apply[0].event).toEqual({ feature: 'checkout', prepared: { feature: 'checkout', at: '2025-01-01T00:00:00.000Z' } });
    expect(calls.apply[0].context).toMatchObject({ functionName: 'ApplyFn', invokedFunctionArn: arn('ApplyFn') });
    expect(calls.apply[0].context.getRemainingTimeInMillis()).toBeGreaterThan(25_000);
    expect(process.env.ONLY_APPLY).toBeUndefined();
    expect(stepFunctions.execution(execution.executionArn)).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('shortens Wait states: 60 s in the definition lasts about 60 ms at the default scale, or what waitMs says', async () => {
    const bakeMs = async (overrides: Partial<LocalRunOptions>) => {
      const timestamps: Record<string, number> = {};
      const execution = startLocalExecution(
        options({
          ...overrides,
          onEvent: (event) => {
            if ('state' in event && event.state.name === 'Bake') timestamps[event.type] = event.timestamp;
          },
        }),
      );
      const { token } = await approvalOf(execution);
      await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
      await execution.result;
      approvalRequested = new Promise((resolve) => {
        onApprovalRequested = resolve;
      });
      return timestamps.StateExited - timestamps.StateEntered;
    };
    // The run really waits (a wait never ends early, however busy the machine)...
    expect(await bakeMs({})).toBeGreaterThanOrEqual(55);
    // ...for exactly what the runner tells aws-local-stepfunctions: checked as configured, not as timed.
    const states: [string, AslState][] = [
      ['Bake', { Type: 'Wait', Seconds: 60, Next: 'Done' }],
      ['Until', { Type: 'Wait', TimestampPath: '$.at', Next: 'Done' }],
      ['Done', { Type: 'Succeed' }],
    ];
    expect(waitTimeOverrides(states, {})).toEqual({ Bake: 60, Until: 0 });
    expect(waitTimeOverrides(states, { waitScale: 0.01, dynamicWaitMs: 5 })).toEqual({ Bake: 600, Until: 5 });
    expect(waitTimeOverrides(states, { waitMs: { Bake: 0 } })).toEqual({ Bake: 0, Until: 0 });
    expect(waitTimeOverrides(states, { waitMs: 7 })).toEqual({ Bake: 7, Until: 7 });
  });

  it('shortens a bake task (a token task in bake mode) like a Wait, and no other token task', () => {
    const token = { 'taskToken.$': '$$.Task.Token' };
    const states: [string, AslState][] = [
      ['Bake', { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken', Parameters: { FunctionName: 'f', Payload: { mode: 'bake', ...token } }, TimeoutSeconds: 600, Next: 'Approve' }],
      ['Approve', { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken', Parameters: { FunctionName: 'f', Payload: token }, TimeoutSeconds: 600, Next: 'Plain' }],
      ['Plain', { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'f', Payload: { mode: 'bake' } }, End: true }],
    ];
    expect(states.map(([, s]) => isBakeTask(s))).toEqual([true, false, false]);
    expect(bakeTimeOverrides(states, {})).toEqual({ Bake: 600 });
    expect(bakeTimeOverrides(states, { waitScale: 0.01 })).toEqual({ Bake: 6000 });
    expect(bakeTimeOverrides(states, { waitMs: { Bake: 3 } })).toEqual({ Bake: 3 });
    expect(bakeTimeOverrides(states, { waitMs: 7 })).toEqual({ Bake: 7 });
  });

  it('retries an error named in Retry, and gives the handler the same input again', async () => {
    prepareFailures = [typedError('PhasegateTransientError', 'throttled')];
    const execution = startLocalExecution(options());
    await sfn.send(new SendTaskSuccessCommand({ taskToken: (await approvalOf(execution)).token, output: '{}' }));
    const result = await execution.result;
    expect(result.status).toBe('SUCCEEDED');
    expect(calls.prepare.map((c) => c.event)).toEqual([{ feature: 'checkout' }, { feature: 'checkout' }]);
    expect(result.path.filter((s) => s === 'Prepare')).toHaveLength(1);
    expect(result.events.filter((e) => e.type === 'StateRetried')).toHaveLength(1);
  });

  it('does not retry other error names: the Catch routes them to the Fail state with a Lambda-shaped Cause', async () => {
    prepareFailures = [typedError('PhasegatePlanInvalidError', 'phases[1].percent: must be above 10')];
    const result = await runLocalStateMachine(options());
    expect(calls.prepare).toHaveLength(1);
    expect(result.status).toBe('FAILED');
    expect(result.path).toEqual(['Prepare', 'PlanRejected']);
    expect(result.error).toBe('PlanRejected');
    expect(JSON.parse(result.cause!)).toMatchObject({
      errorType: 'PhasegatePlanInvalidError',
      errorMessage: 'phases[1].percent: must be above 10',
      trace: expect.arrayContaining([expect.stringContaining('PhasegatePlanInvalidError')]),
    });
    expect(calls.apply).toHaveLength(0);
  });

  it('gives up retrying after MaxAttempts and then catches', async () => {
    prepareFailures = [1, 2, 3].map((i) => typedError('PhasegateTransientError', `throttled ${i}`));
    const result = await runLocalStateMachine(options());
    expect(calls.prepare).toHaveLength(3);
    expect(result).toMatchObject({ status: 'FAILED', error: 'PlanRejected' });
    expect(JSON.parse(result.cause!).errorMessage).toBe('throttled 3');
  });

  it('fails the token task with the error name given to SendTaskFailure, routed by Catch', async () => {
    const execution = startLocalExecution(options());
    const { token } = await approvalOf(execution);
    await sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'PhasegateApprovalRejected', cause: 'no' }));
    const result = await execution.result;
    expect(result).toMatchObject({ status: 'FAILED', error: 'Rejected', cause: 'a person said no' });
    expect(result.path.slice(-2)).toEqual(['Approve', 'Rejected']);
  });

  it('StopExecution aborts a run waiting for approval, and its token is closed', async () => {
    const execution = startLocalExecution(options());
    const { token } = await approvalOf(execution);
    await sfn.send(new StopExecutionCommand({ executionArn: execution.executionArn, error: 'Operator', cause: 'halt' }));
    const result = await execution.result;
    expect(result).toMatchObject({ status: 'ABORTED', error: 'Operator', cause: 'halt' });
    expect(result.path).not.toContain('Done');
    await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(
      TaskTimedOut,
    );
    expect(stepFunctions.execution(execution.executionArn)?.status).toBe('ABORTED');
  });

  it('honours a 30-day execution TimeoutSeconds (past the Node timer limit) instead of timing out at once', async () => {
    const result = await runLocalStateMachine(
      options({
        definition: { StartAt: 'Pause', TimeoutSeconds: 30 * 24 * 3600, States: { Pause: { Type: 'Wait', Seconds: 1, End: true } } },
        waitMs: 20,
      }),
    );
    expect(result).toMatchObject({ status: 'SUCCEEDED', path: ['Pause'] });
  });

  it('times out a token task after taskTimeoutMs with States.Timeout and closes its token', async () => {
    const result = await runLocalStateMachine(options({ taskTimeoutMs: { Approve: 50 } }));
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    expect(stepFunctions.tokens.map((t) => t.status)).toEqual(['closed']);
  });

  it('fails a handler that outlives its function Timeout with Sandbox.Timedout', async () => {
    const quick = new Map(functions);
    const apply = functions.get('ApplyFn')!;
    quick.set(apply.arn, { ...apply, timeoutSeconds: 0.05 });
    const result = await runLocalStateMachine(
      options({ functions: quick, handlers: { ...handlers, 'apply-phase': () => new Promise(() => undefined) } }),
    );
    expect(result).toMatchObject({ status: 'FAILED', error: 'Sandbox.Timedout' });
    expect(JSON.parse(result.cause!).errorMessage).toBe('Task timed out after 0.05 seconds');
  });

  it('resolves handlers lazily with the function environment already set, when given a function', async () => {
    const seen: [string, string | undefined][] = [];
    const result = await runLocalStateMachine(
      options({
        definition: { StartAt: 'Apply', States: { Apply: endState(definition.States.Apply) } },
        handlers: (name) => {
          seen.push([name, process.env.ONLY_APPLY]);
          return handlers[name];
        },
      }),
    );
    expect(result.status).toBe('SUCCEEDED');
    expect(seen).toEqual([['apply-phase', 'yes']]);
  });

  it('refuses to start when a Task cannot be mapped to a handler, even behind a States.ALL Catch', async () => {
    const unmapped: AslDefinition = {
      StartAt: 'Orphan',
      States: {
        Orphan: {
          Type: 'Task',
          Resource: arn('OrphanFn'),
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Done' }],
          Next: 'Unknown',
        },
        Unknown: { Type: 'Task', Resource: arn('NotInTemplate'), Next: 'Direct' },
        Direct: { Type: 'Task', Resource: 'arn:aws:states:::dynamodb:putItem', Parameters: { TableName: 't', Item: {} }, Next: 'Done' },
        Done: { Type: 'Succeed' },
      },
    };
    const error = await runLocalStateMachine(options({ definition: unmapped })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalRunnerError);
    expect((error as Error).message).toContain('Orphan: function OrphanFn has no PHASEGATE_FUNCTION');
    expect((error as Error).message).toContain(`Unknown: function ${arn('NotInTemplate')} is not in the template's functions`);
    expect((error as Error).message).toContain('Direct: Resource arn:aws:states:::dynamodb:putItem is not a Lambda function');

    const { 'apply-phase': _, ...withoutApply } = handlers;
    await expect(runLocalStateMachine(options({ handlers: withoutApply }))).rejects.toThrow(
      'Apply: no handler given for apply-phase (function ApplyFn)',
    );
    expect(calls.prepare).toHaveLength(0);
  });

  it('stops the run instead of letting a Catch route a handler that is missing at call time', async () => {
    const result = runLocalStateMachine(
      options({
        definition: {
          StartAt: 'Apply',
          States: {
            Apply: { ...definition.States.Apply, Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Done' }], Next: 'Done' },
            Done: { Type: 'Succeed' },
          },
        },
        handlers: () => undefined,
      }),
    );
    await expect(result).rejects.toThrow(new LocalRunnerError('no handler given for apply-phase (function ApplyFn)'));
  });

  it('refuses a waitForTaskToken task whose payload does not carry the token', async () => {
    const result = runLocalStateMachine(
      options({
        definition: {
          StartAt: 'Approve',
          States: { Approve: endState({ ...definition.States.Approve, Parameters: { FunctionName: arn('ApproveFn'), Payload: {} } }) },
        },
      }),
    );
    await expect(result).rejects.toThrow('Approve: a .waitForTaskToken task must pass $$.Task.Token in its Payload');
    expect(calls.approve).toHaveLength(0);
  });
});
