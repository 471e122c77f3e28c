// Tests the counter pruning job koza start runs: a round at start, then one per interval, each reporting what it
// deleted; a failed round is reported and the next one still runs; stop() waits and nothing runs after it.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachBackend } from '../../test-support/backends.js';
import type { Db } from '../store/db.js';
import { HOUR, PostgresCounterStore } from './counters.js';
import { startCounterPruning } from './counter-pruning.js';

const store = new PostgresCounterStore();
const NOW = new Date(Date.UTC(2026, 2, 1, 10, 30, 30));

forEachBackend('risk counter pruning job', (db) => {
  it('prunes once at start, reports the rows, then runs every interval until stopped', async () => {
    const key = `prune-job-${Math.random().toString(36).slice(2)}`;
    await store.increment(db(), 'signups_per_ip', key, new Date(NOW.getTime() - 100 * 24 * HOUR * 1000));
    await store.increment(db(), 'signups_per_ip', key, new Date(NOW.getTime() - 10_000));
    const reports: number[] = [];
    const errors: unknown[] = [];
    // Two later rounds are awaited as a signal, not a sleep: on a busy machine a round takes as long as it takes.
    let twoLaterRounds!: () => void;
    const laterRounds = new Promise<void>((resolve) => { twoLaterRounds = resolve; });
    const job = startCounterPruning(db(), {
      everyMs: 30, clock: () => NOW, onError: (e) => errors.push(e),
      onPruned: (n) => {
        reports.push(n);
        if (reports.length === 3) twoLaterRounds();
      },
    });
    await job.lastRound;
    assert.deepEqual(reports, [2], 'the first round, at start, deleted the old event\'s two buckets');
    await laterRounds;
    await job.stop();
    assert.ok(reports.length >= 3, `later rounds ran: ${reports.length}`);
    assert.ok(reports.slice(1).every((n) => n === 0));
    assert.deepEqual(errors, []);
    const after = reports.length;
    await sleep(100);
    assert.equal(reports.length, after, 'nothing runs after stop()');
    const left = await db().query('SELECT 1 FROM risk_counters WHERE key = $1', [key]);
    assert.equal(left.rows.length, 2, 'the recent event keeps its minute and hour buckets');
  });
});

it('reports a failed round and still runs the next one', async () => {
  let calls = 0;
  const flaky = {
    async query() {
      calls++;
      if (calls === 1) throw new Error('connection lost');
      return { rows: [], rowCount: 0 };
    },
  } as unknown as Db;
  const reports: number[] = [];
  const errors: string[] = [];
  const job = startCounterPruning(flaky, { everyMs: 20, onPruned: (n) => reports.push(n), onError: (e) => errors.push((e as Error).message) });
  await sleep(100);
  await job.stop();
  assert.deepEqual(errors, ['connection lost']);
  assert.ok(reports.length >= 1 && reports.every((n) => n === 0), `later rounds ran: ${reports.join(',')}`);
});
