// Owns step-up challenges and their proofs (SPEC §3, PSD2 RTS Art. 5): approve one action, amount and destination, once.
// Must never let a proof authorise anything but what was approved, nor be used twice, late, or by another wallet.
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { createError, NotFound, retryIn, secondsUntil } from '../errors.js';
import { yenFromDb, type Yen } from '../money.js';
import { recordRiskSignal } from '../risk/signals.js';
import { constantTimeEqual, hashToken, keyedHash, newNumericCode, newToken } from './secrets.js';
import { sendMessage } from './outbox.js';
import { getWallet } from '../wallets/wallets.js';
import { describeBinding, sameBinding, webauthnChallengeFor, type StepUpAction, type StepUpBinding } from './step-up-binding.js';
import { passkeyRequestOptions } from './factors/passkeys.js';
import { linkedBankAccountCount, listActiveFactors, listActivePasskeys, liveRecoveryBatch } from './factors/store.js';
import { SecondFactorRejected, verifyPresentation, type FactorMethod, type Presentation, type VerifyEnv } from './factors/verify.js';

/** Five minutes to approve: enough to find a phone, short enough that an abandoned checkout is not approvable tomorrow. */
export const STEP_UP_CHALLENGE_MINUTES = 5;
/** The money route must follow within five minutes (the RTS Art. 4(3)(d) caps an idle session at the same). */
export const STEP_UP_PROOF_MINUTES = 5;
/** Five wrong tries and the challenge is dead (RTS Art. 4(3)(b)); a new one must be asked for. */
export const STEP_UP_MAX_FAILURES = 5;

/** When a wallet without a second factor has nothing to approve with (its e-mail is not verified, or not a money action). */
export const SecondFactorRequired = createError<{ methods: StepUpMethod[] }>('second-factor-required', 409, 'Enrol a second factor first');
export const StepUpCodeRateLimited = createError('step-up-code-rate-limited', 429, 'Too many approval codes sent');
export const StepUpChallengeClosed = createError<{ reason: 'expired' | 'approved' | 'too_many_failures' }>(
  'step-up-challenge-closed', 409, 'This step-up challenge can no longer be approved');
export const StepUpRequired = createError<{ action: StepUpAction; methods: StepUpMethod[]; challenge_path: string }>('step-up-required', 403, 'This action needs a step-up approval');
export const StepUpProofInvalid = createError<{ reason: 'unknown' | 'used' | 'expired' | 'mismatch' }>(
  'step-up-proof-invalid', 403, 'The step-up proof does not authorise this action');

/**
 * How a step-up is approved: the wallet's factors; an e-mailed code when it has none yet, for a money action only. A
 * wallet without a factor can enrol one with an e-mailed code anyway (factors/enrollment.ts), so the e-mailed code here
 * is no weaker than the detour, and it is never offered once a factor exists (a takeover may hold the mailbox too).
 * SMS is never a way: a SIM-swapper has it.
 */
export type StepUpMethod = FactorMethod | 'email_code';

/**
 * The actions an e-mailed code may approve: a payment from the balance of a wallet that has no second factor and no live
 * bank link (funded by transfer). Never a charge or a withdrawal, and never while a link is live: a link needed a factor,
 * so a linked wallet without one has just had its factors reset, and its bank money waits for a new factor.
 */
const EMAIL_CODE_ACTIONS: ReadonlySet<StepUpAction> = new Set(['payment']);
/** At most five e-mailed approval codes per wallet in 15 minutes: a stolen session cannot flood the owner's mailbox. */
export const STEP_UP_EMAIL_CODES_PER_15_MIN = 5;

