import { randomBytes, randomUUID } from 'node:crypto';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  InvalidArn,
  InvalidExecutionInput,
  InvalidOutput,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskTimedOut,
  type DescribeExecutionCommandInput,
  type DescribeExecutionCommandOutput,
  type ExecutionStatus,
  type SendTaskFailureCommandInput,
  type SendTaskHeartbeatCommandInput,
  type SendTaskSuccessCommandInput,
  type StartExecutionCommandInput,
  type StartExecutionCommandOutput,
  type StopExecutionCommandInput,
  type StopExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';

/** What a task token was issued for; kept with the token for tests and for closing an execution's tokens. */
export interface TaskTokenMeta {
  readonly executionArn?: string;
  readonly stateName?: string;
  readonly [key: string]: unknown;
}

/** How a task token ended, or `open` while the task still waits. */
export type TaskTokenStatus = 'open' | 'succeeded' | 'failed' | 'closed';

/** A task token the fake issued, with how it ended. */
export interface IssuedTaskToken {
  readonly token: string;
  readonly meta: TaskTokenMeta;
  readonly issuedAt: Date;
  readonly status: TaskTokenStatus;
  /** The parsed `output` of SendTaskSuccess. */
  readonly output?: unknown;
  /** The `error` and `cause` of SendTaskFailure, or why the token was closed. */
  readonly error?: string;
  readonly cause?: string;
}

/** An execution the fake knows: started through StartExecution or registered by a local run. */
export interface FakeExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  /** The input as the service keeps it: a JSON string. */
  readonly input: string;
  readonly startDate: Date;
  readonly status: ExecutionStatus;
  readonly stopDate?: Date;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
}

/** How an execution ended, as reported by the local run that executed it. */
export interface ExecutionOutcome {
  readonly status: Exclude<ExecutionStatus, 'RUNNING' | 'PENDING_REDRIVE'>;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

/** Stops a running local execution; called by StopExecution with its `error` and `cause`. */
export type StopExecutionHandler = (error?: string, cause?: string) => void;

/**
 * Starts a local run for a StartExecution call. It must only start the run (and register it with
 * {@link FakeStepFunctions.registerExecution}), not wait for it to finish.
 */
export type StartExecutionHandler = (execution: FakeExecution) => void | Promise<void>;

/** The commands the fake serves. */
export type SfnCommandName =
  | 'SendTaskSuccess'
  | 'SendTaskFailure'
  | 'SendTaskHeartbeat'
  | 'StartExecution'
  | 'StopExecution'
  | 'DescribeExecution';

/** One call the fake received. */
export interface SfnCallRecord {
  readonly command: SfnCommandName;
  readonly input: unknown;
  readonly at: Date;
  /** `'ok'`, or the `name` of the error the call got. */
  readonly outcome: string;
}

interface TokenState {
  record: IssuedTaskToken;
  readonly settled: Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

interface ExecutionState {
  record: FakeExecution;
  stop?: StopExecutionHandler;
}

const CLOSED_TOKEN_MESSAGE = "Task Timed Out: 'Provided task does not exist anymore'";
const STATE_MACHINE_ARN = /^arn:aws:states:([^:]+):(\d{12}):stateMachine:([^:]+)$/;

function metadata(httpStatusCode: number) {
  return { httpStatusCode, requestId: randomUUID(), attempts: 1, totalRetryDelay: 0 };
}

/** The error a `.waitForTaskToken` task fails with after SendTaskFailure: Step Functions routes on its `name`. */
function taskFailure(error: string | undefined, cause: string | undefined): Error {
  const failure = new Error(cause ?? '');
  failure.name = error ?? '';
  return failure;
}

/**
 * A stateful fake of the Step Functions APIs that Phasegate calls (task tokens, StartExecution, StopExecution,
 * DescribeExecution), installed at the SDK boundary with aws-sdk-client-mock. Task tokens behave like the
 * service's: unique and opaque, settled once by SendTaskSuccess or SendTaskFailure; an unknown token gets
 * `InvalidToken` and a token that is already settled or closed gets `TaskTimedOut`.
 */
export class FakeStepFunctions {
  private readonly tokenStates = new Map<string, TokenState>();
  private readonly executions = new Map<string, ExecutionState>();
  private readonly callLog: SfnCallRecord[] = [];
  private startHandler?: StartExecutionHandler;
  private stub?: { restore(): void };

  /** Every call received so far, oldest first. */
  get calls(): readonly SfnCallRecord[] {
    return this.callLog;
  }

  /** Every token issued so far, oldest first, with how it ended. */
  get tokens(): readonly IssuedTaskToken[] {
    return [...this.tokenStates.values()].map((t) => t.record);
  }

