// Owns wallets: sign-up with e-mail and password, e-mail verification, balance, history, sandbox top-ups.
// Must never reveal whether an e-mail is registered, and never move money except through the ledger.
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { accountHistory, availableCreditBalance, createTransfer, getBalance, openAccount, postedCreditBalance,
  SYSTEM_ACCOUNTS, type TransferRow } from '../ledger/ledger.js';
import { assertAcceptablePassword, decoyPasswordHash, hashPassword, verifyPassword } from '../identity/passwords.js';
import { consumeEmailCode, issueEmailCode, VerificationFailed } from '../identity/email-verification.js';
import { sendMessage } from '../identity/outbox.js';
import { createError, InvalidRequest, NotFound } from '../errors.js';
import type { Yen } from '../money.js';
import { assertLevel, type AssuranceLevel } from '../identity/assurance.js';
import { assertBalanceWithinLimit, type Limits } from './limits.js';

// keepWrites: the failed attempt it records must survive the refusal, or throttling would never see it.
export const LoginFailed = createError('login-failed', 401, 'The e-mail or the password is wrong', { keepWrites: true });
export const EmailNotVerified = createError('email-not-verified', 403, 'The e-mail address is not verified yet');
export const WalletFrozen = createError('wallet-frozen', 403, 'This wallet is frozen');

export interface Wallet {
  id: string;
  email: string;
  emailVerified: boolean;
  assuranceLevel: AssuranceLevel;
  phone: string | null;
  phoneVerified: boolean;
  status: 'active' | 'frozen' | 'closed';
  ledgerAccountId: string;
  createdAt: Date;
}

interface WalletRow {
  id: string; email: string; email_verified_at: Date | null; status: Wallet['status'];
  assurance_level: AssuranceLevel; phone: string | null; phone_verified_at: Date | null;
  ledger_account_id: string; created_at: Date; password_hash: string;
}

function toWallet(r: WalletRow): Wallet {
  return {
    id: r.id, email: r.email, emailVerified: r.email_verified_at !== null, status: r.status,
    assuranceLevel: r.assurance_level, phone: r.phone, phoneVerified: r.phone_verified_at !== null,
    ledgerAccountId: r.ledger_account_id, createdAt: new Date(r.created_at),
  };
}

const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{2,63}$/;

export function normalizeEmail(email: string): string {
  const trimmed = email.trim();
  if (trimmed.length > 254 || !EMAIL_PATTERN.test(trimmed)) throw new InvalidRequest('The e-mail address is not valid.');
  return trimmed.toLowerCase();
}

async function findByEmail(q: Queryable, email: string, lock = false): Promise<WalletRow | undefined> {
  const res = await q.query<WalletRow>(
    `SELECT * FROM wallets WHERE email_normalized = $1${lock ? ' FOR UPDATE' : ''}`, [normalizeEmail(email)],
  );
  return res.rows[0];
}

/**
 * Opens an unverified wallet and e-mails a code. For an e-mail that already has a wallet it e-mails the
 * owner instead, and answers the same, so sign-up cannot be used to learn who has a wallet.
 */
export async function signUp(
  q: Queryable, key: Buffer, input: { email: string; password: string },
  /** Asked before anything is written, with the id the wallet will have (the risk hook; it may refuse by throwing). */
  beforeOpen?: (walletId: string) => Promise<void>,
): Promise<void> {
  const email = normalizeEmail(input.email);
  assertAcceptablePassword(input.password, [email, email.split('@')[0]!]);
  const passwordHash = await hashPassword(input.password);
  const walletId = newId('wal');
  // Asked whether or not the e-mail already has a wallet, so a refusal tells nothing about who has one.
  if (beforeOpen) await beforeOpen(walletId);
  const ledgerAccountId = `acc_${walletId}`;
  // The wallet row goes first so that a concurrent sign-up with the same e-mail loses cleanly on the
  // unique index; the ledger account it references is opened next (the foreign key is deferred).
  const inserted = await q.query(
    `INSERT INTO wallets (id, email, email_normalized, password_hash, ledger_account_id)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email_normalized) DO NOTHING`,
    [walletId, input.email.trim(), email, passwordHash, ledgerAccountId],
  );
  if (inserted.rowCount === 0) {
    await sendMessage(q, {
      channel: 'email', recipient: email, subject: 'Someone tried to open a koza wallet with your e-mail',
      body: 'A sign-up was attempted with your e-mail address, which already has a koza wallet. '
        + 'If this was you, sign in instead. If not, no action is needed; your wallet is unchanged.',
    });
    return;
  }
  await openAccount(q, { id: ledgerAccountId, kind: 'wallet', name: walletId });
  await issueEmailCode(q, key, walletId, email);
}

