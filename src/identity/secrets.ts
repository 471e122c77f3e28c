// Owns secret material handling: bearer tokens, keyed hashes, constant-time comparison, sealed storage.
// Must never return or log a secret in clear once issued; only hashes and sealed boxes are stored.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** A bearer token: a readable prefix and 256 bits of randomness. Only its hash is stored. */
export function newToken(prefix: 'kzs' | 'kzm' | 'kzp' | 'kzo' | 'lgc' | 'krt' | 'krc'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Tokens carry 256 random bits, so a plain SHA-256 is a safe lookup key (no dictionary to try). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A keyed hash for low-entropy values (one-time codes, request bodies): useless without the server key. */
export function keyedHash(key: Buffer, ...parts: string[]): string {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part).update('\u0000');
  return mac.digest('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  // Lengths of hex digests are public; comparing unequal lengths would throw, so refuse them up front.
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** A numeric one-time code, uniformly drawn. */
export function newNumericCode(digits = 6): string {
  return randomInt(0, 10 ** digits).toString().padStart(digits, '0');
}

/** AES-256-GCM: iv ‖ tag ‖ ciphertext, base64. */
export function seal(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
}

export function unseal(key: Buffer, box: string): string {
  const raw = Buffer.from(box, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}
