import { RECONCILE_SCHEDULE_KIND } from '../contract';
import type { Clock } from '../ports';
import {
  causeOf,
  isOwnCall,
  noteTargetChange,
  parseLambdaApiCall,
  reconcileFeature,
  targetsTouched,
  unknownCause,
  type ReconcileOutcome,
  type ReconcilePorts,
} from './reconcile';

/**
 * The reconcile function's events: a Lambda API call on a target that CloudTrail recorded (EventBridge rule), and
 * the scheduled check (EventBridge Scheduler), the backstop for accounts without a trail that logs management events.
 */

/** What the reconcile function knows about its stage (from its environment). */
export interface ReconcileContext {
  readonly stage: string;
  /** The stage's features. */
  readonly features: readonly string[];
  /** IAM role ARNs of Phasegate's own functions: their calls are Phasegate's own writes. */
  readonly ownRoles: readonly string[];
}

/** What one event did. */
export type ReconcileEventOutcome =
  | { readonly outcome: 'ignored'; readonly reason: string }
  | { readonly outcome: 'reconciled'; readonly trigger: 'cloudtrail' | 'schedule'; readonly features: readonly ReconcileOutcome[] };

/** The scheduled check's event. */
export function isScheduledReconcile(event: unknown): boolean {
  return (event as { kind?: unknown } | null)?.kind === RECONCILE_SCHEDULE_KIND;
}

/**
 * Handle one event. A CloudTrail call by Phasegate's own roles, a failed call, and a call on a function no feature
 * targets are ignored (the rule already leaves Phasegate's roles out; this is the second line). A call on a target
 * reconciles that target for every feature that has it; the scheduled check reconciles every target of every feature
 * in progress or rolled back. Features are reconciled one after the other: they share the Lambda API quota.
 */
export async function handleReconcileEvent(
  ports: ReconcilePorts & { readonly clock: Clock },
  context: ReconcileContext,
  event: unknown,
  receivedAt: Date = ports.clock.now(),
): Promise<ReconcileEventOutcome> {
  if (isScheduledReconcile(event)) {
    const features: ReconcileOutcome[] = [];
    for (const feature of context.features) {
      features.push(await reconcileFeature(ports, { feature, cause: unknownCause('schedule'), receivedAt }));
    }
    return { outcome: 'reconciled', trigger: 'schedule', features };
  }
  const call = parseLambdaApiCall(event);
  if ('problem' in call) return { outcome: 'ignored', reason: call.problem };
  if (isOwnCall(call, context.ownRoles)) return { outcome: 'ignored', reason: `${call.detail.eventName} was Phasegate's own call` };
  const plans = await Promise.all(
    context.features.map(async (feature) => ({ feature, targets: (await ports.store.getState(feature))?.plan.targets ?? [] })),
  );
  const touched = targetsTouched(call, plans);
  if (touched.length === 0) return { outcome: 'ignored', reason: `${call.detail.requestParameters?.functionName} is not a target of stage ${context.stage}` };
  const cause = causeOf(call);
  const eventTime = cause.at ? new Date(cause.at) : receivedAt;
  const features: ReconcileOutcome[] = [];
  for (const { feature, targets } of touched) {
    const outcome = await reconcileFeature(ports, { feature, cause, targets, receivedAt: eventTime.getTime() <= receivedAt.getTime() ? eventTime : receivedAt });
    features.push(outcome);
    // A change that caused no drift is still the target's last change: `verify` shows who made it.
    if (ports.ledger && outcome.outcome !== 'repaired') {
      for (const target of targets) await noteTargetChange(ports.ledger, feature, target, { by: cause.by, ...(cause.eventName ? { eventName: cause.eventName } : {}), at: cause.at ?? receivedAt.toISOString() });
    }
  }
  return { outcome: 'reconciled', trigger: 'cloudtrail', features };
}
