// Sign-in throttling holds under concurrency: 30 simultaneous wrong passwords for one account get the 5 free password
// checks and no more — on one process's connections, and across three koza processes sharing one PostgreSQL.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { forEachBackend, freshSchemaName } from '../../test-support/backends.js';
import { expectProblem, post, signUpVerified, testApp, DEFAULT_PASSWORD } from '../../test-support/api-client.js';
import { startKozaProcess, type KozaProcess } from '../../test-support/koza-process.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import type { App } from '../http/context.js';
import { FREE_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_IP } from './login-throttle.js';

const TRIES = 30;

/** How many passwords were actually checked for the account: every check writes one attempt row, and only a check does. */
async function passwordChecks(db: Db, email: string): Promise<number> {
  const res = await db.query<{ n: string }>('SELECT count(*) AS n FROM login_attempts WHERE email_normalized = $1', [email]);
  return Number(res.rows[0]!.n);
}

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}

forEachBackend('sign-in throttling under concurrency', (db, backend) => {
  let app: App;
  before(async () => {
    app = await testApp(db(), { KOZA_TRUST_PROXY: 'true' });
  });
  after(async () => {
    await app.close();
  });

  it(`${TRIES} simultaneous wrong passwords on one process: ${FREE_FAILURES_PER_ACCOUNT} checked, the rest 429 with Retry-After`, async () => {
    const user = await signUpVerified(app);
    const answers = await Promise.all(Array.from({ length: TRIES }, () =>
      post(app, '/v1/sessions', { email: user.email, password: 'not the password, surely' })));
    const statuses = answers.map((a) => a.statusCode);
    assert.deepEqual(tally(statuses), { 401: FREE_FAILURES_PER_ACCOUNT, 429: TRIES - FREE_FAILURES_PER_ACCOUNT });
    assert.equal(await passwordChecks(db(), user.email), 1 + FREE_FAILURES_PER_ACCOUNT, 'the sign-up sign-in and five wrong ones');
    for (const a of answers.filter((r) => r.statusCode === 429)) {
      assert.ok(Number(a.headers['retry-after']) >= 1, 'Retry-After says when');
      assert.equal(a.json().type, 'urn:koza:problem:login-throttled');
    }
    const failures = (await db().query<{ consecutive_failures: number }>(
      'SELECT consecutive_failures FROM login_throttle WHERE email_normalized = $1', [user.email])).rows[0]!;
    assert.equal(failures.consecutive_failures, FREE_FAILURES_PER_ACCOUNT);
  });

  it(`an address with ${MAX_FAILURES_PER_IP} failed sign-ins in the hour (carrier-NAT size) stops unknown devices, never the account's own`, async () => {
    const ip = '203.0.113.200';
    const device = 'own-phone-0000000000001';
    const user = await signUpVerified(app);
    // The account's own phone signed in before (the sign-up sign-in came without a device id).
    const own = await post(app, '/v1/sessions', { email: user.email, password: DEFAULT_PASSWORD }, { headers: { 'x-device-id': device } });
    assert.ok(own.statusCode === 201 || own.statusCode === 202, own.body);
    // Thousands of customers behind the address, and a stuffer among them: the hour's failures reach the limit.
    await db().query(
      `INSERT INTO login_attempts (email_normalized, ip, succeeded, created_at)
       SELECT 'someone-' || g || '@example.jp', $1, false, now() - make_interval(secs => g) FROM generate_series(1, $2) g`,
      [ip, MAX_FAILURES_PER_IP]);
    const stranger = await post(app, '/v1/sessions', { email: user.email, password: DEFAULT_PASSWORD },
      { headers: { 'x-forwarded-for': ip, 'x-device-id': 'unknown-device-000000001' } });
    const problem = expectProblem(stranger, 429, 'login-throttled');
    const retryAfter = Number(stranger.headers['retry-after']);
    // The oldest of the limit's failures is MAX_FAILURES_PER_IP seconds old: it leaves the hour in 60 min minus that.
    assert.ok(retryAfter > 3600 - MAX_FAILURES_PER_IP - 10 && retryAfter <= 3600 - MAX_FAILURES_PER_IP + 1, String(retryAfter));
    assert.equal(problem.retry_after_s, retryAfter);
    assert.match(problem.detail, /device you used before.*Try again after .+ JST\.$/);
    const checked = await db().query<{ n: number }>('SELECT count(*)::int8 AS n FROM login_attempts WHERE email_normalized = $1 AND ip = $2', [user.email, ip]);
    assert.equal(Number(checked.rows[0]!.n), 0, 'the refused try checked no password');
    // The customer's own phone, behind the same address, signs in.
    const mine = await post(app, '/v1/sessions', { email: user.email, password: DEFAULT_PASSWORD },
      { headers: { 'x-forwarded-for': ip, 'x-device-id': device } });
    assert.equal(mine.statusCode, 201, mine.body);
  });

  if (backend.name !== 'postgres') return;

  describeProcesses();
});

