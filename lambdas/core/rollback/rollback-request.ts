import { authorize } from '../rollout/authorize';
import { RefusedError } from '../errors';
import { rollBack, type Person, type RollbackOutcome, type RollbackPorts } from '../rollout/operations';
import { refusalEvent } from '../rollout/rollout-state';

/**
 * A person asks for a rollback (from the CLI or a chat command). {@link rollBack} itself trusts its caller (the
 * state machine, an alarm); this checks the person first, with the same rules and the same audit trail as the
 * other operations people invoke: a refusal changes nothing and is on record.
 */

/** A rollback request by a person. */
export interface RollbackRequest {
  readonly feature: string;
  readonly actor: Person;
  /** Why: required, it is what the audit trail and the notification say. */
  readonly reason: string;
}

/**
 * Roll a feature back for a person: refused (and audited) unless they hold a role that may roll back
 * (`on-call` or `admin`) and give a reason; then exactly {@link rollBack}, recorded under their name.
 */
export async function requestRollback(ports: RollbackPorts, req: RollbackRequest): Promise<RollbackOutcome> {
  const { store, clock } = ports;
  const state = await store.getState(req.feature);
  if (!state) throw new RefusedError('NOT_FOUND', `feature "${req.feature}" has no rollout`);
  const allowed = authorize('rollback', req.actor);
  const refusal = !allowed.ok
    ? new RefusedError('FORBIDDEN', allowed.reason)
    : !req.reason.trim()
      ? new RefusedError('INVALID', 'a rollback needs a reason')
      : undefined;
  const actor = { id: req.actor.id, name: req.actor.name, via: req.actor.via };
  if (refusal) {
    await store.appendAudit(refusalEvent({ feature: req.feature, state, actor, at: clock.now().toISOString(), request: 'rollback', error: refusal }));
    throw refusal;
  }
  return rollBack(ports, { feature: req.feature, actor, reason: req.reason.trim() });
}
