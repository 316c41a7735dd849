/**
 * Runs a synthesized state machine definition locally with aws-local-stepfunctions, every Task calling the real
 * Phasegate handler in process, `.waitForTaskToken` tasks waiting on {@link FakeStepFunctions} tokens.
 */
import { randomUUID } from 'node:crypto';
import type { Callback, Context } from 'aws-lambda';
import { StateMachine } from 'aws-local-stepfunctions';
import type { AslDefinition, AslState, TemplateFunction } from './asl';
import { LOCAL_AWS } from './asl';
import type { FakeStepFunctions } from './fakes/step-functions';

/**
 * A Lambda handler run in process. `event` is `any` so that production handlers with typed events fit; callback
 * handlers are supported too.
 */
export type LocalLambdaHandler = (event: any, context: Context, callback: Callback) => unknown;

/**
 * Where to find the handler of each Phasegate function (the `PHASEGATE_FUNCTION` of a template function): a map,
 * checked before the run starts, or a function called the first time a function is invoked, with that function's
 * environment already in `process.env` (for handlers that read their configuration when their module loads).
 */
export type LocalHandlers =
  | Readonly<Record<string, LocalLambdaHandler>>
  | ((phasegateFunction: string) => LocalLambdaHandler | undefined);

/**
 * One event of an execution's log (StateEntered, StateRetried, ExecutionFailed, ...). aws-local-stepfunctions
 * declares this type without exporting it.
 */
export type LocalRunEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** How a local execution ended, named like the service's execution statuses. */
export type LocalRunStatus = 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

/** Options of {@link runLocalStateMachine}. */
export interface LocalRunOptions {
  /** The state machine definition, as `stateMachinesFromTemplate` extracts it. */
  readonly definition: AslDefinition;
  /** The template's functions, as `functionsFromTemplate` returns them. */
  readonly functions: ReadonlyMap<string, TemplateFunction>;
  readonly handlers: LocalHandlers;
  readonly input: unknown;
  /** Issues and settles task tokens; StopExecution on it aborts this run. */
  readonly stepFunctions: FakeStepFunctions;
  /** The execution ARN, or just its name. @default a random name */
  readonly executionId?: string;
  /** The state machine's name, used in ARNs. @default 'phasegate-local' */
  readonly stateMachineName?: string;
  /**
   * Multiplier applied to the `Seconds` of Wait states. Waits that take their time from the input
   * (`SecondsPath`, `Timestamp`, `TimestampPath`) cannot be scaled: they last {@link LocalRunOptions.dynamicWaitMs}.
   * @default 0.001, one second of the definition lasts one millisecond
   */
  readonly waitScale?: number;
  /**
   * Fixed duration in ms of every Wait state, or of the Wait states named; wins over `waitScale`. Bake tasks (a
   * `.waitForTaskToken` task whose payload has `mode: "bake"`, timing out when the bake is over) are shortened the
   * same way: their `TimeoutSeconds` is scaled, or replaced by `waitMs`.
   */
  readonly waitMs?: number | Readonly<Record<string, number>>;
  /** Duration in ms of Wait states whose time comes from the input, unless `waitMs` names them. @default 0 */
  readonly dynamicWaitMs?: number;
  /** Pause in ms before each retry, instead of `IntervalSeconds` and backoff. @default 1 */
  readonly retryIntervalMs?: number;
  /** Replaces the `TimeoutSeconds` of the Task states named, in ms (to exercise a timeout quickly). */
  readonly taskTimeoutMs?: Readonly<Record<string, number>>;
  /**
   * Fail a handler that runs longer than its function's `Timeout` with `Sandbox.Timedout`, as Lambda does. The
   * handler itself cannot be frozen and keeps running in the background. @default true
   */
  readonly enforceLambdaTimeouts?: boolean;
  /** Called with every event of the execution, in order. */
  readonly onEvent?: (event: LocalRunEvent) => void;
}

/** The outcome of a local execution. */
export interface LocalRunResult {
  readonly executionArn: string;
  readonly status: LocalRunStatus;
  /** The execution's output when it SUCCEEDED. */
  readonly output?: unknown;
  /** The error and cause the execution FAILED with, or that StopExecution gave when ABORTED. */
  readonly error?: string;
  readonly cause?: string;
  /** Names of the states entered, in order (a retried state appears once). */
  readonly path: readonly string[];
  readonly events: readonly LocalRunEvent[];
}

