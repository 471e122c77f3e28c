// Owns `koza bench`: the measured figures the README quotes, per subject (risk decisions now), on PGlite in memory and
// on PostgreSQL. Must never touch a schema it did not create, nor leave the PostgreSQL server it started running.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { PG_BIN, startThrowawayPostgres, type ThrowawayPostgres } from '../../scripts/throwaway-postgres.mjs';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { benchRiskStep, decisionStep, featuresStep, seedRiskBenchWallets, type RiskBenchResult } from '../risk/bench.js';
import { DEFAULT_RULE_FILE, loadRuleFile } from '../risk/rule-file.js';

type Backend = 'pglite' | 'postgres';

interface BenchSettings {
  durationMs: number;
  concurrency: number;
  backends: Backend[];
  featuresOnly: boolean;
}

/** Where PostgreSQL runs for this invocation: one server for every subject, each measurement in a fresh schema. */
interface PostgresTarget {
  open(poolSize: number): Promise<Db>;
}

interface BenchContext {
  settings: BenchSettings;
  postgres(): Promise<PostgresTarget>;
  progress(line: string): void;
}

/** One thing `koza bench` measures. It returns the keys it adds to the report, and prints nothing on stdout. */
interface BenchSubject {
  summary: string;
  run(ctx: BenchContext): Promise<Record<string, unknown>>;
  /** The human-readable lines for its part of the report. */
  describe(report: Record<string, unknown>): string[];
}

interface RiskFigures {
  decisions_per_s: number;
  p50_ms: number;
  p99_ms: number;
  decisions: number;
  concurrency: number;
}

const WALLETS = 50;

function figures(result: RiskBenchResult): RiskFigures {
  return { decisions_per_s: result.ops_per_s, p50_ms: result.p50_ms, p99_ms: result.p99_ms, decisions: result.ops, concurrency: result.concurrency };
}

/** Seeds a fresh database, then runs the step; progress a line a second. */
async function measureRisk(ctx: BenchContext, db: Db, label: string, concurrency: number): Promise<RiskFigures> {
  const { settings } = ctx;
  const noun = settings.featuresOnly ? 'feature computations' : 'decisions';
  ctx.progress(`${label}: seeding ${WALLETS} wallets`);
  const events = await seedRiskBenchWallets(db, WALLETS);
  const step = settings.featuresOnly ? featuresStep() : decisionStep(db, loadRuleFile(DEFAULT_RULE_FILE));
  ctx.progress(`${label}: ${concurrency} caller${concurrency === 1 ? '' : 's'} for ${settings.durationMs / 1000} s`);
  const result = await benchRiskStep(db, events, step, {
    durationMs: settings.durationMs, concurrency, onProgress: (s, n) => ctx.progress(`${label}: ${s} s, ${n} ${noun}`),
  });
  ctx.progress(`${label}: ${result.ops} ${noun}, ${result.ops_per_s}/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms`);
  return figures(result);
}

const risk: BenchSubject = {
  summary: 'risk decisions: the rule engine on a ¥7,000 charge by an established customer (record the event, '
    + 'compute its features, evaluate the default rules, store the decision), one transaction each',
  async run(ctx) {
    const { settings } = ctx;
    const out: Record<string, RiskFigures> = {};
    if (settings.backends.includes('pglite')) {
      // PGlite is one connection: more callers would only queue behind it.
      const db = await openDb({ dataDir: 'memory://' });
      try {
        await migrate(db);
        out.pglite = await measureRisk(ctx, db, 'risk pglite', 1);
      } finally {
        await db.close();
      }
    }
    if (settings.backends.includes('postgres')) {
      const target = await ctx.postgres();
      // `postgres` is at --concurrency callers, `postgres_c1` at one (the same measurement when --concurrency is 1).
      for (const c of [...new Set([1, settings.concurrency])]) {
        const db = await target.open(Math.max(c, 2));
        try {
          const result = await measureRisk(ctx, db, `risk postgres c${c}`, c);
          if (c === settings.concurrency) out.postgres = result;
          if (c === 1) out.postgres_c1 = result;
        } finally {
          await db.close();
        }
      }
    }
    return { [settings.featuresOnly ? 'risk_features' : 'risk_decisions']: out };
  },
  describe(report) {
    const featuresOnly = 'risk_features' in report;
    const results = (report.risk_decisions ?? report.risk_features) as Record<string, RiskFigures> | undefined;
    if (!results) return [];
    const unit = featuresOnly ? 'feature computations/s' : 'decisions/s';
    return [
      featuresOnly ? 'risk features (record the event, compute its features; no rules):' : 'risk decisions (full engine, default rules, one charge each):',
      ...Object.entries(results).map(([backend, r]) => `  ${backend.padEnd(12)} ${String(r.decisions_per_s).padStart(8)} ${unit}  `
        + `p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  (${r.decisions} in all, ${r.concurrency} caller${r.concurrency === 1 ? '' : 's'})`),
    ];
  },
};

/** Subjects in the order bare `koza bench` runs them; issue 6 adds end-to-end charges here. */
const SUBJECTS: Record<string, BenchSubject> = { risk };

function machine(postgresVersion: string | undefined) {
  return {
    cpus: availableParallelism(),
    cpu_model: cpus()[0]?.model.trim() ?? 'unknown',
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    ...(postgresVersion ? { postgres: postgresVersion } : {}),
  };
}

/** Opens fresh schemas on a server: the one given, or a throwaway one started on first use. */
class PostgresServers {
  private server: ThrowawayPostgres | undefined;
  private url: string | undefined;
  private readonly created: string[] = [];
  version: string | undefined;

  constructor(private readonly givenUrl: string | undefined, private readonly progress: (line: string) => void) {}

