import { ConflictError, PlanInvalidError, RefusedError, TransientError } from '../lambdas/core/errors';
import { ERROR_NAMES } from '../lambdas/core/contract';
import { PlansInvalidError } from '../lambdas/core/plan/load';

/**
 * The CLI's exit codes, one per kind of outcome, so scripts can tell a refusal from a typo from a missing stack.
 * Documented in `phasegate --help` and the README.
 */
export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** Refused or failed: no permission, stale or unknown state, a rollback that left a target unsafe, an invalid plan. */
  failed: 1,
  /** The command line is malformed: unknown command or option, missing or invalid argument. */
  usage: 2,
  /** AWS or configuration: stack not found, no credentials or region, access denied, AWS unreachable, no rehearsal running. */
  environment: 3,
  /** A bug in Phasegate: the message says what happened. */
  internal: 4,
} as const;

/** One of {@link EXIT}'s values. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The command line is malformed. Printed with the command's usage; exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose usage to show (`['plan', 'show']`); none for the top level. */
    readonly command?: readonly string[],
  ) {
    super(message);
    this.name = 'PhasegateUsageError';
  }
}

/** Why the CLI cannot reach what it operates on (stack, outputs, rehearsal). Exit code 3. */
export class ConfigError extends Error {
  constructor(
    readonly code: 'STACK_NOT_FOUND' | 'STACK_OUTPUTS' | 'DEPLOYED_PLAN' | 'NO_REHEARSAL' | 'REHEARSAL' | 'STAGE_MISMATCH' | 'NOT_AVAILABLE',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PhasegateConfigError';
  }
}

/** A failure as the CLI reports it: the exit code, a stable code for `--json`, and a message for people. */
export interface ReportedError {
  readonly exit: ExitCode;
  readonly code: string;
  readonly message: string;
}

const CREDENTIAL_ERRORS = new Set(['CredentialsProviderError', 'TokenProviderError']);
const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired']);
const REJECTED_CREDENTIALS = new Set(['InvalidClientTokenId', 'UnrecognizedClientException', 'SignatureDoesNotMatch', 'InvalidSignatureException']);
const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'AuthorizationError']);
const NETWORK = new Set(['ENOTFOUND', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'TimeoutError']);

function nameOf(err: unknown): string {
  return (err as { name?: unknown })?.name && typeof (err as { name: unknown }).name === 'string' ? (err as { name: string }).name : 'Error';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether the error came from the AWS SDK (a service answer, credentials, region or the network). */
function isAwsError(err: unknown): boolean {
  const e = err as { $metadata?: unknown; $fault?: unknown; code?: unknown } | undefined;
  const name = nameOf(err);
  return (
    e?.$metadata !== undefined ||
    e?.$fault !== undefined ||
    CREDENTIAL_ERRORS.has(name) ||
    NETWORK.has(name) ||
    (typeof e?.code === 'string' && NETWORK.has(e.code)) ||
    /^Region is missing/.test(messageOf(err))
  );
}

function describeAwsError(err: unknown): ReportedError {
  const name = nameOf(err);
  const message = messageOf(err);
  const code = (err as { code?: unknown })?.code;
  const env = { exit: EXIT.environment } as const;
  if (CREDENTIAL_ERRORS.has(name)) {
    return { ...env, code: 'NO_CREDENTIALS', message: `no AWS credentials found (${message}). Configure them (aws configure, AWS_PROFILE, aws sso login), or try the CLI against a local rehearsal with --local.` };
  }
  if (/^Region is missing/.test(message)) {
    return { ...env, code: 'NO_REGION', message: 'no AWS region: pass --region <region> or set AWS_REGION (or a region in your AWS profile).' };
  }
  if (EXPIRED.has(name)) return { ...env, code: 'CREDENTIALS_EXPIRED', message: `your AWS credentials have expired (${message}): sign in again.` };
  if (REJECTED_CREDENTIALS.has(name)) return { ...env, code: 'CREDENTIALS_REJECTED', message: `AWS did not accept your credentials (${name}: ${message}).` };
  if (DENIED.has(name)) {
    return {
      ...env,
      code: 'ACCESS_DENIED',
      message: `AWS denied the request (${message}). See "IAM permissions" in the README's CLI section for what the CLI calls.`,
    };
  }
  if (NETWORK.has(name) || (typeof code === 'string' && NETWORK.has(code))) {
    return { ...env, code: 'AWS_UNREACHABLE', message: `cannot reach AWS (${typeof code === 'string' ? code : name}: ${message}). Check the network, --region and any endpoint settings.` };
  }
  return { ...env, code: 'AWS_ERROR', message: `AWS error ${name}: ${message}` };
}

/** How the CLI reports `err`: exit code, code and message. */
export function reportError(err: unknown): ReportedError {
  if (err instanceof UsageError) return { exit: EXIT.usage, code: 'USAGE', message: err.message };
  if (err instanceof RefusedError) return { exit: EXIT.failed, code: err.code, message: err.message };
  if (nameOf(err) === ERROR_NAMES.flagWrite) return { exit: EXIT.failed, code: 'ROLLBACK_FAILED', message: messageOf(err) };
  if (err instanceof PlanInvalidError || err instanceof PlansInvalidError) return { exit: EXIT.failed, code: 'PLAN_INVALID', message: messageOf(err) };
  if (err instanceof ConflictError) {
    return { exit: EXIT.failed, code: 'CONFLICT', message: `the rollout changed while the command ran; nothing was applied, try again (${err.message})` };
  }
  if (err instanceof ConfigError) return { exit: EXIT.environment, code: err.code, message: err.message };
  if (err instanceof TransientError) return { exit: EXIT.environment, code: 'AWS_UNAVAILABLE', message: `AWS is throttling or unavailable; try again (${err.message})` };
  if (isAwsError(err)) return describeAwsError(err);
  return { exit: EXIT.internal, code: 'INTERNAL', message: `unexpected error (a bug in Phasegate; please report it): ${nameOf(err)}: ${messageOf(err)}` };
}
