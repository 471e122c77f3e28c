// Owns the support path for a customer who lost every factor (issue 11): re-verify the person (eKYC, same person as on
// file) and the mailbox, wait while every channel is told, then the old factors go and the customer enrols a new one.
// Must never let a session or a password alone start the wait, shorten it, or finish it; any factor's use cancels it.
import type { Queryable } from '../../store/db.js';
import { createError, NotFound, retryIn, secondsUntil } from '../../errors.js';
import { recordRiskSignal } from '../../risk/signals.js';
import { sendMessage } from '../outbox.js';
import type { SmsSender } from '../sms.js';
import { hashToken, newToken } from '../secrets.js';
import { checkCode, CodeRejected, CODE_TTL_MINUTES, codeSendWindow, issueCode } from '../one-time-codes.js';
import { getVerifiedIdentity } from '../verification/store.js';
import { submitIdentityVerification, type VerifyIdentityDeps, type VerifyIdentityInput } from '../verification/verify-identity.js';
import { listActiveFactors, lockWalletFactors, markFactorRemoved, revokeRecoveryBatch } from './store.js';
import { afterCancel } from './reset-cancel.js';
import {
  closeReset, expireStaleResets, supersedeReset, insertFactorReset, insertResetHold, openResetOf, resetByTokenHash,
  setResetMailboxConfirmed, setResetVerification, startResetWait, verifiedPersonOf, type FactorReset,
} from './reset-store.js';
import { formatJst, formatYen } from '../../display.js';

/** A day to finish the re-verification (documents at hand, the mail read); after it the request lapses. */
export const RESET_VERIFYING_HOURS = 24;
/** At most this many mailbox codes a quarter hour per reset: a lost mail, not a flood of the owner's inbox. */
export const RESET_CODES_PER_15_MINUTES = 3;

export const FactorResetNotNeeded = createError('factor-reset-not-needed', 409, 'This wallet has no second factor to reset');
export const FactorResetNeedsIdentity = createError('factor-reset-needs-identity', 409, 'A factor reset needs a verified identity on file');
export const FactorResetOpen = createError<{ reset_id: string; status: string; waits_until: string | null }>(
  'factor-reset-open', 409, 'A factor reset is already in progress');
export const FactorResetClosed = createError<{ status: string }>('factor-reset-closed', 409, 'This factor reset can no longer go on');
export const FactorResetIdentityNotConfirmed = createError(
  'factor-reset-identity-not-confirmed', 422, 'The identity check did not confirm the wallet\'s owner', { keepWrites: true });
export const FactorResetWaiting = createError<{ waits_until: string }>('factor-reset-waiting', 409, 'The factor reset is still in its waiting period');
export const FactorResetCodeRateLimited = createError<{ retry_after_s: number }>(
  'factor-reset-code-rate-limited', 429, 'Too many codes sent', { retryable: true });

export interface ResetEnv {
  secretKey: Buffer;
  now: Date;
  sms: SmsSender;
  /** KOZA_FACTOR_RESET_WAIT_HOURS: how long every channel has to say "this was not me". */
  waitHours: number;
  /** The money-out cap during the wait and for holdHours after it (KOZA_CONTACT_CHANGE_*). */
  hold: { capYen: number; holdHours: number };
}

export interface StartedReset {
  reset: FactorReset;
  /** krt_…: the bearer for the next steps, shown once (the customer may have no session: their factors are gone). */
  token: string;
  email: string;
}

/**
 * Opens a reset for a wallet whose password was just proven (a session, or a sign-in stuck at its second-factor step)
 * and e-mails the first mailbox code. Nothing changes yet: the person and the mailbox must be proven next.
 */
