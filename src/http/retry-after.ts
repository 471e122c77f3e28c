// Owns how every 429 tells the client when to come back: seconds (Retry-After), the instant, and the time in Japan.
// Must never leave a 429 without a time, nor name a time before the limit actually lifts.
import type { Problem } from './problem.js';
import { formatJst } from '../display.js';

/** A 429 that names no time of its own (a Fastify-made one): a minute is the shortest window any koza limit uses. */
export const DEFAULT_RETRY_AFTER_SECONDS = 60;

function secondsNamedBy(problem: Problem, now: Date): number {
  for (const member of ['retry_after_s', 'retry_after_seconds']) {
    const value = problem[member];
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) return Math.ceil(value);
  }
  // A locked factor names its end instead.
  if (typeof problem.locked_until === 'string') {
    const until = Date.parse(problem.locked_until);
    if (Number.isFinite(until)) return Math.max(1, Math.ceil((until - now.getTime()) / 1000));
  }
  return DEFAULT_RETRY_AFTER_SECONDS;
}

/**
 * Completes a 429 problem: `retry_after_s` (and `retry_after_seconds`, its older name) for the Retry-After header,
 * `retry_at` (UTC instant) and `retry_at_jst`, and a detail that ends with "Try again after 2026-12-06 14:05 JST."
 * The JST minute is rounded up, so the time a person reads is never before the limit lifts.
 */
export function withRetryAfter(problem: Problem, now: Date = new Date()): Problem {
  if (problem.status !== 429) return problem;
  const seconds = secondsNamedBy(problem, now);
  const retryAt = new Date(now.getTime() + seconds * 1000);
  const minuteUp = new Date(Math.ceil(retryAt.getTime() / 60_000) * 60_000);
  const when = formatJst(minuteUp);
  const base = (problem.detail ?? problem.title).replace(/\s*Try again later\.?\s*$/i, '').trim();
  const detail = base.includes(' JST') ? base : `${base}${/[.!?]$/.test(base) ? '' : '.'} Try again after ${when}.`;
  return {
    ...problem,
    detail,
    retry_after_s: seconds,
    retry_after_seconds: seconds,
    retry_at: retryAt.toISOString(),
    retry_at_jst: when,
  };
}
