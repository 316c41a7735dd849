/** Classification of AWS SDK errors, shared by the adapters. */

const TRANSIENT_NAMES = new Set([
  'TooManyRequestsException',
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestThrottledException',
  'ServiceException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalFailure',
  'EC2ThrottledException',
  'TimeoutError',
  'ECONNRESET',
]);

/** The error's name, whatever shape it has. */
export function errorName(err: unknown): string {
  if (err && typeof err === 'object' && 'name' in err && typeof (err as { name: unknown }).name === 'string') {
    return (err as { name: string }).name;
  }
  return 'Error';
}

/** The error's message, whatever shape it has. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True for throttling and server-side failures that are worth retrying. */
export function isTransient(err: unknown): boolean {
  if (TRANSIENT_NAMES.has(errorName(err))) return true;
  const meta = (err as { $retryable?: unknown; $metadata?: { httpStatusCode?: number } } | undefined) ?? {};
  if (meta.$retryable) return true;
  const status = meta.$metadata?.httpStatusCode;
  return status === 429 || (typeof status === 'number' && status >= 500);
}

/** True when a DynamoDB conditional write failed its condition. */
export function isConditionFailed(err: unknown): boolean {
  return errorName(err) === 'ConditionalCheckFailedException';
}

/** Sleep for `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with full jitter: attempt 0 -> up to `baseMs`, doubling up to `capMs`. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}
