// Owns the money limits of each assurance level (SPEC §3: "limits are configuration") and their checks.
// Must never let a movement through that would break a limit, including by racing another movement
// (callers hold the wallet row lock while checking).
import type { Queryable } from '../store/db.js';
import { createError } from '../errors.js';
import type { AssuranceLevel } from '../identity/assurance.js';
import { formatJst, formatYen } from '../display.js';

export interface LevelLimits {
  /** Most the wallet may hold. */
  maxBalance: number;
  /** Largest single payment; 0 means the level may not pay at all. */
  maxPayment: number;
  /** Payments per Japan calendar day, and per calendar month. */
  dailyPayments: number;
  monthlyPayments: number;
  /** Largest single charge from a linked bank; charges per Japan calendar day and month. */
  maxCharge: number;
  dailyCharges: number;
  monthlyCharges: number;
}

export type Limits = Record<AssuranceLevel, LevelLimits>;

/**
 * Defaults (README, "Limits"): L0 holds nothing; L1 may hold ¥100,000 (refunds, balance) but not pay;
 * L2 may hold ¥1,000,000 — the per-transfer ceiling of a Type II funds-transfer business under Japan's
 * Payment Services Act — and pay up to ¥500,000 at once, ¥1,000,000 a day, ¥2,000,000 a month; charge from
 * its banks up to ¥500,000 a day and ¥1,000,000 a month (new links are lower still: cooling-off).
 */
export const DEFAULT_LIMITS: Limits = {
  L0: { maxBalance: 0, maxPayment: 0, dailyPayments: 0, monthlyPayments: 0, maxCharge: 0, dailyCharges: 0, monthlyCharges: 0 },
  L1: { maxBalance: 100_000, maxPayment: 0, dailyPayments: 0, monthlyPayments: 0, maxCharge: 0, dailyCharges: 0, monthlyCharges: 0 },
  L2: {
    maxBalance: 1_000_000, maxPayment: 500_000, dailyPayments: 1_000_000, monthlyPayments: 2_000_000,
    maxCharge: 500_000, dailyCharges: 500_000, monthlyCharges: 1_000_000,
  },
};

/** `resets_at` (ISO): when a day or month limit starts afresh (Japan midnight); the detail gives it in JST. */
export const LimitExceeded = createError<{ limit: string; limit_yen: number; remaining_yen: number; resets_at?: string }>(
  'limit-exceeded', 422, 'This would exceed a wallet limit');

const JST_OFFSET_MS = 9 * 3_600_000;

/** The next midnight in Japan (UTC+9, no daylight saving) after `now`: when a day limit starts afresh. */
export function nextJstDayStart(now: Date): Date {
  const jst = new Date(now.getTime() + JST_OFFSET_MS);
  return new Date(Date.UTC(jst.getUTCFullYear(), jst.getUTCMonth(), jst.getUTCDate() + 1) - JST_OFFSET_MS);
}

/** The first midnight of the next month in Japan after `now`: when a month limit starts afresh. */
export function nextJstMonthStart(now: Date): Date {
  const jst = new Date(now.getTime() + JST_OFFSET_MS);
  return new Date(Date.UTC(jst.getUTCFullYear(), jst.getUTCMonth() + 1, 1) - JST_OFFSET_MS);
}

const VERB = { charge: 'charge', payment: 'pay' } as const;

/** Parses KOZA_LIMITS (JSON, partial overrides per level); returns an error message or the limits. */
export function parseLimits(raw: string | undefined): Limits | string {
  if (raw === undefined || raw === '') return DEFAULT_LIMITS;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'JSON like {"L2":{"maxPayment":300000}}';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'a JSON object keyed by L0, L1, L2';
  const limits: Limits = structuredClone(DEFAULT_LIMITS);
  for (const [level, overrides] of Object.entries(parsed)) {
    if (!(level in limits)) return `levels L0, L1, L2 only (got ${level})`;
    if (typeof overrides !== 'object' || overrides === null) return `an object of limits for ${level}`;
    for (const [name, value] of Object.entries(overrides)) {
      if (!(name in limits[level as AssuranceLevel])) return `limits ${Object.keys(DEFAULT_LIMITS.L2).join(', ')} (got ${name})`;
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return `${level}.${name} as a whole number of yen ≥ 0`;
      limits[level as AssuranceLevel][name as keyof LevelLimits] = value;
    }
  }
  return limits;
}

