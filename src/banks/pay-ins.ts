// Owns pay-in by bank transfer (SPEC §5.4, issue 11): each wallet's virtual account at koza's pay-in bank, and the one
// driver that takes a reported transfer (notice or statement) to credited or returned, exactly once per bank transfer id.
// Must never credit a wallet with money whose sender is not its owner, nor credit or return the same transfer twice.
import { randomInt } from 'node:crypto';
import type { Db, Queryable } from '../store/db.js';
import type { Config } from '../config.js';
import { newId } from '../ids.js';
import { createTransfer, getBalance, openAccount, postedCreditBalance, SYSTEM_ACCOUNTS } from '../ledger/ledger.js';
import type { Yen } from '../money.js';
import { getWallet } from '../wallets/wallets.js';
import { JST_DAY_START, JST_MONTH_START } from '../wallets/limits.js';
import { meetsLevel } from '../identity/assurance.js';
import { getVerifiedIdentity } from '../identity/verification/store.js';
import { toBankKana } from '../identity/kana.js';
import { sendMessage } from '../identity/outbox.js';
import { recordRiskSignal } from '../risk/signals.js';
import type { BankClient } from './client.js';
import type { IncomingTransferNotice, ReturnReason, Statement } from './protocol.js';
import { clearingAccountId, policyFor } from './movement-links.js';
import { decidePayIn, type PayInDecision } from './pay-in-decision.js';
import { formatYen } from '../display.js';

/** koza's name on its collection account, as transfer files write it (コザ株式会社). */
export const KOZA_ACCOUNT_NAME_KANA = 'ｺｻﾞ(ｶ';

export interface PayInDeps {
  db: Db;
  config: Config;
  /** Null when no bank is reachable: a return then waits for the reconciler. */
  client: BankClient | null;
}

export interface PayInAccount {
  walletId: string;
  bankCode: string;
  branchCode: string;
  accountNumber: string;
  accountNameKana: string;
  createdAt: Date;
}

export type PayInStatus = 'credited' | 'returning' | 'returned';

export interface PayIn {
  id: string;
  bankCode: string;
  bankTransferId: string;
  walletId: string | null;
  amount: Yen;
  senderNameKana: string;
  source: 'notice' | 'statement';
  status: PayInStatus;
  returnReason: ReturnReason | null;
  bookedAt: Date;
  createdAt: Date;
}

interface PayInRow {
  id: string; bank_code: string; bank_transfer_id: string; wallet_id: string | null; amount: number; sender_name_kana: string;
  source: 'notice' | 'statement'; status: PayInStatus; return_reason: ReturnReason | null; booked_at: Date; created_at: Date;
}

function toPayIn(r: PayInRow): PayIn {
  return {
    id: r.id, bankCode: r.bank_code, bankTransferId: r.bank_transfer_id, walletId: r.wallet_id, amount: Number(r.amount) as Yen,
    senderNameKana: r.sender_name_kana, source: r.source, status: r.status, returnReason: r.return_reason,
    bookedAt: new Date(r.booked_at), createdAt: new Date(r.created_at),
  };
}

// ── Virtual accounts ──────────────────────────────────────────────────────────────────────────────────────────────

/** A 7-digit number: 6 random digits and a check digit (Luhn), so one mistyped digit reaches no wallet and is returned. */
export function virtualAccountNumber(random: () => number = () => randomInt(0, 1_000_000)): string {
  const body = String(random()).padStart(6, '0');
  return body + luhnDigit(body);
}

