// Owns the periodic release of merchant holds in `koza start`: every round releases every hold that is due, in batches.
// Must never hold a transaction open across batches (a long round would block refunds), nor stop on a failed round.
import type { Db } from '../store/db.js';
import { startPeriodic, type PeriodicJob } from '../jobs/periodic.js';
import { releaseDueHolds, type Release } from './merchant-holds.js';

const BATCH = 500;

/** Releases every hold due at `now`, a batch per transaction; returns what it released. */
export async function releaseHoldsRound(db: Db, now: Date = new Date()): Promise<Release[]> {
  const all: Release[] = [];
  for (;;) {
    const batch = await db.transaction((tx) => releaseDueHolds(tx, now, BATCH));
    all.push(...batch);
    if (batch.length < BATCH) return all;
  }
}

export function startHoldRelease(db: Db, options: {
  everyMs: number; onReleased: (releases: Release[]) => void; onError: (err: unknown) => void;
}): PeriodicJob {
  return startPeriodic(async () => options.onReleased(await releaseHoldsRound(db)), {
    everyMs: options.everyMs, onError: options.onError, runNow: true,
  });
}