/** A started local execution. */
export interface LocalExecution {
  readonly executionArn: string;
  /** Settles when the execution ends; rejects only with a {@link LocalRunnerError}. */
  readonly result: Promise<LocalRunResult>;
  /** Stops the execution like StopExecution: the result is ABORTED with this error and cause. */
  abort(error?: string, cause?: string): void;
}

/** The runner cannot execute the definition faithfully: a Task it cannot map to a handler, or a misuse. */
export class LocalRunnerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalRunnerError';
  }
}

type TaskKind = 'function' | 'invoke' | 'invoke.waitForTaskToken';

interface TaskBinding {
  readonly stateName: string;
  readonly kind: TaskKind;
  /**
   * A bake task: how long its token waits, in ms, once the function returned, before it times out with
   * `States.Timeout` (the bake is over) unless it was settled (promoted) first.
   */
  readonly bakeMs?: number;
  /** Known when the function is named literally in the definition. */
  readonly fn?: TemplateFunction;
}

const STATIC_TASK_TOKEN = 'phasegate-local-task-token-placeholder';
const INVOKE_RESOURCE = /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/;
const FUNCTION_ARN = /^(arn:aws:lambda:[^:]+:\d{12}:function:[^:]+)(?::[^:]+)?$/;
// Node's timers overflow past 2^31-1 ms and then fire at once; CDK readily emits longer timeouts (30 days).
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
// Step Functions' limit on the size of a state's input or output.
const MAX_PAYLOAD_BYTES = 256 * 1024;
const DEFAULT_FAIL_STATE_CAUSE = 'Execution failed because of a Fail state';
// Validation costs about 0.1 s; rehearsals and benchmarks run the same definition many times.
const validatedDefinitions = new WeakSet<object>();

/**
 * How long each Wait state of a definition lasts in a local run, in milliseconds: `waitMs` where it names the state
 * (or for all), else the state's `Seconds` times `waitScale`, else (a `SecondsPath` or timestamp wait) `dynamicWaitMs`.
 */
export function waitTimeOverrides(
  states: readonly (readonly [string, AslState])[],
  options: Pick<LocalRunOptions, 'waitMs' | 'waitScale' | 'dynamicWaitMs'>,
): Record<string, number> {
  const { waitMs, waitScale = 0.001, dynamicWaitMs = 0 } = options;
  const overrides: Record<string, number> = {};
  for (const [name, state] of states) {
    if (state.Type !== 'Wait') continue;
    const fixed = typeof waitMs === 'number' ? waitMs : waitMs?.[name];
    overrides[name] = fixed ?? (typeof state.Seconds === 'number' ? state.Seconds * 1000 * waitScale : dynamicWaitMs);
  }
  return overrides;
}

/**
 * Whether a Task state is a bake: it waits for its token until `TimeoutSeconds` (the bake) is up, and a timeout is
 * its normal ending, so a local run shortens it like a Wait.
 */
export function isBakeTask(state: AslState): boolean {
  const payload = (state.Parameters as { Payload?: { mode?: unknown } } | undefined)?.Payload;
  return state.Type === 'Task' && INVOKE_RESOURCE.exec(state.Resource ?? '')?.[1] !== undefined && payload?.mode === 'bake';
}

/** How long each bake task of a definition waits in a local run, in ms: as {@link waitTimeOverrides} for a Wait. */
export function bakeTimeOverrides(
  states: readonly (readonly [string, AslState])[],
  options: Pick<LocalRunOptions, 'waitMs' | 'waitScale'>,
): Record<string, number> {
  const { waitMs, waitScale = 0.001 } = options;
  const overrides: Record<string, number> = {};
  for (const [name, state] of states) {
    if (!isBakeTask(state)) continue;
    const fixed = typeof waitMs === 'number' ? waitMs : waitMs?.[name];
    const seconds = typeof (state as { TimeoutSeconds?: unknown }).TimeoutSeconds === 'number' ? (state as { TimeoutSeconds: number }).TimeoutSeconds : 0;
    overrides[name] = fixed ?? seconds * 1000 * waitScale;
  }
  return overrides;
}

/** Starts a local execution and returns at once; see {@link runLocalStateMachine}. */
export function startLocalExecution(options: LocalRunOptions): LocalExecution {
  return new LocalRun(options).start();
}

