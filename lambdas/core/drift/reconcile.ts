import { LAMBDA_API_CALL } from '../contract';
import { ConflictError } from '../errors';
import { phaseFlagValues, safeFlagValues } from '../flags/flags';
import {
  notifySafely,
  type Clock,
  type DriftLedger,
  type DriftRecord,
  type FlagWriter,
  type Notifier,
  type RolloutStore,
  type TargetChange,
} from '../ports';
import { absentIsSafe } from '../rollback/rollback';
import { SYSTEM_ACTOR, phaseName, type RolloutState, type RolloutStep } from '../rollout/rollout-state';

/**
 * Drift: a target's own deploy (`sam deploy`, `cdk deploy`, `terraform apply`, a console edit) replaces its whole
 * environment and with it the flags Phasegate wrote. Reconciling reads what each target serves, compares it with what
 * the feature's state says it must hold, waits until the target is no longer being updated (so a repair never
 * collides with the deploy that caused it), writes back only the variables that differ, audits and announces it, and
 * backs off a target that keeps drifting instead of fighting its pipeline.
 */

/** Steps of a running rollout whose phase's flags are on every target (before: being written; the apply step owns them). */
const SETTLED_STEPS: readonly RolloutStep[] = ['baking', 'gating', 'awaiting-approval', 'approved'];

/** What the targets of a feature must hold, and on what grounds. */
export interface ExpectedFlags {
  readonly values: Readonly<Record<string, string>>;
  /** Variables whose expected value is the off value: a target without them reads them as off, which is what it must hold. */
  readonly absentIsSafe: readonly string[];
  /** `phase`: the current phase's flags; `safe`: the rollback's safe values; `completed`: the last phase's flags. */
  readonly basis: 'phase' | 'safe' | 'completed';
  /** The phase the values belong to, for people. */
  readonly phase: string | null;
}

/**
 * Pure: what the targets must hold now. RUNNING or AWAITING_APPROVAL once the phase's flags are written: the phase's
 * flags, sub-features rolled back on their own off. ROLLED_BACK: the safe values the rollback wrote. COMPLETED: the last
 * phase's flags. Undefined while flags are being written (a phase being applied, a rollback running or failed), and
 * before the first phase.
 */
export function expectedFlagsOf(state: RolloutState): ExpectedFlags | undefined {
  const options = { subFeaturesOff: state.subFeaturesOff };
  if ((state.status === 'RUNNING' || state.status === 'AWAITING_APPROVAL') && state.phaseIndex >= 0 && SETTLED_STEPS.includes(state.step)) {
    return { values: phaseFlagValues(state.plan, state.phaseIndex, options), absentIsSafe: [], basis: 'phase', phase: phaseName(state.plan, state.phaseIndex) };
  }
  if (state.status === 'COMPLETED') {
    const last = state.plan.phases.length - 1;
    return { values: phaseFlagValues(state.plan, last, options), absentIsSafe: [], basis: 'completed', phase: phaseName(state.plan, last) };
  }
  if (state.status === 'ROLLED_BACK') {
    const values = state.safeFlags ?? safeFlagValues(state.plan, Math.max(state.phaseIndex, 0), options);
    return { values, absentIsSafe: absentIsSafe(state.plan, values), basis: 'safe', phase: null };
  }
  return undefined;
}

/** Whether Phasegate repairs drift of a feature in this state: a rollout in progress, or rolled back. */
export function repairsDrift(state: RolloutState): boolean {
  return state.status !== 'COMPLETED' && expectedFlagsOf(state) !== undefined;
}

/** One variable a target does not hold as expected. */
export interface FlagDrift {
  readonly name: string;
  readonly expected: string;
  /** null: the variable is absent. */
  readonly actual: string | null;
}

