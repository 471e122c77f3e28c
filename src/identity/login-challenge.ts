// Owns login challenges (SPEC §3, NIST SP 800-63B AAL2): a sign-in whose password was right but that must show a
// second proof — a second factor from a device the wallet has not seen, or an e-mail code when a rule asks for one.
// Must never open a session before the proof passed, let a challenge answer twice, late or after 5 wrong tries, nor
// say which factor was wrong.
import { createHash } from 'node:crypto';
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { createError, KozaError } from '../errors.js';
import { recordRiskSignal } from '../risk/signals.js';
import { hashToken, newToken } from './secrets.js';
import { sendMessage } from './outbox.js';
import { checkCode, issueCode } from './one-time-codes.js';
import { passkeyRequestOptions } from './factors/passkeys.js';
import { listActiveFactors, listActivePasskeys, liveRecoveryBatch } from './factors/store.js';
import { SecondFactorNotEnrolled, SecondFactorRejected, verifyPresentation, type Presentation, type VerifyEnv } from './factors/verify.js';
import type { ClientInfo } from './devices.js';

/** Five minutes, as a step-up challenge: long enough to find the phone or the mail, short enough to be no standing door. */
export const LOGIN_CHALLENGE_MINUTES = 5;
/** Five wrong answers and the challenge is dead (PSD2 RTS Art. 4(3)(b)); the customer signs in again. */
export const LOGIN_CHALLENGE_MAX_FAILURES = 5;

export type LoginMethod = 'totp' | 'passkey' | 'recovery_code' | 'email_code';
export type LoginChallengeReason = 'new_device' | 'risk';

export const LoginChallengeClosed = createError<{ reason: 'unknown' | 'expired' | 'used' | 'too_many_failures' }>(
  'login-challenge-closed', 409, 'This sign-in can no longer be completed');

const TOKEN_PATTERN = /^lgc_[A-Za-z0-9_-]{43}$/;

export interface IssuedLoginChallenge {
  id: string;
  /** The bearer the client sends back (lgc_…); shown once, stored hashed. */
  token: string;
  methods: LoginMethod[];
  expiresAt: Date;
  webauthn: PublicKeyCredentialRequestOptionsJSON | null;
}

export interface LoginChallenge {
  id: string;
  walletId: string;
  reason: LoginChallengeReason;
  methods: LoginMethod[];
  webauthnChallenge: string;
  client: ClientInfo;
  failedAttempts: number;
  expiresAt: Date;
  lockedAt: Date | null;
  completedAt: Date | null;
}

/** The WebAuthn challenge a passkey signs for this sign-in: bound to the challenge id (128 random bits). */
function webauthnChallengeFor(challengeId: string): string {
  return createHash('sha256').update(JSON.stringify(['koza-login/1', challengeId])).digest('base64url');
}

/** The proofs that can complete the sign-in: the wallet's factors; an e-mail code when it has none. */
async function methodsFor(q: Queryable, walletId: string): Promise<{ methods: LoginMethod[]; hasPasskeys: boolean }> {
  const factors = await listActiveFactors(q, walletId);
  const passkeys = await listActivePasskeys(q, walletId);
  const recovery = await liveRecoveryBatch(q, walletId);
  const methods: LoginMethod[] = [];
  if (factors.some((f) => f.kind === 'totp')) methods.push('totp');
  if (passkeys.length > 0) methods.push('passkey');
  if (factors.length > 0 && recovery && recovery.remaining > 0) methods.push('recovery_code');
  if (methods.length === 0) methods.push('email_code');
  return { methods, hasPasskeys: passkeys.length > 0 };
}

/**
 * Opens a challenge for a sign-in whose password was right. With an e-mail code as the method, the code goes to the
 * wallet's address now (a password thief does not read the owner's mail).
 */
