// Rate limiting: past the per-client budget every route answers 429 problem+json, health checks excepted.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBackend } from '../../test-support/backends.js';
import { buildApp } from './app.js';
import { loadConfig } from '../config.js';
import type { App } from './context.js';

forEachBackend('rate limiting', (db) => {
  it('answers 429 problem+json past the budget, and never limits /healthz', async () => {
    const config = loadConfig({ KOZA_DATA: 'memory://', LOG_LEVEL: 'silent', KOZA_RATE_LIMIT_PER_MINUTE: '5' });
    const app: App = await buildApp({ db: db(), config });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await app.inject({ method: 'GET', url: '/v1/wallet' })).statusCode);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
      const limited = await app.inject({ method: 'POST', url: '/v1/signup', payload: { email: 'a@example.jp', password: 'x' } });
      assert.equal(limited.statusCode, 429);
      assert.match(String(limited.headers['content-type']), /^application\/problem\+json/);
      const problem = limited.json();
      assert.equal(problem.type, 'urn:koza:problem:rate-limited');
      assert.equal(problem.status, 429);
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, 'tells when to retry, within the minute window');
      assert.equal(problem.retry_after_s, retryAfter);
      assert.ok(Math.abs(Date.parse(problem.retry_at) - (Date.now() + retryAfter * 1000)) < 5_000, problem.retry_at);
      assert.match(problem.retry_at_jst, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} JST$/);
      assert.match(problem.detail, /^Slow down: at most 5 requests a minute from one client\. Try again after .+ JST\.$/);
      assert.ok(problem.detail.endsWith(`${problem.retry_at_jst}.`));
      for (let i = 0; i < 10; i++) assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      const wallets = await db().query<{ n: number }>('SELECT count(*)::int8 AS n FROM wallets');
      assert.equal(wallets.rows[0]!.n, 0, 'the refused sign-up wrote nothing');
    } finally {
      await app.close();
    }
  });
});
