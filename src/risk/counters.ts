// Owns the risk engine's counters: sliding-window velocity counts and distinct counts (SPEC §7), behind an interface
// with a PostgreSQL implementation every API process can share. Must never read-modify-write a counter in code.
import type { Queryable } from '../store/db.js';

/**
 * Where the risk features keep their counts. Every method takes the caller's Queryable: inside a money flow that is
 * its transaction, so a counter moves with the decision it fed (and on PGlite, the only connection).
 */
export interface CounterStore {
  /** Adds `by` (default 1) to `counter` for `key` at time `at`. */
  increment(q: Queryable, counter: string, key: string, at: Date, by?: number): Promise<void>;
  /** The sum of increments of `counter` for `key` in the window ending at `now` (resolution: see windowRanges). */
  countSince(q: Queryable, counter: string, key: string, windowSeconds: number, now: Date): Promise<number>;
  /** Notes that `member` was seen under (`dimension`, `key`) at `at`. */
  addDistinct(q: Queryable, dimension: string, key: string, member: string, at: Date): Promise<void>;
  /** Members of (`dimension`, `key`) last seen at or after now - window; every member ever seen when window is null. */
  distinctCount(q: Queryable, dimension: string, key: string, windowSeconds: number | null, now: Date): Promise<number>;
  /** Optional: several reads in one round trip, answered in order (readCounters falls back to one read at a time). */
  readMany?(q: Queryable, reads: CounterRead[], now: Date): Promise<number[]>;
  /** Optional: several writes in one round trip (writeCounters falls back to one write at a time). */
  writeMany?(q: Queryable, writes: CounterWrite[]): Promise<void>;
}

/** One increment or addDistinct, for writeMany. */
export type CounterWrite =
  | { kind: 'increment'; counter: string; key: string; at: Date; by?: number }
  | { kind: 'distinct'; dimension: string; key: string; member: string; at: Date };

/** Applies the writes, in one round trip when the store can. */
export async function writeCounters(q: Queryable, store: CounterStore, writes: CounterWrite[]): Promise<void> {
  if (writes.length === 0) return;
  if (store.writeMany) return store.writeMany(q, writes);
  for (const w of writes) {
    if (w.kind === 'increment') await store.increment(q, w.counter, w.key, w.at, w.by);
    else await store.addDistinct(q, w.dimension, w.key, w.member, w.at);
  }
}

/** One read of countSince or distinctCount, for readMany. */
export type CounterRead =
  | { kind: 'count'; counter: string; key: string; windowSeconds: number }
  | { kind: 'distinct'; dimension: string; key: string; windowSeconds: number | null };

/** Answers the reads in order, in one round trip when the store can. */
export async function readCounters(q: Queryable, store: CounterStore, reads: CounterRead[], now: Date): Promise<number[]> {
  if (reads.length === 0) return [];
  if (store.readMany) return store.readMany(q, reads, now);
  const values: number[] = [];
  for (const r of reads) {
    values.push(r.kind === 'count'
      ? await store.countSince(q, r.counter, r.key, r.windowSeconds, now)
      : await store.distinctCount(q, r.dimension, r.key, r.windowSeconds, now));
  }
  return values;
}

// ---------------------------------------------------------------------------------------------------------------
// Bucket math (pure)
// ---------------------------------------------------------------------------------------------------------------

export const MINUTE = 60;
export const HOUR = 3600;
export type Granularity = typeof MINUTE | typeof HOUR;

/** Windows longer than this start at an hour boundary: minute buckets are only kept for this long (pruneCounters). */
export const MINUTE_RESOLUTION_MAX_WINDOW = 48 * HOUR;
/** Minute buckets older than this, and hour buckets older than HOUR_BUCKET_RETENTION, can be pruned. */
export const MINUTE_BUCKET_RETENTION = MINUTE_RESOLUTION_MAX_WINDOW + 2 * HOUR;
export const HOUR_BUCKET_RETENTION = 92 * 24 * HOUR;

export function epochSeconds(at: Date): number {
  return Math.floor(at.getTime() / 1000);
}

/** The start (epoch seconds) of the bucket of this granularity that holds `epochSec`. */
export function bucketStart(epochSec: number, granularity: Granularity): number {
  return Math.floor(epochSec / granularity) * granularity;
}

/** Bucket starts in [from, to) of one granularity. */
export interface BucketRange {
  granularity: Granularity;
  from: number;
  to: number;
}

