// Owns e-mail verification by one-time code: 6 digits, single use, short-lived, attempt-limited (SPEC §3).
// Must never store a code in clear or say whether it was the e-mail or the code that was wrong.
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { constantTimeEqual, keyedHash, newNumericCode } from './secrets.js';
import { sendMessage } from './outbox.js';
import { createError } from '../errors.js';

export const EMAIL_CODE_TTL_MINUTES = 15;
/** After 5 wrong tries the code is dead (PSD2 RTS Art. 4); the customer asks for a new one. */
export const EMAIL_CODE_MAX_FAILURES = 5;

export const VerificationFailed = createError('verification-failed', 422, 'The verification code is not valid', { keepWrites: true });

export async function issueEmailCode(q: Queryable, key: Buffer, walletId: string, email: string): Promise<void> {
  const id = newId('evc');
  const code = newNumericCode(6);
  await q.query(
    `INSERT INTO email_verifications (id, wallet_id, code_hash, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(mins => $4))`,
    [id, walletId, keyedHash(key, id, code), EMAIL_CODE_TTL_MINUTES],
  );
  await sendMessage(q, {
    channel: 'email',
    recipient: email,
    subject: 'Your koza verification code',
    body: `Your koza verification code is ${code}. It expires in ${EMAIL_CODE_TTL_MINUTES} minutes. `
      + 'If you did not sign up for koza, ignore this message.',
  });
}

/**
 * Checks a code against the wallet's newest live code. A wrong code counts a failure and is committed
 * even though the call fails, so the caller must run this outside a transaction it rolls back.
 */
export async function consumeEmailCode(q: Queryable, key: Buffer, walletId: string, code: string): Promise<void> {
  const res = await q.query<{ id: string; code_hash: string; failed_attempts: number }>(
    `SELECT id, code_hash, failed_attempts FROM email_verifications
      WHERE wallet_id = $1 AND consumed_at IS NULL AND expires_at > now() AND failed_attempts < $2
      ORDER BY created_at DESC LIMIT 1
      FOR UPDATE`,
    [walletId, EMAIL_CODE_MAX_FAILURES],
  );
  const live = res.rows[0];
  if (!live) throw new VerificationFailed('The code is wrong, expired or used up. Ask for a new one.');
  if (!constantTimeEqual(keyedHash(key, live.id, code), live.code_hash)) {
    await q.query('UPDATE email_verifications SET failed_attempts = failed_attempts + 1 WHERE id = $1', [live.id]);
    throw new VerificationFailed('The code is wrong, expired or used up. Ask for a new one.');
  }
  await q.query('UPDATE email_verifications SET consumed_at = now() WHERE id = $1', [live.id]);
}
