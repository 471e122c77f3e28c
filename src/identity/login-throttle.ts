// Owns sign-in throttling per account and per address (NIST SP 800-63B §5.2.2), and the attempt record.
// Must never lock an account for good: an attacker who knows a victim's e-mail must not be able to keep
// them out, so waits grow with failures but are capped, and failures age out.
import type { Queryable } from '../store/db.js';
import { createError } from '../errors.js';

/** Free failures before any wait; 800-63B allows at most 100 consecutive failures, we stay far below. */
export const FREE_FAILURES_PER_ACCOUNT = 5;
/** The wait doubles from 2 s with each failure past the free ones, capped at 15 minutes. */
export const MAX_WAIT_SECONDS = 15 * 60;
/** Failures older than this are forgotten. */
export const FAILURE_WINDOW_MINUTES = 60;
/** An address that fails this often in the window is credential stuffing across many accounts. */
export const MAX_FAILURES_PER_IP = 50;

export const LoginThrottled = createError<{ retry_after_seconds: number }>(
  'login-throttled', 429, 'Too many failed sign-ins', { retryable: true });

interface AttemptStats { failures: number; last_failure_age_s: number | null }

/** Refuses the attempt, before any password is checked, while its account or address must wait. */
export async function assertLoginAllowed(q: Queryable, email: string, ip: string): Promise<void> {
  const account = await q.query<AttemptStats>(
    `SELECT count(*)::int8 AS failures,
            extract(epoch FROM now() - max(created_at))::float8 AS last_failure_age_s
       FROM login_attempts
      WHERE email_normalized = $1 AND NOT succeeded AND created_at > now() - make_interval(mins => $2)
        AND created_at > coalesce((SELECT max(created_at) FROM login_attempts
                                    WHERE email_normalized = $1 AND succeeded), '-infinity')`,
    [email, FAILURE_WINDOW_MINUTES]);
  const { failures, last_failure_age_s: age } = account.rows[0]!;
  const wait = waitSeconds(failures);
  if (wait > 0 && age !== null && age < wait) {
    const retryAfter = Math.ceil(wait - age);
    throw new LoginThrottled(`Too many failed sign-ins for this account. Try again in ${retryAfter} seconds.`,
      { retry_after_seconds: retryAfter });
  }
  const byIp = await q.query<{ failures: number }>(
    `SELECT count(*)::int8 AS failures FROM login_attempts
      WHERE ip = $1 AND NOT succeeded AND created_at > now() - make_interval(mins => $2)`,
    [ip, FAILURE_WINDOW_MINUTES]);
  if (byIp.rows[0]!.failures >= MAX_FAILURES_PER_IP) {
    throw new LoginThrottled('Too many failed sign-ins from this network. Try again later.',
      { retry_after_seconds: FAILURE_WINDOW_MINUTES * 60 });
  }
}

/** Seconds to wait after `failures` consecutive failures: 0 for the free ones, then 2, 4, 8 … ≤ 15 min. */
export function waitSeconds(failures: number): number {
  if (failures < FREE_FAILURES_PER_ACCOUNT) return 0;
  return Math.min(MAX_WAIT_SECONDS, 2 ** (failures - FREE_FAILURES_PER_ACCOUNT + 1));
}

export async function recordLoginAttempt(q: Queryable, email: string, ip: string, succeeded: boolean): Promise<void> {
  await q.query('INSERT INTO login_attempts (email_normalized, ip, succeeded) VALUES ($1, $2, $3)', [email, ip, succeeded]);
}
