/**
 * The CLI against a running rehearsal (`phasegate ... --local`). The rehearsal's DynamoDB is an in-process
 * dynalite and its Lambda, CloudWatch and Step Functions control planes are fakes inside the rehearsal's process,
 * so the CLI cannot call them from its own process. Instead the rehearsal starts a tiny HTTP server on 127.0.0.1
 * ({@link startSessionServer}) that runs the core operations in the rehearsal's process, on its live objects, and
 * writes `.rehearsal/session.json` saying where it listens. The CLI's `--local` mode ({@link connectLocal}) reads
 * that file and sends each operation there.
 *
 * The local caller is `local:<os user>`. The rehearsal is the caller's own sandbox: unless the plan's
 * `principals` map that principal (then exactly the mapped roles apply), the caller holds every Phasegate role.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { CloudWatchMetricsReader } from '../lambdas/adapters/cloudwatch-metrics-reader';
import { DynamoLlmBudgetStore } from '../lambdas/adapters/dynamo-budget-store';
import { LambdaFlagWriter } from '../lambdas/adapters/lambda-flag-writer';
import { SfnExecutionStopper } from '../lambdas/adapters/sfn-execution-stopper';
import { SfnTaskTokens } from '../lambdas/adapters/sfn-task-tokens';
import { ConflictError, FlagWriteError, PlanInvalidError, RefusedError } from '../lambdas/core/errors';
import type { DecideResult, PromoteResult, RollbackOutcome } from '../lambdas/core/rollout/operations';
import type { PhaseReport } from '../lambdas/core/gates/report';
import type { FeatureVerification } from '../lambdas/core/drift/reconcile';
import { BUILT_IN_ROLES, type PhasegateRole, type Plan } from '../lambdas/core/plan/schema';
import { systemClock, type Clock, type ExecutionStopper, type FeatureBudgetStatus, type FlagWriter, type LlmBudgetStore, type MetricsReader, type Notifier, type RolloutStarter, type RolloutStore, type TargetInspection, type TaskTokens } from '../lambdas/core/ports';
import { LOCAL_PRINCIPAL_PREFIX, rolesFromPrincipal } from '../lambdas/core/rollout/principal';
import type { Actor, AuditEvent, RolloutState } from '../lambdas/core/rollout/rollout-state';
import { CoreBackend, type Backend, type BudgetCommand, type DecideCommand, type FeatureStatus } from '../cli/backend';
import { ConfigError } from '../cli/errors';
import { cliRolloutStarter } from '../cli/aws';
import { localDynamoClient } from './dynamo';

/** Environment variable naming the session file, instead of looking for `.rehearsal/session.json`. */
export const SESSION_FILE_ENV = 'PHASEGATE_SESSION_FILE';

/** Where the rehearsal writes its session file and the CLI looks for it, under the project's root. */
export const SESSION_FILE_RELATIVE = join('.rehearsal', 'session.json');

/** What the session file says. */
export interface SessionInfo {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The rehearsal's process. */
  readonly pid: number;
  readonly stage: string;
  readonly dynamoEndpoint: string;
  readonly tableName: string;
  readonly startedAt: string;
  /** Sent with every request: only someone who can read the session file can drive the rehearsal. */
  readonly token: string;
  /** The rehearsal's features. */
  readonly features: readonly string[];
}

/** Every Phasegate role of the plan (the built-in ones and its team roles): a local caller's own sandbox. */
const everyRole = (plan: Plan | undefined): readonly PhasegateRole[] => [...BUILT_IN_ROLES, ...(plan?.roles ?? [])];

/** The roles of a caller of the rehearsal: the plan's mapping when it maps the principal, otherwise every role. */
export function sandboxRoles(plan: Plan | undefined, caller: Actor): readonly PhasegateRole[] {
  const mapped = plan ? rolesFromPrincipal(plan, caller.id) : [];
  return mapped.length > 0 ? mapped : everyRole(plan);
}

/** The project's root: the nearest directory above this file holding package.json (works from `local/` and `dist/local/`). */
function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------------------------
// The server, in the rehearsal's process.

