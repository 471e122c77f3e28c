// `koza bench` as a user runs it: real decisions on PGlite, and on the test PostgreSQL server through --database-url
// (in schemas and databases of its own, dropped afterwards); payments and charges end to end through a koza process;
// pgbench on the same server; one JSON object on stdout. Small configurations; never asserts timings.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { backends, testDatabaseUrl } from '../../test-support/backends.js';
import { KOZA_BIN } from '../../test-support/koza-process.js';
import { openDb } from '../store/db.js';

/** Asynchronous, so that other tests in this process keep running while a measurement takes its seconds. */
function koza(args: string[], timeoutMs = 120_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [KOZA_BIN, ...args], {
    env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  return new Promise((resolve) => child.once('close', (status) => {
    clearTimeout(timer);
    resolve({ status, stdout, stderr });
  }));
}

function assertFigures(figures: unknown, concurrency: number, label: string): void {
  const f = figures as Record<string, unknown>;
  assert.deepEqual(Object.keys(f).sort(), ['concurrency', 'decisions', 'decisions_per_s', 'p50_ms', 'p99_ms'], label);
  for (const key of ['decisions_per_s', 'p50_ms', 'p99_ms', 'decisions']) assert.equal(typeof f[key], 'number', `${label}.${key}`);
  assert.ok((f.decisions as number) > 0, `${label}: decisions were made`);
  assert.ok((f.decisions_per_s as number) > 0, label);
  assert.ok((f.p99_ms as number) >= (f.p50_ms as number), label);
  assert.equal(f.concurrency, concurrency, label);
}

function assertMachine(machine: unknown): void {
  const m = machine as Record<string, unknown>;
  assert.equal(typeof m.cpus, 'number');
  assert.ok((m.cpus as number) >= 1);
  assert.equal(m.node, process.version);
}

describe('koza bench', () => {
  it('refuses bad flags and unknown subjects with one line and exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['bench', 'risk', '--duration', 'soon'], /^koza: --duration must be/],
      [['bench', 'risk', '--concurrency', '0'], /^koza: --concurrency must be/],
      [['bench', 'risk', '--backend', 'mysql'], /^koza: --backend must be pglite, postgres or both/],
      [['bench', 'risk', '--database-url', 'mysql://x'], /^koza: --database-url must be a postgres/],
      [['bench', 'refunds'], /^koza: unknown subject 'refunds'/],
      [['bench', 'charges', '--connections', '0'], /^koza: --connections must be/],
      [['bench', 'charges', '--wallets', 'many'], /^koza: --wallets must be/],
      [['bench', 'pgbench', '--scale', '0'], /^koza: --scale must be/],
      [['bench', 'pgbench', '--backend', 'pglite'], /^koza: pgbench measures a PostgreSQL server/],
      [['bench', 'charges', '--bank', 'remote'], /^koza: --bank must be inside or process/],
      [['bench', 'risk', 'risk'], /^koza: one subject at a time/],
      [['bench', '--bogus'], /^koza: Unknown option '--bogus'/],
    ];
    for (const [args, stderr] of cases) {
      const res = await koza(args);
      assert.equal(res.status, 2, `koza ${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, stderr, `koza ${args.join(' ')}`);
      assert.equal(res.stderr.split('\n').filter(Boolean).length, 1, `one line: ${res.stderr}`);
      assert.equal(res.stdout, '');
    }
  });

  it('says what it measures in --help', () => {
    const res = spawnSync(process.execPath, [KOZA_BIN, 'bench', '--help'], { encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } });
    assert.equal(res.status, 0);
    assert.match(res.stdout, /Usage: koza bench \[risk\|payments\|charges\|pgbench\]/);
    assert.match(res.stdout, /shadow mode/);
  });

  const names = backends().map((b) => b.name);

  if (names.includes('pglite')) {
    it('measures full risk decisions on PGlite and prints one JSON object, progress on stderr', async () => {
      const res = await koza(['bench', 'risk', '--duration', '1', '--backend', 'pglite', '--json']);
      assert.equal(res.status, 0, res.stderr);
      const report = JSON.parse(res.stdout) as Record<string, Record<string, unknown>>;
      assert.deepEqual(Object.keys(report).sort(), ['machine', 'risk_decisions', 'risk_decisions_per_s', 'settings']);
      assert.equal(report.risk_decisions_per_s, (report.risk_decisions!.pglite as Record<string, unknown>).decisions_per_s);
      assert.deepEqual(Object.keys(report.risk_decisions!), ['pglite']);
      assertFigures(report.risk_decisions!.pglite, 1, 'pglite');
      assertMachine(report.machine);
      assert.match(res.stderr, /risk pglite: seeding/);
      assert.match(res.stderr, /risk pglite: \d+ decisions, /);
    });

    it('without --json prints a readable report', async () => {
      const res = await koza(['bench', 'risk', '--duration', '0.5', '--backend', 'pglite', '--features-only']);
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stdout, /^risk features .*\n {2}pglite +[\d.]+ feature computations\/s {2}p50 [\d.]+ ms {2}p99 [\d.]+ ms/);
      assert.match(res.stdout, /\nmachine: \d+ CPUs/);
    });

    it('charges end to end through a koza process on PGlite, readable report, ledger checked', async () => {
      const res = await koza(['bench', 'charges', '--duration', '1', '--backend', 'pglite', '--connections', '1', '--wallets', '1']);
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stderr, /charges pglite: seeding 1 wallet through the API/);
      assert.match(res.stderr, /charges pglite: [\d.]+\/s, p50 [\d.]+ ms, p99 [\d.]+ ms; ledger agrees \(wallets hold ¥(\d+), banks gave ¥\1,/);
      assert.match(res.stdout, /^charges end to end .*\n {2}pglite +[\d.]+ charges\/s {2}p50 [\d.]+ ms {2}p99 [\d.]+ ms {2}\(\d+ answered, 1 connection, 1 wallet\)/);
    });
  }

  if (names.includes('postgres')) {
    it('bare `koza bench --json`: every subject, pgbench on the same server, the ratio; leaves no database behind', async () => {
      const url = testDatabaseUrl();
      const both = names.includes('pglite');
      const res = await koza(['bench', '--duration', '1', '--connections', '2', '--concurrency', '2', '--wallets', '2',
        '--backend', both ? 'both' : 'postgres', '--database-url', url, '--json'], 240_000);
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stderr, /every subject \(risk, payments, charges, pgbench\)/);
      const report = JSON.parse(res.stdout) as Record<string, unknown>;
      const measured = both ? ['pglite', 'postgres'] : ['postgres'];
      for (const key of ['charges_per_s', 'charge_p99_ms', 'payments_per_s']) {
        const byBackend = report[key] as Record<string, unknown>;
        assert.deepEqual(Object.keys(byBackend).sort(), measured, key);
        for (const b of measured) {
          assert.equal(typeof byBackend[b], 'number', `${key}.${b}`);
          assert.ok((byBackend[b] as number) > 0, `${key}.${b} > 0`);
        }
      }
      for (const key of ['risk_decisions_per_s', 'pgbench_tps', 'ratio_postgres_to_pgbench']) {
        assert.equal(typeof report[key], 'number', key);
        assert.ok((report[key] as number) > 0, `${key} > 0`);
      }
      const ratio = (report.charges_per_s as Record<string, number>).postgres! / (report.pgbench_tps as number);
      assert.ok(Math.abs((report.ratio_postgres_to_pgbench as number) - ratio) <= 0.0005 + 1e-9, 'ratio = charges/s ÷ pgbench tps');
      const pgbench = report.pgbench as Record<string, number>;
      assert.equal(pgbench.clients, 2, 'pgbench runs as many clients as the HTTP load has connections');
      assert.equal(pgbench.scale, 2);
      const charges = report.charges as Record<string, Record<string, number>>;
      for (const b of measured) {
        assert.equal(charges[b]!.connections, 2);
        assert.equal(charges[b]!.wallets, 2);
        assert.ok(charges[b]!.in_ledger! >= charges[b]!.answered!, 'every answered charge is in the ledger');
      }
      assertMachine(report.machine);
      const db = await openDb({ databaseUrl: url, poolSize: 1 });
      try {
        const left = await db.query(`SELECT datname FROM pg_database WHERE datname LIKE 'koza\\_bench\\_%'`);
        assert.deepEqual(left.rows, [], 'its databases are gone');
      } finally {
        await db.close();
      }
    });

    it('measures on an existing PostgreSQL server at 1 and N callers, in schemas it drops afterwards', async () => {
      const url = testDatabaseUrl();
      const res = await koza(['bench', 'risk', '--duration', '1', '--backend', 'postgres', '--concurrency', '3', '--database-url', url, '--json']);
      assert.equal(res.status, 0, res.stderr);
      const report = JSON.parse(res.stdout) as Record<string, Record<string, unknown>>;
      assert.deepEqual(Object.keys(report.risk_decisions!).sort(), ['postgres', 'postgres_c1']);
      assertFigures(report.risk_decisions!.postgres, 3, 'postgres');
      assertFigures(report.risk_decisions!.postgres_c1, 1, 'postgres_c1');
      assertMachine(report.machine);
      assert.match(String(report.machine!.postgres), /^\d+(\.\d+)?/);
      assert.doesNotMatch(res.stderr, /throwaway/, 'it used the server it was given');
      const db = await openDb({ databaseUrl: url, poolSize: 1 });
      try {
        const left = await db.query(`SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'bench\\_%'`);
        assert.deepEqual(left.rows, [], 'its schemas are gone');
      } finally {
        await db.close();
      }
    });
  }
});
