import { METRICS } from '../contract';
import type { PhasegateMetric } from '../ports';
import type { AuditEvent } from './rollout-state';

/** Which audit actions are counted as which metric, with the extra dimension that tells them apart. */
const COUNTED: Readonly<Partial<Record<AuditEvent['action'], { name: string; dimension?: [string, string] }>>> = {
  'phase-started': { name: METRICS.phaseChanges },
  approved: { name: METRICS.approvals, dimension: ['Decision', 'approve'] },
  rejected: { name: METRICS.approvals, dimension: ['Decision', 'reject'] },
  'rolled-back': { name: METRICS.rollbacks, dimension: ['Outcome', 'rolled-back'] },
  'sub-feature-rolled-back': { name: METRICS.rollbacks, dimension: ['Outcome', 'sub-feature-rolled-back'] },
  'rollback-failed': { name: METRICS.rollbacks, dimension: ['Outcome', 'failed'] },
};

/**
 * Pure: the metric an audit event counts toward (phase changes, approvals by decision, rollbacks by outcome),
 * dimensioned by feature and stage, or undefined for events that are not counted.
 */
export function metricForEvent(event: AuditEvent, stage: string): PhasegateMetric | undefined {
  const counted = COUNTED[event.action];
  if (!counted) return undefined;
  return {
    name: counted.name,
    value: 1,
    unit: 'Count',
    dimensions: {
      [METRICS.dimensions.feature]: event.feature,
      [METRICS.dimensions.stage]: stage,
      ...(counted.dimension ? { [counted.dimension[0]]: counted.dimension[1] } : {}),
    },
    at: new Date(event.at),
  };
}
