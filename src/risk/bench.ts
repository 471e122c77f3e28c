// Owns the risk engine's benchmarks: seeded wallets, then one step per charge event (a full decision, or the counters
// alone), one transaction each, in a loop, on a Db the caller opened. Must never run against a database holding real
// wallets: it seeds, and every decision it makes is stored.
import type { Db, Queryable } from '../store/db.js';
import type { RiskEvent } from './hook.js';
import type { RuleSet } from './rules.js';
import { CachedCounterStore, PostgresCounterStore } from './counters.js';
import { riskEngine } from './engine.js';
import { computeFeatures, recordEvent } from './features.js';
import { seedCharge, seedDevice, seedLink, seedWallet } from './fixtures.js';

export interface RiskBenchOptions {
  durationMs: number;
  /** Callers at once (default 1). PGlite is one connection: more callers only queue. */
  concurrency?: number;
  /** Wallets the charges rotate over, each with a link, a device and 20 earlier charges (default 50). */
  wallets?: number;
  /** Called about once a second while the loop runs: whole seconds elapsed and steps done so far. */
  onProgress?: (elapsedS: number, ops: number) => void;
}

export interface RiskBenchResult {
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  ops: number;
  concurrency: number;
}

/** What is measured per event, inside the transaction the loop opened for it. */
export type RiskBenchStep = (tx: Queryable, event: RiskEvent) => Promise<unknown>;

const DAY_MS = 86_400_000;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Established customers: each wallet 90 days old, with a 60-day-old link, a known device and 20 posted charges
 * over the last 50 days. Returns one ¥7,000 charge event per wallet, from its own device and address.
 */
export async function seedRiskBenchWallets(db: Db, count: number, now = new Date()): Promise<RiskEvent[]> {
  const start = now.getTime();
  const events: RiskEvent[] = [];
  for (let i = 0; i < count; i++) {
    events.push(await db.transaction(async (tx) => {
      const walletId = await seedWallet(tx, { createdAt: new Date(start - 90 * DAY_MS) });
      const accountRef = `bench-acct-${walletId}`;
      const deviceKey = `bench-dev-${walletId}`;
      const linkId = await seedLink(tx, { walletId, bankCode: '0009', accountRef, createdAt: new Date(start - 60 * DAY_MS), nameMatchScore: 95 });
      await seedDevice(tx, { walletId, deviceKey, firstSeenAt: new Date(start - 90 * DAY_MS) });
      for (let c = 0; c < 20; c++) {
        await seedCharge(tx, { walletId, linkId, bankCode: '0009', amount: 1000 + 500 * c, createdAt: new Date(start - (50 - 2 * c) * DAY_MS) });
      }
      return { kind: 'charge', walletId, ip: `10.0.${Math.floor(i / 250)}.${i % 250}`, deviceKey, bankCode: '0009', accountRef, amount: 7000 } satisfies RiskEvent;
    }));
  }
  return events;
}

/** Runs `step` over the events, one transaction per step, from `concurrency` callers for `durationMs`. */
export async function benchRiskStep(db: Db, events: RiskEvent[], step: RiskBenchStep, options: RiskBenchOptions): Promise<RiskBenchResult> {
  if (events.length === 0) throw new RangeError('a benchmark needs at least one event');
  const concurrency = options.concurrency ?? 1;
  const latencies: number[] = [];
  let next = 0;
  const began = performance.now();
  const deadline = began + options.durationMs;
  // Reported from the loop, not a timer: PGlite answers without yielding to the event loop, so a timer would wait.
  let nextReport = began + 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const event = events[next++ % events.length]!;
      const t0 = performance.now();
      await db.transaction((tx) => step(tx, event));
      const t1 = performance.now();
      latencies.push(t1 - t0);
      if (t1 >= nextReport && t1 < deadline) {
        nextReport += 1000 * Math.max(1, Math.ceil((t1 - nextReport) / 1000));
        options.onProgress?.(Math.round((t1 - began) / 1000), latencies.length);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = (performance.now() - began) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    ops_per_s: round(latencies.length / elapsedS, 1),
    p50_ms: round(percentile(latencies, 50), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    ops: latencies.length,
    concurrency,
  };
}

/**
 * A full decision, as koza start makes it: the real engine (record the event, compute its features, evaluate the
 * rules, store the decision with its hits) with the counter store and read cache the API uses.
 */
export function decisionStep(db: Db, rules: RuleSet): RiskBenchStep {
  const decide = riskEngine({ db, store: new CachedCounterStore(new PostgresCounterStore()), rules: () => rules });
  return (tx, event) => decide(event, tx);
}

/** The counters alone: record the event and compute its features; no rules, nothing stored. */
export function featuresStep(): RiskBenchStep {
  const store = new CachedCounterStore(new PostgresCounterStore());
  return async (tx, event) => {
    const now = new Date();
    await recordEvent(tx, store, event, now);
    return computeFeatures(tx, store, event, now);
  };
}

/** Seeds `options.wallets` wallets, then measures full decisions on charges with `rules`. */
export async function benchRiskDecisions(db: Db, rules: RuleSet, options: RiskBenchOptions): Promise<RiskBenchResult> {
  const events = await seedRiskBenchWallets(db, options.wallets ?? 50);
  return benchRiskStep(db, events, decisionStep(db, rules), options);
}

/** Seeds `options.wallets` wallets, then measures recordEvent + computeFeatures on charges. */
export async function benchRiskCounters(db: Db, options: RiskBenchOptions): Promise<RiskBenchResult> {
  const events = await seedRiskBenchWallets(db, options.wallets ?? 50);
  return benchRiskStep(db, events, featuresStep(), options);
}