/**
 * Executes `definition` with aws-local-stepfunctions until it ends. Every Task state calls the real handler of
 * its function in process (the function's template environment set in `process.env` for the call); a
 * `lambda:invoke` task gets its result wrapped like the service's (`{ Payload, StatusCode: 200, ... }`); a
 * `.waitForTaskToken` task passes a fresh token from `stepFunctions` in place of `$$.Task.Token` and waits until
 * that token is settled. Handler errors keep their `name`, so Retry and Catch match them as they would in AWS.
 *
 * Rejects with {@link LocalRunnerError} before running anything if a Task cannot be mapped to a handler (a Task
 * without a local handler would try to call real AWS, and a `States.ALL` Catch would hide that); a problem only
 * visible mid-run (a dynamic `FunctionName.$`, a lazily resolved handler) stops the run the same way.
 *
 * `process.env` is shared: handlers running at the same time (Parallel branches, concurrent runs) see each
 * other's variables.
 */
export function runLocalStateMachine(options: LocalRunOptions): Promise<LocalRunResult> {
  try {
    return startLocalExecution(options).result;
  } catch (error) {
    return Promise.reject(error);
  }
}

class LocalRun {
  private readonly executionArn: string;
  private readonly executionName: string;
  private readonly stateMachineArn: string;
  private readonly functionIndex: FunctionIndex;
  private readonly resolvedHandlers = new Map<string, LocalLambdaHandler>();
  private readonly env = new EnvironmentSwitch();
  private aborted = false;
  private stopReason: { error?: string; cause?: string } = {};
  private fatal?: LocalRunnerError;
  private run?: { abort(): void };

  constructor(private readonly options: LocalRunOptions) {
    const name = options.stateMachineName ?? 'phasegate-local';
    const { region, accountId } = LOCAL_AWS;
    this.stateMachineArn = `arn:aws:states:${region}:${accountId}:stateMachine:${name}`;
    const id = options.executionId ?? randomUUID();
    this.executionArn = id.startsWith('arn:') ? id : `arn:aws:states:${region}:${accountId}:execution:${name}:${id}`;
    this.executionName = this.executionArn.slice(this.executionArn.lastIndexOf(':') + 1);
    this.functionIndex = new FunctionIndex(options.functions);
  }

  start(): LocalExecution {
    const states = allStates(this.options.definition);
    const bindings = this.bindTasks(states);
    // The library validates (and annotates) the definition it is given: validate the original as written, then
    // run a copy whose timeouts are adjusted for local timers. Copies go through JSON, not structuredClone: under
    // Jest that returns objects of another realm, which the library's plain-object check rejects, silently
    // leaving nested Parameters unresolved.
    if (!validatedDefinitions.has(this.options.definition)) {
      new StateMachine(jsonCopy(this.options.definition) as never);
      validatedDefinitions.add(this.options.definition);
    }
    const machine = new StateMachine(this.runnableDefinition() as never, { validationOptions: { noValidate: true } });

    const abort = (error?: string, cause?: string): void => {
      if (this.aborted) return;
      this.aborted = true;
      this.stopReason = { error, cause };
      this.run?.abort();
    };
    this.options.stepFunctions.registerExecution(
      {
        executionArn: this.executionArn,
        stateMachineArn: this.stateMachineArn,
        name: this.executionName,
        input: JSON.stringify(this.options.input ?? {}),
      },
      abort,
    );

    const run = machine.run(this.options.input as never, {
      overrides: {
        taskResourceLocalHandlers: Object.fromEntries(
          bindings.map((binding) => [binding.stateName, (input: unknown) => this.runTask(binding, input) as never]),
        ),
        waitTimeOverrides: this.waitOverrides(states),
        retryIntervalOverrides: Object.fromEntries(
          states.filter(([, s]) => Array.isArray(s.Retry)).map(([name]) => [name, this.options.retryIntervalMs ?? 1]),
        ),
      },
      context: {
        Execution: { Id: this.executionArn, Name: this.executionName },
        StateMachine: { Id: this.stateMachineArn, Name: this.options.stateMachineName ?? 'phasegate-local' },
        Task: { Token: STATIC_TASK_TOKEN },
      },
    });
    this.run = run;
    const { eventLogs, result: finished } = run;

    const path: string[] = [];
    const events: LocalRunEvent[] = [];
    const consumed = (async () => {
      for await (const event of eventLogs) {
        events.push(event);
        if (event.type === 'StateEntered') path.push(event.state.name);
        // A task that timed out leaves its token open; the service would close it.
        if (event.type === 'StateFailed' && event.Error === 'States.Timeout') this.closeTokensOf(event.state.name);
        this.options.onEvent?.(event);
      }
    })();
    // Awaited below; an onEvent error must not surface as an unhandled rejection before that.
    consumed.catch(() => undefined);

    const result = (async (): Promise<LocalRunResult> => {
      try {
        const outcome = await this.outcome(finished);
        await consumed;
        this.options.stepFunctions.completeExecution(this.executionArn, outcome);
        if (this.fatal) throw this.fatal;
        return { executionArn: this.executionArn, ...outcome, path, events };
      } catch (error) {
        this.options.stepFunctions.completeExecution(this.executionArn, { status: 'FAILED', error: (error as Error).name });
        throw error;
      } finally {
        this.env.reset();
      }
    })();
    return { executionArn: this.executionArn, result, abort };
  }

