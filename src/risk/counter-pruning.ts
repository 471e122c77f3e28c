// Owns the periodic pruning of the risk counters: once at start, then every 10 minutes, until stopped.
// Must never run two rounds at once in one process, nor let a failed round stop the next one.
import type { Db } from '../store/db.js';
import { pruneCounters } from './counters.js';

export const PRUNE_COUNTERS_EVERY_MS = 10 * 60_000;

export interface CounterPruning {
  /** Stops the timer and waits for a round in progress. */
  stop(): Promise<void>;
  /** The round started last (for tests): resolves when it is over, whatever its outcome. */
  readonly lastRound: Promise<void>;
}

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
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const round = () => {
    // Chained: a slow round delays the next instead of overlapping it.
    running = running.then(async () => {
      if (stopped) return;
      const rows = await pruneCounters(db, clock());
      options.onPruned(rows);
    }).catch(options.onError);
  };
  round();
  const timer = setInterval(round, options.everyMs ?? PRUNE_COUNTERS_EVERY_MS);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
    get lastRound() {
      return running;
    },
  };
}