export async function stepUpMethods(q: Queryable, walletId: string, action: StepUpAction): Promise<StepUpMethod[]> {
  const factors = await listActiveFactors(q, walletId);
  const methods: StepUpMethod[] = [];
  if (factors.some((f) => f.kind === 'totp')) methods.push('totp');
  if (factors.some((f) => f.kind === 'passkey')) methods.push('passkey');
  if (factors.length > 0) {
    const recovery = await liveRecoveryBatch(q, walletId);
    if (recovery && recovery.remaining > 0) methods.push('recovery_code');
    return methods;
  }
  if (EMAIL_CODE_ACTIONS.has(action) && (await getWallet(q, walletId)).emailVerified
    && (await linkedBankAccountCount(q, walletId)) === 0) methods.push('email_code');
  return methods;
}

const PROOF_PATTERN = /^kzp_[A-Za-z0-9_-]{43}$/;

/** What approves a challenge: a factor's presentation, or the code e-mailed for it (a wallet without a factor). */
export type StepUpPresentation = Presentation | { method: 'email_code'; code: string };

export type ChallengeStatus = 'pending' | 'approved' | 'expired' | 'locked';

export interface StepUpChallenge {
  id: string;
  walletId: string;
  binding: StepUpBinding;
  description: string;
  webauthnChallenge: string;
  /** The keyed hash of the code e-mailed for it (a wallet without a factor), or null. */
  emailCodeHash: string | null;
  failedAttempts: number;
  expiresAt: Date;
  approvedAt: Date | null;
  lockedAt: Date | null;
  createdAt: Date;
}

interface ChallengeRow {
  id: string; wallet_id: string; action: StepUpAction; amount: number | null; destination: string | null;
  webauthn_challenge: string; failed_attempts: number; expires_at: Date; approved_at: Date | null; locked_at: Date | null;
  created_at: Date; email_code_hash: string | null;
}

function toChallenge(r: ChallengeRow): StepUpChallenge {
  const binding: StepUpBinding = { action: r.action, amount: r.amount === null ? null : yenFromDb(r.amount), destination: r.destination };
  return {
    id: r.id, walletId: r.wallet_id, binding, description: describeBinding(binding), webauthnChallenge: r.webauthn_challenge,
    emailCodeHash: r.email_code_hash, failedAttempts: r.failed_attempts, expiresAt: new Date(r.expires_at), approvedAt: r.approved_at && new Date(r.approved_at),
    lockedAt: r.locked_at && new Date(r.locked_at), createdAt: new Date(r.created_at),
  };
}

export function challengeStatus(challenge: StepUpChallenge, now: Date): ChallengeStatus {
  if (challenge.approvedAt) return 'approved';
  if (challenge.lockedAt) return 'locked';
  return challenge.expiresAt.getTime() <= now.getTime() ? 'expired' : 'pending';
}

export interface CreatedChallenge {
  challenge: StepUpChallenge;
  /** The factors that can approve it (email_code: a code was just e-mailed for this challenge). */
  methods: StepUpMethod[];
  /** For a passkey: navigator.credentials.get() options whose challenge commits to the binding. */
  webauthn: PublicKeyCredentialRequestOptionsJSON | null;
}

