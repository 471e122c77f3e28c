import { openDb } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { testApp, get } from '../test-support/api-client.js';
const db = await openDb({ dataDir: 'memory://' });
await migrate(db);
const app = await testApp(db);
for (const id of ['evil\u0000"}{', 'evil"}{', 'a b', 'x'.repeat(100)]) {
  const r = await get(app, '/healthz', undefined, { 'x-request-id': id });
  console.log(JSON.stringify(id).slice(0,30), r.statusCode, r.headers['x-request-id'], r.body.slice(0, 200));
}
await app.close(); await db.close();
