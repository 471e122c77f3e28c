// Owns the databases tests run on: the same tests on PGlite (embedded) and on a PostgreSQL server (SPEC §11).
// Must never open a test database on anything but KOZA_TEST_DATABASE_URL, which `npm test` points at a throwaway server.
import { randomBytes } from 'node:crypto';
import { after, before, describe } from 'node:test';
import { openDb, type Db } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';

export type BackendName = 'pglite' | 'postgres';

export interface TestBackend {
  name: BackendName;
  /** A migrated Db on a fresh schema (PGlite: a fresh in-memory database, ~3 s to open: open one per file). */
  open(): Promise<Db>;
  /** A Db on a fresh, empty schema: nothing migrated. */
  openEmpty(): Promise<Db>;
}

const ALL: BackendName[] = ['pglite', 'postgres'];

/** The throwaway server's URL, or a clear error: tests that need PostgreSQL run through `npm test`. */
export function testDatabaseUrl(): string {
  const url = process.env.KOZA_TEST_DATABASE_URL;
  if (!url) {
    throw new Error(
      'KOZA_TEST_DATABASE_URL is not set. Run the tests with `npm test` (or `node scripts/test.mjs <filter>`), '
      + 'which starts a throwaway PostgreSQL 15 and sets it; for a quick PGlite-only run set KOZA_TEST_BACKENDS=pglite.',
    );
  }
  return url;
}

/** A schema name no other test uses; schemas are left behind, the server is thrown away after the run. */
export function freshSchemaName(): string {
  return `t_${randomBytes(8).toString('hex')}`;
}

function selectedBackends(): BackendName[] {
  const raw = process.env.KOZA_TEST_BACKENDS;
  if (!raw) return ALL;
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (!ALL.includes(name as BackendName)) {
      throw new Error(`KOZA_TEST_BACKENDS: unknown backend "${name}"; expected a comma-separated list of ${ALL.join(', ')}`);
    }
  }
  return names as BackendName[];
}

function backend(name: BackendName): TestBackend {
  if (name === 'pglite') {
    return {
      name,
      async open() {
        const db = await openDb({ dataDir: 'memory://' });
        await migrate(db);
        return db;
      },
      openEmpty: () => openDb({ dataDir: 'memory://' }),
    };
  }
  const databaseUrl = testDatabaseUrl();
  return {
    name,
    async open() {
      const db = await openDb({ databaseUrl, schema: freshSchemaName(), poolSize: 10 });
      try {
        await migrate(db);
      } catch (err) {
        await db.close();
        throw err;
      }
      return db;
    },
    openEmpty: () => openDb({ databaseUrl, schema: freshSchemaName(), poolSize: 10 }),
  };
}

/** The backends this run tests on: both under `npm test`; KOZA_TEST_BACKENDS=pglite for a quick local run. */
export function backends(): TestBackend[] {
  const names = selectedBackends();
  // Checked here rather than at open() so that a forgotten server fails loudly, not as a skipped backend.
  if (names.includes('postgres')) testDatabaseUrl();
  return names.map(backend);
}

/**
 * One `describe` per backend, with a migrated Db opened before its tests and closed after them:
 *   forEachBackend('ledger', (db) => { it('...', async () => { await createTransfer(db(), ...) }) })
 */
export function forEachBackend(title: string, fn: (getDb: () => Db, backend: TestBackend) => void): void {
  for (const b of backends()) {
    describe(`${title} [${b.name}]`, () => {
      let db: Db | undefined;
      before(async () => {
        db = await b.open();
      });
      after(async () => {
        await db?.close();
      });
      fn(() => {
        if (!db) throw new Error(`the ${b.name} test database is not open (used outside a test?)`);
        return db;
      }, b);
    });
  }
}
