/**
 * The local rehearsal: synthesize a stage, take the feature's state machine out of the synthesized template and
 * run exactly that definition with aws-local-stepfunctions. Every Task runs the real handler code; DynamoDB is
 * an in-process dynalite; the Lambda, CloudWatch and Step Functions control planes are stateful fakes behind the
 * SDK clients, so flags really change in the fake functions' environment. A PM approves (or rejects) each
 * phase through `decide(...)`, the operation Discord and the CLI use.
 */
import './node-compat';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { DeleteTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { buildApp } from '../lib/app';
import { stackName, stateMachineName } from '../lib/naming';
import { DynamoRollbackActivity } from '../lambdas/adapters/dynamo-rollback-activity';
import { DynamoRolloutStore } from '../lambdas/adapters/dynamo-state-store';
import { LambdaFlagWriter } from '../lambdas/adapters/lambda-flag-writer';
import { RefusedError } from '../lambdas/core/errors';
import { phaseFlagValues, planFlagNames, planFlagSets } from '../lambdas/core/flags/flags';
import { formatSeconds, durationToSeconds } from '../lambdas/core/plan/duration';
import { DEFAULT_PLANS_DIR } from '../lambdas/core/plan/load';
import type { Plan } from '../lambdas/core/plan/schema';
import { validatePlan } from '../lambdas/core/plan/validate';
import type { AuditEvent, RolloutState, RolloutStatus } from '../lambdas/core/rollout/rollout-state';
import { parseTarget } from '../lambdas/core/flags/target';
import { functionsFromTemplate, stateMachinesFromTemplate, validateAsl, type AslDefinition, type CloudFormationTemplate } from './asl';
import { synthesizedStackTemplate } from './nested-stacks';
import { createTablesFromTemplate, localDynamoClient, startLocalDynamo, useLocalDynamo, type LocalDynamo } from './dynamo';
import { FakeCloudWatch } from './fakes/cloudwatch';
import { FakeLambdaControlPlane } from './fakes/lambda-control-plane';
import type { LambdaQuotaBucket, QuotaCounts } from './fakes/lambda-quotas';
import { FakeStepFunctions } from './fakes/step-functions';
import { startLocalExecution, type LocalLambdaHandler, type LocalRunResult } from './run-state-machine';
import { approverRoles, compressedApprovalTimeouts, compressPlanForRehearsal, parseBreach, RehearsalMetrics, type BreachRequest } from './rehearsal-world';
import { optInToPhase } from '../lambdas/core/rollout/operations';
import { handleAlarmEvent } from '../lambdas/core/rollback/alarm-rollback';
import { alarmRollbackContextFromEnv, alarmRollbackPortsFromEnv } from '../lambdas/adapters/alarm-rollback-ports';
import { systemClock } from '../lambdas/core/ports';
import { DEFAULT_APPROVAL_TIMEOUT_SECONDS } from '../lib/rollout-state-machine';
import { AlarmScenarioError, alarmForPhase, raiseRollbackAlarm, type AlarmScenarioResult } from './scenarios/alarm';
import { addTargets, driftDuringPhase, servedEnvironment, type DriftScenarioResult } from './scenarios/drift';
import { formatLlmSpendReport, runLlmSpendScenario, type LlmSpendReport } from './scenarios/llm-spend';
import { startSessionServer, type SessionServer } from './session';
import { RehearsalReports, type RehearsalReport } from './rehearsal-report';
import {
  discordUser,
  LOCAL_DISCORD,
  localDiscordSettings,
  messageText,
  startLocalDiscord,
  terminalText,
  type DiscordNames,
  type LocalDiscord,
  type RecordedMessage,
} from './discord';

/** Options of {@link rehearse}. */
export interface RehearsalOptions {
  /** Where the daily reports' pictures are saved. @default <tmpdir>/phasegate-rehearsal */
  readonly reportDir?: string;
  /** The plan file. @default rollouts/ux-update.json */
  readonly planFile?: string;
  /** The stage whose settings apply. @default dev */
  readonly stage?: string;
  /** The PM rejects this phase (it must need approval): the rollback path. */
  readonly rejectAt?: string;
  /** How long each bake lasts locally, in ms. @default 150 */
  readonly bakeMs?: number;
  /** Raise the feature's rollback alarm during this phase's bake: the automatic rollback path. */
  readonly alarmAt?: string;
  /** Simulate a day of LLM calls at this many US dollars per hour through the real budget guard, in the LLM phase. */
  readonly llmSpendUsdPerHour?: number;
  /**
   * The daily cap the targets' cap variable carries during the LLM spend (default: the plan's). Set it above the
   * plan's hard limit to see the daily-cost alarm turn the LLM flag off.
   */
  readonly llmCapUsd?: number;
  /**
   * No automatic PM: approvals wait for a person, through `npx phasegate approve|reject <feature> --local`
   * (the CLI reaches this process through a session server on 127.0.0.1). Any other CLI command works too.
   */
  readonly manual?: boolean;
  /** Where the rehearsal says what it waits for while it runs (manual mode). @default - nowhere */
  readonly log?: (line: string) => void;
  /** Where the session file goes (manual mode). @default <project root>/.rehearsal/session.json */
  readonly sessionFile?: string;
  /**
   * Run the plan against this many copies of each of its targets (`<target>-1` .. `<target>-<n>`, created in the
   * fake with the same variables), to watch a big rollback under the Lambda quota. Only the executed plan has the
   * copies: the stack is synthesized from the plan as written (its alarms watch the original targets' metrics, and
   * a CloudWatch alarm takes at most 10 metrics). @default - the plan's own targets
   */
  readonly targets?: number;
  /**
   * `false` switches the fake Lambda's request-rate quotas off, for debugging only: the rehearsal must pass with
   * them on, and nothing may pass only because they are off. @default true (Lambda's quotas: 15 control-plane
   * calls per second shared by every function, GetFunction 100 per second)
   */
  readonly quotas?: boolean;
  /** How long each flag update stays InProgress in the fake Lambda, in ms (compressed). @default 200 */
  readonly inProgressMs?: number;
  /**
   * During this phase's bake, the first target's own deploy replaces its environment (the flags wiped) and the CloudTrail
   * event of each of its calls reaches the reconcile function: the timeline shows detection and repair. The phase's
   * gate runs once the reconcile has returned.
   */
  readonly driftAt?: string;
  /**
   * Run the plan against alias targets: every target becomes `<target>:<alias>`, created in the fake as a function with
   * a published version the alias points to (as SAM's `AutoPublishAlias` leaves it). The code's flags are those of
   * the alias's version. @default - the plan's own targets
   */
  readonly alias?: string;
  /**
   * `<metric>@<phase>`: push that gate metric past its rollback band while the phase runs; its rollback alarm goes off
   * during the bake, as CloudWatch would raise it, and the gate sees the breach too: the runbook's rollback trigger.
   */
  readonly breach?: string;
  /** Start the execution at this phase (the execution input's `startAt`): the phases before it are skipped. */
  readonly startAt?: string;
  /** Optional phases the approver of the phase before opts in to (otherwise they are skipped). */
  readonly optIn?: readonly string[];
  /**
   * A run still going after this many ms of wall-clock time is stopped, says what it waited for, and fails.
   * @default 120000; none with `manual`, where approvals wait for a person
   */
  readonly wallClockLimitMs?: number;
  /**
   * Called with each line of the timeline as it happens, while the run goes: audit events, Discord posts and daily
   * reports within moments of being written; the alarm, drift and LLM spend summaries when the run ends. `atMs` counts
   * from the rollout's first audit event, as in the result's timeline. @default - the timeline comes with the result only
   */
  readonly onTimeline?: (entry: TimelineEntry) => void;
  /** Called once the stage is synthesized, before the run starts: what is rehearsed. @default - not told */
  /**
   * With `manual`: the person ends the rehearsal (Ctrl-C); the execution stops, and that is an expected ending.
   * @default - only the rollout's own end ends it
   */
  readonly stop?: AbortSignal;
  /**
   * With `manual`: called once the execution has ended, before the local world (session server, Discord) goes down;
   * the world stays up, for the CLI's `--local` commands, until the promise settles (the person presses a key).
   * @default - the world goes down when the execution ends
   */
  readonly holdOpen?: (ended: { readonly status: LocalRunResult['status'] }) => Promise<void>;
  readonly onStart?: (run: { readonly feature: string; readonly stage: string; readonly stateMachine: string }) => void;
}

/** Beyond this many targets the timeline summarizes a write instead of giving a line per target. */
const MAX_TARGET_LINES = 5;

/** Most copies of each target `targets` may ask for. */
export const MAX_TARGET_COPIES = 500;

/** A rehearsal's input was unusable: unknown phase, invalid plan, unknown stage. */
export class RehearsalInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RehearsalInputError';
  }
}

