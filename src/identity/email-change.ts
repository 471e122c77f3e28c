// Owns changing a wallet's e-mail address (SPEC §3): a code to the NEW address, the change only when it is entered,
// a step-up once the wallet has a factor, and the old address and phone told (afterContactChange).
// Must never tell whether an address belongs to another wallet before the change, nor change the address on a session alone.
import type { Queryable } from '../store/db.js';
import { isDbError } from '../store/db.js';
import { createError, InvalidRequest, retryIn, secondsUntil } from '../errors.js';
import { normalizeEmail } from '../wallets/wallets.js';
import { sendMessage } from './outbox.js';
import type { SmsSender } from './sms.js';
import { checkCode, CODE_TTL_MINUTES, CodeRejected, codeSendWindow, issueCode } from './one-time-codes.js';
import { afterContactChange, assertContactChangeAuthorized, type ContactChangeHold } from './contact-change.js';
import { recordRiskSignal } from '../risk/signals.js';

/** A few codes a quarter hour per wallet: a lost mail is resent, an address list is not probed. */
export const EMAIL_CHANGE_CODES_PER_15_MINUTES = 3;

export const EmailChangeRateLimited = createError<{ retry_after_s: number }>('email-change-rate-limited', 429, 'Too many codes sent', { retryable: true });
export const EmailInUse = createError('email-in-use', 409, 'This e-mail address belongs to another wallet', { keepWrites: true });

async function currentContacts(q: Queryable, walletId: string): Promise<{ email: string; phone: string | null }> {
  const res = await q.query<{ email: string; phone: string | null }>(
    `SELECT email_normalized AS email, CASE WHEN phone_verified_at IS NOT NULL THEN phone END AS phone
       FROM wallets WHERE id = $1 FOR UPDATE`, [walletId]);
  return res.rows[0]!;
}

/**
 * Sends a code to the new address. An address another wallet holds gets a notice instead of a code, and the answer is
 * the same, so the route is no directory of who has a wallet.
 */
export async function startEmailChange(
  q: Queryable, key: Buffer, input: { walletId: string; newEmail: string; stepUpProof: string | undefined; ip: string },
): Promise<{ email: string; expiresInSeconds: number }> {
  const email = normalizeEmail(input.newEmail);
  const current = await currentContacts(q, input.walletId);
  if (email === current.email) throw new InvalidRequest('This is already your e-mail address.');
  await assertContactChangeAuthorized(q, { walletId: input.walletId, change: 'email', stepUpProof: input.stepUpProof });
  // Per wallet and per new address; one after another (q may be a single transaction connection).
  const limit = EMAIL_CHANGE_CODES_PER_15_MINUTES;
  const byWallet = await codeSendWindow(q, { purpose: 'email_change', key: { walletId: input.walletId }, withinMinutes: 15, limit });
  const byTarget = await codeSendWindow(q, { purpose: 'email_change', key: { target: email }, withinMinutes: 15, limit });
  const frees = [byWallet, byTarget].filter((w) => w.count >= limit && w.freesAt).map((w) => w.freesAt!.getTime());
  if (frees.length > 0) {
    throw new EmailChangeRateLimited('A code was sent a moment ago; check that mailbox (and its spam folder) for it.',
      retryIn(secondsUntil(new Date(Math.max(...frees)))));
  }
  const taken = await q.query('SELECT 1 FROM wallets WHERE email_normalized = $1', [email]);
  // The code row is written either way (the send limits count it); only a free address receives it.
  const { code } = await issueCode(q, key, { walletId: input.walletId, purpose: 'email_change', target: email, ip: input.ip });
  await sendMessage(q, taken.rows.length > 0
    ? {
      channel: 'email', recipient: email, subject: 'Someone tried to move a koza wallet to your e-mail',
      body: 'A koza wallet asked to use your address, which already has a koza wallet. Nothing changed; no action is needed.',
    }
    : {
      channel: 'email', recipient: email, subject: 'Confirm your new koza e-mail address',
      body: `Enter ${code} in koza to make this your wallet's e-mail address; it expires in ${CODE_TTL_MINUTES.email_change} minutes. `
        + 'If you did not ask for this, ignore this message.',
    });
  return { email, expiresInSeconds: CODE_TTL_MINUTES.email_change * 60 };
}

/** Checks the code sent to the new address; then the address is the wallet's and the old channels hear of it. */
export async function confirmEmailChange(
  q: Queryable, key: Buffer, input: { walletId: string; code: string; sms: SmsSender; hold: ContactChangeHold },
): Promise<{ email: string; holdEndsAt: Date | null }> {
  const before = await currentContacts(q, input.walletId);
  const result = await checkCode(q, key, { walletId: input.walletId, purpose: 'email_change', code: input.code });
  if (!result.ok) {
    if (result.lockedNow) await recordRiskSignal(q, { walletId: input.walletId, kind: 'otp_code_locked', detail: { purpose: 'email_change' } });
    throw new CodeRejected('The code is wrong, expired or used up. Ask for a new one.');
  }
  try {
    await q.query('SAVEPOINT email_claim');
    await q.query('UPDATE wallets SET email = $2, email_normalized = $2, email_verified_at = now() WHERE id = $1', [input.walletId, result.target]);
    await q.query('RELEASE SAVEPOINT email_claim');
  } catch (err) {
    if (isDbError(err) && err.code === '23505') {
      await q.query('ROLLBACK TO SAVEPOINT email_claim');
      throw new EmailInUse('This address belongs to another koza wallet now. Choose another address.');
    }
    throw err;
  }
  const { holdEndsAt } = await afterContactChange(q, input.sms, input.hold, {
    walletId: input.walletId, change: 'email', oldEmail: before.email, oldPhone: before.phone, to: result.target,
  });
  return { email: result.target, holdEndsAt };
}
