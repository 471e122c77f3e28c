// Tests schema migrations on PGlite and PostgreSQL: applied once, in order, atomically, also when processes race.
// Must never migrate a schema another test uses: every test opens a fresh one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backends, freshSchemaName, testDatabaseUrl } from '../../test-support/backends.js';
import { isDbError, openDb, type Db } from './db.js';
import { listMigrations, migrate, type Migration } from './migrate.js';

async function tableExists(db: Db, table: string): Promise<boolean> {
  const res = await db.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [table]);
  return res.rows[0]!.found !== null;
}

async function recordedVersions(db: Db): Promise<string[]> {
  const res = await db.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
  return res.rows.map((r) => r.version);
}

describe('listMigrations', () => {
  it('lists the numbered SQL files in order', () => {
    const versions = listMigrations().map((m) => m.version);
    assert.ok(versions.length >= 1);
    assert.deepEqual(versions, [...versions].sort());
    for (const v of versions) assert.match(v, /^\d{4}_[a-z0-9_]+$/);
    assert.equal(versions[0], '0001_ledger');
  });
});

for (const backend of backends()) {
  describe(`migrate [${backend.name}]`, () => {
    // PGlite takes seconds to open: one fresh, empty database for the tests below that share it.
    let db: Db;
    before(async () => {
      db = await backend.openEmpty();
    });
    after(async () => {
      await db?.close();
    });

    it('applies every migration on an empty schema, then nothing', async () => {
      const all = listMigrations().map((m) => m.version);
      assert.deepEqual(await migrate(db), all);
      assert.deepEqual(await recordedVersions(db), all);
      assert.ok(await tableExists(db, 'ledger_transfers'));
      assert.deepEqual(await migrate(db), []);
      assert.deepEqual(await recordedVersions(db), all);
    });

    it('applies a migration whole or not at all, and records only what it applied', async () => {
      const good: Migration = { version: '9001_good', sql: 'CREATE TABLE mig_good (x integer);' };
      const bad: Migration = {
        version: '9002_bad',
        sql: 'CREATE TABLE mig_half (x integer); INSERT INTO mig_half VALUES (1); SELECT 1 / 0;',
      };
      await assert.rejects(migrate(db, [good, bad]), (err) => isDbError(err) && err.code === '22012');
      assert.ok(await tableExists(db, 'mig_good'));
      assert.ok(!(await tableExists(db, 'mig_half')), 'the failed migration left nothing behind');
      assert.ok((await recordedVersions(db)).includes('9001_good'));
      assert.ok(!(await recordedVersions(db)).includes('9002_bad'));

      const fixed: Migration = { version: '9002_bad', sql: 'CREATE TABLE mig_half (x integer);' };
      assert.deepEqual(await migrate(db, [good, fixed]), ['9002_bad']);
      assert.ok(await tableExists(db, 'mig_half'));
    });
  });
}

if (backends().some((b) => b.name === 'postgres')) {
  describe('migrate [postgres, several processes]', () => {
    const opened: Db[] = [];
    after(async () => {
      await Promise.all(opened.map((db) => db.close()));
    });

    /** Four processes (pools) on one fresh schema migrate at once, round after round; counts the errors by kind. */
    async function raceMigrations(rounds: number, prepare: (db: Db) => Promise<void>): Promise<Record<string, number>> {
      const all = listMigrations().map((m) => m.version);
      const failures: Record<string, number> = {};
      for (let round = 0; round < rounds; round++) {
        const schema = freshSchemaName();
        const dbs = await Promise.all(Array.from({ length: 4 }, () =>
          openDb({ databaseUrl: testDatabaseUrl(), schema, poolSize: 2 })));
        opened.push(...dbs);
        await prepare(dbs[0]!);
        const results = await Promise.allSettled(dbs.map((db) => migrate(db)));
        for (const r of results) {
          if (r.status === 'rejected') {
            const err = r.reason as { code?: string; message?: string };
            const kind = `${err.code ?? ''} ${err.message ?? String(err)}`;
            failures[kind] = (failures[kind] ?? 0) + 1;
          }
        }
        if (results.every((r) => r.status === 'fulfilled')) {
          const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
          assert.deepEqual([...applied].sort(), all, `round ${round}: every migration applied exactly once`);
        }
        assert.deepEqual(await recordedVersions(dbs[0]!), all, `round ${round}: recorded once each`);
      }
      return failures;
    }

    // The advisory lock: once the bookkeeping table exists, racing processes apply each migration once.
    it('applies each migration once when several processes migrate one schema at once', async () => {
      const failures = await raceMigrations(10, async (db) => {
        await db.exec(`CREATE TABLE schema_migrations (
          version text PRIMARY KEY,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`);
      });
      assert.deepEqual(failures, {}, 'every process migrated without an error');
    });

    // Several API processes starting at once on a brand-new database (SPEC §11) must all come up:
    // CREATE TABLE IF NOT EXISTS is not safe against itself, so migrate() makes its table under the lock.
    it('brings several processes up on a brand-new schema at once', async () => {
      const failures = await raceMigrations(5, async () => {});
      assert.deepEqual(failures, {}, 'every process migrated without an error');
    });

    it('keeps schemas apart: migrating one schema touches no other', async () => {
      const a = await openDb({ databaseUrl: testDatabaseUrl(), schema: freshSchemaName(), poolSize: 2 });
      const b = await openDb({ databaseUrl: testDatabaseUrl(), schema: freshSchemaName(), poolSize: 2 });
      opened.push(a, b);
      await migrate(a);
      assert.ok(await tableExists(a, 'ledger_transfers'));
      assert.ok(!(await tableExists(b, 'ledger_transfers')));
      assert.ok(!(await tableExists(b, 'schema_migrations')));
      assert.deepEqual(await migrate(b), listMigrations().map((m) => m.version));
    });
  });
}
