// Load script: payments/s through the HTTP API on 127.0.0.1, against a koza process on PGlite or PostgreSQL.
// Usage: npx tsx scripts/load-payments.ts [--backend pglite|postgres|both] [--database-url URL]
//                                          [--duration 20] [--connections 16] [--wallets 64] [--json]
// For postgres without --database-url it starts a throwaway PostgreSQL 15 itself (as `npm test` does).
// Starts `koza start` as a child process (its own event loop, as in production), seeds wallets with sandbox
// top-ups and one merchant over the API, runs autocannon with a fresh Idempotency-Key per request, then
// checks the ledger: payments counted equal 201 answers, and debits equal credits.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort, startThrowawayPostgres } from './throwaway-postgres.mjs';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'both' },
    'database-url': { type: 'string' },
    duration: { type: 'string', default: '20' },
    connections: { type: 'string', default: '16' },
    wallets: { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const walletCount = Number(values.wallets);
for (const [name, v] of [['duration', duration], ['connections', connections], ['wallets', walletCount]] as const) {
  if (!Number.isInteger(v) || v < 1) { console.error(`load-payments: --${name} must be a positive whole number`); process.exit(2); }
}

if (!['pglite', 'postgres', 'both'].includes(values.backend!)) {
  console.error('load-payments: --backend must be pglite, postgres or both'); process.exit(2);
}
const log = (msg: string) => process.stderr.write(`load-payments: ${msg}\n`);

async function runLoad(databaseUrl: string | undefined): Promise<Record<string, unknown>> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'koza-load-'));
  const schema = `load_${Date.now().toString(36)}`;
  const env: Record<string, string | undefined> = {
    ...process.env, PORT: String(port), LOG_LEVEL: 'warn', KOZA_RATE_LIMIT_PER_MINUTE: '10000000',
    KOZA_DATA: join(dataDir, 'data'), KOZA_SECRET_KEY: 'ab'.repeat(32),
    // Throughput, not policy, is measured: the level caps are raised so that no wallet runs into them.
    KOZA_LIMITS: JSON.stringify({ L2: { maxBalance: 1e12, dailyPayments: 1e12, monthlyPayments: 1e12 } }),
    KOZA_PHONE_CODES_PER_IP_PER_HOUR: '100000', KOZA_BANK_SANDBOX_PORT: '0',
  };
  if (databaseUrl) Object.assign(env, { DATABASE_URL: databaseUrl, KOZA_DB_SCHEMA: schema }); else delete env.DATABASE_URL;
  const backend = databaseUrl ? 'postgres' : 'pglite';
  log(`starting koza on ${backend} at ${base}`);
  const child = spawn(process.execPath, ['bin/koza.js', 'start'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const stop = () => { child.kill('SIGTERM'); };
  process.on('exit', stop);

  async function waitReady(): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      try { if ((await fetch(`${base}/readyz`)).ok) return; } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('koza did not become ready in 60 s');
  }

  async function post(path: string, body: unknown, token?: string): Promise<any> {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (res.status >= 300) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  }

  async function get(path: string, token?: string): Promise<any> {
    const res = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return res.json();
  }

  try {
    await waitReady();
    const tag = randomUUID().slice(0, 8);
    const { merchant, api_key: apiKey } = await post('/v1/merchants', { name: 'Load Cafe', email: `cafe-${tag}@example.jp` });
    const tokens: string[] = [];
    for (let i = 0; i < walletCount; i++) {
      const email = `load-${tag}-${i}@example.jp`;
      await post('/v1/signup', { email, password: 'load test password' });
      const outbox = await get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(email)}`);
      const code = /code is (\d{6})/.exec(outbox.data[0].body)![1];
      await post('/v1/signup/verify', { email, code });
      const { token: l0 } = await post('/v1/sessions', { email, password: 'load test password' });
      // Paying needs L2: the seeded person's phone (L1), then their documents through sandbox eKYC.
      const { data: [person] } = await get(`/v1/sandbox/identities?limit=1&offset=${i}`);
      const sent = await post('/v1/phone', { phone: person.phone }, l0);
      const sms = await get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(sent.phone)}`);
      const { session: { token: l1 } } = await post('/v1/phone/verify', { code: /koza code: (\d{6})/.exec(sms.data[0].body)![1] }, l0);
      const { session: { token } } = await post('/v1/identity/verifications', {
        document_type: person.document_type, document_number: person.document_number, name_kanji: person.name_kanji,
        name_kana: person.name_kana, date_of_birth: person.date_of_birth, address: person.address, selfie_token: 'load-selfie',
      }, l1);
      await post('/v1/sandbox/topups', { amount: 1_000_000_000 }, token);
      tokens.push(token);
      if ((i + 1) % 16 === 0) log(`seeded ${i + 1}/${walletCount} wallets`);
    }

    log(`running ${duration}s with ${connections} connections`);
    let n = 0;
    const body = JSON.stringify({ merchant_id: merchant.id, amount: 100 });
    const result = await autocannon({
      url: base,
      connections,
      duration,
      requests: [{
        method: 'POST',
        path: '/v1/payments',
        setupRequest: (req: any) => {
          const token = tokens[n++ % tokens.length];
          req.headers = { 'content-type': 'application/json', 'idempotency-key': randomUUID(), authorization: `Bearer ${token}` };
          req.body = body;
          return req;
        },
      }],
    });
    const ok = result['2xx'];
    const summary = {
      backend,
      duration_s: duration,
      connections,
      wallets: walletCount,
      payments_per_s: Math.round(ok / duration),
      answered_201: ok,
      requests_sent: result.requests.sent,
      latency_ms: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      non_2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    };
    // The ledger, not the load tool, says how much moved: the merchant holds ¥100 per payment and the wallets the
    // rest. autocannon stops counting at the deadline, so up to one in-flight payment per connection is uncounted.
    // Requests cut off by the deadline may still be finishing inside koza: wait until the ledger is still.
    let merchantBalance = (await get('/v1/merchant', apiKey)).balance as number;
    for (let settled = false; !settled;) {
      await new Promise((r) => setTimeout(r, 250));
      const again = (await get('/v1/merchant', apiKey)).balance as number;
      settled = again === merchantBalance;
      merchantBalance = again;
    }
    let walletTotal = 0;
    for (const token of tokens) walletTotal += (await get('/v1/wallet/balance', token)).balance;
    const inFlight = merchantBalance / 100 - ok;
    const ledgerAgrees = inFlight >= 0 && inFlight <= connections && walletTotal + merchantBalance === walletCount * 1_000_000_000;
    Object.assign(summary, { ledger_agrees: ledgerAgrees, payments_in_ledger: merchantBalance / 100 });
    if (!ledgerAgrees) process.exitCode = 1;
    return summary;
  } finally {
    stop();
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const results: Record<string, unknown>[] = [];
if (values.backend !== 'postgres') results.push(await runLoad(undefined));
if (values.backend !== 'pglite') {
  if (values['database-url']) {
    results.push(await runLoad(values['database-url']));
  } else {
    log('starting a throwaway PostgreSQL 15');
    const server = await startThrowawayPostgres({ database: 'koza_load' });
    process.on('exit', () => server.stop());
    try {
      results.push(await runLoad(server.url));
    } finally {
      server.stop();
    }
  }
}
if (values.json) process.stdout.write(`${JSON.stringify(results)}\n`);
else process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
