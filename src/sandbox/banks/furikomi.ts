// Owns furikomi at the sandbox banks: a transfer a signed-in holder sends from their own account to an account at any
// sandbox bank or to a virtual account of koza's (branch 990, koza's pay-in branch), and koza's return of one.
// Must never move money but through bank_post_entry, nor let a sender choose the name the transfer carries.
import type { IncomingTransferNotice, ReturnBody, ReturnResult } from '../../banks/protocol.js';
import { toBankKana } from '../../identity/kana.js';
import type { Queryable } from '../../store/db.js';
import type { BankEnv } from './context.js';
import { BankError } from './errors.js';
import {
  getAccount, interbankAccountId, sandboxId, settlementAccountId, type AccountRow,
} from './store.js';
import { MAX_DEBIT_AMOUNT } from './transfers.js';

/** Every sandbox bank routes branch 990 to koza's collection account: koza hands out its numbers as virtual accounts. */
export const KOZA_PAY_IN_BRANCH = '990';
/** The name the banks show for koza's collection account (コザ株式会社, in the half-width form of transfer files). */
export const KOZA_COLLECTION_NAME = 'ｺｻﾞ(ｶ';

export interface FurikomiRow {
  id: string;
  from_bank_code: string;
  from_account_id: string;
  sender_name_kana: string;
  sender_branch_code: string;
  to_bank_code: string;
  to_branch_code: string;
  to_account_number: string;
  to_account_id: string;
  to_virtual: boolean;
  amount: number;
  booked_at: Date;
  koza_notified_at: Date | null;
}

export interface FurikomiTarget {
  bank_code: string;
  branch_code: string;
  account_number: string;
}

/** Why the bank did not send a transfer: shown to the holder, nothing booked. */
export type FurikomiRefusal = 'unknown_bank' | 'unknown_account' | 'same_account' | 'insufficient_funds' | 'limit_exceeded' | 'account_closed';

export const FURIKOMI_REFUSAL_TEXT: Record<FurikomiRefusal, string> = {
  unknown_bank: '振込先の金融機関が見つかりません。金融機関コードをご確認ください。 No bank has this code: check the bank code.',
  unknown_account: '振込先の口座が見つかりません。支店番号と口座番号をご確認ください。 No such account: check the branch and account number.',
  same_account: 'ご自分の同じ口座へは振り込めません。 You cannot transfer to the same account.',
  insufficient_funds: '残高が不足しています。金額をご確認ください。 Your balance is not enough for this amount.',
  limit_exceeded: '1回の振込は1,000万円までです。 One transfer can be at most ¥10,000,000.',
  account_closed: 'この口座はご利用いただけません。窓口にお問い合わせください。 This account cannot be used; please contact the branch.',
};

/** What the holder's and the receiver's passbooks say: 振込 and the other side's name, as transfer files write it. */
function descriptor(prefix: string, name: string): string {
  return `${prefix} ${name}`.slice(0, 48);
}

/**
 * Books a furikomi from the signed-in holder's account: at one bank one journal row; between two banks a row in each
 * bank's books through their inter-bank accounts. The sender name is the bank's own record of the holder.
 */