export async function openLoginChallenge(
  q: Queryable, env: Pick<VerifyEnv, 'secretKey' | 'rp' | 'now'>,
  input: { walletId: string; email: string; reason: LoginChallengeReason; client: ClientInfo },
): Promise<IssuedLoginChallenge> {
  const { methods, hasPasskeys } = await methodsFor(q, input.walletId);
  const id = newId('lgc');
  const token = newToken('lgc');
  const webauthnChallenge = webauthnChallengeFor(id);
  const expiresAt = new Date(env.now.getTime() + LOGIN_CHALLENGE_MINUTES * 60_000);
  await q.query(
    `INSERT INTO login_challenges (id, token_hash, wallet_id, reason, methods, webauthn_challenge, device_id, user_agent,
       accept_language, ip, expires_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [id, hashToken(token), input.walletId, input.reason, methods, webauthnChallenge, input.client.deviceId ?? null,
      input.client.userAgent?.slice(0, 512) ?? null, input.client.acceptLanguage?.slice(0, 256) ?? null, input.client.ip,
      expiresAt, env.now]);
  if (methods.includes('email_code')) {
    const { code } = await issueCode(q, env.secretKey, { walletId: input.walletId, purpose: 'login_email', target: input.email, ip: input.client.ip });
    await sendMessage(q, {
      channel: 'email', recipient: input.email, subject: 'Your koza sign-in code',
      body: `Someone signed in to your koza wallet with your password (address ${input.client.ip}). If it was you, enter `
        + `${code} to finish signing in; it expires in ${LOGIN_CHALLENGE_MINUTES} minutes. If it was not you, do not share `
        + 'this code: change your password now.',
    });
  }
  const webauthn = hasPasskeys
    ? await passkeyRequestOptions(env.rp, { challenge: webauthnChallenge, allowed: await listActivePasskeys(q, input.walletId) })
    : null;
  return { id, token, methods, expiresAt, webauthn };
}

interface ChallengeRow {
  id: string; wallet_id: string; reason: LoginChallengeReason; methods: LoginMethod[]; webauthn_challenge: string;
  device_id: string | null; user_agent: string | null; accept_language: string | null; ip: string; failed_attempts: number;
  expires_at: Date; locked_at: Date | null; completed_at: Date | null;
}

/** The challenge a token names, locked for the answer; the same refusal for an unknown, used, late or locked one. */
export async function loadLoginChallengeForAnswer(q: Queryable, token: string, now: Date): Promise<LoginChallenge> {
  const closed = (reason: 'unknown' | 'expired' | 'used' | 'too_many_failures') =>
    new LoginChallengeClosed('Sign in again with your e-mail and password.', { reason });
  if (!TOKEN_PATTERN.test(token)) throw closed('unknown');
  const res = await q.query<ChallengeRow>('SELECT * FROM login_challenges WHERE token_hash = $1 FOR UPDATE', [hashToken(token)]);
  const r = res.rows[0];
  if (!r) throw closed('unknown');
  if (r.completed_at) throw closed('used');
  if (r.locked_at) throw closed('too_many_failures');
  if (new Date(r.expires_at).getTime() <= now.getTime()) throw closed('expired');
  return {
    id: r.id, walletId: r.wallet_id, reason: r.reason, methods: r.methods, webauthnChallenge: r.webauthn_challenge,
    client: { ip: r.ip, userAgent: r.user_agent ?? undefined, deviceId: r.device_id ?? undefined, acceptLanguage: r.accept_language ?? undefined },
    failedAttempts: r.failed_attempts, expiresAt: new Date(r.expires_at), lockedAt: r.locked_at, completedAt: r.completed_at,
  };
}

/** What the customer answers with: a code (TOTP, recovery or e-mail; told apart by the challenge's methods) or a passkey. */
export type LoginAnswer = { code: string } | { credential: AuthenticationResponseJSON };

function presentationOf(challenge: LoginChallenge, answer: LoginAnswer): Presentation | { method: 'email_code'; code: string } | null {
  if ('credential' in answer) return challenge.methods.includes('passkey') ? { method: 'passkey', credential: answer.credential } : null;
  const code = answer.code.trim();
  if (/^[0-9]{6}$/.test(code)) {
    if (challenge.methods.includes('totp')) return { method: 'totp', code };
    if (challenge.methods.includes('email_code')) return { method: 'email_code', code };
    return null;
  }
  return challenge.methods.includes('recovery_code') ? { method: 'recovery_code', code } : null;
}

/**
 * Checks the answer. A right one closes the challenge (single use); a wrong one counts against the challenge (and,
 * through verifyPresentation, against the factor's own lockout) and throws SecondFactorRejected, which keeps the count.
 * `onFailure` runs before the refusal, in the same transaction (the risk engine's failed-sign-in event).
 */
export async function answerLoginChallenge(
  q: Queryable, env: VerifyEnv, challenge: LoginChallenge, answer: LoginAnswer, onFailure: () => Promise<void>,
): Promise<void> {
  const presentation = presentationOf(challenge, answer);
  let ok = false;
  if (presentation?.method === 'email_code') {
    ok = (await checkCode(q, env.secretKey, { walletId: challenge.walletId, purpose: 'login_email', code: presentation.code })).ok;
  } else if (presentation) {
    try {
      ok = (await verifyPresentation(q, env, {
        walletId: challenge.walletId, presentation, expectedWebauthnChallenge: challenge.webauthnChallenge,
      })).ok;
    } catch (err) {
      // A factor removed since the challenge opened is a wrong answer like any other: no error names a factor.
      if (!(err instanceof KozaError && err.code === SecondFactorNotEnrolled.code)) throw err;
    }
  }
  if (ok) {
    await q.query('UPDATE login_challenges SET completed_at = $2 WHERE id = $1', [challenge.id, env.now]);
    return;
  }
  const failures = challenge.failedAttempts + 1;
  const lockedNow = failures >= LOGIN_CHALLENGE_MAX_FAILURES;
  await q.query('UPDATE login_challenges SET failed_attempts = $2, locked_at = $3 WHERE id = $1',
    [challenge.id, failures, lockedNow ? env.now : null]);
  if (lockedNow) {
    await recordRiskSignal(q, { walletId: challenge.walletId, kind: 'login_challenge_locked', detail: { challenge_id: challenge.id, reason: challenge.reason } });
  }
  await onFailure();
  throw new SecondFactorRejected(lockedNow
    ? 'Too many wrong codes; sign in again with your e-mail and password.'
    : 'The code was not accepted. Check it and try again.', { attempts_left: LOGIN_CHALLENGE_MAX_FAILURES - failures });
}

/** Ties the session the challenge opened to it, for the record. */
export async function markLoginChallengeSession(q: Queryable, challengeId: string, sessionId: string): Promise<void> {
  await q.query('UPDATE login_challenges SET session_id = $2 WHERE id = $1', [challengeId, sessionId]);
}
