// Owns password hashing (argon2id, SPEC §3) and the length rule of NIST SP 800-63B.
// Must never store, log or compare a password in clear.
import argon2 from 'argon2';
import { InvalidRequest } from '../errors.js';

export const PASSWORD_MIN_LENGTH = 8;
/** Long enough for any passphrase; short enough that hashing cannot be used to burn CPU. */
export const PASSWORD_MAX_LENGTH = 256;

// OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane) keeps a login under ~50 ms on a 2-core machine.
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function assertAcceptablePassword(password: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) {
    throw new InvalidRequest(`The password must be at least ${PASSWORD_MIN_LENGTH} characters long.`);
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw new InvalidRequest(`The password must be at most ${PASSWORD_MAX_LENGTH} characters long.`);
  }
}

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/** A hash to verify against when the account does not exist, so timing does not reveal which e-mails are registered. */
let decoyHash: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword('decoy password that never matches anything');
  return decoyHash;
}