export function luhnDigit(digits: string): string {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

export function hasValidCheckDigit(accountNumber: string): boolean {
  return /^[0-9]{7}$/.test(accountNumber) && luhnDigit(accountNumber.slice(0, 6)) === accountNumber[6];
}

export async function findPayInAccount(q: Queryable, walletId: string): Promise<PayInAccount | null> {
  const res = await q.query<{ wallet_id: string; bank_code: string; branch_code: string; account_number: string; account_name_kana: string; created_at: Date }>(
    'SELECT * FROM pay_in_accounts WHERE wallet_id = $1', [walletId]);
  const r = res.rows[0];
  return r ? {
    walletId: r.wallet_id, bankCode: r.bank_code, branchCode: r.branch_code, accountNumber: r.account_number,
    accountNameKana: r.account_name_kana, createdAt: new Date(r.created_at),
  } : null;
}

/**
 * The wallet's virtual account, issued on first ask and the same ever after (also under concurrent first asks): the
 * bank and branch are where koza collects; the name is koza's, with the owner's name so the sender sees whose it is.
 */
export async function issuePayInAccount(
  q: Queryable, input: { walletId: string; bankCode: string; branchCode: string; ownerNameKana: string },
): Promise<PayInAccount> {
  const existing = await findPayInAccount(q, input.walletId);
  if (existing) return existing;
  const name = `${KOZA_ACCOUNT_NAME_KANA} ${toBankKana(input.ownerNameKana)}`.slice(0, 30);
  for (let attempt = 0; attempt < 8; attempt++) {
    const res = await q.query(
      `INSERT INTO pay_in_accounts (wallet_id, bank_code, branch_code, account_number, account_name_kana)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      [input.walletId, input.bankCode, input.branchCode, virtualAccountNumber(), name]);
    const found = await findPayInAccount(q, input.walletId);
    if (found) return found;
    if (res.rowCount > 0) break;
    // Another wallet holds the number drawn (1 in a million per wallet issued): draw again.
  }
  throw new Error('could not issue a virtual account number');
}

// ── Receiving a transfer ──────────────────────────────────────────────────────────────────────────────────────────

async function getPayIn(q: Queryable, bankCode: string, bankTransferId: string, lock = false): Promise<PayIn | null> {
  const res = await q.query<PayInRow>(
    `SELECT * FROM pay_ins WHERE bank_code = $1 AND bank_transfer_id = $2${lock ? ' FOR UPDATE' : ''}`, [bankCode, bankTransferId]);
  return res.rows[0] ? toPayIn(res.rows[0]) : null;
}

export async function getPayInById(q: Queryable, id: string, lock = false): Promise<PayIn | null> {
  const res = await q.query<PayInRow>(`SELECT * FROM pay_ins WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return res.rows[0] ? toPayIn(res.rows[0]) : null;
}

export async function listWalletPayIns(q: Queryable, walletId: string, limit: number): Promise<PayIn[]> {
  const res = await q.query<PayInRow>('SELECT * FROM pay_ins WHERE wallet_id = $1 ORDER BY created_at DESC LIMIT $2', [walletId, limit]);
  return res.rows.map(toPayIn);
}

/** Facts for the decision, read under the wallet's row lock (so two pay-ins cannot both fit the last room). */
export async function payInFacts(q: Queryable, config: Config, walletId: string | null) {
  if (walletId === null) return { wallet: null, limits: config.limits.L2, email: null };
  const wallet = await getWallet(q, walletId, true);
  const chargeLevel = policyFor(config).chargeLevel(wallet.assuranceLevel);
  const identity = await getVerifiedIdentity(q, walletId);
  const balance = await getBalance(q, wallet.ledgerAccountId);
  const moneyIn = (await q.query<{ today: string; month: string }>(
    `SELECT coalesce(sum(amount) FILTER (WHERE created_at >= ${JST_DAY_START}), 0)::int8 AS today, coalesce(sum(amount), 0)::int8 AS month
       FROM (SELECT amount, created_at FROM bank_movements WHERE wallet_id = $1 AND kind = 'charge' AND status <> 'voided'
               AND created_at >= ${JST_MONTH_START}
             UNION ALL
             SELECT amount, created_at FROM pay_ins WHERE wallet_id = $1 AND status = 'credited' AND created_at >= ${JST_MONTH_START}) m`,
    [walletId])).rows[0]!;
  return {
    email: wallet.emailVerified ? wallet.email : null,
    limits: config.limits[chargeLevel],
    wallet: {
      status: wallet.status, emailVerified: wallet.emailVerified, mayCharge: meetsLevel(chargeLevel, 'L2'),
      identityNameKana: identity?.nameKana ?? null,
      balance: postedCreditBalance(balance) + balance.creditsPending,
      moneyInToday: Number(moneyIn.today), moneyInMonth: Number(moneyIn.month),
    },
  };
}

/** The bank's clearing account in the ledger: opened on first sight, as the directory does. */
async function ensureClearingAccount(q: Queryable, bankCode: string): Promise<string> {
  const id = clearingAccountId(bankCode);
  const res = await q.query('SELECT 1 FROM ledger_accounts WHERE id = $1', [id]);
  if (res.rows.length === 0) await openAccount(q, { id, kind: 'bank_clearing', name: `Bank ${bankCode}` });
  return id;
}

function customerMessage(notice: IncomingTransferNotice, decision: PayInDecision, payInId: string): { subject: string; body: string } {
  if (decision.action === 'credit') {
    return {
      subject: '銀行振込の入金 Bank transfer received',
      body: `${formatYen(notice.amount)}の銀行振込（${notice.sender.name_kana}）をウォレットに入金しました（${payInId}）。\n`
        + `${formatYen(notice.amount)} from your bank account (${notice.sender.name_kana}) is now in your wallet (${payInId}).`,
    };
  }
  return { subject: '銀行振込をお返しします Bank transfer returned', body: `${decision.ja}（${payInId}）\n${decision.en} (${payInId})` };
}

/**
 * Takes one reported transfer to its end, once: the first report (notice or statement line) decides and writes; every
 * later or concurrent report of the same bank transfer id answers the pay-in already there. Money lands in suspense
 * on arrival, then goes on to the wallet or back out to the bank — never both, never twice.
 */
export async function receivePayIn(deps: PayInDeps, notice: IncomingTransferNotice, source: 'notice' | 'statement'): Promise<PayIn> {
  const recorded = await deps.db.transaction(async (tx) => {
    const known = await getPayIn(tx, notice.bank_code, notice.bank_transfer_id);
    if (known) return known;
    const account = await tx.query<{ wallet_id: string }>(
      'SELECT wallet_id FROM pay_in_accounts WHERE bank_code = $1 AND branch_code = $2 AND account_number = $3',
      [notice.bank_code, notice.branch_code, notice.account_number]);
    const walletId = account.rows[0]?.wallet_id ?? null;
    const facts = await payInFacts(tx, deps.config, walletId);
    const decision = decidePayIn({ amount: notice.amount, senderNameKana: notice.sender.name_kana, wallet: facts.wallet, limits: facts.limits });
    const id = newId('pin');
    const arrivalId = newId('xfr');
    const creditId = decision.action === 'credit' ? newId('xfr') : null;
    const inserted = await tx.query<PayInRow>(
      `INSERT INTO pay_ins (id, bank_code, bank_transfer_id, branch_code, account_number, wallet_id, amount, sender_name_kana,
         sender_bank_code, sender_branch_code, booked_at, source, status, return_reason, name_score, arrival_transfer_id, credit_transfer_id,
         settled_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, CASE WHEN $13 = 'credited' THEN now() END)
       ON CONFLICT (bank_code, bank_transfer_id) DO NOTHING RETURNING *`,
      [id, notice.bank_code, notice.bank_transfer_id, notice.branch_code, notice.account_number, walletId, notice.amount,
        notice.sender.name_kana, notice.sender.bank_code, notice.sender.branch_code, notice.booked_at, source,
        decision.action === 'credit' ? 'credited' : 'returning', decision.action === 'credit' ? null : decision.reason,
        decision.nameScore, arrivalId, creditId]);
    // A concurrent report of the same transfer committed first: it is that one pay-in.
    if (inserted.rows.length === 0) return (await getPayIn(tx, notice.bank_code, notice.bank_transfer_id))!;
    const clearing = await ensureClearingAccount(tx, notice.bank_code);
    await createTransfer(tx, {
      id: arrivalId, kind: 'single', debitAccountId: clearing, creditAccountId: SYSTEM_ACCOUNTS.suspense,
      amount: notice.amount as Yen, code: 'pay_in', reference: id,
    });
    if (creditId !== null) {
      const wallet = await getWallet(tx, walletId!);
      await createTransfer(tx, {
        id: creditId, kind: 'single', debitAccountId: SYSTEM_ACCOUNTS.suspense, creditAccountId: wallet.ledgerAccountId,
        amount: notice.amount as Yen, code: 'pay_in', reference: id,
      });
    }
    if (facts.email !== null) await sendMessage(tx, { channel: 'email', recipient: facts.email, ...customerMessage(notice, decision, id) });
    if (decision.action === 'return' && decision.reason === 'name_mismatch') {
      // Someone paid into this wallet from another person's account: harmless to the holder (it goes back), but what a
      // mule or a third party trying koza as a channel looks like; analysts see it beside the wallet's other signals.
      await recordRiskSignal(tx, {
        walletId, kind: 'pay_in_returned',
        detail: { pay_in_id: id, reason: decision.reason, amount: notice.amount, name_score: decision.nameScore, sender_bank_code: notice.sender.bank_code },
      });
    }
    return toPayIn(inserted.rows[0]!);
  });
  if (recorded.status === 'returning') return sendReturn(deps, recorded.id);
  return recorded;
}

/**
 * Asks the bank to send a returning pay-in back (the same Idempotency-Key and reference every time, so the bank books it
 * at most once) and, once it has, moves the money out of suspense to the bank's clearing account. No answer: it stays
 * returning for the next round of the reconciler.
 */
export async function sendReturn(deps: PayInDeps, payInId: string): Promise<PayIn> {
  const payIn = (await getPayInById(deps.db, payInId))!;
  if (payIn.status !== 'returning' || deps.client === null) return payIn;
  const answer = await deps.client.returnTransfer(payIn.bankCode,
    { bank_transfer_id: payIn.bankTransferId, reference: payIn.id, reason: payIn.returnReason! }, `return:${payIn.id}`);
  if (answer.kind !== 'answered') return payIn;
  return deps.db.transaction(async (tx) => {
    const locked = (await getPayInById(tx, payInId, true))!;
    if (locked.status !== 'returning') return locked;
    const returnId = newId('xfr');
    await createTransfer(tx, {
      id: returnId, kind: 'single', debitAccountId: SYSTEM_ACCOUNTS.suspense, creditAccountId: clearingAccountId(locked.bankCode),
      amount: locked.amount, code: 'pay_in_return', reference: locked.id,
    });
    const res = await tx.query<PayInRow>(
      `UPDATE pay_ins SET status = 'returned', return_transfer_id = $2, bank_return_id = $3, settled_at = now() WHERE id = $1 RETURNING *`,
      [locked.id, returnId, answer.value.return_id]);
    return toPayIn(res.rows[0]!);
  });
}

/** The reconciler's round: every pay-in still returning is asked again. Returns how many were returned now. */
export async function settleReturningPayIns(deps: PayInDeps, batch = 100): Promise<number> {
  const res = await deps.db.query<{ id: string }>(
    `SELECT id FROM pay_ins WHERE status = 'returning' ORDER BY created_at LIMIT $1`, [batch]);
  let returned = 0;
  for (const { id } of res.rows) if ((await sendReturn(deps, id)).status === 'returned') returned += 1;
  return returned;
}

export interface PayInReconciliation {
  /** Statement lines koza had never been told of (a lost notice), now credited or returned. */
  found: number;
  /** Lines already known from a notice. */
  known: number;
  /** Returns the bank listed that koza has as returned. */
  returnsAgree: number;
  /** Returns the bank listed that koza does not have as returned (recorded for an operator). */
  returnsDiffer: string[];
}

/** The incoming transfers and returns of a statement, against koza's pay-ins: a transfer never reported is taken now. */
export async function reconcilePayIns(deps: PayInDeps, statement: Statement): Promise<PayInReconciliation> {
  const result: PayInReconciliation = { found: 0, known: 0, returnsAgree: 0, returnsDiffer: [] };
  for (const line of statement.incoming ?? []) {
    if (line.bank_code !== statement.bank_code) continue;
    if (await getPayIn(deps.db, line.bank_code, line.bank_transfer_id)) {
      result.known += 1;
      continue;
    }
    await receivePayIn(deps, line, 'statement');
    result.found += 1;
  }
  for (const line of statement.returns ?? []) {
    const mine = await getPayIn(deps.db, statement.bank_code, line.bank_transfer_id);
    if (mine?.status === 'returned') result.returnsAgree += 1;
    else if (mine?.status === 'returning') {
      // The bank booked the return but its answer was lost: asking again replays it and settles the ledger.
      if ((await sendReturn(deps, mine.id)).status === 'returned') result.returnsAgree += 1;
      else result.returnsDiffer.push(line.bank_transfer_id);
    } else result.returnsDiffer.push(line.bank_transfer_id);
  }
  return result;
}

/** The Japan calendar date (yyyy-mm-dd) of an instant: statements are per JST day. */
function jstDateOf(at: Date): string {
  return new Date(at.getTime() + 9 * 3_600_000).toISOString().slice(0, 10);
}

/**
 * A lost notice is found without an operator: today's and yesterday's statements (Japan days) of every bank koza
 * collects pay-ins at, each incoming transfer taken once. Returns how many transfers it found that no notice had told.
 */
export async function reconcilePayInStatements(deps: PayInDeps, now: Date = new Date()): Promise<number> {
  if (deps.client === null) return 0;
  // The few distinct pay-in banks, read off the unique index (a skip scan), not by scanning every wallet's account.
  const banks = await deps.db.query<{ bank_code: string }>(
    `WITH RECURSIVE b AS (
       SELECT min(bank_code) AS bank_code FROM pay_in_accounts
       UNION ALL SELECT (SELECT min(bank_code) FROM pay_in_accounts WHERE bank_code > b.bank_code) FROM b WHERE b.bank_code IS NOT NULL)
     SELECT bank_code FROM b WHERE bank_code IS NOT NULL`);
  let found = 0;
  for (const { bank_code: bankCode } of banks.rows) {
    for (const date of [jstDateOf(new Date(now.getTime() - 86_400_000)), jstDateOf(now)]) {
      const answer = await deps.client.statement(bankCode, date);
      if (answer.kind === 'answered') found += (await reconcilePayIns(deps, answer.value)).found;
    }
  }
  return found;
}
