// Benchmark of the risk counter store: recordEvent + computeFeatures for a charge (one transaction each), on PGlite
// (in memory) and on a throwaway PostgreSQL 15; prints JSON. Must never touch a database it did not create.
// Usage: npx tsx scripts/bench-risk.ts [--duration 10] [--concurrency 8] [--backend pglite|postgres|both]
//   --concurrency applies to PostgreSQL; PGlite is one connection and is measured with one caller.
import { parseArgs } from 'node:util';
import { openDb } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { benchRiskCounters, type RiskBenchResult } from '../src/risk/bench.js';
import { startThrowawayPostgres } from './throwaway-postgres.mjs';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
    backend: { type: 'string', default: 'both' },
  },
});
const durationMs = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);
if (!(durationMs > 0) || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error('--duration must be a positive number of seconds and --concurrency a positive integer');
  process.exit(2);
}
if (!['pglite', 'postgres', 'both'].includes(values.backend!)) {
  console.error('--backend must be pglite, postgres or both');
  process.exit(2);
}

const results: Record<string, RiskBenchResult> = {};

if (values.backend !== 'postgres') {
  const db = await openDb({ dataDir: 'memory://' });
  try {
    await migrate(db);
    results.pglite = await benchRiskCounters(db, { durationMs, concurrency: 1 });
  } finally {
    await db.close();
  }
}

if (values.backend !== 'pglite') {
  const server = await startThrowawayPostgres({ database: 'koza_bench' });
  try {
    for (const c of [...new Set([1, concurrency])]) {
      const db = await openDb({ databaseUrl: server.url, schema: `bench_c${c}`, poolSize: Math.max(c, 2) });
      try {
        await migrate(db);
        results[`postgres_c${c}`] = await benchRiskCounters(db, { durationMs, concurrency: c });
      } finally {
        await db.close();
      }
    }
  } finally {
    server.stop();
  }
}

console.log(JSON.stringify({ benchmark: 'risk counters: recordEvent + computeFeatures per charge', duration_s: durationMs / 1000, results }, null, 2));
