// Owns the eKYC tables: submissions with their outcomes, and verified identities with their history.
// Must never update a verified identity in place (the database refuses it too), nor keep a document number in clear.
import type { Queryable } from '../../store/db.js';
import { isDbError } from '../../store/db.js';
import { newId } from '../../ids.js';
import type { ClaimedIdentity, DocumentType, PersonAddress, VerifiedPerson } from './verifier.js';

export type VerificationStatus = 'pending' | 'verified' | 'failed' | 'flagged' | 'refused';

export interface IdentityVerification {
  id: string;
  seq: number;
  walletId: string;
  provider: string;
  providerReference: string | null;
  documentType: DocumentType;
  documentLast4: string;
  status: VerificationStatus;
  reason: string | null;
  identityId: string | null;
  createdAt: Date;
  completedAt: Date | null;
}

export interface VerifiedIdentity {
  id: string;
  walletId: string;
  verificationId: string;
  provider: string;
  nameKanji: string;
  nameKana: string;
  /** YYYY-MM-DD. */
  dateOfBirth: string;
  address: PersonAddress;
  documentType: DocumentType;
  documentLast4: string;
  personKey: string;
  verifiedAt: Date;
  supersededAt: Date | null;
}

interface VerificationRow {
  id: string; seq: number; wallet_id: string; provider: string; provider_reference: string | null;
  document_type: DocumentType; document_last4: string; status: VerificationStatus; reason: string | null;
  identity_id: string | null; created_at: Date; completed_at: Date | null;
}

function toVerification(r: VerificationRow): IdentityVerification {
  return {
    id: r.id, seq: r.seq, walletId: r.wallet_id, provider: r.provider, providerReference: r.provider_reference,
    documentType: r.document_type, documentLast4: r.document_last4, status: r.status, reason: r.reason,
    identityId: r.identity_id, createdAt: new Date(r.created_at), completedAt: r.completed_at === null ? null : new Date(r.completed_at),
  };
}

const VERIFICATION_COLUMNS = `id, seq, wallet_id, provider, provider_reference, document_type, document_last4, status, reason,
  identity_id, created_at, completed_at`;

interface IdentityRow {
  id: string; wallet_id: string; verification_id: string; provider: string; name_kanji: string; name_kana: string;
  date_of_birth: string; prefecture: string; city: string; street: string; document_type: DocumentType;
  document_last4: string; person_key: string; verified_at: Date; superseded_at: Date | null;
}

function toIdentity(r: IdentityRow): VerifiedIdentity {
  return {
    id: r.id, walletId: r.wallet_id, verificationId: r.verification_id, provider: r.provider,
    nameKanji: r.name_kanji, nameKana: r.name_kana, dateOfBirth: r.date_of_birth,
    address: { prefecture: r.prefecture, city: r.city, street: r.street },
    documentType: r.document_type, documentLast4: r.document_last4, personKey: r.person_key,
    verifiedAt: new Date(r.verified_at), supersededAt: r.superseded_at === null ? null : new Date(r.superseded_at),
  };
}

// The date goes out as text: drivers turn a SQL date into a local-midnight Date, which shifts a birthday.
const IDENTITY_COLUMNS = `id, wallet_id, verification_id, provider, name_kanji, name_kana,
  to_char(date_of_birth, 'YYYY-MM-DD') AS date_of_birth, prefecture, city, street, document_type, document_last4,
  person_key, verified_at, superseded_at`;

/** Serialises eKYC for one wallet: attempt counting and the identity swap must not interleave. */
export async function lockWalletForVerification(q: Queryable, walletId: string): Promise<void> {
  await q.query('SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE', [walletId]);
}

export async function recentVerificationAttempts(
  q: Queryable, walletId: string, windowHours: number,
): Promise<{ count: number; oldestAt: Date | null }> {
  const res = await q.query<{ count: number; oldest_at: Date | null }>(
    `SELECT count(*)::int AS count, min(created_at) AS oldest_at FROM identity_verifications
      WHERE wallet_id = $1 AND created_at > now() - make_interval(hours => $2)`,
    [walletId, windowHours]);
  const row = res.rows[0]!;
  return { count: row.count, oldestAt: row.oldest_at === null ? null : new Date(row.oldest_at) };
}

export async function insertVerification(q: Queryable, input: {
  walletId: string; provider: string; documentType: DocumentType; documentNumber: string; documentKey: string;
  claimed: ClaimedIdentity;
}): Promise<IdentityVerification> {
  const res = await q.query<VerificationRow>(
    `INSERT INTO identity_verifications (id, wallet_id, provider, document_type, document_key, document_last4, claimed, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') RETURNING ${VERIFICATION_COLUMNS}`,
    [newId('kyc'), input.walletId, input.provider, input.documentType, input.documentKey,
      input.documentNumber.slice(-4), JSON.stringify(input.claimed)]);
  return toVerification(res.rows[0]!);
}

export async function setProviderReference(q: Queryable, verificationId: string, providerReference: string): Promise<void> {
  await q.query('UPDATE identity_verifications SET provider_reference = $2 WHERE id = $1', [verificationId, providerReference]);
}

