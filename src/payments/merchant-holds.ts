// Owns the hold on a new merchant's takings (SPEC §5.5): which payments are held, until when, and their release
// (held account → available account, one ledger transfer each). Must never release a hold twice, release more than
// what is left of it after refunds, nor let anything but a release or a refund take money out of the held account.
import type { Queryable } from '../store/db.js';
import { createTransfer, getBalance } from '../ledger/ledger.js';
import { yenFromDb, type Yen } from '../money.js';
import type { Merchant } from './merchants.js';

export interface HoldPolicy {
  /** A merchant younger than this many days has its payments held. */
  newMerchantDays: number;
  /** For this many days. */
  holdDays: number;
}

const DAY_MS = 86_400_000;

/** When a payment to this merchant at `now` is released, or null when it is not held. */
export function holdUntil(merchant: Pick<Merchant, 'createdAt'>, policy: HoldPolicy, now: Date): Date | null {
  if (policy.holdDays <= 0) return null;
  const ageMs = now.getTime() - merchant.createdAt.getTime();
  return ageMs < policy.newMerchantDays * DAY_MS ? new Date(now.getTime() + policy.holdDays * DAY_MS) : null;
}

export async function recordHold(
  q: Queryable, input: { paymentId: string; merchantId: string; amount: Yen; releaseAt: Date },
): Promise<void> {
  await q.query('INSERT INTO merchant_holds (payment_id, merchant_id, amount, release_at) VALUES ($1, $2, $3, $4)',
    [input.paymentId, input.merchantId, input.amount, input.releaseAt]);
}

export interface OpenHold {
  paymentId: string;
  amount: Yen;
  refundedAmount: Yen;
  releaseAt: Date;
}

/** The payment's hold if it is not released yet, locked: a refund and the release must not both take it. */
export async function lockOpenHold(q: Queryable, paymentId: string): Promise<OpenHold | null> {
  const res = await q.query<{ payment_id: string; amount: number; refunded_amount: number; release_at: Date }>(
    `SELECT payment_id, amount, refunded_amount, release_at FROM merchant_holds
      WHERE payment_id = $1 AND released_at IS NULL FOR UPDATE`, [paymentId]);
  const r = res.rows[0];
  return r ? { paymentId: r.payment_id, amount: yenFromDb(r.amount), refundedAmount: yenFromDb(r.refunded_amount), releaseAt: new Date(r.release_at) } : null;
}

export async function takeRefundFromHold(q: Queryable, paymentId: string, amount: Yen): Promise<void> {
  await q.query('UPDATE merchant_holds SET refunded_amount = refunded_amount + $2 WHERE payment_id = $1', [paymentId, amount]);
}

export interface Release {
  paymentId: string;
  merchantId: string;
  amount: Yen;
  transferId: string | null;
}

/**
 * Releases up to `limit` holds due at `now`, each as a transfer held → available named after its payment (a retry
 * finds it). SKIP LOCKED: several processes, or a refund holding one row, never make a round wait or release twice.
 */
export async function releaseDueHolds(q: Queryable, now: Date, limit = 500): Promise<Release[]> {
  const due = await q.query<{ payment_id: string; merchant_id: string; amount: number; refunded_amount: number;
    ledger_account_id: string; held_ledger_account_id: string }>(
    `SELECT h.payment_id, h.merchant_id, h.amount, h.refunded_amount, m.ledger_account_id, m.held_ledger_account_id
       FROM merchant_holds h JOIN merchants m ON m.id = h.merchant_id
      WHERE h.released_at IS NULL AND h.release_at <= $1
      ORDER BY h.release_at LIMIT $2
      FOR UPDATE OF h SKIP LOCKED`, [now, limit]);
  const released: Release[] = [];
  for (const row of due.rows) {
    const left = yenFromDb(row.amount) - yenFromDb(row.refunded_amount);
    let transferId: string | null = null;
    if (left > 0) {
      transferId = `xfr_release_${row.payment_id}`;
      await createTransfer(q, {
        id: transferId, kind: 'single', debitAccountId: row.held_ledger_account_id, creditAccountId: row.ledger_account_id,
        amount: left as Yen, code: 'hold_release', reference: row.payment_id,
      });
    }
    await q.query(
      'UPDATE merchant_holds SET released_at = $2, released_amount = $3, release_transfer_id = $4 WHERE payment_id = $1',
      [row.payment_id, now, left, transferId]);
    released.push({ paymentId: row.payment_id, merchantId: row.merchant_id, amount: left as Yen, transferId });
  }
  return released;
}

export interface MerchantBalances {
  /** What the merchant may pay out or refund from now. */
  available: Yen;
  /** Held, by release moment (the job releases each within a round of it). */
  held: Array<{ releaseAt: Date; amount: Yen }>;
  heldTotal: Yen;
}

/** Credit-normal: what the account was paid less what left it. */
async function creditBalance(q: Queryable, accountId: string): Promise<Yen> {
  const b = await getBalance(q, accountId);
  return (b.creditsPosted - b.debitsPosted) as Yen;
}

export async function availableBalance(q: Queryable, merchant: Merchant): Promise<Yen> {
  return creditBalance(q, merchant.ledgerAccountId);
}

export async function merchantBalances(q: Queryable, merchant: Merchant): Promise<MerchantBalances> {
  const available = await creditBalance(q, merchant.ledgerAccountId);
  const heldTotal = await creditBalance(q, merchant.heldLedgerAccountId);
  const rows = await q.query<{ release_at: Date; amount: number }>(
    `SELECT release_at, sum(amount - refunded_amount)::bigint AS amount FROM merchant_holds
      WHERE merchant_id = $1 AND released_at IS NULL AND amount > refunded_amount
      GROUP BY release_at ORDER BY release_at LIMIT 1000`, [merchant.id]);
  return {
    available, heldTotal,
    held: rows.rows.map((r) => ({ releaseAt: new Date(r.release_at), amount: yenFromDb(r.amount) })),
  };
}

/** The next moment some held money becomes available, or null. */
export async function nextRelease(q: Queryable, merchantId: string): Promise<Date | null> {
  const res = await q.query<{ at: Date | null }>(
    'SELECT min(release_at) AS at FROM merchant_holds WHERE merchant_id = $1 AND released_at IS NULL AND amount > refunded_amount',
    [merchantId]);
  return res.rows[0]?.at ? new Date(res.rows[0].at) : null;
}
