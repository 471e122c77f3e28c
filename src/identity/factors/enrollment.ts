// Owns the life of a second factor: enrol TOTP or a passkey, recovery codes with the first factor, removal.
// Must never activate a factor the customer has not proved, nor add or remove one on a session alone once one exists.
import type { PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Queryable } from '../../store/db.js';
import { Conflict, createError, NotFound, retryIn, secondsUntil } from '../../errors.js';
import { recordRiskSignal } from '../../risk/signals.js';
import { sendMessage } from '../outbox.js';
import { seal } from '../secrets.js';
import { checkCode, CodeRejected, CODE_TTL_MINUTES, codeSendWindow, issueCode } from '../one-time-codes.js';
import { consumeStepUpProof, consumeStepUpProofApprovedWith } from '../step-up.js';
import { sandboxSmsSender, type SmsSender } from '../sms.js';
import { newTotpSecret, qrCodeSvg, totpProvisioningUri } from './totp.js';
import {
  newCeremonyChallenge, passkeyRegistrationOptions, verifyPasskeyRegistration, PASSKEY_CEREMONY_SECONDS,
} from './passkeys.js';
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from './recovery-codes.js';
import { assertFactorRemovable } from './removal-rule.js';
import { checkTotpFactor, SecondFactorRejected, type VerifyEnv } from './verify.js';
import {
  activateFactor, consumeWebauthnChallenge, getFactorForUpdate, insertCredential, insertPendingFactor, insertWebauthnChallenge,
  linkedBankAccountCount, listActiveFactors, listActivePasskeys, liveRecoveryBatch, lockWalletFactors, markFactorRemoved,
  replaceRecoveryBatch, revokeRecoveryBatch, type Factor, type FactorKind,
} from './store.js';

/** Ten minutes to install an authenticator app, scan the code and type the first code. */
export const TOTP_ENROLLMENT_MINUTES = 10;

export const TotpAlreadyEnrolled = createError('totp-already-enrolled', 409, 'An authenticator app is already enrolled');
export const EnrollmentExpired = createError('enrollment-expired', 409, 'This enrolment can no longer be completed');

/** The server key, the relying party and the clock: the same that checking a factor needs. */
export type FactorEnv = VerifyEnv;

export interface EnrollmentRequest {
  walletId: string;
  label: string | undefined;
  /** Needed once the wallet has a factor: a proof for action factor_enrollment. */
  stepUpProof: string | undefined;
  /** The session asking: its device decides whether the first factor needs a mailbox proof. */
  sessionId: string;
  /** The first factor, away from the sign-up: the code e-mailed by sendFirstFactorEmailCode. */
  emailCode: string | undefined;
  /** A TOTP only: the enrolled authenticator app this one replaces (a new phone); needs a proof for factor_replacement. */
  replaces?: string | undefined;
}

/** The sign-up's own mailbox proof stands for this long on the device that made it. */
export const SIGNUP_MAILBOX_PROOF_HOURS = 24;

export const EmailCodeRequired = createError('email-code-required', 403, 'Confirm with a code from your e-mail first');

const KIND_NAMES: Record<FactorKind, string> = { totp: 'an authenticator app', passkey: 'a passkey' };

/**
 * Once a wallet has a factor, adding another needs a proof from an existing one: a stolen session must not add its own.
 * The first factor needs a proof of the wallet's mailbox: a session opened with the password alone (a thief's) must not
 * make its own authenticator the wallet's, which would then approve every step-up. The sign-up's e-mail code is that
 * proof on the device that signed up, for a day (the honest first-time flow needs no extra code); elsewhere or later,
 * a code e-mailed now (one extra code).
 */
async function requireProofToAdd(q: Queryable, env: FactorEnv, input: EnrollmentRequest): Promise<void> {
  const active = await listActiveFactors(q, input.walletId);
  if (active.length === 0) {
    await requireMailboxProof(q, env, input);
    return;
  }
  await consumeStepUpProof(q, { walletId: input.walletId, proof: input.stepUpProof, action: 'factor_enrollment', amount: null, destination: null, now: env.now });
}

