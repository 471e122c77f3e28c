// Owns one-time codes (SPEC §3): 6 digits, keyed-hashed, single use, short-lived, 5 failures lock the code.
// Must never store a code in clear, never say which part of a check failed, never accept a locked code.
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { constantTimeEqual, keyedHash, newNumericCode } from './secrets.js';
import { createError } from '../errors.js';

export type CodePurpose = 'email_verify' | 'phone_verify' | 'login_email' | 'factor_enrollment' | 'email_change' | 'factor_reset';

/** 5 wrong tries lock a code, as PSD2's RTS (Art. 4(3)(b)) requires; the customer asks for a new one. */
export const CODE_MAX_FAILURES = 5;

/** E-mail is slower to arrive and to read than SMS, so its codes live longer (NIST 800-63B allows 10 min for SMS). */
export const CODE_TTL_MINUTES: Record<CodePurpose, number> = {
  email_verify: 15, phone_verify: 5,
  // A sign-in code lives as long as its login challenge; the others are e-mails the customer asked for just now.
  login_email: 5, factor_enrollment: 15, email_change: 15, factor_reset: 15,
};

export const CodeRejected = createError('verification-failed', 422, 'The verification code is not valid', { keepWrites: true });

export interface IssuedCode {
  codeId: string;
  code: string;
}

/** Issues a fresh code; earlier live codes for the same purpose stop working (only the newest counts). */
export async function issueCode(
  q: Queryable, key: Buffer,
  input: { walletId: string; purpose: CodePurpose; target: string; ip?: string | undefined; deviceKey?: string | undefined },
): Promise<IssuedCode> {
  await q.query(
    `UPDATE one_time_codes SET consumed_at = now()
      WHERE wallet_id = $1 AND purpose = $2 AND consumed_at IS NULL AND locked_at IS NULL`,
    [input.walletId, input.purpose]);
  const codeId = newId('otc');
  const code = newNumericCode(6);
  await q.query(
    `INSERT INTO one_time_codes (id, wallet_id, purpose, target, code_hash, expires_at, ip, device_key)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(mins => $6), $7, $8)`,
    [codeId, input.walletId, input.purpose, input.target, keyedHash(key, codeId, code),
      CODE_TTL_MINUTES[input.purpose], input.ip ?? null, input.deviceKey ?? null]);
  return { codeId, code };
}

export type CodeCheck =
  | { ok: true; target: string }
  | { ok: false; lockedNow: boolean };

/**
 * Checks a code against the wallet's newest live code for the purpose. A wrong code is counted, and the
 * fifth locks it; callers must commit that count even though they then refuse (CodeRejected keeps writes).
 */
export async function checkCode(
  q: Queryable, key: Buffer, input: { walletId: string; purpose: CodePurpose; code: string },
): Promise<CodeCheck> {
  const res = await q.query<{ id: string; code_hash: string; failed_attempts: number; target: string }>(
    `SELECT id, code_hash, failed_attempts, target FROM one_time_codes
      WHERE wallet_id = $1 AND purpose = $2 AND consumed_at IS NULL AND locked_at IS NULL AND expires_at > now()
      ORDER BY created_at DESC LIMIT 1
      FOR UPDATE`,
    [input.walletId, input.purpose]);
  const live = res.rows[0];
  if (!live) return { ok: false, lockedNow: false };
  if (!constantTimeEqual(keyedHash(key, live.id, input.code), live.code_hash)) {
    const lockedNow = live.failed_attempts + 1 >= CODE_MAX_FAILURES;
    await q.query(
      `UPDATE one_time_codes SET failed_attempts = failed_attempts + 1,
              locked_at = CASE WHEN $2 THEN now() ELSE NULL END
        WHERE id = $1`, [live.id, lockedNow]);
    return { ok: false, lockedNow };
  }
  await q.query('UPDATE one_time_codes SET consumed_at = now() WHERE id = $1', [live.id]);
  return { ok: true, target: live.target };
}

/** How many codes for this purpose were locked by wrong tries within the window. */
export async function countRecentLockouts(
  q: Queryable, input: { walletId: string; purpose: CodePurpose; withinHours: number },
): Promise<number> {
  const res = await q.query<{ n: number }>(
    `SELECT count(*)::int8 AS n FROM one_time_codes
      WHERE wallet_id = $1 AND purpose = $2 AND locked_at > now() - make_interval(hours => $3)`,
    [input.walletId, input.purpose, input.withinHours]);
  return res.rows[0]!.n;
}

/** Who a send limit counts by: exactly one key. */
export type CodeSendKey = { target: string } | { walletId: string } | { deviceKey: string } | { ip: string };

/**
 * Codes sent for the purpose by one key within the window, and — when `limit` of them are in it — the instant the
 * oldest of the last `limit` leaves it, which is when the next send is allowed (the refusal's Retry-After).
 */
export async function codeSendWindow(
  q: Queryable, input: { purpose: CodePurpose; key: CodeSendKey; withinMinutes: number; limit: number },
): Promise<{ count: number; freesAt: Date | null }> {
  const [column, value] = Object.entries(input.key)[0] as [string, string];
  const col = ({ target: 'target', walletId: 'wallet_id', deviceKey: 'device_key', ip: 'ip' } as Record<string, string>)[column]!;
  const res = await q.query<{ n: number; frees_at: Date | null }>(
    `WITH recent AS (
       SELECT created_at FROM one_time_codes
        WHERE purpose = $1 AND ${col} = $2 AND created_at > now() - make_interval(mins => $3))
     SELECT (SELECT count(*)::int8 FROM recent) AS n,
            (SELECT created_at + make_interval(mins => $3) FROM recent ORDER BY created_at DESC OFFSET $4 - 1 LIMIT 1) AS frees_at`,
    [input.purpose, value, input.withinMinutes, input.limit]);
  const row = res.rows[0]!;
  return { count: Number(row.n), freesAt: row.frees_at === null ? null : new Date(row.frees_at) };
}