export async function startFactorReset(
  q: Queryable, env: ResetEnv, input: { walletId: string; via: 'session' | 'login_challenge'; deviceId: string | null; ip: string },
): Promise<StartedReset> {
  const { email } = await lockWalletFactors(q, input.walletId);
  if ((await listActiveFactors(q, input.walletId)).length === 0) {
    throw new FactorResetNotNeeded('This wallet has no second factor: sign in with the code e-mailed to you, then enrol an authenticator app or a passkey.');
  }
  const identity = await getVerifiedIdentity(q, input.walletId);
  if (!identity) {
    throw new FactorResetNeedsIdentity('Without a verified identity on file koza cannot tell its owner from a thief here: contact koza '
      + 'support, who will verify you by other means.');
  }
  await expireStaleResets(q, input.walletId, env.now);
  const open = await openResetOf(q, input.walletId);
  // A waiting reset is never restarted (that would reset its notices' clock, or shorten nothing but confuse); one still
  // verifying proved nothing yet, so a new start replaces it: a thief's idle request cannot block the owner for a day.
  if (open?.status === 'waiting') {
    throw new FactorResetOpen(`A factor reset is already waiting until ${formatJst(open.waitsUntil!)}; complete it then, or stop it `
      + 'with "this was not me" (the token sent to your e-mail and phone) or by using any of your factors.',
    { reset_id: open.id, status: open.status, waits_until: open.waitsUntil!.toISOString() });
  }
  if (open) await supersedeReset(q, open.id);
  const token = newToken('krt');
  const reset = await insertFactorReset(q, {
    walletId: input.walletId, tokenHash: hashToken(token), personKey: identity.personKey, startedVia: input.via, deviceId: input.deviceId,
    ip: input.ip, verifyingExpiresAt: new Date(env.now.getTime() + RESET_VERIFYING_HOURS * 3_600_000), waitHours: env.waitHours, now: env.now,
  });
  await mailCode(q, env, reset, email, 'start');
  await recordRiskSignal(q, { walletId: input.walletId, kind: 'factor_reset_started', detail: { reset_id: reset.id, via: input.via, ip: input.ip } });
  return { reset, token, email };
}

async function mailCode(q: Queryable, env: ResetEnv, reset: FactorReset, email: string, step: 'start' | 'complete'): Promise<void> {
  const sent = await codeSendWindow(q, { purpose: 'factor_reset', key: { target: email }, withinMinutes: 15, limit: RESET_CODES_PER_15_MINUTES });
  if (sent.count >= RESET_CODES_PER_15_MINUTES && sent.freesAt) {
    throw new FactorResetCodeRateLimited(`A code was sent a moment ago; check your e-mail (and its spam folder). Ask again after ${formatJst(sent.freesAt)}.`,
      retryIn(secondsUntil(sent.freesAt)));
  }
  const { code } = await issueCode(q, env.secretKey, { walletId: reset.walletId, purpose: 'factor_reset', target: email });
  await sendMessage(q, {
    channel: 'email', recipient: email, subject: step === 'start' ? 'Reset the second factors of your koza wallet?' : 'Finish resetting your koza second factors',
    body: `Enter ${code} to ${step === 'start' ? 'confirm that you asked to reset your second factors (authenticator app, passkeys, recovery codes)'
      : 'remove your old second factors now that the waiting period is over'}; it expires in ${CODE_TTL_MINUTES.factor_reset} minutes. `
      + 'If you did not ask for this, do not share the code and change your password now: without it nothing changes.',
  });
}

/** The reset a bearer token names, still open; the same 404 for an unknown token. */
async function openResetByToken(q: Queryable, env: ResetEnv, token: string): Promise<FactorReset> {
  const reset = /^krt_[A-Za-z0-9_-]{43}$/.test(token) ? await resetByTokenHash(q, 'token_hash', hashToken(token)) : null;
  if (!reset) throw new NotFound('The factor reset does not exist.');
  if (reset.status === 'verifying' && reset.verifyingExpiresAt.getTime() <= env.now.getTime()) {
    await expireStaleResets(q, reset.walletId, env.now);
    throw new FactorResetClosed('The reset was not verified within a day. Start again.', { status: 'expired' });
  }
  if (reset.status !== 'verifying' && reset.status !== 'waiting') {
    throw new FactorResetClosed(reset.status === 'cancelled'
      ? 'The reset was cancelled (a factor was used, or "this was not me" was pressed). If you still need it, start again.'
      : `The reset is ${reset.status}. Start again if you need one.`, { status: reset.status });
  }
  return reset;
}

