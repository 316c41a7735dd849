import type { LambdaFunctionURLResult } from 'aws-lambda';
import type { APIApplicationCommandOptionChoice, APIInteractionResponse } from 'discord-api-types/v10';
import { authorize, rolesFromDiscord, type RolloutAction } from '../rollout/authorize';
import { FlagWriteError, RefusedError } from '../errors';
import { decide, optInToPhase, pauseRollout, promoteRollout, requestRetry, requestStart, resumeRollout, type Person } from '../rollout/operations';
import type { SetDailyCapRequest } from '../budget/budget';
import type { BudgetReader, Clock, DriftLedger, FlagWriter, LlmBudgetStatus, Notifier, RolloutStarter, RolloutStore, TaskTokens } from '../ports';
import { HISTORY_LIMIT } from './commands';
import { verifyFeature } from '../drift/reconcile';
import { requestRollback } from '../rollback/rollback-request';
import type { RollbackContinuation } from '../rollback/rollback';
import { refusalEvent, type Actor } from '../rollout/rollout-state';
import { encodeCustomId, executionHash, type ApprovalComponent } from './custom-id';
import type { StagePlan } from './directory';
import { parseInteraction, REASON_INPUT_ID, type CommandOptions, type Invoker, type InteractionMeta, type ParsedInteraction } from './interaction';
import {
  EPHEMERAL,
  approvalDecidedMessage,
  rollbackContinuesMessage,
  budgetMessage,
  controlMessage,
  errorMessage,
  refusalMessage,
  rollbackFailedMessage,
  rolledBackMessage,
  startedMessage,
  promotedMessage,
  retryStartedMessage,
  verifyMessage,
  historyMessage,
  reportRequestedMessage,
  reportUnavailableMessage,
  statusMessage,
  type FeatureStatusView,
} from './messages';
import { JOB_EVENT_KEY, type DeferredJobs, type DiscordJob, type DiscordMessage, type DiscordRest, type JobInteraction, type NotifierContext } from './ports';
import { verifyRequest, type PublicKey, type SignedRequest } from './signature';

/**
 * The Discord interactions endpoint as a plain function over ports: verify, parse, authorize, act, answer.
 *
 * When to answer at once and when to defer (Discord allows 3 s for the first answer):
 * - At once: PING, autocomplete, `status`, `budget`, `pause`, `resume`, `promote` (one SendTaskSuccess), the Reject button (it opens a modal),
 *   every refusal. These read or write DynamoDB only. `verify` too: it adds one GetFunction per target (100 per
 *   second, apart from the 15 per second of the other Lambda calls), tens of milliseconds for a stage's targets.
 * - At once when fast, else deferred: `approve` and `reject` (commands, the Approve button, the reject modal).
 *   They write DynamoDB and call Step Functions. The decision runs inline for up to {@link DEFAULT_INLINE_BUDGET_MS};
 *   if it is not done by then the endpoint answers "deferred" (type 5, or type 6 for a button) and hands the
 *   same decision to an asynchronous invocation of itself. `decide` finishes a decision its author repeats, so
 *   whichever of the two gets there first makes it and the other reports it.
 * - Always deferred: `start`, `retry` and `rollback` (StartExecution; flag writes that wait for every target's update).
 *   Checks that need no AWS call beyond DynamoDB (roles, state) run first, so refusals stay ephemeral; then the
 *   endpoint answers type 5 and invokes itself with the job.
 *
 * A Function URL Lambda cannot keep working after it returned its response, so deferred work never runs "in the
 * background" of the request: it runs in its own invocation (Lambda Invoke, InvocationType Event, on this very
 * function), which ends by editing the deferred response through the interaction webhook.
 */

/** How long an inline decision may take before it is handed to the asynchronous path. */
export const DEFAULT_INLINE_BUDGET_MS = 2000;