export async function sendFurikomi(
  tx: Queryable, env: BankEnv, knownBanks: ReadonlySet<string>, fromAccountId: string, to: FurikomiTarget, amount: number,
): Promise<{ ok: true; furikomi: FurikomiRow; receiverName: string } | { ok: false; reason: FurikomiRefusal }> {
  if (!knownBanks.has(to.bank_code)) return { ok: false, reason: 'unknown_bank' };
  if (!Number.isSafeInteger(amount) || amount < 1) return { ok: false, reason: 'insufficient_funds' };
  if (amount > MAX_DEBIT_AMOUNT) return { ok: false, reason: 'limit_exceeded' };
  const toVirtual = to.branch_code === KOZA_PAY_IN_BRANCH;
  let receiver: AccountRow | null = null;
  if (!toVirtual) {
    const found = await tx.query<AccountRow>(
      `SELECT * FROM accounts WHERE kind = 'holder' AND bank_code = $1 AND branch_code = $2 AND account_number = $3`,
      [to.bank_code, to.branch_code, to.account_number]);
    receiver = found.rows[0] ?? null;
    if (!receiver || receiver.closed_at !== null) return { ok: false, reason: 'unknown_account' };
  }
  const toAccountId = toVirtual ? settlementAccountId(to.bank_code) : receiver!.id;
  if (toAccountId === fromAccountId) return { ok: false, reason: 'same_account' };
  // The sender's row is locked first: two transfers from one account queue here and see each other's balance.
  const sender = (await getAccount(tx, fromAccountId, true))!;
  if (sender.closed_at !== null) return { ok: false, reason: 'account_closed' };
  if (sender.balance < amount) return { ok: false, reason: 'insufficient_funds' };
  const senderName = toBankKana(sender.holder_name_kana);
  const receiverName = toVirtual ? KOZA_COLLECTION_NAME : toBankKana(receiver!.holder_name_kana);
  const id = sandboxId('bfk');
  const res = await tx.query<FurikomiRow>(
    `INSERT INTO furikomi (id, from_bank_code, from_account_id, sender_name_kana, sender_branch_code, to_bank_code, to_branch_code,
       to_account_number, to_account_id, to_virtual, amount, booked_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
    [id, env.bank.code, fromAccountId, senderName, sender.branch_code, to.bank_code, to.branch_code, to.account_number, toAccountId,
      toVirtual, amount, env.now]);
  const out = descriptor('振込', receiverName);
  const inn = descriptor('振込', senderName);
  await postLegs(tx, { fromBank: env.bank.code, fromAccount: fromAccountId, toBank: to.bank_code, toAccount: toAccountId },
    amount, 'furikomi', id, out, inn, env.now);
  return { ok: true, furikomi: res.rows[0]!, receiverName };
}

/**
 * Two journal rows, one in each bank's books, through their inter-bank accounts (at one bank, twice through its own):
 * each passbook line then names the other side.
 */
async function postLegs(
  tx: Queryable, legs: { fromBank: string; fromAccount: string; toBank: string; toAccount: string }, amount: number,
  kind: 'furikomi' | 'furikomi_return', furikomiId: string, debitText: string, creditText: string, at: Date,
): Promise<void> {
  const post = (bank: string, debit: string, credit: string, text: string) => tx.query(
    'SELECT bank_post_entry($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9)', [bank, debit, credit, amount, kind, text, furikomiId, at, furikomiId]);
  await post(legs.fromBank, legs.fromAccount, interbankAccountId(legs.fromBank), debitText);
  await post(legs.toBank, interbankAccountId(legs.toBank), legs.toAccount, creditText);
}

export function noticeOf(row: FurikomiRow): IncomingTransferNotice {
  return {
    bank_transfer_id: row.id, bank_code: row.to_bank_code, branch_code: row.to_branch_code, account_number: row.to_account_number,
    amount: Number(row.amount), sender: { name_kana: row.sender_name_kana, bank_code: row.from_bank_code, branch_code: row.sender_branch_code },
    booked_at: new Date(row.booked_at).toISOString(),
  };
}

interface ReturnRow { id: string; furikomi_id: string; bank_code: string; reference: string; reason: ReturnBody['reason']; amount: number; booked_at: Date }

function returnResult(row: ReturnRow): ReturnResult {
  return {
    return_id: row.id, bank_transfer_id: row.furikomi_id, reference: row.reference, reason: row.reason, amount: Number(row.amount),
    status: 'returned', booked_at: new Date(row.booked_at).toISOString(),
  };
}

/**
 * koza sends a pay-in back (§10): the whole amount from koza's collection account to the sender's account, once per
 * transfer. The same reference again answers the booked return; another reference for a returned transfer conflicts.
 */
export async function returnFurikomi(tx: Queryable, env: BankEnv, body: ReturnBody): Promise<ReturnResult> {
  const found = await tx.query<FurikomiRow>(
    'SELECT * FROM furikomi WHERE id = $1 AND to_bank_code = $2 AND to_virtual FOR UPDATE', [body.bank_transfer_id, env.bank.code]);
  const furikomi = found.rows[0];
  if (!furikomi) throw new BankError('transfer_not_found', 'No transfer with this id was received into koza\'s account at this bank.');
  const existing = await tx.query<ReturnRow>('SELECT * FROM furikomi_returns WHERE furikomi_id = $1', [furikomi.id]);
  if (existing.rows[0]) {
    if (existing.rows[0].reference !== body.reference) {
      throw new BankError('idempotency_conflict', `Transfer ${furikomi.id} was already returned under another reference.`);
    }
    return returnResult(existing.rows[0]);
  }
  const byReference = await tx.query<ReturnRow>('SELECT * FROM furikomi_returns WHERE bank_code = $1 AND reference = $2',
    [env.bank.code, body.reference]);
  if (byReference.rows[0]) throw new BankError('idempotency_conflict', `Reference ${body.reference} is already used by another return.`);
  const row = (await tx.query<ReturnRow>(
    `INSERT INTO furikomi_returns (id, furikomi_id, bank_code, reference, reason, amount, booked_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [sandboxId('brt'), furikomi.id, env.bank.code, body.reference, body.reason, furikomi.amount, env.now])).rows[0]!;
  const text = descriptor('振込返却', KOZA_COLLECTION_NAME);
  await postLegs(tx, { fromBank: env.bank.code, fromAccount: furikomi.to_account_id, toBank: furikomi.from_bank_code, toAccount: furikomi.from_account_id },
    Number(furikomi.amount), 'furikomi_return', furikomi.id, text, text, env.now);
  return returnResult(row);
}

/** Transfers into koza's collection account at this bank booked in [from, to), for the statement. */
export async function listIncoming(q: Queryable, bankCode: string, from: Date, to: Date): Promise<IncomingTransferNotice[]> {
  const res = await q.query<FurikomiRow>(
    `SELECT * FROM furikomi WHERE to_bank_code = $1 AND to_virtual AND booked_at >= $2 AND booked_at < $3 ORDER BY booked_at, id`,
    [bankCode, from, to]);
  return res.rows.map(noticeOf);
}

export async function listReturns(q: Queryable, bankCode: string, from: Date, to: Date): Promise<ReturnResult[]> {
  const res = await q.query<ReturnRow>(
    'SELECT * FROM furikomi_returns WHERE bank_code = $1 AND booked_at >= $2 AND booked_at < $3 ORDER BY booked_at, id', [bankCode, from, to]);
  return res.rows.map(returnResult);
}

export async function markNotified(q: Queryable, furikomiId: string, at: Date): Promise<void> {
  await q.query('UPDATE furikomi SET koza_notified_at = coalesce(koza_notified_at, $2) WHERE id = $1', [furikomiId, at]);
}
