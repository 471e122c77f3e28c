// Owns the PostgreSQL baseline of `koza bench`: pgbench's TPC-B-like script on the server koza was measured on.
// Must never run pgbench anywhere but the database it is given (which `koza bench` creates for it and drops).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PG_BIN } from '../../scripts/throwaway-postgres.mjs';

export interface PgbenchOptions {
  /** A database pgbench may fill with its pgbench_* tables. */
  url: string;
  clients: number;
  durationS: number;
  /** pgbench's scale: 100,000 accounts and one branch per unit. */
  scale: number;
  label: string;
  progress(line: string): void;
}

export interface PgbenchResult {
  tps: number;
  latency_avg_ms: number;
  transactions: number;
  clients: number;
  threads: number;
  scale: number;
  duration_s: number;
}

export const PGBENCH = join(PG_BIN, 'pgbench');

/** Runs pgbench to completion; stderr lines (its -P progress) go to `onLine`. Rejects with its last words on failure. */
function pgbench(args: string[], onLine: (line: string) => void): Promise<string> {
  const child = spawn(PGBENCH, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PGAPPNAME: 'koza-bench' } });
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    const lines = (partial + s).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') onLine(line.trim());
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`pgbench ${args[0]} exited ${code}: ${(stderr || stdout).trim().split('\n').slice(-2).join(' | ')}`));
    });
  });
}

/**
 * `pgbench -i` (data generated server-side, primary keys, no foreign keys: the standard TPC-B-like tables), then
 * `pgbench -c <clients> -j 2 -T <seconds>`. Scale should be at least the client count: below it, clients queue on
 * the few pgbench_branches rows and the baseline measures that lock, not the server.
 */
export async function runPgbench(options: PgbenchOptions): Promise<PgbenchResult> {
  if (!existsSync(PGBENCH)) throw new Error(`pgbench is not installed (${PGBENCH}); install postgresql-15 or use --backend pglite`);
  const { label, progress } = options;
  const threads = Math.min(2, options.clients);
  progress(`${label}: initialising scale ${options.scale} (${options.scale * 100_000} accounts)`);
  await pgbench(['-i', '-I', 'dtGvp', '-s', String(options.scale), '-q', options.url], () => {});
  progress(`${label}: TPC-B, ${options.clients} client${options.clients === 1 ? '' : 's'}, ${threads} thread${threads === 1 ? '' : 's'}, ${options.durationS} s`);
  const out = await pgbench(
    ['-c', String(options.clients), '-j', String(threads), '-T', String(options.durationS), '-P', '1', '-n', options.url],
    (line) => {
      const tick = /^progress: ([\d.]+) s, ([\d.]+) tps, lat ([\d.]+) ms/.exec(line);
      if (tick) progress(`${label}: ${Math.round(Number(tick[1]))} s, ${Math.round(Number(tick[2]))} tps, ${tick[3]} ms`);
    },
  );
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  const latency = /latency average = ([\d.]+) ms/.exec(out);
  const transactions = /number of transactions actually processed: (\d+)/.exec(out);
  if (!tps || !transactions) throw new Error(`pgbench: no tps in its report: ${out.trim().split('\n').slice(-3).join(' | ')}`);
  const result: PgbenchResult = {
    tps: Math.round(Number(tps[1]) * 10) / 10, latency_avg_ms: latency ? Number(latency[1]) : 0, transactions: Number(transactions[1]),
    clients: options.clients, threads, scale: options.scale, duration_s: options.durationS,
  };
  progress(`${label}: ${result.tps} tps, ${result.latency_avg_ms} ms average`);
  return result;
}
