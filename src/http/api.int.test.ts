// Tests every /v1 endpoint over HTTP (app.inject) on PGlite and PostgreSQL: the money, auth, bad input, idempotency.
// Must never depend on another test's rows: each test signs up its own wallets and merchants with unique e-mails.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  DEFAULT_PASSWORD, del, expectJson, expectProblem, get, latestCode, merchantBalance, newMerchant, outbox, payMerchant,
  post, postRaw, signUpPaying, signUpVerified, testApp, topUp, uniqueEmail, walletBalance, type ApiResponse, type PaymentJson,
} from '../../test-support/api-client.js';
import type { App } from './context.js';
import type { Db } from '../store/db.js';
import { MAX_AMOUNT } from '../money.js';

/** Row counts of every table in the schema: a refused request must leave each one as it was. */
async function rowCounts(db: Db): Promise<Record<string, number>> {
  const tables = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const names = tables.rows.map((t) => t.table_name);
  for (const table of ['ledger_transfers', 'payments', 'refunds', 'topups', 'wallets', 'merchants', 'idempotency_keys']) {
    assert.ok(names.includes(table), `no table ${table} in ${names.join(', ')}`);
  }
  const res = await db.query<Record<string, number>>(
    `SELECT ${names.map((t) => `(SELECT count(*) FROM "${t}")::int AS "${t}"`).join(', ')}`,
  );
  return res.rows[0]!;
}

/** Runs a request that must be refused and asserts that it wrote nothing anywhere. */
async function refusedWithoutWrites(db: Db, request: () => Promise<ApiResponse>): Promise<ApiResponse> {
  const before = await rowCounts(db);
  const res = await request();
  assert.deepEqual(await rowCounts(db), before, `a refused request (${res.statusCode}) wrote rows: ${res.body}`);
  return res;
}

async function countWhere(db: Db, sql: string, params: unknown[]): Promise<number> {
  const res = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params);
  return res.rows[0]!.n;
}

async function login(app: App, email: string, password = DEFAULT_PASSWORD): Promise<{ token: string; session_id: string }> {
  return expectJson(await post(app, '/v1/sessions', { email, password }), 201);
}

/**
 * Every route Fastify serves, read from printRoutes({ commonPrefix: false }): a tree whose lines are
 * `<indent><path segment> (<METHODS>)`, each segment appended to its parent's path.
 */
function registeredRoutes(app: App): Set<string> {
  const routes = new Set<string>();
  const pathAtDepth: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│├└─\s]*)(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match || match[2]!.trim() === '') continue;
    const depth = match[1]!.length / 4;
    const path = (pathAtDepth[depth - 1] ?? '') + match[2]!;
    pathAtDepth[depth] = path;
    pathAtDepth.length = depth + 1;
    for (const method of (match[3] ?? '').split(', ').filter(Boolean)) {
      if (method !== 'HEAD' && method !== 'OPTIONS') routes.add(`${method} ${path}`);
    }
  }
  return routes;
}

