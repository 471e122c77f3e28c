// Owns the connection to PostgreSQL: PGlite embedded (default) or a server given by DATABASE_URL, one SQL dialect.
// Must never hand out a connection bound to another schema, and never log query parameters (they may hold secrets).
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Config } from '../config.js';

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly backend: 'pglite' | 'postgres';
  readonly schema: string;
  /** Runs fn in one transaction; retried from the start on deadlock, serialization failure or a stale prepared plan. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const INT8_OID = 20;

/** int8 comes back as a JS number, and refuses to if it would lose precision (money must never be rounded). */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} is beyond 2^53`);
  return n;
}

const RETRYABLE = new Set(['40001', '40P01']);
const MAX_TX_ATTEMPTS = 5;

export function isDbError(err: unknown): err is { code: string; constraint?: string; message: string } {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    && /^[0-9A-Z]{5}$/.test((err as { code: string }).code);
}

/**
 * On PostgreSQL, a query with parameters runs as a named prepared statement: parsed and planned once per connection
 * instead of on every call. `koza bench charges` measured PostgreSQL's CPU per charge 6.7 → 3.0 ms and charges/s
 * +70 % (BENCHMARKS.md). The names are bounded: the first MAX_PREPARED distinct texts get one, any further text runs
 * unnamed, so a query built with varying text cannot fill every connection's statement cache.
 */
const MAX_PREPARED = 1000;
const preparedNames = new Map<string, string>();
let preparedGeneration = 0;

function statementName(sql: string): string | undefined {
  let name = preparedNames.get(sql);
  if (name === undefined && preparedNames.size < MAX_PREPARED) {
    name = `koza${preparedGeneration}_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    preparedNames.set(sql, name);
  }
  return name;
}

/**
 * A migration run by another process changed the columns a prepared statement returns (`SELECT *`): PostgreSQL
 * refuses to run it on that connection again. Every name is dropped for a fresh generation, so the statement is
 * prepared again against the new table wherever it runs next.
 */
function isStalePlan(err: unknown): boolean {
  return isDbError(err) && err.code === '0A000' && /cached plan must not change result type/.test(err.message);
}

function assertSchemaName(schema: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name: ${schema}`);
}

export interface OpenOptions {
  databaseUrl?: string | undefined;
  dataDir?: string;
  schema?: string;
  poolSize?: number;
}

export async function openDb(options: OpenOptions): Promise<Db> {
  const schema = options.schema ?? 'public';
  assertSchemaName(schema);
  if (options.databaseUrl) return openPostgres(options.databaseUrl, schema, options.poolSize ?? 10);
  return openPglite(options.dataDir ?? 'memory://', schema);
}

/** Opens the database the configuration names: the PostgreSQL server of DATABASE_URL, else the embedded directory. */
export function openConfiguredDb(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'dbSchema'>): Promise<Db> {
  return openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.dbSchema });
}

async function openPglite(dataDir: string, schema: string): Promise<Db> {
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const lite = await PGlite.create(dataDir, { parsers: { [INT8_OID]: parseInt8 } });
  await lite.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`);
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const res = await q.query<T>(sql, params as unknown[] | undefined);
      return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  const base = wrap(lite);
  return {
    backend: 'pglite',
    schema,
    ...base,
    // PGlite is one connection: its transaction() serialises callers, so retries are never needed.
    transaction: (fn) => lite.transaction((tx) => fn(wrap(tx))),
    close: () => lite.close(),
  };
}

async function openPostgres(url: string, schema: string, poolSize: number): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    options: `-c search_path=${schema}`,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const first = await pool.connect();
  try {
    await first.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  } catch (err) {
    // Two processes creating the same schema at once race on the catalog; the loser finds it there.
    if (!(isDbError(err) && (err.code === '23505' || err.code === '42P06'))) throw err;
  } finally {
    first.release();
  }
  const wrap = (q: pg.Pool | pg.PoolClient, inTransaction: boolean): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const run = () => {
        const name = params !== undefined && params.length > 0 ? statementName(sql) : undefined;
        return name === undefined ? q.query(sql, params) : q.query({ text: sql, values: params, name });
      };
      let res: pg.QueryResult;
      try {
        res = await run();
      } catch (err) {
        if (!isStalePlan(err)) throw err;
        preparedGeneration += 1;
        preparedNames.clear();
        // Inside a transaction the statement aborted it: transaction() runs it again from the start.
        if (inTransaction) throw err;
        res = await run();
      }
      return { rows: res.rows as T[], rowCount: res.rowCount ?? 0 };
    },
    async exec(sql: string) {
      await q.query(sql);
    },
  });
  return {
    backend: 'postgres',
    schema,
    ...wrap(pool, false),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const result = await fn(wrap(client, true));
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          if (((isDbError(err) && RETRYABLE.has(err.code)) || isStalePlan(err)) && attempt < MAX_TX_ATTEMPTS) continue;
          throw err;
        } finally {
          client.release();
        }
      }
    },
    close: () => pool.end(),
  };
}
