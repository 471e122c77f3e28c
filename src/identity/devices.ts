// Owns device records (SPEC §3): which devices a wallet signed in from, first and last seen, address, agent.
// Must never treat the device id as proof of anything: the client makes it up (see README, "Devices").
import { createHash } from 'node:crypto';
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';

export interface ClientInfo {
  ip: string;
  userAgent: string | undefined;
  /** X-Device-Id: a random id the client keeps in its own storage. */
  deviceId: string | undefined;
}

export interface Device {
  id: string;
  userAgent: string | null;
  firstIp: string | null;
  lastIp: string | null;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

const DEVICE_ID = /^[A-Za-z0-9_-]{16,128}$/;

/** The client's own id when it sends a well-formed one; else the user agent stands in for it. */
export function deviceKeyOf(client: ClientInfo): string {
  if (client.deviceId !== undefined && DEVICE_ID.test(client.deviceId)) return `id:${client.deviceId}`;
  return `ua:${createHash('sha256').update(client.userAgent ?? '').digest('hex').slice(0, 32)}`;
}

/** Records a sign-in from the device; `isNew` is true the first time this wallet sees it. */
export async function touchDevice(
  q: Queryable, walletId: string, client: ClientInfo,
): Promise<{ deviceId: string; isNew: boolean; knownDevices: number }> {
  const key = deviceKeyOf(client);
  const id = newId('dev');
  const res = await q.query<{ id: string; inserted: boolean }>(
    `INSERT INTO devices (id, wallet_id, device_key, user_agent, first_ip, last_ip)
     VALUES ($1, $2, $3, $4, $5, $5)
     ON CONFLICT (wallet_id, device_key) DO UPDATE
       SET last_seen_at = now(), last_ip = EXCLUDED.last_ip, user_agent = EXCLUDED.user_agent
     RETURNING id, (xmax = 0) AS inserted`,
    [id, walletId, key, client.userAgent?.slice(0, 512) ?? null, client.ip]);
  const row = res.rows[0]!;
  const count = await q.query<{ n: number }>('SELECT count(*)::int8 AS n FROM devices WHERE wallet_id = $1', [walletId]);
  return { deviceId: row.id, isNew: row.inserted, knownDevices: count.rows[0]!.n };
}

export async function listDevices(q: Queryable, walletId: string): Promise<Device[]> {
  const res = await q.query<{ id: string; user_agent: string | null; first_ip: string | null; last_ip: string | null;
    first_seen_at: Date; last_seen_at: Date }>(
    'SELECT id, user_agent, first_ip, last_ip, first_seen_at, last_seen_at FROM devices WHERE wallet_id = $1 ORDER BY first_seen_at',
    [walletId]);
  return res.rows.map((r) => ({
    id: r.id, userAgent: r.user_agent, firstIp: r.first_ip, lastIp: r.last_ip,
    firstSeenAt: new Date(r.first_seen_at), lastSeenAt: new Date(r.last_seen_at),
  }));
}