/** The rehearsal's live objects that {@link startSessionServer} operates on. */
export interface SessionServerOptions {
  readonly stage: string;
  /** The rehearsal's plans, resolved for `stage`. Their features are the features the CLI sees. */
  readonly plans: readonly Plan[];
  /** The rehearsal's adapters, over dynalite and the SDK-boundary fakes. */
  readonly ports: {
    readonly store: RolloutStore;
    /** @default SendTask* through the SFN client (served by FakeStepFunctions) */
    readonly tokens?: TaskTokens;
    /** @default the Lambda flag writer through the Lambda client (served by FakeLambdaControlPlane) */
    readonly flags?: FlagWriter;
    /** @default the system clock */
    readonly clock?: Clock;
    readonly notifier?: Notifier;
    /** @default StopExecution through the SFN client (served by FakeStepFunctions) */
    readonly stopper?: ExecutionStopper;
    /** @default the LLM budget store on `tableName` at `dynamoEndpoint` */
    readonly budgets?: LlmBudgetStore;
    /** @default StartExecution on `stateMachines` through the SFN client */
    readonly starter?: RolloutStarter;
    /** @default GetMetricData through the CloudWatch client (served by FakeCloudWatch) */
    readonly metrics?: MetricsReader;
  };
  /**
   * Feature -> state machine ARN, for `phasegate start` (StartExecution, served by FakeStepFunctions: give it an
   * `onStartExecution` handler that runs the state machine). Without it or `ports.starter`, starts are refused.
   */
  readonly stateMachines?: Readonly<Record<string, string>>;
  /** The dynalite endpoint and table, written to the session file. */
  readonly dynamoEndpoint: string;
  readonly tableName: string;
  /** @default `<project root>/.rehearsal/session.json` */
  readonly sessionFile?: string;
}

/** A running session server. */
export interface SessionServer {
  readonly url: string;
  readonly sessionFile: string;
  readonly info: SessionInfo;
  /** Stop serving and remove the session file. */
  close(): Promise<void>;
}

const ActorSchema = z.object({ id: z.string().startsWith(LOCAL_PRINCIPAL_PREFIX), name: z.string().optional() });
const feature = z.string().min(1).max(64);

/** A request from the CLI: `{ op, ...arguments, actor }`. */
const SessionRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('status'), actor: ActorSchema, feature: feature.optional() }),
  z.object({ op: z.literal('history'), actor: ActorSchema, feature, limit: z.number().int().min(1).max(1000).default(50) }),
  z.object({
    op: z.literal('decide'),
    actor: ActorSchema,
    feature,
    decision: z.enum(['approve', 'reject']),
    note: z.string().optional(),
    phase: z.string().optional(),
    optIn: z.string().optional(),
  }),
  z.object({ op: z.literal('rollback'), actor: ActorSchema, feature, reason: z.string() }),
  z.object({ op: z.literal('pause'), actor: ActorSchema, feature, reason: z.string().optional() }),
  z.object({ op: z.literal('resume'), actor: ActorSchema, feature }),
  z.object({ op: z.literal('start'), actor: ActorSchema, feature }),
  z.object({ op: z.literal('retry'), actor: ActorSchema, feature, from: z.string().optional() }),
  z.object({ op: z.literal('promote'), actor: ActorSchema, feature }),
  z.object({ op: z.literal('report'), actor: ActorSchema, feature }),
  z.object({ op: z.literal('verify'), actor: ActorSchema, feature }),
  z.object({ op: z.literal('inspect'), actor: ActorSchema, feature, target: z.string().optional() }),
  z.object({
    op: z.literal('budget'),
    actor: ActorSchema,
    feature,
    set: z.object({ usd: z.number(), reason: z.string(), subFeature: z.string().optional() }).optional(),
  }),
]);

/** A request to the session server. */
export type SessionRequest = z.input<typeof SessionRequestSchema>;

/** An error as it crosses the wire, so the CLI can raise the same typed error (and exit code) as in AWS mode. */
type WireError =
  | { type: 'refused'; code: RefusedError['code']; message: string }
  | { type: 'rollback-failed'; message: string; failures: FlagWriteError['failures'] }
  | { type: 'plan-invalid'; problems: readonly string[]; message: string }
  | { type: 'conflict'; message: string }
  | { type: 'config'; code: ConfigError['code']; message: string }
  | { type: 'internal'; name: string; message: string };