/** A new mailbox code for an open reset (the first one lapsed, or the wait is over and completion needs one). */
export async function resendResetCode(q: Queryable, env: ResetEnv, input: { token: string }): Promise<{ email: string }> {
  const peek = await openResetByToken(q, env, input.token);
  const { email } = await lockWalletFactors(q, peek.walletId);
  await mailCode(q, env, peek, email, peek.status === 'waiting' ? 'complete' : 'start');
  return { email };
}

/**
 * The person: an eKYC submission now (documents and the provider's liveness check, which a thief holding a session does
 * not have) that verifies as the same person as the identity on file when the reset started.
 */
export async function confirmResetIdentity(
  q: Queryable, env: ResetEnv, deps: VerifyIdentityDeps, input: { token: string; submission: Omit<VerifyIdentityInput, 'walletId'> },
): Promise<FactorReset> {
  const reset = await openResetByToken(q, env, input.token);
  if (reset.status !== 'verifying') throw new FactorResetClosed('The identity is already confirmed; the reset is waiting.', { status: reset.status });
  const result = await submitIdentityVerification(q, deps, { walletId: reset.walletId, ...input.submission });
  const person = result.verification.status === 'verified' ? await verifiedPersonOf(q, reset.walletId, result.verification.id) : null;
  if (!person || person.personKey !== reset.personKey) {
    throw new FactorResetIdentityNotConfirmed('The identity check did not pass. Use your own document as printed and take the selfie '
      + 'yourself; if it keeps failing, contact koza support.');
  }
  await setResetVerification(q, reset.id, result.verification.id);
  return maybeStartWait(q, env, { ...reset, verificationId: result.verification.id });
}

/** The mailbox: the code e-mailed to the wallet's address. */
export async function confirmResetMailbox(q: Queryable, env: ResetEnv, input: { token: string; code: string }): Promise<FactorReset> {
  const reset = await openResetByToken(q, env, input.token);
  if (reset.status !== 'verifying') throw new FactorResetClosed('The mailbox is already confirmed; the reset is waiting.', { status: reset.status });
  const checked = await checkCode(q, env.secretKey, { walletId: reset.walletId, purpose: 'factor_reset', code: input.code });
  if (!checked.ok) {
    if (checked.lockedNow) await recordRiskSignal(q, { walletId: reset.walletId, kind: 'otp_code_locked', detail: { purpose: 'factor_reset' } });
    throw new CodeRejected('The e-mailed code is wrong, expired or used up. Ask for a new one (POST /v1/factors/reset/email-code).');
  }
  await setResetMailboxConfirmed(q, reset.id, env.now);
  return maybeStartWait(q, env, { ...reset, mailboxConfirmedAt: env.now });
}

/**
 * Both proofs in: the wait starts, fixed now (nothing shortens it), every channel is told with a way to stop it, and
 * money-out is capped from now until holdHours after the wait (a thief who got this far is slowed, and seen).
 */
async function maybeStartWait(q: Queryable, env: ResetEnv, reset: FactorReset): Promise<FactorReset> {
  if (reset.verificationId === null || reset.mailboxConfirmedAt === null) return reset;
  const { email, phone } = await lockWalletFactors(q, reset.walletId);
  const waitsUntil = new Date(env.now.getTime() + reset.waitHours * 3_600_000);
  const cancelToken = newToken('krc');
  await startResetWait(q, reset.id, { waitsUntil, cancelTokenHash: hashToken(cancelToken), now: env.now });
  if (env.hold.capYen >= 0) {
    await insertResetHold(q, {
      walletId: reset.walletId, capYen: env.hold.capYen, startsAt: env.now,
      endsAt: new Date(waitsUntil.getTime() + Math.max(env.hold.holdHours, 1) * 3_600_000),
    });
  }
  const stop = `If this was not you, send "this was not me" with ${cancelToken} (POST /v1/factors/reset/cancel), or simply use your `
    + 'authenticator app, passkey or a recovery code in koza: either stops it at once.';
  await sendMessage(q, {
    channel: 'email', recipient: email, subject: 'Your koza second factors will be reset',
    body: `Someone proved your identity and this mailbox to reset your koza wallet's second factors. At ${formatJst(waitsUntil)} your `
      + 'authenticator app, passkeys and recovery codes will stop working and a new one can be enrolled. Until '
      + `${formatJst(new Date(waitsUntil.getTime() + Math.max(env.hold.holdHours, 1) * 3_600_000))} payments and withdrawals are limited to `
      + `${formatYen(env.hold.capYen)} a day. ${stop}`,
  });
  if (phone) {
    await env.sms.send(q, { to: phone, body: `koza: your second factors will be reset at ${formatJst(waitsUntil)}. Not you? Send code ${cancelToken} `
      + 'as "this was not me" in koza or contact support now.' });
  }
  await recordRiskSignal(q, { walletId: reset.walletId, kind: 'factor_reset_waiting', detail: { reset_id: reset.id, waits_until: waitsUntil.toISOString() } });
  return { ...reset, status: 'waiting', waitsUntil };
}

