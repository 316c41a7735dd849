import type { webcrypto } from 'node:crypto';
import { verifyKey } from 'discord-interactions';

/**
 * Discord signs every interaction request with the application's Ed25519 key: `X-Signature-Ed25519` is the
 * signature of `X-Signature-Timestamp` + the raw body. The signature is the endpoint's only authentication (the
 * Function URL has auth NONE), so it is checked over the exact bytes received, before anything is parsed.
 */

/** A request older or newer than this is refused as a replay, even when its signature is good. */
export const MAX_TIMESTAMP_SKEW_SECONDS = 300;

/** The application's public key, imported for WebCrypto. */
export type PublicKey = webcrypto.CryptoKey;

/** The parts of a Function URL request the check reads. */
export interface SignedRequest {
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
}

/** The outcome: the raw body when it is authentic, or why not (never said to the caller, only logged). */
export type SignatureCheck = { readonly ok: true; readonly body: Buffer } | { readonly ok: false; readonly reason: string };

/** A header's value whatever the case of its name (Function URLs lower-case them; other front ends may not). */
export function header(headers: SignedRequest['headers'], name: string): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

/** The application's public key (64 hex characters) as a WebCrypto key, imported once and reused. */
export async function importPublicKey(hex: string): Promise<PublicKey> {
  const trimmed = hex.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(trimmed)) {
    throw new Error('the Discord public key must be 64 hexadecimal characters (the "Public Key" of the application)');
  }
  return globalThis.crypto.subtle.importKey('raw', Buffer.from(trimmed, 'hex'), { name: 'Ed25519' }, false, ['verify']);
}

/**
 * Verify a request: signature and timestamp headers present and well-formed, the timestamp within
 * {@link MAX_TIMESTAMP_SKEW_SECONDS} of `now` either way, and the signature valid over timestamp + raw body (the
 * base64-decoded body when the Function URL encoded it).
 */
export async function verifyRequest(request: SignedRequest, publicKey: PublicKey | string, now: Date): Promise<SignatureCheck> {
  const signature = header(request.headers, 'x-signature-ed25519');
  const timestamp = header(request.headers, 'x-signature-timestamp');
  if (!signature || !timestamp) return { ok: false, reason: 'missing signature headers' };
  if (!/^[0-9a-fA-F]{128}$/.test(signature)) return { ok: false, reason: 'malformed signature' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed timestamp' };
  const skew = Math.abs(now.getTime() / 1000 - Number(timestamp));
  if (skew > MAX_TIMESTAMP_SKEW_SECONDS) return { ok: false, reason: `timestamp ${Math.round(skew)} s away from now` };
  const body = Buffer.from(request.body ?? '', request.isBase64Encoded ? 'base64' : 'utf8');
  const valid = await verifyKey(body, signature, timestamp, publicKey);
  return valid ? { ok: true, body } : { ok: false, reason: 'bad signature' };
}
