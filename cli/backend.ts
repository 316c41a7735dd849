import { budgetStatus, llmSubFeatures, setDailyCap } from '../lambdas/core/budget/budget';
import { RefusedError } from '../lambdas/core/errors';
import { decide, pauseRollout, promoteRollout, requestRetry, requestStart, resumeRollout, type DecideResult, type Person, type PromoteResult, type RollbackOutcome, optInToPhase } from '../lambdas/core/rollout/operations';
import type { DecidePorts, ControlPorts, RollbackPorts, StartPorts } from '../lambdas/core/rollout/operations';
import type { PhasegateRole, Plan } from '../lambdas/core/plan/schema';
import { phaseReportOf } from '../lambdas/core/gates/daily-report';
import type { DriftLedger, FeatureBudgetStatus, LlmBudgetStore, MetricsReader, TargetInspection } from '../lambdas/core/ports';
import { verifyFeature, type FeatureVerification } from '../lambdas/core/drift/reconcile';
import { isReportable, type PhaseReport } from '../lambdas/core/gates/report';
import { requestRollback } from '../lambdas/core/rollback/rollback-request';
import type { Actor, AuditEvent, RolloutState } from '../lambdas/core/rollout/rollout-state';
import { ConfigError } from './errors';

/**
 * What the CLI's commands ask of a stage: read its rollouts and run the core operations as the caller. With AWS
 * this runs in the CLI's process ({@link CoreBackend} over AWS adapters); with `--local` it is a client of the
 * rehearsal's session server, which runs the same {@link CoreBackend} inside the rehearsal's process.
 */
export interface Backend {
  /** The stage operated on. */
  readonly stage: string;
  /** Where, for people: `stack phasegate-dev (eu-west-1)` or `the rehearsal at http://127.0.0.1:PORT`. */
  readonly where: string;
  /** The state of one feature, or of every feature of the stage (in the stage's order). */
  status(feature?: string): Promise<FeatureStatus[]>;
  /** A feature's audit trail, newest first. */
  history(feature: string, limit: number): Promise<AuditEvent[]>;
  decide(req: DecideCommand): Promise<DecideResult>;
  rollback(req: { feature: string; reason: string }): Promise<RollbackOutcome>;
  pause(req: { feature: string; reason?: string }): Promise<RolloutState>;
  resume(req: { feature: string }): Promise<RolloutState>;
  /** End the current phase's bake now; the phase's gate still decides. */
  promote(req: { feature: string }): Promise<PromoteResult>;
  start(req: { feature: string }): Promise<{ executionId: string }>;
  /** Start again after a rollback at phase `from` (default: the phase rolled back in), skipping the phases before it. */
  retry(req: { feature: string; from?: string }): Promise<{ executionId: string; phase: string; phaseIndex: number }>;
  budget(req: BudgetCommand): Promise<FeatureBudgetStatus>;
  /** The daily phase report of a feature's active rollout, made now. */
  report(feature: string): Promise<PhaseReport>;
  /** Per target: expected and actual flags, drift, last change (read-only). */
  verify(feature: string): Promise<FeatureVerification>;
  /** The plan a feature runs (its rollout's, else the deployed one) and what its targets (or `target` alone) serve now. */
  inspect(req: { feature: string; target?: string }): Promise<{ plan: Plan; targets: TargetInspection[] }>;
  /** Release connections. */
  close(): Promise<void>;
}

/** A feature and its rollout state; `state` is null when it never started. */
export interface FeatureStatus {
  readonly feature: string;
  readonly state: RolloutState | null;
}

/** `approve` / `reject` as asked on the command line. */
export interface DecideCommand {
  readonly feature: string;
  readonly decision: 'approve' | 'reject';
  readonly note?: string;
  /** The phase the caller means; the decision is refused when another phase (or none) waits. @default the waiting phase */
  readonly phase?: string;
  /** With an approval: also run this optional phase (the approver of the phase before opts in). @default - skipped */
  readonly optIn?: string;
}

/** `budget` as asked on the command line. */
export interface BudgetCommand {
  readonly feature: string;
  /** Change today's cap. */
  readonly set?: { readonly usd: number; readonly reason: string; readonly subFeature?: string };
}

/** Everything the core operations need, together. */
export type OperatorPorts = DecidePorts &
  RollbackPorts &
  ControlPorts &
  StartPorts & {
    readonly budgets?: LlmBudgetStore;
    /** Reads gate metrics for `report`. */
    readonly metrics?: MetricsReader;
    /** Drift records, for who last changed a target in `verify`. @default - not shown */
    readonly ledger?: DriftLedger;
  };

