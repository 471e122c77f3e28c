// Owns the sandbox bank's secrets: link tokens, authorization codes, OTPs, PKCE and masking of what it echoes.
// Must never compare a secret but in constant time, nor show more of a phone or account number than its last digits.
import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual, keyedHash, newNumericCode } from '../../identity/secrets.js';
import { secretHash } from './store.js';

export const MAX_CREDENTIAL_FAILURES = 5;
export const OTP_TTL_MS = 5 * 60_000;
export const OTP_MAX_ATTEMPTS = 5;
export const AUTHORIZATION_CODE_TTL_MS = 60_000;

/** 256 random bits; only its hash is stored. */
export function newBankSecret(prefix: 'blt' | 'bac' | 'blc' | 'hst'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function newCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

export function newOtpCode(): string {
  return newNumericCode(6);
}

/** Bound to the code's own row id, so two equal codes never share a hash. */
export function otpHash(otpId: string, code: string): string {
  return keyedHash(Buffer.from(otpId), code);
}

export function otpMatches(otpId: string, storedHash: string, code: string): boolean {
  return constantTimeEqual(otpHash(otpId, code), storedHash);
}

export function credentialMatches(salt: string, storedHash: string, given: string): boolean {
  return constantTimeEqual(secretHash(salt, given), storedHash);
}

/** RFC 7636 S256: BASE64URL(SHA256(verifier)). */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export function pkceMatches(verifier: string, challenge: string): boolean {
  return constantTimeEqual(pkceChallenge(verifier), challenge);
}

/** +819012345678 → ***-****-5678: enough for the holder to recognise the phone, too little to learn it. */
export function maskPhone(phone: string): string {
  return `***-****-${phone.slice(-4)}`;
}

/** 1234567 → ****567 */
export function maskAccountNumber(accountNumber: string): string {
  return `${'*'.repeat(Math.max(0, accountNumber.length - 3))}${accountNumber.slice(-3)}`;
}