async function requireMailboxProof(q: Queryable, env: FactorEnv, input: EnrollmentRequest): Promise<void> {
  const res = await q.query<{ signup_device: boolean }>(
    `SELECT coalesce(w.email_verified_at > $3::timestamptz - make_interval(hours => $4)
         AND s.device_id = (SELECT d.id FROM devices d WHERE d.wallet_id = w.id ORDER BY d.first_seen_at, d.id LIMIT 1), false) AS signup_device
       FROM wallets w JOIN sessions s ON s.id = $2 AND s.wallet_id = w.id WHERE w.id = $1`,
    [input.walletId, input.sessionId, env.now, SIGNUP_MAILBOX_PROOF_HOURS]);
  if (res.rows[0]?.signup_device) return;
  if (input.emailCode === undefined) {
    throw new EmailCodeRequired('Ask for a code (POST /v1/factors/email-code), then send it as email_code with this request. '
      + 'It goes to your wallet\'s e-mail address, so only its owner can add the first second factor.');
  }
  const checked = await checkCode(q, env.secretKey, { walletId: input.walletId, purpose: 'factor_enrollment', code: input.emailCode });
  if (!checked.ok) {
    if (checked.lockedNow) await recordRiskSignal(q, { walletId: input.walletId, kind: 'otp_code_locked', detail: { purpose: 'factor_enrollment' } });
    throw new CodeRejected('The e-mailed code is wrong, expired or used up. Ask for a new one.');
  }
}

/** At most a few codes a quarter hour: enough for a lost mail, too few to flood the owner's inbox. */
export const FIRST_FACTOR_CODES_PER_15_MINUTES = 3;

/** E-mails the code that lets this wallet enrol its first factor away from the sign-up device; the owner reads why. */
export async function sendFirstFactorEmailCode(
  q: Queryable, env: FactorEnv, input: { walletId: string; ip: string },
): Promise<{ email: string; expiresInSeconds: number }> {
  const { email } = await lockWalletFactors(q, input.walletId);
  if ((await listActiveFactors(q, input.walletId)).length > 0) {
    throw new Conflict('This wallet already has a second factor; adding another needs a step-up approval with it.');
  }
  const sent = await codeSendWindow(q, { purpose: 'factor_enrollment', key: { target: email }, withinMinutes: 15, limit: FIRST_FACTOR_CODES_PER_15_MINUTES });
  if (sent.count >= FIRST_FACTOR_CODES_PER_15_MINUTES && sent.freesAt) {
    throw new FactorCodeRateLimited('A code was sent a moment ago; check your e-mail (and its spam folder) for it.',
      retryIn(secondsUntil(sent.freesAt)));
  }
  const { code } = await issueCode(q, env.secretKey, { walletId: input.walletId, purpose: 'factor_enrollment', target: email, ip: input.ip });
  await sendMessage(q, {
    channel: 'email', recipient: email, subject: 'Your koza code to add a second factor',
    body: `Enter ${code} to add an authenticator app or a passkey to your koza wallet; it expires in `
      + `${CODE_TTL_MINUTES.factor_enrollment} minutes. If you did not ask for it, someone may know your password: `
      + 'do not share the code, and change your password now.',
  });
  await recordRiskSignal(q, { walletId: input.walletId, kind: 'first_factor_enrollment_code_sent', detail: { ip: input.ip } });
  return { email, expiresInSeconds: CODE_TTL_MINUTES.factor_enrollment * 60 };
}

export const FactorCodeRateLimited = createError<{ retry_after_s: number }>('factor-code-rate-limited', 429, 'Too many codes sent', { retryable: true });

export interface TotpEnrollment {
  factor: Factor;
  secret: string;
  uri: string;
  qrSvg: string;
}

export const NothingToReplace = createError('nothing-to-replace', 404, 'There is no such authenticator app to replace');