/** Midnight in Japan (UTC+9, no daylight saving) as SQL, for day and month windows. */
export const JST_DAY_START = `date_trunc('day', now() + interval '9 hours') - interval '9 hours'`;
export const JST_MONTH_START = `date_trunc('month', now() + interval '9 hours') - interval '9 hours'`;

export function assertBalanceWithinLimit(limits: LevelLimits, balanceBefore: number, amount: number): void {
  if (balanceBefore + amount > limits.maxBalance) {
    const room = Math.max(0, limits.maxBalance - balanceBefore);
    throw new LimitExceeded(limits.maxBalance === 0
      ? 'A wallet at this level cannot hold money yet: verify your identity first (POST /v1/identity/verifications).'
      : `A wallet at this level can hold at most ${formatYen(limits.maxBalance)}; ${formatYen(room)} more fits now. `
        + `Add at most ${formatYen(room)}, or pay or withdraw first to make room.`,
      { limit: 'max_balance', limit_yen: limits.maxBalance, remaining_yen: room });
  }
}

/** What each kind of movement is limited by, and where its earlier movements are counted. */
const MOVEMENT_LIMITS = {
  payment: {
    max: 'maxPayment', daily: 'dailyPayments', monthly: 'monthlyPayments', codes: ['max_payment', 'daily_payments', 'monthly_payments'],
    from: 'FROM payments WHERE wallet_id = $1',
  },
  // Charges (money in from banks): a voided charge took nothing, so it does not count. Pay-ins by bank transfer that
  // were credited are money in too (banks/pay-ins.ts counts charges the same way), so the day and month are one budget.
  charge: {
    max: 'maxCharge', daily: 'dailyCharges', monthly: 'monthlyCharges', codes: ['max_charge', 'daily_charges', 'monthly_charges'],
    from: `FROM (SELECT wallet_id, amount, created_at FROM bank_movements WHERE kind = 'charge' AND status <> 'voided'
                 UNION ALL SELECT wallet_id, amount, created_at FROM pay_ins WHERE status = 'credited') money_in
           WHERE wallet_id = $1`,
  },
} as const satisfies Record<string, { max: keyof LevelLimits; daily: keyof LevelLimits; monthly: keyof LevelLimits;
  codes: readonly [string, string, string]; from: string }>;

export const MoneyOutLimitedAfterContactChange = createError<{
  limit: 'contact_change_money_out'; limit_yen: number; remaining_yen: number; until: string;
}>('money-out-limited-after-contact-change', 403, 'Payments and withdrawals are limited after a phone or e-mail change');

/**
 * For a while after a phone or e-mail change (contact_change_holds, written by identity/contact-change.ts), payments
 * and withdrawals together are capped per rolling 24 h: a takeover moves the contacts first so the owner hears
 * nothing, then the money. Charges (money in from the wallet's own bank) are not money-out and pass.
 */
