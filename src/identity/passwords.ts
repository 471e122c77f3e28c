// Owns password hashing (argon2id, SPEC §3) and what a password must be: NIST SP 800-63B length, not common, not
// guessable (a zxcvbn strength score). Must never store, log or compare a password in clear, nor echo it in an error.
import argon2 from 'argon2';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';
import { createError, InvalidRequest } from '../errors.js';

export const PASSWORD_MIN_LENGTH = 8;
/** Long enough for any passphrase; short enough that hashing cannot be used to burn CPU. */
export const PASSWORD_MAX_LENGTH = 256;

// OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane) keeps a login under ~50 ms on a 2-core machine.
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * ~49,000 passwords seen most often in breach corpora, shipped with zxcvbn-ts: SP 800-63B §5.1.1.2 asks
 * verifiers to refuse "passwords obtained from previous breach corpuses" and "commonly-used" ones.
 */
let commonPasswords: Set<string> | undefined;
function isCommonPassword(password: string): boolean {
  commonPasswords ??= new Set(dictionary['passwords-common'] as string[]);
  return commonPasswords.has(password.toLowerCase());
}

/** Context-specific words (SP 800-63B: "the name of the service, the username"): the e-mail and its parts. */
function isContextWord(password: string, context: string[]): boolean {
  const p = password.toLowerCase();
  return ['koza', 'kozawallet', 'koza wallet', ...context.map((c) => c.toLowerCase())].some((w) => w.length > 0 && p === w);
}

export const WeakPassword = createError<{ reason: 'common' | 'guessable' }>('weak-password', 422, 'Choose a different password');

/** zxcvbn's score 0–4; below 3 ("safely unguessable: moderate protection from offline slow-hash attacks") is refused. */
export const MIN_PASSWORD_SCORE = 3;

/**
 * A list alone lets `Password2024!` through: it is not on the list, but it is a dictionary word, a year and a symbol,
 * exactly what a spraying attacker tries first. zxcvbn scores it by how few guesses find it, with the e-mail's local
 * part and the service name as words an attacker knows too.
 */
let strength: ZxcvbnFactory | undefined;
export function passwordScore(password: string, userInputs: string[]): number {
  strength ??= new ZxcvbnFactory({ dictionary: { ...dictionary }, graphs: adjacencyGraphs });
  return strength.check(password.slice(0, PASSWORD_MAX_LENGTH), userInputs.filter((w) => w.length > 0)).score;
}

/**
 * NIST SP 800-63B: length, no composition rules; refuse common, breached and context passwords, and guessable ones.
 * `context`: words an attacker knows about this account (the e-mail and its local part); "koza" is always one.
 */
export function assertAcceptablePassword(password: string, context: string[] = []): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) {
    throw new InvalidRequest(`The password must be at least ${PASSWORD_MIN_LENGTH} characters long.`);
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw new InvalidRequest(`The password must be at most ${PASSWORD_MAX_LENGTH} characters long.`);
  }
  if (isCommonPassword(password) || isContextWord(password, context)) {
    throw new WeakPassword('This password is too common or appears in known data breaches; choose another, a passphrase works well.',
      { reason: 'common' });
  }
  if (passwordScore(password, ['koza', ...context]) < MIN_PASSWORD_SCORE) {
    throw new WeakPassword('This password is too easy to guess: a word with a year, a name or a keyboard pattern is among the '
      + 'first things attackers try. Choose a passphrase of three or four words that do not belong together, '
      + 'e.g. "kettle maple ferry 38"; no symbols or capitals are needed.', { reason: 'guessable' });
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