/**
 * Starts enrolling an authenticator app. A wallet has one: to move it to a new phone, the enrolment names the one it
 * replaces (`replaces`) and carries a proof for factor_replacement bound to it, approved by the old app, a passkey or
 * a recovery code (a new phone has no old app). The old one keeps working until the new one is confirmed.
 */
export async function startTotpEnrollment(q: Queryable, env: FactorEnv, input: EnrollmentRequest): Promise<TotpEnrollment> {
  const { email } = await lockWalletFactors(q, input.walletId);
  const [current] = await listActiveFactors(q, input.walletId, { kind: 'totp' });
  let replacement: { replacesFactorId: string; provenWith: Factor['provenWith'] } | null = null;
  if (current && input.replaces === undefined) {
    throw new TotpAlreadyEnrolled(`A wallet has one authenticator app. To move it to a new phone, send replaces: "${current.id}" `
      + 'with a step-up proof for action factor_replacement and that destination, approved with the old app, a passkey or a recovery code.');
  }
  if (input.replaces !== undefined) {
    if (!current || current.id !== input.replaces) {
      throw new NothingToReplace('That authenticator app is not enrolled (GET /v1/factors lists yours). Without one, enrol without replaces.');
    }
    const { approvedWith } = await consumeStepUpProofApprovedWith(q, {
      walletId: input.walletId, proof: input.stepUpProof, action: 'factor_replacement', amount: null, destination: current.id, now: env.now,
    });
    replacement = { replacesFactorId: current.id, provenWith: approvedWith };
  } else {
    await requireProofToAdd(q, env, input);
  }
  const secret = newTotpSecret();
  const factor = await insertPendingFactor(q, {
    walletId: input.walletId, kind: 'totp', label: input.label ?? 'Authenticator app',
    enrollmentExpiresAt: new Date(env.now.getTime() + TOTP_ENROLLMENT_MINUTES * 60_000),
    totpSecretSealed: seal(env.secretKey, secret), ...(replacement ?? {}),
  });
  const uri = totpProvisioningUri(secret, email);
  return { factor, secret, uri, qrSvg: await qrCodeSvg(uri) };
}

export interface PasskeyEnrollment {
  factor: Factor;
  options: PublicKeyCredentialCreationOptionsJSON;
}

export async function startPasskeyEnrollment(q: Queryable, env: FactorEnv, input: EnrollmentRequest): Promise<PasskeyEnrollment> {
  const { email } = await lockWalletFactors(q, input.walletId);
  await requireProofToAdd(q, env, input);
  const expiresAt = new Date(env.now.getTime() + PASSKEY_CEREMONY_SECONDS * 1000);
  const factor = await insertPendingFactor(q, {
    walletId: input.walletId, kind: 'passkey', label: input.label ?? 'Passkey', enrollmentExpiresAt: expiresAt,
  });
  const challenge = newCeremonyChallenge();
  await insertWebauthnChallenge(q, { walletId: input.walletId, factorId: factor.id, challenge, expiresAt });
  const options = await passkeyRegistrationOptions(env.rp, {
    walletId: input.walletId, account: email, challenge, existing: await listActivePasskeys(q, input.walletId),
  });
  return { factor, options };
}

/** The pending factor of this wallet and kind, still in time; the same 404 for another wallet's id. */
async function pendingFactor(q: Queryable, env: FactorEnv, walletId: string, factorId: string, kind: FactorKind): Promise<Factor> {
  const factor = await getFactorForUpdate(q, walletId, factorId);
  if (!factor || factor.kind !== kind) throw new NotFound('The enrolment does not exist.');
  if (factor.status !== 'pending') throw new Conflict('This factor is already enrolled or was removed.');
  if (factor.enrollmentExpiresAt.getTime() <= env.now.getTime()) {
    throw new EnrollmentExpired('The enrolment took too long. Start again.');
  }
  return factor;
}

export interface Activated {
  factor: Factor;
  /** Shown once, when the wallet's first factor is enrolled; null otherwise. */
  recoveryCodes: string[] | null;
}

