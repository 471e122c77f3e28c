// Tests the PostgreSQL counter store on PGlite and PostgreSQL: sliding windows at their edges, exact counts under
// concurrent increments, distinct counts, and the read cache's lag. Must never depend on the wall clock: `now` is injected.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  CachedCounterStore, clearCounterReadCaches, HOUR, MINUTE, PostgresCounterStore, pruneCounters, readCounters, writeCounters,
  type CounterRead, type CounterStore, type CounterWrite,
} from './counters.js';

const store = new PostgresCounterStore();
// A fixed instant in the middle of a minute and of an hour: 2026-03-01T10:30:30Z.
const NOW = new Date(Date.UTC(2026, 2, 1, 10, 30, 30));
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000);
const DAY_S = 24 * HOUR;
let n = 0;
const unique = (label: string) => `${label}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

forEachBackend('risk counters', (db, backend) => {
  it('counts an event just inside a 24 h window and not one just outside it', async () => {
    const key = unique('ip');
    await store.increment(db(), 'signups_per_ip', key, ago(24 * HOUR - 1));
    await store.increment(db(), 'signups_per_ip', key, ago(24 * HOUR + MINUTE + 1));
    await store.increment(db(), 'signups_per_ip', key, ago(5));
    await store.increment(db(), 'signups_per_ip', key, ago(3 * HOUR), 3);
    assert.equal(await store.countSince(db(), 'signups_per_ip', key, 24 * HOUR, NOW), 5);
    // A later `now` drops the oldest event; an earlier one has not yet seen the newest.
    assert.equal(await store.countSince(db(), 'signups_per_ip', key, 24 * HOUR, new Date(NOW.getTime() + 2 * MINUTE * 1000)), 4);
    assert.equal(await store.countSince(db(), 'signups_per_ip', key, HOUR, NOW), 1);
    assert.equal(await store.countSince(db(), 'signups_per_ip', key, 10, new Date(NOW.getTime() + MINUTE * 1000)), 0);
  });

  it('counts a 10-minute window across an hour boundary at minute resolution', async () => {
    const key = unique('dev');
    const now = new Date(Date.UTC(2026, 2, 1, 11, 4, 0));
    const at = (m: number) => new Date(now.getTime() - m * 60_000);
    await store.increment(db(), 'signups_per_device', key, at(3));
    await store.increment(db(), 'signups_per_device', key, at(9));
    await store.increment(db(), 'signups_per_device', key, at(11));
    assert.equal(await store.countSince(db(), 'signups_per_device', key, 10 * MINUTE, now), 2);
  });

  it('counts a 30-day window from hour buckets', async () => {
    const key = unique('acct');
    await store.increment(db(), 'charges_per_account', key, ago(29 * 24 * HOUR));
    await store.increment(db(), 'charges_per_account', key, ago(31 * 24 * HOUR));
    await store.increment(db(), 'charges_per_account', key, ago(10));
    assert.equal(await store.countSince(db(), 'charges_per_account', key, 30 * 24 * HOUR, NOW), 2);
  });

  it('keeps counters and keys apart', async () => {
    const key = unique('k');
    await store.increment(db(), 'pin_failures_per_ip', key, ago(1));
    assert.equal(await store.countSince(db(), 'pin_failures_per_account', key, HOUR, NOW), 0);
    assert.equal(await store.countSince(db(), 'pin_failures_per_ip', `${key}x`, HOUR, NOW), 0);
    await assert.rejects(store.increment(db(), 'Bad Name', key, NOW), RangeError);
    await assert.rejects(store.increment(db(), 'pin_failures_per_ip', key, NOW, 0), RangeError);
  });

  it('counts concurrent increments from many callers exactly', async () => {
    const key = unique('hot');
    const callers = backend.name === 'postgres' ? 200 : 50;
    // On PostgreSQL each call takes its own pooled connection: the upserts really race on the same two rows.
    await Promise.all(Array.from({ length: callers }, (_, i) =>
      store.increment(db(), 'charges_per_wallet', key, ago(i % 7), 1 + (i % 3))));
    const expected = Array.from({ length: callers }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b, 0);
    assert.equal(await store.countSince(db(), 'charges_per_wallet', key, HOUR, NOW), expected);
  });

  it('counts concurrent increments inside concurrent transactions exactly', async () => {
    const key = unique('tx');
    await Promise.all(Array.from({ length: 40 }, () => db().transaction(async (tx) => {
      await store.increment(tx, 'charges_per_wallet', key, ago(30));
      await store.addDistinct(tx, 'wallets_per_device', key, 'wal_same', ago(30));
    })));
    assert.equal(await store.countSince(db(), 'charges_per_wallet', key, HOUR, NOW), 40);
    assert.equal(await store.distinctCount(db(), 'wallets_per_device', key, null, NOW), 1);
  });

  it('writes many counters and members in one statement exactly as one at a time, twice-named targets merged', async () => {
    const [one, batch] = [unique('one'), unique('batch')];
    const writes = (key: string): CounterWrite[] => [
      { kind: 'increment', counter: 'charges_per_wallet', key, at: ago(30) },
      { kind: 'increment', counter: 'charge_amount_per_wallet', key, at: ago(30), by: 7000 },
      { kind: 'increment', counter: 'charges_per_wallet', key, at: ago(40) },
      { kind: 'increment', counter: 'charges_per_wallet', key, at: ago(2 * HOUR) },
      { kind: 'distinct', dimension: 'wallets_per_device', key, member: 'wal_a', at: ago(50) },
      { kind: 'distinct', dimension: 'wallets_per_device', key, member: 'wal_a', at: ago(10) },
      { kind: 'distinct', dimension: 'wallets_per_device', key, member: 'wal_b', at: ago(3 * DAY_S) },
      { kind: 'distinct', dimension: 'names_per_device', key, member: 'name_x', at: ago(5) },
    ];
    await writeCounters(db(), { increment: store.increment.bind(store), addDistinct: store.addDistinct.bind(store) } as unknown as CounterStore, writes(one));
    await writeCounters(db(), store, writes(batch));
    const reads = (key: string): CounterRead[] => [
      { kind: 'count', counter: 'charges_per_wallet', key, windowSeconds: HOUR },
      { kind: 'count', counter: 'charges_per_wallet', key, windowSeconds: 24 * HOUR },
      { kind: 'count', counter: 'charge_amount_per_wallet', key, windowSeconds: HOUR },
      { kind: 'distinct', dimension: 'wallets_per_device', key, windowSeconds: DAY_S },
      { kind: 'distinct', dimension: 'wallets_per_device', key, windowSeconds: null },
      { kind: 'distinct', dimension: 'names_per_device', key, windowSeconds: null },
    ];
    assert.deepEqual(await readCounters(db(), store, reads(batch), NOW), [2, 3, 7000, 1, 2, 1]);
    assert.deepEqual(await readCounters(db(), store, reads(batch), NOW), await readCounters(db(), store, reads(one), NOW));
    const seen = await db().query<{ first_seen: Date; last_seen: Date }>(
      `SELECT first_seen, last_seen FROM risk_distinct WHERE dimension = 'wallets_per_device' AND key = $1 AND member = 'wal_a'`, [batch]);
    assert.deepEqual([new Date(seen.rows[0]!.first_seen), new Date(seen.rows[0]!.last_seen)], [ago(50), ago(10)]);
  });

  it('writes many at once from concurrent transactions exactly, without deadlocks', async () => {
    const keys = [unique('w1'), unique('w2'), unique('w3')];
    await Promise.all(Array.from({ length: 30 }, (_, i) => db().transaction((tx) => writeCounters(tx, store, [
      // Each writer names the keys in its own order: the sorted statement locks them in one order.
      ...(i % 2 === 0 ? keys : [...keys].reverse()).map((key): CounterWrite => ({ kind: 'increment', counter: 'charges_per_account', key, at: ago(20) })),
      { kind: 'distinct', dimension: 'wallets_per_bank_account', key: keys[0]!, member: `wal_${i % 5}`, at: ago(20) },
    ]))));
    for (const key of keys) assert.equal(await store.countSince(db(), 'charges_per_account', key, HOUR, NOW), 30);
    assert.equal(await store.distinctCount(db(), 'wallets_per_bank_account', keys[0]!, null, NOW), 5);
  });

  it('counts distinct members, within a window by when each was last seen', async () => {
    const device = unique('device');
    await store.addDistinct(db(), 'wallets_per_device', device, 'wal_a', ago(40 * 24 * HOUR));
    await store.addDistinct(db(), 'wallets_per_device', device, 'wal_b', ago(29 * 24 * HOUR));
    await store.addDistinct(db(), 'wallets_per_device', device, 'wal_c', ago(30 * 24 * HOUR + 1));
    await store.addDistinct(db(), 'wallets_per_device', device, 'wal_b', ago(50 * 24 * HOUR)); // older sighting: no change
    assert.equal(await store.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, NOW), 1);
    assert.equal(await store.distinctCount(db(), 'wallets_per_device', device, null, NOW), 3);
    // Seen again now, wal_a is back in the window; seeing it twice counts it once.
    await store.addDistinct(db(), 'wallets_per_device', device, 'wal_a', ago(1));
    await store.addDistinct(db(), 'wallets_per_device', device, 'wal_a', ago(0));
    assert.equal(await store.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, NOW), 2);
    const rows = await db().query<{ first_seen: Date; last_seen: Date }>(
      `SELECT first_seen, last_seen FROM risk_distinct WHERE dimension = 'wallets_per_device' AND key = $1 AND member = 'wal_b'`, [device]);
    assert.equal(new Date(rows.rows[0]!.first_seen).getTime(), ago(50 * 24 * HOUR).getTime());
    assert.equal(new Date(rows.rows[0]!.last_seen).getTime(), ago(29 * 24 * HOUR).getTime());
  });

  it('counts distinct members added concurrently exactly', async () => {
    const ip = unique('ip');
    await Promise.all(Array.from({ length: 60 }, (_, i) =>
      store.addDistinct(db(), 'accounts_with_failures_per_ip', ip, `0001:acct${i % 20}`, ago(i))));
    assert.equal(await store.distinctCount(db(), 'accounts_with_failures_per_ip', ip, 24 * HOUR, NOW), 20);
  });

  it('serves long-window distinct counts from the cache for a few seconds, and its own writes at once', async () => {
    let wall = 1_000_000;
    const cached = new CachedCounterStore(store, { ttlMs: 5000, clock: () => wall });
    const device = unique('cached');
    await cached.addDistinct(db(), 'wallets_per_device', device, 'wal_1', ago(10));
    assert.equal(await cached.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, NOW), 1);
    // Another process adds a member: this one sees it only once the entry is older than the TTL.
    await store.addDistinct(db(), 'wallets_per_device', device, 'wal_2', ago(5));
    assert.equal(await cached.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, NOW), 1);
    wall += 5000;
    assert.equal(await cached.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, NOW), 2);
    // This process's own write drops the entry.
    await cached.addDistinct(db(), 'wallets_per_device', device, 'wal_3', ago(1));
    assert.equal(await cached.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, NOW), 3);
    // Short windows and velocity counts are never cached.
    await store.addDistinct(db(), 'accounts_with_failures_per_ip', device, 'x', ago(1));
    assert.equal(await cached.distinctCount(db(), 'accounts_with_failures_per_ip', device, HOUR, NOW), 1);
    await store.addDistinct(db(), 'accounts_with_failures_per_ip', device, 'y', ago(1));
    assert.equal(await cached.distinctCount(db(), 'accounts_with_failures_per_ip', device, HOUR, NOW), 2);
    // A `now` far from the cached one reads the database.
    await store.addDistinct(db(), 'wallets_per_device', device, 'wal_4', ago(1));
    assert.equal(await cached.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, new Date(NOW.getTime() + 60_000)), 4);
  });

  it('forgets every cached count when the replay\'s test clock moves stored times (clearCounterReadCaches)', async () => {
    const cached = new CachedCounterStore(store, { ttlMs: 60_000, clock: () => 1_000_000 });
    const device = unique('clock');
    await cached.addDistinct(db(), 'wallets_per_device', device, 'wal_1', ago(10));
    assert.equal(await cached.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, NOW), 1);
    await store.addDistinct(db(), 'wallets_per_device', device, 'wal_2', ago(5));
    assert.equal(await cached.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, NOW), 1, 'served from the cache');
    clearCounterReadCaches();
    assert.equal(cached.size, 0);
    assert.equal(await cached.distinctCount(db(), 'wallets_per_device', device, 30 * 24 * HOUR, NOW), 2);
  });

  it('prunes buckets no window reads any more', async () => {
    const key = unique('old');
    await store.increment(db(), 'signups_per_ip', key, ago(100 * 24 * HOUR));
    await store.increment(db(), 'signups_per_ip', key, ago(3 * 24 * HOUR));
    await store.increment(db(), 'signups_per_ip', key, ago(10));
    await pruneCounters(db(), NOW);
    const rows = await db().query<{ granularity: number }>(
      `SELECT granularity FROM risk_counters WHERE counter = 'signups_per_ip' AND key = $1 ORDER BY granularity, bucket_start`, [key]);
    // The 100-day-old event is gone; the 3-day-old one keeps only its hour bucket; the recent one both.
    assert.deepEqual(rows.rows.map((r) => r.granularity), [60, 3600, 3600]);
    assert.equal(await store.countSince(db(), 'signups_per_ip', key, 7 * 24 * HOUR, NOW), 2);
  });

  it('prunes from several processes at once: each old bucket exactly once, in batches, nothing live', async () => {
    const key = unique('backlog');
    for (let i = 0; i < 40; i++) await store.increment(db(), 'signups_per_ip', key, ago(100 * 24 * HOUR + i * HOUR));
    for (let i = 0; i < 20; i++) await store.increment(db(), 'signups_per_ip', key, ago(3 * 24 * HOUR + i * MINUTE));
    await store.increment(db(), 'signups_per_ip', key, ago(10));
    const eligible = `(granularity = ${MINUTE} AND bucket_start < $1) OR (granularity = ${HOUR} AND bucket_start < $2)`;
    const nowSec = Math.floor(NOW.getTime() / 1000);
    const bounds = [nowSec - (48 + 2) * HOUR, nowSec - 92 * 24 * HOUR];
    const old = await db().query<{ n: number }>(`SELECT count(*)::int8 AS n FROM risk_counters WHERE ${eligible}`, bounds);
    assert.ok(old.rows[0]!.n >= 100, `a backlog of ${old.rows[0]!.n} rows`);
    // Four pruners at once (separate connections on PostgreSQL), batches of 7 rows: they share the work and never deadlock.
    const counts = await Promise.all(Array.from({ length: 4 }, () => pruneCounters(db(), NOW, { batchSize: 7 })));
    assert.equal(counts.reduce((a, b) => a + b, 0), old.rows[0]!.n, `deleted ${counts.join(' + ')}`);
    assert.equal((await db().query(`SELECT 1 FROM risk_counters WHERE ${eligible}`, bounds)).rows.length, 0);
    assert.equal(await pruneCounters(db(), NOW), 0, 'nothing left to prune');
    // The 3-day-old events keep their hour buckets, the recent one both of its buckets.
    assert.equal(await store.countSince(db(), 'signups_per_ip', key, 7 * 24 * HOUR, NOW), 21);
    assert.equal(await store.countSince(db(), 'signups_per_ip', key, HOUR, NOW), 1);
  });

  it('answers many reads in one round trip exactly as one at a time, with or without the cache', async () => {
    const key = unique('batch');
    await store.increment(db(), 'signups_per_ip', key, ago(30), 2);
    await store.increment(db(), 'signups_per_ip', key, ago(2 * HOUR));
    await store.addDistinct(db(), 'wallets_per_device', key, 'wal_1', ago(10));
    await store.addDistinct(db(), 'wallets_per_device', key, 'wal_2', ago(40 * 24 * HOUR));
    const reads: CounterRead[] = [
      { kind: 'count', counter: 'signups_per_ip', key, windowSeconds: HOUR },
      { kind: 'distinct', dimension: 'wallets_per_device', key, windowSeconds: null },
      { kind: 'count', counter: 'signups_per_ip', key, windowSeconds: 24 * HOUR },
      { kind: 'distinct', dimension: 'wallets_per_device', key, windowSeconds: 30 * 24 * HOUR },
      { kind: 'count', counter: 'signups_per_ip', key: `${key}-none`, windowSeconds: HOUR },
    ];
    const expected = [2, 2, 3, 1, 0];
    assert.deepEqual(await readCounters(db(), store, reads, NOW), expected);
    // A store without readMany is read one at a time.
    const plain: CounterStore = {
      increment: (...a) => store.increment(...a),
      countSince: (...a) => store.countSince(...a),
      addDistinct: (...a) => store.addDistinct(...a),
      distinctCount: (...a) => store.distinctCount(...a),
    };
    assert.deepEqual(await readCounters(db(), plain, reads, NOW), expected);
    const cached = new CachedCounterStore(plain);
    assert.deepEqual(await readCounters(db(), cached, reads, NOW), expected);
    assert.equal(cached.size, 1, 'the two long-window distinct reads of one key are cached under it');
    assert.deepEqual(await readCounters(db(), cached, reads, NOW), expected);
  });

  it('spreads a busy key over shards across transactions and keeps one row per bucket within a transaction', async () => {
    const key = unique('domain');
    const sharded = new PostgresCounterStore({ shards: 4 });
    for (let i = 0; i < 8; i++) await sharded.increment(db(), 'signups_per_email_domain', key, ago(5));
    await db().transaction(async (tx) => {
      for (let i = 0; i < 3; i++) await sharded.increment(tx, 'signups_per_email_domain', key, ago(5));
    });
    const rows = await db().query<{ shard: number; count: number }>(
      `SELECT shard, count FROM risk_counters WHERE key = $1 AND granularity = 60 ORDER BY shard`, [key]);
    assert.ok(rows.rows.length > 1 && rows.rows.length <= 4, `${rows.rows.length} shards used`);
    assert.ok(rows.rows.some((r) => r.count >= 3), 'the transaction wrote one row three times');
    assert.equal(await sharded.countSince(db(), 'signups_per_email_domain', key, HOUR, NOW), 11);
    assert.throws(() => new PostgresCounterStore({ shards: 0 }), RangeError);
  });
});