  /** Issues a fresh task token, as Step Functions does when a `.waitForTaskToken` task starts. */
  issueToken(meta: TaskTokenMeta = {}): string {
    const token = `AQ${randomBytes(96).toString('base64')}`;
    let resolve!: (value: unknown) => void;
    let reject!: (error: Error) => void;
    const settled = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // The task may be settled before anyone waits on it (a handler can answer at once): that is not unhandled.
    settled.catch(() => undefined);
    this.tokenStates.set(token, {
      record: { token, meta, issuedAt: new Date(), status: 'open' },
      settled,
      resolve,
      reject,
    });
    return token;
  }

  /**
   * Settles when the token does: resolves with the parsed output of SendTaskSuccess, rejects with an Error whose
   * `name` is SendTaskFailure's `error` and whose message is its `cause`.
   */
  waitForToken(token: string): Promise<unknown> {
    const state = this.tokenStates.get(token);
    if (!state) throw new Error(`fake Step Functions: token was never issued: ${token.slice(0, 24)}...`);
    return state.settled;
  }

  /**
   * Ends a token without an answer, as when its task timed out or its execution stopped: a later SendTask* gets
   * `TaskTimedOut`, and anyone waiting gets a `States.Timeout` error. Does nothing to a settled token.
   */
  closeToken(token: string, reason = 'task ended before the token was settled'): void {
    const state = this.tokenStates.get(token);
    if (!state || state.record.status !== 'open') return;
    state.record = { ...state.record, status: 'closed', error: 'States.Timeout', cause: reason };
    state.reject(taskFailure('States.Timeout', reason));
  }

  /** Closes every open token issued for this execution. */
  closeTokensOf(executionArn: string, reason?: string): void {
    for (const state of this.tokenStates.values()) {
      if (state.record.meta.executionArn === executionArn) this.closeToken(state.record.token, reason);
    }
  }

  /** Tokens still waiting for an answer, optionally only those of one execution. */
  openTokens(executionArn?: string): readonly IssuedTaskToken[] {
    return this.tokens.filter(
      (t) => t.status === 'open' && (executionArn === undefined || t.meta.executionArn === executionArn),
    );
  }

  /** Sets what StartExecution does: typically start a local run of the state machine. */
  onStartExecution(handler: StartExecutionHandler): void {
    this.startHandler = handler;
  }

  /**
   * Records a running execution so DescribeExecution sees it and StopExecution can stop it with `stop`. An
   * execution created by StartExecution gets its `stop` attached here.
   */
  registerExecution(
    execution: Pick<FakeExecution, 'executionArn' | 'stateMachineArn' | 'name' | 'input'>,
    stop: StopExecutionHandler,
  ): void {
    const existing = this.executions.get(execution.executionArn);
    if (existing?.stop) throw new Error(`fake Step Functions: execution already registered: ${execution.executionArn}`);
    if (existing) {
      existing.stop = stop;
      return;
    }
    this.executions.set(execution.executionArn, {
      record: { ...execution, startDate: new Date(), status: 'RUNNING' },
      stop,
    });
  }

  /** Records how a running execution ended and closes its open tokens. */
  completeExecution(executionArn: string, outcome: ExecutionOutcome): void {
    const state = this.executions.get(executionArn);
    if (!state) throw new Error(`fake Step Functions: unknown execution ${executionArn}`);
    if (state.record.status === 'RUNNING') {
      state.record = {
        ...state.record,
        status: outcome.status,
        stopDate: new Date(),
        ...(outcome.output !== undefined && { output: JSON.stringify(outcome.output) }),
        ...(outcome.error !== undefined && { error: outcome.error }),
        ...(outcome.cause !== undefined && { cause: outcome.cause }),
      };
    }
    this.closeTokensOf(executionArn, `execution ${state.record.status.toLowerCase()}`);
  }

  /** The execution as DescribeExecution would show it, or `undefined`. */
  execution(executionArn: string): FakeExecution | undefined {
    return this.executions.get(executionArn)?.record;
  }

  /** Routes every `SFNClient` to this fake; other commands fail loudly. */
  install(): this {
    if (this.stub) throw new Error('fake Step Functions: already installed');
    const stub = mockClient(SFNClient);
    // Registered first so the command-specific routes below take precedence over it.
    stub.onAnyCommand().callsFake(async (input: unknown) => {
      throw new Error(`fake Step Functions: this command is not faked (input ${JSON.stringify(input)})`);
    });
    stub.on(SendTaskSuccessCommand).callsFake((input) => this.record('SendTaskSuccess', input, () => this.sendTaskSuccess(input)));
    stub.on(SendTaskFailureCommand).callsFake((input) => this.record('SendTaskFailure', input, () => this.sendTaskFailure(input)));
    stub.on(SendTaskHeartbeatCommand).callsFake((input) => this.record('SendTaskHeartbeat', input, () => this.sendTaskHeartbeat(input)));
    stub.on(StartExecutionCommand).callsFake((input) => this.record('StartExecution', input, () => this.startExecution(input)));
    stub.on(StopExecutionCommand).callsFake((input) => this.record('StopExecution', input, () => this.stopExecution(input)));
    stub.on(DescribeExecutionCommand).callsFake((input) => this.record('DescribeExecution', input, () => this.describeExecution(input)));
    this.stub = stub;
    return this;
  }

