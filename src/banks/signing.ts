// Owns request signing between koza and partner banks: a compact JWS (EdDSA, Ed25519, via `jose`) over
// the method, path, body hash, a nonce and the time, sent in the Koza-Signature header.
// Must never accept an unsigned, wrongly signed, stale (±60 s) or replayed (nonce seen) request.
import { createHash, createHmac, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { CompactSign, compactVerify } from 'jose';

export const MAX_CLOCK_SKEW_SECONDS = 60;

export interface SignedClaims {
  /** Upper-case HTTP method. */
  m: string;
  /** Path and query exactly as sent, e.g. /banks/0001/v2/debits. */
  p: string;
  /** base64url SHA-256 of the raw body ('' for none). */
  b: string;
  /** The Idempotency-Key header, or null: binding it stops a replayed body under a fresh key. */
  k: string | null;
  n: string;
  iat: number;
}

export interface BankKeyPair {
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The key pair koza uses with one bank. In production each bank relationship has its own key, configured
 * by the operator; the sandbox derives one per bank from a shared seed so koza and the sandbox processes
 * agree without exchanging files.
 */
export function deriveBankKeyPair(seed: string, bankCode: string): BankKeyPair {
  const secret = createHmac('sha256', seed).update(`koza-bank-key:${bankCode}`).digest();
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
  return { keyId: `koza-${bankCode}`, privateKey, publicKey: createPublicKey(privateKey) };
}

/**
 * The key a bank signs its own calls to koza with (pay-in notices, §10 of docs/bank-protocol.md): another key than
 * koza's for that bank, so that neither side can speak as the other. Derived from the same seed in the sandbox.
 */
export function deriveBankNoticeKeyPair(seed: string, bankCode: string): BankKeyPair {
  const secret = createHmac('sha256', seed).update(`bank-notice-key:${bankCode}`).digest();
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
  return { keyId: `bank-${bankCode}`, privateKey, publicKey: createPublicKey(privateKey) };
}

export function bodyHash(body: string | Buffer | undefined): string {
  if (body === undefined || body.length === 0) return '';
  return createHash('sha256').update(body).digest('base64url');
}

export async function signRequest(
  key: BankKeyPair, request: { method: string; path: string; body?: string; idempotencyKey?: string | null; now?: Date },
): Promise<string> {
  const claims: SignedClaims = {
    m: request.method.toUpperCase(),
    p: request.path,
    b: bodyHash(request.body),
    k: request.idempotencyKey ?? null,
    n: randomBytes(16).toString('base64url'),
    iat: Math.floor((request.now ?? new Date()).getTime() / 1000),
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'EdDSA', kid: key.keyId })
    .sign(key.privateKey);
}

export type SignatureFailure = 'missing' | 'bad_signature' | 'mismatch' | 'stale' | 'replayed';

/** Remembers nonces for the skew window; a nonce seen twice is a replay. */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  /** Returns false when the nonce was already used. */
  claim(nonce: string, iat: number, nowSeconds: number): boolean {
    for (const [n, t] of this.seen) {
      if (t < nowSeconds - 2 * MAX_CLOCK_SKEW_SECONDS) this.seen.delete(n);
      else break;
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, Math.max(iat, nowSeconds));
    return true;
  }
}

/** Verifies a signed request; returns null when it is good, else why it is refused. */
export async function verifyRequest(
  publicKey: KeyObject, nonces: NonceCache,
  request: { method: string; path: string; body: string | Buffer | undefined; idempotencyKey: string | null; signature: string | undefined; now?: Date },
): Promise<SignatureFailure | null> {
  if (!request.signature) return 'missing';
  let claims: SignedClaims;
  try {
    const { payload } = await compactVerify(request.signature, publicKey, { algorithms: ['EdDSA'] });
    claims = JSON.parse(new TextDecoder().decode(payload)) as SignedClaims;
  } catch {
    return 'bad_signature';
  }
  if (claims.m !== request.method.toUpperCase() || claims.p !== request.path || claims.b !== bodyHash(request.body)
      || claims.k !== request.idempotencyKey) {
    return 'mismatch';
  }
  const now = Math.floor((request.now ?? new Date()).getTime() / 1000);
  if (typeof claims.iat !== 'number' || Math.abs(now - claims.iat) > MAX_CLOCK_SKEW_SECONDS) return 'stale';
  if (typeof claims.n !== 'string' || !nonces.claim(claims.n, claims.iat, now)) return 'replayed';
  return null;
}