/** One line of the timeline. */
export interface TimelineEntry {
  /** Milliseconds since the rollout started. */
  readonly atMs: number;
  readonly phase: string | null;
  readonly action: string;
  readonly text: string;
  /** The line as a terminal shows it, where it differs from `text`: a Discord post with names, readable times and buttons. */
  readonly display?: string;
}

/** How each phase went. */
export interface PhaseSummary {
  readonly name: string;
  readonly roles: readonly string[];
  readonly percent: number;
  readonly bake: string;
  readonly outcome: 'passed' | 'rejected' | 'rolled-back' | 'not-reached' | 'in-progress' | 'skipped';
  readonly gate?: { decision: string; reasons: readonly string[] };
  readonly decidedBy?: string;
}

/** The machine-readable result of a rehearsal (`--json`). */
export interface RehearsalResult {
  readonly feature: string;
  readonly stage: string;
  readonly stateMachine: string;
  readonly expected: 'COMPLETED' | 'ROLLED_BACK';
  readonly outcome: RolloutStatus | 'NOT_STARTED';
  readonly asExpected: boolean;
  /** Why the run is not as expected; empty when it is. */
  readonly problems: readonly string[];
  readonly execution: { status: LocalRunResult['status']; error?: string; cause?: string; states: number };
  readonly phases: readonly PhaseSummary[];
  /** Every target's Phasegate variables at the end. */
  readonly targets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly timeline: readonly TimelineEntry[];
  readonly elapsedMs: number;
  /** With `alarmAt`: the alarm raised, what the automatic rollback did, and over how many targets. */
  readonly alarm?: { name: string; phase: string; outcome: string; timeToSafeMs?: number; targets: number };
  /** The fake Lambda API: whether its quotas were on, how long updates stayed InProgress, calls accepted and throttled. */
  readonly lambdaApi: { quotas: boolean; inProgressMs: number; counts: Readonly<Record<LambdaQuotaBucket, QuotaCounts>> };
  /** With `llmSpendUsdPerHour`: the simulated spend. */
  readonly llmSpend?: { report: LlmSpendReport; subFeatureRolledBack: boolean };
  /** With `driftAt`: the deploy that wiped the flags, the CloudTrail events delivered, and the repair. */
  readonly drift?: DriftScenarioResult & { readonly phase: string };
  /** With `manual`: the person's own ending (a reject, a rollback, a pause, or stopping the rehearsal), expected. */
  readonly endedBy?: PersonalEnding;
}

/** How a person ended a manual rehearsal. */
export interface PersonalEnding {
  readonly action: 'rejected' | 'rolled-back' | 'paused' | 'stopped';
  /** Who: the actor's name, or `you` for stopping the rehearsal. */
  readonly by: string;
  readonly phase: string | null;
}

/**
 * The person's own ending of a manual rehearsal, from the audit trail (oldest first): their last reject, rollback or
 * pause (an approver in Discord or a CLI user, not the rehearsal nor Phasegate), or `stopped` when they ended the run.
 * A pause later resumed is no ending. Undefined when the rollout ended on its own.
 */
export function personalEnding(audit: readonly AuditEvent[], stopped: boolean): PersonalEnding | undefined {
  const person = (e: AuditEvent): boolean => e.actor.via === 'discord' || e.actor.via === 'cli';
  let ending: PersonalEnding | undefined;
  for (const e of audit) {
    if (!person(e)) continue;
    const phase = e.fromPhase ?? e.toPhase;
    const by = e.actor.name ?? e.actor.id;
    if (e.action === 'rejected') ending = { action: 'rejected', by, phase };
    else if (e.action === 'rollback-started' || e.action === 'rolled-back') ending = ending?.action === 'rejected' ? ending : { action: 'rolled-back', by, phase };
    else if (e.action === 'paused') ending = { action: 'paused', by, phase };
    else if (e.action === 'resumed' && ending?.action === 'paused') ending = undefined;
  }
  if (ending) return ending;
  return stopped ? { action: 'stopped', by: 'you', phase: null } : undefined;
}

/** Variables the fake targets carry before Phasegate touches them; they must come out unchanged. */
const EXISTING_VARIABLES = (fn: string): Record<string, string> => ({
  LOG_LEVEL: 'info',
  SERVICE_NAME: fn,
  DISCORD_PUBLIC_KEY_PARAM: '/valine/discord/public-key',
  GREETING: 'héllo — ünïcode stays intact',
});


let sharedDynamo: Promise<LocalDynamo> | undefined;

/**
 * One dynalite per process: the handlers configure their clients once per module load (as in a warm Lambda),
 * so every rehearsal in a process must use the same endpoint. Each rehearsal recreates the tables.
 */
function localDynamo(): Promise<LocalDynamo> {
  sharedDynamo ??= startLocalDynamo();
  return sharedDynamo;
}

/** Stop the process-wide dynalite (tests call this when done). */
export async function closeRehearsalResources(): Promise<void> {
  const dynamo = sharedDynamo;
  sharedDynamo = undefined;
  if (dynamo) await (await dynamo).stop();
}