export async function assertMoneyOutWithinContactChangeHold(q: Queryable, walletId: string, amount: number): Promise<void> {
  const res = await q.query<{ ends_at: Date | null; cap: number | string | null; used: number | string }>(
    `SELECT max(h.ends_at) AS ends_at, min(h.cap_per_24h) AS cap,
            (SELECT coalesce(sum(amount), 0) FROM payments WHERE wallet_id = $1 AND created_at > now() - interval '24 hours')
          + (SELECT coalesce(sum(amount), 0) FROM bank_movements WHERE wallet_id = $1 AND kind = 'withdrawal'
               AND status <> 'voided' AND created_at > now() - interval '24 hours') AS used
       FROM contact_change_holds h WHERE h.wallet_id = $1 AND h.ends_at > now()`, [walletId]);
  const row = res.rows[0];
  if (!row || row.ends_at === null || row.cap === null) return;
  const cap = Number(row.cap);
  const used = Number(row.used);
  if (used + amount <= cap) return;
  const until = new Date(row.ends_at);
  const remaining = Math.max(0, cap - used);
  throw new MoneyOutLimitedAfterContactChange(
    `Your phone number, e-mail address or second factors changed recently, so until ${formatJst(until)} payments and withdrawals are limited `
    + `to ${formatYen(cap)} in any 24 hours; ${formatYen(remaining)} is left now. Pay or withdraw at most that, or wait `
    + `until ${formatJst(until)}. If you did not make the change, contact koza support at once.`,
    { limit: 'contact_change_money_out', limit_yen: cap, remaining_yen: remaining, until: until.toISOString() });
}

/**
 * The single-movement cap, then the Japan-day and month totals, for a payment or a charge; for payments and
 * withdrawals the cap after a contact change too (withdrawals have no level limits of their own here). The caller
 * holds the wallet row lock, so the totals cannot move under the check.
 */
export async function assertMovementWithinLimits(
  q: Queryable, limits: LevelLimits, kind: keyof typeof MOVEMENT_LIMITS | 'withdrawal', walletId: string, amount: number,
): Promise<void> {
  if (kind === 'payment' || kind === 'withdrawal') await assertMoneyOutWithinContactChangeHold(q, walletId, amount);
  if (kind === 'withdrawal') return;
  const rule = MOVEMENT_LIMITS[kind];
  const [maxCode, dailyCode, monthlyCode] = rule.codes;
  const max = limits[rule.max];
  if (amount > max) {
    throw new LimitExceeded(max === 0
      ? `A wallet at this level cannot ${VERB[kind]} yet: verify your identity first (POST /v1/identity/verifications).`
      : `A single ${kind} can be at most ${formatYen(max)} at this wallet's level: ${VERB[kind]} ${formatYen(max)} or less at a time.`,
      { limit: maxCode, limit_yen: max, remaining_yen: max });
  }
  const res = await q.query<{ today: number; month: number }>(
    `SELECT coalesce(sum(amount) FILTER (WHERE created_at >= ${JST_DAY_START}), 0)::int8 AS today,
            coalesce(sum(amount), 0)::int8 AS month
       ${rule.from} AND created_at >= ${JST_MONTH_START}`, [walletId]);
  const used = res.rows[0]!;
  const now = new Date();
  const periods = [
    { limit: dailyCode, spent: Number(used.today), cap: limits[rule.daily], period: 'day', today: 'today', resetsAt: nextJstDayStart(now) },
    { limit: monthlyCode, spent: Number(used.month), cap: limits[rule.monthly], period: 'month', today: 'this month', resetsAt: nextJstMonthStart(now) },
  ] as const;
  for (const { limit, spent, cap, period, today, resetsAt } of periods) {
    if (spent + amount > cap) {
      const left = Math.max(0, cap - spent);
      // What to do now (a smaller amount) and when the whole limit is back, in the customer's time zone.
      throw new LimitExceeded(`This would pass the ${kind} limit of ${formatYen(cap)} a ${period} (Japan time): `
        + `${formatYen(left)} is left ${today}. ${left > 0 ? `${kind === 'charge' ? 'Charge' : 'Pay'} at most ${formatYen(left)} now, or wait` : 'Wait'} `
        + `until the limit starts afresh at ${formatJst(resetsAt)}.`,
        { limit, limit_yen: cap, remaining_yen: left, resets_at: resetsAt.toISOString() });
    }
  }
}