export async function createStepUpChallenge(
  q: Queryable, env: Pick<VerifyEnv, 'rp' | 'now' | 'secretKey'>, input: { walletId: string; binding: StepUpBinding },
): Promise<CreatedChallenge> {
  const factors = await listActiveFactors(q, input.walletId);
  const methods = await stepUpMethods(q, input.walletId, input.binding.action);
  if (methods.length === 0) {
    throw new SecondFactorRequired('Enrol a passkey or an authenticator app (POST /v1/factors/passkeys or /v1/factors/totp, '
      + 'confirmed with a code from your e-mail), then ask again.', { methods });
  }
  if (input.binding.action === 'factor_removal' && !factors.some((f) => f.id === input.binding.destination)) {
    throw new NotFound('The factor to remove does not exist or was already removed.');
  }
  if (input.binding.action === 'factor_replacement' && !factors.some((f) => f.id === input.binding.destination && f.kind === 'totp')) {
    throw new NotFound('The authenticator app to replace does not exist or was already replaced; GET /v1/factors lists yours.');
  }
  const id = newId('stp');
  const webauthnChallenge = webauthnChallengeFor(id, input.binding);
  const emailed = methods.includes('email_code') ? await emailCodeFor(q, env, id, input) : null;
  const res = await q.query<ChallengeRow>(
    `INSERT INTO step_up_challenges (id, wallet_id, action, amount, destination, webauthn_challenge, expires_at, created_at,
       email_code_hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
    [id, input.walletId, input.binding.action, input.binding.amount, input.binding.destination, webauthnChallenge,
      new Date(env.now.getTime() + STEP_UP_CHALLENGE_MINUTES * 60_000), env.now, emailed]);
  const passkeys = await listActivePasskeys(q, input.walletId);
  return {
    challenge: toChallenge(res.rows[0]!), methods,
    webauthn: passkeys.length === 0 ? null : await passkeyRequestOptions(env.rp, { challenge: webauthnChallenge, allowed: passkeys }),
  };
}

/**
 * A code for one challenge, e-mailed to the wallet's verified address with what it approves (the customer reads the
 * amount and the merchant before typing it). Returns its keyed hash, bound to the challenge id.
 */
async function emailCodeFor(
  q: Queryable, env: Pick<VerifyEnv, 'now' | 'secretKey'>, challengeId: string, input: { walletId: string; binding: StepUpBinding },
): Promise<string> {
  const recent = await q.query<{ created_at: Date }>(
    `SELECT created_at FROM step_up_challenges WHERE wallet_id = $1 AND email_code_hash IS NOT NULL AND created_at > $2
      ORDER BY created_at DESC OFFSET $3 - 1 LIMIT 1`,
    [input.walletId, new Date(env.now.getTime() - 15 * 60_000), STEP_UP_EMAIL_CODES_PER_15_MIN]);
  if (recent.rows[0]) {
    throw new StepUpCodeRateLimited('Several approval codes were sent a moment ago; use the newest one in your e-mail.',
      retryIn(secondsUntil(new Date(new Date(recent.rows[0].created_at).getTime() + 15 * 60_000), env.now)));
  }
  const wallet = await getWallet(q, input.walletId);
  const code = newNumericCode(6);
  await sendMessage(q, {
    channel: 'email', recipient: wallet.email.toLowerCase(), subject: 'Your koza approval code',
    body: `To approve "${describeBinding(input.binding)}", enter ${code} in koza within ${STEP_UP_CHALLENGE_MINUTES} minutes. `
      + 'If you did not ask for this, do not share the code: change your password now.',
  });
  return keyedHash(env.secretKey, 'step-up-email', challengeId, code);
}

/** The wallet's challenge; the same 404 for an unknown id and another wallet's. */
export async function getStepUpChallenge(q: Queryable, walletId: string, challengeId: string, lock = false): Promise<StepUpChallenge> {
  const res = await q.query<ChallengeRow>(
    `SELECT * FROM step_up_challenges WHERE id = $1 AND wallet_id = $2${lock ? ' FOR UPDATE' : ''}`, [challengeId, walletId]);
  if (!res.rows[0]) throw new NotFound('The step-up challenge does not exist.');
  return toChallenge(res.rows[0]);
}

export interface IssuedProof {
  proof: string;
  proofId: string;
  binding: StepUpBinding;
  expiresAt: Date;
}

/**
 * Approves a challenge with a second factor and mints its single proof. A wrong answer counts against
 * the challenge (and the factor's own lockout); the fifth kills the challenge and raises a risk signal.
 */
export async function approveStepUpChallenge(
  q: Queryable, env: VerifyEnv, input: { walletId: string; challengeId: string; presentation: StepUpPresentation },
): Promise<IssuedProof> {
  const challenge = await getStepUpChallenge(q, input.walletId, input.challengeId, true);
  const status = challengeStatus(challenge, env.now);
  if (status !== 'pending') {
    const reason = status === 'locked' ? 'too_many_failures' : status;
    throw new StepUpChallengeClosed(status === 'approved'
      ? 'This challenge was already approved; its proof was handed out once.'
      : 'Ask for a new step-up challenge.', { reason });
  }
  const presentation = input.presentation;
  const verdict = presentation.method === 'email_code'
    ? { ok: await emailCodeMatches(q, env, challenge, presentation.code) }
    : await verifyPresentation(q, env, {
      walletId: input.walletId, presentation, expectedWebauthnChallenge: challenge.webauthnChallenge,
    });
  if (!verdict.ok) {
    const failures = challenge.failedAttempts + 1;
    const lockedNow = failures >= STEP_UP_MAX_FAILURES;
    await q.query('UPDATE step_up_challenges SET failed_attempts = $2, locked_at = $3 WHERE id = $1',
      [challenge.id, failures, lockedNow ? env.now : null]);
    if (lockedNow) {
      await recordRiskSignal(q, { walletId: input.walletId, kind: 'step_up_challenge_locked', detail: {
        challenge_id: challenge.id, action: challenge.binding.action,
      } });
    }
    // The same words for every factor and every reason (SPEC §3: an error never says which factor was wrong).
    throw new SecondFactorRejected(lockedNow ? 'Too many wrong tries; ask for a new step-up challenge.' : 'The second factor was not accepted. Try again.',
      { attempts_left: STEP_UP_MAX_FAILURES - failures });
  }
  await q.query('UPDATE step_up_challenges SET approved_at = $2, approved_with = $3 WHERE id = $1',
    [challenge.id, env.now, input.presentation.method]);
  const proof = newToken('kzp');
  const proofId = newId('prf');
  const expiresAt = new Date(env.now.getTime() + STEP_UP_PROOF_MINUTES * 60_000);
  await q.query(
    `INSERT INTO step_up_proofs (id, challenge_id, wallet_id, token_hash, action, amount, destination, expires_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [proofId, challenge.id, input.walletId, hashToken(proof), challenge.binding.action, challenge.binding.amount,
      challenge.binding.destination, expiresAt, env.now]);
  return { proof, proofId, binding: challenge.binding, expiresAt };
}

/**
 * The e-mailed code approves only the challenge it was sent for, and only while the wallet still has no factor: once one
 * is enrolled, the factor is the way (a takeover may hold the mailbox).
 */
async function emailCodeMatches(q: Queryable, env: Pick<VerifyEnv, 'secretKey'>, challenge: StepUpChallenge, code: string): Promise<boolean> {
  if (challenge.emailCodeHash === null || !/^[0-9]{6}$/.test(code)) return false;
  if ((await listActiveFactors(q, challenge.walletId)).length > 0) return false;
  return constantTimeEqual(keyedHash(env.secretKey, 'step-up-email', challenge.id, code), challenge.emailCodeHash);
}

/** A proof as a retry presents it: genuine for this wallet and this exact binding, used or not, expired or not. */
export interface PresentedProof {
  id: string;
  used: boolean;
  expired: boolean;
}

/**
 * The proof a retry carries, locked (FOR UPDATE) until the caller's transaction ends, when the wallet's factor approved
 * it for exactly this binding; null for anything else (no proof, a made-up one, another wallet's, another binding).
 * The lock makes every retry that carries one proof wait for the one before it, in any process: the risk engine
 * counts an action once (risk/count-once.ts) by reading what the earlier retry committed.
 */
export async function lockPresentedProof(
  q: Queryable, input: { walletId: string; proof: string | null | undefined; binding: StepUpBinding; now: Date },
): Promise<PresentedProof | null> {
  if (!input.proof || !PROOF_PATTERN.test(input.proof)) return null;
  const res = await q.query<{ id: string; wallet_id: string; action: StepUpAction; amount: number | null; destination: string | null;
    expires_at: Date; used_at: Date | null }>(
    'SELECT id, wallet_id, action, amount, destination, expires_at, used_at FROM step_up_proofs WHERE token_hash = $1 FOR UPDATE',
    [hashToken(input.proof)]);
  const row = res.rows[0];
  if (!row || row.wallet_id !== input.walletId) return null;
  const approved: StepUpBinding = { action: row.action, amount: row.amount === null ? null : yenFromDb(row.amount), destination: row.destination };
  if (!sameBinding(approved, input.binding)) return null;
  return { id: row.id, used: row.used_at !== null, expired: new Date(row.expires_at).getTime() <= input.now.getTime() };
}

/**
 * What a money route (or a factor change) calls before acting: throws unless the proof was approved by this
 * wallet for exactly this action, amount and destination, is unexpired and unused; then spends it in the
 * caller's transaction, so a rolled-back payment leaves the proof usable and a committed one never twice.
 */
export async function consumeStepUpProof(q: Queryable, input: ProofToSpend): Promise<void> {
  await consumeStepUpProofApprovedWith(q, input);
}

type ProofToSpend = {
  walletId: string; proof: string | null | undefined; action: StepUpAction; amount: Yen | null; destination: string | null; now?: Date;
};

/** consumeStepUpProof, answering how the proof was approved (a recovery code spent earns a fresh set on a factor move). */
export async function consumeStepUpProofApprovedWith(q: Queryable, input: ProofToSpend): Promise<{ approvedWith: FactorMethod }> {
  const now = input.now ?? new Date();
  if (input.proof === undefined || input.proof === null || input.proof === '') {
    const methods = await stepUpMethods(q, input.walletId, input.action);
    throw new StepUpRequired(methods.length > 0
      ? `Approve this ${input.action} first: ask for a step-up challenge (POST /v1/step-up/challenges) for it, approve it with `
        + `${methods.join(' or ')}, and send its proof with the same request.`
      : 'This needs a second factor: enrol a passkey or an authenticator app (confirmed with a code from your e-mail), then '
        + 'approve a step-up challenge for it and send its proof.',
    { action: input.action, methods, challenge_path: '/v1/step-up/challenges' });
  }
  const invalid = (reason: 'unknown' | 'used' | 'expired' | 'mismatch', detail: string) => new StepUpProofInvalid(detail, { reason });
  if (!PROOF_PATTERN.test(input.proof)) throw invalid('unknown', 'The step-up proof is not valid.');
  const res = await q.query<{ id: string; wallet_id: string; action: StepUpAction; amount: number | null; destination: string | null;
    expires_at: Date; used_at: Date | null; approved_with: FactorMethod }>(
    `SELECT p.id, p.wallet_id, p.action, p.amount, p.destination, p.expires_at, p.used_at, c.approved_with
       FROM step_up_proofs p JOIN step_up_challenges c ON c.id = p.challenge_id WHERE p.token_hash = $1 FOR UPDATE OF p`,
    [hashToken(input.proof)]);
  const row = res.rows[0];
  // Another wallet's proof is answered like a made-up one: it tells nobody it exists.
  if (!row || row.wallet_id !== input.walletId) throw invalid('unknown', 'The step-up proof is not valid.');
  if (row.used_at !== null) throw invalid('used', 'The step-up proof was already used; approve a new challenge.');
  if (new Date(row.expires_at).getTime() <= now.getTime()) throw invalid('expired', 'The step-up proof has expired; approve a new challenge.');
  const approved: StepUpBinding = { action: row.action, amount: row.amount === null ? null : yenFromDb(row.amount), destination: row.destination };
  if (!sameBinding(approved, { action: input.action, amount: input.amount, destination: input.destination })) {
    throw invalid('mismatch', 'The step-up proof was approved for a different action, amount or destination.');
  }
  await q.query('UPDATE step_up_proofs SET used_at = $2 WHERE id = $1', [row.id, now]);
  return { approvedWith: row.approved_with };
}
