// Owns the storage of second factors: factor rows, passkey credentials and challenges, recovery-code batches.
// Must never store a TOTP secret unsealed or a recovery code unhashed; decisions are made by the callers.
import type { Queryable } from '../../store/db.js';
import { newId } from '../../ids.js';
import type { LockoutState } from './lockout.js';
import type { RegisteredPasskey, StoredPasskey } from './passkeys.js';

export type FactorKind = 'totp' | 'passkey';
export type FactorStatus = 'pending' | 'active' | 'removed';

export interface Factor {
  id: string;
  walletId: string;
  kind: FactorKind;
  label: string;
  status: FactorStatus;
  enrollmentExpiresAt: Date;
  totpSecretSealed: string | null;
  totpLastStep: number | null;
  lockout: LockoutState;
  createdAt: Date;
  activatedAt: Date | null;
  lastUsedAt: Date | null;
  /** A replacement enrolment: the authenticator app its confirmation retires. */
  replacesFactorId: string | null;
  /** How the step-up that allowed a replacement was approved. */
  provenWith: 'totp' | 'passkey' | 'recovery_code' | null;
}

interface FactorRow {
  id: string; wallet_id: string; kind: FactorKind; label: string; status: FactorStatus; enrollment_expires_at: Date;
  totp_secret_sealed: string | null; totp_last_step: number | null; consecutive_failures: number;
  locked_until: Date | null; lockouts: number; created_at: Date; activated_at: Date | null; last_used_at: Date | null;
  replaces_factor_id: string | null; proven_with: Factor['provenWith'];
}

const date = (d: Date | null): Date | null => (d === null ? null : new Date(d));

function toFactor(r: FactorRow): Factor {
  return {
    id: r.id, walletId: r.wallet_id, kind: r.kind, label: r.label, status: r.status,
    enrollmentExpiresAt: new Date(r.enrollment_expires_at), totpSecretSealed: r.totp_secret_sealed,
    totpLastStep: r.totp_last_step, createdAt: new Date(r.created_at), activatedAt: date(r.activated_at),
    lastUsedAt: date(r.last_used_at), replacesFactorId: r.replaces_factor_id ?? null, provenWith: r.proven_with ?? null,
    lockout: { consecutiveFailures: r.consecutive_failures, lockedUntil: date(r.locked_until), lockouts: r.lockouts },
  };
}

