// Owns the world an attack replay runs in: a bank sandbox (35 banks from the population seed) and a koza under the
// chosen policy, each on a free loopback port and on storage of its own — in memory, or fresh schemas on DATABASE_URL.
// Must never touch a schema it did not create, nor leave a server or schema behind after close().
import { randomBytes } from 'node:crypto';
import { loadConfig, SANDBOX_BANK_KEY_SEED, type PolicyName } from '../config.js';
import { startKoza, type RunningKoza } from '../server.js';
import { openDb, type Db } from '../store/db.js';
import { BANK_SANDBOX_SCHEMA, startBankSandbox, type RunningBankSandbox } from '../sandbox/banks/server.js';
import { DEFAULT_BANK_COUNT } from '../sandbox/banks/seed.js';
import { TestClock } from './test-clock.js';

export interface WorldOptions {
  policy: PolicyName;
  /** A PostgreSQL server to run on (fresh schemas, dropped at close); the embedded database in memory when unset. */
  databaseUrl: string | undefined;
  /** The environment koza's other settings come from (rule file, limits, cooling-off); the replay sets the rest. */
  env: Record<string, string | undefined>;
}

export interface AttackWorld {
  kozaUrl: string;
  banksUrl: string;
  /** koza's own database: the ledger and tables the tally counts from. */
  db: Db;
  /** The banks' books (the sandbox's schema): the test clock moves their times with koza's. */
  banksDb: Db;
  /** Advances koza and the banks together by whole hours (src/attack/test-clock.ts). */
  clock: TestClock;
  /** koza's server key: the tally derives the risk log's keyed references of typed account numbers with it. */
  secretKey: Buffer;
  backend: 'pglite' | 'postgres';
  sandbox: RunningBankSandbox;
  close(): Promise<void>;
}

/** Starts the bank sandbox, then koza pointed at it; on any failure what was started is stopped again. */
export async function startWorld(options: WorldOptions): Promise<AttackWorld> {
  const suffix = randomBytes(5).toString('hex');
  const kozaSchema = `attack_${suffix}`;
  const banksSchema = `attack_${suffix}_banks`;
  const { databaseUrl } = options;
  const sandboxSeed = options.env.KOZA_SANDBOX_SEED && options.env.KOZA_SANDBOX_SEED !== '' ? options.env.KOZA_SANDBOX_SEED : '2020';
  const config = loadConfig({
    ...options.env,
    PORT: '0', HOST: '127.0.0.1', KOZA_DATA: 'memory://', DATABASE_URL: databaseUrl ?? '', KOZA_DB_SCHEMA: databaseUrl ? kozaSchema : 'public',
    KOZA_SECRET_KEY: randomBytes(32).toString('hex'), KOZA_SANDBOX: 'true', KOZA_SANDBOX_SEED: sandboxSeed, KOZA_POLICY: options.policy,
    // Every simulated client reaches koza through this process on 127.0.0.1, as customers reach a real deployment through
    // its proxy: their own addresses arrive in X-Forwarded-For, which koza believes from 127.0.0.1 only.
    KOZA_TRUST_PROXY: '127.0.0.1', KOZA_BANK_KEY_SEED: SANDBOX_BANK_KEY_SEED, LOG_LEVEL: 'silent',
  });
  const created: string[] = [];
  const dropSchemas = async () => {
    if (!databaseUrl || created.length === 0) return;
    const admin = await openDb({ databaseUrl, poolSize: 1 });
    try {
      for (const schema of created) await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await admin.close();
    }
  };
  let banksDb: Db | undefined;
  let sandbox: RunningBankSandbox | undefined;
  let koza: RunningKoza | undefined;
  try {
    banksDb = databaseUrl
      ? await openDb({ databaseUrl, schema: banksSchema, poolSize: 4 })
      : await openDb({ dataDir: 'memory://', schema: BANK_SANDBOX_SCHEMA });
    if (databaseUrl) created.push(banksSchema);
    sandbox = await startBankSandbox({
      seed: config.sandboxSeed, bankCount: DEFAULT_BANK_COUNT, keySeed: SANDBOX_BANK_KEY_SEED, port: 0, host: '127.0.0.1', db: banksDb,
    });
    if (databaseUrl) created.push(kozaSchema);
    koza = await startKoza({ ...config, bankSandboxUrl: sandbox.url });
    // The receiving bank reports pay-ins by bank transfer to koza (holders at banks koza cannot link fund this way).
    sandbox.deliverPayInsTo(koza.url);
  } catch (err) {
    await koza?.close().catch(() => {});
    await sandbox?.close().catch(() => {});
    await banksDb?.close().catch(() => {});
    await dropSchemas().catch(() => {});
    throw err;
  }
  const running = { koza, sandbox, banksDb };
  return {
    kozaUrl: koza.url, banksUrl: sandbox.url, db: koza.db, banksDb, clock: new TestClock([koza.db, banksDb], () => koza.runPeriodicWorkOnce()), secretKey: config.secretKey, backend: koza.db.backend, sandbox,
    async close() {
      await running.koza.close();
      await running.sandbox.close();
      await running.banksDb.close();
      await dropSchemas();
    },
  };
}
