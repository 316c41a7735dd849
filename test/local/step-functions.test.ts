import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { FakeStepFunctions, type FakeExecution } from '../../local/fakes/step-functions';

describe('FakeStepFunctions', () => {
  let fake: FakeStepFunctions;
  const sfn = new SFNClient({});
  const succeed = (taskToken: string, output: unknown) =>
    sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));

  beforeEach(() => {
    fake = new FakeStepFunctions().install();
  });
  afterEach(() => fake.restore());

  describe('task tokens', () => {
    it('issues unique opaque tokens', () => {
      const tokens = new Set(Array.from({ length: 50 }, () => fake.issueToken()));
      expect(tokens.size).toBe(50);
      for (const token of tokens) expect(token.length).toBeGreaterThan(100);
    });

    it('resolves the waiter with the parsed output of SendTaskSuccess', async () => {
      const token = fake.issueToken({ executionArn: 'arn:x', stateName: 'WaitForApproval' });
      const waiting = fake.waitForToken(token);
      await succeed(token, { approved: true, by: 'ana' });
      await expect(waiting).resolves.toEqual({ approved: true, by: 'ana' });
      expect(fake.tokens[0]).toMatchObject({ status: 'succeeded', meta: { stateName: 'WaitForApproval' } });
    });

    it('rejects the waiter with an error named after SendTaskFailure.error, even if it failed before anyone waited', async () => {
      const token = fake.issueToken();
      await sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'PhasegateApprovalRejected', cause: 'no' }));
      const error = await fake.waitForToken(token).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({ name: 'PhasegateApprovalRejected', message: 'no' });
    });

    it('answers an unknown token with InvalidToken', async () => {
      await expect(succeed('AQnot-a-token', {})).rejects.toBeInstanceOf(InvalidToken);
      await expect(sfn.send(new SendTaskHeartbeatCommand({ taskToken: 'nope' }))).rejects.toMatchObject({
        name: 'InvalidToken',
      });
    });

    it('answers a second settle of the same token with TaskTimedOut, keeping the first answer', async () => {
      const token = fake.issueToken();
      await succeed(token, { first: true });
      const again = await succeed(token, { second: true }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(TaskTimedOut);
      expect((again as Error).message).toBe("Task Timed Out: 'Provided task does not exist anymore'");
      await expect(
        sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'X' })),
      ).rejects.toBeInstanceOf(TaskTimedOut);
      await expect(fake.waitForToken(token)).resolves.toEqual({ first: true });
      expect(fake.calls.map((c) => `${c.command}:${c.outcome}`)).toEqual([
        'SendTaskSuccess:ok',
        'SendTaskSuccess:TaskTimedOut',
        'SendTaskFailure:TaskTimedOut',
      ]);
    });

    it('rejects output that is not JSON with InvalidOutput, leaving the token open', async () => {
      const token = fake.issueToken();
      await expect(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{oops' }))).rejects.toMatchObject({
        name: 'InvalidOutput',
      });
      expect(fake.openTokens()).toHaveLength(1);
    });

    it('a closed token gets TaskTimedOut and rejects its waiter with States.Timeout', async () => {
      const token = fake.issueToken({ executionArn: 'arn:run' });
      const waiting = fake.waitForToken(token);
      fake.closeTokensOf('arn:run');
      await expect(waiting).rejects.toMatchObject({ name: 'States.Timeout' });
      await expect(succeed(token, {})).rejects.toBeInstanceOf(TaskTimedOut);
    });
  });

  describe('executions', () => {
    const stateMachineArn = 'arn:aws:states:us-east-1:123456789012:stateMachine:phasegate-dev';

    it('StartExecution hands the execution to the registered handler; StopExecution stops it', async () => {
      const started: FakeExecution[] = [];
      const stops: [string?, string?][] = [];
      fake.onStartExecution((execution) => {
        started.push(execution);
        fake.registerExecution(execution, (error, cause) => stops.push([error, cause]));
      });
      const { executionArn } = await sfn.send(
        new StartExecutionCommand({ stateMachineArn, name: 'checkout-1', input: '{"feature":"checkout"}' }),
      );
      expect(executionArn).toBe('arn:aws:states:us-east-1:123456789012:execution:phasegate-dev:checkout-1');
      expect(started.map((e) => e.input)).toEqual(['{"feature":"checkout"}']);

      const token = fake.issueToken({ executionArn });
      await sfn.send(new StopExecutionCommand({ executionArn, error: 'Operator', cause: 'stop it' }));
      expect(stops).toEqual([['Operator', 'stop it']]);
      expect(await sfn.send(new DescribeExecutionCommand({ executionArn }))).toMatchObject({
        status: 'ABORTED',
        error: 'Operator',
        cause: 'stop it',
        stopDate: expect.any(Date),
      });
      await expect(succeed(token, {})).rejects.toBeInstanceOf(TaskTimedOut);
    });

    it('treats a repeated start with the same name and input as the same execution, and a different input as a clash', async () => {
      let starts = 0;
      fake.onStartExecution(() => {
        starts += 1;
      });
      const first = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'n', input: '{}' }));
      const again = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'n', input: '{}' }));
      expect(again.executionArn).toBe(first.executionArn);
      expect(starts).toBe(1);
      await expect(
        sfn.send(new StartExecutionCommand({ stateMachineArn, name: 'n', input: '{"x":1}' })),
      ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    });

    it('DescribeExecution reports a completed local run; unknown executions do not exist', async () => {
      const executionArn = 'arn:aws:states:us-east-1:123456789012:execution:phasegate-dev:local-1';
      fake.registerExecution({ executionArn, stateMachineArn, name: 'local-1', input: '{}' }, () => undefined);
      expect((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');
      fake.completeExecution(executionArn, { status: 'SUCCEEDED', output: { done: true } });
      expect(await sfn.send(new DescribeExecutionCommand({ executionArn }))).toMatchObject({
        status: 'SUCCEEDED',
        output: '{"done":true}',
      });
      await expect(
        sfn.send(new DescribeExecutionCommand({ executionArn: `${executionArn}-nope` })),
      ).rejects.toBeInstanceOf(ExecutionDoesNotExist);
      await expect(sfn.send(new StopExecutionCommand({ executionArn: `${executionArn}-nope` }))).rejects.toBeInstanceOf(
        ExecutionDoesNotExist,
      );
    });

    it('rejects a malformed state machine ARN and input that is not JSON', async () => {
      fake.onStartExecution(() => undefined);
      await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: 'phasegate' }))).rejects.toMatchObject({
        name: 'InvalidArn',
      });
      await expect(sfn.send(new StartExecutionCommand({ stateMachineArn, input: 'nope' }))).rejects.toMatchObject({
        name: 'InvalidExecutionInput',
      });
    });
  });
});
