// Owns the risk counters' benchmark: recordEvent + computeFeatures for a charge, in one transaction each, in a loop,
// on a Db the caller opened (PGlite or PostgreSQL). Must never run against a database holding real wallets: it seeds.
import type { Db } from '../store/db.js';
import type { RiskEvent } from './hook.js';
import { CachedCounterStore, PostgresCounterStore } from './counters.js';
import { computeFeatures, recordEvent } from './features.js';
import { seedCharge, seedDevice, seedLink, seedWallet } from './fixtures.js';

export interface RiskBenchOptions {
  durationMs: number;
  /** Callers at once (default 1). PGlite is one connection: more callers only queue. */
  concurrency?: number;
  /** Wallets the charges rotate over, each with a link, a device and 20 earlier charges (default 50). */
  wallets?: number;
}

export interface RiskBenchResult {
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  ops: number;
  concurrency: number;
  feature_count: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Seeds the wallets, then decides charges for `durationMs`; returns throughput and latency per decision. */
export async function benchRiskCounters(db: Db, options: RiskBenchOptions): Promise<RiskBenchResult> {
  const concurrency = options.concurrency ?? 1;
  const walletCount = options.wallets ?? 50;
  const start = Date.now();
  const events: RiskEvent[] = [];
  for (let i = 0; i < walletCount; i++) {
    const event = await db.transaction(async (tx) => {
      const walletId = await seedWallet(tx, { createdAt: new Date(start - 90 * 86_400_000) });
      const accountRef = `bench-acct-${walletId}`;
      const deviceKey = `bench-dev-${walletId}`;
      const linkId = await seedLink(tx, { walletId, bankCode: '0009', accountRef, createdAt: new Date(start - 60 * 86_400_000), nameMatchScore: 95 });
      await seedDevice(tx, { walletId, deviceKey, firstSeenAt: new Date(start - 90 * 86_400_000) });
      for (let c = 0; c < 20; c++) {
        await seedCharge(tx, { walletId, linkId, bankCode: '0009', amount: 1000 + 500 * c, createdAt: new Date(start - (50 - 2 * c) * 86_400_000) });
      }
      return { kind: 'charge', walletId, ip: `10.0.${Math.floor(i / 250)}.${i % 250}`, deviceKey, bankCode: '0009', accountRef, amount: 7000 } satisfies RiskEvent;
    });
    events.push(event);
  }

  const store = new CachedCounterStore(new PostgresCounterStore());
  const latencies: number[] = [];
  let featureCount = 0;
  let next = 0;
  const deadline = Date.now() + options.durationMs;
  const began = performance.now();
  const worker = async () => {
    while (Date.now() < deadline) {
      const event = events[next++ % events.length]!;
      const t0 = performance.now();
      const features = await db.transaction(async (tx) => {
        const now = new Date();
        await recordEvent(tx, store, event, now);
        return computeFeatures(tx, store, event, now);
      });
      latencies.push(performance.now() - t0);
      featureCount = Object.keys(features).length;
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
    feature_count: featureCount,
  };
}
