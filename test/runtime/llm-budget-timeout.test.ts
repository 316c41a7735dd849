import { createServer, type Server, type Socket } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LLM_BUDGET } from '../../lambdas/core/contract';
import { createLlmBudget, LlmBudgetConfigError, type LlmBudgetOptions } from 'phasegate/runtime/llm-budget';
import { dailyCapVariable, subFeatureKey } from '../../runtime/names';

/**
 * The guard fails closed within a bounded time when DynamoDB stalls: the documented BUDGET_UNAVAILABLE fallback
 * must arrive well within the target function's own timeout, not when the function dies.
 */
const FEATURE = 'ux-update';
const SUB = 'llm-parsing';
const ENV = { [LLM_BUDGET.tableNameEnv]: 'phasegate-state', [dailyCapVariable(subFeatureKey(FEATURE, SUB))]: '5' };
const REQUEST = { feature: FEATURE, subFeature: SUB, estimateUsd: 0.01 };

const quiet = (options: Partial<LlmBudgetOptions>): LlmBudgetOptions => ({ env: ENV, emitMetric: () => undefined, warn: () => undefined, ...options });

describe('a DynamoDB endpoint that accepts connections and never answers', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let endpoint: string;

  beforeAll(async () => {
    // Reads nothing, writes nothing: the TCP connection opens, the HTTP request is never answered.
    server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    endpoint = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('falls back with BUDGET_UNAVAILABLE after timeoutMs, without calling the LLM', async () => {
    const client = new DynamoDBClient({ endpoint, region: 'eu-central-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    try {
      const warnings: string[] = [];
      const guard = createLlmBudget(quiet({ client, timeoutMs: 200, warn: (line) => warnings.push(line) }));
      const call = jest.fn(async () => ({ value: 'parsed', costUsd: 0.01 }));
      const result = await guard.withLlmBudget(REQUEST, call);
      expect(result).toMatchObject({
        ok: false,
        reason: 'BUDGET_UNAVAILABLE',
        error: 'LlmBudgetTimeoutError: DynamoDB did not answer the budget reservation within 200 ms',
      });
      expect(call).not.toHaveBeenCalled();
      expect(sockets.length).toBeGreaterThanOrEqual(1); // the request really reached the stalled endpoint
      expect(warnings.join('\n')).toMatch(/LLM budget unavailable; the call falls back/);
    } finally {
      client.destroy();
    }
  });
});

/** A DynamoDB client whose requests never settle unless aborted, answering the first `answered` of them with {}. */
function stallingClient(answered = 0) {
  const sent: string[] = [];
  let calls = 0;
  const client = {
    send: (command: { constructor: { name: string } }, options?: { abortSignal?: AbortSignal }) => {
      sent.push(command.constructor.name);
      if (calls++ < answered) return Promise.resolve({});
      return new Promise((_, reject) => options?.abortSignal?.addEventListener('abort', () => reject(options.abortSignal!.reason)));
    },
  };
  return { client: client as never, sent };
}

describe('the guard’s deadline', () => {
  afterEach(() => jest.useRealTimers());

  it('defaults to 1 s: nothing at 999 ms, BUDGET_UNAVAILABLE at 1,000 ms, and the request is aborted', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const { client, sent } = stallingClient();
    const guard = createLlmBudget(quiet({ client }));
    let settled = false;
    const result = guard.withLlmBudget(REQUEST, async () => ({ value: 1, costUsd: 0 })).finally(() => (settled = true));
    while (sent.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await jest.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(await result).toMatchObject({ ok: false, reason: 'BUDGET_UNAVAILABLE', error: expect.stringContaining('within 1000 ms') });
    expect(sent).toEqual(['UpdateItemCommand']);
  });

  it('bounds the settlement too: the call’s value comes back, its spend unrecorded', async () => {
    const { client, sent } = stallingClient(1);
    const warnings: string[] = [];
    const guard = createLlmBudget(quiet({ client, timeoutMs: 50, warn: (line) => warnings.push(line) }));
    const result = await guard.withLlmBudget(REQUEST, async () => ({ value: 'parsed', costUsd: 0.004 }));
    expect(result).toMatchObject({ ok: true, value: 'parsed', settlement: 'unrecorded' });
    expect(sent).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
    expect(warnings.join('\n')).toMatch(/DynamoDB did not answer the budget settlement within 50 ms/);
  });

  it('bounds the release after a failed call, and still rethrows the call’s error', async () => {
    const { client } = stallingClient(1);
    const guard = createLlmBudget(quiet({ client, timeoutMs: 50 }));
    const boom = new Error('LLM provider down');
    await expect(guard.withLlmBudget(REQUEST, async () => Promise.reject(boom))).rejects.toBe(boom);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses timeoutMs %p', (timeoutMs) => {
    expect(() => createLlmBudget(quiet({ timeoutMs }))).toThrow(LlmBudgetConfigError);
  });
});