/** Makes the factor count, hands out recovery codes with the first one, and tells the customer by e-mail. */
async function activate(q: Queryable, env: FactorEnv, email: string, pending: Factor): Promise<Activated> {
  const factor = await activateFactor(q, pending.id, env.now);
  const recoveryCodes = await liveRecoveryBatch(q, factor.walletId) === null
    ? await issueRecoveryCodes(q, env, factor.walletId)
    : null;
  await recordRiskSignal(q, { walletId: factor.walletId, kind: 'second_factor_added', detail: { factor_id: factor.id, factor_kind: factor.kind } });
  await sendMessage(q, {
    channel: 'email', recipient: email, subject: 'A second factor was added to your koza wallet',
    body: `${KIND_NAMES[factor.kind]} ("${factor.label}") can now approve payments and changes on your wallet. `
      + 'If this was not you, sign in, remove it and change your password, or contact support.',
  });
  return { factor, recoveryCodes };
}

export async function confirmTotpEnrollment(
  q: Queryable, env: FactorEnv, input: { walletId: string; factorId: string; code: string; sms?: SmsSender },
): Promise<Activated> {
  const { email, phone } = await lockWalletFactors(q, input.walletId);
  const factor = await pendingFactor(q, env, input.walletId, input.factorId, 'totp');
  const [current] = await listActiveFactors(q, input.walletId, { kind: 'totp' });
  if (current && current.id !== factor.replacesFactorId) {
    throw new TotpAlreadyEnrolled(factor.replacesFactorId
      ? 'The authenticator app this was to replace was replaced meanwhile; start again with the one now enrolled.'
      : 'Another authenticator app was enrolled meanwhile; a wallet has one.');
  }
  if (!(await checkTotpFactor(q, env, factor, input.code))) {
    throw new SecondFactorRejected('The code is not valid. Check the time on your phone and type the current code.');
  }
  if (!current) return activate(q, env, email, factor);
  return replaceTotp(q, env, { email, phone, sms: input.sms ?? sandboxSmsSender }, current, factor);
}

/**
 * The new authenticator app takes the old one's place in one transaction: never a moment with none (the wallet's
 * links need a factor), never two live (the unique index forbids it). Both channels hear of it: a thief who moved
 * the app is seen by the owner. A recovery code spent to prove it means the paper is in use: a fresh set replaces it.
 */
async function replaceTotp(
  q: Queryable, env: FactorEnv, contact: { email: string; phone: string | null; sms: SmsSender }, old: Factor, pending: Factor,
): Promise<Activated> {
  await markFactorRemoved(q, old.id, env.now);
  const factor = await activateFactor(q, pending.id, env.now);
  const recoveryCodes = pending.provenWith === 'recovery_code' || await liveRecoveryBatch(q, factor.walletId) === null
    ? await issueRecoveryCodes(q, env, factor.walletId)
    : null;
  await recordRiskSignal(q, { walletId: factor.walletId, kind: 'second_factor_replaced', detail: {
    factor_id: factor.id, replaced_factor_id: old.id, proven_with: pending.provenWith,
  } });
  await sendMessage(q, {
    channel: 'email', recipient: contact.email, subject: 'Your koza authenticator app was replaced',
    body: `The authenticator app "${old.label}" no longer works on your wallet; "${factor.label}" replaces it `
      + `(approved with ${pending.provenWith === 'recovery_code' ? 'a recovery code' : pending.provenWith === 'passkey' ? 'a passkey' : 'the old app'}).`
      + (recoveryCodes ? ' New recovery codes were shown once; the old ones no longer work.' : '')
      + ' If this was not you, contact koza support at once.',
  });
  if (contact.phone) {
    await contact.sms.send(q, { to: contact.phone, body: 'koza: your wallet\'s authenticator app was replaced. Not you? Contact koza support now.' });
  }
  return { factor, recoveryCodes };
}