/** "This was not me": the token sent to the e-mail and the phone stops the reset; the cap stays (someone got far). */
export async function cancelResetNotMe(q: Queryable, env: ResetEnv, input: { cancelToken: string }): Promise<FactorReset> {
  const reset = /^krc_[A-Za-z0-9_-]{43}$/.test(input.cancelToken)
    ? await resetByTokenHash(q, 'cancel_token_hash', hashToken(input.cancelToken)) : null;
  if (!reset) throw new NotFound('The factor reset does not exist.');
  if (reset.status === 'cancelled') return reset;
  if (reset.status !== 'waiting') throw new FactorResetClosed(`The reset is already ${reset.status}; contact koza support.`, { status: reset.status });
  await closeReset(q, reset.id, { status: 'cancelled', via: 'not_me', now: env.now });
  await afterCancel(q, reset, 'not_me');
  return { ...reset, status: 'cancelled', cancelledVia: 'not_me' };
}

/**
 * After the wait, with a fresh mailbox code: the old factors and recovery codes stop working. The wallet then has
 * none, so its next sign-in asks for an e-mailed code and its first factor a mailbox proof (enrollment.ts), as at sign-up.
 */
export async function completeFactorReset(q: Queryable, env: ResetEnv, input: { token: string; code: string }): Promise<FactorReset> {
  const reset = await openResetByToken(q, env, input.token);
  if (reset.status !== 'waiting' || reset.waitsUntil!.getTime() > env.now.getTime()) {
    const until = reset.waitsUntil;
    throw new FactorResetWaiting(until
      ? `Your old factors can be removed from ${formatJst(until)}; until then anyone with them can stop the reset. Come back then.`
      : 'Confirm your identity and your e-mail first.', { waits_until: until?.toISOString() ?? '' });
  }
  const checked = await checkCode(q, env.secretKey, { walletId: reset.walletId, purpose: 'factor_reset', code: input.code });
  if (!checked.ok) throw new CodeRejected('The e-mailed code is wrong, expired or used up. Ask for a new one (POST /v1/factors/reset/email-code).');
  const { email, phone } = await lockWalletFactors(q, reset.walletId);
  for (const factor of await listActiveFactors(q, reset.walletId, { lock: true })) await markFactorRemoved(q, factor.id, env.now);
  await revokeRecoveryBatch(q, reset.walletId, env.now);
  await closeReset(q, reset.id, { status: 'completed', now: env.now });
  await recordRiskSignal(q, { walletId: reset.walletId, kind: 'factor_reset_completed', detail: { reset_id: reset.id } });
  await sendMessage(q, {
    channel: 'email', recipient: email, subject: 'Your koza second factors were reset',
    body: 'Your old authenticator app, passkeys and recovery codes no longer work. Sign in and enrol a new one now; a code e-mailed to '
      + 'you confirms it. If this was not you, contact koza support at once.',
  });
  if (phone) await env.sms.send(q, { to: phone, body: 'koza: your second factors were reset. Not you? Contact koza support now.' });
  return { ...reset, status: 'completed' };
}

