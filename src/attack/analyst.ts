// Owns the replay's fraud analyst: held bank links looked at — a customer's as it is held (the queue is worked within
// hours, before a family's next member opens a wallet days later), the rest once the traffic has stopped — each released
// or rejected over koza's operator API (issue 11: every review has a way through), judged on what the console shows.
// Must never decide on who the replay says a person is (customer or ring): only on koza's own records of the wallets.
import { randomUUID } from 'node:crypto';
import { createOperator } from '../operations/operators.js';
import type { Db } from '../store/db.js';
import type { RequestMeter } from './client.js';

export interface Review {
  /** Wallets whose held link the analyst released (they may link again). */
  released: Set<string>;
  rejected: number;
}

/** The rules that hold a link for a shared device: a household's tablet looks like this too. */
export const HOUSEHOLD_RULES = new Set(['device-many-names', 'device-wallet-farm-24h', 'device-wallet-farm-30d']);

/**
 * The runbook for a held link: held by a shared-device rule only (HOUSEHOLD_RULES), look at every wallet seen on the
 * device and the identity each was verified as. One household — two to five wallets, all verified, one family name —
 * is a family on a shared tablet: release. Anything else (another rule held it, unverified wallets, several family
 * names: bought identities on one phone) is rejected; the customer is told either way.
 */
export function judgeHousehold(rules: string[], names: Array<string | null>): { release: boolean; reason: string } {
  if (rules.length === 0 || rules.some((r) => !HOUSEHOLD_RULES.has(r))) return { release: false, reason: `held by ${rules.join(', ') || 'no rule'}: not a shared-device review` };
  if (names.length < 2 || names.length > 5) return { release: false, reason: `${names.length} wallets on the device: not a household` };
  if (names.some((n) => n === null)) return { release: false, reason: 'wallets on the device without a verified identity' };
  const families = new Set(names.map((n) => n!.split(' ')[0]));
  if (families.size === 1) return { release: true, reason: `one household on a shared device: ${names.length} verified members, one family name` };
  return { release: false, reason: `${families.size} family names on one device: not a household` };
}

/** One operator key per database: the replay's analyst is one person, however often the queue is worked. */
const analystKeys = new WeakMap<Db, Promise<string>>();

/**
 * Works the held-link queue over koza's operator API: every held link (or only `walletId`'s) released — as one household,
 * which clears the device for a member who links later — or rejected, on the runbook of judgeHousehold.
 */
export async function reviewHeldLinks(db: Db, kozaUrl: string, meter: RequestMeter, walletId?: string): Promise<Review> {
  if (!analystKeys.has(db)) analystKeys.set(db, createOperator(db, { name: 'replay analyst', role: 'fraud_analyst' }).then((o) => o.apiKey));
  const apiKey = await analystKeys.get(db)!;
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    meter.requests++;
    const res = await fetch(new URL(path, kozaUrl), {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`, accept: 'application/json',
        ...(body ? { 'content-type': 'application/json', 'idempotency-key': randomUUID() } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  const held = ((await call('GET', '/v1/admin/links/held?limit=500')).json.data ?? []) as Array<{
    link_request_id: string; wallet_id: string; device_key: string | null; state: string; risk_decision_id: string | null;
  }>;
  const review: Review = { released: new Set(), rejected: 0 };
  for (const link of held.filter((h) => h.state === 'held' && (walletId === undefined || h.wallet_id === walletId))) {
    // The console's view of the device: every wallet koza decided on from it, and the identity each was verified as.
    const names = link.device_key === null ? [] : (await db.query<{ name: string | null }>(
      `SELECT v.name_kanji AS name FROM (SELECT DISTINCT wallet_id FROM risk_decisions WHERE device_key = $1 AND wallet_id IS NOT NULL) w
         LEFT JOIN verified_identities v ON v.wallet_id = w.wallet_id AND v.superseded_at IS NULL`, [link.device_key])).rows.map((r) => r.name);
    const rules = link.risk_decision_id === null ? [] : (await db.query<{ rule: string }>(
      `SELECT DISTINCT hit->>'rule' AS rule FROM risk_decisions, jsonb_array_elements(rule_hits) AS hit
        WHERE id = $1 AND coalesce(hit->>'action', '') <> 'allow'`, [link.risk_decision_id])).rows.map((r) => r.rule);
    const verdict = judgeHousehold(rules, names);
    const answer = await call('POST', `/v1/admin/links/${link.link_request_id}/${verdict.release ? 'release' : 'reject'}`,
      verdict.release ? { reason: verdict.reason, household: true } : { reason: verdict.reason });
    if (answer.status !== 200) throw new Error(`the analyst could not decide ${link.link_request_id}: ${answer.status} ${JSON.stringify(answer.json)}`);
    if (verdict.release) review.released.add(link.wallet_id);
    else review.rejected++;
  }
  return review;
}

/** The analyst as the customers' crowd calls it between family members' turns (customers.ts): released or not. */
export function analystFor(world: { db: Db; kozaUrl: string }, meter: RequestMeter): (walletId: string) => Promise<boolean> {
  return async (walletId) => (await reviewHeldLinks(world.db, world.kozaUrl, meter, walletId)).released.has(walletId);
}
