// Owns phone verification (SPEC §3, level L1): an SMS code to the number, rate-limited, attempt-limited,
// and a factor lock after repeated lockouts.
// Must never verify a number for a second wallet, nor say whether a code was wrong or merely expired.
import type { Queryable } from '../store/db.js';
import { isDbError } from '../store/db.js';
import { createError, InvalidRequest } from '../errors.js';
import { checkCode, countRecentCodes, countRecentLockouts, issueCode, CODE_TTL_MINUTES, CodeRejected } from './one-time-codes.js';
import { raiseAssuranceLevel } from './assurance.js';
import { recordRiskSignal } from '../risk/signals.js';
import type { SmsSender } from './sms.js';
import { afterContactChange, assertContactChangeAuthorized, type ContactChangeHold } from './contact-change.js';

/** Send limits: a code every few minutes is plenty for a person; more is SMS pumping or enumeration. */
export const PHONE_CODE_LIMITS = {
  perPhonePer15Minutes: 3,
  perPhonePerDay: 10,
};
/** Three locked codes within a day lock the phone factor for a day and alert. */
export const PHONE_LOCKOUTS_BEFORE_FACTOR_LOCK = 3;
export const PHONE_FACTOR_LOCK_HOURS = 24;

export const PhoneCodeRateLimited = createError('phone-code-rate-limited', 429, 'Too many codes sent', { retryable: true });
export const PhoneFactorLocked = createError('phone-factor-locked', 423, 'Phone verification is locked');
export const PhoneInUse = createError('phone-in-use', 409, 'This phone number is verified on another wallet', { keepWrites: true });

/**
 * Japanese numbers in the forms people type (090-1234-5678, 09012345678, +81 90 1234 5678) to E.164.
 * Mobile ranges only (070/080/090): SMS codes cannot reach a landline.
 */
export function normalizeJapaneseMobile(input: string): string {
  const digits = input.normalize('NFKC').replace(/[\s\-().]/g, '');
  const national = digits.startsWith('+81') ? `0${digits.slice(3)}` : digits.startsWith('81') && digits.length === 12 ? `0${digits.slice(2)}` : digits;
  if (!/^0[789]0\d{8}$/.test(national)) {
    throw new InvalidRequest('Enter a Japanese mobile number (070, 080 or 090 followed by 8 digits).');
  }
  return `+81${national.slice(1)}`;
}

async function assertFactorNotLocked(q: Queryable, walletId: string): Promise<void> {
  const res = await q.query<{ locked: boolean }>(
    'SELECT coalesce(phone_factor_locked_until > now(), false) AS locked FROM wallets WHERE id = $1', [walletId]);
  if (res.rows[0]?.locked) {
    throw new PhoneFactorLocked('Too many wrong codes. Phone verification is locked for now; contact support if this was not you.');
  }
}

async function verifiedPhoneOf(q: Queryable, walletId: string): Promise<{ phone: string | null; email: string }> {
  const res = await q.query<{ phone: string | null; email: string }>(
    'SELECT CASE WHEN phone_verified_at IS NOT NULL THEN phone END AS phone, email_normalized AS email FROM wallets WHERE id = $1', [walletId]);
  return res.rows[0] ?? { phone: null, email: '' };
}

/**
 * Sends a code to the number. Replacing a verified number is a phone change: once the wallet has a factor it needs a
 * step-up proof for phone_change (a thief with a session must not move the SMS channel to their SIM).
 */