  /** Gives `SFNClient` its real `send` back. */
  restore(): void {
    this.stub?.restore();
    this.stub = undefined;
  }

  private async record<T>(command: SfnCommandName, input: unknown, serve: () => T | Promise<T>): Promise<T> {
    try {
      const output = await serve();
      this.callLog.push({ command, input, at: new Date(), outcome: 'ok' });
      return output;
    } catch (error) {
      this.callLog.push({ command, input, at: new Date(), outcome: (error as Error).name });
      throw error;
    }
  }

  private openToken(token: string | undefined): TokenState {
    const state = token === undefined ? undefined : this.tokenStates.get(token);
    if (!state) throw new InvalidToken({ message: "Invalid Token: 'Invalid token'", $metadata: metadata(400) });
    if (state.record.status !== 'open') throw new TaskTimedOut({ message: CLOSED_TOKEN_MESSAGE, $metadata: metadata(400) });
    return state;
  }

  private sendTaskSuccess(input: SendTaskSuccessCommandInput): { $metadata: object } {
    const state = this.openToken(input.taskToken);
    let output: unknown;
    try {
      output = JSON.parse(input.output ?? '');
    } catch {
      throw new InvalidOutput({ message: 'Invalid Output: the output is not valid JSON', $metadata: metadata(400) });
    }
    state.record = { ...state.record, status: 'succeeded', output };
    state.resolve(output);
    return { $metadata: metadata(200) };
  }

  private sendTaskFailure(input: SendTaskFailureCommandInput): { $metadata: object } {
    const state = this.openToken(input.taskToken);
    state.record = { ...state.record, status: 'failed', error: input.error, cause: input.cause };
    state.reject(taskFailure(input.error, input.cause));
    return { $metadata: metadata(200) };
  }

  private sendTaskHeartbeat(input: SendTaskHeartbeatCommandInput): { $metadata: object } {
    this.openToken(input.taskToken);
    return { $metadata: metadata(200) };
  }

  private async startExecution(input: StartExecutionCommandInput): Promise<StartExecutionCommandOutput> {
    const arn = STATE_MACHINE_ARN.exec(input.stateMachineArn ?? '');
    if (!arn) throw new InvalidArn({ message: `Invalid Arn: '${input.stateMachineArn}'`, $metadata: metadata(400) });
    const executionInput = input.input ?? '{}';
    try {
      JSON.parse(executionInput);
    } catch {
      throw new InvalidExecutionInput({ message: 'Invalid State Machine Execution Input', $metadata: metadata(400) });
    }
    const name = input.name ?? randomUUID();
    const executionArn = `arn:aws:states:${arn[1]}:${arn[2]}:execution:${arn[3]}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      // The service treats a repeated start of a running execution with the same input as the same request.
      if (existing.record.status === 'RUNNING' && existing.record.input === executionInput) {
        return { executionArn, startDate: existing.record.startDate, $metadata: metadata(200) };
      }
      throw new ExecutionAlreadyExists({ message: `Execution Already Exists: '${executionArn}'`, $metadata: metadata(400) });
    }
    if (!this.startHandler) throw new Error('fake Step Functions: StartExecution needs a handler: call onStartExecution first');
    const record: FakeExecution = {
      executionArn,
      stateMachineArn: input.stateMachineArn!,
      name,
      input: executionInput,
      startDate: new Date(),
      status: 'RUNNING',
    };
    this.executions.set(executionArn, { record });
    await this.startHandler(record);
    return { executionArn, startDate: record.startDate, $metadata: metadata(200) };
  }

  private stopExecution(input: StopExecutionCommandInput): StopExecutionCommandOutput {
    const state = this.executions.get(input.executionArn ?? '');
    if (!state) {
      throw new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${input.executionArn}'`, $metadata: metadata(400) });
    }
    if (state.record.status === 'RUNNING') {
      state.record = {
        ...state.record,
        status: 'ABORTED',
        stopDate: new Date(),
        ...(input.error !== undefined && { error: input.error }),
        ...(input.cause !== undefined && { cause: input.cause }),
      };
      this.closeTokensOf(state.record.executionArn, 'execution aborted');
      state.stop?.(input.error, input.cause);
    }
    return { stopDate: state.record.stopDate, $metadata: metadata(200) };
  }

  private describeExecution(input: DescribeExecutionCommandInput): DescribeExecutionCommandOutput {
    const state = this.executions.get(input.executionArn ?? '');
    if (!state) {
      throw new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${input.executionArn}'`, $metadata: metadata(400) });
    }
    return { ...state.record, $metadata: metadata(200) };
  }
}