/** Pure: the variables of `expected` that `variables` does not hold (absent counts as held for `absentIsSafe`). */
export function driftOf(expected: ExpectedFlags, variables: Readonly<Record<string, string>>): FlagDrift[] {
  return Object.entries(expected.values).flatMap(([name, value]) => {
    const actual = Object.prototype.hasOwnProperty.call(variables, name) ? variables[name]! : null;
    if (actual === value || (actual === null && expected.absentIsSafe.includes(name))) return [];
    return [{ name, expected: value, actual }];
  });
}

/** One target as `verify` shows it. */
export interface TargetVerification {
  readonly target: string;
  /** False when the target could not be read (`error` says why). */
  readonly readable: boolean;
  readonly error?: string;
  /** Every variable the feature owns: expected and actual value (null: absent). */
  readonly flags: readonly FlagDrift[];
  readonly drift: readonly FlagDrift[];
  readonly lastModified?: string;
  readonly lastUpdateStatus?: string;
  /** For an alias target: the version it points to. */
  readonly version?: string;
  /** The last change by someone else that Phasegate saw (from CloudTrail), when it saw one. */
  readonly lastChange?: TargetChange;
  /** Set while Phasegate leaves this target's drift alone (it kept drifting). */
  readonly backoffUntil?: string;
}

/** What `verify` reports for one feature. */
export interface FeatureVerification {
  readonly feature: string;
  readonly stage?: string;
  /** null when the feature never rolled out. */
  readonly status: string | null;
  readonly phase: string | null;
  readonly basis?: ExpectedFlags['basis'];
  /** Why nothing is compared (no rollout, flags being written). */
  readonly note?: string;
  readonly targets: readonly TargetVerification[];
  /** True when any target drifts or cannot be read. */
  readonly drifted: boolean;
  readonly checkedAt: string;
}

/** What {@link verifyFeature} reads. */
export interface VerifyPorts {
  readonly store: Pick<RolloutStore, 'getState'>;
  readonly flags: Pick<FlagWriter, 'inspect'>;
  readonly clock: Clock;
  readonly ledger?: Pick<DriftLedger, 'get'>;
}

/**
 * Read-only: per target (and alias), the expected and actual value of every flag variable of the feature, the drift,
 * and when and by whom the target was last changed.
 */
export async function verifyFeature(ports: VerifyPorts, feature: string): Promise<FeatureVerification> {
  const state = await ports.store.getState(feature);
  const checkedAt = ports.clock.now().toISOString();
  if (!state) return { feature, status: null, phase: null, note: `${feature} never rolled out: no flags are expected`, targets: [], drifted: false, checkedAt };
  const expected = expectedFlagsOf(state);
  const base = { feature, stage: state.stage, status: state.status, phase: phaseName(state.plan, state.phaseIndex), checkedAt };
  if (!expected) {
    return { ...base, note: `${feature} is ${state.status} (${state.step}): its flags are being written, nothing to compare yet`, targets: [], drifted: false };
  }
  const [inspections, records] = await Promise.all([
    ports.flags.inspect(state.plan.targets),
    Promise.all(state.plan.targets.map((t) => ports.ledger?.get(feature, t))),
  ]);
  const targets = inspections.map((inspection, i): TargetVerification => {
    const record = records[i];
    const extra = {
      ...(record?.lastChange ? { lastChange: record.lastChange } : {}),
      ...(record?.backoffUntil && Date.parse(record.backoffUntil) > Date.parse(checkedAt) ? { backoffUntil: record.backoffUntil } : {}),
    };
    if (!inspection.ok) return { target: inspection.target, readable: false, error: inspection.error ?? 'unreadable', flags: [], drift: [], ...extra };
    const variables = inspection.variables ?? {};
    const flags = Object.entries(expected.values).map(([name, value]) => ({ name, expected: value, actual: variables[name] ?? null }));
    return {
      target: inspection.target,
      readable: true,
      flags,
      drift: driftOf(expected, variables),
      ...(inspection.lastModified ? { lastModified: inspection.lastModified } : {}),
      ...(inspection.lastUpdateStatus ? { lastUpdateStatus: inspection.lastUpdateStatus } : {}),
      ...(inspection.version ? { version: inspection.version } : {}),
      ...extra,
    };
  });
  return { ...base, basis: expected.basis, targets, drifted: targets.some((t) => !t.readable || t.drift.length > 0) };
}