export async function resendEmailCode(q: Queryable, key: Buffer, email: string): Promise<void> {
  const wallet = await findByEmail(q, email);
  if (!wallet || wallet.email_verified_at !== null) return;
  await issueEmailCode(q, key, wallet.id, normalizeEmail(wallet.email));
}

/** Verifies the e-mail with a code; the same failure for an unknown e-mail and a wrong code. */
export async function verifyEmail(q: Queryable, key: Buffer, input: { email: string; code: string }): Promise<Wallet> {
  const wallet = await findByEmail(q, input.email, true);
  // A verified address has no live code left: answering it with the wallet would accept any code and
  // tell anyone which e-mails have a wallet (and its id). A client's retry is answered by its Idempotency-Key.
  if (!wallet || wallet.email_verified_at !== null) {
    throw new VerificationFailed('The code is wrong, expired or used up. Ask for a new one.');
  }
  await consumeEmailCode(q, key, wallet.id, input.code);
  const res = await q.query<WalletRow>(
    'UPDATE wallets SET email_verified_at = now() WHERE id = $1 RETURNING *', [wallet.id],
  );
  return toWallet(res.rows[0]!);
}

/** Checks e-mail and password; an unknown e-mail costs the same hashing time as a wrong password. */
export async function checkCredentials(q: Queryable, input: { email: string; password: string }): Promise<Wallet> {
  const wallet = await findByEmail(q, input.email);
  const ok = await verifyPassword(wallet?.password_hash ?? await decoyPasswordHash(), input.password);
  if (!wallet || !ok) throw new LoginFailed('Check the e-mail address and the password, then try again.');
  if (wallet.email_verified_at === null) {
    throw new EmailNotVerified('Enter the code we e-mailed you to verify your address first.');
  }
  return toWallet(wallet);
}

export async function getWallet(q: Queryable, walletId: string, lock = false): Promise<Wallet> {
  // Money movements lock the wallet row so that limit checks and the movement cannot race another one.
  const res = await q.query<WalletRow>(`SELECT * FROM wallets WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [walletId]);
  const row = res.rows[0];
  if (!row) throw new NotFound('The wallet does not exist.');
  return toWallet(row);
}

/** A wallet may move money only once its e-mail is verified and while it is not frozen. */
export function assertCanMoveMoney(wallet: Wallet): void {
  if (!wallet.emailVerified) throw new EmailNotVerified('Verify your e-mail address first.');
  if (wallet.status !== 'active') throw new WalletFrozen('This wallet cannot move money. Contact support.');
}

export interface WalletBalance {
  balance: number;
  available: number;
  pending: number;
}

export async function walletBalance(q: Queryable, wallet: Wallet): Promise<WalletBalance> {
  const b = await getBalance(q, wallet.ledgerAccountId);
  return {
    balance: postedCreditBalance(b),
    available: availableCreditBalance(b),
    pending: b.creditsPending - b.debitsPending,
  };
}

export async function walletHistory(
  q: Queryable, wallet: Wallet, page: { beforeSeq?: number; limit: number },
): Promise<TransferRow[]> {
  return accountHistory(q, wallet.ledgerAccountId, page);
}

export interface Topup {
  id: string;
  walletId: string;
  amount: Yen;
  transferId: string;
  createdAt: Date;
}

/**
 * Sandbox-only money-in: a real ledger transfer from suspense, so every invariant still holds. It stands in
 * for a bank charge, so the level's balance cap applies; holding a balance needs L1.
 */
export async function sandboxTopup(q: Queryable, wallet: Wallet, limits: Limits, amount: Yen): Promise<Topup> {
  assertCanMoveMoney(wallet);
  assertLevel(wallet.assuranceLevel, 'L1');
  assertBalanceWithinLimit(limits[wallet.assuranceLevel], postedCreditBalance(await getBalance(q, wallet.ledgerAccountId)), amount);
  const id = newId('top');
  const transferId = newId('xfr');
  await createTransfer(q, {
    id: transferId, kind: 'single', debitAccountId: SYSTEM_ACCOUNTS.suspense, creditAccountId: wallet.ledgerAccountId,
    amount, code: 'topup', reference: id,
  });
  const res = await q.query<{ created_at: Date }>(
    'INSERT INTO topups (id, wallet_id, amount, transfer_id) VALUES ($1, $2, $3, $4) RETURNING created_at',
    [id, wallet.id, amount, transferId],
  );
  return { id, walletId: wallet.id, amount, transferId, createdAt: new Date(res.rows[0]!.created_at) };
}