export async function startPhoneVerification(
  q: Queryable, key: Buffer, sms: SmsSender,
  input: { walletId: string; phone: string; ip: string; codesPerIpPerHour: number; stepUpProof?: string | undefined },
): Promise<{ phone: string; expiresInSeconds: number }> {
  const phone = normalizeJapaneseMobile(input.phone);
  await assertFactorNotLocked(q, input.walletId);
  if ((await verifiedPhoneOf(q, input.walletId)).phone !== null) {
    await assertContactChangeAuthorized(q, { walletId: input.walletId, change: 'phone', stepUpProof: input.stepUpProof });
  }
  // One after another: q may be a single transaction connection, which cannot run queries side by side.
  const per15 = await countRecentCodes(q, { purpose: 'phone_verify', target: phone, withinMinutes: 15 });
  const perDay = await countRecentCodes(q, { purpose: 'phone_verify', target: phone, withinMinutes: 24 * 60 });
  const perIp = await countRecentCodes(q, { purpose: 'phone_verify', ip: input.ip, withinMinutes: 60 });
  if (per15 >= PHONE_CODE_LIMITS.perPhonePer15Minutes || perDay >= PHONE_CODE_LIMITS.perPhonePerDay
      || perIp >= input.codesPerIpPerHour) {
    throw new PhoneCodeRateLimited('Too many codes were sent to this number or from this network. Try again later.');
  }
  const { code } = await issueCode(q, key, { walletId: input.walletId, purpose: 'phone_verify', target: phone, ip: input.ip });
  await sms.send(q, { to: phone, body: `koza code: ${code} (valid ${CODE_TTL_MINUTES.phone_verify} min). Never share it.` });
  return { phone, expiresInSeconds: CODE_TTL_MINUTES.phone_verify * 60 };
}

/**
 * Checks the SMS code; on success the number is the wallet's verified phone and the wallet is L1. When it replaces
 * another verified number, the old number and the e-mail hear of it and money-out is held (afterContactChange).
 */
export async function confirmPhone(
  q: Queryable, key: Buffer, input: { walletId: string; code: string; sms: SmsSender; hold: ContactChangeHold },
): Promise<{ phone: string; changed: boolean }> {
  await assertFactorNotLocked(q, input.walletId);
  const before = await verifiedPhoneOf(q, input.walletId);
  const result = await checkCode(q, key, { walletId: input.walletId, purpose: 'phone_verify', code: input.code });
  if (!result.ok) {
    if (result.lockedNow) {
      await recordRiskSignal(q, { walletId: input.walletId, kind: 'otp_code_locked', detail: { purpose: 'phone_verify' } });
      const lockouts = await countRecentLockouts(q, { walletId: input.walletId, purpose: 'phone_verify', withinHours: 24 });
      if (lockouts >= PHONE_LOCKOUTS_BEFORE_FACTOR_LOCK) {
        await q.query(`UPDATE wallets SET phone_factor_locked_until = now() + make_interval(hours => $2) WHERE id = $1`,
          [input.walletId, PHONE_FACTOR_LOCK_HOURS]);
        await recordRiskSignal(q, { walletId: input.walletId, kind: 'phone_factor_locked', detail: { lockouts } });
      }
    }
    throw new CodeRejected('The code is wrong, expired or used up. Ask for a new one.');
  }
  try {
    await q.query('SAVEPOINT phone_claim');
    await q.query('UPDATE wallets SET phone = $2, phone_verified_at = now() WHERE id = $1', [input.walletId, result.target]);
    await q.query('RELEASE SAVEPOINT phone_claim');
  } catch (err) {
    if (isDbError(err) && err.code === '23505') {
      await q.query('ROLLBACK TO SAVEPOINT phone_claim');
      await recordRiskSignal(q, { walletId: input.walletId, kind: 'duplicate_phone', detail: {} });
      throw new PhoneInUse('This number is already verified on another wallet. One number can verify one wallet.');
    }
    throw err;
  }
  await raiseAssuranceLevel(q, input.walletId, 'L1');
  const changed = before.phone !== null && before.phone !== result.target;
  if (changed) {
    await afterContactChange(q, input.sms, input.hold, {
      walletId: input.walletId, change: 'phone', oldEmail: before.email, oldPhone: before.phone, to: result.target,
    });
  }
  return { phone: result.target, changed };
}
