// Owns payments (wallet → merchant) and refunds (merchant → wallet), each one ledger transfer (SPEC §5.5); a new
// merchant's payments land in its held account. Must never refund more than was paid (the payments row's CHECK refuses
// it even if this code were wrong), nor refund from the available balance more than it holds.
import type { Queryable } from '../store/db.js';
import { isDbError } from '../store/db.js';
import { newId } from '../ids.js';
import { createTransfer } from '../ledger/ledger.js';
import { createError, NotFound } from '../errors.js';
import { yenFromDb, type Yen } from '../money.js';
import { assertCanMoveMoney, type Wallet } from '../wallets/wallets.js';
import { getMerchant, type Merchant } from './merchants.js';
import { assertLevel } from '../identity/assurance.js';
import { assertMovementWithinLimits, type Limits } from '../wallets/limits.js';
import { availableBalance, holdUntil, lockOpenHold, nextRelease, recordHold, takeRefundFromHold, type HoldPolicy } from './merchant-holds.js';
import { formatJst, formatYen } from '../display.js';

export const RefundExceedsPayment = createError('refund-exceeds-payment', 422, 'The refund is larger than what remains of the payment');
export const MerchantFundsTooLow = createError<{ available_yen: number; next_release_at: string | null }>(
  'merchant-funds-too-low', 422, 'The merchant\'s available balance is too low');

export interface Payment {
  seq: number;
  /** When a new merchant's hold on this payment ends; null when it was never held. */
  heldUntil?: Date | null;
  id: string;
  walletId: string;
  merchantId: string;
  amount: Yen;
  refundedAmount: Yen;
  description: string | null;
  transferId: string;
  createdAt: Date;
}

interface PaymentRow {
  seq: number; id: string; wallet_id: string; merchant_id: string; amount: number; refunded_amount: number;
  description: string | null; transfer_id: string; created_at: Date;
}

function toPayment(r: PaymentRow): Payment {
  return {
    seq: r.seq, id: r.id, walletId: r.wallet_id, merchantId: r.merchant_id, amount: yenFromDb(r.amount),
    refundedAmount: yenFromDb(r.refunded_amount), description: r.description, transferId: r.transfer_id,
    createdAt: new Date(r.created_at),
  };
}

