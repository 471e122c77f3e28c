// Owns phone verification (SPEC §3, level L1): an SMS code to the number, rate-limited, attempt-limited,
// and a factor lock after repeated lockouts.
// Must never verify a number for a second wallet, nor say whether a code was wrong or merely expired.
import type { Queryable } from '../store/db.js';
import { isDbError } from '../store/db.js';
import { createError, InvalidRequest, retryIn, secondsUntil } from '../errors.js';
import { checkCode, codeSendWindow, countRecentLockouts, issueCode, CODE_TTL_MINUTES, CodeRejected, type CodeSendKey } from './one-time-codes.js';
import { raiseAssuranceLevel } from './assurance.js';
import { recordRiskSignal } from '../risk/signals.js';
import type { SmsSender } from './sms.js';
import { afterContactChange, assertContactChangeAuthorized, type ContactChangeHold } from './contact-change.js';
import { formatJst } from '../display.js';

/**
 * Send limits, tight on the keys that belong to one person: a code every few minutes is plenty for a person; more is
 * SMS pumping or enumeration. A family on one tablet (four people, a resend each) stays under the device limit.
 */
export const PHONE_CODE_LIMITS = {
  perPhonePer15Minutes: 3,
  perPhonePerDay: 10,
  perWalletPerHour: 5,
  perWalletPerDay: 10,
  perDevicePerHour: 10,
};
/** Three locked codes within a day lock the phone factor for a day and alert. */
export const PHONE_LOCKOUTS_BEFORE_FACTOR_LOCK = 3;
export const PHONE_FACTOR_LOCK_HOURS = 24;

export const PhoneCodeRateLimited = createError<{ retry_after_s: number; limit: string }>(
  'phone-code-rate-limited', 429, 'Too many codes sent', { retryable: true });
export const PhoneFactorLocked = createError<{ locked_until: string }>('phone-factor-locked', 423, 'Phone verification is locked');
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
  const res = await q.query<{ until: Date | null }>(
    'SELECT phone_factor_locked_until AS until FROM wallets WHERE id = $1 AND phone_factor_locked_until > now()', [walletId]);
  const until = res.rows[0]?.until;
  if (until) {
    // The end of the lock, in Japan time: an honest customer who mistyped waits; one who did not type calls support.
    throw new PhoneFactorLocked(`Too many wrong codes. Phone verification is locked until ${formatJst(new Date(until))}; try again then, `
      + 'or contact koza support at once if this was not you.', { locked_until: new Date(until).toISOString() });
  }
}

async function verifiedPhoneOf(q: Queryable, walletId: string): Promise<{ phone: string | null; email: string }> {
  const res = await q.query<{ phone: string | null; email: string }>(
    'SELECT CASE WHEN phone_verified_at IS NOT NULL THEN phone END AS phone, email_normalized AS email FROM wallets WHERE id = $1', [walletId]);
  return res.rows[0] ?? { phone: null, email: '' };
}

interface SendLimit {
  key: CodeSendKey;
  withinMinutes: number;
  limit: number;
  /** Which limit, for the client (never which number or wallet): `phone`, `wallet` or `device`. */
  name: 'phone' | 'wallet' | 'device';
  tells: string;
}

/**
 * The tight limits, per number, per wallet and per device (docs/device-signal.md: the device id is the client's word,
 * which is why the number and the wallet are limited too). The refusal says which kind of limit and when it lifts.
 */
