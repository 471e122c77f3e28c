// Tests what koza writes to its logs on PGlite and PostgreSQL: a whole flow at debug level, read back line by line.
// Must never let a password, a session token, a merchant API key or a one-time code reach the captured text.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  expectJson, expectProblem, get, latestCode, latestSmsCode, newMerchant, payMerchant, post, postRaw, testConfig, topUp,
  uniqueEmail, type ApiResponse, type SandboxPerson,
} from '../../test-support/api-client.js';
import { buildApp } from './app.js';
import type { App } from './context.js';
import type { Db, Queryable } from '../store/db.js';

class LogCapture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

forEachBackend('logs', (getDb) => {
  let app: App;
  let logs: LogCapture;
  before(async () => {
    logs = new LogCapture();
    app = await buildApp({ db: getDb(), config: testConfig({ LOG_LEVEL: 'debug' }), logStream: logs });
    await app.ready();
  });
  after(async () => {
    await app.close();
  });

  it('a sign-up → verify → login → phone → eKYC → pay → refund flow logs no secret, and every line names its request', async () => {
    const email = uniqueEmail('logs');
    const password = `pw-${randomUUID()}`;
    const answers: ApiResponse[] = [];
    const keep = (res: ApiResponse) => {
      answers.push(res);
      return res;
    };

    expectJson(keep(await post(app, '/v1/signup', { email, password })), 202);
    const code = await latestCode(app, email);
    expectProblem(keep(await post(app, '/v1/signup/verify', { email, code: code === '000000' ? '000001' : '000000' })), 422);
    expectJson(keep(await post(app, '/v1/signup/verify', { email, code })), 200);
    expectProblem(keep(await post(app, '/v1/sessions', { email, password: `${password}-wrong` })), 401);
    // A body that does not parse: the parser's message quotes the text, which must not reach a log.
    expectProblem(keep(await postRaw(app, '/v1/sessions', `{"email":"${email}","password":"${password}"`)), 400);
    const loginKey = randomUUID();
    const login = expectJson(keep(await post(app, '/v1/sessions', { email, password }, { key: loginKey })), 201);
    keep(await post(app, '/v1/sessions', { email, password }, { key: loginKey }));

    // L1 and L2 with the last seeded person: a phone code and a document number are secrets too.
    const people = expectJson<{ data: SandboxPerson[] }>(await get(app, '/v1/sandbox/identities?limit=1&offset=999'), 200).data;
    const person = people[0]!;
    expectJson(keep(await post(app, '/v1/phone', { phone: person.phone }, { token: login.token })), 202);
    const smsCode = await latestSmsCode(app, person.phone);
    const phoneVerified = expectJson(keep(await post(app, '/v1/phone/verify', { code: smsCode }, { token: login.token })), 200);
    const kyc = expectJson(keep(await post(app, '/v1/identity/verifications', {
      document_type: person.document_type, document_number: person.document_number, name_kanji: person.name_kanji,
      name_kana: person.name_kana, date_of_birth: person.date_of_birth, address: person.address, selfie_token: 'live-selfie-ok',
    }, { token: phoneVerified.session.token })), 201);
    const token: string = kyc.session.token;

    const merchant = await newMerchant(app);
    await topUp(app, token, 5_000);
    const payment = await payMerchant(app, token, merchant.merchantId, 1_200);
    expectJson(keep(await post(app, `/v1/payments/${payment.id}/refunds`, { amount: 200 }, { token: merchant.apiKey })), 201);
    expectJson(keep(await get(app, `/v1/payments/${payment.id}`, token)), 200);
    expectJson(keep(await get(app, '/v1/merchant', merchant.apiKey)), 200);
    keep(await get(app, '/v1/wallet', `${token}x`));
    assert.equal(keep(await app.inject({ method: 'DELETE', url: '/v1/sessions/current', headers: { authorization: `Bearer ${token}` } })).statusCode, 204);

    const lines = logs.text.split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0, 'nothing was logged');
    // Timestamps, pids and durations are digits that a 6-digit code could occur in by chance: leave them out.
    const scrubbed = lines.map((line) => {
      const { time: _time, pid: _pid, responseTime: _responseTime, ...rest } = JSON.parse(line) as Record<string, unknown>;
      return JSON.stringify(rest);
    }).join('\n');
    const secrets: Array<[string, string]> = [
      ['the password', password],
      ...[login.token, phoneVerified.session.token, token].flatMap((t: string): Array<[string, string]> =>
        [['a session token', t], ['a session token without its prefix', t.slice(4)]]),
      ['the merchant API key', merchant.apiKey], ['the API key without its prefix', merchant.apiKey.slice(4)],
      ['the e-mail code', code], ['the SMS code', smsCode], ['the document number', person.document_number],
    ];
    for (const [what, secret] of secrets) {
      assert.ok(!logs.text.includes(secret) || /^\d+$/.test(secret), `the logs contain ${what}`);
      assert.ok(!scrubbed.includes(secret), `the logs contain ${what}`);
    }

    const reqIds = new Set<string>();
    for (const line of lines) {
      const entry = JSON.parse(line) as { reqId?: unknown; req?: { headers?: unknown } };
      assert.equal(typeof entry.reqId, 'string', `a log line without a reqId: ${line}`);
      assert.equal(entry.req?.headers, undefined, `request headers were logged: ${line}`);
      reqIds.add(entry.reqId as string);
    }
    for (const res of answers) {
      const requestId = res.headers['x-request-id'];
      assert.equal(typeof requestId, 'string', 'an answer without x-request-id');
      assert.ok(reqIds.has(requestId as string), `request ${String(requestId)} left no log line`);
    }
  });
});