async function recreateTables(template: CloudFormationTemplate, endpoint: string): Promise<Record<string, string>> {
  const client = localDynamoClient(endpoint);
  try {
    for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::DynamoDB::Table') continue;
      try {
        await client.send(new DeleteTableCommand({ TableName: `phasegate-local-${logicalId}` }));
      } catch (err) {
        if (!(err instanceof ResourceNotFoundException)) throw err;
      }
    }
  } finally {
    client.destroy();
  }
  return createTablesFromTemplate(template, endpoint);
}

function readPlanFor(planFile: string, stage: string): Plan {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(planFile, 'utf8'));
  } catch (err) {
    throw new RehearsalInputError(`cannot read plan ${planFile}: ${(err as Error).message}`);
  }
  const result = validatePlan(raw, { stage });
  if (!result.ok) throw new RehearsalInputError(`${planFile} is invalid:\n${result.problems.map((p) => `  - ${p}`).join('\n')}`);
  return result.plan;
}

/**
 * The plan with `copies` copies of each target: `<name>-1` .. `<name>-<copies>`, where `<name>` is the function name
 * (in an ARN, and before a `:qualifier`, which the copies keep). Throws {@link RehearsalInputError} when a copy's name
 * would pass Lambda's 64 characters.
 */
export function withTargetCopies(plan: Plan, copies: number): Plan {
  const copy = (target: string, i: number): string => {
    const [, prefix = '', functionName = target, qualifier = ''] = /^(arn:[^:]+:lambda:[^:]+:\d{12}:function:)?([^:]+)(:.*)?$/.exec(target) ?? [];
    const name = `${functionName}-${i}`;
    if (name.length > 64) throw new RehearsalInputError(`--targets: the copy ${name} of ${target} is longer than Lambda's 64 characters`);
    return `${prefix}${name}${qualifier}`;
  };
  return { ...plan, targets: plan.targets.flatMap((t) => Array.from({ length: copies }, (_, i) => copy(t, i + 1))) };
}

/**
 * The definition with the plan that its `Load plan` state embeds (see lib/rollout-state-machine.ts) given `targets`:
 * every step of the execution, and the rollout state the alarm-rollback function reads, then see those targets.
 */
function withPlanTargets(definition: AslDefinition, feature: string, targets: readonly string[]): AslDefinition {
  const copy = JSON.parse(JSON.stringify(definition)) as AslDefinition & { States: Record<string, { Type?: string; Result?: { feature?: string; targets?: unknown } }> };
  const loads = Object.values(copy.States).filter((s) => s.Type === 'Pass' && s.Result?.feature === feature);
  if (loads.length !== 1) throw new Error(`the synthesized definition has ${loads.length} states carrying the plan of ${feature}, expected 1`);
  loads[0]!.Result!.targets = [...targets];
  return copy;
}

/**
 * Synthesize the stage (as `cdk synth` would, minus asset bundling) and return the stack's template. The plan is
 * synthesized as written, except that its Discord settings point at the local channel and roles, so the steps
 * announce to the local Discord and the rehearsal's PM can click the buttons. Its temp folders (under `tempRoot`)
 * are removed before it returns or throws.
 */
export function synthesizeForRehearsal(
  planFile: string,
  stage: string,
  tempRoot: string = tmpdir(),
  compress?: { plan: Plan; bakeMs: number },
): CloudFormationTemplate {
  const read = JSON.parse(readFileSync(planFile, 'utf8')) as Record<string, unknown>;
  // Hold limits and bake ranges are measured against real time by the gate: compressed like the bakes.
  const raw = (compress ? compressPlanForRehearsal(read, compress.plan, compress.bakeMs) : read) as Record<string, unknown> & {
    stages?: Record<string, Record<string, unknown>>;
  };
  raw.discord = localDiscordSettings(undefined, Array.isArray(raw.roles) ? (raw.roles as string[]) : []);
  for (const override of Object.values(raw.stages ?? {})) delete override.discord;
  // Both folders are only needed while synthesizing: the template is read into memory, and they go on every path.
  const plansDir = mkdtempSync(join(tempRoot, 'phasegate-rehearsal-plans-'));
  try {
    writeFileSync(join(plansDir, basename(planFile)), JSON.stringify(raw));
    const outdir = mkdtempSync(join(tempRoot, 'phasegate-rehearsal-cdk-'));
    try {
      // Asset bundling and CloudFormation's template validation add ~10 s and change nothing the local run uses;
      // `cdk synth` and the test suite keep both.
      const { app } = buildApp({ context: { stage, plansDir, 'aws:cdk:bundling-stacks': [] }, outdir, builtinCloudFormationValidation: false });
      // The feature's state machine and alarms are in its nested stack: laid into the stage's template here.
      return synthesizedStackTemplate(app.synth(), stackName(stage));
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  } finally {
    rmSync(plansDir, { recursive: true, force: true });
  }
}

/**
 * How each phase went, from the rollout's audit trail (oldest first): whether it was reached, passed, rejected or
 * rolled back, who decided, and the gate result that decided it.
 */
export function summarizePhases(
  plan: Plan,
  audit: readonly AuditEvent[],
  state: RolloutState | undefined,
  outcome: RolloutStatus | 'NOT_STARTED',
): PhaseSummary[] {
  return plan.phases.map((phase) => {
    const events = audit.filter((e) => e.toPhase === phase.name || e.fromPhase === phase.name);
    // The last check is the one that decided: earlier ones held the phase and baked again.
    const gate = events.findLast((e) => e.action === 'gate-evaluated')?.detail as { decision: string; reasons: string[] } | undefined;
    const decision = events.find((e) => (e.action === 'approved' || e.action === 'rejected') && e.fromPhase === phase.name);
    const reached = events.some((e) => e.action === 'phase-started' && e.toPhase === phase.name);
    const skipped = state?.skippedPhases?.includes(phase.name) ?? false;
    const failedHere = state?.status !== 'COMPLETED' && state?.plan.phases[state.phaseIndex]?.name === phase.name && outcome !== 'RUNNING';
    const outcomeOf = (): PhaseSummary['outcome'] => {
      if (skipped) return 'skipped';
      if (!reached) return 'not-reached';
      if (decision?.action === 'rejected') return 'rejected';
      if (failedHere) return 'rolled-back';
      return outcome === 'RUNNING' || outcome === 'AWAITING_APPROVAL' ? 'in-progress' : 'passed';
    };
    return {
      name: phase.name,
      roles: phase.roles,
      percent: phase.percent,
      bake: phase.bake,
      outcome: outcomeOf(),
      ...(gate ? { gate: { decision: gate.decision, reasons: gate.reasons } } : {}),
      ...(decision ? { decidedBy: decision.actor.name ?? decision.actor.id } : {}),
    };
  });
}

/** A free local port, chosen once: handlers cache the Discord API's address when their module loads. */
let discordApi: Promise<{ port: number; botToken: string }> | undefined;
function discordApiAddress(): Promise<{ port: number; botToken: string }> {
  discordApi ??= new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve({ port, botToken: `local-bot.${randomBytes(24).toString('base64url')}` }));
    });
  });
  return discordApi;
}

function ownedFlags(plan: Plan, env: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(planFlagNames(plan).map((name) => [name, env[name] ?? '(unset)']));
}