async function assertPhoneSendAllowed(
  q: Queryable, input: { walletId: string; phone: string; deviceKey: string | undefined },
): Promise<void> {
  const L = PHONE_CODE_LIMITS;
  const limits: SendLimit[] = [
    { key: { target: input.phone }, withinMinutes: 15, limit: L.perPhonePer15Minutes, name: 'phone',
      tells: `At most ${L.perPhonePer15Minutes} codes can be sent to one number in 15 minutes.` },
    { key: { target: input.phone }, withinMinutes: 24 * 60, limit: L.perPhonePerDay, name: 'phone',
      tells: `At most ${L.perPhonePerDay} codes can be sent to one number in 24 hours.` },
    { key: { walletId: input.walletId }, withinMinutes: 60, limit: L.perWalletPerHour, name: 'wallet',
      tells: `A wallet can ask for at most ${L.perWalletPerHour} codes an hour.` },
    { key: { walletId: input.walletId }, withinMinutes: 24 * 60, limit: L.perWalletPerDay, name: 'wallet',
      tells: `A wallet can ask for at most ${L.perWalletPerDay} codes in 24 hours.` },
    ...(input.deviceKey ? [{ key: { deviceKey: input.deviceKey }, withinMinutes: 60, limit: L.perDevicePerHour, name: 'device' as const,
      tells: `One device can ask for at most ${L.perDevicePerHour} codes an hour.` }] : []),
  ];
  // One after another: q may be a single transaction connection, which cannot run queries side by side.
  let worst: { limit: SendLimit; seconds: number } | null = null;
  for (const limit of limits) {
    const window = await codeSendWindow(q, { purpose: 'phone_verify', key: limit.key, withinMinutes: limit.withinMinutes, limit: limit.limit });
    if (window.count < limit.limit || window.freesAt === null) continue;
    const seconds = secondsUntil(window.freesAt);
    if (!worst || seconds > worst.seconds) worst = { limit, seconds };
  }
  if (worst) {
    throw new PhoneCodeRateLimited(`${worst.limit.tells} The last code sent still works for ${CODE_TTL_MINUTES.phone_verify} minutes.`,
      { ...retryIn(worst.seconds), limit: worst.limit.name });
  }
}

/**
 * Thousands of customers share a carrier-NAT address, so codes per address refuse nobody: reaching the threshold
 * within an hour tells analysts once (SMS pumping through one host shows here before the bill does).
 */
async function alertOnAddressSurge(q: Queryable, input: { walletId: string; ip: string; threshold: number }): Promise<void> {
  const window = await codeSendWindow(q, { purpose: 'phone_verify', key: { ip: input.ip }, withinMinutes: 60, limit: input.threshold });
  // Equal, not at least: one alert when the surge reaches the mark, not one per code after it.
  if (window.count + 1 === input.threshold) {
    await recordRiskSignal(q, { walletId: input.walletId, kind: 'phone_codes_address_surge',
      detail: { ip: input.ip, codes_last_hour: window.count + 1 } });
  }
}

/**
 * Sends a code to the number. Replacing a verified number is a phone change: once the wallet has a factor it needs a
 * step-up proof for phone_change (a thief with a session must not move the SMS channel to their SIM).
 */
export async function startPhoneVerification(
  q: Queryable, key: Buffer, sms: SmsSender,
  input: {
    walletId: string; phone: string; ip: string; deviceKey?: string | undefined;
    /** Codes from one network address per hour before analysts are alerted: an alert, never a refusal (carrier NAT). */
    codesPerIpPerHour: number; stepUpProof?: string | undefined;
  },
): Promise<{ phone: string; expiresInSeconds: number }> {
  const phone = normalizeJapaneseMobile(input.phone);
  await assertFactorNotLocked(q, input.walletId);
  if ((await verifiedPhoneOf(q, input.walletId)).phone !== null) {
    await assertContactChangeAuthorized(q, { walletId: input.walletId, change: 'phone', stepUpProof: input.stepUpProof });
  }
  await assertPhoneSendAllowed(q, { walletId: input.walletId, phone, deviceKey: input.deviceKey });
  await alertOnAddressSurge(q, { walletId: input.walletId, ip: input.ip, threshold: input.codesPerIpPerHour });
  const { code } = await issueCode(q, key, {
    walletId: input.walletId, purpose: 'phone_verify', target: phone, ip: input.ip, deviceKey: input.deviceKey });
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