/**
 * A Db whose outbox inserts fail in the database itself (a missing table), with the real parameters: the
 * error the driver raises is as real as a full disk or a dropped connection would make it.
 */
function failingOutbox(db: Db): Db {
  const wrap = (q: Queryable): Queryable => ({
    query: (sql, params) => q.query(sql.replace('INSERT INTO dev_outbox', 'INSERT INTO dev_outbox_gone'), params),
    exec: (sql) => q.exec(sql),
  });
  return {
    backend: db.backend,
    schema: db.schema,
    ...wrap(db),
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    close: () => db.close(),
  };
}

forEachBackend('logs of a failure', (getDb) => {
  it('an unexpected database error is logged without its query parameters, and answered with a bare 500', async () => {
    const logs = new LogCapture();
    const app = await buildApp({ db: failingOutbox(getDb()), config: testConfig({ LOG_LEVEL: 'info' }), logStream: logs });
    try {
      const email = uniqueEmail('failure');
      const password = `pw-${randomUUID()}`;
      const res = await post(app, '/v1/signup', { email, password });
      const problem = expectProblem(res, 500, 'internal');
      // Nothing about the failure, only the catalogue's fixed words for a person (src/http/next-steps.ts).
      assert.deepEqual(Object.keys(problem).sort(), ['instance', 'message', 'next_step', 'status', 'title', 'type']);
      assert.equal(problem.next_step.en, 'Try again in a little while. If you need help, contact koza support.');
      const errorLine = logs.text.split('\n').find((l) => l.includes('"level":50'));
      assert.ok(errorLine, 'the failure was not logged');
      assert.match(errorLine, /dev_outbox_gone/, 'the log does not say what failed');
      assert.match(errorLine, /"code":"42P01"/, 'the log does not keep the database error code');
      // The outbox insert carried the e-mail body with the verification code; the wallet insert its password hash.
      assert.doesNotMatch(logs.text, /verification code is \d{6}/, 'the log holds a one-time code');
      assert.ok(!logs.text.includes('$argon2'), 'the log holds a password hash');
      assert.ok(!logs.text.includes(password), 'the log holds the password');
      assert.equal(await countWallets(getDb(), email), 0, 'the failed sign-up left a wallet behind');
    } finally {
      await app.close();
    }
  });
});

async function countWallets(db: Db, email: string): Promise<number> {
  const res = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM wallets WHERE email_normalized = $1', [email]);
  return res.rows[0]!.n;
}