/** How a {@link CoreBackend} is wired. */
export interface CoreBackendConfig {
  readonly stage: string;
  readonly where: string;
  /** The stage's features, in order (the stack's state machines, or the rehearsal's plans). */
  readonly features: readonly string[];
  readonly ports: OperatorPorts;
  /** The caller, resolved when an operation needs it (STS GetCallerIdentity with AWS). */
  readonly caller: () => Promise<Actor>;
  /**
   * The feature's plan as deployed on the stage, whose `principals` say what roles the caller holds; undefined
   * when the stage has no such feature (the state record's plan is used then).
   */
  readonly deployedPlan: (feature: string) => Promise<Plan | undefined>;
  /** The Phasegate roles the caller holds under a plan. */
  readonly rolesOf: (plan: Plan | undefined, caller: Actor) => readonly PhasegateRole[];
  /** Called by {@link Backend.close}. */
  readonly close?: () => Promise<void>;
}

/**
 * The core operations (`decide`, `requestRollback`, `pauseRollout`, `resumeRollout`, `requestStart`) for one
 * caller, in this process. It only picks what the command line leaves implicit (the phase waiting, the
 * caller's roles); every rule and every audit record is the core's.
 */
export class CoreBackend implements Backend {
  constructor(private readonly config: CoreBackendConfig) {}

  get stage(): string {
    return this.config.stage;
  }

  get where(): string {
    return this.config.where;
  }

  async status(feature?: string): Promise<FeatureStatus[]> {
    const features = feature === undefined ? this.config.features : [feature];
    const states = await Promise.all(features.map((f) => this.config.ports.store.getState(f)));
    if (feature !== undefined && !states[0]) this.requireKnown(feature);
    return features.map((f, i) => ({ feature: f, state: states[i] ?? null }));
  }

  async history(feature: string, limit: number): Promise<AuditEvent[]> {
    const events = await this.config.ports.store.listAudit(feature, limit);
    if (events.length === 0) this.requireKnown(feature);
    return events;
  }

  async decide(req: DecideCommand): Promise<DecideResult> {
    const { state, actor } = await this.prepare(req.feature);
    // Without --phase the decision is for the phase the rollout is in; decide() refuses (and audits) it
    // unless that phase is the one waiting, and the execution id pins it to the rollout just read.
    const phase = req.phase ?? state?.plan.phases[Math.max(state.phaseIndex, 0)]?.name ?? '';
    if (req.optIn !== undefined && req.decision === 'approve') {
      await optInToPhase(this.config.ports, { feature: req.feature, phase: req.optIn, actor });
    }
    return decide(this.config.ports, {
      feature: req.feature,
      phase,
      decision: req.decision,
      actor,
      ...(req.note !== undefined ? { note: req.note } : {}),
      ...(state ? { executionId: state.executionId } : {}),
    });
  }

  async rollback(req: { feature: string; reason: string }): Promise<RollbackOutcome> {
    const { actor } = await this.prepare(req.feature);
    return requestRollback(this.config.ports, { feature: req.feature, reason: req.reason, actor });
  }

  async pause(req: { feature: string; reason?: string }): Promise<RolloutState> {
    const { actor } = await this.prepare(req.feature);
    return pauseRollout(this.config.ports, { ...req, actor });
  }

  async resume(req: { feature: string }): Promise<RolloutState> {
    const { actor } = await this.prepare(req.feature);
    return resumeRollout(this.config.ports, { feature: req.feature, actor });
  }

  async promote(req: { feature: string }): Promise<PromoteResult> {
    const { actor } = await this.prepare(req.feature);
    return promoteRollout(this.config.ports, { feature: req.feature, actor });
  }

  async start(req: { feature: string }): Promise<{ executionId: string }> {
    this.requireKnown(req.feature);
    return requestStart(this.config.ports, { feature: req.feature, actor: await this.person(req.feature), knownFeatures: this.config.features });
  }

  async retry(req: { feature: string; from?: string }): Promise<{ executionId: string; phase: string; phaseIndex: number }> {
    this.requireKnown(req.feature);
    return requestRetry(this.config.ports, {
      feature: req.feature,
      actor: await this.person(req.feature),
      knownFeatures: this.config.features,
      ...(req.from !== undefined ? { from: req.from } : {}),
    });
  }