  async target(): Promise<PostgresTarget> {
    if (this.url === undefined) {
      if (this.givenUrl !== undefined) {
        this.url = this.givenUrl;
      } else {
        if (!existsSync(join(PG_BIN, 'postgres'))) {
          throw new Error(`PostgreSQL 15 is not installed (${PG_BIN}/postgres); use --backend pglite or --database-url URL`);
        }
        this.progress('starting a throwaway PostgreSQL 15');
        this.server = await startThrowawayPostgres({ database: 'koza_bench' });
        this.url = this.server.url;
      }
    }
    const url = this.url;
    return {
      open: async (poolSize) => {
        const schema = `bench_${randomBytes(6).toString('hex')}`;
        const db = await openDb({ databaseUrl: url, schema, poolSize });
        this.created.push(schema);
        try {
          await migrate(db);
          this.version ??= (await db.query<{ v: string }>(`SELECT split_part(current_setting('server_version'), ' ', 1) AS v`)).rows[0]?.v;
        } catch (err) {
          await db.close();
          throw err;
        }
        return db;
      },
    };
  }

  /** Drops the schemas made on a given server (a throwaway one goes whole); stops the throwaway server. */
  async close(): Promise<void> {
    if (this.givenUrl !== undefined && this.created.length > 0) {
      const db = await openDb({ databaseUrl: this.givenUrl, poolSize: 1 });
      try {
        for (const schema of this.created) await db.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await db.close();
      }
    }
    this.stopNow();
  }

  /** Synchronous, for signal and exit handlers. */
  stopNow(): void {
    this.server?.stop();
    this.server = undefined;
  }
}

function fail(message: string): number {
  process.stderr.write(`koza: ${message}; run 'koza bench --help'\n`);
  return 2;
}

export const benchCommand = {
  summary: 'Measure koza on this machine: risk decisions per second on PGlite and PostgreSQL (more subjects to come)',
  usage: `koza bench [risk] [--duration S] [--concurrency N] [--backend pglite|postgres|both] [--database-url URL] [--features-only] [--json]

  risk           ${risk.summary}.
                 PGlite in memory with one caller; PostgreSQL at --concurrency callers and at 1.
  (no subject)   every subject: today, risk only.
  --duration     seconds per measurement (default 10)
  --concurrency  PostgreSQL callers at once (default 8)
  --backend      pglite, postgres or both (default both)
  --database-url measure on this PostgreSQL server, in fresh schemas dropped afterwards, instead of starting a
                 throwaway PostgreSQL 15 (needs ${PG_BIN})
  --features-only  risk: record the event and compute its features only (no rules, nothing stored)
  --json         one JSON object on stdout; progress always goes to stderr`,
  options: {
    duration: { type: 'string' }, concurrency: { type: 'string' }, backend: { type: 'string' }, 'database-url': { type: 'string' },
    'features-only': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  } satisfies NonNullable<ParseArgsConfig['options']>,
  positionals: true,
  async run(values: Record<string, string | boolean | undefined>, positionals: string[] = []): Promise<number> {
    if (positionals.length > 1) return fail(`one subject at a time, not '${positionals.join(' ')}'`);
    const named = positionals[0];
    if (named !== undefined && !Object.hasOwn(SUBJECTS, named)) return fail(`unknown subject '${named}' (subjects: ${Object.keys(SUBJECTS).join(', ')})`);
    const duration = values.duration === undefined ? 10 : Number(values.duration);
    if (!Number.isFinite(duration) || duration <= 0 || duration > 3600) return fail('--duration must be a number of seconds from 0 to 3600');
    const concurrency = values.concurrency === undefined ? 8 : Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 128) return fail('--concurrency must be a whole number from 1 to 128');
    const backend = values.backend ?? 'both';
    if (backend !== 'pglite' && backend !== 'postgres' && backend !== 'both') return fail('--backend must be pglite, postgres or both');
    const databaseUrl = typeof values['database-url'] === 'string' ? values['database-url'] : undefined;
    if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) return fail('--database-url must be a postgres:// URL');
    if (databaseUrl !== undefined && backend === 'pglite') return fail('--database-url needs --backend postgres or both');

    const progress = (line: string) => process.stderr.write(`${line}\n`);
    const settings: BenchSettings = {
      durationMs: duration * 1000, concurrency, backends: backend === 'both' ? ['pglite', 'postgres'] : [backend],
      featuresOnly: values['features-only'] === true,
    };
    const subjects = named === undefined ? Object.keys(SUBJECTS) : [named];
    if (named === undefined) progress(`koza bench: every subject (${subjects.join(', ')}); 'koza bench <subject>' runs one`);

    const servers = new PostgresServers(databaseUrl, progress);
    // Ctrl-C must not leave the throwaway server running.
    const onSignal = (signal: NodeJS.Signals) => {
      servers.stopNow();
      process.stderr.write(`koza: ${signal}: stopped\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    const onExit = () => servers.stopNow();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', onExit);
    const report: Record<string, unknown> = {};
    try {
      const ctx: BenchContext = { settings, progress, postgres: () => servers.target() };
      for (const name of subjects) Object.assign(report, await SUBJECTS[name]!.run(ctx));
    } finally {
      await servers.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('exit', onExit);
    }
    report.machine = machine(servers.version);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      const m = report.machine as ReturnType<typeof machine>;
      const lines = subjects.flatMap((name) => SUBJECTS[name]!.describe(report));
      lines.push(`machine: ${m.cpus} CPUs (${m.cpu_model}), ${m.memory_gib} GiB, node ${m.node}, ${m.platform}`
        + `${m.postgres ? `, PostgreSQL ${m.postgres}` : ''}; ${duration} s per measurement`);
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return 0;
  },
};