/**
 * The buckets a window sums: minute buckets at the ragged ends and hour buckets in between, so a read touches at
 * most ~120 minute rows plus one row per hour of the window, however many events there were. The window starts at
 * the minute boundary at or before now - window (at the hour boundary for windows over 48 h) and runs to the end of
 * now's minute, so it is up to 59 s (59 min) wider than asked, never narrower.
 */
export function windowRanges(nowSec: number, windowSeconds: number): BucketRange[] {
  if (!Number.isInteger(windowSeconds) || windowSeconds <= 0) throw new RangeError(`window must be a positive number of seconds, not ${windowSeconds}`);
  const end = bucketStart(nowSec, MINUTE) + MINUTE;
  const start = windowSeconds > MINUTE_RESOLUTION_MAX_WINDOW
    ? bucketStart(nowSec - windowSeconds, HOUR)
    : bucketStart(nowSec - windowSeconds, MINUTE);
  const hourFrom = Math.ceil(start / HOUR) * HOUR;
  const hourTo = bucketStart(end, HOUR);
  const ranges: BucketRange[] = hourFrom < hourTo
    ? [
      { granularity: MINUTE, from: start, to: hourFrom },
      { granularity: HOUR, from: hourFrom, to: hourTo },
      { granularity: MINUTE, from: hourTo, to: end },
    ]
    : [{ granularity: MINUTE, from: start, to: end }];
  return ranges.filter((r) => r.from < r.to);
}

/** The rows one increment at `at` adds to: its minute bucket and its hour bucket. */
export function bucketsFor(at: Date): Array<{ granularity: Granularity; start: number }> {
  const sec = epochSeconds(at);
  return [{ granularity: MINUTE, start: bucketStart(sec, MINUTE) }, { granularity: HOUR, start: bucketStart(sec, HOUR) }];
}

