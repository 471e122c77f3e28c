// Owns the audit log (SPEC §8.5): who did what, to what, when and why — append-only and hash-chained.
// Must never write a secret into an entry, nor append without chaining to the row before.
import { createHash } from 'node:crypto';
import type { Queryable } from '../store/db.js';

export interface AuditEntry {
  seq: number;
  at: Date;
  actor: string;
  action: string;
  target: string;
  reason: string;
  detail: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);

/** JSON with object keys sorted at every depth: jsonb gives keys back in its own order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function entryHash(prevHash: string, e: { at: string; actor: string; action: string; target: string; reason: string; detail: unknown }): string {
  return createHash('sha256')
    .update(canonicalJson([prevHash, e.at, e.actor, e.action, e.target, e.reason, e.detail]))
    .digest('hex');
}

/** Appends one entry in the caller's transaction; the chain head is locked so appends are serial. */
export async function appendAudit(
  q: Queryable, e: { actor: string; action: string; target: string; reason: string; detail?: Record<string, unknown> },
): Promise<AuditEntry> {
  // One writer at a time per chain: two appends reading the same head would fork the chain.
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('koza_audit_log'))`);
  const head = await q.query<{ hash: string }>('SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  const prevHash = head.rows[0]?.hash ?? GENESIS;
  const at = new Date().toISOString();
  const detail = e.detail ?? {};
  const hash = entryHash(prevHash, { at, actor: e.actor, action: e.action, target: e.target, reason: e.reason, detail });
  const res = await q.query<{ seq: number }>(
    `INSERT INTO audit_log (at, actor, action, target, reason, detail, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`,
    [at, e.actor, e.action, e.target, e.reason, JSON.stringify(detail), prevHash, hash]);
  return { seq: res.rows[0]!.seq, at: new Date(at), actor: e.actor, action: e.action, target: e.target, reason: e.reason, detail, prevHash, hash };
}

interface AuditRow { seq: number; at: Date; actor: string; action: string; target: string; reason: string; detail: Record<string, unknown>; prev_hash: string; hash: string }

function toEntry(r: AuditRow): AuditEntry {
  return { seq: r.seq, at: new Date(r.at), actor: r.actor, action: r.action, target: r.target, reason: r.reason,
    detail: r.detail, prevHash: r.prev_hash, hash: r.hash };
}

export async function listAudit(q: Queryable, page: { beforeSeq?: number; limit: number }): Promise<AuditEntry[]> {
  const res = await q.query<AuditRow>(
    `SELECT * FROM audit_log WHERE ($1::bigint IS NULL OR seq < $1::bigint) ORDER BY seq DESC LIMIT $2`,
    [page.beforeSeq ?? null, page.limit]);
  return res.rows.map(toEntry);
}

/** Walks the chain from the start; returns the first row whose hash or link does not hold, or null. */
export async function verifyAuditChain(q: Queryable): Promise<{ checked: number; firstBroken: number | null }> {
  let prev = GENESIS;
  let checked = 0;
  let after = 0;
  for (;;) {
    const res = await q.query<AuditRow>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1000', [after]);
    if (res.rows.length === 0) return { checked, firstBroken: null };
    for (const r of res.rows) {
      const at = new Date(r.at).toISOString();
      if (r.prev_hash !== prev || entryHash(prev, { at, actor: r.actor, action: r.action, target: r.target, reason: r.reason, detail: r.detail }) !== r.hash) {
        return { checked, firstBroken: r.seq };
      }
      prev = r.hash;
      checked += 1;
      after = r.seq;
    }
  }
}