export async function findVerification(
  q: Queryable, by: { id: string } | { provider: string; providerReference: string }, lock = false,
): Promise<IdentityVerification | null> {
  const [where, params] = 'id' in by
    ? ['id = $1', [by.id]]
    : ['provider = $1 AND provider_reference = $2', [by.provider, by.providerReference]];
  const res = await q.query<VerificationRow>(
    `SELECT ${VERIFICATION_COLUMNS} FROM identity_verifications WHERE ${where}${lock ? ' FOR UPDATE' : ''}`, params);
  return res.rows[0] ? toVerification(res.rows[0]) : null;
}

export async function completeVerification(q: Queryable, verificationId: string, result: {
  status: Exclude<VerificationStatus, 'pending'>; reason: string | null; identityId?: string;
}): Promise<IdentityVerification> {
  const res = await q.query<VerificationRow>(
    `UPDATE identity_verifications SET status = $2, reason = $3, identity_id = $4, completed_at = now()
      WHERE id = $1 AND status = 'pending' RETURNING ${VERIFICATION_COLUMNS}`,
    [verificationId, result.status, result.reason, result.identityId ?? null]);
  return toVerification(res.rows[0]!);
}

export async function listVerifications(
  q: Queryable, walletId: string, page: { limit: number; beforeSeq?: number },
): Promise<IdentityVerification[]> {
  const res = await q.query<VerificationRow>(
    `SELECT ${VERIFICATION_COLUMNS} FROM identity_verifications
      WHERE wallet_id = $1 AND ($2::bigint IS NULL OR seq < $2::bigint) ORDER BY seq DESC LIMIT $3`,
    [walletId, page.beforeSeq ?? null, page.limit]);
  return res.rows.map(toVerification);
}

/** The wallet's live verified identity, or null: the only name the wallet can use for bank matching. */
export async function getVerifiedIdentity(q: Queryable, walletId: string): Promise<VerifiedIdentity | null> {
  const res = await q.query<IdentityRow>(
    `SELECT ${IDENTITY_COLUMNS} FROM verified_identities WHERE wallet_id = $1 AND superseded_at IS NULL`, [walletId]);
  return res.rows[0] ? toIdentity(res.rows[0]) : null;
}

/** Every identity the wallet was ever verified as, oldest first (the live one last). */
export async function listIdentityHistory(q: Queryable, walletId: string): Promise<VerifiedIdentity[]> {
  const res = await q.query<IdentityRow>(
    `SELECT ${IDENTITY_COLUMNS} FROM verified_identities WHERE wallet_id = $1 ORDER BY seq`, [walletId]);
  return res.rows.map(toIdentity);
}

/** Another wallet whose live identity is this person or this document, if any. */
export async function findOtherHolder(
  q: Queryable, keys: { personKey: string; documentKey: string }, walletId: string,
): Promise<string | null> {
  const res = await q.query<{ wallet_id: string }>(
    `SELECT wallet_id FROM verified_identities
      WHERE superseded_at IS NULL AND (person_key = $1 OR document_key = $2) AND wallet_id <> $3 LIMIT 1`,
    [keys.personKey, keys.documentKey, walletId]);
  return res.rows[0]?.wallet_id ?? null;
}

const ONE_WALLET_INDEXES = new Set(['verified_identities_one_wallet_per_person', 'verified_identities_one_wallet_per_document']);

/**
 * Makes `person` the wallet's live identity, superseding the previous one. Returns null when another
 * wallet holds the person or document live: the unique indexes decide, so two wallets racing for one
 * person cannot both win.
 */
export async function storeVerifiedIdentity(q: Queryable, input: {
  walletId: string; verificationId: string; provider: string; person: VerifiedPerson; personKey: string; documentKey: string;
}): Promise<VerifiedIdentity | null> {
  const id = newId('idn');
  const { person } = input;
  await q.query('SAVEPOINT store_verified_identity');
  try {
    await q.query(
      `UPDATE verified_identities SET superseded_at = now(), superseded_by = $2
        WHERE wallet_id = $1 AND superseded_at IS NULL`, [input.walletId, id]);
    const res = await q.query<IdentityRow>(
      `INSERT INTO verified_identities (id, wallet_id, verification_id, provider, name_kanji, name_kana, date_of_birth,
         prefecture, city, street, document_type, document_last4, person_key, document_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7::date, $8, $9, $10, $11, $12, $13, $14) RETURNING ${IDENTITY_COLUMNS}`,
      [id, input.walletId, input.verificationId, input.provider, person.nameKanji, person.nameKana, person.dateOfBirth,
        person.address.prefecture, person.address.city, person.address.street, person.documentType,
        person.documentNumber.slice(-4), input.personKey, input.documentKey]);
    await q.query('RELEASE SAVEPOINT store_verified_identity');
    return toIdentity(res.rows[0]!);
  } catch (err) {
    if (isDbError(err) && err.code === '23505' && ONE_WALLET_INDEXES.has(err.constraint ?? '')) {
      await q.query('ROLLBACK TO SAVEPOINT store_verified_identity');
      return null;
    }
    throw err;
  }
}