function assertName(kind: string, name: string): void {
  if (!/^[a-z0-9_]{1,64}$/.test(name)) throw new RangeError(`invalid ${kind} name: ${name}`);
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL (and PGlite): all state in the database
// ---------------------------------------------------------------------------------------------------------------

/**
 * Counts in risk_counters and risk_distinct. Every write is one upsert that adds in place, so increments from any
 * number of processes and transactions are exact. An increment inside a caller's transaction holds its row until
 * the commit; spreading a key's increments over `shards` rows (summed on read) lets that many concurrent
 * transactions write one busy key at once. The shard is the transaction id modulo `shards`: concurrent transactions
 * spread, while one transaction always writes the same row of a key (two rows, locked in two orders by two
 * transactions, would deadlock).
 */
export class PostgresCounterStore implements CounterStore {
  private readonly shards: number;

  constructor(options: { shards?: number } = {}) {
    this.shards = options.shards ?? 4;
    if (!Number.isInteger(this.shards) || this.shards < 1 || this.shards > 64) throw new RangeError('shards must be 1 to 64');
  }

  async increment(q: Queryable, counter: string, key: string, at: Date, by = 1): Promise<void> {
    assertName('counter', counter);
    if (!Number.isSafeInteger(by) || by <= 0) throw new RangeError(`a counter grows by a positive integer, not ${by}`);
    const [minute, hour] = bucketsFor(at);
    // Both rows in one statement, always minute then hour: concurrent writers lock them in the same order.
    await q.query(
      `INSERT INTO risk_counters (counter, key, granularity, bucket_start, shard, count)
       SELECT $1, $2, g.granularity, g.bucket_start, (txid_current() % ${this.shards})::smallint, $5
       FROM (VALUES (${MINUTE}, $3::bigint), (${HOUR}, $4::bigint)) AS g (granularity, bucket_start)
       ON CONFLICT (counter, key, granularity, bucket_start, shard) DO UPDATE SET count = risk_counters.count + EXCLUDED.count`,
      [counter, key, minute!.start, hour!.start, by],
    );
  }

  async countSince(q: Queryable, counter: string, key: string, windowSeconds: number, now: Date): Promise<number> {
    return (await this.readMany(q, [{ kind: 'count', counter, key, windowSeconds }], now))[0]!;
  }

  async addDistinct(q: Queryable, dimension: string, key: string, member: string, at: Date): Promise<void> {
    assertName('dimension', dimension);
    // The WHERE skips the write when nothing would change: a member seen again in the same instant costs no tuple.
    await q.query(
      `INSERT INTO risk_distinct (dimension, key, member, first_seen, last_seen) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT (dimension, key, member) DO UPDATE
         SET first_seen = least(risk_distinct.first_seen, EXCLUDED.first_seen),
             last_seen = greatest(risk_distinct.last_seen, EXCLUDED.last_seen)
         WHERE risk_distinct.last_seen < EXCLUDED.last_seen OR risk_distinct.first_seen > EXCLUDED.first_seen`,
      [dimension, key, member, at],
    );
  }

  async distinctCount(q: Queryable, dimension: string, key: string, windowSeconds: number | null, now: Date): Promise<number> {
    return (await this.readMany(q, [{ kind: 'distinct', dimension, key, windowSeconds }], now))[0]!;
  }

  /**
   * Every write of an event in one statement (two data-modifying CTEs). Rows go in one sorted order (counter, key,
   * granularity, bucket) so concurrent writers lock shared rows in the same order; a target named twice is merged
   * first (ON CONFLICT may not touch a row twice in one statement).
   */
  async writeMany(q: Queryable, writes: CounterWrite[]): Promise<void> {
    const counters = new Map<string, { counter: string; key: string; granularity: number; start: number; by: number }>();
    const members = new Map<string, { dimension: string; key: string; member: string; first: Date; last: Date }>();
    for (const w of writes) {
      if (w.kind === 'increment') {
        assertName('counter', w.counter);
        const by = w.by ?? 1;
        if (!Number.isSafeInteger(by) || by <= 0) throw new RangeError(`a counter grows by a positive integer, not ${by}`);
        for (const b of bucketsFor(w.at)) {
          const id = JSON.stringify([w.counter, w.key, b.granularity, b.start]);
          const row = counters.get(id);
          if (row) row.by += by;
          else counters.set(id, { counter: w.counter, key: w.key, granularity: b.granularity, start: b.start, by });
        }
      } else {
        assertName('dimension', w.dimension);
        const id = JSON.stringify([w.dimension, w.key, w.member]);
        const row = members.get(id);
        if (row) {
          if (w.at < row.first) row.first = w.at;
          if (w.at > row.last) row.last = w.at;
        } else members.set(id, { dimension: w.dimension, key: w.key, member: w.member, first: w.at, last: w.at });
      }
    }
    const params: unknown[] = [];
    const p = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    const parts: string[] = [];
    const counterRows = [...counters.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
    if (counterRows.length > 0) {
      const values = counterRows.map((r) => `(${p(r.counter)}::text, ${p(r.key)}::text, ${r.granularity}, ${p(r.start)}::bigint, ${p(r.by)}::bigint)`);
      parts.push(`c AS (INSERT INTO risk_counters (counter, key, granularity, bucket_start, shard, count)
        SELECT v.counter, v.key, v.granularity, v.bucket_start, (txid_current() % ${this.shards})::smallint, v.by
        FROM (VALUES ${values.join(', ')}) AS v (counter, key, granularity, bucket_start, by)
        ON CONFLICT (counter, key, granularity, bucket_start, shard) DO UPDATE SET count = risk_counters.count + EXCLUDED.count)`);
    }
    const memberRows = [...members.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
    if (memberRows.length > 0) {
      const values = memberRows.map((r) => `(${p(r.dimension)}::text, ${p(r.key)}::text, ${p(r.member)}::text, ${p(r.first)}::timestamptz, ${p(r.last)}::timestamptz)`);
      parts.push(`d AS (INSERT INTO risk_distinct (dimension, key, member, first_seen, last_seen)
        SELECT * FROM (VALUES ${values.join(', ')}) AS v (dimension, key, member, first_seen, last_seen)
        ON CONFLICT (dimension, key, member) DO UPDATE
          SET first_seen = least(risk_distinct.first_seen, EXCLUDED.first_seen),
              last_seen = greatest(risk_distinct.last_seen, EXCLUDED.last_seen)
          WHERE risk_distinct.last_seen < EXCLUDED.last_seen OR risk_distinct.first_seen > EXCLUDED.first_seen)`);
    }
    if (parts.length === 0) return;
    await q.query(`WITH ${parts.join(', ')} SELECT 1`, params);
  }

  /** Every read as a scalar subquery of one SELECT: one round trip, each subquery an index range scan. */
  async readMany(q: Queryable, reads: CounterRead[], now: Date): Promise<number[]> {
    if (reads.length === 0) return [];
    const params: unknown[] = [];
    const p = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    const columns = reads.map((r, i) => {
      if (r.kind === 'count') {
        assertName('counter', r.counter);
        // Bounds as parameters: the statement's text stays the same from minute to minute (prepared once per connection).
        const ranges = windowRanges(epochSeconds(now), r.windowSeconds)
          .map((b) => `(granularity = ${b.granularity} AND bucket_start >= ${p(b.from)}::bigint AND bucket_start < ${p(b.to)}::bigint)`);
        return `(SELECT coalesce(sum(count), 0) FROM risk_counters WHERE counter = ${p(r.counter)} AND key = ${p(r.key)}
                 AND (${ranges.join(' OR ')}))::bigint AS r${i}`;
      }
      assertName('dimension', r.dimension);
      if (r.windowSeconds !== null && (!Number.isInteger(r.windowSeconds) || r.windowSeconds <= 0)) {
        throw new RangeError(`window must be a positive number of seconds or null, not ${r.windowSeconds}`);
      }
      const since = r.windowSeconds === null ? '' : ` AND last_seen >= ${p(new Date(now.getTime() - r.windowSeconds * 1000))}::timestamptz`;
      return `(SELECT count(*) FROM risk_distinct WHERE dimension = ${p(r.dimension)} AND key = ${p(r.key)}${since})::bigint AS r${i}`;
    });
    const res = await q.query<Record<string, number | string>>(`SELECT ${columns.join(', ')}`, params);
    const row = res.rows[0]!;
    return reads.map((_, i) => Number(row[`r${i}`]));
  }
}

/**
 * Deletes buckets no window can read any more; run it from a periodic job. Returns the rows this call deleted.
 * Safe from several processes at once: each batch locks its rows with SKIP LOCKED, so concurrent pruners take
 * disjoint rows instead of queueing on (or deadlocking over) each other's, and stops when a batch comes back short
 * (the rest, if any, is another pruner's). Given a Db rather than a transaction, each batch commits on its own, so
 * a backlog never holds locks for long. Live buckets are never touched, so increments never wait on it.
 */
export async function pruneCounters(q: Queryable, now: Date, options: { batchSize?: number } = {}): Promise<number> {
  const batchSize = options.batchSize ?? 5000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, not ${batchSize}`);
  const sec = epochSeconds(now);
  let deleted = 0;
  for (;;) {
    const res = await q.query(
      `DELETE FROM risk_counters WHERE ctid = ANY (ARRAY(
         SELECT ctid FROM risk_counters
         WHERE (granularity = ${MINUTE} AND bucket_start < $1) OR (granularity = ${HOUR} AND bucket_start < $2)
         LIMIT $3 FOR UPDATE SKIP LOCKED))`,
      [sec - MINUTE_BUCKET_RETENTION, sec - HOUR_BUCKET_RETENTION, batchSize],
    );
    deleted += res.rowCount;
    if (res.rowCount < batchSize) return deleted;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// In-process read cache
// ---------------------------------------------------------------------------------------------------------------

export interface ReadCacheOptions {
  /** How long a cached distinct count is served (default 5 s). */
  ttlMs?: number;
  /** Only windows at least this long (or null, all time) are cached (default 1 day). */
  minWindowSeconds?: number;
  /** (dimension, key) pairs kept at most; the least recently filled go first (default 10 000). */
  maxEntries?: number;
  /** Wall clock, for tests. */
  clock?: () => number;
}

interface CacheEntry {
  value: number;
  nowMs: number;
  fetchedAt: number;
}

/**
 * Caches exactly one kind of read: distinct counts over long windows (≥ 1 day, or all time), for a few seconds.
 * Such counts grow slowly (a device gains a wallet a day, not a second) and the rules compare them with small
 * thresholds, so a few seconds' lag changes nothing an attacker can use; a velocity count (countSince) is never
 * cached, because a burst is exactly what it must see. How a cached count may lag:
 *  - members added by other processes are seen up to ttlMs late;
 *  - members added through this store in this process invalidate the (dimension, key) entry at once;
 *  - a member added in a transaction that then rolled back may be counted for up to ttlMs;
 *  - a member leaving a long window (last seen window ago) is dropped up to ttlMs late.
 * A read for a `now` more than ttlMs away from the cached one (tests, replays) always goes to the database.
 */
const liveCaches = new Set<WeakRef<CachedCounterStore>>();

/**
 * Empties every counter read cache in this process. For the attack replay's test clock only (src/attack/test-clock.ts):
 * it moves stored instants into the past, and a cached count would otherwise be served against the old ones.
 */
export function clearCounterReadCaches(): void {
  for (const ref of liveCaches) {
    const store = ref.deref();
    if (store) store.clear();
    else liveCaches.delete(ref);
  }
}

export class CachedCounterStore implements CounterStore {
  /** (dimension, key) → window → entry, so that a write drops every window of its key in one step. */
  private readonly entries = new Map<string, Map<string, CacheEntry>>();
  private readonly ttlMs: number;
  private readonly minWindowSeconds: number;
  private readonly maxEntries: number;
  private readonly clock: () => number;

  constructor(private readonly inner: CounterStore, options: ReadCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.minWindowSeconds = options.minWindowSeconds ?? 24 * HOUR;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.clock = options.clock ?? Date.now;
    liveCaches.add(new WeakRef(this));
  }

  /** Forgets every cached count. */
  clear(): void {
    this.entries.clear();
  }

  increment(q: Queryable, counter: string, key: string, at: Date, by?: number): Promise<void> {
    return this.inner.increment(q, counter, key, at, by);
  }

  countSince(q: Queryable, counter: string, key: string, windowSeconds: number, now: Date): Promise<number> {
    return this.inner.countSince(q, counter, key, windowSeconds, now);
  }

  async addDistinct(q: Queryable, dimension: string, key: string, member: string, at: Date): Promise<void> {
    await this.inner.addDistinct(q, dimension, key, member, at);
    this.entries.delete(prefixOf(dimension, key));
  }

  async writeMany(q: Queryable, writes: CounterWrite[]): Promise<void> {
    await writeCounters(q, this.inner, writes);
    for (const w of writes) if (w.kind === 'distinct') this.entries.delete(prefixOf(w.dimension, w.key));
  }

  async distinctCount(q: Queryable, dimension: string, key: string, windowSeconds: number | null, now: Date): Promise<number> {
    return (await this.readMany(q, [{ kind: 'distinct', dimension, key, windowSeconds }], now))[0]!;
  }

  async readMany(q: Queryable, reads: CounterRead[], now: Date): Promise<number[]> {
    const values: Array<number | undefined> = reads.map((r) => (r.kind === 'distinct' ? this.cached(r, now) : undefined));
    const missing = reads.filter((_, i) => values[i] === undefined);
    const fetched = await readCounters(q, this.inner, missing, now);
    let j = 0;
    return reads.map((r, i) => {
      if (values[i] !== undefined) return values[i]!;
      const value = fetched[j++]!;
      if (r.kind === 'distinct') this.remember(r, now, value);
      return value;
    });
  }

  private cacheable(r: Extract<CounterRead, { kind: 'distinct' }>): boolean {
    return r.windowSeconds === null || r.windowSeconds >= this.minWindowSeconds;
  }

  private cached(r: Extract<CounterRead, { kind: 'distinct' }>, now: Date): number | undefined {
    if (!this.cacheable(r)) return undefined;
    const hit = this.entries.get(prefixOf(r.dimension, r.key))?.get(String(r.windowSeconds ?? 'all'));
    if (hit && this.clock() - hit.fetchedAt < this.ttlMs && Math.abs(now.getTime() - hit.nowMs) < this.ttlMs) return hit.value;
    return undefined;
  }

  private remember(r: Extract<CounterRead, { kind: 'distinct' }>, now: Date, value: number): void {
    if (!this.cacheable(r)) return;
    const prefix = prefixOf(r.dimension, r.key);
    const windows = this.entries.get(prefix) ?? new Map<string, CacheEntry>();
    windows.set(String(r.windowSeconds ?? 'all'), { value, nowMs: now.getTime(), fetchedAt: this.clock() });
    // Re-inserted last, so that eviction (first keys first) drops the least recently filled keys.
    this.entries.delete(prefix);
    this.entries.set(prefix, windows);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** (dimension, key) pairs currently cached (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }
}

function prefixOf(dimension: string, key: string): string {
  return `${dimension}\u0000${key}\u0000`;
}