/** What the endpoint needs. */
export interface InteractionEndpointPorts {
  /** The deployment stage. */
  readonly stage: string;
  /** The stage's plans, as the endpoint knows them. */
  readonly plans: readonly StagePlan[];
  readonly store: RolloutStore;
  readonly tokens: TaskTokens;
  /** Writes target flags for rollbacks from Discord. */
  readonly flags: FlagWriter;
  /**
   * Asks the stage's daily-report function for a feature's report now (it posts to the feature's channel). The report
   * reads metrics and renders a picture, more than the endpoint's 3 seconds and bundle allow. @default - no reports
   */
  readonly reports?: { request(feature: string): Promise<void> };
  /**
   * Takes over a rollback from Discord that is not finished by the flag writer's deadline (the stage's rollback
   * worker). @default - none: targets still not safe then are recorded as ROLLBACK_FAILED
   */
  readonly rollbackContinuation?: RollbackContinuation;
  readonly clock: Clock;
  /** StartExecution with a given execution name, so a repeated start job is the same execution. */
  readonly starter: (executionName: string) => RolloutStarter;
  /** The application's public key (read once per cold start). */
  readonly publicKey: () => Promise<PublicKey | string>;
  /** Interaction webhooks (edit the deferred response, follow-ups). */
  readonly discord: DiscordRest;
  /** The channel notifier, told where the reply goes so it does not say the same thing twice. */
  readonly notifier: (context: NotifierContext) => Notifier;
  readonly jobs: DeferredJobs;
  /** LLM budgets for `/rollout budget`. @default - not available: the command says so */
  readonly budgets?: BudgetReader;
  /** Changes today's cap (`/rollout budget set_cap_usd:`): core `setDailyCap` (admins only, audited). @default - not available */
  readonly setDailyCap?: (req: SetDailyCapRequest) => Promise<LlmBudgetStatus>;
  /** Who last changed each target and its drift back-off, for `/rollout verify`. @default - not shown */
  readonly driftLedger?: Pick<DriftLedger, 'get'>;
  /** @default {@link DEFAULT_INLINE_BUDGET_MS} */
  readonly inlineBudgetMs?: number;
  /** Structured log lines (never tokens). @default - JSON on stdout */
  readonly log?: (entry: Record<string, unknown>) => void;
}

/** What a deferred job's invocation returns (Lambda discards it for async invocations; tests read it). */
export interface JobResult {
  readonly job: DiscordJob['kind'];
  readonly feature: string;
  /** How the answer was shown: edited into the deferred response, or as a follow-up. */
  readonly delivered: 'edited' | 'follow-up' | 'failed';
  readonly visibility: Reply['visibility'];
}

/** The endpoint: Function URL requests and its own deferred jobs. */
export type InteractionEndpoint = (event: unknown) => Promise<LambdaFunctionURLResult | JobResult>;

/** An answer, before it is known whether it goes out inline or through the webhook. */
interface Reply {
  /** `update`: replaces the message the button was on. `ephemeral`: only the person sees it. */
  readonly visibility: 'public' | 'ephemeral' | 'update';
  readonly message: DiscordMessage;
}

type InteractionResponse = APIInteractionResponse | { readonly type: 4 | 7; readonly data: DiscordMessage };

const json = (statusCode: number, body: unknown): LambdaFunctionURLResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const ephemeral = (message: DiscordMessage): Reply => ({ visibility: 'ephemeral', message });
const actorOf = (person: Person): Actor => ({ id: person.id, ...(person.name ? { name: person.name } : {}), via: person.via });
const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The answer when Phasegate itself failed. The error's own text stays in the log: it can name tables, roles and
 * accounts, and means nothing to the person; the interaction id finds the log line.
 */
const internalErrorReply = (reference: string | undefined): Reply =>
  ephemeral(
    errorMessage(
      'Phasegate hit an error',
      `Something failed inside Phasegate; it is logged${reference ? ` under interaction ${reference}` : ''} for the operators.\nCheck /rollout status before trying again.`,
    ),
  );

function inlineResponse(reply: Reply): InteractionResponse {
  if (reply.visibility === 'update') return { type: 7, data: reply.message };
  return { type: 4, data: reply.visibility === 'ephemeral' ? { ...reply.message, flags: EPHEMERAL } : reply.message };
}

function isJobEvent(event: unknown): event is { [JOB_EVENT_KEY]: DiscordJob } {
  return typeof event === 'object' && event !== null && JOB_EVENT_KEY in event;
}