/** The caller holds the wallet row lock (getWallet(…, true)), so limits are checked against settled totals. */
export async function pay(
  q: Queryable, wallet: Wallet, limits: Limits,
  input: { merchantId: string; amount: Yen; description?: string | undefined; steppedUp?: boolean },
  holds: HoldPolicy, now: Date = new Date(),
): Promise<Payment> {
  assertCanMoveMoney(wallet);
  assertLevel(wallet.assuranceLevel, 'L2');
  await assertMovementWithinLimits(q, limits[wallet.assuranceLevel], 'payment', wallet.id, input.amount);
  const merchant = await getMerchant(q, input.merchantId);
  const id = newId('pay');
  const transferId = newId('xfr');
  // A new merchant could be a mule opened to cash out stolen money: its takings wait before they can leave.
  const releaseAt = holdUntil(merchant, holds, now);
  await createTransfer(q, {
    id: transferId, kind: 'single', debitAccountId: wallet.ledgerAccountId,
    creditAccountId: releaseAt ? merchant.heldLedgerAccountId : merchant.ledgerAccountId,
    amount: input.amount, code: 'payment', reference: id,
  });
  const res = await q.query<PaymentRow>(
    `INSERT INTO payments (id, wallet_id, merchant_id, amount, transfer_id, description, stepped_up)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [id, wallet.id, merchant.id, input.amount, transferId, input.description ?? null, input.steppedUp ?? false],
  );
  if (releaseAt) await recordHold(q, { paymentId: id, merchantId: merchant.id, amount: input.amount, releaseAt });
  return { ...toPayment(res.rows[0]!), heldUntil: releaseAt };
}

/**
 * Whether the merchant is a destination the wallet has used: a payment there was approved with a step-up. Merely
 * having paid it is not enough — a thief would pay ¥1 first and then large amounts without a second factor.
 */
export async function isTrustedDestination(q: Queryable, walletId: string, merchantId: string): Promise<boolean> {
  const res = await q.query('SELECT 1 FROM payments WHERE wallet_id = $1 AND merchant_id = $2 AND stepped_up LIMIT 1',
    [walletId, merchantId]);
  return res.rows.length > 0;
}

export async function getPayment(q: Queryable, paymentId: string): Promise<Payment> {
  const res = await q.query<PaymentRow>('SELECT * FROM payments WHERE id = $1', [paymentId]);
  if (!res.rows[0]) throw new NotFound('The payment does not exist.');
  return toPayment(res.rows[0]);
}

export async function listMerchantPayments(
  q: Queryable, merchant: Merchant, page: { beforeSeq?: number; limit: number },
): Promise<Payment[]> {
  const res = await q.query<PaymentRow>(
    `SELECT * FROM payments WHERE merchant_id = $1 AND ($2::bigint IS NULL OR seq < $2::bigint)
      ORDER BY seq DESC LIMIT $3`,
    [merchant.id, page.beforeSeq ?? null, page.limit],
  );
  return res.rows.map(toPayment);
}

export interface Refund {
  id: string;
  paymentId: string;
  amount: Yen;
  reason: string | null;
  transferId: string;
  createdAt: Date;
}

export async function refund(
  q: Queryable, merchant: Merchant, input: { paymentId: string; amount: Yen; reason?: string | undefined },
): Promise<{ refund: Refund; payment: Payment }> {
  // The row lock orders concurrent refunds of one payment; the CHECK is the last word on the total.
  const found = await q.query<PaymentRow>('SELECT * FROM payments WHERE id = $1 AND merchant_id = $2 FOR UPDATE',
    [input.paymentId, merchant.id]);
  if (!found.rows[0]) throw new NotFound('The payment does not exist.');
  const payment = toPayment(found.rows[0]);
  const refundable = payment.amount - payment.refundedAmount;
  if (input.amount > refundable) {
    throw new RefundExceedsPayment(`At most ${formatYen(refundable)} of this payment can still be refunded.`, { refundable });
  }
  // Before its release the hold still holds the whole refundable rest (refunds are bounded by the payment), so a
  // refund comes from the held account entirely, or after release from the available one entirely.
  const hold = await lockOpenHold(q, payment.id);
  if (!hold) {
    await getMerchant(q, merchant.id, true);
    const available = await availableBalance(q, merchant);
    if (input.amount > available) {
      const next = await nextRelease(q, merchant.id);
      throw new MerchantFundsTooLow(`The merchant's available balance is ${formatYen(available)}, less than this refund. `
        + (next ? `Held payments become available from ${formatJst(next)}; refund then, or ` : '')
        + 'receive payments first.', { available_yen: available, next_release_at: next?.toISOString() ?? null });
    }
  }
  const walletAccount = await q.query<{ ledger_account_id: string }>(
    'SELECT ledger_account_id FROM wallets WHERE id = $1', [payment.walletId]);
  let updated: PaymentRow;
  try {
    const res = await q.query<PaymentRow>(
      'UPDATE payments SET refunded_amount = refunded_amount + $2 WHERE id = $1 RETURNING *', [payment.id, input.amount]);
    updated = res.rows[0]!;
  } catch (err) {
    if (isDbError(err) && err.code === '23514' && err.constraint === 'refunds_within_payment') {
      throw new RefundExceedsPayment(
        `At most ${formatYen(payment.amount - payment.refundedAmount)} of this payment can still be refunded.`,
        { refundable: payment.amount - payment.refundedAmount },
      );
    }
    throw err;
  }
  const id = newId('rfd');
  const transferId = newId('xfr');
  // Merchant accounts are sharded, not limited: the hold's CHECK and the locked balance check above bound the debit.
  if (hold) await takeRefundFromHold(q, payment.id, input.amount);
  await createTransfer(q, {
    id: transferId, kind: 'single', debitAccountId: hold ? merchant.heldLedgerAccountId : merchant.ledgerAccountId,
    creditAccountId: walletAccount.rows[0]!.ledger_account_id, amount: input.amount, code: 'refund', reference: id,
  });
  const res = await q.query<{ created_at: Date }>(
    `INSERT INTO refunds (id, payment_id, amount, reason, transfer_id, from_held) VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING created_at`,
    [id, payment.id, input.amount, input.reason ?? null, transferId, hold !== null],
  );
  return {
    refund: { id, paymentId: payment.id, amount: input.amount, reason: input.reason ?? null, transferId,
      createdAt: new Date(res.rows[0]!.created_at) },
    payment: toPayment(updated),
  };
}
