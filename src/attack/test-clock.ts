// Owns the attack replay's test clock (as Stripe's test clocks do for subscriptions): "advance the world by N hours"
// by moving every stored instant of koza's and the banks' schemas N hours into the past, epoch-keyed counters too.
// Must never be used outside a replay's own throwaway world: it rewrites append-only tables with their triggers off.
import { clearCounterReadCaches } from '../risk/counters.js';
import type { Db, Queryable } from '../store/db.js';

/**
 * Tables whose times gate nothing and must not move:
 * - audit_log: hash-chained over its rows (`at` included); shifting it would break `koza audit verify`, and no rule,
 *   limit or expiry reads it;
 * - schema_migrations: when a migration ran gates nothing.
 */
const FROZEN_TABLES = new Set(['audit_log', 'schema_migrations']);
/** Date columns that are facts about a person, not instants of the system: a birthday does not move with the clock. */
const FROZEN_COLUMNS = new Set(['date_of_birth']);
const TIME_TYPES = ['timestamp with time zone', 'timestamp without time zone', 'date'];

/** Epoch-second integer columns (risk counter buckets): table → column. Shifted by whole hours, so buckets stay aligned. */
const EPOCH_COLUMNS: Record<string, string> = { risk_counters: 'bucket_start' };

function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new RangeError(`unexpected identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** The time columns of the connection's schema, by table (information_schema, so new migrations' columns come along). */
async function timeColumns(q: Queryable): Promise<Map<string, string[]>> {
  const res = await q.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.data_type = ANY($1::text[])
      ORDER BY 1, 2`, [TIME_TYPES]);
  const byTable = new Map<string, string[]>();
  for (const { table_name: table, column_name: column } of res.rows) {
    if (FROZEN_TABLES.has(table) || FROZEN_COLUMNS.has(column)) continue;
    byTable.set(table, [...(byTable.get(table) ?? []), column]);
  }
  return byTable;
}

async function hasUserTriggers(q: Queryable, table: string): Promise<boolean> {
  const res = await q.query<{ n: number }>(
    `SELECT count(*)::int8 AS n FROM pg_trigger
      WHERE tgrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass AND NOT tgisinternal`, [table]);
  return res.rows[0]!.n > 0;
}

/**
 * Moves every instant stored in `db`'s schema `hours` into the past, in one transaction: to the code reading them with
 * now(), the world is `hours` older. Append-only tables (the ledger journal, the banks' books) have their user triggers
 * disabled around their own update — the replay owns its schemas; nothing else writes while the clock moves.
 * Returns the rows moved.
 */
export async function shiftStoredTimes(db: Db, hours: number): Promise<number> {
  if (!Number.isInteger(hours) || hours < 0) throw new RangeError('hours must be a whole number ≥ 0');
  if (hours === 0) return 0;
  return db.transaction(async (tx) => {
    let rows = 0;
    const columns = await timeColumns(tx);
    for (const [table, cols] of columns) {
      const guarded = await hasUserTriggers(tx, table);
      if (guarded) await tx.exec(`ALTER TABLE ${ident(table)} DISABLE TRIGGER USER`);
      const sets = cols.map((c) => `${ident(c)} = ${ident(c)} - make_interval(hours => ${hours})`).join(', ');
      rows += (await tx.query(`UPDATE ${ident(table)} SET ${sets}`)).rowCount;
      if (guarded) await tx.exec(`ALTER TABLE ${ident(table)} ENABLE TRIGGER USER`);
    }
    for (const [table, column] of Object.entries(EPOCH_COLUMNS)) {
      const exists = await tx.query<{ t: string | null }>('SELECT to_regclass(quote_ident(current_schema()) || \'.\' || $1)::text AS t', [table]);
      if (!exists.rows[0]!.t) continue;
      // Two steps through negative values: the bucket is part of the primary key, checked row by row, so shifting in
      // place would collide with the next older bucket of the same counter before that one has moved.
      const c = ident(column);
      await tx.query(`UPDATE ${ident(table)} SET ${c} = -(${c} - ${hours * 3600})`);
      rows += (await tx.query(`UPDATE ${ident(table)} SET ${c} = -${c}`)).rowCount;
    }
    return rows;
  });
}

/**
 * The replay's clock: advance(h) moves both databases back by h hours and drops koza's in-process counter read cache.
 * `elapsedMs` is how far the world has been moved; an instant read from the database after the run lies that much
 * (less what was advanced before it was written) in the past — simulatedAt() maps it back.
 */
export class TestClock {
  private advancedMs = 0;

  /** `whileTimePasses`: the periodic work a running koza does in those hours (its sweeps), run once after each advance. */
  constructor(private readonly dbs: Db[], private readonly whileTimePasses: () => Promise<unknown> = async () => {}) {}

  get elapsedMs(): number {
    return this.advancedMs;
  }

  /** Simulated now: the wall clock plus what the clock was advanced by. */
  now(): number {
    return Date.now() + this.advancedMs;
  }

  async advance(hours: number): Promise<void> {
    for (const db of this.dbs) await shiftStoredTimes(db, hours);
    this.advancedMs += hours * 3_600_000;
    clearCounterReadCaches();
    await this.whileTimePasses();
  }

  /** The simulated time of an instant read back from the database now (it was shifted by every advance after it). */
  simulatedAt(stored: Date): number {
    return stored.getTime() + this.advancedMs;
  }
}
