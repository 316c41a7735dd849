/**
 * `phasegate/runtime/openfeature`: an OpenFeature server provider over the Phasegate flag reader, so target
 * functions can use the standard API (`client.getBooleanValue('ux-update', false, { targetingKey, role })`).
 * Evaluation is the runtime reader's: environment variables only, no I/O on the hot path.
 *
 * @example
 * ```ts
 * import { OpenFeature } from '@openfeature/server-sdk';
 * import { PhasegateProvider } from 'phasegate/runtime/openfeature';
 *
 * await OpenFeature.setProviderAndWait(new PhasegateProvider({ flags: { 'ux-update': { enabled: { name: 'DISABLE_UX_UPDATES', inverted: true } } } }));
 * const client = OpenFeature.getClient();
 * const on = await client.getBooleanValue('ux-update', false, { targetingKey: user.id, role: user.role });
 * ```
 *
 * @packageDocumentation
 */
import {
  ErrorCode,
  StandardResolutionReasons,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import { createFlagReader, type FlagEvaluation, type FlagReader, type FlagReaderOptions, type FlagReason } from './index';

/** How each reader reason is reported through OpenFeature. */
const REASONS: Readonly<Record<FlagReason, { reason: string; errorCode?: ErrorCode }>> = {
  ENABLED_FOR_ALL: { reason: StandardResolutionReasons.STATIC },
  TARGETED: { reason: StandardResolutionReasons.TARGETING_MATCH },
  ROLE_NOT_ALLOWED: { reason: StandardResolutionReasons.TARGETING_MATCH },
  OUTSIDE_PERCENT: { reason: StandardResolutionReasons.SPLIT },
  DISABLED: { reason: StandardResolutionReasons.DISABLED },
  PARENT_DISABLED: { reason: StandardResolutionReasons.DISABLED },
  MISSING_USER_ID: { reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.TARGETING_KEY_MISSING },
  MISSING_FLAGS: { reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.FLAG_NOT_FOUND },
  INVALID_FLAGS: { reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.PARSE_ERROR },
};

/** Context attributes the provider reads: `targetingKey` is the user id; `role` or `roles` the user's roles. */
function flagContext(context: EvaluationContext): { userId?: string; role?: string; roles?: readonly string[] } {
  const roles = Array.isArray(context.roles) ? context.roles.filter((r): r is string => typeof r === 'string') : undefined;
  return {
    ...(typeof context.targetingKey === 'string' && context.targetingKey !== '' ? { userId: context.targetingKey } : {}),
    ...(typeof context.role === 'string' ? { role: context.role } : {}),
    ...(roles ? { roles } : {}),
  };
}

/** Turn a reader evaluation into OpenFeature resolution details. Errors return the caller's default. */
export function toResolution(evaluation: FlagEvaluation, defaultValue: boolean): ResolutionDetails<boolean> {
  const mapped = REASONS[evaluation.reason];
  const metadata: Record<string, string | number | boolean> = { phasegateReason: evaluation.reason };
  if (evaluation.bucket !== undefined) metadata.bucket = evaluation.bucket;
  if (evaluation.percent !== undefined) metadata.percent = evaluation.percent;
  if (evaluation.variable !== undefined) metadata.variable = evaluation.variable;
  if (mapped.errorCode) {
    return {
      value: defaultValue,
      reason: mapped.reason,
      errorCode: mapped.errorCode,
      errorMessage: `${evaluation.reason}${evaluation.variable ? ` (${evaluation.variable})` : ''}`,
      flagMetadata: metadata,
    };
  }
  return { value: evaluation.enabled, reason: mapped.reason, variant: evaluation.enabled ? 'on' : 'off', flagMetadata: metadata };
}

/** An OpenFeature server provider answering boolean flags from Phasegate's environment variables. */
export class PhasegateProvider implements Provider {
  readonly metadata = { name: 'phasegate' } as const;
  readonly runsOn = 'server' as const;
  private readonly reader: FlagReader;

  constructor(options: FlagReaderOptions = {}) {
    this.reader = createFlagReader(options);
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return Promise.resolve(toResolution(this.reader.evaluate(flagKey, flagContext(context)), defaultValue));
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string): Promise<ResolutionDetails<string>> {
    return Promise.resolve(typeMismatch(flagKey, defaultValue));
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number): Promise<ResolutionDetails<number>> {
    return Promise.resolve(typeMismatch(flagKey, defaultValue));
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T): Promise<ResolutionDetails<T>> {
    return Promise.resolve(typeMismatch(flagKey, defaultValue));
  }
}

function typeMismatch<T>(flagKey: string, defaultValue: T): ResolutionDetails<T> {
  return {
    value: defaultValue,
    reason: StandardResolutionReasons.ERROR,
    errorCode: ErrorCode.TYPE_MISMATCH,
    errorMessage: `Phasegate flag ${flagKey} is boolean`,
  };
}
