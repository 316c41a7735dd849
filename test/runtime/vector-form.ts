import type { FlagEvaluation } from 'phasegate/runtime';

/** An evaluation in the form of docs/flags-vectors.json: the bucket in units, the parent's reason only. */
export function vectorOf(e: FlagEvaluation): Record<string, unknown> {
  return {
    enabled: e.enabled,
    reason: e.reason,
    ...(e.variable !== undefined ? { variable: e.variable } : {}),
    ...(e.decidedBy !== undefined ? { decidedBy: e.decidedBy } : {}),
    ...(e.bucket !== undefined ? { bucket: Math.round(e.bucket * 1000) } : {}),
    ...(e.parent !== undefined ? { parentReason: e.parent.reason } : {}),
  };
}
