/**
 * `@phasegate/runtime/openfeature`: an OpenFeature server provider over the Phasegate flag reader, so target
 * functions can use the standard API (`client.getBooleanValue('ux-update', false, { targetingKey, role })`).
 * Evaluation is the reader's: environment variables only, no I/O. `@openfeature/server-sdk` is a peer
 * dependency: the function installs it (and its own peer, `@openfeature/core`).
 *
 * @example
 * ```ts
 * import { OpenFeature } from '@openfeature/server-sdk';
 * import { PhasegateProvider } from '@phasegate/runtime/openfeature';
 *
 * await OpenFeature.setProviderAndWait(new PhasegateProvider({ snapshot: true }));
 * const client = OpenFeature.getClient();
 * const on = await client.getBooleanValue('ux-update', false, { targetingKey: user.id, role: user.role });
 * ```
 *
 * Reasons, as the OpenFeature specification means them: on for everyone `STATIC`; off for everyone `DISABLED`;
 * decided by the user's role `TARGETING_MATCH`; decided by the user's bucket inside or outside a percentage
 * `SPLIT`. A sub-feature whose feature is off for the user reports the feature's reason. Errors return the
 * caller's default with `FLAG_NOT_FOUND` (no variables, for the sub-feature or its feature), `PARSE_ERROR` (a
 * malformed variable) or `TARGETING_KEY_MISSING` (a percentage and no `targetingKey`); a flag asked for as
 * anything but a boolean is `TYPE_MISMATCH`, or `FLAG_NOT_FOUND` when it does not exist at all.
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
import { createFlagReader, type FlagContext, type FlagEvaluation, type FlagReader, type FlagReaderOptions, type FlagReason } from './index';

type Mapped = { readonly reason: string; readonly errorCode?: ErrorCode };

/** How each reader reason is reported through OpenFeature (`PARENT_DISABLED` reports the parent's). */
const REASONS: Readonly<Record<Exclude<FlagReason, 'PARENT_DISABLED'>, Mapped>> = {
  ENABLED_FOR_ALL: { reason: StandardResolutionReasons.STATIC },
  TARGETED: { reason: StandardResolutionReasons.TARGETING_MATCH },
  ROLE_NOT_ALLOWED: { reason: StandardResolutionReasons.TARGETING_MATCH },
  INSIDE_PERCENT: { reason: StandardResolutionReasons.SPLIT },
  OUTSIDE_PERCENT: { reason: StandardResolutionReasons.SPLIT },
  DISABLED: { reason: StandardResolutionReasons.DISABLED },
  MISSING_USER_ID: { reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.TARGETING_KEY_MISSING },
  MISSING_FLAGS: { reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.FLAG_NOT_FOUND },
  INVALID_FLAGS: { reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.PARSE_ERROR },
};

function mapped(evaluation: FlagEvaluation): Mapped {
  let decided = evaluation;
  while (decided.reason === 'PARENT_DISABLED' && decided.parent !== undefined) decided = decided.parent;
  return decided.reason === 'PARENT_DISABLED' ? REASONS.DISABLED : REASONS[decided.reason];
}

const NO_CONTEXT: FlagContext = {};

/** Context attributes the provider reads: `targetingKey` is the user id; `role` or `roles` the user's roles. */
function flagContext(context: EvaluationContext): FlagContext {
  const { targetingKey, role, roles } = context;
  const hasRoles = Array.isArray(roles);
  if (targetingKey === undefined && role === undefined && !hasRoles) return NO_CONTEXT;
  return {
    userId: typeof targetingKey === 'string' && targetingKey !== '' ? targetingKey : undefined,
    role: typeof role === 'string' ? role : undefined,
    roles: hasRoles ? roles.filter((r): r is string => typeof r === 'string') : undefined,
  };
}

/** Turn a reader evaluation into OpenFeature resolution details. Errors return the caller's default. */
export function toResolution(evaluation: FlagEvaluation, defaultValue: boolean): ResolutionDetails<boolean> {
  const { reason, errorCode } = mapped(evaluation);
  const flagMetadata: Record<string, string | number | boolean> = { phasegateReason: evaluation.reason };
  const decided = evaluation.parent ?? evaluation;
  if (decided.bucket !== undefined) flagMetadata.bucket = decided.bucket;
  if (decided.percent !== undefined) flagMetadata.percent = decided.percent;
  if (evaluation.variable !== undefined) flagMetadata.variable = evaluation.variable;
  if (evaluation.decidedBy !== undefined) flagMetadata.decidedBy = evaluation.decidedBy;
  if (errorCode !== undefined) {
    return {
      value: defaultValue,
      reason,
      errorCode,
      errorMessage: `${evaluation.reason}${evaluation.decidedBy ? ` of ${evaluation.decidedBy}` : ''}${evaluation.variable ? ` (${evaluation.variable})` : ''}`,
      flagMetadata,
    };
  }
  return { value: evaluation.enabled, reason, variant: evaluation.enabled ? 'on' : 'off', flagMetadata };
}

/** An OpenFeature server provider answering boolean flags from Phasegate's environment variables. */
export class PhasegateProvider implements Provider {
  readonly metadata = { name: 'phasegate' } as const;
  readonly runsOn = 'server' as const;
  private readonly reader: FlagReader;

  /** Options as {@link createFlagReader}'s; names come from Phasegate's manifest unless `flags` gives them. */
  constructor(options: FlagReaderOptions = {}) {
    this.reader = createFlagReader(options);
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return Promise.resolve(toResolution(this.reader.evaluate(flagKey, flagContext(context)), defaultValue));
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string): Promise<ResolutionDetails<string>> {
    return Promise.resolve(this.notBoolean(flagKey, defaultValue));
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number): Promise<ResolutionDetails<number>> {
    return Promise.resolve(this.notBoolean(flagKey, defaultValue));
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T): Promise<ResolutionDetails<T>> {
    return Promise.resolve(this.notBoolean(flagKey, defaultValue));
  }

  /** Phasegate flags are booleans: a flag that exists is the wrong type; one that does not is not found. */
  private notBoolean<T>(flagKey: string, defaultValue: T): ResolutionDetails<T> {
    const evaluation = this.reader.evaluate(flagKey, NO_CONTEXT);
    if (evaluation.reason === 'MISSING_FLAGS') {
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.FLAG_NOT_FOUND,
        errorMessage: `no Phasegate flag ${flagKey} (${evaluation.variable ?? 'no variables'})`,
      };
    }
    return {
      value: defaultValue,
      reason: StandardResolutionReasons.ERROR,
      errorCode: ErrorCode.TYPE_MISMATCH,
      errorMessage: `Phasegate flag ${flagKey} is boolean`,
    };
  }
}
