// Owns merchants: self-serve onboarding with a secret API key, and the merchant's own ledger account.
// Must never store or return an API key after the response that created it.
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { openAccount } from '../ledger/ledger.js';
import { hashToken, newToken } from '../identity/secrets.js';
import { InvalidRequest, NotFound } from '../errors.js';
import { normalizeEmail } from '../wallets/wallets.js';

export interface Merchant {
  id: string;
  name: string;
  email: string;
  ledgerAccountId: string;
  createdAt: Date;
}

interface MerchantRow { id: string; name: string; email: string; ledger_account_id: string; created_at: Date }

function toMerchant(r: MerchantRow): Merchant {
  return { id: r.id, name: r.name, email: r.email, ledgerAccountId: r.ledger_account_id, createdAt: new Date(r.created_at) };
}

export async function createMerchant(
  q: Queryable, input: { name: string; email: string },
): Promise<{ merchant: Merchant; apiKey: string }> {
  const name = input.name.trim();
  if (name.length === 0) throw new InvalidRequest('The merchant name must not be blank.');
  const email = normalizeEmail(input.email);
  const id = newId('mer');
  const ledgerAccountId = `acc_${id}`;
  const apiKey = newToken('kzm');
  await openAccount(q, { id: ledgerAccountId, kind: 'merchant', name });
  const res = await q.query<MerchantRow>(
    `INSERT INTO merchants (id, name, email, api_key_hash, ledger_account_id) VALUES ($1, $2, $3, $4, $5)
     RETURNING id, name, email, ledger_account_id, created_at`,
    [id, name, email, hashToken(apiKey), ledgerAccountId],
  );
  return { merchant: toMerchant(res.rows[0]!), apiKey };
}

export async function findMerchantByApiKey(q: Queryable, apiKey: string): Promise<Merchant | null> {
  const res = await q.query<MerchantRow>(
    'SELECT id, name, email, ledger_account_id, created_at FROM merchants WHERE api_key_hash = $1', [hashToken(apiKey)],
  );
  return res.rows[0] ? toMerchant(res.rows[0]) : null;
}

export async function getMerchant(q: Queryable, merchantId: string): Promise<Merchant> {
  const res = await q.query<MerchantRow>(
    'SELECT id, name, email, ledger_account_id, created_at FROM merchants WHERE id = $1', [merchantId],
  );
  if (!res.rows[0]) throw new NotFound('The merchant does not exist.');
  return toMerchant(res.rows[0]);
}