  async budget(req: BudgetCommand): Promise<FeatureBudgetStatus> {
    const { ports } = this.config;
    const { state, actor } = await this.prepare(req.feature);
    const plan = (await this.config.deployedPlan(req.feature)) ?? state?.plan;
    if (!plan || !ports.budgets) throw new ConfigError('NOT_AVAILABLE', `LLM budgets of ${req.feature} cannot be read here (no plan or no budget store)`);
    const budgetPorts = { budgets: ports.budgets, clock: ports.clock, plans: [plan] };
    if (req.set) {
      const subs = llmSubFeatures(plan);
      // With one LLM sub-feature the command line need not name it; setDailyCap refuses (and audits) an unknown one.
      const subFeature = req.set.subFeature ?? (subs.length === 1 ? subs[0]!.id : undefined);
      if (subFeature === undefined && subs.length > 1) {
        throw new RefusedError('INVALID', `${req.feature} has ${subs.length} LLM sub-features (${subs.map((s) => s.id).join(', ')}): name one with --sub-feature`);
      }
      await setDailyCap(
        { ...budgetPorts, store: ports.store },
        { feature: req.feature, subFeature: subFeature ?? '', usd: req.set.usd, reason: req.set.reason, actor },
      );
    }
    return budgetStatus(budgetPorts, req.feature);
  }

  async report(feature: string): Promise<PhaseReport> {
    const { ports } = this.config;
    const state = await ports.store.getState(feature);
    if (!state) {
      this.requireKnown(feature);
      throw new RefusedError('NOT_FOUND', `${feature} has never rolled out on stage ${this.config.stage}: nothing to report`);
    }
    const report = isReportable(state.status)
      ? await phaseReportOf({ store: ports.store, clock: ports.clock, ...(ports.metrics ? { metrics: ports.metrics } : {}), ...(ports.budgets ? { budgets: ports.budgets } : {}) }, feature)
      : undefined;
    if (!report) {
      throw new RefusedError('NOT_FOUND', `${feature} has no active rollout on stage ${this.config.stage} (it is ${state.status}${state.phaseIndex < 0 ? ', before its first phase' : ''}): nothing to report`);
    }
    return report;
  }

  async verify(feature: string): Promise<FeatureVerification> {
    const { ports } = this.config;
    this.requireKnown(feature);
    return verifyFeature({ store: ports.store, flags: ports.flags, clock: ports.clock, ...(ports.ledger ? { ledger: ports.ledger } : {}) }, feature);
  }

  async inspect(req: { feature: string; target?: string }): Promise<{ plan: Plan; targets: TargetInspection[] }> {
    const state = await this.config.ports.store.getState(req.feature);
    const plan = state?.plan ?? (await this.config.deployedPlan(req.feature));
    if (!plan) {
      this.requireKnown(req.feature);
      throw new RefusedError('NOT_FOUND', `no plan of ${req.feature} found on stage ${this.config.stage}`);
    }
    if (req.target !== undefined && !plan.targets.includes(req.target)) {
      throw new RefusedError('NOT_FOUND', `${req.target} is not a target of ${req.feature} (targets: ${plan.targets.join(', ')})`);
    }
    return { plan, targets: await this.config.ports.flags.inspect(req.target !== undefined ? [req.target] : plan.targets) };
  }

  async close(): Promise<void> {
    await this.config.close?.();
  }

  /**
   * What an operation on a feature starts from: its state (refused when the stage does not have the feature and
   * it never rolled out) and the caller with their roles.
   */
  private async prepare(feature: string): Promise<{ state: RolloutState | undefined; actor: Person }> {
    const state = await this.config.ports.store.getState(feature);
    if (!state) this.requireKnown(feature);
    return { state, actor: await this.person(feature, state?.plan) };
  }

  /** The caller with the roles the deployed plan (or the rollout's own plan) gives them. */
  private async person(feature: string, rolloutPlan?: Plan): Promise<Person> {
    const [caller, deployed] = await Promise.all([this.config.caller(), this.config.deployedPlan(feature)]);
    return { ...caller, roles: this.config.rolesOf(deployed ?? rolloutPlan, caller) };
  }

  /** Refuses a feature the stage does not have, naming the ones it has. */
  private requireKnown(feature: string): void {
    if (this.config.features.includes(feature)) return;
    throw new RefusedError('NOT_FOUND', `stage ${this.config.stage} has no feature "${feature}" (features: ${this.config.features.join(', ') || 'none'})`);
  }
}
