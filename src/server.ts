// Owns starting and stopping koza: open storage, migrate, serve the API, shut down cleanly.
// Must never serve before migrations have been applied.
import type { Config } from './config.js';
import { openDb, type Db } from './store/db.js';
import { migrate } from './store/migrate.js';
import { buildApp } from './http/app.js';
import type { App } from './http/context.js';

export interface RunningKoza {
  app: App;
  db: Db;
  url: string;
  close(): Promise<void>;
}

export function openConfiguredDb(config: Config): Promise<Db> {
  return openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.dbSchema });
}

export async function startKoza(config: Config): Promise<RunningKoza> {
  const db = await openConfiguredDb(config);
  try {
    await migrate(db);
    const app = await buildApp({ db, config });
    const url = await app.listen({ port: config.port, host: config.host });
    return {
      app, db, url,
      async close() {
        await app.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
