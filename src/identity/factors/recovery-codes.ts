// Owns recovery codes: the ten one-use codes shown once when a first factor is enrolled, for a lost phone or key.
// Must never keep a code in clear: only keyed hashes are stored, and each code works once; no SQL, no HTTP.
import { randomInt } from 'node:crypto';
import { keyedHash } from '../secrets.js';

/** Ten codes: enough for years of lost devices, few enough to print on one line of paper each. */
export const RECOVERY_CODE_COUNT = 10;
/** Crockford base32 (no i, l, o, u: nothing to misread); 10 characters carry 50 bits. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODE_LENGTH = 10;
const NORMALIZED = /^[0-9a-hjkmnp-tv-z]{10}$/;

function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

export function newRecoveryCodes(): string[] {
  const codes = new Set<string>();
  while (codes.size < RECOVERY_CODE_COUNT) codes.add(newRecoveryCode());
  return [...codes];
}

/** What a person types: any case, with or without the dash or spaces, O for 0 and I or L for 1. Null if it cannot be a code. */
export function normalizeRecoveryCode(typed: string): string | null {
  const code = typed.toLowerCase().replace(/[\s-]/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  return NORMALIZED.test(code) ? code : null;
}

/** The stored form: keyed with the server secret and the batch, so a leaked table is no offline oracle. */
export function hashRecoveryCode(key: Buffer, batchId: string, normalizedCode: string): string {
  return keyedHash(key, 'recovery-code', batchId, normalizedCode);
}
