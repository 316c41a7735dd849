import { importPublicKey, MAX_TIMESTAMP_SKEW_SECONDS, verifyRequest } from '../../lambdas/core/discord/signature';
import { DiscordKeyPair, InteractionSigner } from '../../local/discord';

/** Real Ed25519 signatures from a generated key pair: nothing about the crypto is mocked. */
describe('verifyRequest', () => {
  const keys = DiscordKeyPair.generate();
  const other = DiscordKeyPair.generate();
  const signer = new InteractionSigner(keys);
  const body = JSON.stringify({ type: 1, id: '1', application_id: '2', token: 't' });
  const now = new Date();
  const seconds = Math.floor(now.getTime() / 1000);
  let key: Awaited<ReturnType<typeof importPublicKey>>;
  beforeAll(async () => {
    key = await importPublicKey(keys.publicKeyHex);
  });

  it('accepts a request signed with the application key and returns the raw body', async () => {
    const check = await verifyRequest({ headers: signer.headers(body), body }, key, now);
    expect(check).toEqual({ ok: true, body: Buffer.from(body) });
  });

  it('accepts the hex key as well as the imported one', async () => {
    expect((await verifyRequest({ headers: signer.headers(body), body }, keys.publicKeyHex, now)).ok).toBe(true);
  });

  it.each([
    ['a tampered body', (h: Record<string, string>) => ({ headers: h, body: body.replace('"type":1', '"type":2') }), 'bad signature'],
    ['a tampered timestamp', (h: Record<string, string>) => ({ headers: { ...h, 'x-signature-timestamp': String(seconds - 1) }, body }), 'bad signature'],
    ['a signature by another key', () => ({ headers: new InteractionSigner(other).headers(body), body }), 'bad signature'],
    ['no signature', (h: Record<string, string>) => ({ headers: { 'x-signature-timestamp': h['x-signature-timestamp']! }, body }), 'missing signature headers'],
    ['no timestamp', (h: Record<string, string>) => ({ headers: { 'x-signature-ed25519': h['x-signature-ed25519']! }, body }), 'missing signature headers'],
    ['a signature that is not hex', (h: Record<string, string>) => ({ headers: { ...h, 'x-signature-ed25519': 'zz'.repeat(64) }, body }), 'malformed signature'],
    ['a short signature', (h: Record<string, string>) => ({ headers: { ...h, 'x-signature-ed25519': h['x-signature-ed25519']!.slice(2) }, body }), 'malformed signature'],
    ['a timestamp that is not a number', (h: Record<string, string>) => ({ headers: { ...h, 'x-signature-timestamp': 'yesterday' }, body }), 'malformed timestamp'],
  ])('refuses %s', async (_what, request, reason) => {
    const check = await verifyRequest(request(signer.headers(body)), key, now);
    expect(check).toEqual({ ok: false, reason });
  });

  it.each([
    ['more than 5 minutes old', -(MAX_TIMESTAMP_SKEW_SECONDS + 1)],
    ['more than 5 minutes ahead', MAX_TIMESTAMP_SKEW_SECONDS + 1],
  ])('refuses a correctly signed request %s (replay)', async (_what, offset) => {
    const check = await verifyRequest({ headers: signer.headers(body, { timestamp: seconds + offset }), body }, key, now);
    expect(check.ok).toBe(false);
    expect((check as { reason: string }).reason).toMatch(/^timestamp \d+ s away from now$/);
  });

  it('accepts a timestamp just inside the window either way', async () => {
    for (const offset of [-(MAX_TIMESTAMP_SKEW_SECONDS - 2), MAX_TIMESTAMP_SKEW_SECONDS - 2]) {
      expect((await verifyRequest({ headers: signer.headers(body, { timestamp: seconds + offset }), body }, key, now)).ok).toBe(true);
    }
  });

  it('verifies a base64-encoded body over its decoded bytes (non-ASCII included)', async () => {
    const unicode = JSON.stringify({ type: 1, note: 'héllo — ünïcode ✓' });
    const check = await verifyRequest({ headers: signer.headers(unicode), body: Buffer.from(unicode).toString('base64'), isBase64Encoded: true }, key, now);
    expect(check).toEqual({ ok: true, body: Buffer.from(unicode) });
    // The base64 text itself is not what was signed.
    const raw = await verifyRequest({ headers: signer.headers(unicode), body: Buffer.from(unicode).toString('base64') }, key, now);
    expect(raw.ok).toBe(false);
  });

  it('reads the headers whatever the case of their names', async () => {
    const h = signer.headers(body);
    const mixed = { 'X-Signature-Ed25519': h['x-signature-ed25519']!, 'X-SIGNATURE-TIMESTAMP': h['x-signature-timestamp']! };
    expect((await verifyRequest({ headers: mixed, body }, key, now)).ok).toBe(true);
  });

  it('refuses to import a public key that is not 32 bytes of hex', async () => {
    await expect(importPublicKey('abc')).rejects.toThrow(/64 hexadecimal characters/);
  });
});
