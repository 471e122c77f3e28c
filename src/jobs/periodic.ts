// Owns koza's background rounds (reconciliation, counter pruning): a piece of work every interval, until stopped.
// Must never run two rounds of one job at once in a process, nor let a failed round stop the next one.

export interface PeriodicJob {
  /** Stops the timer and waits for a round in progress. */
  stop(): Promise<void>;
  /** The round started last (for tests): resolves when it is over, whatever its outcome. */
  readonly lastRound: Promise<void>;
}

/** Runs `work` every `everyMs` (and once now with `runNow`); a slow round delays the next instead of overlapping it. */
export function startPeriodic(work: () => Promise<void>, options: {
  everyMs: number; onError: (err: unknown) => void; runNow?: boolean;
}): PeriodicJob {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const round = () => {
    running = running.then(async () => {
      if (!stopped) await work();
    }).catch(options.onError);
  };
  if (options.runNow) round();
  const timer = setInterval(round, options.everyMs);
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
