// Owns reading what graduated trust needs about one bank account (link-trust.ts): the person's first link of it, the
// link's confirmation, a clean history, and the charges from it. Must never count per link: re-linking resets nothing.
import type { Queryable } from '../store/db.js';
import type { AccountTrustFacts } from './link-trust.js';
import type { BankLink } from './link-store.js';

/** Revocation reasons that mean the holder (or an analyst for them) said the link was not theirs. */
export const HOLDER_DISPUTE_REASONS = ['holder_revoked_at_bank', 'fraud_confirmed'];

/**
 * Facts in one query. The account's age is that of the first link of it by this wallet or any wallet of the same
 * verified person (a second wallet of one person keeps the history; another person's link gives none). Charges count
 * from every wallet's links to the account: the holder's money is what the cap protects.
 */
export async function accountTrustFacts(q: Queryable, walletId: string, link: BankLink, now: Date): Promise<AccountTrustFacts> {
  const res = await q.query<{
    first_linked_at: Date; disputed: boolean; flagged: boolean; total: string | number; recent: Array<{ at: string; amount: number }> | string | null;
  }>(
    `WITH person_wallets AS (
       SELECT $1::text AS wallet_id
       UNION SELECT v.wallet_id FROM verified_identities v
        WHERE v.person_key IN (SELECT person_key FROM verified_identities WHERE wallet_id = $1)
     ), account_links AS (
       SELECT id, wallet_id, created_at, revoked_reason FROM bank_links WHERE bank_code = $2 AND account_ref = $3
     ), person_links AS (
       SELECT * FROM account_links WHERE wallet_id IN (SELECT wallet_id FROM person_wallets)
     ), charges AS (
       SELECT m.created_at, m.amount, m.status, m.failure_reason FROM bank_movements m
        WHERE m.kind = 'charge' AND m.link_id IN (SELECT id FROM account_links)
     )
     SELECT (SELECT min(created_at) FROM person_links) AS first_linked_at,
            EXISTS (SELECT 1 FROM person_links WHERE revoked_reason = ANY($5::text[])) AS disputed,
            EXISTS (SELECT 1 FROM charges WHERE status = 'held' OR failure_reason = 'risk_review_rejected') AS flagged,
            (SELECT coalesce(sum(amount), 0) FROM charges
              WHERE status <> 'voided' AND created_at >= (SELECT min(created_at) FROM person_links)) AS total,
            (SELECT json_agg(json_build_object('at', created_at, 'amount', amount) ORDER BY created_at) FROM charges
              WHERE status <> 'voided' AND created_at > $4::timestamptz - interval '24 hours') AS recent`,
    [walletId, link.bankCode, link.accountRef, now, HOLDER_DISPUTE_REASONS]);
  const row = res.rows[0]!;
  const recent = typeof row.recent === 'string' ? JSON.parse(row.recent) as Array<{ at: string; amount: number }> : row.recent ?? [];
  return {
    firstLinkedAt: row.first_linked_at === null ? link.createdAt : new Date(row.first_linked_at),
    method: link.method,
    holderConfirmed: link.holderConfirmedAt !== null,
    clean: !row.disputed && !row.flagged,
    last24h: recent.map((c) => ({ at: new Date(c.at), amount: Number(c.amount) })),
    totalSinceFirstLink: Number(row.total),
  };
}
