// Owns the periodic pruning of the risk counters: once at start, then every 10 minutes, until stopped.
// Must never run two rounds at once in one process, nor let a failed round stop the next one.
import type { Db } from '../store/db.js';
import { pruneCounters } from './counters.js';
import { startPeriodic, type PeriodicJob } from '../jobs/periodic.js';

export const PRUNE_COUNTERS_EVERY_MS = 10 * 60_000;

export type CounterPruning = PeriodicJob;

/**
 * Prunes buckets no window reads any more, now and every `everyMs`. Several processes may run this at once
 * (pruneCounters takes disjoint rows); the count each reports is what it deleted itself.
 */
export function startCounterPruning(db: Db, options: {
  everyMs?: number;
  onPruned: (rows: number) => void;
  onError: (err: unknown) => void;
  clock?: () => Date;
}): CounterPruning {
  const clock = options.clock ?? (() => new Date());
  return startPeriodic(async () => options.onPruned(await pruneCounters(db, clock())), {
    everyMs: options.everyMs ?? PRUNE_COUNTERS_EVERY_MS, onError: options.onError, runNow: true,
  });
}