/** How drift was found: a CloudTrail event of someone's call, the scheduled check, the gate. */
export interface DriftCause {
  /** Who changed the target, as far as known. */
  readonly by: string;
  readonly eventName?: string;
  /** When the change was made (the event's time), ISO 8601. */
  readonly at?: string;
  readonly via: 'cloudtrail' | 'schedule' | 'gate' | 'rehearsal';
}

/** The cause recorded when drift is found by a check rather than reported by CloudTrail. */
export function unknownCause(via: 'schedule' | 'gate'): DriftCause {
  return { by: via === 'schedule' ? 'unknown (found by the scheduled check)' : 'unknown (found at the gate)', via };
}

/** How Phasegate backs off a target that keeps drifting. */
export interface DriftBackoffPolicy {
  /** Repairs of one target within {@link DriftBackoffPolicy.windowMs} before Phasegate backs off. */
  readonly maxRepairs: number;
  readonly windowMs: number;
  /** The first back-off; each further one doubles, up to {@link DriftBackoffPolicy.maxBackoffMs}. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
}

/** 3 repairs in 30 minutes, then leave it alone for 15 minutes, 30, 60, ... at most 4 hours. */
export const DRIFT_BACKOFF: DriftBackoffPolicy = { maxRepairs: 3, windowMs: 30 * 60_000, backoffMs: 15 * 60_000, maxBackoffMs: 4 * 60 * 60_000 };

/** What to do with a drifting target, and its record afterwards. */
export type RepairDecision =
  | { readonly action: 'repair'; readonly record: DriftRecord }
  | { readonly action: 'backing-off'; readonly until: string }
  | { readonly action: 'back-off'; readonly record: DriftRecord; readonly announce: boolean; readonly repairs: number };

/**
 * Pure: repair a drifting target, or back off. A target repaired `maxRepairs` times within the window is left alone
 * for the back-off time, which doubles with each back-off in a row; the channel is told once per streak. A streak
 * ends when a target has not needed a repair for two windows.
 */
export function decideRepair(previous: DriftRecord | undefined, feature: string, target: string, now: Date, policy: DriftBackoffPolicy = DRIFT_BACKOFF): RepairDecision {
  const t = now.getTime();
  if (previous?.backoffUntil && Date.parse(previous.backoffUntil) > t) return { action: 'backing-off', until: previous.backoffUntil };
  const base: DriftRecord = previous ?? { feature, target, version: 0, repairs: [], backoffLevel: 0 };
  const last = base.repairs.length > 0 ? Date.parse(base.repairs[base.repairs.length - 1]!) : undefined;
  const lastBackoff = base.backoffUntil ? Date.parse(base.backoffUntil) : undefined;
  const quiet = (last === undefined || t - last > 2 * policy.windowMs) && (lastBackoff === undefined || t - lastBackoff > 2 * policy.windowMs);
  const streak = quiet ? { backoffLevel: 0, announcedAt: undefined } : {};
  const current: DriftRecord = { ...base, ...streak, repairs: base.repairs.filter((at) => t - Date.parse(at) < policy.windowMs) };
  if (current.repairs.length >= policy.maxRepairs) {
    const level = current.backoffLevel + 1;
    const until = new Date(t + Math.min(policy.backoffMs * 2 ** (level - 1), policy.maxBackoffMs)).toISOString();
    const announce = current.announcedAt === undefined;
    return {
      action: 'back-off',
      announce,
      repairs: current.repairs.length,
      record: { ...current, version: base.version + 1, repairs: [], backoffLevel: level, backoffUntil: until, ...(announce ? { announcedAt: now.toISOString() } : {}) },
    };
  }
  const { backoffUntil: _expired, ...rest } = current;
  return { action: 'repair', record: { ...rest, version: base.version + 1, repairs: [...current.repairs, now.toISOString()] } };
}

/** What {@link reconcileFeature} needs. */
export interface ReconcilePorts {
  readonly store: RolloutStore;
  readonly flags: FlagWriter;
  readonly clock: Clock;
  readonly notifier?: Notifier;
  /** Repairs per target and back-off. @default - none: every drift is repaired (the gate, which runs once per bake) */
  readonly ledger?: DriftLedger;
  /** Waits between reads of a target still being updated. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Stop waiting and writing here. @default 60 s from the start */
  readonly deadline?: Date;
}

/** What started a reconcile. */
export interface ReconcileInput {
  readonly feature: string;
  readonly cause: DriftCause;
  /** Only these targets (those a CloudTrail event names), as the plan names them. @default every target */
  readonly targets?: readonly string[];
  /** When the change happened or was reported: the repair time counts from here. @default now */
  readonly receivedAt?: Date;
}

/** One target's outcome. */
export interface TargetReconcile {
  readonly target: string;
  readonly outcome: 'in-sync' | 'repaired' | 'backing-off' | 'backed-off' | 'unreadable' | 'failed' | 'still-updating';
  readonly drift: readonly FlagDrift[];
  readonly error?: string;
}

/** What a reconcile did. */
export interface ReconcileOutcome {
  readonly feature: string;
  /** `inactive`: nothing to hold the targets to (no rollout, flags being written, completed); `repaired`: drift found and put back. */
  readonly outcome: 'inactive' | 'in-sync' | 'repaired' | 'incomplete';
  readonly reason?: string;
  readonly targets: readonly TargetReconcile[];
  /** `receivedAt` -> every drifting target repaired, when drift was repaired. */
  readonly repairMs?: number;
}

/** How often a target still being updated is read again, in ms. */
const UPDATE_POLL_MS = 500;

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Hold a feature's targets to what its state says they must serve. Reads every target (or those named), waits while
 * one is being updated, and writes back only the variables that differ, through the flag writer (best effort per
 * target, rollback priority). A feature whose state moved on meanwhile (a new phase being applied, a rollback) is left
 * to the step doing that. Audits `drift-repaired` (who changed it and what) and posts it; a target past the back-off
 * policy is left alone, announced once.
 */
export async function reconcileFeature(ports: ReconcilePorts, input: ReconcileInput): Promise<ReconcileOutcome> {
  const { store, flags, clock } = ports;
  const receivedAt = input.receivedAt ?? clock.now();
  const deadline = ports.deadline ?? new Date(clock.now().getTime() + 60_000);
  const sleep = ports.sleep ?? defaultSleep;
  const state = await store.getState(input.feature);
  if (!state) return { feature: input.feature, outcome: 'inactive', reason: 'no rollout', targets: [] };
  if (!repairsDrift(state)) return { feature: input.feature, outcome: 'inactive', reason: `${state.status} (${state.step})`, targets: [] };
  const targets = input.targets ? state.plan.targets.filter((t) => input.targets!.includes(t)) : state.plan.targets;
  if (targets.length === 0) return { feature: input.feature, outcome: 'in-sync', targets: [] };

  // Wait out updates in progress (the deploy that caused the event): the repair lands after it, never under it.
  let inspections = await flags.inspect(targets);
  while (inspections.some((i) => i.ok && i.lastUpdateStatus === 'InProgress') && clock.now().getTime() + UPDATE_POLL_MS < deadline.getTime()) {
    await sleep(UPDATE_POLL_MS);
    const busy = inspections.filter((i) => i.ok && i.lastUpdateStatus === 'InProgress').map((i) => i.target);
    const again = new Map((await flags.inspect(busy)).map((i) => [i.target, i]));
    inspections = inspections.map((i) => again.get(i.target) ?? i);
  }

  // The state may have moved while the targets were read (a phase applied, a rollback): hold them to the latest.
  const fresh = (await store.getState(input.feature)) ?? state;
  const expected = repairsDrift(fresh) ? expectedFlagsOf(fresh) : undefined;
  if (!expected) return { feature: input.feature, outcome: 'inactive', reason: `${fresh.status} (${fresh.step})`, targets: [] };

  const now = clock.now();
  const results = new Map<string, TargetReconcile>();
  const toRepair: { target: string; drift: FlagDrift[]; record?: { previous: DriftRecord | undefined; next: DriftRecord } }[] = [];
  const backoffs: { target: string; decision: Extract<RepairDecision, { action: 'back-off' }>; previous: DriftRecord | undefined }[] = [];
  for (const inspection of inspections) {
    const target = inspection.target;
    if (!inspection.ok) {
      results.set(target, { target, outcome: 'unreadable', drift: [], error: inspection.error ?? 'unreadable' });
      continue;
    }
    const drift = driftOf(expected, inspection.variables ?? {});
    if (inspection.lastUpdateStatus === 'InProgress') {
      results.set(target, { target, outcome: 'still-updating', drift, error: `still being updated (since ${inspection.lastModified ?? 'an unknown time'})` });
      continue;
    }
    if (drift.length === 0) {
      results.set(target, { target, outcome: 'in-sync', drift });
      continue;
    }
    if (!ports.ledger) {
      toRepair.push({ target, drift });
      continue;
    }
    const previous = await ports.ledger.get(input.feature, target);
    const decision = decideRepair(previous, input.feature, target, now);
    if (decision.action === 'backing-off') results.set(target, { target, outcome: 'backing-off', drift, error: `backing off until ${decision.until}` });
    else if (decision.action === 'back-off') {
      results.set(target, { target, outcome: 'backed-off', drift, error: `backing off until ${decision.record.backoffUntil}` });
      backoffs.push({ target, decision, previous });
    } else toRepair.push({ target, drift, record: { previous, next: withChange(decision.record, input.cause) } });
  }

  const writes = await Promise.all(
    toRepair.map(async ({ target, drift }) => {
      const values = Object.fromEntries(drift.map((d) => [d.name, d.expected]));
      const report = await flags.forceAll([target], values, { deadline, absentIsSafe: expected.absentIsSafe });
      return report.results[0] ?? { functionName: target, ok: false, changed: [], ms: 0, error: 'no result' };
    }),
  );
  const repairedAt = clock.now();
  toRepair.forEach(({ target, drift }, i) => {
    const w = writes[i]!;
    results.set(target, w.ok ? { target, outcome: 'repaired', drift } : { target, outcome: 'failed', drift, error: w.error ?? 'unknown' });
  });

  for (const r of toRepair) if (r.record && results.get(r.target)?.outcome === 'repaired') await saveRecord(ports.ledger!, r.record.previous, r.record.next);
  for (const b of backoffs) await saveRecord(ports.ledger!, b.previous, withChange(b.decision.record, input.cause));

  const ordered = inspections.map((i) => results.get(i.target)!);
  const repaired = ordered.filter((r) => r.outcome === 'repaired');
  const failed = ordered.filter((r) => r.outcome === 'failed' || r.outcome === 'still-updating');
  const phase = phaseName(fresh.plan, fresh.phaseIndex);
  const repairMs = Math.max(0, repairedAt.getTime() - receivedAt.getTime());
  if (repaired.length > 0 || failed.some((f) => f.drift.length > 0)) {
    const what = repaired.map((r) => `${r.target} (${r.drift.map((d) => d.name).join(', ')})`).join('; ');
    await store.appendAudit({
      feature: input.feature,
      at: repairedAt.toISOString(),
      actor: SYSTEM_ACTOR,
      action: 'drift-repaired',
      executionId: fresh.executionId,
      fromPhase: phase,
      toPhase: phase,
      message:
        `drift repaired on ${repaired.length} target(s), changed by ${input.cause.by}${input.cause.eventName ? ` (${input.cause.eventName})` : ''}` +
        `${what ? `: ${what}` : ''}${failed.length ? `; not repaired yet: ${failed.map((f) => `${f.target} (${f.error})`).join(', ')}` : ''}`,
      detail: {
        cause: { ...input.cause },
        expected: expected.basis,
        targets: ordered.filter((r) => r.drift.length > 0).map((r) => ({ target: r.target, outcome: r.outcome, drift: r.drift, ...(r.error ? { error: r.error } : {}) })),
        repairMs,
      },
    });
    await notifySafely(ports.notifier, {
      kind: 'drift-repaired',
      feature: input.feature,
      stage: fresh.stage,
      executionId: fresh.executionId,
      changedBy: input.cause.by,
      ...(input.cause.eventName ? { eventName: input.cause.eventName } : {}),
      targets: repaired.map((r) => ({ target: r.target, variables: r.drift })),
      failedTargets: failed.map((f) => ({ target: f.target, error: f.error ?? 'unknown' })),
      repairMs,
    });
  }
  for (const b of backoffs) {
    const until = b.decision.record.backoffUntil!;
    await store.appendAudit({
      feature: input.feature,
      at: now.toISOString(),
      actor: SYSTEM_ACTOR,
      action: 'drift-backed-off',
      executionId: fresh.executionId,
      fromPhase: phase,
      toPhase: phase,
      message: `${b.target} keeps drifting (${b.decision.repairs} repairs in ${DRIFT_BACKOFF.windowMs / 60_000} min, last change by ${input.cause.by}): left as it is until ${until}`,
      detail: { target: b.target, repairs: b.decision.repairs, until, level: b.decision.record.backoffLevel, cause: { ...input.cause } },
    });
    if (b.decision.announce) {
      await notifySafely(ports.notifier, {
        kind: 'drift-backoff',
        feature: input.feature,
        stage: fresh.stage,
        executionId: fresh.executionId,
        target: b.target,
        repairs: b.decision.repairs,
        windowMinutes: DRIFT_BACKOFF.windowMs / 60_000,
        until,
        changedBy: input.cause.by,
      });
    }
  }
  const incomplete = ordered.some((r) => r.outcome === 'failed' || r.outcome === 'still-updating' || r.outcome === 'unreadable');
  return {
    feature: input.feature,
    outcome: incomplete ? 'incomplete' : repaired.length > 0 ? 'repaired' : 'in-sync',
    targets: ordered,
    ...(repaired.length > 0 ? { repairMs } : {}),
  };
}

function withChange(record: DriftRecord, cause: DriftCause): DriftRecord {
  return cause.via === 'cloudtrail' ? { ...record, lastChange: { by: cause.by, ...(cause.eventName ? { eventName: cause.eventName } : {}), at: cause.at ?? new Date().toISOString() } } : record;
}

/** Store a drift record; a concurrent reconcile of the same target that wrote first wins (its repair is the same). */
async function saveRecord(ledger: DriftLedger, previous: DriftRecord | undefined, next: DriftRecord): Promise<void> {
  try {
    await ledger.put(previous, next);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
  }
}

/** Record the last change someone else made to a target, without reconciling (an event that caused no drift). */
export async function noteTargetChange(ledger: DriftLedger, feature: string, target: string, change: TargetChange): Promise<void> {
  const previous = await ledger.get(feature, target);
  const base: DriftRecord = previous ?? { feature, target, version: 0, repairs: [], backoffLevel: 0 };
  await saveRecord(ledger, previous, { ...base, version: base.version + 1, lastChange: change });
}

/** A Lambda API call as CloudTrail delivers it to EventBridge (the fields Phasegate reads). */
export interface LambdaApiCallEvent {
  readonly 'detail-type': string;
  readonly source: string;
  readonly time?: string;
  readonly detail: {
    readonly eventName: string;
    readonly eventSource?: string;
    readonly eventTime?: string;
    readonly errorCode?: string;
    readonly userIdentity?: {
      readonly type?: string;
      readonly arn?: string;
      readonly principalId?: string;
      readonly invokedBy?: string;
      readonly sessionContext?: { readonly sessionIssuer?: { readonly arn?: string; readonly userName?: string } };
    };
    /** Environment values may be redacted here; Phasegate reads only the function name and reads the target itself. */
    readonly requestParameters?: { readonly functionName?: string } | null;
  };
}

/** Read an EventBridge event as a Lambda API call that may change a target, or say why it is not one. */
export function parseLambdaApiCall(event: unknown): LambdaApiCallEvent | { problem: string } {
  const e = event as Partial<LambdaApiCallEvent> | null | undefined;
  if (!e || typeof e !== 'object') return { problem: 'the event is not an object' };
  if (e.source !== LAMBDA_API_CALL.source || e['detail-type'] !== LAMBDA_API_CALL.detailType) {
    return { problem: `not a Lambda API call via CloudTrail (source ${String(e.source)}, detail-type ${String(e['detail-type'])})` };
  }
  const name = e.detail?.eventName;
  if (typeof name !== 'string' || !LAMBDA_API_CALL.eventNamePrefixes.some((p) => name.startsWith(p))) {
    return { problem: `event ${String(name)} does not change a function's configuration` };
  }
  if (e.detail?.errorCode) return { problem: `${name} failed (${e.detail.errorCode}): nothing changed` };
  if (typeof e.detail?.requestParameters?.functionName !== 'string') return { problem: `${name} names no function` };
  return e as LambdaApiCallEvent;
}

/** `UpdateFunctionConfiguration20150331v2` -> `UpdateFunctionConfiguration`. */
export function apiCallName(eventName: string): string {
  return LAMBDA_API_CALL.eventNamePrefixes.find((p) => eventName.startsWith(p)) ?? eventName;
}

/**
 * The function a name, ARN, partial ARN or qualified name refers to: `arn:aws:lambda:r:a:function:fn:alias`,
 * `a:function:fn`, `fn:alias` and `fn` are all `fn`. Plan targets and the names in events are matched on it.
 */
export function functionNameOf(reference: string): string {
  const parts = reference.split(':');
  if (reference.startsWith('arn:')) return parts[6] ?? reference;
  if (parts.length >= 3 && parts[1] === 'function') return parts[2]!;
  return parts[0]!;
}

/** Whether the call was made by one of Phasegate's own roles (its own flag writes are never drift). */
export function isOwnCall(event: LambdaApiCallEvent, ownRoleArns: readonly string[]): boolean {
  const identity = event.detail.userIdentity;
  const issuer = identity?.sessionContext?.sessionIssuer?.arn;
  if (issuer && ownRoleArns.includes(issuer)) return true;
  // `arn:aws:sts::<account>:assumed-role/<role name>/<session>`: the role a session was issued by.
  const assumed = identity?.arn?.match(/:assumed-role\/([^/]+)\//)?.[1];
  return assumed !== undefined && ownRoleArns.some((arn) => arn.endsWith(`/${assumed}`));
}

/** Who made the call, for people: the principal's ARN, and the service it went through (CloudFormation). */
export function callerOf(event: LambdaApiCallEvent): string {
  const identity = event.detail.userIdentity;
  const who = identity?.arn ?? identity?.principalId ?? identity?.type ?? 'unknown principal';
  return identity?.invokedBy ? `${who} via ${identity.invokedBy}` : who;
}

/** The features (and their targets) a call touches: plan targets whose function is the one the call names. */
export function targetsTouched(event: LambdaApiCallEvent, plans: readonly { feature: string; targets: readonly string[] }[]): { feature: string; targets: string[] }[] {
  const fn = functionNameOf(event.detail.requestParameters!.functionName!);
  return plans.flatMap((p) => {
    const targets = p.targets.filter((t) => functionNameOf(t) === fn);
    return targets.length > 0 ? [{ feature: p.feature, targets }] : [];
  });
}

/** The {@link DriftCause} of a CloudTrail event. */
export function causeOf(event: LambdaApiCallEvent): DriftCause {
  const at = event.detail.eventTime ?? event.time;
  return { by: callerOf(event), eventName: apiCallName(event.detail.eventName), via: 'cloudtrail', ...(at ? { at } : {}) };
}
