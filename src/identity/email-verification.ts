// Owns e-mail verification: a one-time code mailed to the address, checked once (SPEC §3, §5.1).
// Must never say whether it was the e-mail or the code that was wrong.
import type { Queryable } from '../store/db.js';
import { sendMessage } from './outbox.js';
import { checkCode, CODE_TTL_MINUTES, CodeRejected, issueCode } from './one-time-codes.js';

export const EMAIL_CODE_TTL_MINUTES = CODE_TTL_MINUTES.email_verify;
export const VerificationFailed = CodeRejected;

export async function issueEmailCode(q: Queryable, key: Buffer, walletId: string, email: string): Promise<void> {
  const { code } = await issueCode(q, key, { walletId, purpose: 'email_verify', target: email });
  await sendMessage(q, {
    channel: 'email',
    recipient: email,
    subject: 'Your koza verification code',
    body: `Your koza verification code is ${code}. It expires in ${EMAIL_CODE_TTL_MINUTES} minutes. `
      + 'If you did not sign up for koza, ignore this message.',
  });
}

/** Consumes the code or throws CodeRejected (which commits the counted failure). */
export async function consumeEmailCode(q: Queryable, key: Buffer, walletId: string, code: string): Promise<void> {
  const result = await checkCode(q, key, { walletId, purpose: 'email_verify', code });
  if (!result.ok) throw new VerificationFailed('The code is wrong, expired or used up. Ask for a new one.');
}