function describeEvent(plan: Plan, e: AuditEvent, bakeMs: number): string {
  const detail = (e.detail ?? {}) as Record<string, unknown>;
  switch (e.action) {
    case 'phase-started': {
      const phase = plan.phases.find((p) => p.name === e.toPhase)!;
      const roles = phase.dark ? 'dark (the feature stays off)' : phase.roles.includes('all') ? 'every user' : `roles ${phase.roles.join(', ')}`;
      return `phase started: ${roles}, ${phase.percent}%; bake ${formatSeconds(durationToSeconds(phase.bake))} (compressed to ${bakeMs} ms)`;
    }
    case 'flags-applied': {
      const flags = detail.flags as Record<string, string>;
      const targets = detail.targets as { functionName: string; changed: string[]; ms: number }[];
      if (targets.length > MAX_TARGET_LINES) {
        const slowest = Math.max(...targets.map((t) => t.ms));
        const changed = [...new Set(targets.flatMap((t) => t.changed))];
        return `flags written to ${targets.length} targets, slowest in ${slowest} ms: ${changed.length ? changed.map((n) => `${n}=${flags[n]}`).join(' ') : 'already set'}`;
      }
      return targets
        .map((t) => `flags written to ${t.functionName} in ${t.ms} ms: ${t.changed.length ? t.changed.map((n) => `${n}=${flags[n]}`).join(' ') : 'already set'}`)
        .join('\n');
    }
    case 'rolled-back': {
      const targets = (detail.targets as { functionName: string; ms: number }[]) ?? [];
      if (targets.length > MAX_TARGET_LINES) return `${e.message} (${targets.length} targets, slowest in ${Math.max(...targets.map((t) => t.ms))} ms)`;
      return `${e.message} (${targets.map((t) => `${t.functionName} ${t.ms} ms`).join(', ')})`;
    }
    default:
      return e.message;
  }
}

/**
 * Run one rehearsal. Resolves with the result whether or not the run went as expected; rejects only with
 * {@link RehearsalInputError} for unusable input (or an unexpected failure of the harness itself).
 */
