// Owns starting and stopping koza: open storage, migrate, serve the API, shut down cleanly.
// Must never serve before migrations have been applied.
import type { Config } from './config.js';
import { openConfiguredDb, openDb, type Db } from './store/db.js';
import { migrate } from './store/migrate.js';
import type { App } from './http/context.js';
import { BANK_SANDBOX_SCHEMA, startBankSandbox, type RunningBankSandbox } from './sandbox/banks/server.js';
import { reconcileOnce, startReconciler } from './banks/reconciler.js';
import { startHoldRelease } from './payments/hold-release.js';
import { settleLinks } from './banks/link-flow.js';
import { reconcilePayInStatements } from './banks/pay-ins.js';
import { buildApp, riskEngineEnabled } from './http/app.js';
import { DEFAULT_RULE_FILE, watchRuleFile } from './risk/rule-file.js';
import type { RuleSet } from './risk/rules.js';
import { startCounterPruning } from './risk/counter-pruning.js';

export interface RunningKoza {
  app: App;
  db: Db;
  url: string;
  /** Where the partner banks answer (the sandbox started beside the API, or KOZA_BANK_SANDBOX_URL). */
  bankSandboxUrl: string | undefined;
  /** One round of the periodic work (reconciliation, the link sweep) now: for a test clock that skips hours. */
  runPeriodicWorkOnce(): Promise<void>;
  close(): Promise<void>;
}

/** How often koza start reads its pay-in banks' statements for transfers whose notice was lost (docs/bank-protocol.md §10). */
const PAY_IN_STATEMENTS_EVERY_MS = 60_000;

/**
 * Starts koza: storage and migrations; in sandbox mode without KOZA_BANK_SANDBOX_URL, the bank sandbox beside
 * the API (its own in-memory books, the same population seed); the API; the reconciler; and counter pruning.
 */
export async function startKoza(config: Config): Promise<RunningKoza> {
  const db = await openConfiguredDb(config);
  let sandbox: RunningBankSandbox | undefined;
  let sandboxDb: Db | undefined;
  try {
    await migrate(db);
    let effective = config;
    if (config.sandbox && config.bankSandboxUrl === undefined && config.bankKeySeed !== undefined) {
      // The banks keep their own books beside koza's, so links and balances survive a restart: schema
      // bank_sandbox on the same server, or a PGlite directory of their own next to koza's.
      sandboxDb = config.databaseUrl !== undefined
        ? await openDb({ databaseUrl: config.databaseUrl, schema: BANK_SANDBOX_SCHEMA, poolSize: 4 })
        : await openDb({ dataDir: config.dataDir.startsWith('memory://') ? 'memory://' : `${config.dataDir}-banks`, schema: BANK_SANDBOX_SCHEMA });
      // Loopback only, whatever HOST says: its admin routes hand out every holder's PIN.
      sandbox = await startBankSandbox({
        seed: config.sandboxSeed, keySeed: config.bankKeySeed, port: config.bankSandboxPort, host: '127.0.0.1', db: sandboxDb,
      });
      effective = { ...config, bankSandboxUrl: sandbox.url };
    }
    // Rules are data: an edited rule file takes effect without a restart; a bad edit keeps the last good set.
    let rules: RuleSet | undefined;
    const watcher = riskEngineEnabled(effective)
      ? watchRuleFile(effective.riskRulesFile ?? DEFAULT_RULE_FILE, (next) => { rules = next; },
        (err) => app.log.error({ err: { message: err.message } }, 'risk rule file refused; the last good rules stay'))
      : null;
    rules = watcher?.current();
    const app = await buildApp({ db, config: effective, ...(rules ? { rules: () => rules! } : {}) });
    const url = await app.listen({ port: config.port, host: config.host });
    // The banks beside koza report pay-ins to its virtual accounts here (docs/bank-protocol.md §10).
    sandbox?.deliverPayInsTo(url);
    const banks = app.koza.banks;
    const env = banks ? { db, config: effective, client: banks, risk: app.koza.risk } : null;
    // Pay-in notices a bank could not deliver are found in its statement: read once a minute, not every round.
    let payInStatementsAt = 0;
    const payInStatements = async () => {
      if (!env || Date.now() - payInStatementsAt < PAY_IN_STATEMENTS_EVERY_MS) return;
      payInStatementsAt = Date.now();
      await reconcilePayInStatements(env);
    };
    const reconciler = effective.reconcileEverySeconds > 0 && env
      ? startReconciler(env, effective.reconcileEverySeconds * 1000,
        (err) => app.log.error({ err: { message: (err as Error).message } }, 'reconciliation round failed'),
        [() => settleLinks(env), payInStatements])
      : null;
    const runPeriodicWorkOnce = async () => {
      if (!env) return;
      await reconcileOnce(env);
      await settleLinks(env);
      await reconcilePayInStatements(env);
    };
    // Old counter buckets are read by no window: dropped at start and every 10 minutes (safe from every process).
    const pruning = startCounterPruning(db, {
      onPruned: (rows) => { if (rows > 0) app.log.info({ rows }, 'risk counters pruned'); },
      onError: (err) => app.log.error({ err: { message: (err as Error).message } }, 'risk counter pruning failed'),
    });
    // A new merchant's held takings become available when due (SKIP LOCKED: safe from every process).
    const holdRelease = effective.holdReleaseEverySeconds > 0 ? startHoldRelease(db, {
      everyMs: effective.holdReleaseEverySeconds * 1000,
      onReleased: (releases) => { if (releases.length > 0) app.log.info({ holds: releases.length }, 'merchant holds released'); },
      onError: (err) => app.log.error({ err: { message: (err as Error).message } }, 'merchant hold release failed'),
    }) : null;
    return {
      app, db, url, bankSandboxUrl: sandbox?.url ?? effective.bankSandboxUrl, runPeriodicWorkOnce,
      async close() {
        watcher?.close();
        await reconciler?.stop();
        await pruning.stop();
        await holdRelease?.stop();
        await app.close();
        await sandbox?.close();
        await sandboxDb?.close();
        await db.close();
      },
    };
  } catch (err) {
    await sandbox?.close().catch(() => {});
    await sandboxDb?.close().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }
}