function toWire(err: unknown): WireError {
  if (err instanceof RefusedError) return { type: 'refused', code: err.code, message: err.message };
  if (err instanceof FlagWriteError) return { type: 'rollback-failed', message: err.message, failures: err.failures };
  if (err instanceof PlanInvalidError) return { type: 'plan-invalid', problems: err.problems, message: err.message };
  if (err instanceof ConflictError) return { type: 'conflict', message: err.message };
  if (err instanceof ConfigError) return { type: 'config', code: err.code, message: err.message };
  return { type: 'internal', name: (err as Error)?.name ?? 'Error', message: (err as Error)?.message ?? String(err) };
}

function fromWire(wire: WireError): Error {
  switch (wire.type) {
    case 'refused':
      return new RefusedError(wire.code, wire.message);
    case 'rollback-failed':
      return new FlagWriteError(wire.message, wire.failures);
    case 'plan-invalid':
      return new PlanInvalidError(wire.problems, 'the rehearsal plan');
    case 'conflict':
      return new ConflictError(wire.message);
    case 'config':
      return new ConfigError(wire.code, wire.message);
    case 'internal': {
      const err = new Error(`in the rehearsal: ${wire.message}`);
      err.name = wire.name;
      return err;
    }
  }
}

/** Refuses every start: the rehearsal gave no way to start executions. */
const noStarter: RolloutStarter = {
  start: async () => {
    throw new ConfigError('NOT_AVAILABLE', 'this rehearsal cannot start rollouts (it was given no state machines)');
  },
};

const MAX_BODY_BYTES = 64 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Serve the CLI's `--local` requests from the rehearsal's process: listen on 127.0.0.1 (a free port), write the
 * session file, and run each request as the core operation it names, on the rehearsal's store and fakes, as the
 * local caller. Call {@link SessionServer.close} when the rehearsal ends (the file is also removed if the
 * process exits without it).
 */