export async function rehearse(requested: RehearsalOptions = {}): Promise<RehearsalResult> {
  // A breach is the runbook's rollback trigger: its metric's rollback alarm goes off during the phase's bake.
  let breach: BreachRequest | undefined;
  try {
    breach = requested.breach === undefined ? undefined : parseBreach(requested.breach);
  } catch (err) {
    throw new RehearsalInputError(`--breach: ${(err as Error).message}`);
  }
  if (breach && requested.alarmAt !== undefined) throw new RehearsalInputError('--breach and --alarm-at each raise a rollback alarm: choose one');
  const options: RehearsalOptions = breach ? { ...requested, alarmAt: breach.phase } : requested;
  const stage = options.stage ?? 'dev';
  const planFile = resolve(options.planFile ?? join(DEFAULT_PLANS_DIR, 'ux-update.json'));
  const bakeMs = options.bakeMs ?? 150;
  const inProgressMs = options.inProgressMs ?? 200;
  if (options.targets !== undefined && (!Number.isInteger(options.targets) || options.targets < 1 || options.targets > MAX_TARGET_COPIES)) {
    throw new RehearsalInputError(`--targets must be a whole number from 1 to ${MAX_TARGET_COPIES}, got ${options.targets}`);
  }
  if (!Number.isFinite(inProgressMs) || inProgressMs < 0 || inProgressMs > 60_000) {
    throw new RehearsalInputError(`--inprogress-ms must be a number of milliseconds from 0 to 60000, got ${inProgressMs}`);
  }
  const written = readPlanFor(planFile, stage);
  const copied = options.targets === undefined ? written : withTargetCopies(written, options.targets);
  const plan = options.alias === undefined ? copied : withAliasTargets(copied, options.alias);
  if (options.rejectAt !== undefined) {
    const phase = plan.phases.find((p) => p.name === options.rejectAt);
    const approvable = plan.phases.filter((p) => p.approval.required).map((p) => p.name);
    if (!phase) throw new RehearsalInputError(`--reject-at: plan ${plan.feature} has no phase "${options.rejectAt}" (phases: ${plan.phases.map((p) => p.name).join(', ')})`);
    if (!phase.approval.required) {
      throw new RehearsalInputError(`--reject-at: phase "${phase.name}" needs no approval, so nobody can reject it (phases with approval: ${approvable.join(', ')})`);
    }
  }

  if (options.alarmAt !== undefined) {
    if (options.rejectAt !== undefined) throw new RehearsalInputError('--alarm-at and --reject-at each end the rollout: choose one');
    try {
      alarmForPhase(plan, stage, options.alarmAt, breach?.metric);
    } catch (err) {
      if (err instanceof AlarmScenarioError) throw new RehearsalInputError(`${breach ? '--breach' : '--alarm-at'}: ${err.message}`);
      throw err;
    }
  }
  if (options.driftAt !== undefined && !plan.phases.some((p) => p.name === options.driftAt)) {
    throw new RehearsalInputError(`--drift-at: plan ${plan.feature} has no phase "${options.driftAt}" (phases: ${plan.phases.map((p) => p.name).join(', ')})`);
  }
  const llm = options.llmSpendUsdPerHour === undefined ? undefined : llmPhaseOf(plan);
  if (options.llmSpendUsdPerHour !== undefined && !llm) {
    throw new RehearsalInputError(`--llm-spend: plan ${plan.feature} has no LLM sub-feature that a phase turns on`);
  }

  let metrics: RehearsalMetrics;
  try {
    metrics = new RehearsalMetrics(plan, breach);
  } catch (err) {
    throw new RehearsalInputError(`--breach: ${(err as Error).message}`);
  }
  const startAt = options.startAt === undefined ? undefined : plan.phases.findIndex((p) => p.name === options.startAt);
  if (startAt === -1) throw new RehearsalInputError(`--start-at: plan ${plan.feature} has no phase "${options.startAt}" (phases: ${plan.phases.map((p) => p.name).join(', ')})`);
  for (const name of options.optIn ?? []) {
    if (!plan.phases.some((p) => p.name === name && p.optional)) {
      throw new RehearsalInputError(`--opt-in: plan ${plan.feature} has no optional phase "${name}" (optional: ${plan.phases.filter((p) => p.optional).map((p) => p.name).join(', ') || 'none'})`);
    }
  }
  // Waiting for a person (--manual) is no stuck run: no limit there unless one is asked for.
  const wallClockLimitMs = options.wallClockLimitMs ?? (options.manual ? undefined : 120_000);
  // The approver holds every role a phase's approvers need, team roles included.
  const approverInDiscord = discordUser('Pat (PM)', approverRoles(plan));

  const template = synthesizeForRehearsal(planFile, stage, undefined, { plan: written, bakeMs });
  const smName = stateMachineName(stage, plan.feature);
  const machine = stateMachinesFromTemplate(template).find((m) => m.name === smName);
  if (!machine) throw new Error(`the synthesized stack has no state machine ${smName}`);
  const validation = validateAsl(machine.definition);
  if (!validation.ok) throw new Error(`synthesized definition of ${smName} is not valid ASL: ${validation.errors.join('; ')}`);
  options.onStart?.({ feature: plan.feature, stage, stateMachine: smName });
  const definition = plan === written ? machine.definition : withPlanTargets(machine.definition, plan.feature, plan.targets);

  const dynamo = await localDynamo();
  const restoreEndpoint = useLocalDynamo(dynamo.endpoint);
  const tableNames = await recreateTables(template, dynamo.endpoint);
  const tableName = Object.values(tableNames)[0]!;
  const address = await discordApiAddress();
  const client = localDynamoClient(dynamo.endpoint);
  const discord: LocalDiscord = await startLocalDiscord({
    stage,
    plans: [{ ...plan, discord: localDiscordSettings(undefined, plan.roles) }],
    tableName,
    apiPort: address.port,
    botToken: address.botToken,
    // The Discord endpoint is a function of its own: its own writer and scheduler, marking its rollbacks for the stage.
    flagWriter: { rollbackActivity: new DynamoRollbackActivity(tableName, client) },
  });
  const functions = discord.withLocalDiscord(functionsFromTemplate(template, { tableNames }));
  const reports = new RehearsalReports({ store: new DynamoRolloutStore(tableName, client), api: discord.api, feature: plan.feature, dir: options.reportDir ?? join(tmpdir(), 'phasegate-rehearsal') });

  // One fake for the whole run: one account, so every function's calls draw from the same quotas. The step and
  // alarm-rollback handlers each build their own flag writer and scheduler when their module loads, as on AWS, with
  // a DynamoRollbackActivity on this table.
  const quotasOn = options.quotas ?? true;
  const lambda = new FakeLambdaControlPlane({ inProgressMs, ...(quotasOn ? {} : { quotas: false }) }).install();
  const cloudwatch = new FakeCloudWatch().install();
  // Healthy data for every metric any gate of the plan watches; the breach, if asked for, in its phase.
  cloudwatch.setMetricData(metrics.source);
  const sfn = new FakeStepFunctions().install();
  addTargets(lambda, plan.targets, EXISTING_VARIABLES);
  const store = new DynamoRolloutStore(tableName, client);

  // Scenarios (alarm, LLM spend) start when the execution enters their phase's bake.
  let alarmRun: Promise<AlarmScenarioResult> | undefined;
  let spendRun: Promise<{ report: LlmSpendReport; subFeatureRolledBack: boolean }> | undefined;
  let driftRun: Promise<DriftScenarioResult> | undefined;
  const started = Date.now();
  let done = false;
  const decided = new Set<string>();
  let session: SessionServer | undefined;
  if (options.manual) {
    session = await startSessionServer({
      stage,
      plans: [plan],
      // The CLI's operations (rollback, approve) as a function of their own: its own writer and scheduler.
      ports: { store, flags: new LambdaFlagWriter(undefined, { rollbackActivity: new DynamoRollbackActivity(tableName, client) }) },
      dynamoEndpoint: dynamo.endpoint,
      tableName,
      ...(options.sessionFile ? { sessionFile: options.sessionFile } : {}),
    });
    options.log?.(`manual mode: the CLI reaches this rehearsal with --local (npx phasegate status ${plan.feature} --local)`);
  }
  const refusals: string[] = [];
  // The timeline as it happens: new audit events, Discord posts and reports, polled while the run goes.
  const streamed = { audit: new Set<string>(), messages: new Map<string, string>(), reports: 0, startedAt: undefined as number | undefined };
  const names: DiscordNames = {
    users: { [approverInDiscord.id]: approverInDiscord.name },
    roles: Object.fromEntries(Object.entries(localDiscordSettings(undefined, plan.roles)?.roles ?? {}).map(([id, roles]) => [id, roles.join('/')])),
    channels: { [LOCAL_DISCORD.channelId]: 'phasegate' },
  };
  const streamTimeline = async (): Promise<void> => {
    const emit = options.onTimeline;
    if (!emit) return;
    const state = await store.getState(plan.feature);
    const audit = (await store.listAudit(plan.feature, 500)).reverse().filter((e) => !state || e.executionId === state.executionId || e.action === 'refused');
    streamed.startedAt ??= audit[0] ? Date.parse(audit[0].at) : undefined;
    const zero = streamed.startedAt ?? started;
    const batch: TimelineEntry[] = [];
    for (const e of audit) {
      const key = `${e.at}|${e.action}|${e.version ?? ''}|${e.message}`;
      if (streamed.audit.has(key)) continue;
      streamed.audit.add(key);
      batch.push({ atMs: Date.parse(e.at) - zero, phase: e.toPhase ?? e.fromPhase, action: e.action, text: describeEvent(plan, e, bakeMs) });
    }
    // A message edited since (a decision shown on its request) comes again as it reads now.
    for (const m of discord.channelMessages()) {
      const entry = discordEntry(m, zero, names);
      if (streamed.messages.get(m.id) === entry.text) continue;
      streamed.messages.set(m.id, entry.text);
      batch.push(entry);
    }
    for (const r of reports.posted.slice(streamed.reports)) batch.push(reportEntry(r, zero));
    streamed.reports = reports.posted.length;
    for (const entry of batch.sort((a, b) => a.atMs - b.atMs)) emit(entry);
  };
  const streamer = (async () => {
    while (!done) {
      await streamTimeline().catch((err: unknown) => options.log?.(`the timeline could not be read: ${(err as Error).message}`));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const approver = (async () => {
    // A PM watching the channel: each phase that waits for approval gets a decision.
    while (!done) {
      const state = await store.getState(plan.feature);
      if (state?.status === 'AWAITING_APPROVAL') {
        const phase = state.plan.phases[state.phaseIndex]!;
        const key = `${state.executionId}#${state.phaseIndex}`;
        if (!decided.has(key) && options.manual) {
          decided.add(key);
          options.log?.(
            `phase ${phase.name} waits for approval: npx phasegate approve ${plan.feature} --local  (or: reject ${plan.feature} --reason "..." --local)`,
          );
        } else if (!decided.has(key)) {
          decided.add(key);
          // The PM looks at the LLM phase's spend before approving it.
          if (llm && phase.name === llm.phase && spendRun) await spendRun.catch(() => undefined);
          const reject = phase.name === options.rejectAt;
          try {
            // Opting in comes with the approval of the phase before the optional one.
            const next = state.plan.phases[state.phaseIndex + 1];
            if (!reject && next?.optional && options.optIn?.includes(next.name)) {
              await optInToPhase(
                { store, clock: { now: () => new Date() } },
                { feature: plan.feature, phase: next.name, actor: { id: approverInDiscord.id, name: approverInDiscord.name, via: 'discord', roles: approverRoles(plan) } },
              );
            }
            // The PM decides in Discord: a signed click on the approval request the step posted to the channel.
            const request = await discord.api.waitFor(() => discord.api.approvalRequests(plan.feature, phase.name).at(-1));
            const reply = reject
              ? await discord.clickReject(request, approverInDiscord, `rehearsal: the PM rejects phase ${phase.name}`)
              : await discord.clickApprove(request, approverInDiscord);
            await discord.idle();
            if (reply.status !== 200) throw new RefusedError('INVALID', `Discord click answered ${reply.status}`);
          } catch (err) {
            if (!(err instanceof RefusedError)) throw err;
            // Said when it happens: a refused click is what leaves a run waiting.
            refusals.push(`phase ${phase.name}: ${err.message}`);
            options.log?.(`the approver's decision on phase ${phase.name} was refused: ${err.message}`);
            decided.delete(key);
          }
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  // Scenarios start when the execution enters the phase's bake, and run while it lasts.
  // Long enough for the rollback of every target at 15 updates a second; the rollback stops the execution anyway.
  const scenarioBakeMs = 2_000 + Math.ceil((plan.targets.length / 15) * 2_000);
  const waitMs: Record<string, number> = {};
  for (const phase of plan.phases) {
    waitMs[`${phase.name}: bake`] = bakeMs;
    // A hold re-checks like a bake; a scheduled start waits no longer than a bake.
    waitMs[`${phase.name}: hold`] = bakeMs;
    waitMs[`${phase.name}: wait for start`] = bakeMs;
  }
  if (options.alarmAt) waitMs[`${options.alarmAt}: bake`] = scenarioBakeMs;
  const startScenarios = (stateName: string): void => {
    if (options.alarmAt && stateName === `${options.alarmAt}: bake` && !alarmRun) {
      alarmRun = raiseRollbackAlarm({ template, tableNames, stage, plan, phase: options.alarmAt, cloudwatch, lambda, environment: discord.notifierEnvironment, handler: coldAlarmRollback, ...(breach ? { metric: breach.metric } : {}) });
      alarmRun.catch(() => undefined);
    }
    if (llm && options.llmSpendUsdPerHour !== undefined && stateName === `${llm.phase}: bake` && !spendRun) {
      spendRun = simulateLlmSpend(options.llmSpendUsdPerHour, options.llmCapUsd);
      spendRun.catch(() => undefined);
    }
  };
  // The drift happens at the end of the phase's bake, before its gate: the flags are settled, and the gate judges
  // once the reconcile has returned. (Started from the gate's invocation, not from the bake's StateEntered event,
  // which may arrive after a short bake has already ended.)
  const driftBeforeGate = (event: { phaseIndex?: unknown }): Promise<unknown> | undefined => {
    if (!options.driftAt || driftRun || plan.phases[event.phaseIndex as number]?.name !== options.driftAt) return driftRun?.catch(() => undefined);
    const target = plan.targets[0]!;
    const reconcile = [...new Set(functions.values())].find((f) => f.phasegateFunction === 'reconcile');
    if (!reconcile) throw new Error('the synthesized template has no reconcile function');
    driftRun = driftDuringPhase(lambda, planFlagNames(plan), { target, variables: EXISTING_VARIABLES(target), reconcileEnvironment: reconcile.environment });
    return driftRun.catch(() => undefined);
  };
  const simulateLlmSpend = async (usdPerHour: number, capUsd?: number): Promise<{ report: LlmSpendReport; subFeatureRolledBack: boolean }> => {
    const sub = llm!.subFeature;
    const enabledVar = planFlagSets(plan).find((set) => set.subFeatureId === sub)!.names.enabled;
    const target = plan.targets[0]!;
    let alarm: Promise<AlarmScenarioResult> | undefined;
    const report = await runLlmSpendScenario({
      endpoint: dynamo.endpoint,
      tableName,
      plan,
      usdPerHour,
      subFeature: sub,
      callUsd: Math.max(0.01, Math.round((usdPerHour / 12) * 100) / 100),
      ...(capUsd !== undefined ? { capUsd } : {}),
      // A call is made only while the target's LLM flag is on, as the guarded code path would check it.
      llmEnabled: () => (servedEnvironment(lambda, target)[enabledVar.name] === 'true') !== enabledVar.inverted,
      onSpend: async (snapshot) => {
        // The LLM spend gate reads what the guard recorded (its EMF metric, on AWS).
        metrics.recordLlmSpend(snapshot.daySpentUsd);
        if (snapshot.daySpentUsd > snapshot.hardLimitUsd && !alarm) {
          alarm = raiseRollbackAlarm({ template, tableNames, stage, plan, phase: llm!.phase, metric: `llm-spend-${sub}`, cloudwatch, lambda, environment: discord.notifierEnvironment, handler: coldAlarmRollback });
          await alarm;
        }
      },
    });
    return { report, subFeatureRolledBack: alarm !== undefined && (await alarm).outcome.outcome === 'sub-feature-rolled-back' };
  };

  const spendScenario = llm !== undefined && options.llmSpendUsdPerHour !== undefined;
  let run: LocalRunResult;
  let stuck: string | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  try {
    const execution = startLocalExecution({
      definition,
      functions,
      handlers: (name: string) => {
        const handler = (require(`../lambdas/${name}/index`) as { handler: LocalLambdaHandler }).handler;
        if (name !== 'gate') return handler;
        return async (...args: Parameters<LocalLambdaHandler>) => {
          if (options.driftAt) await driftBeforeGate(args[0] ?? {});
          // The day's report before the phase's first gate, as the daily-report function would post it.
          await reports.beforeGate(args[0] ?? {}).catch((err: unknown) => options.log?.(`daily report failed: ${(err as Error).message}`));
          // The LLM phase's gate judges the day's spend once the simulated day is over, as the budget guard recorded it.
          if (spendScenario && plan.phases[(args[0] as { phaseIndex?: number } | undefined)?.phaseIndex ?? -1]?.name === llm!.phase) await spendRun?.catch(() => undefined);
          return handler(...args);
        };
      },
      input: { actor: { id: 'rehearsal', name: 'rehearsal', via: 'rehearsal' }, ...(startAt !== undefined ? { startAt } : {}) },
      stepFunctions: sfn,
      stateMachineName: smName,
      executionId: `rehearsal-${new Date(started).toISOString().replace(/[:.]/g, '-')}`,
      waitMs,
      taskTimeoutMs: compressedApprovalTimeouts(plan, bakeMs, Math.max(10_000, bakeMs * 20), DEFAULT_APPROVAL_TIMEOUT_SECONDS),
      onEvent: (event) => {
        if (event.type === 'StateEntered') {
          metrics.enterState(event.state.name);
          startScenarios(event.state.name);
        }
      },
    });
    // A run that cannot end says why and stops, within the wall-clock limit.
    if (wallClockLimitMs !== undefined) watchdog = setTimeout(() => {
      void store.getState(plan.feature).then(
        (state) => {
          stuck = describeStuck(state, refusals, wallClockLimitMs!);
          options.log?.(stuck);
          execution.abort('PhasegateRehearsalStuck', stuck);
        },
        (err: unknown) => execution.abort('PhasegateRehearsalStuck', `stuck, and the state could not be read: ${(err as Error).message}`),
      );
    }, wallClockLimitMs);
    if (options.manual && options.stop) {
      const stopRun = (): void => execution.abort('PhasegateRehearsalStopped', 'the person running the rehearsal stopped it');
      if (options.stop.aborted) stopRun();
      else options.stop.addEventListener('abort', stopRun, { once: true });
    }
    run = await execution.result;
    if (options.manual && options.holdOpen) await options.holdOpen({ status: run.status });
  } finally {
    if (watchdog) clearTimeout(watchdog);
    done = true;
    await approver.catch(() => undefined);
    await streamer;
    await session?.close();
  }

  const alarmResult = alarmRun ? await alarmRun : undefined;
  const spendResult = spendRun ? await spendRun : undefined;
  const driftResult = driftRun ? await driftRun : undefined;
  const state: RolloutState | undefined = await store.getState(plan.feature);
  const audit = (await store.listAudit(plan.feature, 500)).reverse().filter((e) => !state || e.executionId === state.executionId || e.action === 'refused');
  const startedAt = Date.parse(audit[0]?.at ?? new Date(started).toISOString());
  const timeline: TimelineEntry[] = audit.map((e) => ({
    atMs: Date.parse(e.at) - startedAt,
    phase: e.toPhase ?? e.fromPhase,
    action: e.action,
    text: describeEvent(plan, e, bakeMs),
  }));
  if (alarmResult) {
    timeline.push({
      atMs: Date.parse(alarmResult.raisedAt) - startedAt,
      phase: options.alarmAt!,
      action: 'alarm',
      text:
        `alarm ${alarmResult.alarm.name} went to ALARM (${alarmResult.event.detail.state.reason}); EventBridge rule ${alarmResult.rule.logicalId} ` +
        `invoked the rollback function: ${alarmResult.outcome.outcome}` +
        (alarmResult.timeToSafeMs !== undefined ? `, time-to-safe ${alarmResult.timeToSafeMs} ms` : '') +
        ` for ${plan.targets.length} target(s)`,
    });
  }
  if (driftResult) timeline.push(...driftTimeline(driftResult, options.driftAt!, startedAt));
  for (const r of reports.posted) timeline.push(reportEntry(r, startedAt));
  if (spendResult) {
    const at = timeline.find((e) => e.phase === llm!.phase && e.action === 'flags-applied')?.atMs ?? 0;
    formatLlmSpendReport(spendResult.report).forEach((line, i) =>
      timeline.push({ atMs: at, phase: llm!.phase, action: i === 0 ? 'llm-spend' : 'llm-spend-detail', text: line }),
    );
  }
  timeline.sort((a, b) => a.atMs - b.atMs);
  const targets = Object.fromEntries(plan.targets.map((t) => [t, ownedFlags(plan, servedEnvironment(lambda, t))]));

  // A person's reject, rollback or pause in a manual rehearsal is theirs to make: an expected ending.
  const endedBy = options.manual ? personalEnding(audit, options.stop?.aborted ?? false) : undefined;
  const rolledBackByPerson = endedBy?.action === 'rejected' || endedBy?.action === 'rolled-back';
  const leftAsIs = endedBy !== undefined && !rolledBackByPerson;
  const expected = rolledBackByPerson || options.rejectAt || options.alarmAt ? 'ROLLED_BACK' : 'COMPLETED';
  const outcome = state?.status ?? 'NOT_STARTED';
  const problems: string[] = [];
  if (stuck) problems.push(stuck);
  if (outcome !== expected && !leftAsIs) problems.push(`expected the rollout to end ${expected}, it is ${outcome}`);
  // A gate that had to hold in a rehearsal fed healthy data did not get what it watches: say which phase and why.
  for (const e of audit) {
    const d = e.detail as { decision?: string; reasons?: string[] } | undefined;
    const spendingOnPurpose = spendResult !== undefined && e.toPhase === llm?.phase;
    if (e.action === 'gate-evaluated' && (d?.decision === 'HOLD' || d?.decision === 'ASK') && !(breach && e.toPhase === breach.phase) && !spendingOnPurpose) {
      problems.push(`phase ${e.toPhase} held: ${(d.reasons ?? []).join('; ')}`);
    }
  }
  // An alarm during a bake stops the execution (ABORTED); a rejection or an alarm during an approval fails it.
  // A rollback from the CLI ends the execution (ABORTED) wherever it was.
  const expectedStatuses = expected === 'COMPLETED' ? ['SUCCEEDED'] : options.alarmAt || rolledBackByPerson ? ['FAILED', 'ABORTED'] : ['FAILED'];
  if (!expectedStatuses.includes(run.status) && !leftAsIs) {
    problems.push(`expected the execution to end ${expectedStatuses.join(' or ')}, it ended ${run.status} (${run.error ?? ''} ${run.cause ?? ''})`);
  }
  if (alarmResult && alarmResult.outcome.outcome !== 'rolled-back') problems.push(`the alarm's rollback ended ${alarmResult.outcome.outcome}`);
  if (options.driftAt && !driftResult) problems.push(`the rollout never baked phase ${options.driftAt}: no drift was simulated`);
  if (driftResult && driftResult.wiped.length === 0) problems.push(`the deploy of ${driftResult.target} wiped no flag: nothing to repair`);
  if (driftResult && driftResult.outcome !== 'repaired') {
    problems.push(`the drift on ${driftResult.target} was not repaired: ${JSON.stringify(driftResult.outcomes)}`);
  }
  const wanted = leftAsIs
    ? {}
    : expected === 'COMPLETED'
      ? phaseFlagValues(plan, plan.phases.length - 1, { subFeaturesOff: state?.subFeaturesOff ?? [] })
      : (state?.safeFlags ?? {});
  if (spendResult) {
    const passed = spendResult.report.hardLimitPassedAt !== null;
    if (passed !== spendResult.subFeatureRolledBack) {
      problems.push(passed ? 'LLM spend passed the hard limit but the LLM flag was not rolled back' : 'the LLM flag was rolled back without passing the hard limit');
    }
    if (spendResult.report.overshootUsd > 0 && options.llmCapUsd === undefined) problems.push(`LLM spend overshot the cap by ${spendResult.report.overshootUsd}`);
  }
  for (const t of plan.targets) {
    const env = servedEnvironment(lambda, t);
    for (const [name, value] of Object.entries(wanted)) {
      if (env[name] !== value) problems.push(`${t}: ${name} is ${env[name] ?? '(unset)'}, expected ${value}`);
    }
    for (const [name, value] of Object.entries(EXISTING_VARIABLES(t))) {
      if (env[name] !== value) problems.push(`${t}: its own variable ${name} changed`);
    }
  }

  const phases = summarizePhases(plan, audit, state, outcome);

  const channel = discord.channelMessages().map((m) => discordEntry(m, startedAt, names));
  // The rest of the stream: what was written since the last poll, then the scenarios' summaries.
  await streamTimeline().catch((err: unknown) => options.log?.(`the timeline could not be read: ${(err as Error).message}`));
  if (options.onTimeline) {
    const shift = startedAt - (streamed.startedAt ?? startedAt);
    for (const e of timeline.filter((e) => SCENARIO_ACTIONS.has(e.action))) options.onTimeline({ ...e, atMs: e.atMs + shift });
  }
  const lambdaCounts = lambda.quotas.counts;
  await discord.stop();
  lambda.restore();
  cloudwatch.restore();
  sfn.restore();
  client.destroy();
  restoreEndpoint();
  timeline.push(...channel);
  timeline.sort((a, b) => a.atMs - b.atMs);

  const result: RehearsalResult = {
    feature: plan.feature,
    stage,
    stateMachine: smName,
    expected,
    outcome,
    asExpected: problems.length === 0,
    problems,
    execution: { status: run.status, error: run.error, cause: run.cause, states: run.path.length },
    phases,
    targets,
    timeline,
    elapsedMs: Date.now() - started,
    ...(alarmResult
      ? {
          alarm: {
            name: alarmResult.alarm.name,
            phase: options.alarmAt!,
            outcome: alarmResult.outcome.outcome,
            ...(alarmResult.timeToSafeMs !== undefined ? { timeToSafeMs: alarmResult.timeToSafeMs } : {}),
            targets: plan.targets.length,
          },
        }
      : {}),
    ...(spendResult ? { llmSpend: spendResult } : {}),
    ...(driftResult ? { drift: { ...driftResult, phase: options.driftAt! } } : {}),
    lambdaApi: { quotas: quotasOn, inProgressMs, counts: lambdaCounts },
    ...(endedBy ? { endedBy } : {}),
  };
  return result;
}

/**
 * The plan with every target invoked through `alias`: `fn` -> `fn:alias`, `arn:...:function:fn` -> `arn:...:function:fn:alias`.
 * Throws {@link RehearsalInputError} for a target that already names an alias or an alias name Lambda would refuse.
 */
export function withAliasTargets(plan: Plan, alias: string): Plan {
  // Lambda alias names: 1-128 of letters, digits, - and _, not only digits (CreateAlias API reference, Name).
  if (!/^(?!^[0-9]+$)[a-zA-Z0-9-_]{1,128}$/.test(alias)) {
    throw new RehearsalInputError(`--alias: ${JSON.stringify(alias)} is not an alias name (1 to 128 letters, digits, - or _, not only digits)`);
  }
  const qualified = plan.targets.filter((t) => parseTarget(t).alias !== undefined);
  if (qualified.length > 0) throw new RehearsalInputError(`--alias: targets ${qualified.join(', ')} already name an alias`);
  return { ...plan, targets: plan.targets.map((t) => `${t}:${alias}`) };
}

/** Timeline actions that summarize a scenario when the run ends (not streamed as they happen). */
const SCENARIO_ACTIONS = new Set(['alarm', 'drift', 'drift-detected', 'drift-result', 'llm-spend', 'llm-spend-detail']);

/** A post in the channel as a line of the timeline: its text on one line, and as a terminal shows it. */
function discordEntry(m: RecordedMessage, startedAt: number, names: DiscordNames): TimelineEntry {
  const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');
  const at = typeof m.createdAt === 'string' ? Date.parse(m.createdAt) : new Date(m.createdAt).getTime();
  return {
    atMs: at - startedAt,
    phase: null,
    action: 'discord',
    text: `#phasegate: ${lines(messageText(m)).join(' | ')}`,
    display: `#phasegate: ${lines(terminalText(m, names)).join('\n')}`,
  };
}

/** A daily report as a line of the timeline. */
function reportEntry(r: RehearsalReport, startedAt: number): TimelineEntry {
  return {
    atMs: r.at.getTime() - startedAt,
    phase: r.phase,
    action: 'daily-report',
    text: `daily report posted (an embed: ${r.recommendation.toLowerCase()})${r.imagePath ? `; its picture saved to ${r.imagePath}` : ', without a picture'}`,
  };
}

/** The drift scenario's lines of the timeline: the deploy, each event reaching the reconcile function, the repair. */
function driftTimeline(drift: DriftScenarioResult, phase: string, startedAt: number): TimelineEntry[] {
  const at = (iso: string): number => Date.parse(iso) - startedAt;
  const calls = drift.events.map((e) => e.detail.eventName).join(', ');
  const by = drift.events[0]?.detail.userIdentity?.arn ?? 'unknown';
  return [
    {
      atMs: at(drift.deployedAt),
      phase,
      action: 'drift',
      text: `${drift.target} redeployed by its own stack (${by}): its environment replaced, flags wiped: ${drift.wiped.join(', ') || 'none'}`,
    },
    {
      atMs: at(drift.detectedAt),
      phase,
      action: 'drift-detected',
      text: `CloudTrail -> EventBridge -> reconcile: ${calls} on ${drift.target}`,
    },
    {
      atMs: at(drift.finishedAt),
      phase,
      action: 'drift-result',
      text:
        drift.outcome === 'repaired'
          ? `drift on ${drift.target} repaired ${drift.repairMs} ms after the deploy's event`
          : `drift on ${drift.target} NOT repaired: ${JSON.stringify(drift.outcomes)}`,
    },
  ];
}

/**
 * The alarm-rollback function as this rehearsal's stack deploys it, started cold inside the scenario's environment:
 * the function reads the stage's features once per cold start, and an earlier rehearsal in this process (a test run)
 * may have loaded its module for another stack. The same ports and core the handler builds from that environment.
 */
const coldAlarmRollback = (async (event: unknown) =>
  handleAlarmEvent(alarmRollbackPortsFromEnv(), alarmRollbackContextFromEnv(), event, systemClock.now())) as NonNullable<
  Parameters<typeof raiseRollbackAlarm>[0]['handler']
>;

/** What a stuck run waited for: the rollout's status and phase, its last gate, and any refused decision. */
function describeStuck(state: RolloutState | undefined, refusals: readonly string[], limitMs: number): string {
  const where = state ? `${state.status} (${state.step}) in phase ${state.plan.phases[state.phaseIndex]?.name ?? '(none yet)'}` : 'not started';
  const gate = state?.lastGate ? `; last gate ${state.lastGate.decision}: ${state.lastGate.reasons.join('; ')}` : '';
  const paused = state?.paused ? `; paused by ${state.paused.by.name ?? state.paused.by.id}` : '';
  const refused = refusals.length > 0 ? `; refused: ${refusals.join('; ')}` : '';
  return `stuck: still ${where} after ${Math.round(limitMs / 1000)} s of wall-clock time${gate}${paused}${refused}`;
}

/** The phase that first turns an LLM sub-feature on, and that sub-feature. */
function llmPhaseOf(plan: Plan): { phase: string; subFeature: string } | undefined {
  const llmIds = new Set(plan.subFeatures.filter((s) => s.llm).map((s) => s.id));
  for (const phase of plan.phases) {
    const sub = Object.keys(phase.subFeatures).find((id) => llmIds.has(id));
    if (sub) return { phase: phase.name, subFeature: sub };
  }
  return undefined;
}
