// Owns the risk features of a payment (issue 10): the merchant's age and owner, the wallet's history with it, the
// wallet's payment velocity and the merchant's payer velocity, read from the payments and merchants tables.
// Must never write, and never query on an event that is not a payment (every name is null there).
import type { Queryable } from '../store/db.js';
import type { RiskEvent } from './hook.js';

export const PAYMENT_FEATURE_NAMES = [
  'merchant_age_hours', 'first_payment_to_merchant', 'merchant_owner_is_payer',
  'payments_per_wallet_1h', 'payments_per_wallet_24h', 'payment_amount_per_wallet_1h', 'payment_amount_per_wallet_24h',
  'wallets_paying_merchant_24h', 'payments_to_merchant_1h',
] as const;
export type PaymentFeatureName = typeof PAYMENT_FEATURE_NAMES[number];

export const PAYMENT_FEATURE_MEANINGS: Record<PaymentFeatureName, string> = {
  merchant_age_hours: 'payment: hours since the merchant paid was opened; null on other events or an unknown merchant.',
  first_payment_to_merchant: 'payment: the wallet never paid this merchant before; null on other events.',
  merchant_owner_is_payer: "payment: the merchant's verified owner is the paying wallet (self-dealing); null on other events.",
  payments_per_wallet_1h: 'payment: payments by this wallet in the last hour, including this one.',
  payments_per_wallet_24h: 'payment: payments by this wallet in the last 24 h, including this one.',
  payment_amount_per_wallet_1h: 'payment: yen paid by this wallet in the last hour, including this payment.',
  payment_amount_per_wallet_24h: 'payment: yen paid by this wallet in the last 24 h, including this payment.',
  wallets_paying_merchant_24h: 'payment: distinct wallets that paid this merchant in the last 24 h, including this one.',
  payments_to_merchant_1h: 'payment: payments to this merchant in the last hour from any wallet, including this one.',
};

type PaymentFeatures = Record<PaymentFeatureName, number | boolean | null>;

const NONE: PaymentFeatures = Object.fromEntries(PAYMENT_FEATURE_NAMES.map((n) => [n, null])) as PaymentFeatures;

function hours(from: Date, to: Date): number {
  return Math.round(((to.getTime() - from.getTime()) / 3_600_000) * 100) / 100;
}

/**
 * Payments refused before they were written are not counted (they moved no money); the payment being decided is
 * not in the table yet and is added as the conventions say (counts include the event).
 */
export async function paymentFeatures(q: Queryable, event: RiskEvent, now: Date): Promise<PaymentFeatures> {
  const merchantId = event.attributes?.merchant_id;
  if (event.kind !== 'payment' || !event.walletId || typeof merchantId !== 'string') return { ...NONE };
  const amount = typeof event.amount === 'number' ? event.amount : 0;
  const res = await q.query<{
    merchant_created_at: Date | null; owner_wallet_id: string | null; earlier_to_merchant: number | string;
    wallet_1h: number | string; wallet_24h: number | string; yen_1h: number | string; yen_24h: number | string;
    other_payers_24h: number | string; merchant_1h: number | string;
  }>(
    `SELECT m.created_at AS merchant_created_at, m.owner_wallet_id,
       (SELECT count(*) FROM payments WHERE wallet_id = $1 AND merchant_id = $2 AND created_at <= $3) AS earlier_to_merchant,
       (SELECT count(*) FROM payments WHERE wallet_id = $1 AND created_at > $3::timestamptz - interval '1 hour' AND created_at <= $3) AS wallet_1h,
       (SELECT count(*) FROM payments WHERE wallet_id = $1 AND created_at > $3::timestamptz - interval '24 hours' AND created_at <= $3) AS wallet_24h,
       (SELECT coalesce(sum(amount), 0) FROM payments WHERE wallet_id = $1 AND created_at > $3::timestamptz - interval '1 hour' AND created_at <= $3) AS yen_1h,
       (SELECT coalesce(sum(amount), 0) FROM payments WHERE wallet_id = $1 AND created_at > $3::timestamptz - interval '24 hours' AND created_at <= $3) AS yen_24h,
       (SELECT count(DISTINCT wallet_id) FROM payments WHERE merchant_id = $2 AND wallet_id <> $1
          AND created_at > $3::timestamptz - interval '24 hours' AND created_at <= $3) AS other_payers_24h,
       (SELECT count(*) FROM payments WHERE merchant_id = $2 AND created_at > $3::timestamptz - interval '1 hour' AND created_at <= $3) AS merchant_1h
     FROM (SELECT 1) one LEFT JOIN merchants m ON m.id = $2`,
    [event.walletId, merchantId, now]);
  const r = res.rows[0]!;
  const known = r.merchant_created_at !== null;
  return {
    merchant_age_hours: known ? hours(new Date(r.merchant_created_at!), now) : null,
    first_payment_to_merchant: Number(r.earlier_to_merchant) === 0,
    merchant_owner_is_payer: known ? r.owner_wallet_id === event.walletId : null,
    payments_per_wallet_1h: Number(r.wallet_1h) + 1,
    payments_per_wallet_24h: Number(r.wallet_24h) + 1,
    payment_amount_per_wallet_1h: Number(r.yen_1h) + amount,
    payment_amount_per_wallet_24h: Number(r.yen_24h) + amount,
    wallets_paying_merchant_24h: known ? Number(r.other_payers_24h) + 1 : null,
    payments_to_merchant_1h: known ? Number(r.merchant_1h) + 1 : null,
  };
}
