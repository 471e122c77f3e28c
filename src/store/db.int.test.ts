// Prepared statements on PostgreSQL: queries with parameters are prepared once per connection, and a migration that
// changes a table under them (another process's `koza migrate`) does not break the connections that prepared them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backends, freshSchemaName, testDatabaseUrl } from '../../test-support/backends.js';
import { openDb } from './db.js';

if (backends().some((b) => b.name === 'postgres')) {
  describe('db on PostgreSQL: prepared statements', () => {
    it('runs the same parameterised query again and again on one connection, with fresh parameters each time', async () => {
      const db = await openDb({ databaseUrl: testDatabaseUrl(), schema: freshSchemaName(), poolSize: 1 });
      try {
        await db.exec('CREATE TABLE t (id int PRIMARY KEY, name text)');
        for (let i = 1; i <= 8; i++) await db.query('INSERT INTO t (id, name) VALUES ($1, $2)', [i, `n${i}`]);
        for (let i = 1; i <= 8; i++) {
          const { rows } = await db.query<{ name: string }>('SELECT name FROM t WHERE id = $1', [i]);
          assert.deepEqual(rows, [{ name: `n${i}` }]);
        }
        const prepared = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'koza%' AND $1::int = 1`, [1]);
        assert.ok(prepared.rows[0]!.n >= 2, 'the parameterised statements are prepared on the connection');
      } finally {
        await db.close();
      }
    });

    it('survives a column added by another connection under a prepared SELECT *, alone and inside a transaction', async () => {
      const schema = freshSchemaName();
      const db = await openDb({ databaseUrl: testDatabaseUrl(), schema, poolSize: 1 });
      const migrator = await openDb({ databaseUrl: testDatabaseUrl(), schema, poolSize: 1 });
      try {
        await db.exec('CREATE TABLE t (id int PRIMARY KEY, a text)');
        await db.query('INSERT INTO t (id, a) VALUES ($1, $2)', [1, 'x']);
        const select = 'SELECT * FROM t WHERE id = $1';
        assert.deepEqual((await db.query(select, [1])).rows, [{ id: 1, a: 'x' }]);

        await migrator.exec(`ALTER TABLE t ADD COLUMN b text NOT NULL DEFAULT 'y'`);
        assert.deepEqual((await db.query(select, [1])).rows, [{ id: 1, a: 'x', b: 'y' }]);

        await db.transaction((tx) => tx.query(select, [1]));
        await migrator.exec(`ALTER TABLE t ADD COLUMN c text NOT NULL DEFAULT 'z'`);
        let runs = 0;
        const rows = await db.transaction(async (tx) => {
          runs += 1;
          await tx.query('UPDATE t SET a = $2 WHERE id = $1', [1, `x${runs}`]);
          return (await tx.query(select, [1])).rows;
        });
        assert.equal(runs, 2, 'the transaction ran again from the start');
        assert.deepEqual(rows, [{ id: 1, a: 'x2', b: 'y', c: 'z' }]);
        assert.deepEqual((await migrator.query('SELECT a FROM t WHERE id = $1', [1])).rows, [{ a: 'x2' }], 'the first run was rolled back');
      } finally {
        await db.close();
        await migrator.close();
      }
    });
  });
}
