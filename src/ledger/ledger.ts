// Owns the double-entry ledger: opening accounts, creating transfers, reading balances (SPEC §4).
// Must never update a balance except through ledger_create_transfer, the one function that moves money.
import type { Queryable } from '../store/db.js';
import { isDbError } from '../store/db.js';
import { Conflict, InsufficientFunds, NotFound, Unprocessable } from '../errors.js';
import { yenFromDb, type Yen } from '../money.js';

export type AccountKind = 'wallet' | 'bank_clearing' | 'merchant' | 'fees' | 'compensation' | 'suspense';
export type TransferKind = 'single' | 'pending' | 'post_pending' | 'void_pending';
export type TransferCode = 'payment' | 'refund' | 'topup' | 'charge' | 'withdrawal' | 'compensation' | 'adjustment'
  | 'hold_release' | 'payout' | 'pay_in' | 'pay_in_return';

export const SYSTEM_ACCOUNTS = {
  suspense: 'acc_suspense',
  fees: 'acc_fees',
  compensation: 'acc_compensation',
} as const;

/** Shards for accounts that many transfers touch at once; see ledger_balances in 0001_ledger.sql. */
export const BUSY_ACCOUNT_SHARDS = 16;

export interface OpenAccount {
  id: string;
  kind: AccountKind;
  name: string;
}

/** Wallets may never go negative, so they keep one balance row; everything else is spread over shards. */
export async function openAccount(q: Queryable, account: OpenAccount): Promise<void> {
  const limited = account.kind === 'wallet';
  const shards = limited ? 1 : BUSY_ACCOUNT_SHARDS;
  await q.query('SELECT ledger_open_account($1, $2, $3, $4, $5)', [account.id, account.kind, account.name, shards, limited]);
}

export interface NewTransfer {
  id: string;
  kind: TransferKind;
  /** For post_pending and void_pending the accounts and amount default to the pending transfer's. */
  debitAccountId?: string;
  creditAccountId?: string;
  amount?: Yen;
  code: TransferCode;
  reference?: string;
  pendingId?: string;
}

export type TransferResult = 'created' | 'exists';

/** Creates a transfer; a retry with the same id and fields answers 'exists' and moves nothing. */
export async function createTransfer(q: Queryable, t: NewTransfer): Promise<TransferResult> {
  try {
    const res = await q.query<{ result: TransferResult }>(
      'SELECT ledger_create_transfer($1, $2, $3, $4, $5, $6, $7, $8) AS result',
      [t.id, t.kind, t.debitAccountId ?? null, t.creditAccountId ?? null, t.amount ?? null, t.code,
        t.reference ?? null, t.pendingId ?? null],
    );
    return res.rows[0]!.result;
  } catch (err) {
    throw translateLedgerError(err);
  }
}

function translateLedgerError(err: unknown): unknown {
  if (!isDbError(err)) return err;
  switch (err.code) {
    case '23514':
      if (err.constraint === 'balance_never_negative') {
        return new InsufficientFunds('The wallet does not hold enough to cover this amount.');
      }
      return err;
    case 'KZ010': return new Conflict('A transfer with this id already exists with different fields.');
    case 'KZ011': return new NotFound('The pending transfer does not exist.');
    case 'KZ012': return new Conflict('The pending transfer has already been posted or voided.');
    case 'KZ013': return new Unprocessable('A posting or void must match its pending transfer.');
    case 'KZ014': return new NotFound('The ledger account does not exist.');
    case 'KZ015': return new Unprocessable('A transfer needs a positive amount and two different accounts.');
    default: return err;
  }
}

export interface Balance {
  debitsPending: Yen;
  debitsPosted: Yen;
  creditsPending: Yen;
  creditsPosted: Yen;
}

interface BalanceRow {
  debits_pending: number;
  debits_posted: number;
  credits_pending: number;
  credits_posted: number;
}

function toBalance(row: BalanceRow | undefined): Balance {
  return {
    debitsPending: yenFromDb(row?.debits_pending ?? 0),
    debitsPosted: yenFromDb(row?.debits_posted ?? 0),
    creditsPending: yenFromDb(row?.credits_pending ?? 0),
    creditsPosted: yenFromDb(row?.credits_posted ?? 0),
  };
}

const SUM_BALANCES = `coalesce(sum(debits_pending), 0)::bigint AS debits_pending,
  coalesce(sum(debits_posted), 0)::bigint AS debits_posted,
  coalesce(sum(credits_pending), 0)::bigint AS credits_pending,
  coalesce(sum(credits_posted), 0)::bigint AS credits_posted`;

export async function getBalance(q: Queryable, accountId: string): Promise<Balance> {
  const res = await q.query<BalanceRow>(`SELECT ${SUM_BALANCES} FROM ledger_balances WHERE account_id = $1`, [accountId]);
  return toBalance(res.rows[0]);
}

/** What a credit-normal account (a wallet) holds: posted credits less posted debits. */
export function postedCreditBalance(b: Balance): number {
  return b.creditsPosted - b.debitsPosted;
}

/** What a credit-normal account may still spend: pending debits are already promised away. */
export function availableCreditBalance(b: Balance): number {
  return b.creditsPosted - b.debitsPosted - b.debitsPending;
}

/** Sums over every account; double entry means both differences are always zero. */
export async function ledgerTotals(q: Queryable): Promise<Balance> {
  const res = await q.query<BalanceRow>(`SELECT ${SUM_BALANCES} FROM ledger_balances`);
  return toBalance(res.rows[0]);
}

export interface TransferRow {
  seq: number;
  id: string;
  kind: TransferKind;
  debitAccountId: string;
  creditAccountId: string;
  amount: Yen;
  code: TransferCode;
  reference: string | null;
  status: 'posted' | 'pending' | 'voided';
  createdAt: Date;
}

/**
 * The movements an account took part in, newest first: single transfers and pending transfers, the
 * latter with the status their resolution gave them (a charge shows once, as pending, posted or voided).
 */
export async function accountHistory(
  q: Queryable, accountId: string, options: { beforeSeq?: number; limit: number },
): Promise<TransferRow[]> {
  const res = await q.query<{
    seq: number; id: string; kind: TransferKind; debit_account_id: string; credit_account_id: string;
    amount: number; code: TransferCode; reference: string | null; resolution: string | null; created_at: Date;
  }>(
    `SELECT t.seq, t.id, t.kind, t.debit_account_id, t.credit_account_id, t.amount, t.code, t.reference,
            t.created_at, r.kind AS resolution
       FROM ledger_transfers t
       LEFT JOIN ledger_transfers r ON r.pending_id = t.id
      WHERE (t.debit_account_id = $1 OR t.credit_account_id = $1)
        AND t.kind IN ('single', 'pending')
        AND ($2::bigint IS NULL OR t.seq < $2::bigint)
      ORDER BY t.seq DESC
      LIMIT $3`,
    [accountId, options.beforeSeq ?? null, options.limit],
  );
  return res.rows.map((r) => ({
    seq: r.seq,
    id: r.id,
    kind: r.kind,
    debitAccountId: r.debit_account_id,
    creditAccountId: r.credit_account_id,
    amount: yenFromDb(r.amount),
    code: r.code,
    reference: r.reference,
    status: r.kind === 'single' || r.resolution === 'post_pending' ? 'posted'
      : r.resolution === 'void_pending' ? 'voided' : 'pending',
    createdAt: new Date(r.created_at),
  }));
}
