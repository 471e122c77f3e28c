// Owns the risk tests' and benchmark's world: wallets, banks, links, charges, devices and identity submissions made
// with plain SQL inserts that satisfy every constraint of the schema, at chosen times. Must never run in a live koza.
import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export async function seedWallet(q: Queryable, input: { createdAt: Date; email?: string; phoneVerifiedAt?: Date }): Promise<string> {
  const id = newId('wal');
  const email = input.email ?? `${id.toLowerCase()}@example.jp`;
  const account = `acc_${id}`;
  await q.query('SELECT ledger_open_account($1, $2, $3, 1, true)', [account, 'wallet', `Wallet ${id}`]);
  await q.query(
    `INSERT INTO wallets (id, email, email_normalized, password_hash, ledger_account_id, created_at, phone, phone_verified_at)
     VALUES ($1, $2, $3, 'x', $4, $5, $6, $7)`,
    [id, email, `${email.toLowerCase()}#${id}`, account, input.createdAt, input.phoneVerifiedAt ? `+8190${randomBytes(4).readUInt32BE() % 100_000_000}` : null,
      input.phoneVerifiedAt ?? null],
  );
  return id;
}

export async function seedBank(q: Queryable, bankCode: string): Promise<void> {
  const seen = await q.query('SELECT 1 FROM banks WHERE bank_code = $1', [bankCode]);
  if (seen.rows.length > 0) return;
  const account = `acc_bank_${bankCode}`;
  await q.query('SELECT ledger_open_account($1, $2, $3, 4, false)', [account, 'bank_clearing', `Bank ${bankCode}`]);
  await q.query(
    `INSERT INTO banks (bank_code, name, name_kana, link_methods, status, ledger_account_id)
     VALUES ($1, $2, 'ギンコウ', ARRAY['redirect'], 'operational', $3)`, [bankCode, `Bank ${bankCode}`, account]);
}

/** A live, non-exclusive link (so that tests may tie one account to several wallets), made at `createdAt`. */
export async function seedLink(q: Queryable, input: {
  walletId: string; bankCode: string; accountRef: string; createdAt: Date; nameMatchScore?: number | null;
}): Promise<string> {
  await seedBank(q, input.bankCode);
  const requestId = newId('lrq');
  const linkId = newId('lnk');
  await q.query(
    `INSERT INTO link_requests (id, wallet_id, bank_code, method, policy, state, oauth_state_hash, expires_at, created_at, completed_at, link_id)
     VALUES ($1, $2, $3, 'redirect', 'secure', 'linked', $4, $5::timestamptz + interval '10 minutes', $5, $5, $6)`,
    [requestId, input.walletId, input.bankCode, hash(requestId), input.createdAt, linkId],
  );
  await q.query(
    `INSERT INTO bank_links (id, wallet_id, bank_code, account_ref, branch_code, account_number_masked, link_token_sealed, method,
       policy, status, exclusive, holder_name_kana, name_match_score, link_request_id, created_at, holder_notified_at)
     VALUES ($1, $2, $3, $4, '001', '****567', 'sealed', 'redirect', 'secure', 'active', false, 'ヤマダ タロウ', $5, $6, $7, $7)`,
    [linkId, input.walletId, input.bankCode, input.accountRef, input.nameMatchScore ?? null, requestId, input.createdAt],
  );
  return linkId;
}

/** A charge through a link, posted (or voided) in the ledger, made at `createdAt`. */
export async function seedCharge(q: Queryable, input: {
  walletId: string; linkId: string; bankCode: string; amount: number; createdAt: Date; status?: 'posted' | 'voided';
}): Promise<string> {
  const id = newId('chg');
  const pending = newId('xfr');
  const status = input.status ?? 'posted';
  await q.query(`SELECT ledger_create_transfer($1, 'pending', $2, $3, $4, 'charge', $5, NULL)`,
    [pending, `acc_bank_${input.bankCode}`, `acc_${input.walletId}`, input.amount, id]);
  await q.query(`SELECT ledger_create_transfer($1, $2, NULL, NULL, NULL, 'charge', $3, $4)`,
    [newId('xfr'), status === 'posted' ? 'post_pending' : 'void_pending', id, pending]);
  await q.query(
    `INSERT INTO bank_movements (id, kind, wallet_id, link_id, bank_code, amount, descriptor, pending_transfer_id, status,
       idempotency_scope, idempotency_key, created_at, settled_at)
     VALUES ($1, 'charge', $2, $3, $4, $5, 'KOZA', $6, $7, $2, $1, $8, $8)`,
    [id, input.walletId, input.linkId, input.bankCode, input.amount, pending, status, input.createdAt],
  );
  return id;
}

export async function seedDevice(q: Queryable, input: { walletId: string; deviceKey: string; firstSeenAt: Date }): Promise<void> {
  await q.query(
    `INSERT INTO devices (id, wallet_id, device_key, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)`,
    [newId('dev'), input.walletId, input.deviceKey, input.firstSeenAt],
  );
}

/** An identity submission with the given document; a verified one also records the verified identity. */
export async function seedIdentity(q: Queryable, input: {
  walletId: string; documentKey: string; personKey: string; status: 'verified' | 'refused'; at: Date;
}): Promise<void> {
  const verificationId = newId('kyc');
  const identityId = input.status === 'verified' ? newId('idn') : null;
  await q.query(
    `INSERT INTO identity_verifications (id, wallet_id, provider, provider_reference, document_type, document_key, document_last4,
       claimed, status, reason, identity_id, created_at, completed_at)
     VALUES ($1, $2, 'sandbox', $1, 'drivers_licence', $3, '1234', '{}'::jsonb, $4, $5, $6, $7, $7)`,
    [verificationId, input.walletId, input.documentKey, input.status, input.status === 'verified' ? null : 'duplicate_identity',
      null, input.at],
  );
  if (identityId) {
    await q.query(
      `INSERT INTO verified_identities (id, wallet_id, verification_id, provider, name_kanji, name_kana, date_of_birth, prefecture,
         city, street, document_type, document_last4, person_key, document_key, verified_at)
       VALUES ($1, $2, $3, 'sandbox', '山田太郎', 'ヤマダ タロウ', '1980-01-01', '東京都', '千代田区', '1-1', 'drivers_licence', '1234', $4, $5, $6)`,
      [identityId, input.walletId, verificationId, input.personKey, input.documentKey, input.at],
    );
    // Tied after the identity exists: the key is deferred, and the caller may not be in a transaction.
    await q.query('UPDATE identity_verifications SET identity_id = $2 WHERE id = $1', [verificationId, identityId]);
  }
}