export async function insertPendingFactor(q: Queryable, input: {
  walletId: string; kind: FactorKind; label: string; enrollmentExpiresAt: Date; totpSecretSealed?: string;
  replacesFactorId?: string; provenWith?: Factor['provenWith'];
}): Promise<Factor> {
  const res = await q.query<FactorRow>(
    `INSERT INTO second_factors (id, wallet_id, kind, label, enrollment_expires_at, totp_secret_sealed, replaces_factor_id, proven_with)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [newId('fac'), input.walletId, input.kind, input.label, input.enrollmentExpiresAt, input.totpSecretSealed ?? null,
      input.replacesFactorId ?? null, input.provenWith ?? null]);
  return toFactor(res.rows[0]!);
}

/** One factor of the wallet, locked for the rest of the transaction (a check and its count must not race). */
export async function getFactorForUpdate(q: Queryable, walletId: string, factorId: string): Promise<Factor | null> {
  const res = await q.query<FactorRow>('SELECT * FROM second_factors WHERE id = $1 AND wallet_id = $2 FOR UPDATE', [factorId, walletId]);
  return res.rows[0] ? toFactor(res.rows[0]) : null;
}

export async function listActiveFactors(q: Queryable, walletId: string, options: { kind?: FactorKind; lock?: boolean } = {}): Promise<Factor[]> {
  const res = await q.query<FactorRow>(
    `SELECT * FROM second_factors WHERE wallet_id = $1 AND status = 'active' AND ($2::text IS NULL OR kind = $2)
      ORDER BY created_at, id${options.lock ? ' FOR UPDATE' : ''}`,
    [walletId, options.kind ?? null]);
  return res.rows.map(toFactor);
}

export async function saveLockout(q: Queryable, factorId: string, state: LockoutState): Promise<void> {
  await q.query('UPDATE second_factors SET consecutive_failures = $2, locked_until = $3, lockouts = $4 WHERE id = $1',
    [factorId, state.consecutiveFailures, state.lockedUntil, state.lockouts]);
}

/** A success: the lockout starts over, the use is recorded, and a TOTP step is spent for good. */
export async function recordFactorUse(q: Queryable, factorId: string, now: Date, totpStep?: number): Promise<void> {
  await q.query(
    `UPDATE second_factors SET consecutive_failures = 0, locked_until = NULL, lockouts = 0, last_used_at = $2,
            totp_last_step = coalesce($3, totp_last_step)
      WHERE id = $1`, [factorId, now, totpStep ?? null]);
}

export async function activateFactor(q: Queryable, factorId: string, now: Date): Promise<Factor> {
  const res = await q.query<FactorRow>(
    `UPDATE second_factors SET status = 'active', activated_at = $2 WHERE id = $1 AND status = 'pending' RETURNING *`, [factorId, now]);
  return toFactor(res.rows[0]!);
}

export async function markFactorRemoved(q: Queryable, factorId: string, now: Date): Promise<Factor> {
  const res = await q.query<FactorRow>(
    `UPDATE second_factors SET status = 'removed', removed_at = $2 WHERE id = $1 AND status = 'active' RETURNING *`, [factorId, now]);
  return toFactor(res.rows[0]!);
}

// Passkeys

export async function insertWebauthnChallenge(q: Queryable, input: {
  walletId: string; factorId: string; challenge: string; expiresAt: Date;
}): Promise<void> {
  await q.query('INSERT INTO webauthn_challenges (id, wallet_id, factor_id, challenge, expires_at) VALUES ($1, $2, $3, $4, $5)',
    [newId('wac'), input.walletId, input.factorId, input.challenge, input.expiresAt]);
}

/** Takes the live registration challenge of a pending passkey; it is spent whatever the answer turns out to be. */
export async function consumeWebauthnChallenge(q: Queryable, factorId: string, now: Date): Promise<string | null> {
  const res = await q.query<{ challenge: string }>(
    `UPDATE webauthn_challenges SET consumed_at = $2
      WHERE factor_id = $1 AND consumed_at IS NULL AND expires_at > $2 RETURNING challenge`, [factorId, now]);
  return res.rows[0]?.challenge ?? null;
}

export interface PasskeyRecord extends StoredPasskey {
  factorId: string;
}

interface CredentialRow {
  factor_id: string; credential_id: string; public_key: Uint8Array; sign_count: number; transports: string[];
}

function toPasskey(r: CredentialRow): PasskeyRecord {
  return {
    factorId: r.factor_id, credentialId: r.credential_id, publicKey: new Uint8Array(r.public_key),
    signCount: r.sign_count, transports: r.transports,
  };
}

export async function insertCredential(q: Queryable, factorId: string, passkey: RegisteredPasskey): Promise<boolean> {
  const res = await q.query(
    `INSERT INTO webauthn_credentials (factor_id, credential_id, public_key, sign_count, transports, aaguid, device_type, backed_up)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (credential_id) DO NOTHING`,
    [factorId, passkey.credentialId, Buffer.from(passkey.publicKey), passkey.signCount, JSON.stringify(passkey.transports),
      passkey.aaguid, passkey.deviceType, passkey.backedUp]);
  return res.rowCount === 1;
}

export async function listActivePasskeys(q: Queryable, walletId: string): Promise<PasskeyRecord[]> {
  const res = await q.query<CredentialRow>(
    `SELECT c.factor_id, c.credential_id, c.public_key, c.sign_count, c.transports
       FROM webauthn_credentials c JOIN second_factors f ON f.id = c.factor_id
      WHERE f.wallet_id = $1 AND f.status = 'active' ORDER BY f.created_at, f.id`, [walletId]);
  return res.rows.map(toPasskey);
}

export async function findActivePasskey(q: Queryable, walletId: string, credentialId: string): Promise<PasskeyRecord | null> {
  const res = await q.query<CredentialRow>(
    `SELECT c.factor_id, c.credential_id, c.public_key, c.sign_count, c.transports
       FROM webauthn_credentials c JOIN second_factors f ON f.id = c.factor_id
      WHERE f.wallet_id = $1 AND f.status = 'active' AND c.credential_id = $2
      FOR UPDATE OF c`, [walletId, credentialId]);
  return res.rows[0] ? toPasskey(res.rows[0]) : null;
}

export async function updateSignCount(q: Queryable, factorId: string, signCount: number): Promise<void> {
  await q.query('UPDATE webauthn_credentials SET sign_count = $2 WHERE factor_id = $1', [factorId, signCount]);
}

// Recovery codes

export interface RecoveryBatch {
  id: string;
  lockout: LockoutState;
  createdAt: Date;
  remaining: number;
}

interface BatchRow {
  id: string; consecutive_failures: number; locked_until: Date | null; lockouts: number; created_at: Date; remaining: number;
}

/** Replaces the wallet's recovery codes: the old batch stops working in the same transaction. */
export async function replaceRecoveryBatch(q: Queryable, walletId: string, now: Date, codeHashes: (batchId: string) => string[]): Promise<string> {
  await revokeRecoveryBatch(q, walletId, now);
  const batchId = newId('rcb');
  await q.query('INSERT INTO recovery_code_batches (id, wallet_id, created_at) VALUES ($1, $2, $3)', [batchId, walletId, now]);
  await q.query('INSERT INTO recovery_codes (batch_id, code_hash) SELECT $1, unnest($2::text[])', [batchId, codeHashes(batchId)]);
  return batchId;
}

export async function revokeRecoveryBatch(q: Queryable, walletId: string, now: Date): Promise<void> {
  await q.query('UPDATE recovery_code_batches SET revoked_at = $2 WHERE wallet_id = $1 AND revoked_at IS NULL', [walletId, now]);
}

export async function liveRecoveryBatch(q: Queryable, walletId: string, lock = false): Promise<RecoveryBatch | null> {
  const res = await q.query<BatchRow>(
    `SELECT b.id, b.consecutive_failures, b.locked_until, b.lockouts, b.created_at,
            (SELECT count(*) FROM recovery_codes c WHERE c.batch_id = b.id AND c.used_at IS NULL)::int AS remaining
       FROM recovery_code_batches b WHERE b.wallet_id = $1 AND b.revoked_at IS NULL${lock ? ' FOR UPDATE OF b' : ''}`,
    [walletId]);
  const r = res.rows[0];
  if (!r) return null;
  return {
    id: r.id, createdAt: new Date(r.created_at), remaining: r.remaining,
    lockout: { consecutiveFailures: r.consecutive_failures, lockedUntil: date(r.locked_until), lockouts: r.lockouts },
  };
}

/** Spends the code with this hash if it is in the batch and unused; false otherwise. */
export async function spendRecoveryCode(q: Queryable, batchId: string, codeHash: string, now: Date): Promise<boolean> {
  const res = await q.query(
    'UPDATE recovery_codes SET used_at = $3 WHERE batch_id = $1 AND code_hash = $2 AND used_at IS NULL', [batchId, codeHash, now]);
  return res.rowCount === 1;
}

export async function saveBatchLockout(q: Queryable, batchId: string, state: LockoutState): Promise<void> {
  await q.query('UPDATE recovery_code_batches SET consecutive_failures = $2, locked_until = $3, lockouts = $4 WHERE id = $1',
    [batchId, state.consecutiveFailures, state.lockedUntil, state.lockouts]);
}

/**
 * Serialises factor changes of one wallet (two enrolments racing for the one TOTP slot, a removal racing an
 * approval). NO KEY UPDATE: rows that merely reference the wallet (sessions, payments) are not held up.
 */
export async function lockWalletFactors(q: Queryable, walletId: string): Promise<{ email: string; phone: string | null }> {
  const res = await q.query<{ email_normalized: string; phone: string | null; phone_verified_at: Date | null }>(
    'SELECT email_normalized, phone, phone_verified_at FROM wallets WHERE id = $1 FOR NO KEY UPDATE', [walletId]);
  if (!res.rows[0]) throw new Error(`wallet ${walletId} does not exist`);
  const row = res.rows[0];
  return { email: row.email_normalized, phone: row.phone_verified_at ? row.phone : null };
}

/**
 * Bank accounts linked to the wallet and not revoked (SPEC §5.3): while there is one, the last second factor
 * stays (removal-rule.ts). A link still notifying its holder counts: it becomes usable without another step.
 */
export async function linkedBankAccountCount(q: Queryable, walletId: string): Promise<number> {
  const res = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM bank_links WHERE wallet_id = $1 AND status <> 'revoked'`, [walletId]);
  return res.rows[0]!.n;
}
