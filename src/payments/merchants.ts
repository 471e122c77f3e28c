// Owns merchants: a verified business with a verified owner, its secret API key, and its two ledger accounts
// (available, and held for what a new merchant receives). Must never store or return an API key after the response
// that created it, nor give one business two merchants (the unique business key decides).
import type { Queryable } from '../store/db.js';
import { isDbError } from '../store/db.js';
import { newId } from '../ids.js';
import { openAccount } from '../ledger/ledger.js';
import { hashToken, newToken } from '../identity/secrets.js';
import { createError, InvalidRequest, NotFound } from '../errors.js';
import { normalizeEmail } from '../wallets/wallets.js';
import type { BusinessKind } from '../identity/verification/verifier.js';

export const BusinessAlreadyOnboarded = createError(
  'business-already-onboarded', 409, 'This business already has a koza merchant');

export interface Merchant {
  id: string;
  name: string;
  email: string;
  ledgerAccountId: string;
  heldLedgerAccountId: string;
  /** Null for a merchant opened before business checks existed: it cannot pay out. */
  ownerWalletId: string | null;
  business: { kind: BusinessKind; registeredName: string; corporateNumber: string | null } | null;
  createdAt: Date;
}

interface MerchantRow {
  id: string; name: string; email: string; ledger_account_id: string; held_ledger_account_id: string;
  owner_wallet_id: string | null; business_kind: BusinessKind | null; registered_name: string | null;
  corporate_number: string | null; created_at: Date;
}

const COLUMNS = `id, name, email, ledger_account_id, held_ledger_account_id, owner_wallet_id, business_kind, registered_name,
  corporate_number, created_at`;

function toMerchant(r: MerchantRow): Merchant {
  return {
    id: r.id, name: r.name, email: r.email, ledgerAccountId: r.ledger_account_id, heldLedgerAccountId: r.held_ledger_account_id,
    ownerWalletId: r.owner_wallet_id,
    business: r.business_kind === null ? null
      : { kind: r.business_kind, registeredName: r.registered_name ?? r.name, corporateNumber: r.corporate_number },
    createdAt: new Date(r.created_at),
  };
}

export interface NewMerchant {
  name: string;
  email: string;
  ownerWalletId: string;
  businessVerificationId: string;
  business: { kind: BusinessKind; registeredName: string; corporateNumber: string | null };
  /** 'corp:<corporate number>' or 'sole:<owner person key>': one business, one merchant. */
  businessKey: string;
}

export async function createMerchant(q: Queryable, input: NewMerchant): Promise<{ merchant: Merchant; apiKey: string }> {
  const name = input.name.trim();
  if (name.length === 0) throw new InvalidRequest('The merchant name must not be blank.');
  const email = normalizeEmail(input.email);
  const id = newId('mer');
  const ledgerAccountId = `acc_${id}`;
  const heldLedgerAccountId = `${ledgerAccountId}_held`;
  const apiKey = newToken('kzm');
  await q.query('SAVEPOINT create_merchant');
  try {
    await openAccount(q, { id: ledgerAccountId, kind: 'merchant', name });
    await openAccount(q, { id: heldLedgerAccountId, kind: 'merchant', name: `${name} (held)` });
    const res = await q.query<MerchantRow>(
      `INSERT INTO merchants (id, name, email, api_key_hash, ledger_account_id, held_ledger_account_id, owner_wallet_id,
         business_verification_id, business_kind, registered_name, corporate_number, business_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ${COLUMNS}`,
      [id, name, email, hashToken(apiKey), ledgerAccountId, heldLedgerAccountId, input.ownerWalletId,
        input.businessVerificationId, input.business.kind, input.business.registeredName, input.business.corporateNumber,
        input.businessKey],
    );
    await q.query('RELEASE SAVEPOINT create_merchant');
    return { merchant: toMerchant(res.rows[0]!), apiKey };
  } catch (err) {
    if (isDbError(err) && err.code === '23505' && err.constraint === 'merchants_business_key_key') {
      await q.query('ROLLBACK TO SAVEPOINT create_merchant');
      throw new BusinessAlreadyOnboarded('This business already has a koza merchant: one business, one merchant. Use its '
        + 'API key, or contact koza support if you did not open it.');
    }
    throw err;
  }
}

export async function merchantWithBusinessKey(q: Queryable, businessKey: string): Promise<Merchant | null> {
  const res = await q.query<MerchantRow>(`SELECT ${COLUMNS} FROM merchants WHERE business_key = $1`, [businessKey]);
  return res.rows[0] ? toMerchant(res.rows[0]) : null;
}

export async function findMerchantByApiKey(q: Queryable, apiKey: string): Promise<Merchant | null> {
  const res = await q.query<MerchantRow>(`SELECT ${COLUMNS} FROM merchants WHERE api_key_hash = $1`, [hashToken(apiKey)]);
  return res.rows[0] ? toMerchant(res.rows[0]) : null;
}

/** lock: payouts and refunds from the available balance serialise on the merchant row (its account is sharded). */
export async function getMerchant(q: Queryable, merchantId: string, lock = false): Promise<Merchant> {
  const res = await q.query<MerchantRow>(`SELECT ${COLUMNS} FROM merchants WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [merchantId]);
  if (!res.rows[0]) throw new NotFound('The merchant does not exist.');
  return toMerchant(res.rows[0]);
}
