// Owns the cash-out facts of a payment for the risk event (issue 10): minutes since the wallet's latest charge and
// whether it never paid this merchant before. Must never decide anything: the rules do (cash-out alerts).
import type { Queryable } from '../store/db.js';

export async function paymentCashOutFacts(
  q: Queryable, walletId: string, merchantId: string,
): Promise<{ minutes_since_charge: number | null; new_destination: boolean }> {
  const res = await q.query<{ minutes: number | string | null; paid_before: boolean }>(
    `SELECT (SELECT extract(epoch FROM now() - max(created_at)) / 60 FROM bank_movements
              WHERE wallet_id = $1 AND kind = 'charge' AND status <> 'voided' AND created_at > now() - interval '30 days') AS minutes,
            EXISTS (SELECT 1 FROM payments WHERE wallet_id = $1 AND merchant_id = $2) AS paid_before`, [walletId, merchantId]);
  const row = res.rows[0]!;
  return {
    minutes_since_charge: row.minutes === null ? null : Math.round(Number(row.minutes) * 100) / 100,
    new_destination: !row.paid_before,
  };
}