  private async outcome(
    result: Promise<unknown>,
  ): Promise<Pick<LocalRunResult, 'status' | 'output' | 'error' | 'cause'>> {
    try {
      return { status: 'SUCCEEDED', output: await result };
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'ExecutionAbortedError') {
        return { status: 'ABORTED', ...definedOnly(this.stopReason) };
      }
      if (name === 'ExecutionTimeoutError') return { status: 'TIMED_OUT', error: 'States.Timeout' };
      const failure = (error as { cause?: Error }).cause;
      if (!failure) throw error;
      const errorName = failure.name === 'FailStateError' ? undefined : failure.name;
      const cause = failure.message === DEFAULT_FAIL_STATE_CAUSE ? undefined : failure.message;
      return { status: 'FAILED', ...definedOnly({ error: errorName, cause }) };
    }
  }

  /** Maps every Task to a function and handler up front, reporting every problem at once. */
  private bindTasks(states: [string, AslState][]): TaskBinding[] {
    const problems: string[] = [];
    const bindings: TaskBinding[] = [];
    const bakes = bakeTimeOverrides(states, this.options);
    for (const [stateName, state] of states) {
      if (state.Type !== 'Task') continue;
      const resource = state.Resource ?? '';
      const invoke = INVOKE_RESOURCE.exec(resource);
      if (!invoke && !FUNCTION_ARN.test(resource)) {
        problems.push(`${stateName}: Resource ${resource} is not a Lambda function or lambda:invoke; nothing local can run it`);
        continue;
      }
      const kind: TaskKind = !invoke ? 'function' : invoke[1] ? 'invoke.waitForTaskToken' : 'invoke';
      const parameters = state.Parameters ?? {};
      if (invoke && parameters.InvocationType !== undefined && parameters.InvocationType !== 'RequestResponse') {
        problems.push(`${stateName}: InvocationType ${String(parameters.InvocationType)} is not supported locally`);
        continue;
      }
      const functionName = invoke ? parameters.FunctionName : resource;
      if (invoke && typeof functionName !== 'string') {
        if (typeof parameters['FunctionName.$'] !== 'string') problems.push(`${stateName}: lambda:invoke without FunctionName`);
        else bindings.push({ stateName, kind });
        continue;
      }
      const fn = this.functionIndex.find(functionName as string);
      const problem = fn ? this.handlerProblem(fn) : `function ${String(functionName)} is not in the template's functions`;
      const bakeMs = bakes[stateName];
      if (problem) problems.push(`${stateName}: ${problem}`);
      else bindings.push({ stateName, kind, fn, ...(bakeMs !== undefined && this.options.taskTimeoutMs?.[stateName] === undefined ? { bakeMs } : {}) });
    }
    if (problems.length > 0) {
      throw new LocalRunnerError(`cannot run the state machine locally:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    }
    return bindings;
  }

  private handlerProblem(fn: TemplateFunction): string | undefined {
    if (fn.phasegateFunction === undefined) return `function ${fn.logicalId} has no PHASEGATE_FUNCTION environment variable`;
    const { handlers } = this.options;
    if (typeof handlers !== 'function' && typeof handlers[fn.phasegateFunction] !== 'function') {
      return `no handler given for ${fn.phasegateFunction} (function ${fn.logicalId})`;
    }
    return undefined;
  }

  private runnableDefinition(): AslDefinition {
    const definition = jsonCopy(this.options.definition) as { TimeoutSeconds?: number } & AslDefinition;
    if (definition.TimeoutSeconds !== undefined) definition.TimeoutSeconds = Math.min(definition.TimeoutSeconds, MAX_TIMER_SECONDS);
    for (const [name, state] of allStates(definition) as [string, { Type: string; [field: string]: unknown }][]) {
      if (state.Type !== 'Task') continue;
      const override = this.options.taskTimeoutMs?.[name];
      if (override === undefined && isBakeTask(state as AslState)) {
        // The run times a bake itself once its function returned (see runTask): a timeout while the function still
        // ran would leave it writing to the shared process.env while the next state's function runs.
        state.TimeoutSeconds = MAX_TIMER_SECONDS;
      } else if (override !== undefined) {
        state.TimeoutSeconds = override / 1000;
        delete state.TimeoutSecondsPath;
      } else if (typeof state.TimeoutSeconds === 'number') {
        state.TimeoutSeconds = Math.min(state.TimeoutSeconds, MAX_TIMER_SECONDS);
      } else if (state.TimeoutSecondsPath === undefined) {
        // The service has no default task timeout; the library would otherwise impose 60 seconds.
        state.TimeoutSeconds = MAX_TIMER_SECONDS;
      }
    }
    return definition;
  }

  private waitOverrides(states: [string, AslState][]): Record<string, number> {
    return waitTimeOverrides(states, this.options);
  }

  private async runTask(binding: TaskBinding, input: unknown): Promise<unknown> {
    if (this.aborted) throw new Error('execution aborted');
    const invoke = binding.kind !== 'function';
    const request = (invoke ? input : {}) as { FunctionName?: string; Payload?: unknown };
    const fn = binding.fn ?? this.functionIndex.find(request.FunctionName ?? '');
    if (!fn) return this.fail(`${binding.stateName}: function ${request.FunctionName} is not in the template's functions`);
    const problem = this.handlerProblem(fn);
    if (problem) return this.fail(`${binding.stateName}: ${problem}`);

    let event = jsonCopy(invoke ? (request.Payload ?? {}) : input);
    let token: string | undefined;
    if (binding.kind === 'invoke.waitForTaskToken') {
      token = this.options.stepFunctions.issueToken({ executionArn: this.executionArn, stateName: binding.stateName });
      const replaced = replaceToken(event, token);
      if (replaced.count === 0) {
        return this.fail(`${binding.stateName}: a .waitForTaskToken task must pass $$.Task.Token in its Payload`);
      }
      event = replaced.value;
    }

    let result: unknown;
    try {
      result = await this.invoke(fn, event);
    } catch (error) {
      if (token) this.options.stepFunctions.closeToken(token, 'the function failed');
      throw error;
    }
    if (token && binding.bakeMs !== undefined) return this.bakeOver(token, binding.bakeMs);
    if (token) return this.options.stepFunctions.waitForToken(token);
    const output = invoke
      ? {
          ExecutedVersion: '$LATEST',
          Payload: result,
          SdkHttpMetadata: { HttpStatusCode: 200 },
          SdkResponseMetadata: { RequestId: randomUUID() },
          StatusCode: 200,
        }
      : result;
    if (Buffer.byteLength(JSON.stringify(output)) > MAX_PAYLOAD_BYTES) {
      throw namedError('States.DataLimitExceeded', `The state/task '${binding.stateName}' returned a result with a size exceeding the maximum number of bytes service limit.`);
    }
    return output;
  }

  /** Invokes the handler as Lambda would: JSON in and out, its environment set, its timeout enforced. */
  private async invoke(fn: TemplateFunction, event: unknown): Promise<unknown> {
    this.env.apply({ ...fn.environment, AWS_LAMBDA_FUNCTION_NAME: fn.functionName });
    try {
      const handler = this.handlerFor(fn);
      const deadline = Date.now() + fn.timeoutSeconds * 1000;
      const context = lambdaContext(fn, deadline);
      const running = callHandler(handler, event, context);
      const result = this.options.enforceLambdaTimeouts === false ? await running : await withDeadline(running, fn.timeoutSeconds);
      return jsonCopy(result ?? null);
    } catch (error) {
      throw asLambdaFunctionError(error);
    } finally {
      this.env.reset();
    }
  }

  private handlerFor(fn: TemplateFunction): LocalLambdaHandler {
    const name = fn.phasegateFunction!;
    const { handlers } = this.options;
    if (typeof handlers !== 'function') return handlers[name];
    let handler = this.resolvedHandlers.get(name);
    if (!handler) {
      handler = handlers(name);
      if (typeof handler !== 'function') this.fail(`no handler given for ${name} (function ${fn.logicalId})`);
      this.resolvedHandlers.set(name, handler!);
    }
    return handler!;
  }

  /** Stops the run: a mapping problem found mid-run must not be routed by the definition's Catch. */
  private fail(message: string): never {
    this.fatal ??= new LocalRunnerError(message);
    this.aborted = true;
    this.run?.abort();
    throw this.fatal;
  }

  /** A bake's token: settled (promoted) before `ms`, or closed then with `States.Timeout`, as the service would. */
  private async bakeOver(token: string, ms: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const settled = this.options.stepFunctions.waitForToken(token);
    const timeUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    try {
      const first = await Promise.race([settled.then((output) => ({ output })), timeUp.then(() => undefined)]);
      if (first) return first.output;
      this.options.stepFunctions.closeToken(token, 'States.Timeout');
      throw namedError('States.Timeout', `the bake ${token.slice(0, 8)}... timed out`);
    } finally {
      clearTimeout(timer);
      settled.catch(() => undefined);
    }
  }

  private closeTokensOf(stateName: string): void {
    for (const token of this.options.stepFunctions.openTokens(this.executionArn)) {
      if (token.meta.stateName === stateName) this.options.stepFunctions.closeToken(token.token, 'States.Timeout');
    }
  }
}

/** Finds a template function by ARN (qualified or not), logical id or function name. */
class FunctionIndex {
  private readonly byKey = new Map<string, TemplateFunction>();

  constructor(functions: ReadonlyMap<string, TemplateFunction>) {
    for (const fn of functions.values()) {
      this.byKey.set(fn.arn, fn);
      this.byKey.set(fn.functionName, fn);
    }
    // The caller's own keys win, so a map with one entry replaced means what it says.
    for (const [key, fn] of functions) this.byKey.set(key, fn);
  }

  find(nameOrArn: string): TemplateFunction | undefined {
    const arn = FUNCTION_ARN.exec(nameOrArn);
    return this.byKey.get(arn ? arn[1] : nameOrArn);
  }
}

/** Sets a function's variables in `process.env` for the length of one invocation. */
class EnvironmentSwitch {
  private readonly saved = new Map<string, string | undefined>();

  apply(variables: Readonly<Record<string, string>>): void {
    this.reset();
    for (const [key, value] of Object.entries(variables)) {
      this.saved.set(key, process.env[key]);
      process.env[key] = value;
    }
  }

  reset(): void {
    for (const [key, value] of this.saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    this.saved.clear();
  }
}

/** Every state of the definition, including those inside Parallel branches and Map iterators. */
function allStates(definition: AslDefinition): [string, AslState][] {
  const found: [string, AslState][] = [];
  for (const [name, state] of Object.entries(definition.States)) {
    found.push([name, state]);
    for (const nested of [...(state.Branches ?? []), state.Iterator, state.ItemProcessor]) {
      if (nested) found.push(...allStates(nested));
    }
  }
  return found;
}

function callHandler(handler: LocalLambdaHandler, event: unknown, context: Context): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const callback: Callback = (error, value) => (error ? reject(error) : resolve(value));
    try {
      const returned = handler(event, context, callback) as PromiseLike<unknown> | undefined;
      if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
    } catch (error) {
      reject(error);
    }
  });
}