export async function confirmPasskeyEnrollment(
  q: Queryable, env: FactorEnv, input: { walletId: string; factorId: string; credential: RegistrationResponseJSON },
): Promise<Activated> {
  const { email } = await lockWalletFactors(q, input.walletId);
  const factor = await pendingFactor(q, env, input.walletId, input.factorId, 'passkey');
  // Spent before the check: a registration challenge answers once, rightly or wrongly.
  const challenge = await consumeWebauthnChallenge(q, factor.id, env.now);
  if (challenge === null) throw new EnrollmentExpired('The passkey ceremony was already answered or took too long. Start again.');
  const registered = await verifyPasskeyRegistration(env.rp, { response: input.credential, expectedChallenge: challenge });
  if (!registered || !(await insertCredential(q, factor.id, registered))) {
    throw new SecondFactorRejected('The passkey could not be verified, or it is already registered. Start again.');
  }
  return activate(q, env, email, factor);
}

async function issueRecoveryCodes(q: Queryable, env: FactorEnv, walletId: string): Promise<string[]> {
  const codes = newRecoveryCodes();
  await replaceRecoveryBatch(q, walletId, env.now, (batchId) => codes.map((code) =>
    hashRecoveryCode(env.secretKey, batchId, normalizeRecoveryCode(code)!)));
  return codes;
}

/** New recovery codes for old ones (used up or exposed): needs a fresh approval with a second factor. */
export async function regenerateRecoveryCodes(
  q: Queryable, env: FactorEnv, input: { walletId: string; stepUpProof: string | undefined },
): Promise<string[]> {
  const { email } = await lockWalletFactors(q, input.walletId);
  await consumeStepUpProof(q, { walletId: input.walletId, proof: input.stepUpProof, action: 'recovery_codes', amount: null, destination: null, now: env.now });
  if ((await listActiveFactors(q, input.walletId)).length === 0) {
    throw new Conflict('Recovery codes back up a second factor; enrol an authenticator app or a passkey first.');
  }
  const codes = await issueRecoveryCodes(q, env, input.walletId);
  await sendMessage(q, {
    channel: 'email', recipient: email, subject: 'Your koza recovery codes were replaced',
    body: 'New recovery codes were made for your wallet; the old ones no longer work. If this was not you, contact support.',
  });
  return codes;
}

/**
 * Removes a factor after a fresh approval bound to that factor (any enrolled factor or a recovery code may
 * give it, the one being removed included: a customer who lost a phone removes it with a recovery code).
 */
export async function removeFactor(
  q: Queryable, env: FactorEnv, input: { walletId: string; factorId: string; stepUpProof: string | undefined },
): Promise<Factor> {
  const { email } = await lockWalletFactors(q, input.walletId);
  const factor = await getFactorForUpdate(q, input.walletId, input.factorId);
  if (!factor || factor.status !== 'active') throw new NotFound('The factor does not exist or was already removed.');
  await consumeStepUpProof(q, {
    walletId: input.walletId, proof: input.stepUpProof, action: 'factor_removal', amount: null, destination: factor.id, now: env.now,
  });
  const active = await listActiveFactors(q, input.walletId);
  assertFactorRemovable({ remainingFactors: active.length - 1, linkedBankAccounts: await linkedBankAccountCount(q, input.walletId) });
  const removed = await markFactorRemoved(q, factor.id, env.now);
  // Recovery codes back up factors; with none left they would be a second factor of their own.
  if (active.length === 1) await revokeRecoveryBatch(q, input.walletId, env.now);
  await recordRiskSignal(q, { walletId: input.walletId, kind: 'second_factor_removed', detail: { factor_id: factor.id, factor_kind: factor.kind } });
  await sendMessage(q, {
    channel: 'email', recipient: email, subject: 'A second factor was removed from your koza wallet',
    body: `${KIND_NAMES[factor.kind]} ("${factor.label}") no longer works on your wallet. `
      + 'If this was not you, sign in, check your factors and change your password, or contact support.',
  });
  return removed;
}
