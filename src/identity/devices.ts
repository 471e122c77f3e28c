// Owns device records (SPEC §3): which devices a wallet signed in from, first and last seen, address, agent, and the
// device signal read from a request (docs/device-signal.md). Must never treat the device id as proof of anything: the
// client makes it up.
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';

export interface ClientInfo {
  ip: string;
  userAgent: string | undefined;
  /** A random id the client keeps in its own storage: X-Device-Id, else the koza_device cookie (clientInfoFrom). */
  deviceId: string | undefined;
  /** The Accept-Language header, for the request fingerprint. */
  acceptLanguage?: string | undefined;
}

export interface Device {
  id: string;
  userAgent: string | null;
  firstIp: string | null;
  lastIp: string | null;
  firstSeenAt: Date;
  lastSeenAt: Date;
  /** requestFingerprint as last seen on this device; null on rows from before it was recorded. */
  requestFingerprint: string | null;
}

const DEVICE_ID = /^[A-Za-z0-9_-]{16,128}$/;
/** The first-party cookie a browser client keeps its device id in when it cannot send X-Device-Id. */
export const DEVICE_COOKIE = 'koza_device';

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The koza_device cookie's value from a Cookie header: the first one, unquoted; undefined when absent or malformed. */
export function deviceIdFromCookie(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const pair of cookieHeader.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== DEVICE_COOKIE) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    // The first cookie of the name decides (browsers send the most specific path first); a bad one is not replaced
    // by a later one, so a cookie planted on a parent domain cannot stand in for the real one.
    return DEVICE_ID.test(value) ? value : undefined;
  }
  return undefined;
}

/**
 * What a request says about its client. The device id is X-Device-Id when well-formed, else the koza_device cookie
 * when well-formed; either way the same id gives the same device key (`id:…`), so an app and a web page sharing one
 * id are one device.
 */
export function clientInfoFrom(ip: string, headers: Headers): ClientInfo {
  const fromHeader = header(headers, 'x-device-id');
  const deviceId = fromHeader !== undefined && DEVICE_ID.test(fromHeader) ? fromHeader : deviceIdFromCookie(header(headers, 'cookie'));
  return { ip, userAgent: header(headers, 'user-agent'), deviceId, acceptLanguage: header(headers, 'accept-language') };
}

/** The first 48 bits of an IPv6 address as `a:b:c::/48`; null when it is not one. Handles `::`, zones and dotted tails. */
function ipv6Prefix48(ip: string): string | null {
  const bare = ip.split('%')[0]!;
  if (!isIPv6(bare)) return null;
  let text = bare.toLowerCase();
  // A dotted IPv4 tail (::ffff:192.0.2.1, 64:ff9b::192.0.2.1) is two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return `${groups.slice(0, 3).map((g) => parseInt(g, 16).toString(16)).join(':')}::/48`;
}

/**
 * The network an address belongs to, as coarsely as a household or office shares it: IPv4 /24, IPv6 /48. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports) counts as its IPv4 address.
 */
export function ipNetworkOf(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const v4 = mapped ? mapped[1]! : ip;
  if (isIPv4(v4)) return `${v4.split('.').slice(0, 3).join('.')}.0/24`;
  return ipv6Prefix48(ip) ?? 'unknown';
}

/**
 * A short hash of request attributes that change rarely on one device: user agent, Accept-Language and the address's
 * network. It tells an analyst whether two devices look alike; it is no key (everyone on one phone model, language and
 * carrier network shares it) and no proof (every part is the client's to choose, apart from the network).
 */
export function requestFingerprint(client: ClientInfo): string {
  const language = (client.acceptLanguage ?? '').replace(/\s+/g, '').toLowerCase().slice(0, 128);
  const material = [client.userAgent?.slice(0, 512) ?? '', language, ipNetworkOf(client.ip)].join('\n');
  return `rf1:${createHash('sha256').update(material).digest('hex').slice(0, 32)}`;
}

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
    `INSERT INTO devices (id, wallet_id, device_key, user_agent, first_ip, last_ip, request_fingerprint)
     VALUES ($1, $2, $3, $4, $5, $5, $6)
     ON CONFLICT (wallet_id, device_key) DO UPDATE
       SET last_seen_at = now(), last_ip = EXCLUDED.last_ip, user_agent = EXCLUDED.user_agent,
           request_fingerprint = EXCLUDED.request_fingerprint
     RETURNING id, (xmax = 0) AS inserted`,
    [id, walletId, key, client.userAgent?.slice(0, 512) ?? null, client.ip, requestFingerprint(client)]);
  const row = res.rows[0]!;
  const count = await q.query<{ n: number }>('SELECT count(*)::int8 AS n FROM devices WHERE wallet_id = $1', [walletId]);
  return { deviceId: row.id, isNew: row.inserted, knownDevices: count.rows[0]!.n };
}

export async function listDevices(q: Queryable, walletId: string): Promise<Device[]> {
  const res = await q.query<{ id: string; user_agent: string | null; first_ip: string | null; last_ip: string | null;
    first_seen_at: Date; last_seen_at: Date; request_fingerprint: string | null }>(
    `SELECT id, user_agent, first_ip, last_ip, first_seen_at, last_seen_at, request_fingerprint
     FROM devices WHERE wallet_id = $1 ORDER BY first_seen_at`,
    [walletId]);
  return res.rows.map((r) => ({
    id: r.id, userAgent: r.user_agent, firstIp: r.first_ip, lastIp: r.last_ip,
    firstSeenAt: new Date(r.first_seen_at), lastSeenAt: new Date(r.last_seen_at), requestFingerprint: r.request_fingerprint,
  }));
}