async function withDeadline(running: Promise<unknown>, timeoutSeconds: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(namedError('Sandbox.Timedout', `Task timed out after ${timeoutSeconds.toFixed(2)} seconds`)),
      timeoutSeconds * 1000,
    );
  });
  try {
    return await Promise.race([running, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function lambdaContext(fn: TemplateFunction, deadline: number): Context {
  const unsupported = (): never => {
    throw new Error('context.done/fail/succeed are not supported locally');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: fn.arn,
    memoryLimitInMB: String(fn.memorySize),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: `local/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/**
 * The error a Task sees when its function throws: named after the function's error type, with the Cause Step
 * Functions records for a Lambda function error (the runtime's JSON error object).
 */
function asLambdaFunctionError(error: unknown): Error {
  if (error instanceof LocalRunnerError) return error;
  const isError = error instanceof Error;
  const errorType = isError ? error.name : 'Error';
  const errorMessage = isError ? error.message : String(error);
  const trace = isError && error.stack ? error.stack.split('\n') : [];
  return namedError(errorType, JSON.stringify({ errorType, errorMessage, trace }));
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function jsonCopy(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : JSON.parse(text);
}

function replaceToken(value: unknown, token: string): { value: unknown; count: number } {
  let count = 0;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string' && v.includes(STATIC_TASK_TOKEN)) {
      count += 1;
      return v.split(STATIC_TASK_TOKEN).join(token);
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return { value: walk(value), count };
}

function definedOnly<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