/** Wait for `work` at most `ms`: its value, or `undefined` when the time ran out (the work goes on unawaited). */
async function withinBudget<T>(work: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work.then((value) => ({ value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Build the endpoint. Config is whatever `ports` holds: read once per cold start by the caller. */
export function createInteractionEndpoint(ports: InteractionEndpointPorts): InteractionEndpoint {
  const endpoint = new Endpoint(ports);
  return (event) => endpoint.handle(event);
}

class Endpoint {
  private readonly plans: ReadonlyMap<string, StagePlan>;
  private readonly log: (entry: Record<string, unknown>) => void;
  private readonly budgetMs: number;

  constructor(private readonly ports: InteractionEndpointPorts) {
    this.plans = new Map(ports.plans.map((p) => [p.feature, p]));
    this.log = ports.log ?? ((entry) => console.log(JSON.stringify(entry)));
    this.budgetMs = ports.inlineBudgetMs ?? DEFAULT_INLINE_BUDGET_MS;
  }

  async handle(event: unknown): Promise<LambdaFunctionURLResult | JobResult> {
    if (isJobEvent(event)) return this.runJob(event[JOB_EVENT_KEY]);
    return this.handleRequest((event ?? {}) as SignedRequest & { requestContext?: { http?: { method?: string } } });
  }

  // ---- Function URL requests -------------------------------------------------------------------------------

  private async handleRequest(event: SignedRequest & { requestContext?: { http?: { method?: string } } }): Promise<LambdaFunctionURLResult> {
    const started = Date.now();
    const method = event.requestContext?.http?.method;
    if (method !== undefined && method !== 'POST') return json(405, { error: 'only POST is served' });
    let key: PublicKey | string;
    try {
      key = await this.ports.publicKey();
    } catch (err) {
      this.log({ level: 'error', message: 'Discord public key unavailable', error: errorText(err) });
      return json(503, { error: 'the endpoint is not configured' });
    }
    // The signature is checked over the exact bytes received, before anything is parsed.
    const check = await verifyRequest(event, key, new Date());
    if (!check.ok) {
      this.log({ level: 'warn', message: 'refused unsigned request', reason: check.reason });
      return json(401, { error: 'invalid request signature' });
    }
    let raw: unknown;
    try {
      raw = JSON.parse(check.body.toString('utf8'));
    } catch {
      return json(400, { error: 'the body is not JSON' });
    }
    const parsed = parseInteraction(raw);
    if (parsed.kind === 'invalid') {
      this.log({ level: 'warn', message: 'interaction not served', reason: parsed.reason, interaction: parsed.meta?.id });
      if (parsed.answer === 'http-400') return json(400, { error: parsed.reason });
      return json(200, inlineResponse(ephemeral(errorMessage('Cannot do that', parsed.reason))));
    }
    let response: InteractionResponse;
    try {
      response = await this.route(parsed);
    } catch (err) {
      const reference = 'meta' in parsed ? parsed.meta.id : undefined;
      this.log({ level: 'error', message: 'interaction failed', error: errorText(err), interaction: reference });
      response = inlineResponse(internalErrorReply(reference));
    }
    this.log({
      message: 'interaction served',
      kind: parsed.kind,
      ...('meta' in parsed ? { interaction: parsed.meta.id, user: parsed.invoker.id } : {}),
      ...(parsed.kind === 'command' || parsed.kind === 'autocomplete' ? { subcommand: parsed.subcommand } : {}),
      response: response.type,
      ms: Date.now() - started,
    });
    return json(200, response);
  }

  private async route(parsed: ParsedInteraction): Promise<InteractionResponse> {
    switch (parsed.kind) {
      case 'ping':
        return { type: 1 };
      case 'autocomplete':
        return { type: 8, data: { choices: parsed.invoker.inGuild ? this.choices(parsed.focused, parsed.options) : [] } };
      case 'command':
        return this.command(parsed);
      case 'button':
      case 'modal':
        return this.component(parsed);
    }
  }

  /**
   * Values from a known list as the person types: the stage's features, the named feature's LLM sub-features, or
   * its phases (in plan order: the order matters more than the alphabet when choosing where to start again).
   * Matches anywhere, those starting with what was typed first; at most 25 (Discord's limit).
   */
  private choices(focused: { name: string; value: string }, options: CommandOptions): APIApplicationCommandOptionChoice<string>[] {
    const plan = options.feature !== undefined ? this.plans.get(options.feature) : undefined;
    const known =
      focused.name === 'feature'
        ? [...this.plans.keys()]
        : focused.name === 'sub_feature'
          ? (plan?.subFeatures.map((s) => s.id) ?? [])
          : focused.name === 'from'
            ? [...(plan?.phases ?? [])]
            : focused.name === 'opt_in'
              ? (plan?.optionalPhases ?? [])
              : [];
    const typed = focused.value.toLowerCase();
    const inOrder = focused.name === 'from';
    return known
      .filter((f) => f.toLowerCase().includes(typed))
      .sort((a, b) => Number(!a.startsWith(typed)) - Number(!b.startsWith(typed)) || (inOrder ? known.indexOf(a) - known.indexOf(b) : a.localeCompare(b)))
      .slice(0, 25)
      .map((f) => ({ name: f, value: f }));
  }

  private unknownFeature(feature: string): InteractionResponse {
    const known = [...this.plans.keys()].join(', ') || 'none';
    return inlineResponse(ephemeral(refusalMessage(new RefusedError('NOT_FOUND', `no plan for feature "${feature}" on stage ${this.ports.stage} (features: ${known})`))));
  }

  private person(plan: StagePlan, invoker: Invoker): Person {
    return { id: invoker.id, name: invoker.name, via: 'discord', roles: rolesFromDiscord(plan, invoker.roleIds) };
  }

  /** A refusal decided here, before any core operation: audited under the feature, shown only to the person. */
  private async refuse(plan: StagePlan, person: Person, request: string, error: RefusedError): Promise<InteractionResponse> {
    const state = await this.ports.store.getState(plan.feature);
    await this.ports.store.appendAudit(
      refusalEvent({ feature: plan.feature, state, actor: actorOf(person), at: this.ports.clock.now().toISOString(), request, error }),
    );
    return inlineResponse(ephemeral(refusalMessage(error)));
  }

  private notRoleHolder(action: RolloutAction, person: Person): RefusedError | undefined {
    const allowed = authorize(action, person);
    return allowed.ok ? undefined : new RefusedError('FORBIDDEN', allowed.reason);
  }

  private jobInteraction(meta: InteractionMeta, deferred: JobInteraction['deferred']): JobInteraction {
    return { id: meta.id, applicationId: meta.applicationId, token: meta.token, deferred, ...(meta.channelId ? { channelId: meta.channelId } : {}) };
  }

  private async command(parsed: Extract<ParsedInteraction, { kind: 'command' }>): Promise<InteractionResponse> {
    const { subcommand, options, invoker, meta } = parsed;
    const feature = options.feature;
    const plan = feature === undefined ? undefined : this.plans.get(feature);
    if (feature !== undefined && !plan) return this.unknownFeature(feature);
    if (!invoker.inGuild) {
      const refusal = new RefusedError('FORBIDDEN', 'Phasegate takes requests in a server channel only, not in direct messages');
      return plan ? this.refuse(plan, this.person(plan, invoker), subcommand, refusal) : inlineResponse(ephemeral(refusalMessage(refusal)));
    }
    if (subcommand === 'status') return inlineResponse(await this.status(plan));
    // Every other subcommand names its feature (the parser enforces required options).
    const known = plan!;
    const person = this.person(known, invoker);
    const notifier = this.ports.notifier({ replyChannelId: meta.channelId });
    const { store, clock } = this.ports;

    try {
      switch (subcommand) {
        case 'verify': {
          const { flags, driftLedger } = this.ports;
          const verification = await verifyFeature({ store, flags, clock, ...(driftLedger ? { ledger: driftLedger } : {}) }, known.feature);
          return inlineResponse(ephemeral(verifyMessage(verification)));
        }
        case 'report': {
          if (!this.ports.reports) return inlineResponse(ephemeral(reportUnavailableMessage(known.feature)));
          await this.ports.reports.request(known.feature);
          return inlineResponse({ visibility: 'public', message: reportRequestedMessage(known.feature, actorOf(person)) });
        }
        case 'history': {
          const limit = options.limit !== undefined ? Number(options.limit) : HISTORY_LIMIT.default;
          return inlineResponse(ephemeral(historyMessage(known.feature, this.ports.stage, await store.listAudit(known.feature, limit))));
        }
        case 'budget':
          if (options.set_cap_usd !== undefined) return inlineResponse(await this.setCap(known, person, options));
          return inlineResponse(await this.budget(known));
        case 'pause':
        case 'resume': {
          const refusal = this.notRoleHolder(subcommand, person);
          if (refusal) return await this.refuse(known, person, subcommand, refusal);
          const state =
            subcommand === 'pause'
              ? await pauseRollout({ store, clock, notifier }, { feature: known.feature, actor: person, ...(options.reason ? { reason: options.reason } : {}) })
              : await resumeRollout({ store, clock, notifier }, { feature: known.feature, actor: person });
          return inlineResponse({ visibility: 'public', message: controlMessage(subcommand === 'pause' ? 'paused' : 'resumed', state, actorOf(person), options.reason) });
        }
        case 'promote': {
          // One conditional write and one SendTaskSuccess: answered at once, like pause.
          const promoted = await promoteRollout({ store, clock, tokens: this.ports.tokens }, { feature: known.feature, actor: person });
          return inlineResponse({ visibility: 'public', message: promotedMessage(promoted, actorOf(person), this.ports.stage) });
        }
        case 'start': {
          const refusal = this.notRoleHolder('start', person);
          if (refusal) return await this.refuse(known, person, 'start', refusal);
          const job: DiscordJob = { kind: 'start', feature: known.feature, person, interaction: this.jobInteraction(meta, 'message') };
          // requestStart runs every check (and audits refusals); instead of starting, it hands over to the job,
          // whose requestStart checks again and calls StartExecution.
          const handOver: RolloutStarter = {
            start: async () => {
              await this.ports.jobs.enqueue(job);
              return { executionId: 'deferred' };
            },
          };
          await requestStart({ store, clock, starter: handOver }, { feature: known.feature, actor: person, knownFeatures: [...this.plans.keys()] });
          return { type: 5 };
        }
        case 'retry': {
          const refusal = this.notRoleHolder('start', person);
          if (refusal) return await this.refuse(known, person, 'retry', refusal);
          const job: DiscordJob = {
            kind: 'retry',
            feature: known.feature,
            person,
            ...(options.from ? { from: options.from } : {}),
            interaction: this.jobInteraction(meta, 'message'),
          };
          // As for start: requestRetry runs every check (and audits refusals) here, then hands over to the job,
          // whose requestRetry checks again and calls StartExecution with startAt.
          const handOver: RolloutStarter = {
            start: async () => {
              await this.ports.jobs.enqueue(job);
              return { executionId: 'deferred' };
            },
          };
          await requestRetry({ store, clock, starter: handOver }, { feature: known.feature, actor: person, knownFeatures: [...this.plans.keys()], ...(options.from ? { from: options.from } : {}) });
          return { type: 5 };
        }
        case 'rollback': {
          const refusal = this.notRoleHolder('rollback', person);
          if (refusal) return await this.refuse(known, person, 'rollback', refusal);
          const state = await store.getState(known.feature);
          if (!state) throw new RefusedError('NOT_FOUND', `feature "${known.feature}" has no rollout`);
          if (state.status === 'ROLLED_BACK') return inlineResponse(ephemeral(rolledBackMessage(known.feature, actorOf(person), options.reason!, [], true)));
          await this.ports.jobs.enqueue({ kind: 'rollback', feature: known.feature, person, reason: options.reason!, interaction: this.jobInteraction(meta, 'message') });
          return { type: 5 };
        }
        case 'approve':
        case 'reject': {
          const state = await store.getState(known.feature);
          if (!state) throw new RefusedError('NOT_FOUND', `feature "${known.feature}" has no rollout`);
          // The phase waiting now; decide refuses if it is not waiting by the time the decision is made.
          const phase = state.plan.phases[Math.max(state.phaseIndex, 0)]!.name;
          const note = subcommand === 'approve' ? options.note : options.reason;
          // Opting in to an optional phase is the approver of the phase before it deciding to run it: recorded first,
          // with the same role check, so the phase's own apply step finds it.
          if (subcommand === 'approve' && options.opt_in) {
            await optInToPhase({ store, clock }, { feature: known.feature, phase: options.opt_in, actor: person });
          }
          return await this.decideInline({
            kind: 'decide',
            feature: known.feature,
            person,
            phase,
            decision: subcommand,
            ...(note ? { note } : {}),
            fromMessage: false,
            interaction: this.jobInteraction(meta, 'message'),
          });
        }
      }
    } catch (err) {
      if (err instanceof RefusedError) return inlineResponse(ephemeral(refusalMessage(err)));
      throw err;
    }
  }

  private async component(parsed: Extract<ParsedInteraction, { kind: 'button' | 'modal' }>): Promise<InteractionResponse> {
    const { component, invoker, meta } = parsed;
    const plan = this.plans.get(component.feature);
    if (!plan) return this.unknownFeature(component.feature);
    const person = this.person(plan, invoker);
    const decision = component.action === 'approve' ? 'approve' : 'reject';
    if (!invoker.inGuild) {
      return this.refuse(plan, person, component.action === 'pause' ? 'pause' : decision, new RefusedError('FORBIDDEN', 'Phasegate takes requests in a server channel only, not in direct messages'));
    }
    if (parsed.kind === 'button' && component.action === 'reject') return this.reasonModal(component);
    if (component.action === 'pause') return this.pauseFromButton(plan, person, meta.channelId);

    const state = await this.ports.store.getState(plan.feature);
    if (!state) return inlineResponse(ephemeral(refusalMessage(new RefusedError('NOT_FOUND', `feature "${plan.feature}" has no rollout`))));
    // The button names its execution by hash: a match decides exactly the execution running now; anything else
    // is passed on as it is, and decide refuses it as stale (and audits the refusal).
    const executionId = executionHash(state.executionId) === component.executionHash ? state.executionId : `stale:${component.executionHash}`;
    const fromMessage = parsed.messageId !== undefined;
    try {
      return await this.decideInline({
        kind: 'decide',
        feature: plan.feature,
        person,
        phase: component.phase,
        decision,
        ...(parsed.kind === 'modal' ? { note: parsed.reason } : {}),
        executionId,
        fromMessage,
        interaction: this.jobInteraction(meta, fromMessage ? 'update' : 'message'),
      });
    } catch (err) {
      if (err instanceof RefusedError) return inlineResponse(ephemeral(refusalMessage(err)));
      throw err;
    }
  }

  /**
   * The Pause button of an approval request: the same pause as `/rollout pause` (pm or admin, audited); the request
   * stays, its approval waits until the rollout is resumed. The channel sees who paused.
   */
  private async pauseFromButton(plan: StagePlan, person: Person, channelId: string | undefined): Promise<InteractionResponse> {
    const refusal = this.notRoleHolder('pause', person);
    if (refusal) return this.refuse(plan, person, 'pause', refusal);
    const { store, clock } = this.ports;
    const notifier = this.ports.notifier({ ...(channelId ? { replyChannelId: channelId } : {}) });
    try {
      const state = await pauseRollout({ store, clock, notifier }, { feature: plan.feature, actor: person, reason: 'paused from the approval request' });
      return inlineResponse({ visibility: 'public', message: controlMessage('paused', state, actorOf(person), 'paused from the approval request') });
    } catch (err) {
      if (err instanceof RefusedError) return inlineResponse(ephemeral(refusalMessage(err)));
      throw err;
    }
  }

  /** The Reject button asks why before anything is decided (a rejection needs a reason). */
  private reasonModal(component: ApprovalComponent): InteractionResponse {
    const title = `Reject ${component.phase} of ${component.feature}?`;
    return {
      type: 9,
      data: {
        custom_id: encodeCustomId({ ...component, action: 'reject-reason' }),
        title: title.length <= 45 ? title : `Reject phase ${component.phase}`.slice(0, 45),
        components: [
          {
            type: 1,
            components: [
              { type: 4, custom_id: REASON_INPUT_ID, label: 'Why? (it goes into the audit trail)', style: 2, min_length: 3, max_length: 500, required: true },
            ],
          },
        ],
      },
    };
  }

  /** Decide inline within the budget; past it, answer "deferred" and let the asynchronous invocation finish. */
  private async decideInline(job: Extract<DiscordJob, { kind: 'decide' }>): Promise<InteractionResponse> {
    const work = this.decideReply(job);
    const done = await withinBudget(work, this.budgetMs);
    if (done) return inlineResponse(done.value);
    // The inline attempt keeps running while this invocation lasts; its result is no longer awaited.
    work.catch((err: unknown) => this.log({ level: 'warn', message: 'inline decision failed after deferral', error: errorText(err) }));
    await this.ports.jobs.enqueue(job);
    this.log({ message: 'decision deferred', feature: job.feature, budgetMs: this.budgetMs });
    return { type: job.interaction.deferred === 'update' ? 6 : 5 };
  }

  private async status(plan: StagePlan | undefined): Promise<Reply> {
    const plans = plan ? [plan] : [...this.plans.values()];
    const views = await Promise.all(
      plans.map(async (p): Promise<FeatureStatusView> => {
        const state = await this.ports.store.getState(p.feature);
        if (!state || !plan) return { plan: p, ...(state ? { state } : {}), decisions: [] };
        const audit = await this.ports.store.listAudit(p.feature, 200);
        const decisions = audit.filter((e) => e.executionId === state.executionId && (e.action === 'approved' || e.action === 'rejected')).reverse();
        return { plan: p, state, decisions };
      }),
    );
    return ephemeral(statusMessage(views, this.ports.stage));
  }

  /** An admin changes today's cap: core setDailyCap authorizes, audits (refusals too) and writes conditionally. */
  private async setCap(plan: StagePlan, person: Person, options: CommandOptions): Promise<Reply> {
    const usd = Number(options.set_cap_usd);
    if (!Number.isFinite(usd) || usd < 0 || options.set_cap_usd!.trim() === '') {
      return ephemeral(errorMessage('Not a cap', `set_cap_usd must be a number of US dollars, got ${JSON.stringify(options.set_cap_usd)}`));
    }
    const subFeature = options.sub_feature ?? plan.subFeatures[0]?.id;
    if (!subFeature) return ephemeral(errorMessage('No LLM budget', `No LLM budget for ${plan.feature}: its plan has no sub-feature with an llm budget.`));
    if (!this.ports.setDailyCap) return ephemeral(errorMessage('Not available', `changing the LLM cap is not available on stage ${this.ports.stage}`));
    try {
      await this.ports.setDailyCap({ feature: plan.feature, subFeature, usd, reason: options.reason ?? '', actor: person });
      // Public: the channel sees who changed today's cap and why (the budget message shows the change).
      return { visibility: 'public', message: budgetMessage(await this.ports.budgets!.budgetStatus(plan.feature)) };
    } catch (err) {
      if (err instanceof RefusedError) return ephemeral(refusalMessage(err));
      throw err;
    }
  }

  private async budget(plan: StagePlan): Promise<Reply> {
    if (plan.subFeatures.length === 0) {
      return ephemeral(errorMessage('No LLM budget', `No LLM budget for ${plan.feature}: its plan has no sub-feature with an llm budget.`));
    }
    if (!this.ports.budgets) {
      return ephemeral(
        errorMessage('Not available', `LLM budget reporting is not available on stage ${this.ports.stage} yet (budgeted: ${plan.subFeatures.map((s) => s.id).join(', ')}).`),
      );
    }
    return ephemeral(budgetMessage(await this.ports.budgets.budgetStatus(plan.feature)));
  }

  // ---- deferred jobs ---------------------------------------------------------------------------------------

  private async runJob(job: DiscordJob): Promise<JobResult> {
    let reply: Reply;
    try {
      reply =
        job.kind === 'decide'
          ? await this.decideReply(job)
          : job.kind === 'start'
            ? await this.startReply(job)
            : job.kind === 'retry'
              ? await this.retryReply(job)
              : await this.rollbackReply(job);
    } catch (err) {
      // Reported, not thrown: a thrown error would make Lambda run the job again after the person was told.
      this.log({ level: 'error', message: 'deferred job failed', job: job.kind, feature: job.feature, error: errorText(err), interaction: job.interaction.id });
      reply = internalErrorReply(job.interaction.id);
    }
    let delivered: JobResult['delivered'];
    try {
      delivered = await this.deliver(job.interaction, reply);
    } catch (err) {
      this.log({ level: 'error', message: 'could not deliver the deferred answer', job: job.kind, feature: job.feature, error: errorText(err) });
      delivered = 'failed';
    }
    this.log({ message: 'deferred job done', job: job.kind, feature: job.feature, delivered, visibility: reply.visibility });
    return { job: job.kind, feature: job.feature, delivered, visibility: reply.visibility };
  }

  /** Show a job's answer: edit the deferred response, or follow up (ephemeral answers replace a public "thinking"). */
  private async deliver(interaction: JobInteraction, reply: Reply): Promise<'edited' | 'follow-up'> {
    const { discord } = this.ports;
    const { applicationId, token } = interaction;
    if (reply.visibility === 'ephemeral') {
      if (interaction.deferred === 'message') await discord.deleteOriginalResponse(applicationId, token);
      await discord.postFollowUp(applicationId, token, { ...reply.message, flags: EPHEMERAL });
      return 'follow-up';
    }
    if (reply.visibility === 'public' && interaction.deferred === 'update') {
      await discord.postFollowUp(applicationId, token, reply.message);
      return 'follow-up';
    }
    await discord.editOriginalResponse(applicationId, token, reply.message);
    return 'edited';
  }

  private async decideReply(job: Extract<DiscordJob, { kind: 'decide' }>): Promise<Reply> {
    const { store, tokens, clock } = this.ports;
    const notifier = this.ports.notifier({ replyChannelId: job.interaction.channelId, replyUpdatesApprovalMessage: job.fromMessage });
    try {
      const result = await decide(
        { store, tokens, clock, notifier },
        {
          feature: job.feature,
          phase: job.phase,
          decision: job.decision,
          actor: job.person,
          ...(job.note ? { note: job.note } : {}),
          ...(job.executionId ? { executionId: job.executionId } : {}),
          // The inline attempt of this click may have claimed the decision and been frozen with its Lambda.
          resume: true,
        },
      );
      const message = approvalDecidedMessage({
        feature: job.feature,
        stage: this.ports.stage,
        executionId: result.approval.executionId,
        phase: result.phase,
        decision: job.decision,
        by: result.approval.decidedBy ?? actorOf(job.person),
        at: result.approval.decidedAt ?? clock.now().toISOString(),
        ...(result.approval.note ? { note: result.approval.note } : {}),
      });
      return { visibility: job.fromMessage ? 'update' : 'public', message };
    } catch (err) {
      if (!(err instanceof RefusedError)) throw err;
      // The same person's decision may have been made by a concurrent attempt (a double click, or the inline
      // attempt that outlived its budget while this job ran): that is this person's success, not a refusal.
      const made = err.code === 'STALE' || err.code === 'ALREADY_DECIDED' ? await this.madeBy(job) : undefined;
      return made ?? ephemeral(refusalMessage(err));
    }
  }

  /** The reply for a decision this very person already made on this phase, if they did. */
  private async madeBy(job: Extract<DiscordJob, { kind: 'decide' }>): Promise<Reply | undefined> {
    const state = await this.ports.store.getState(job.feature);
    const phaseIndex = state?.plan.phases.findIndex((p) => p.name === job.phase) ?? -1;
    if (!state || phaseIndex < 0 || (job.executionId !== undefined && job.executionId !== state.executionId)) return undefined;
    const approval = await this.ports.store.getApproval(job.feature, state.executionId, phaseIndex);
    const status = job.decision === 'approve' ? 'APPROVED' : 'REJECTED';
    if (approval?.status !== status || approval.decidedBy?.id !== job.person.id) return undefined;
    const message = approvalDecidedMessage({
      feature: job.feature,
      stage: this.ports.stage,
      executionId: approval.executionId,
      phase: approval.phaseName,
      decision: job.decision,
      by: approval.decidedBy,
      at: approval.decidedAt ?? this.ports.clock.now().toISOString(),
      ...(approval.note ? { note: approval.note } : {}),
    });
    return { visibility: job.fromMessage ? 'update' : 'public', message };
  }

  private async startReply(job: Extract<DiscordJob, { kind: 'start' }>): Promise<Reply> {
    const { store, clock } = this.ports;
    try {
      // Named after the interaction: if this job runs twice, StartExecution returns the same execution.
      const starter = this.ports.starter(`discord-${job.interaction.id}`);
      const { executionId } = await requestStart({ store, clock, starter }, { feature: job.feature, actor: job.person, knownFeatures: [...this.plans.keys()] });
      return { visibility: 'public', message: startedMessage(job.feature, actorOf(job.person), executionId, this.ports.stage) };
    } catch (err) {
      if (err instanceof RefusedError) return ephemeral(refusalMessage(err));
      throw err;
    }
  }

  private async retryReply(job: Extract<DiscordJob, { kind: 'retry' }>): Promise<Reply> {
    const { store, clock } = this.ports;
    try {
      // Named after the interaction, like start: a job run twice is the same execution.
      const starter = this.ports.starter(`discord-${job.interaction.id}`);
      const started = await requestRetry(
        { store, clock, starter },
        { feature: job.feature, actor: job.person, knownFeatures: [...this.plans.keys()], ...(job.from ? { from: job.from } : {}) },
      );
      return { visibility: 'public', message: retryStartedMessage(job.feature, actorOf(job.person), started.phase, started.executionId, this.ports.stage) };
    } catch (err) {
      if (err instanceof RefusedError) return ephemeral(refusalMessage(err));
      throw err;
    }
  }

  private async rollbackReply(job: Extract<DiscordJob, { kind: 'rollback' }>): Promise<Reply> {
    const { store, flags, clock } = this.ports;
    const notifier = this.ports.notifier({ replyChannelId: job.interaction.channelId });
    try {
      // With the task tokens, the rollback also fails the approval the execution may be waiting on, so the
      // execution ends now instead of waiting out the approval timeout.
      const continuation = this.ports.rollbackContinuation;
      const outcome = await requestRollback(
        { store, flags, clock, notifier, tokens: this.ports.tokens, ...(continuation ? { continuation } : {}) },
        { feature: job.feature, actor: job.person, reason: job.reason },
      );
      if (outcome.status === 'IN_PROGRESS') {
        return { visibility: 'public', message: rollbackContinuesMessage(job.feature, actorOf(job.person), job.reason, outcome.targets) };
      }
      return {
        visibility: 'public',
        message: rolledBackMessage(job.feature, actorOf(job.person), job.reason, outcome.targets, outcome.status === 'ALREADY_ROLLED_BACK'),
      };
    } catch (err) {
      if (err instanceof RefusedError) return ephemeral(refusalMessage(err));
      if (err instanceof FlagWriteError) {
        // The targets are the team's own functions; why each write failed (AWS error text) goes to the log and the audit trail.
        this.log({ level: 'error', message: 'rollback failed', feature: job.feature, failures: err.failures, interaction: job.interaction.id });
        const names = err.failures.map((f) => f.functionName).join(', ');
        return { visibility: 'public', message: rollbackFailedMessage(job.feature, `Could not write the safe flags to ${names}; they may still serve the old flags.`) };
      }
      throw err;
    }
  }
}
