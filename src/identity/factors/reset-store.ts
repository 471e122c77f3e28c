// Owns the storage of factor resets (the support path for a customer who lost every factor): one open per wallet.
// Must never store a reset or cancel token in clear; decisions are made by identity/factors/reset.ts.
import type { Queryable } from '../../store/db.js';
import { newId } from '../../ids.js';

export type ResetStatus = 'verifying' | 'waiting' | 'completed' | 'cancelled' | 'expired';

export interface FactorReset {
  id: string;
  walletId: string;
  status: ResetStatus;
  personKey: string;
  verifyingExpiresAt: Date;
  verificationId: string | null;
  mailboxConfirmedAt: Date | null;
  waitHours: number;
  waitsUntil: Date | null;
  cancelledVia: 'factor' | 'not_me' | null;
  createdAt: Date;
}

interface ResetRow {
  id: string; wallet_id: string; status: ResetStatus; person_key: string; verifying_expires_at: Date; verification_id: string | null;
  mailbox_confirmed_at: Date | null; wait_hours: number; waits_until: Date | null; cancelled_via: 'factor' | 'not_me' | null; created_at: Date;
}

const d = (v: Date | null): Date | null => (v === null ? null : new Date(v));

function toReset(r: ResetRow): FactorReset {
  return {
    id: r.id, walletId: r.wallet_id, status: r.status, personKey: r.person_key, verifyingExpiresAt: new Date(r.verifying_expires_at),
    verificationId: r.verification_id, mailboxConfirmedAt: d(r.mailbox_confirmed_at), waitHours: r.wait_hours,
    waitsUntil: d(r.waits_until), cancelledVia: r.cancelled_via, createdAt: new Date(r.created_at),
  };
}

export async function insertFactorReset(q: Queryable, input: {
  walletId: string; tokenHash: string; personKey: string; startedVia: 'session' | 'login_challenge'; deviceId: string | null; ip: string;
  verifyingExpiresAt: Date; waitHours: number; now: Date;
}): Promise<FactorReset> {
  const res = await q.query<ResetRow>(
    `INSERT INTO factor_resets (id, wallet_id, status, token_hash, person_key, started_via, device_id, ip, verifying_expires_at, wait_hours, created_at)
     VALUES ($1, $2, 'verifying', $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
    [newId('frs'), input.walletId, input.tokenHash, input.personKey, input.startedVia, input.deviceId, input.ip,
      input.verifyingExpiresAt, input.waitHours, input.now]);
  return toReset(res.rows[0]!);
}

/** A 'verifying' reset never finished in time is closed, so it holds no slot. */
export async function expireStaleResets(q: Queryable, walletId: string, now: Date): Promise<void> {
  await q.query(`UPDATE factor_resets SET status = 'expired' WHERE wallet_id = $1 AND status = 'verifying' AND verifying_expires_at <= $2`,
    [walletId, now]);
}

/** A newer start replaces a reset still verifying: it lapses as if its day had run out. */
export async function supersedeReset(q: Queryable, resetId: string): Promise<void> {
  await q.query(`UPDATE factor_resets SET status = 'expired' WHERE id = $1 AND status = 'verifying'`, [resetId]);
}

export async function openResetOf(q: Queryable, walletId: string): Promise<FactorReset | null> {
  const res = await q.query<ResetRow>(
    `SELECT * FROM factor_resets WHERE wallet_id = $1 AND status IN ('verifying', 'waiting') FOR UPDATE`, [walletId]);
  return res.rows[0] ? toReset(res.rows[0]) : null;
}

export async function resetByTokenHash(q: Queryable, column: 'token_hash' | 'cancel_token_hash', hash: string): Promise<FactorReset | null> {
  const res = await q.query<ResetRow>(`SELECT * FROM factor_resets WHERE ${column} = $1 FOR UPDATE`, [hash]);
  return res.rows[0] ? toReset(res.rows[0]) : null;
}

export async function setResetVerification(q: Queryable, resetId: string, verificationId: string): Promise<void> {
  await q.query('UPDATE factor_resets SET verification_id = $2 WHERE id = $1', [resetId, verificationId]);
}

export async function setResetMailboxConfirmed(q: Queryable, resetId: string, now: Date): Promise<void> {
  await q.query('UPDATE factor_resets SET mailbox_confirmed_at = $2 WHERE id = $1', [resetId, now]);
}

export async function startResetWait(q: Queryable, resetId: string, input: { waitsUntil: Date; cancelTokenHash: string; now: Date }): Promise<void> {
  await q.query(`UPDATE factor_resets SET status = 'waiting', waits_until = $2, cancel_token_hash = $3, waiting_at = $4 WHERE id = $1`,
    [resetId, input.waitsUntil, input.cancelTokenHash, input.now]);
}

export async function closeReset(q: Queryable, resetId: string, input: { status: 'completed' | 'cancelled'; via?: 'factor' | 'not_me'; now: Date }): Promise<void> {
  await q.query(
    input.status === 'completed'
      ? `UPDATE factor_resets SET status = 'completed', completed_at = $2 WHERE id = $1`
      : `UPDATE factor_resets SET status = 'cancelled', cancelled_at = $2, cancelled_via = $3 WHERE id = $1`,
    input.status === 'completed' ? [resetId, input.now] : [resetId, input.now, input.via]);
}

/** The money-out cap of a reset, from the start of its wait (contact_change_holds, read by wallets/limits.ts). */
export async function insertResetHold(q: Queryable, input: { walletId: string; capYen: number; startsAt: Date; endsAt: Date }): Promise<void> {
  await q.query(`INSERT INTO contact_change_holds (wallet_id, change, cap_per_24h, starts_at, ends_at) VALUES ($1, 'factor_reset', $2, $3, $4)`,
    [input.walletId, input.capYen, input.startsAt, input.endsAt]);
}

/** Ends the reset's cap early (its owner cancelled it with a factor they hold). */
export async function endResetHold(q: Queryable, walletId: string, now: Date): Promise<void> {
  await q.query(`UPDATE contact_change_holds SET ends_at = $2 WHERE wallet_id = $1 AND change = 'factor_reset' AND ends_at > $2 AND starts_at < $2`,
    [walletId, now]);
}

/** The identity a finished eKYC submission of this wallet verified, with when it was submitted. */
export async function verifiedPersonOf(q: Queryable, walletId: string, verificationId: string): Promise<{ personKey: string; submittedAt: Date } | null> {
  const res = await q.query<{ person_key: string; created_at: Date }>(
    `SELECT i.person_key, v.created_at FROM identity_verifications v JOIN verified_identities i ON i.id = v.identity_id
      WHERE v.id = $1 AND v.wallet_id = $2 AND v.status = 'verified'`, [verificationId, walletId]);
  return res.rows[0] ? { personKey: res.rows[0].person_key, submittedAt: new Date(res.rows[0].created_at) } : null;
}