export async function startSessionServer(options: SessionServerOptions): Promise<SessionServer> {
  const plans = new Map(options.plans.map((p) => [p.feature, p]));
  const ownedClient = options.ports.budgets ? undefined : localDynamoClient(options.dynamoEndpoint);
  const ports = {
    ...options.ports,
    tokens: options.ports.tokens ?? new SfnTaskTokens(),
    flags: options.ports.flags ?? new LambdaFlagWriter(),
    clock: options.ports.clock ?? systemClock,
    stopper: options.ports.stopper ?? new SfnExecutionStopper(),
    budgets: options.ports.budgets ?? new DynamoLlmBudgetStore(options.tableName, ownedClient),
    starter: options.ports.starter ?? (options.stateMachines ? cliRolloutStarter(options.stateMachines) : noStarter),
    metrics: options.ports.metrics ?? new CloudWatchMetricsReader(),
  };
  const token = randomBytes(24).toString('hex');

  const backendFor = (actor: Actor): CoreBackend =>
    new CoreBackend({
      stage: options.stage,
      where: `the rehearsal (pid ${process.pid})`,
      features: [...plans.keys()],
      ports,
      caller: async () => actor,
      deployedPlan: async (f) => plans.get(f),
      rolesOf: sandboxRoles,
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST' || req.url !== '/') return send(res, 404, { ok: false, error: { type: 'internal', name: 'NotFound', message: 'POST / only' } });
    // Only a reader of the session file (the same user) has the token; it also stops a web page posting here.
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { ok: false, error: { type: 'internal', name: 'Unauthorized', message: 'bad session token' } });
    let parsed;
    try {
      parsed = SessionRequestSchema.safeParse(JSON.parse(await readBody(req)));
    } catch (err) {
      return send(res, 400, { ok: false, error: { type: 'internal', name: 'BadRequest', message: (err as Error).message } });
    }
    if (!parsed.success) {
      return send(res, 400, { ok: false, error: { type: 'internal', name: 'BadRequest', message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') } });
    }
    const r = parsed.data;
    const backend = backendFor({ id: r.actor.id, name: r.actor.name ?? r.actor.id.slice(LOCAL_PRINCIPAL_PREFIX.length), via: 'cli' });
    try {
      const result = await (async (): Promise<unknown> => {
        switch (r.op) {
          case 'status':
            return backend.status(r.feature);
          case 'history':
            return backend.history(r.feature, r.limit);
          case 'decide':
            return backend.decide({ feature: r.feature, decision: r.decision, ...(r.note !== undefined ? { note: r.note } : {}), ...(r.phase !== undefined ? { phase: r.phase } : {}), ...(r.optIn !== undefined ? { optIn: r.optIn } : {}) });
          case 'rollback':
            return backend.rollback({ feature: r.feature, reason: r.reason });
          case 'pause':
            return backend.pause({ feature: r.feature, ...(r.reason !== undefined ? { reason: r.reason } : {}) });
          case 'resume':
            return backend.resume({ feature: r.feature });
          case 'start':
            return backend.start({ feature: r.feature });
          case 'retry':
            return backend.retry({ feature: r.feature, ...(r.from !== undefined ? { from: r.from } : {}) });
          case 'promote':
            return backend.promote({ feature: r.feature });
          case 'budget':
            return backend.budget({ feature: r.feature, ...(r.set ? { set: r.set } : {}) });
          case 'report':
            return backend.report(r.feature);
          case 'verify':
            return backend.verify(r.feature);
          case 'inspect':
            return backend.inspect({ feature: r.feature, ...(r.target !== undefined ? { target: r.target } : {}) });
        }
      })();
      send(res, 200, { ok: true, result: result ?? null });
    } catch (err) {
      send(res, 200, { ok: false, error: toWire(err) });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { ok: false, error: toWire(err) });
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const info: SessionInfo = {
    url,
    pid: process.pid,
    stage: options.stage,
    dynamoEndpoint: options.dynamoEndpoint,
    tableName: options.tableName,
    startedAt: new Date().toISOString(),
    token,
    features: [...plans.keys()],
  };
  const sessionFile = resolve(options.sessionFile ?? join(projectRoot(), SESSION_FILE_RELATIVE));
  mkdirSync(dirname(sessionFile), { recursive: true });
  writeFileSync(sessionFile, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });

  // Only our own file is removed: a newer rehearsal may have written its own since.
  const removeFile = (): void => {
    try {
      if ((JSON.parse(readFileSync(sessionFile, 'utf8')) as SessionInfo).token === token) unlinkSync(sessionFile);
    } catch {
      // Already gone or unreadable: nothing of ours to remove.
    }
  };
  process.once('exit', removeFile);

  return {
    url,
    sessionFile,
    info,
    close: async () => {
      process.removeListener('exit', removeFile);
      removeFile();
      await new Promise<void>((done) => {
        server.close(() => done());
        // The CLI's fetch keeps connections alive; without this close() would wait for them to time out.
        server.closeAllConnections();
      });
      ownedClient?.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The client, in the CLI's process.

const NO_REHEARSAL = 'no rehearsal is running: start one with `npm run rehearse -- --manual`';

/** The session file the CLI uses: `$PHASEGATE_SESSION_FILE`, or `.rehearsal/session.json` in `cwd` or a parent. */
export function findSessionFile(cwd: string, env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (env[SESSION_FILE_ENV]) return resolve(cwd, env[SESSION_FILE_ENV]);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, SESSION_FILE_RELATIVE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Read the running rehearsal's session file. Throws {@link ConfigError} NO_REHEARSAL when there is none or its process is gone. */
export function readSession(cwd: string, env: Readonly<Record<string, string | undefined>>): SessionInfo {
  const file = findSessionFile(cwd, env);
  if (!file || !existsSync(file)) throw new ConfigError('NO_REHEARSAL', NO_REHEARSAL);
  let info: SessionInfo;
  try {
    info = JSON.parse(readFileSync(file, 'utf8')) as SessionInfo;
  } catch (err) {
    throw new ConfigError('REHEARSAL', `cannot read the session file ${file}: ${(err as Error).message}`);
  }
  if (typeof info.url !== 'string' || typeof info.pid !== 'number' || typeof info.token !== 'string') {
    throw new ConfigError('REHEARSAL', `the session file ${file} is not one this version of Phasegate wrote`);
  }
  if (!isAlive(info.pid)) throw new ConfigError('NO_REHEARSAL', `${NO_REHEARSAL} (the session file ${file} names process ${info.pid}, which has ended)`);
  return info;
}

/** The caller against a rehearsal: `local:<os user>`. */
export function localActor(env: Readonly<Record<string, string | undefined>>): Actor {
  let user = env.USER ?? env.USERNAME ?? env.LOGNAME;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'someone';
    }
  }
  return { id: `${LOCAL_PRINCIPAL_PREFIX}${user}`, name: user, via: 'cli' };
}

/** The CLI's {@link Backend} over a rehearsal's session server. */
export class SessionClient implements Backend {
  readonly stage: string;
  readonly where: string;

  constructor(
    private readonly session: SessionInfo,
    private readonly actor: Actor,
  ) {
    this.stage = session.stage;
    this.where = `the rehearsal at ${session.url} (pid ${session.pid})`;
  }

  status(feature?: string): Promise<FeatureStatus[]> {
    return this.call('status', feature === undefined ? {} : { feature });
  }

  history(feature: string, limit: number): Promise<AuditEvent[]> {
    return this.call('history', { feature, limit });
  }

  decide(req: DecideCommand): Promise<DecideResult> {
    return this.call('decide', { ...req });
  }

  rollback(req: { feature: string; reason: string }): Promise<RollbackOutcome> {
    return this.call('rollback', req);
  }

  pause(req: { feature: string; reason?: string }): Promise<RolloutState> {
    return this.call('pause', req);
  }

  resume(req: { feature: string }): Promise<RolloutState> {
    return this.call('resume', req);
  }

  start(req: { feature: string }): Promise<{ executionId: string }> {
    return this.call('start', req);
  }

  promote(req: { feature: string }): Promise<PromoteResult> {
    return this.call('promote', req);
  }

  retry(req: { feature: string; from?: string }): Promise<{ executionId: string; phase: string; phaseIndex: number }> {
    return this.call('retry', req);
  }

  budget(req: BudgetCommand): Promise<FeatureBudgetStatus> {
    return this.call('budget', { ...req });
  }

  report(feature: string): Promise<PhaseReport> {
    return this.call('report', { feature });
  }

  verify(feature: string): Promise<FeatureVerification> {
    return this.call('verify', { feature });
  }

  inspect(req: { feature: string; target?: string }): Promise<{ plan: Plan; targets: TargetInspection[] }> {
    return this.call('inspect', { ...req });
  }

  async close(): Promise<void> {
    // fetch's connections are pooled by Node and closed when idle.
  }

  private async call<T>(op: SessionRequest['op'], args: Record<string, unknown>): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.session.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.session.token}` },
        body: JSON.stringify({ op, ...args, actor: { id: this.actor.id, name: this.actor.name } }),
      });
    } catch (err) {
      const cause = ((err as { cause?: { code?: string; message?: string } }).cause?.code ?? (err as Error).message) || 'no answer';
      throw new ConfigError('REHEARSAL', `the rehearsal at ${this.session.url} (pid ${this.session.pid}) does not answer (${cause}): is it still running?`);
    }
    let body: { ok: boolean; result?: T; error?: WireError };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new ConfigError('REHEARSAL', `the rehearsal at ${this.session.url} answered HTTP ${res.status} with something that is not JSON`);
    }
    if (body.ok) return body.result as T;
    if (!body.error) throw new ConfigError('REHEARSAL', `the rehearsal answered HTTP ${res.status} without a result`);
    if (res.status !== 200) throw new ConfigError('REHEARSAL', `the rehearsal refused the request (HTTP ${res.status}): ${body.error.type === 'internal' ? body.error.message : body.error.type}`);
    throw fromWire(body.error);
  }
}

/** Options of {@link connectLocal}. */
export interface LocalConnectOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The stage the caller asked for explicitly; refused when the rehearsal runs another. */
  readonly stage?: string;
}

/** The CLI's `--local` backend: the running rehearsal, as `local:<os user>`. */
export function connectLocal(options: LocalConnectOptions): Backend {
  const session = readSession(options.cwd, options.env);
  if (options.stage !== undefined && options.stage !== session.stage) {
    throw new ConfigError('STAGE_MISMATCH', `the running rehearsal is for stage ${session.stage}, not ${options.stage}: drop --stage or use --stage ${session.stage}`);
  }
  return new SessionClient(session, localActor(options.env));
}
