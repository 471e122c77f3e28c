// Load script: payments/s or charges/s through the HTTP API on 127.0.0.1, against a koza process on PGlite or
// PostgreSQL. Charges go end to end: HTTP → koza → signed call to the bank sandbox → ledger.
// Usage: npx tsx scripts/load.ts [--operation payments|charges] [--backend pglite|postgres|both] [--database-url URL]
//                                [--duration 20] [--connections 16] [--wallets 64] [--json]
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
import { totpCodeAt } from '../src/identity/factors/totp.js';

const { values } = parseArgs({
  options: {
    operation: { type: 'string', default: 'payments' },
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
  if (!Number.isInteger(v) || v < 1) { console.error(`load: --${name} must be a positive whole number`); process.exit(2); }
}

if (!['pglite', 'postgres', 'both'].includes(values.backend!)) {
  console.error('load: --backend must be pglite, postgres or both'); process.exit(2);
}
if (!['payments', 'charges'].includes(values.operation!)) {
  console.error('load: --operation must be payments or charges'); process.exit(2);
}
const operation = values.operation as 'payments' | 'charges';
const log = (msg: string) => process.stderr.write(`load: ${msg}\n`);

async function runLoad(databaseUrl: string | undefined): Promise<Record<string, unknown>> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const bankPort = await freePort();
  const banks = `http://127.0.0.1:${bankPort}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'koza-load-'));
  const schema = `load_${Date.now().toString(36)}`;
  const env: Record<string, string | undefined> = {
    ...process.env, PORT: String(port), LOG_LEVEL: 'warn', KOZA_RATE_LIMIT_PER_MINUTE: '10000000',
    KOZA_DATA: join(dataDir, 'data'), KOZA_SECRET_KEY: 'ab'.repeat(32),
    // Throughput, not policy, is measured: the level caps are raised so that no wallet runs into them.
    KOZA_LIMITS: JSON.stringify({ L2: { maxBalance: 1e12, dailyPayments: 1e12, monthlyPayments: 1e12, dailyCharges: 1e12, monthlyCharges: 1e12 } }),
    KOZA_COOLING_OFF_DAILY_CAP: '1000000000',
    // Thousands of charges a minute from a few wallets is what the velocity rules exist to stop: this measures
    // the money path with the risk hook allowing, as the figures in the README and issue notes say.
    KOZA_RISK_ENGINE: 'off',
    KOZA_PHONE_CODES_PER_IP_PER_HOUR: '100000', KOZA_BANK_SANDBOX_PORT: String(bankPort),
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

  /** Requests cut off by the deadline may still be finishing inside koza: read until the figure is still. */
  async function settled(read: () => Promise<number>): Promise<number> {
    let value = await read();
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      const again = await read();
      if (again === value) return value;
      value = again;
    }
  }

  async function holderBalances(accounts: any[]): Promise<number> {
    const all = (await (await fetch(`${banks}/sandbox/holders?link_method=pin_otp`)).json()).data as any[];
    const wanted = new Set(accounts.map((a) => `${a.bank_code}/${a.branch_code}/${a.account_number}`));
    return all.filter((a) => wanted.has(`${a.bank_code}/${a.branch_code}/${a.account_number}`)).reduce((sum, a) => sum + a.balance, 0);
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
    const links: string[] = [];
    const holders = ((await (await fetch(`${banks}/sandbox/holders?link_method=pin_otp`)).json()).data as any[])
      .sort((a, b) => a.person_index - b.person_index)
      .filter((h, i, all) => i === 0 || all[i - 1].person_index !== h.person_index);
    for (let i = 0; i < walletCount; i++) {
      const email = `load-${tag}-${i}@example.jp`;
      await post('/v1/signup', { email, password: 'load test password' });
      const outbox = await get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(email)}`);
      const code = /code is (\d{6})/.exec(outbox.data[0].body)![1];
      await post('/v1/signup/verify', { email, code });
      const { token: l0 } = await post('/v1/sessions', { email, password: 'load test password' });
      // Paying and charging need L2: the seeded person's phone (L1), then their documents through sandbox eKYC.
      const holder = holders[i];
      const { data: [person] } = await get(`/v1/sandbox/identities?limit=1&offset=${operation === 'charges' ? holder.person_index : i}`);
      const sent = await post('/v1/phone', { phone: person.phone }, l0);
      const sms = await get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(sent.phone)}`);
      const { session: { token: l1 } } = await post('/v1/phone/verify', { code: /koza code: (\d{6})/.exec(sms.data[0].body)![1] }, l0);
      let { session: { token } } = await post('/v1/identity/verifications', {
        document_type: person.document_type, document_number: person.document_number, name_kanji: person.name_kanji,
        name_kana: person.name_kana, date_of_birth: person.date_of_birth, address: person.address, selfie_token: 'load-selfie',
      }, l1);
      if (operation === 'payments') {
        await post('/v1/sandbox/topups', { amount: 1_000_000_000 }, token);
      } else {
        // Linking needs a second factor and a step-up proof for the bank; then the bank's own OTP.
        const started = await post('/v1/factors/totp', {}, token);
        ({ session: { token } } = await post(`/v1/factors/totp/${started.factor.id}/confirm`, { code: totpCodeAt(started.secret, Date.now()) }, token));
        const challenge = await post('/v1/step-up/challenges', { action: 'link', destination: holder.bank_code }, token);
        const { proof } = await post(`/v1/step-up/challenges/${challenge.challenge.id}/approve`,
          { method: 'totp', code: totpCodeAt(started.secret, Date.now() + 30_000) }, token);
        const linkStart = await post('/v1/links', {
          bank_code: holder.bank_code, method: 'pin_otp', pin: holder.pin,
          account: { branch_code: holder.branch_code, account_number: holder.account_number }, step_up_proof: proof,
        }, token);
        const bankSms = (await (await fetch(`${banks}/sandbox/sms?phone=${encodeURIComponent(holder.registered_phone)}&bank_code=${holder.bank_code}`)).json()).data;
        const otp = /】(\d{6}) /.exec(bankSms[0].body)![1];
        links.push((await post(`/v1/links/${linkStart.link_request_id}/complete`, { otp }, token)).id);
      }
      tokens.push(token);
      if ((i + 1) % 16 === 0) log(`seeded ${i + 1}/${walletCount} wallets`);
    }
    const bankBefore = operation === 'charges' ? await holderBalances(holders.slice(0, walletCount)) : 0;

    log(`running ${operation} for ${duration}s with ${connections} connections`);
    let n = 0;
    const paymentBody = JSON.stringify({ merchant_id: merchant.id, amount: 100 });
    const result = await autocannon({
      url: base,
      connections,
      duration,
      requests: [{
        method: 'POST',
        path: operation === 'payments' ? '/v1/payments' : '/v1/charges',
        setupRequest: (req: any) => {
          const i = n++ % tokens.length;
          req.headers = { 'content-type': 'application/json', 'idempotency-key': randomUUID(), authorization: `Bearer ${tokens[i]}` };
          req.body = operation === 'payments' ? paymentBody : JSON.stringify({ link_id: links[i], amount: 1 });
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
      operation,
      [`${operation}_per_s`]: Math.round(ok / duration),
      answered_201: ok,
      requests_sent: result.requests.sent,
      latency_ms: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      non_2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    };
    if (operation === 'payments') {
      // The ledger, not the load tool, says how much moved: the merchant holds ¥100 per payment and the wallets the
      // rest. autocannon stops counting at the deadline, so up to one in-flight payment per connection is uncounted.
      const merchantBalance = await settled(async () => (await get('/v1/merchant', apiKey)).balance as number);
      let walletTotal = 0;
      for (const token of tokens) walletTotal += (await get('/v1/wallet/balance', token)).balance;
      const inFlight = merchantBalance / 100 - ok;
      const ledgerAgrees = inFlight >= 0 && inFlight <= connections && walletTotal + merchantBalance === walletCount * 1_000_000_000;
      Object.assign(summary, { ledger_agrees: ledgerAgrees, payments_in_ledger: merchantBalance / 100 });
      if (!ledgerAgrees) process.exitCode = 1;
    } else {
      // Every ¥1 charge the banks booked is a posted yen in a wallet: bank and ledger must agree to the yen.
      const walletTotal = await settled(async () => {
        let total = 0;
        for (const token of tokens) total += (await get('/v1/wallet/balance', token)).balance;
        return total;
      });
      const bankTaken = bankBefore - await holderBalances(holders.slice(0, walletCount));
      const inFlight = walletTotal - ok;
      const ledgerAgrees = bankTaken === walletTotal && inFlight >= 0 && inFlight <= connections;
      Object.assign(summary, { ledger_agrees: ledgerAgrees, charges_in_ledger: walletTotal, yen_taken_at_banks: bankTaken });
      if (!ledgerAgrees) process.exitCode = 1;
    }
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
