// Owns sign-in throttling per account and per address (NIST SP 800-63B §5.2.2), and the attempt record. The account
// throttle is the tight one; the address one is sized for carrier NAT and never stops a device the account knows.
// Must never lock an account for good (an attacker who knows a victim's e-mail must not keep them out: waits grow with
// failures but are capped, and failures age out), nor let concurrent tries each see the count before the others.
import type { Queryable } from '../store/db.js';
import { createError, retryIn, secondsUntil } from '../errors.js';

/** Free failures before any wait; 800-63B allows at most 100 consecutive failures, we stay far below. */
export const FREE_FAILURES_PER_ACCOUNT = 5;
/** The wait doubles from 2 s with each failure past the free ones, capped at 15 minutes. */
export const MAX_WAIT_SECONDS = 15 * 60;
/** Failures older than this are forgotten. */
export const FAILURE_WINDOW_MINUTES = 60;
/**
 * An address that fails this often in the window is credential stuffing across many accounts. Sized for carrier NAT:
 * thousands of customers behind one address mistype too, so it is far above what they reach together (the risk rules
 * ask a second proof of right passwords from a busy address well before it), and a device that signed in to the
 * account before passes anyway (OWASP's device cookie): it stops a stuffer's unknown devices, not the address.
 */
export const MAX_FAILURES_PER_IP = 1000;

export const LoginThrottled = createError<{ retry_after_s: number }>(
  'login-throttled', 429, 'Too many failed sign-ins', { retryable: true });

/**
 * Reserves this try for the account, then decides: the account's throttle row is locked (an upsert, so the first try
 * for an account creates it) and stays locked until the caller's transaction commits the outcome
 * (recordLoginAttempt). Concurrent tries for one account — in this process or another — queue on the row and each is
 * decided on the failures the ones before it left: 30 simultaneous wrong passwords get the free 5 checked, the rest
 * wait. Refuses, before any password is checked, while the account or the address must wait.
 */
export async function reserveLoginAttempt(q: Queryable, email: string, ip: string, deviceKey?: string): Promise<void> {
  const account = await q.query<{ failures: number; last_failure_age_s: number | null }>(
    `INSERT INTO login_throttle AS t (email_normalized) VALUES ($1)
     ON CONFLICT (email_normalized) DO UPDATE SET updated_at = now()
     RETURNING CASE WHEN t.last_failure_at > now() - make_interval(mins => $2) THEN t.consecutive_failures ELSE 0 END AS failures,
               extract(epoch FROM now() - t.last_failure_at)::float8 AS last_failure_age_s`,
    [email, FAILURE_WINDOW_MINUTES]);
  const { failures, last_failure_age_s: age } = account.rows[0]!;
  const wait = waitSeconds(failures);
  if (wait > 0 && age !== null && age < wait) {
    const retryAfter = Math.max(1, Math.ceil(wait - age));
    throw new LoginThrottled(`Too many failed sign-ins for this account. Wait ${retryAfter} seconds, or reset your password.`,
      retryIn(retryAfter));
  }
  // The failure that, once it leaves the window, brings the address back under the limit; none while under it.
  const byIp = await q.query<{ frees_at: Date | null }>(
    `SELECT created_at + make_interval(mins => $2) AS frees_at FROM login_attempts
      WHERE ip = $1 AND NOT succeeded AND created_at > now() - make_interval(mins => $2)
      ORDER BY created_at DESC OFFSET $3 - 1 LIMIT 1`,
    [ip, FAILURE_WINDOW_MINUTES, MAX_FAILURES_PER_IP]);
  const freesAt = byIp.rows[0]?.frees_at;
  if (freesAt && !(deviceKey && await accountKnowsDevice(q, email, deviceKey))) {
    throw new LoginThrottled('Too many failed sign-ins from this network. Sign in from the device you used before, '
      + 'or from another network (mobile data or Wi-Fi).', retryIn(secondsUntil(new Date(freesAt))));
  }
}

/** The account's wallet has signed in from this device id before (an `id:` device key only: never a user-agent hash). */
async function accountKnowsDevice(q: Queryable, email: string, deviceKey: string): Promise<boolean> {
  if (!deviceKey.startsWith('id:')) return false;
  const res = await q.query(
    `SELECT 1 FROM devices d JOIN wallets w ON w.id = d.wallet_id WHERE w.email_normalized = $1 AND d.device_key = $2 LIMIT 1`,
    [email, deviceKey]);
  return res.rows.length > 0;
}

/** Seconds to wait after `failures` consecutive failures: 0 for the free ones, then 2, 4, 8 … ≤ 15 min. */
export function waitSeconds(failures: number): number {
  if (failures < FREE_FAILURES_PER_ACCOUNT) return 0;
  return Math.min(MAX_WAIT_SECONDS, 2 ** (failures - FREE_FAILURES_PER_ACCOUNT + 1));
}

/**
 * Writes the outcome of a reserved try: a failure adds to the account's consecutive count (a stale count starts over),
 * a success clears it. Also appends to login_attempts, which the per-address limit and analysts read.
 */
export async function recordLoginAttempt(q: Queryable, email: string, ip: string, succeeded: boolean): Promise<void> {
  await q.query('INSERT INTO login_attempts (email_normalized, ip, succeeded) VALUES ($1, $2, $3)', [email, ip, succeeded]);
  await q.query(
    succeeded
      ? 'UPDATE login_throttle SET consecutive_failures = 0, last_failure_at = NULL, updated_at = now() WHERE email_normalized = $1'
      : `UPDATE login_throttle SET updated_at = now(), last_failure_at = now(),
           consecutive_failures = CASE WHEN last_failure_at > now() - make_interval(mins => $2) THEN consecutive_failures + 1 ELSE 1 END
         WHERE email_normalized = $1`,
    succeeded ? [email] : [email, FAILURE_WINDOW_MINUTES]);
}
