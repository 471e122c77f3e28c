// Owns login sessions: opaque bearer tokens stored hashed, idle and absolute time-outs (SPEC §3).
// Must never store a token in clear, and never accept a revoked or expired session.
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { hashToken, newToken } from './secrets.js';
import { Unauthenticated } from '../errors.js';

export interface SessionPolicy {
  idleMinutes: number;
  absoluteHours: number;
}

export interface IssuedSession {
  sessionId: string;
  token: string;
  expiresAt: Date;
}

export async function createSession(
  q: Queryable, policy: SessionPolicy, walletId: string, client: { ip: string; userAgent: string | undefined },
): Promise<IssuedSession> {
  const sessionId = newId('ses');
  const token = newToken('kzs');
  const res = await q.query<{ expires_at: Date }>(
    `INSERT INTO sessions (id, token_hash, wallet_id, ip, user_agent, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(hours => $6)) RETURNING expires_at`,
    [sessionId, hashToken(token), walletId, client.ip, client.userAgent?.slice(0, 512) ?? null, policy.absoluteHours],
  );
  return { sessionId, token, expiresAt: new Date(res.rows[0]!.expires_at) };
}

export interface ActiveSession {
  sessionId: string;
  walletId: string;
}

/** Seconds between last-seen writes: a busy client must not turn every read into a write. */
const TOUCH_EVERY_SECONDS = 30;

export async function findActiveSession(q: Queryable, policy: SessionPolicy, token: string): Promise<ActiveSession | null> {
  const res = await q.query<{ id: string; wallet_id: string; stale: boolean }>(
    `SELECT id, wallet_id, last_seen_at < now() - make_interval(secs => $3) AS stale FROM sessions
      WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
        AND last_seen_at > now() - make_interval(mins => $2)`,
    [hashToken(token), policy.idleMinutes, TOUCH_EVERY_SECONDS],
  );
  const row = res.rows[0];
  if (!row) return null;
  if (row.stale) await q.query('UPDATE sessions SET last_seen_at = now() WHERE id = $1', [row.id]);
  return { sessionId: row.id, walletId: row.wallet_id };
}

export async function revokeSession(q: Queryable, sessionId: string): Promise<void> {
  await q.query('UPDATE sessions SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1', [sessionId]);
}

/**
 * Rotates a session after a privilege change (a new second factor, a verified identity): a new token is
 * issued on the same device and the old one stops working at once, so a token stolen before the change
 * does not inherit what the change unlocked.
 */
export async function rotateSession(q: Queryable, policy: SessionPolicy, sessionId: string): Promise<IssuedSession> {
  const old = await q.query<{ wallet_id: string; ip: string | null; user_agent: string | null; device_id: string | null }>(
    `UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
     RETURNING wallet_id, ip, user_agent, device_id`, [sessionId]);
  const row = old.rows[0];
  // Two requests racing to rotate one session: the loser's token is already dead.
  if (!row) throw new Unauthenticated('The session has ended. Sign in again.');
  const issued = await createSession(q, policy, row.wallet_id, { ip: row.ip ?? '', userAgent: row.user_agent ?? undefined });
  await q.query('UPDATE sessions SET device_id = $2 WHERE id = $1', [issued.sessionId, row.device_id]);
  await q.query('UPDATE sessions SET rotated_to = $2 WHERE id = $1', [sessionId, issued.sessionId]);
  return issued;
}

/** Signs the wallet out everywhere: every live session's token stops working. */
export async function revokeAllSessions(q: Queryable, walletId: string): Promise<number> {
  const res = await q.query('UPDATE sessions SET revoked_at = now() WHERE wallet_id = $1 AND revoked_at IS NULL', [walletId]);
  return res.rowCount;
}
