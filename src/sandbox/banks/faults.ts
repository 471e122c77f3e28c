// Owns fault injection per sandbox bank: latency, random errors, time-outs (some after the work was done) and outages,
// drawn from a seeded PRNG so a failing test replays. Must never touch the books: it only decides what a request meets.
import type { BankStatus } from '../../banks/protocol.js';
import { mulberry32, type Random } from '../population.js';

export interface BankFaults {
  /** Added to every protocol call, in milliseconds. */
  latency_ms: number;
  /** Share of calls (0..1) answered 503 unavailable, without doing anything. */
  error_rate: number;
  /** Share of calls (0..1) held for timeout_ms, longer than koza waits. */
  timeout_rate: number;
  timeout_ms: number;
  /**
   * Of the timed-out calls, the share (0..1) that the bank carried out before the answer was lost: the debit is
   * booked, koza never hears of it, and only the transfer query or the statement can tell.
   */
  apply_before_timeout: number;
  /** Every protocol call answers 503. */
  outage: boolean;
}

/** Longer than koza's bank client waits (banks/client.ts DEFAULT_BANK_TIMEOUT_MS, 5 s). */
export const DEFAULT_TIMEOUT_MS = 7_000;

export const NO_FAULTS: Readonly<BankFaults> = Object.freeze({
  latency_ms: 0, error_rate: 0, timeout_rate: 0, timeout_ms: DEFAULT_TIMEOUT_MS, apply_before_timeout: 0, outage: false,
});

/** What one protocol call meets: carried out normally, refused as unavailable, or held past the caller's time-out. */
export type FaultOutcome =
  | { kind: 'none' }
  | { kind: 'unavailable' }
  | { kind: 'timeout'; apply: boolean; holdMs: number };

export interface FaultPlan {
  latencyMs: number;
  outcome: FaultOutcome;
}

function isRate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1;
}

function isMillis(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= 600_000;
}

/** The faults after applying a change; throws RangeError naming the first bad field. */
export function mergeFaults(current: BankFaults, change: Partial<BankFaults>): BankFaults {
  const next = { ...current, ...change };
  for (const field of ['error_rate', 'timeout_rate', 'apply_before_timeout'] as const) {
    if (!isRate(next[field])) throw new RangeError(`${field} must be a number from 0 to 1`);
  }
  for (const field of ['latency_ms', 'timeout_ms'] as const) {
    if (!isMillis(next[field])) throw new RangeError(`${field} must be a whole number of milliseconds from 0 to 600000`);
  }
  if (typeof next.outage !== 'boolean') throw new RangeError('outage must be true or false');
  return next;
}

function bankStream(seed: number, bankCode: string): Random {
  return mulberry32((Math.imul(seed, 31) ^ Number(bankCode) ^ 0x6661756c) >>> 0);
}

/**
 * The fault settings of every bank and each bank's PRNG. Setting a bank's faults restarts its stream, so the n-th
 * call after a change always draws the same; every call draws exactly three numbers, whatever the settings.
 */
export class FaultBook {
  private readonly settings = new Map<string, BankFaults>();
  private readonly streams = new Map<string, Random>();

  constructor(private readonly seed: number) {}

  get(bankCode: string): BankFaults {
    return { ...(this.settings.get(bankCode) ?? NO_FAULTS) };
  }

  set(bankCode: string, change: Partial<BankFaults>): BankFaults {
    const next = mergeFaults(this.get(bankCode), change);
    this.settings.set(bankCode, next);
    this.streams.set(bankCode, bankStream(this.seed, bankCode));
    return { ...next };
  }

  clear(bankCode?: string): void {
    if (bankCode === undefined) {
      this.settings.clear();
      this.streams.clear();
    } else {
      this.settings.delete(bankCode);
      this.streams.delete(bankCode);
    }
  }

  status(bankCode: string): BankStatus {
    const f = this.get(bankCode);
    if (f.outage) return 'outage';
    return f.latency_ms > 0 || f.error_rate > 0 || f.timeout_rate > 0 ? 'degraded' : 'operational';
  }

  /** Draws what the next protocol call to this bank meets. */
  plan(bankCode: string): FaultPlan {
    const f = this.get(bankCode);
    let stream = this.streams.get(bankCode);
    if (!stream) {
      stream = bankStream(this.seed, bankCode);
      this.streams.set(bankCode, stream);
    }
    const [errorDraw, timeoutDraw, applyDraw] = [stream(), stream(), stream()];
    let outcome: FaultOutcome = { kind: 'none' };
    if (f.outage || errorDraw < f.error_rate) outcome = { kind: 'unavailable' };
    else if (timeoutDraw < f.timeout_rate) outcome = { kind: 'timeout', apply: applyDraw < f.apply_before_timeout, holdMs: f.timeout_ms };
    return { latencyMs: f.latency_ms, outcome };
  }
}