forEachBackend('HTTP API', (getDb, backend) => {
  let app: App;
  before(async () => {
    app = await testApp(getDb());
  });
  after(async () => {
    await app.close();
  });

  describe('operations', () => {
    it('GET /healthz answers without the database', async () => {
      assert.deepEqual(expectJson(await get(app, '/healthz'), 200), { status: 'ok' });
    });

    it('GET /readyz names the backend it reached', async () => {
      assert.deepEqual(expectJson(await get(app, '/readyz'), 200), { status: 'ready', backend: backend.name });
    });

    it('GET /metrics counts requests by route template, never by id', async () => {
      const wallet = await signUpPaying(app);
      const merchant = await newMerchant(app);
      await topUp(app, wallet.token, 500);
      const payment = await payMerchant(app, wallet.token, merchant.merchantId, 100);
      expectJson(await get(app, `/v1/payments/${payment.id}`, wallet.token), 200);
      const res = await get(app, '/metrics');
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      assert.match(res.body, /koza_http_requests_total\{method="GET",route="\/v1\/payments\/:id",status="200"\} \d+/);
      assert.match(res.body, /koza_money_movements_total\{code="payment"\} \d+/);
      assert.ok(!res.body.includes(payment.id), 'a payment id became a metric label');
      const stray = `/v1/no-such-route-${randomUUID()}`;
      expectProblem(await get(app, stray), 404);
      const later = (await get(app, '/metrics')).body;
      assert.ok(!later.includes(stray), 'an unmatched URL became a metric label');
      assert.match(later, /koza_http_requests_total\{method="GET",route="unmatched",status="404"\} \d+/);
      assert.ok(!res.body.includes(wallet.email), 'an e-mail became a metric label');
    });

    it('GET /openapi.json documents every route the app serves, and nothing else', async () => {
      const doc = expectJson(await get(app, '/openapi.json'), 200);
      assert.equal(doc.openapi, '3.1.0');
      const documented = new Set<string>();
      for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
        for (const method of Object.keys(item)) {
          if (['get', 'post', 'put', 'patch', 'delete'].includes(method)) documented.add(`${method.toUpperCase()} ${path}`);
        }
      }
      const served = [...registeredRoutes(app)]
        .filter((r) => !/^[A-Z]+ \/docs/.test(r) && !r.endsWith(' /openapi.json'))
        .map((r) => r.replace(/:([A-Za-z_]+)/g, '{$1}'));
      assert.ok(served.length >= 19, `printRoutes parsing found only ${served.join(', ')}`);
      assert.deepEqual([...documented].sort(), served.sort());
    });

    it('GET /openapi.json says which POSTs need an Idempotency-Key', async () => {
      const doc = expectJson(await get(app, '/openapi.json'), 200);
      for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
        if (!item.post) continue;
        const header = (item.post.parameters ?? []).find((p: any) => p.in === 'header' && p.name === 'idempotency-key');
        assert.ok(header?.required, `POST ${path} does not document a required Idempotency-Key`);
      }
    });

    it('GET /docs renders the interactive docs', async () => {
      const res = await get(app, '/docs');
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.match(res.body, /<html/i);
    });

    it('an unknown route is a 404 problem', async () => {
      expectProblem(await get(app, '/v1/nothing-here'), 404, 'not-found');
    });

    it('every answer carries an x-request-id; a sane one from the client is kept, a hostile one replaced', async () => {
      const given = await get(app, '/healthz', undefined, { 'x-request-id': 'client-trace.42' });
      assert.equal(given.headers['x-request-id'], 'client-trace.42');
      for (const hostile of ['evil"}{"level":60', 'a b', 'x'.repeat(65), '']) {
        const res = await get(app, '/healthz', undefined, { 'x-request-id': hostile });
        assert.match(String(res.headers['x-request-id']), /^req_[A-Za-z0-9_-]+$/, `kept ${JSON.stringify(hostile)}`);
      }
      assert.match(String((await get(app, '/healthz')).headers['x-request-id']), /^req_/);
    });
  });

  describe('sign-up, verification, sessions', () => {
    it('signs up, verifies with the e-mailed code, signs in, signs out', async () => {
      const email = uniqueEmail('Hanako');
      const signup = expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }), 202);
      assert.deepEqual(signup, { status: 'verification_sent', email: email.toLowerCase() });
      const code = await latestCode(app, email.toLowerCase());
      const wallet = expectJson(await post(app, '/v1/signup/verify', { email, code }), 200);
      assert.equal(wallet.email_verified, true);
      assert.equal(wallet.status, 'active');
      assert.match(wallet.id, /^wal_/);

      const session = expectJson(await post(app, '/v1/sessions', { email: email.toUpperCase(), password: DEFAULT_PASSWORD }), 201);
      assert.equal(session.wallet_id, wallet.id);
      assert.match(session.token, /^kzs_/);
      assert.match(session.session_id, /^ses_/);
      assert.ok(Date.parse(session.expires_at) > Date.now());

      const me = expectJson(await get(app, '/v1/wallet', session.token), 200);
      assert.equal(me.wallet.id, wallet.id);
      assert.deepEqual(me.balance, { wallet_id: wallet.id, currency: 'JPY', balance: 0, available: 0, pending: 0 });

      const out = await del(app, '/v1/sessions/current', session.token);
      assert.equal(out.statusCode, 204);
      assert.equal(out.body, '');
      expectProblem(await get(app, '/v1/wallet', session.token), 401, 'unauthenticated');
    });

    it('sign-up with an e-mail that has a wallet answers like a new one, changes nothing, and tells the owner', async () => {
      const owner = await signUpVerified(app);
      const fresh = uniqueEmail();
      const newAnswer = await post(app, '/v1/signup', { email: fresh, password: 'another good password' });
      const takenAnswer = await post(app, '/v1/signup', { email: owner.email, password: 'another good password' });
      assert.equal(takenAnswer.statusCode, newAnswer.statusCode);
      assert.equal(takenAnswer.headers['content-type'], newAnswer.headers['content-type']);
      assert.equal(takenAnswer.body, newAnswer.body.replace(fresh, owner.email));
      assert.equal(await countWhere(getDb(), 'wallets WHERE email_normalized = $1', [owner.email]), 1);

      const mails = await outbox(app, owner.email);
      assert.match(mails[0]!.subject, /Someone tried to open a koza wallet/);
      assert.ok(!/\b\d{6}\b/.test(mails[0]!.body), 'the warning to the owner must not carry a code');
      // The owner's password still works; the stranger's does not.
      await login(app, owner.email);
      expectProblem(await post(app, '/v1/sessions', { email: owner.email, password: 'another good password' }), 401);
    });

    it('refuses a short password, and an e-mail that is not one, with 400 problems', async () => {
      expectProblem(await post(app, '/v1/signup', { email: uniqueEmail(), password: 'short' }), 400, 'invalid-request');
      expectProblem(await post(app, '/v1/signup', { email: 'not-an-email', password: DEFAULT_PASSWORD }), 400, 'invalid-request');
    });

    it('login before the e-mail is verified is a 403', async () => {
      const email = uniqueEmail();
      expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }), 202);
      expectProblem(await post(app, '/v1/sessions', { email, password: DEFAULT_PASSWORD }), 403, 'email-not-verified');
    });

    it('a wrong e-mail and a wrong password get the identical 401', async () => {
      const wallet = await signUpVerified(app);
      const wrongEmail = await post(app, '/v1/sessions', { email: uniqueEmail('nobody'), password: DEFAULT_PASSWORD });
      const wrongPassword = await post(app, '/v1/sessions', { email: wallet.email, password: 'not the password' });
      expectProblem(wrongEmail, 401, 'login-failed');
      assert.equal(wrongPassword.statusCode, wrongEmail.statusCode);
      assert.equal(wrongPassword.headers['content-type'], wrongEmail.headers['content-type']);
      assert.equal(wrongPassword.body, wrongEmail.body);
    });

    it('a wrong code fails without spending the code', async () => {
      const email = uniqueEmail();
      expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }), 202);
      const code = await latestCode(app, email);
      const wrong = code === '000000' ? '000001' : '000000';
      expectProblem(await post(app, '/v1/signup/verify', { email, code: wrong }), 422, 'verification-failed');
      expectJson(await post(app, '/v1/signup/verify', { email, code }), 200);
    });

    it('five wrong tries kill the code, even if the right one comes next; a resent code works', async () => {
      const email = uniqueEmail();
      expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }), 202);
      const code = await latestCode(app, email);
      const wrong = code === '000000' ? '000001' : '000000';
      for (let i = 0; i < 5; i++) {
        expectProblem(await post(app, '/v1/signup/verify', { email, code: wrong }), 422, 'verification-failed');
      }
      expectProblem(await post(app, '/v1/signup/verify', { email, code }), 422, 'verification-failed');
      expectProblem(await post(app, '/v1/sessions', { email, password: DEFAULT_PASSWORD }), 403, 'email-not-verified');

      assert.deepEqual(expectJson(await post(app, '/v1/signup/resend', { email }), 202), { status: 'verification_sent', email });
      const second = await latestCode(app, email);
      expectJson(await post(app, '/v1/signup/verify', { email, code: second }), 200);
      await login(app, email);
    });

    it('concurrent wrong guesses cannot check more codes than the attempt limit', async () => {
      const email = uniqueEmail();
      expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }), 202);
      const code = await latestCode(app, email);
      const guesses = Array.from({ length: 20 }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'));
      const answers = await Promise.all(guesses.map((guess) => post(app, '/v1/signup/verify', { email, code: guess })));
      for (const answer of answers) expectProblem(answer, 422, 'verification-failed');
      const attempts = await getDb().query<{ failed_attempts: number }>(
        `SELECT failed_attempts FROM one_time_codes
          WHERE purpose = 'email_verify' AND wallet_id = (SELECT id FROM wallets WHERE email_normalized = $1)`, [email],
      );
      assert.deepEqual(attempts.rows, [{ failed_attempts: 5 }], 'more guesses were checked than the limit allows');
      expectProblem(await post(app, '/v1/signup/verify', { email, code }), 422, 'verification-failed');
    });

    it('a code is single-use: it cannot verify twice, and answers nothing about the wallet afterwards', async () => {
      const email = uniqueEmail();
      expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }), 202);
      const code = await latestCode(app, email);
      const key = randomUUID();
      const first = await post(app, '/v1/signup/verify', { email, code }, { key });
      expectJson(first, 200);
      // A retry under its own key is the first answer again; a new request with the code is refused.
      const retry = await post(app, '/v1/signup/verify', { email, code }, { key });
      assert.equal(retry.body, first.body);
      const reused = await post(app, '/v1/signup/verify', { email, code });
      const unknown = await post(app, '/v1/signup/verify', { email: uniqueEmail('nobody'), code });
      expectProblem(reused, 422, 'verification-failed');
      assert.equal(reused.body, unknown.body, 'a verified e-mail must answer like an unknown one');
    });

    it('an expired code fails', async () => {
      const email = uniqueEmail();
      expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }), 202);
      const code = await latestCode(app, email);
      await getDb().query(
        `UPDATE one_time_codes SET expires_at = now() - interval '1 minute'
          WHERE purpose = 'email_verify' AND wallet_id = (SELECT id FROM wallets WHERE email_normalized = $1)`, [email],
      );
      expectProblem(await post(app, '/v1/signup/verify', { email, code }), 422, 'verification-failed');
    });

    it('resend answers the same for an unknown e-mail and mails nothing', async () => {
      const nobody = uniqueEmail('nobody');
      assert.deepEqual(expectJson(await post(app, '/v1/signup/resend', { email: nobody }), 202), { status: 'verification_sent', email: nobody });
      assert.deepEqual(await outbox(app, nobody), []);
    });

    it('a login retried under its Idempotency-Key returns the same session', async () => {
      const wallet = await signUpVerified(app);
      const key = randomUUID();
      const first = await post(app, '/v1/sessions', { email: wallet.email, password: DEFAULT_PASSWORD }, { key });
      const again = await post(app, '/v1/sessions', { email: wallet.email, password: DEFAULT_PASSWORD }, { key });
      const session = expectJson(first, 201);
      assert.equal(again.statusCode, 201);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.body, first.body);
      assert.equal(await countWhere(getDb(), 'sessions WHERE wallet_id = $1', [wallet.walletId]), 2);

      const stored = await getDb().query<{ response_body: string; response_encrypted: boolean; request_fingerprint: string }>(
        "SELECT response_body, response_encrypted, request_fingerprint FROM idempotency_keys WHERE scope = 'public:login' AND key = $1",
        [key],
      );
      assert.equal(stored.rows.length, 1);
      assert.equal(stored.rows[0]!.response_encrypted, true);
      const row = JSON.stringify(stored.rows[0]);
      assert.ok(!row.includes(session.token), 'the session token is stored in clear');
      assert.ok(!row.includes(session.token.slice(4, 20)), 'part of the session token is stored in clear');
      assert.ok(!row.includes(DEFAULT_PASSWORD), 'the password is stored in clear');
    });

    describe('authentication', () => {
      let wallet: Awaited<ReturnType<typeof signUpVerified>>;
      let merchant: Awaited<ReturnType<typeof newMerchant>>;
      let payment: PaymentJson;
      before(async () => {
        wallet = await signUpPaying(app);
        merchant = await newMerchant(app);
        await topUp(app, wallet.token, 1_000);
        payment = await payMerchant(app, wallet.token, merchant.merchantId, 100);
      });

      const walletRoutes = (): Array<{ method: 'GET' | 'POST' | 'DELETE'; url: string; body?: unknown }> => [
        { method: 'GET', url: '/v1/wallet' },
        { method: 'GET', url: '/v1/wallet/balance' },
        { method: 'GET', url: '/v1/wallet/transactions' },
        { method: 'DELETE', url: '/v1/sessions/current' },
        { method: 'GET', url: `/v1/payments/${payment.id}` },
        { method: 'GET', url: '/v1/payments/pay_doesnotexist' },
        { method: 'POST', url: '/v1/payments', body: { merchant_id: merchant.merchantId, amount: 10 } },
        { method: 'POST', url: '/v1/sandbox/topups', body: { amount: 10 } },
      ];
      const merchantRoutes = (): Array<{ method: 'GET' | 'POST'; url: string; body?: unknown }> => [
        { method: 'GET', url: '/v1/merchant' },
        { method: 'GET', url: '/v1/merchant/payments' },
        { method: 'POST', url: `/v1/payments/${payment.id}/refunds`, body: { amount: 10 } },
      ];

      async function call(route: { method: string; url: string; body?: unknown }, authorization?: string) {
        const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
        if (route.method === 'POST') return post(app, route.url, route.body, { headers });
        return app.inject({ method: route.method as 'GET' | 'DELETE', url: route.url, headers });
      }

      const badCredentials = (): Array<[string, string | undefined]> => [
        ['no Authorization header', undefined],
        ['an empty bearer', 'Bearer '],
        ['garbage', 'Bearer garbage'],
        ['a well-formed unknown session token', 'Bearer kzs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
        ['a well-formed unknown merchant key', 'Bearer kzm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
        ['Basic auth', 'Basic dXNlcjpwYXNz'],
        ['a token with a quote in it', 'Bearer kzs_"or 1=1--'],
      ];

      it('wallet routes refuse missing and garbage tokens with a 401 problem and write nothing', async () => {
        for (const route of walletRoutes()) {
          for (const [label, authorization] of [...badCredentials(), ['a merchant key', `Bearer ${merchant.apiKey}`] as [string, string]]) {
            if (label === 'a merchant key' && route.url.startsWith('/v1/payments/pay_')) continue; // merchants may read payments
            const res = await refusedWithoutWrites(getDb(), () => call(route, authorization));
            assert.equal(res.statusCode, 401, `${route.method} ${route.url} with ${label}: ${res.statusCode} ${res.body}`);
            expectProblem(res, 401, 'unauthenticated');
          }
        }
      });

      it('merchant routes refuse missing and garbage keys, and session tokens, with a 401 problem', async () => {
        for (const route of merchantRoutes()) {
          for (const [label, authorization] of [...badCredentials(), ['a session token', `Bearer ${wallet.token}`] as [string, string]]) {
            const res = await refusedWithoutWrites(getDb(), () => call(route, authorization));
            assert.equal(res.statusCode, 401, `${route.method} ${route.url} with ${label}: ${res.statusCode} ${res.body}`);
            expectProblem(res, 401, 'unauthenticated');
          }
        }
      });

      it('an expired session is refused, by absolute and by idle time-out', async () => {
        const absolute = await login(app, wallet.email);
        const idle = await login(app, wallet.email);
        expectJson(await get(app, '/v1/wallet', absolute.token), 200);
        await getDb().query("UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE id = $1", [absolute.session_id]);
        await getDb().query("UPDATE sessions SET last_seen_at = now() - interval '31 minutes' WHERE id = $1", [idle.session_id]);
        for (const token of [absolute.token, idle.token]) {
          expectProblem(await get(app, '/v1/wallet', token), 401, 'unauthenticated');
          const pay = await refusedWithoutWrites(getDb(),
            () => post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 1 }, { token }));
          expectProblem(pay, 401, 'unauthenticated');
        }
        expectJson(await get(app, '/v1/wallet', wallet.token), 200);
      });

      it('a signed-out session is refused everywhere; the wallet\'s other sessions live on', async () => {
        const other = await login(app, wallet.email);
        assert.equal((await del(app, '/v1/sessions/current', other.token)).statusCode, 204);
        expectProblem(await get(app, '/v1/wallet/balance', other.token), 401, 'unauthenticated');
        expectProblem(await del(app, '/v1/sessions/current', other.token), 401, 'unauthenticated');
        const pay = await refusedWithoutWrites(getDb(),
          () => post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 1 }, { token: other.token }));
        expectProblem(pay, 401, 'unauthenticated');
        expectJson(await get(app, '/v1/wallet/balance', wallet.token), 200);
      });
    });
  });

  describe('wallet', () => {
    it('GET /v1/wallet and /v1/wallet/balance show the money after top-ups and a payment', async () => {
      const wallet = await signUpPaying(app);
      const merchant = await newMerchant(app);
      await topUp(app, wallet.token, 7_000);
      await topUp(app, wallet.token, 3_000);
      await payMerchant(app, wallet.token, merchant.merchantId, 2_500);
      const me = expectJson(await get(app, '/v1/wallet', wallet.token), 200);
      assert.equal(me.wallet.id, wallet.walletId);
      assert.equal(me.wallet.email, wallet.email);
      assert.deepEqual(me.balance, { wallet_id: wallet.walletId, currency: 'JPY', balance: 7_500, available: 7_500, pending: 0 });
      assert.deepEqual(expectJson(await get(app, '/v1/wallet/balance', wallet.token), 200), me.balance);
    });

    it('GET /v1/wallet/transactions walks every page, newest first, with no duplicates or gaps', async () => {
      const wallet = await signUpPaying(app);
      const merchant = await newMerchant(app);
      const expected: Array<{ type: string; direction: string; amount: number }> = [];
      for (let i = 1; i <= 7; i++) {
        await topUp(app, wallet.token, 1_000 * i);
        expected.push({ type: 'topup', direction: 'credit', amount: 1_000 * i });
      }
      const payments: PaymentJson[] = [];
      for (const amount of [300, 400, 500]) {
        payments.push(await payMerchant(app, wallet.token, merchant.merchantId, amount));
        expected.push({ type: 'payment', direction: 'debit', amount });
      }
      expectJson(await post(app, `/v1/payments/${payments[0]!.id}/refunds`, { amount: 100 }, { token: merchant.apiKey }), 201);
      expected.push({ type: 'refund', direction: 'credit', amount: 100 });
      expected.reverse();

      for (const limit of [1, 3, 11, 50]) {
        const seen: Array<{ id: string; type: string; direction: string; amount: number; status: string }> = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const url: string = `/v1/wallet/transactions?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
          const page = expectJson<{ data: typeof seen; next_cursor: string | null }>(await get(app, url, wallet.token), 200);
          assert.ok(page.data.length <= limit);
          seen.push(...page.data);
          cursor = page.next_cursor;
          assert.ok(++pages <= 20, 'pagination does not end');
        } while (cursor !== null);
        assert.equal(new Set(seen.map((t) => t.id)).size, seen.length, `duplicates with limit=${limit}`);
        assert.deepEqual(seen.map(({ type, direction, amount }) => ({ type, direction, amount })), expected, `limit=${limit}`);
        assert.ok(seen.every((t) => t.status === 'posted'));
      }
      const inLedger = await getDb().query<{ id: string }>(
        `SELECT id FROM ledger_transfers WHERE debit_account_id = $1 OR credit_account_id = $1 ORDER BY seq DESC`,
        [`acc_${wallet.walletId}`],
      );
      const all = expectJson(await get(app, '/v1/wallet/transactions?limit=100', wallet.token), 200);
      assert.deepEqual(all.data.map((t: { id: string }) => t.id), inLedger.rows.map((r) => r.id));
    });

    it('GET /v1/wallet/transactions refuses bad limits and forged cursors with 400 problems', async () => {
      const wallet = await signUpVerified(app);
      for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=-1', 'limit=1.5', 'cursor=not-a-cursor',
        `cursor=${Buffer.from('s:0').toString('base64url')}`, `cursor=${Buffer.from("s:1' OR 1=1").toString('base64url')}`,
        'cursor=' + 'A'.repeat(65), 'unknown=1']) {
        expectProblem(await get(app, `/v1/wallet/transactions?${query}`, wallet.token), 400, 'invalid-request');
      }
    });
  });

  describe('merchants and payments', () => {
    it('POST /v1/merchants returns the API key once and stores it nowhere in clear', async () => {
      const owner = await signUpPaying(app);
      const email = uniqueEmail('shop');
      const key = randomUUID();
      const body0 = { name: '  Kissa Koza  ', email, business: { kind: 'sole_proprietor', trade_name: 'Kissa Koza' } };
      const res = await post(app, '/v1/merchants', body0, { key, token: owner.token });
      const body = expectJson(res, 201);
      assert.match(body.merchant.id, /^mer_/);
      assert.equal(body.merchant.name, 'Kissa Koza');
      assert.equal(body.merchant.owner_wallet_id, owner.walletId);
      assert.match(body.api_key, /^kzm_/);
      const me = expectJson(await get(app, '/v1/merchant', body.api_key), 200);
      assert.deepEqual(me, { merchant: body.merchant, balance: 0, available: 0, held: 0 });
      assert.ok(!JSON.stringify(me).includes(body.api_key));

      const merchantRow = await getDb().query('SELECT * FROM merchants WHERE id = $1', [body.merchant.id]);
      assert.ok(!JSON.stringify(merchantRow.rows).includes(body.api_key.slice(4)), 'the API key is stored in clear');
      const keyRow = await getDb().query<{ response_encrypted: boolean; response_body: string }>(
        'SELECT response_encrypted, response_body FROM idempotency_keys WHERE scope = $1 AND key = $2', [owner.walletId, key],
      );
      assert.equal(keyRow.rows[0]!.response_encrypted, true);
      assert.ok(!keyRow.rows[0]!.response_body.includes(body.api_key.slice(4)), 'the API key is stored in clear');
      const replay = await post(app, '/v1/merchants', body0, { key, token: owner.token });
      assert.equal(replay.body, res.body);
      assert.equal(await countWhere(getDb(), 'merchants WHERE email = $1', [email]), 1);
    });

    it('pays a merchant, refunds in parts up to what was paid, and the money adds up on both sides', async () => {
      const wallet = await signUpPaying(app);
      const merchant = await newMerchant(app);
      await topUp(app, wallet.token, 10_000);

      const res = await post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 3_000, description: 'coffee beans' },
        { token: wallet.token });
      const payment = expectJson<PaymentJson>(res, 201);
      assert.match(payment.id, /^pay_/);
      assert.deepEqual({ ...payment, id: '', created_at: '' }, {
        id: '', wallet_id: wallet.walletId, merchant_id: merchant.merchantId, amount: 3_000, refunded_amount: 0,
        description: 'coffee beans', created_at: '',
      });
      assert.equal(await walletBalance(app, wallet.token), 7_000);
      assert.equal(await merchantBalance(app, merchant.apiKey), 3_000);

      const first = expectJson(await post(app, `/v1/payments/${payment.id}/refunds`, { amount: 1_000, reason: 'damaged' },
        { token: merchant.apiKey }), 201);
      assert.equal(first.refund.amount, 1_000);
      assert.equal(first.refund.payment_id, payment.id);
      assert.equal(first.refund.reason, 'damaged');
      assert.equal(first.payment.refunded_amount, 1_000);
      assert.equal(await walletBalance(app, wallet.token), 8_000);
      assert.equal(await merchantBalance(app, merchant.apiKey), 2_000);

      const over = await post(app, `/v1/payments/${payment.id}/refunds`, { amount: 2_001 }, { token: merchant.apiKey });
      assert.equal(expectProblem(over, 422, 'refund-exceeds-payment').refundable, 2_000);

      const rest = expectJson(await post(app, `/v1/payments/${payment.id}/refunds`, { amount: 2_000 }, { token: merchant.apiKey }), 201);
      assert.equal(rest.payment.refunded_amount, 3_000);
      assert.equal(await walletBalance(app, wallet.token), 10_000);
      assert.equal(await merchantBalance(app, merchant.apiKey), 0);

      const none = await post(app, `/v1/payments/${payment.id}/refunds`, { amount: 1 }, { token: merchant.apiKey });
      assert.equal(expectProblem(none, 422, 'refund-exceeds-payment').refundable, 0);
      assert.equal(await countWhere(getDb(), 'refunds WHERE payment_id = $1', [payment.id]), 2);
      assert.equal((expectJson<PaymentJson>(await get(app, `/v1/payments/${payment.id}`, wallet.token), 200)).refunded_amount, 3_000);
      assert.equal(await walletBalance(app, wallet.token), 10_000);
      assert.equal(await merchantBalance(app, merchant.apiKey), 0);
    });

    it('a payment above the balance is a 422 that moves nothing', async () => {
      const wallet = await signUpPaying(app);
      const merchant = await newMerchant(app);
      await topUp(app, wallet.token, 999);
      const res = await post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 1_000 }, { token: wallet.token });
      expectProblem(res, 422, 'insufficient-funds');
      assert.equal(await walletBalance(app, wallet.token), 999);
      assert.equal(await merchantBalance(app, merchant.apiKey), 0);
      assert.equal(await countWhere(getDb(), 'payments WHERE wallet_id = $1', [wallet.walletId]), 0);
      await payMerchant(app, wallet.token, merchant.merchantId, 999);
      assert.equal(await walletBalance(app, wallet.token), 0);
      assert.equal(await merchantBalance(app, merchant.apiKey), 999);
    });

    it('paying a merchant that does not exist is a 404 that moves nothing', async () => {
      const wallet = await signUpPaying(app);
      await topUp(app, wallet.token, 100);
      expectProblem(await post(app, '/v1/payments', { merchant_id: 'mer_nobody', amount: 10 }, { token: wallet.token }), 404, 'not-found');
      assert.equal(await walletBalance(app, wallet.token), 100);
    });

    it('GET /v1/payments/:id is for its wallet and its merchant only; everyone else gets the 404 of a missing payment', async () => {
      const payer = await signUpPaying(app);
      const stranger = await signUpVerified(app);
      const merchant = await newMerchant(app);
      const otherMerchant = await newMerchant(app);
      await topUp(app, payer.token, 1_000);
      const payment = await payMerchant(app, payer.token, merchant.merchantId, 400);

      assert.deepEqual(expectJson(await get(app, `/v1/payments/${payment.id}`, payer.token), 200), payment);
      assert.deepEqual(expectJson(await get(app, `/v1/payments/${payment.id}`, merchant.apiKey), 200), payment);
      const missing = expectProblem(await get(app, '/v1/payments/pay_doesnotexist', stranger.token), 404, 'not-found');
      for (const token of [stranger.token, otherMerchant.apiKey]) {
        const hidden = expectProblem(await get(app, `/v1/payments/${payment.id}`, token), 404, 'not-found');
        assert.deepEqual({ ...hidden, instance: '' }, { ...missing, instance: '' });
      }
      expectProblem(await get(app, '/v1/payments/not-a-payment-id', payer.token), 400, 'invalid-request');
    });

    it('only the merchant that was paid can refund; others get a 404 and move nothing', async () => {
      const payer = await signUpPaying(app);
      const merchant = await newMerchant(app);
      const otherMerchant = await newMerchant(app);
      await topUp(app, payer.token, 1_000);
      const payment = await payMerchant(app, payer.token, merchant.merchantId, 400);
      const res = await post(app, `/v1/payments/${payment.id}/refunds`, { amount: 100 }, { token: otherMerchant.apiKey });
      expectProblem(res, 404, 'not-found');
      assert.equal(await walletBalance(app, payer.token), 600);
      assert.equal(await merchantBalance(app, otherMerchant.apiKey), 0);
      assert.equal(await merchantBalance(app, merchant.apiKey), 400);
      expectProblem(await post(app, '/v1/payments/pay_doesnotexist/refunds', { amount: 1 }, { token: merchant.apiKey }), 404);
    });

    it('concurrent refunds of one payment never add up to more than was paid', async () => {
      const payer = await signUpPaying(app);
      const merchant = await newMerchant(app);
      await topUp(app, payer.token, 1_000);
      const payment = await payMerchant(app, payer.token, merchant.merchantId, 1_000);
      const answers = await Promise.all(Array.from({ length: 10 }, () =>
        post(app, `/v1/payments/${payment.id}/refunds`, { amount: 300 }, { token: merchant.apiKey })));
      const statuses = answers.map((r) => r.statusCode).sort();
      assert.deepEqual(statuses, [201, 201, 201, 422, 422, 422, 422, 422, 422, 422], answers.map((r) => r.body).join('\n'));
      for (const r of answers.filter((a) => a.statusCode === 422)) expectProblem(r, 422, 'refund-exceeds-payment');
      const after = expectJson<PaymentJson>(await get(app, `/v1/payments/${payment.id}`, merchant.apiKey), 200);
      assert.equal(after.refunded_amount, 900);
      assert.equal(await walletBalance(app, payer.token), 900);
      assert.equal(await merchantBalance(app, merchant.apiKey), 100);
    });

    it('concurrent payments never overdraw a wallet', async () => {
      const payer = await signUpPaying(app);
      const merchant = await newMerchant(app);
      await topUp(app, payer.token, 1_000);
      const answers = await Promise.all(Array.from({ length: 10 }, () =>
        post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 300 }, { token: payer.token })));
      assert.deepEqual(answers.map((r) => r.statusCode).sort(), [201, 201, 201, 422, 422, 422, 422, 422, 422, 422],
        answers.map((r) => r.body).join('\n'));
      for (const r of answers.filter((a) => a.statusCode === 422)) expectProblem(r, 422, 'insufficient-funds');
      assert.equal(await walletBalance(app, payer.token), 100);
      assert.equal(await merchantBalance(app, merchant.apiKey), 900);
      assert.equal(await countWhere(getDb(), 'payments WHERE wallet_id = $1', [payer.walletId]), 3);
    });

    it('concurrent top-ups and payments never pass the level\'s balance cap and daily payment limit', async () => {
      const payer = await signUpPaying(app);
      const merchant = await newMerchant(app);
      // Sessions live in the database, so the same token works on an app with tighter limits.
      const limited = await testApp(getDb(), { KOZA_LIMITS: JSON.stringify({ L2: { maxBalance: 10_000, dailyPayments: 2_000 } }) });
      try {
        const topups = await Promise.all(Array.from({ length: 10 }, () =>
          post(limited, '/v1/sandbox/topups', { amount: 3_000 }, { token: payer.token })));
        assert.deepEqual(topups.map((r) => r.statusCode).sort(), [201, 201, 201, 422, 422, 422, 422, 422, 422, 422],
          topups.map((r) => r.body).join('\n'));
        for (const r of topups.filter((a) => a.statusCode === 422)) expectProblem(r, 422, 'limit-exceeded');
        assert.equal(await walletBalance(limited, payer.token), 9_000);

        const payments = await Promise.all(Array.from({ length: 10 }, () =>
          post(limited, '/v1/payments', { merchant_id: merchant.merchantId, amount: 700 }, { token: payer.token })));
        assert.deepEqual(payments.map((r) => r.statusCode).sort(), [201, 201, 422, 422, 422, 422, 422, 422, 422, 422],
          payments.map((r) => r.body).join('\n'));
        for (const r of payments.filter((a) => a.statusCode === 422)) expectProblem(r, 422, 'limit-exceeded');
        assert.equal(await walletBalance(limited, payer.token), 7_600);
        assert.equal(await merchantBalance(limited, merchant.apiKey), 1_400);
      } finally {
        await limited.close();
      }
    });

    it('GET /v1/merchant/payments lists the merchant\'s own payments over every page', async () => {
      const payer = await signUpPaying(app);
      const merchant = await newMerchant(app);
      const other = await newMerchant(app);
      await topUp(app, payer.token, 10_000);
      const mine: string[] = [];
      // Four to each: ten payments from one wallet within the hour would ask for a step-up (wallet-payment-velocity-1h).
      for (const amount of [100, 200, 300, 400]) {
        mine.push((await payMerchant(app, payer.token, merchant.merchantId, amount)).id);
        await payMerchant(app, payer.token, other.merchantId, amount);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/v1/merchant/payments?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const page = expectJson<{ data: PaymentJson[]; next_cursor: string | null }>(await get(app, url, merchant.apiKey), 200);
        assert.ok(page.data.every((p) => p.merchant_id === merchant.merchantId));
        seen.push(...page.data.map((p) => p.id));
        cursor = page.next_cursor;
      } while (cursor !== null && seen.length < 100);
      assert.deepEqual(seen, [...mine].reverse());
      assert.equal(await merchantBalance(app, merchant.apiKey), 1_000);
    });
  });

  describe('sandbox', () => {
    it('POST /v1/sandbox/topups credits the wallet from suspense', async () => {
      const wallet = await signUpPaying(app);
      const res = expectJson(await post(app, '/v1/sandbox/topups', { amount: 12_345 }, { token: wallet.token }), 201);
      assert.match(res.id, /^top_/);
      assert.equal(res.wallet_id, wallet.walletId);
      assert.equal(res.amount, 12_345);
      assert.equal(await walletBalance(app, wallet.token), 12_345);
      const transfer = await getDb().query<{ debit_account_id: string; amount: number }>(
        'SELECT debit_account_id, amount FROM ledger_transfers WHERE reference = $1', [res.id]);
      assert.deepEqual(transfer.rows, [{ debit_account_id: 'acc_suspense', amount: 12_345 }]);
    });

    it('GET /v1/sandbox/outbox pages through one recipient\'s messages, newest first', async () => {
      const email = uniqueEmail();
      expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }), 202);
      expectJson(await post(app, '/v1/signup/resend', { email }), 202);
      expectJson(await post(app, '/v1/signup/resend', { email }), 202);
      const first = expectJson(await get(app, `/v1/sandbox/outbox?recipient=${encodeURIComponent(email)}&limit=2`), 200);
      assert.equal(first.data.length, 2);
      assert.ok(first.next_cursor);
      const second = expectJson(await get(app, `/v1/sandbox/outbox?recipient=${encodeURIComponent(email)}&limit=2&cursor=${first.next_cursor}`), 200);
      const all = [...first.data, ...second.data];
      assert.equal(all.length, 3);
      assert.equal(new Set(all.map((m: { id: string }) => m.id)).size, 3);
      assert.ok(all.every((m: { recipient: string; channel: string }) => m.recipient === email && m.channel === 'email'));
      assert.equal(await latestCode(app, email), /\b(\d{6})\b/.exec(first.data[0].body)![1]);
    });

    it('both sandbox routes are a 403 problem when KOZA_SANDBOX=false, and write nothing', async () => {
      const wallet = await signUpPaying(app);
      const live = await testApp(getDb(), { KOZA_SANDBOX: 'false' });
      try {
        expectProblem(await get(live, `/v1/sandbox/outbox?recipient=${encodeURIComponent(wallet.email)}`), 403, 'sandbox-only');
        expectProblem(await get(live, '/v1/sandbox/outbox'), 403, 'sandbox-only');
        const topup = await refusedWithoutWrites(getDb(),
          () => post(live, '/v1/sandbox/topups', { amount: 1_000 }, { token: wallet.token }));
        expectProblem(topup, 403, 'sandbox-only');
        assert.equal(await walletBalance(live, wallet.token), 0);
      } finally {
        await live.close();
      }
    });
  });

  describe('idempotency over HTTP', () => {
    let wallet: Awaited<ReturnType<typeof signUpVerified>>;
    let merchant: Awaited<ReturnType<typeof newMerchant>>;
    before(async () => {
      wallet = await signUpPaying(app);
      merchant = await newMerchant(app);
      await topUp(app, wallet.token, 100_000);
    });

    it('the same key and body get the first answer byte for byte, and move money once', async () => {
      const balance = await walletBalance(app, wallet.token);
      const key = randomUUID();
      const body = { merchant_id: merchant.merchantId, amount: 1_234, description: 'once' };
      const first = await post(app, '/v1/payments', body, { token: wallet.token, key });
      const again = await post(app, '/v1/payments', body, { token: wallet.token, key });
      expectJson(first, 201);
      assert.equal(first.headers['idempotent-replayed'], undefined);
      assert.equal(again.statusCode, 201);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.headers['content-type'], first.headers['content-type']);
      assert.equal(again.payload, first.payload);
      assert.equal(await walletBalance(app, wallet.token), balance - 1_234);
      assert.equal(await countWhere(getDb(), 'ledger_transfers WHERE reference = $1', [first.json().id]), 1);
    });

    it('the same key with a different body is a 422 idempotency-key-reused that moves nothing', async () => {
      const key = randomUUID();
      expectJson(await post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 10 }, { token: wallet.token, key }), 201);
      const balance = await walletBalance(app, wallet.token);
      for (const body of [{ merchant_id: merchant.merchantId, amount: 11 }, { merchant_id: merchant.merchantId, amount: 10, description: 'x' }]) {
        const res = await refusedWithoutWrites(getDb(), () => post(app, '/v1/payments', body, { token: wallet.token, key }));
        expectProblem(res, 422, 'idempotency-key-reused');
      }
      // Another route under the same key is another request too.
      const topup = await refusedWithoutWrites(getDb(), () => post(app, '/v1/sandbox/topups', { amount: 10 }, { token: wallet.token, key }));
      expectProblem(topup, 422, 'idempotency-key-reused');
      assert.equal(await walletBalance(app, wallet.token), balance);
    });

    it('keys belong to their wallet: another wallet\'s identical key is a new request, never the first one\'s answer', async () => {
      const other = await signUpPaying(app);
      await topUp(app, other.token, 500);
      const key = randomUUID();
      const body = { merchant_id: merchant.merchantId, amount: 50 };
      const mine = expectJson<PaymentJson>(await post(app, '/v1/payments', body, { token: wallet.token, key }), 201);
      const theirs = await post(app, '/v1/payments', body, { token: other.token, key });
      const theirPayment = expectJson<PaymentJson>(theirs, 201);
      assert.equal(theirs.headers['idempotent-replayed'], undefined);
      assert.notEqual(theirPayment.id, mine.id);
      assert.equal(theirPayment.wallet_id, other.walletId);
      assert.equal(await walletBalance(app, other.token), 450);
    });

    it('a refused payment is an answer too: after a top-up the same key still gets the stored 422 and moves nothing', async () => {
      const poor = await signUpPaying(app);
      await topUp(app, poor.token, 100);
      const key = randomUUID();
      const body = { merchant_id: merchant.merchantId, amount: 500 };
      const first = await post(app, '/v1/payments', body, { token: poor.token, key });
      expectProblem(first, 422, 'insufficient-funds');
      await topUp(app, poor.token, 1_000);
      const again = await post(app, '/v1/payments', body, { token: poor.token, key });
      assert.equal(again.statusCode, 422);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.headers['content-type'], first.headers['content-type']);
      assert.equal(again.payload, first.payload);
      assert.equal(await walletBalance(app, poor.token), 1_100);
      assert.equal(await countWhere(getDb(), 'payments WHERE wallet_id = $1', [poor.walletId]), 0);
      // A new key is a new request, and now it succeeds.
      await payMerchant(app, poor.token, merchant.merchantId, 500);
      assert.equal(await walletBalance(app, poor.token), 600);
    });

    it('a refund and a top-up retried under their keys move money once', async () => {
      const payment = await payMerchant(app, wallet.token, merchant.merchantId, 800);
      const walletBefore = await walletBalance(app, wallet.token);
      const merchantBefore = await merchantBalance(app, merchant.apiKey);
      const refundKey = randomUUID();
      const topupKey = randomUUID();
      const answers = [];
      for (let i = 0; i < 3; i++) {
        answers.push(await post(app, `/v1/payments/${payment.id}/refunds`, { amount: 300 }, { token: merchant.apiKey, key: refundKey }));
        answers.push(await post(app, '/v1/sandbox/topups', { amount: 70 }, { token: wallet.token, key: topupKey }));
      }
      assert.ok(answers.every((a) => a.statusCode === 201));
      assert.equal(answers[2]!.payload, answers[0]!.payload);
      assert.equal(answers[3]!.payload, answers[1]!.payload);
      assert.equal(await walletBalance(app, wallet.token), walletBefore + 300 + 70);
      assert.equal(await merchantBalance(app, merchant.apiKey), merchantBefore - 300);
      assert.equal(expectJson<PaymentJson>(await get(app, `/v1/payments/${payment.id}`, wallet.token), 200).refunded_amount, 300);
    });

    it('20 concurrent identical requests make one payment and one transfer, and get 20 identical answers', async () => {
      const balance = await walletBalance(app, wallet.token);
      const merchantBefore = await merchantBalance(app, merchant.apiKey);
      const key = randomUUID();
      const body = { merchant_id: merchant.merchantId, amount: 777 };
      const answers = await Promise.all(Array.from({ length: 20 }, () => post(app, '/v1/payments', body, { token: wallet.token, key })));
      const first = answers.find((a) => a.headers['idempotent-replayed'] === undefined);
      assert.ok(first, 'no answer was the first one');
      assert.equal(answers.filter((a) => a.headers['idempotent-replayed'] === undefined).length, 1);
      for (const answer of answers) {
        assert.equal(answer.statusCode, 201, answer.body);
        assert.equal(answer.payload, first.payload);
      }
      const paymentId = first.json().id;
      assert.equal(await countWhere(getDb(), 'payments WHERE id = $1', [paymentId]), 1);
      assert.equal(await countWhere(getDb(), 'payments WHERE wallet_id = $1 AND amount = 777', [wallet.walletId]), 1);
      assert.equal(await countWhere(getDb(), 'ledger_transfers WHERE reference = $1', [paymentId]), 1);
      assert.equal(await walletBalance(app, wallet.token), balance - 777);
      assert.equal(await merchantBalance(app, merchant.apiKey), merchantBefore + 777);
    });
  });

  describe('bad input is refused with a problem and writes nothing', () => {
    interface Endpoint {
      url: () => string;
      token: () => string | undefined;
      valid: () => Record<string, unknown>;
      strings: string[];
      amounts: string[];
      required: string[];
    }

    let wallet: Awaited<ReturnType<typeof signUpVerified>>;
    let merchant: Awaited<ReturnType<typeof newMerchant>>;
    let payment: PaymentJson;
    before(async () => {
      wallet = await signUpPaying(app);
      merchant = await newMerchant(app);
      await topUp(app, wallet.token, 1_000_000);
      payment = await payMerchant(app, wallet.token, merchant.merchantId, 5_000);
    });

    const endpoints: Record<string, Endpoint> = {
      'POST /v1/signup': {
        url: () => '/v1/signup', token: () => undefined, valid: () => ({ email: uniqueEmail(), password: DEFAULT_PASSWORD }),
        strings: ['email', 'password'], amounts: [], required: ['email', 'password'],
      },
      'POST /v1/signup/verify': {
        url: () => '/v1/signup/verify', token: () => undefined, valid: () => ({ email: wallet.email, code: '123456' }),
        strings: ['email', 'code'], amounts: [], required: ['email', 'code'],
      },
      'POST /v1/signup/resend': {
        url: () => '/v1/signup/resend', token: () => undefined, valid: () => ({ email: uniqueEmail() }),
        strings: ['email'], amounts: [], required: ['email'],
      },
      'POST /v1/sessions': {
        url: () => '/v1/sessions', token: () => undefined, valid: () => ({ email: wallet.email, password: DEFAULT_PASSWORD }),
        strings: ['email', 'password'], amounts: [], required: ['email', 'password'],
      },
      'POST /v1/merchants': {
        url: () => '/v1/merchants', token: () => wallet.token,
        valid: () => ({ name: 'Shop', email: uniqueEmail('shop'), business: { kind: 'sole_proprietor', trade_name: 'Shop' } }),
        strings: ['name', 'email'], amounts: [], required: ['name', 'business'],
      },
      'POST /v1/payments': {
        url: () => '/v1/payments', token: () => wallet.token,
        valid: () => ({ merchant_id: merchant.merchantId, amount: 100, description: 'ok' }),
        strings: ['merchant_id', 'description'], amounts: ['amount'], required: ['merchant_id', 'amount'],
      },
      'POST /v1/payments/:id/refunds': {
        url: () => `/v1/payments/${payment.id}/refunds`, token: () => merchant.apiKey, valid: () => ({ amount: 100, reason: 'ok' }),
        strings: ['reason'], amounts: ['amount'], required: ['amount'],
      },
      'POST /v1/sandbox/topups': {
        url: () => '/v1/sandbox/topups', token: () => wallet.token, valid: () => ({ amount: 100 }),
        strings: [], amounts: ['amount'], required: ['amount'],
      },
    };

    interface BadCase {
      name: string;
      status: number;
      /** The raw body text; undefined sends no body. */
      payload: (e: Endpoint) => string | undefined;
      contentType?: string | null;
      key?: string | null;
    }

    /** The valid body as JSON text with one field's value replaced by literal JSON text. */
    function withLiteral(e: Endpoint, field: string, literal: string): string {
      const marker = '"__literal__"';
      return JSON.stringify({ ...e.valid(), [field]: '__literal__' }).replace(marker, literal);
    }

    function casesFor(e: Endpoint): BadCase[] {
      const valid = (x: Endpoint) => JSON.stringify(x.valid());
      const cases: BadCase[] = [
        { name: 'malformed JSON', status: 400, payload: (x) => valid(x).slice(0, -1) },
        { name: 'JSON with a trailing comma', status: 400, payload: (x) => `${valid(x).slice(0, -1)},}` },
        { name: 'an empty JSON body', status: 400, payload: () => '' },
        { name: 'no body and no content type', status: 400, payload: () => undefined, contentType: null },
        { name: 'the JSON null', status: 400, payload: () => 'null' },
        { name: 'a JSON array', status: 400, payload: (x) => `[${valid(x)}]` },
        { name: 'a JSON string', status: 400, payload: (x) => JSON.stringify(valid(x)) },
        { name: 'text/plain', status: 415, payload: valid, contentType: 'text/plain' },
        { name: 'form-encoded', status: 415, payload: () => 'amount=100', contentType: 'application/x-www-form-urlencoded' },
        { name: 'an unknown field', status: 400, payload: (x) => JSON.stringify({ ...x.valid(), is_admin: true }) },
        { name: 'a body over 64 KiB', status: 413, payload: (x) => JSON.stringify({ ...x.valid(), padding: 'x'.repeat(70_000) }) },
        { name: 'a missing Idempotency-Key', status: 400, payload: valid, key: null },
        { name: 'an empty Idempotency-Key', status: 400, payload: valid, key: '' },
        { name: 'an over-long Idempotency-Key', status: 400, payload: valid, key: 'k'.repeat(256) },
        { name: 'an Idempotency-Key with a space', status: 400, payload: valid, key: 'two words' },
        { name: '__proto__ pollution', status: 400, payload: (x) => `{"__proto__":{"polluted":true},${valid(x).slice(1)}` },
        { name: 'nested __proto__ pollution', status: 400, payload: (x) => `{"extra":{"__proto__":{"polluted":true}},${valid(x).slice(1)}` },
        { name: 'constructor.prototype pollution', status: 400,
          payload: (x) => `{"constructor":{"prototype":{"polluted":true}},${valid(x).slice(1)}` },
      ];
      for (const field of e.required) {
        cases.push({ name: `without ${field}`, status: 400, payload: (x) => {
          const body = x.valid();
          delete body[field];
          return JSON.stringify(body);
        } });
      }
      for (const field of e.strings) {
        for (const literal of ['123', 'true', 'null', '{}', '["a"]', JSON.stringify('x'.repeat(1_100))]) {
          cases.push({ name: `${field} as ${literal.slice(0, 12)}`, status: 400, payload: (x) => withLiteral(x, field, literal) });
        }
      }
      for (const field of e.amounts) {
        const literals = [
          '"100"', 'true', 'null', '{}', '[100]', '-1', '0', '-0', '1.5', '100.0000001', '1e30', '-1e30',
          String(2 ** 53), '9007199254740993', String(MAX_AMOUNT + 1), '1e1000', 'NaN', 'Infinity', '0x10',
        ];
        for (const literal of literals) {
          cases.push({ name: `${field} as ${literal}`, status: 400, payload: (x) => withLiteral(x, field, literal) });
        }
      }
      return cases;
    }

    for (const [name, endpoint] of Object.entries(endpoints)) {
      describe(name, () => {
        for (const c of casesFor(endpoint)) {
          it(`${c.name} → ${c.status}`, async () => {
            const res = await refusedWithoutWrites(getDb(), () => postRaw(app, endpoint.url(), c.payload(endpoint), {
              contentType: c.contentType, key: c.key, ...(endpoint.token() ? { token: endpoint.token()! } : {}),
            }));
            expectProblem(res, c.status);
            assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
            assert.ok(!res.body.includes(DEFAULT_PASSWORD), 'the answer echoes the password');
          });
        }
      });
    }

    it('every documented POST and PUT, including routes added later, refuses bodies that are not JSON objects it can read', async () => {
      const doc = expectJson(await get(app, '/openapi.json'), 200);
      const routes: Array<[string, string]> = [];
      for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
        for (const method of ['post', 'put']) if (item[method]) routes.push([method.toUpperCase(), path.replace(/\{[^}]+\}/g, 'x_1')]);
      }
      assert.ok(routes.length >= 8, `only ${routes.length} routes documented`);
      const cases: Array<[string, number, string, string]> = [
        ['malformed JSON', 400, '{"amount":', 'application/json'],
        ['an empty JSON body', 400, '', 'application/json'],
        ['__proto__ pollution', 400, '{"__proto__":{"polluted":true}}', 'application/json'],
        ['text/plain', 415, '{}', 'text/plain'],
        ['XML', 415, '<a/>', 'application/xml'],
        ['a body over 64 KiB', 413, JSON.stringify({ padding: 'x'.repeat(70_000) }), 'application/json'],
      ];
      for (const [method, url] of routes) {
        for (const [name, status, payload, contentType] of cases) {
          const res = await refusedWithoutWrites(getDb(), () => app.inject({
            method: method as 'POST' | 'PUT', url, payload,
            headers: { 'content-type': contentType, 'idempotency-key': randomUUID(), authorization: `Bearer ${wallet.token}` },
          }));
          assert.equal(res.statusCode, status, `${method} ${url} with ${name}: ${res.statusCode} ${res.body}`);
          expectProblem(res, status);
        }
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
    });

    it('a refund of a malformed payment id is a 400 problem', async () => {
      const res = await refusedWithoutWrites(getDb(),
        () => post(app, '/v1/payments/not-a-payment/refunds', { amount: 1 }, { token: merchant.apiKey }));
      expectProblem(res, 400, 'invalid-request');
    });

    it('a body error never echoes what was sent', async () => {
      const secret = 'hunter2-very-secret';
      const res = await refusedWithoutWrites(getDb(),
        () => postRaw(app, '/v1/sessions', `{"email":"a@b.jp","password":"${secret}"`));
      expectProblem(res, 400);
      assert.ok(!res.body.includes(secret));
    });
  });
});