/** Three `koza start` processes on one PostgreSQL schema; the wrong passwords go to all three at once. */
function describeProcesses(): void {
  const schema = freshSchemaName();
  const env = {
    DATABASE_URL: process.env.KOZA_TEST_DATABASE_URL!, KOZA_DB_SCHEMA: schema, KOZA_SECRET_KEY: 'ab'.repeat(32),
    KOZA_RECONCILE_EVERY_SECONDS: '0', KOZA_RATE_LIMIT_PER_MINUTE: '100000',
  };
  const processes: KozaProcess[] = [];
  let db: Db;
  before(async () => {
    db = await openDb({ databaseUrl: env.DATABASE_URL, schema, poolSize: 2 });
    await migrate(db);
    // One after another: each process checks the migrations at start.
    for (let i = 0; i < 3; i++) processes.push(await startKozaProcess(env));
  });
  after(async () => {
    for (const p of processes) await p.stop();
    await db?.close();
  });

  async function call(base: string, path: string, body: unknown): Promise<{ status: number; retryAfter: string | null; body: any }> {
    const res = await fetch(`${base}${path}`, {
      method: 'POST', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
  }

  it(`${TRIES} simultaneous wrong passwords across three koza processes: ${FREE_FAILURES_PER_ACCOUNT} checked in all`, async () => {
    const [a] = processes;
    const email = `throttle-${randomUUID()}@example.jp`;
    assert.equal((await call(a!.url, '/v1/signup', { email, password: DEFAULT_PASSWORD })).status, 202);
    const mail = await (await fetch(`${a!.url}/v1/sandbox/outbox?recipient=${encodeURIComponent(email)}`)).json() as { data: Array<{ body: string }> };
    const code = /code is (\d{6})/.exec(mail.data[0]!.body)![1]!;
    assert.equal((await call(a!.url, '/v1/signup/verify', { email, code })).status, 200);

    const answers = await Promise.all(Array.from({ length: TRIES }, (_, i) =>
      call(processes[i % processes.length]!.url, '/v1/sessions', { email, password: 'not the password, surely' })));
    assert.deepEqual(tally(answers.map((r) => r.status)), { 401: FREE_FAILURES_PER_ACCOUNT, 429: TRIES - FREE_FAILURES_PER_ACCOUNT });
    assert.equal(await passwordChecks(db, email), FREE_FAILURES_PER_ACCOUNT, 'no process checked a password past the five');
    for (const r of answers.filter((x) => x.status === 429)) assert.ok(Number(r.retryAfter) >= 1);
    // Each process answered some of them: the three really raced.
    const perProcess = processes.map((_, p) => answers.filter((_r, i) => i % processes.length === p).length);
    assert.deepEqual(perProcess, [10, 10, 10]);
    // Once the wait is over the right password gets in — after five failures in the hour, with an e-mailed second proof.
    await db.query(`UPDATE login_throttle SET last_failure_at = last_failure_at - interval '1 minute' WHERE email_normalized = $1`, [email]);
    const right = await call(processes[2]!.url, '/v1/sessions', { email, password: DEFAULT_PASSWORD });
    assert.equal(right.status, 202, JSON.stringify(right.body));
    assert.deepEqual(right.body.methods, ['email_code']);
  });
}
