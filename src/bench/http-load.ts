// Owns the end-to-end load of `koza bench`: `koza start` as its own process on 127.0.0.1, wallets seeded through the
// API, autocannon, then the ledger checked against what was answered. Must never listen beyond loopback, nor leave
// the koza process or its temporary directory behind, nor report figures the ledger does not agree with.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { totpCodeAt } from '../identity/factors/totp.js';
import { writeShadowRuleFile } from './shadow-rules.js';

export type LoadOperation = 'payments' | 'charges';

export interface HttpLoadOptions {
  operation: LoadOperation;
  /** A PostgreSQL database koza (and its bank sandbox) may migrate into; PGlite in a temporary directory without. */
  databaseUrl?: string;
  durationS: number;
  connections: number;
  wallets: number;
  /** Prefix of the progress lines, e.g. `charges postgres`. */
  label: string;
  progress(line: string): void;
  /** Run the koza process under `node --cpu-prof`, writing its profile here when it stops. */
  cpuProfDir?: string;
  /**
   * Run the bank sandbox as its own process (`koza sandbox`), as a partner bank is in production, instead of beside
   * the API inside the koza process (`koza start`'s default in sandbox mode).
   */
  bankProcess?: boolean;
}

export interface HttpLoadResult {
  per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** 2xx answers within the duration. */
  answered: number;
  requests_sent: number;
  non_2xx: number;
  errors: number;
  timeouts: number;
  connections: number;
  wallets: number;
  duration_s: number;
  /** Payments or ¥1 charges the ledger holds afterwards (up to one a connection more than answered: cut off at the deadline). */
  in_ledger: number;
}

export const KOZA_BIN = join(import.meta.dirname, '..', '..', 'bin', 'koza.js');
const PASSWORD = 'bench password not a secret';
const TOPUP = 1_000_000_000;

interface Holder {
  bank_code: string;
  branch_code: string;
  account_number: string;
  pin: string;
  registered_phone: string;
  person_index: number;
  balance: number;
}

interface Person {
  phone: string;
  document_type: string;
  document_number: string;
  name_kanji: string;
  name_kana: string;
  date_of_birth: string;
  address: unknown;
}

/** koza processes running now, so that a Ctrl-C of `koza bench` stops them too. */
const running = new Set<ChildProcess>();

/** Synchronous, for signal and exit handlers: SIGTERM to every koza process a load started. */
export function stopLoadProcessesNow(): void {
  for (const child of running) child.kill('SIGTERM');
  running.clear();
}

/**
 * A node child process this module stops on exit (stopLoadProcessesNow): its exit, and a stop that asks with SIGTERM
 * and insists with SIGKILL after 30 s.
 */
function spawnTracked(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => {
    running.delete(child);
    done(code);
  }));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, exited, stop };
}

/** Starts `koza sandbox` on a free loopback port and resolves with its URL (the first line it prints). */
function startBankProcess(env: Record<string, string>, dataDir: string | undefined): Promise<{ url: string; stop(): Promise<void> }> {
  const { child, exited, stop } = spawnTracked([KOZA_BIN, 'sandbox', '--port', '0', ...(dataDir ? ['--data', dataDir] : [])], env);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const url = /^(http:\/\/\S+)\n/.exec(stdout);
      if (url) resolve({ url: url[1]!, stop });
    });
    void exited.then((code) => reject(new Error(`koza sandbox exited ${code} before serving: ${stderr.trim().split('\n').slice(-2).join(' | ')}`)));
  });
}

interface RunningKoza {
  base: string;
  banks: string;
  stop(): Promise<void>;
}

/** Starts `koza start` on free loopback ports and resolves once it serves; its log lines go to our stderr. */
function startKoza(env: Record<string, string>, cpuProfDir: string | undefined): Promise<RunningKoza> {
  const nodeArgs = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
  const { child, exited, stop } = spawnTracked([...nodeArgs, KOZA_BIN, 'start'], env);
  child.stdout.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  return new Promise((resolve, reject) => {
    let stderr = '';
    let ready = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (ready) {
        process.stderr.write(chunk);
        return;
      }
      stderr += chunk;
      const api = /koza listening on (http:\/\/\S+)/.exec(stderr);
      const banks = /partner banks at (http:\/\/\S+)/.exec(stderr);
      if (api && banks) {
        ready = true;
        resolve({ base: api[1]!, banks: banks[1]!, stop });
      }
    });
    void exited.then((code) => {
      if (!ready) reject(new Error(`koza start exited ${code} before serving: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

class Api {
  constructor(private readonly base: string) {}

  async post<T>(path: string, body: unknown, token?: string): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const json = await res.json() as T;
    if (res.status >= 300) throw new Error(`seeding: POST ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  }

  async get<T>(path: string, token?: string): Promise<T> {
    const res = await fetch(`${this.base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const json = await res.json() as T;
    if (res.status >= 300) throw new Error(`GET ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Requests cut off by the deadline may still be finishing inside koza: read until the figure is still. */
async function settled(read: () => Promise<number>): Promise<number> {
  let value = await read();
  for (;;) {
    await sleep(250);
    const again = await read();
    if (again === value) return value;
    value = again;
  }
}

/** One holder per sandbox person who links with PIN and bank OTP, in person order: wallet i is person i's. */
async function pinOtpHolders(banks: string): Promise<Holder[]> {
  const all = (await (await fetch(`${banks}/sandbox/holders?link_method=pin_otp`)).json() as { data: Holder[] }).data;
  return all.sort((a, b) => a.person_index - b.person_index).filter((h, i, sorted) => i === 0 || sorted[i - 1]!.person_index !== h.person_index);
}

async function holderBalances(banks: string, holders: Holder[]): Promise<number> {
  const key = (h: Pick<Holder, 'bank_code' | 'branch_code' | 'account_number'>) => `${h.bank_code}/${h.branch_code}/${h.account_number}`;
  const wanted = new Set(holders.map(key));
  const all = (await (await fetch(`${banks}/sandbox/holders?link_method=pin_otp`)).json() as { data: Holder[] }).data;
  return all.filter((h) => wanted.has(key(h))).reduce((sum, h) => sum + h.balance, 0);
}

interface SeededWallet {
  token: string;
  linkId?: string;
}

/**
 * A customer as the API makes one: sign-up, e-mail code, sign-in, the person's phone (L1), sandbox eKYC (L2); then a
 * sandbox top-up for payments, or for charges a TOTP factor, a step-up proof and a PIN + bank-OTP link to their
 * own account (the holder's identity is the wallet's, so the name match is exact).
 */
/** Sign-up, e-mail code, phone and eKYC as the sandbox person at `personIndex`: an L2 wallet's session token. */
async function seedVerifiedWallet(api: Api, email: string, personIndex: number): Promise<string> {
  await api.post('/v1/signup', { email, password: PASSWORD });
  const outbox = await api.get<{ data: Array<{ body: string }> }>(`/v1/sandbox/outbox?recipient=${encodeURIComponent(email)}`);
  await api.post('/v1/signup/verify', { email, code: /code is (\d{6})/.exec(outbox.data[0]!.body)![1] });
  const { token: l0 } = await api.post<{ token: string }>('/v1/sessions', { email, password: PASSWORD });
  const { data: [person] } = await api.get<{ data: Person[] }>(`/v1/sandbox/identities?limit=1&offset=${personIndex}`);
  const sent = await api.post<{ phone: string }>('/v1/phone', { phone: person!.phone }, l0);
  const sms = await api.get<{ data: Array<{ body: string }> }>(`/v1/sandbox/outbox?recipient=${encodeURIComponent(sent.phone)}`);
  const { session: { token: l1 } } = await api.post<{ session: { token: string } }>('/v1/phone/verify',
    { code: /koza code: (\d{6})/.exec(sms.data[0]!.body)![1] }, l0);
  const { session: { token } } = await api.post<{ session: { token: string } }>('/v1/identity/verifications', {
    document_type: person!.document_type, document_number: person!.document_number, name_kanji: person!.name_kanji,
    name_kana: person!.name_kana, date_of_birth: person!.date_of_birth, address: person!.address, selfie_token: 'bench-selfie',
  }, l1);
  return token;
}

/** The bench's merchant, opened as koza requires: a verified owner (a person no bench wallet is) as a sole proprietor. */
async function seedMerchant(api: Api, tag: string, holders: Holder[]): Promise<{ merchant: { id: string }; api_key: string }> {
  const taken = new Set(holders.map((h) => h.person_index));
  const { data: people } = await api.get<{ data: Array<Person & { index: number; behaviour: string }> }>('/v1/sandbox/identities?limit=100');
  const owner = people.find((p) => !taken.has(p.index) && p.behaviour === 'pass');
  if (!owner) throw new Error('no sandbox person is left to own the bench merchant');
  const token = await seedVerifiedWallet(api, `cafe-${tag}@example.jp`, owner.index);
  return api.post('/v1/merchants', { name: 'Bench Cafe', business: { kind: 'sole_proprietor', trade_name: 'Bench Cafe' } }, token);
}

async function seedWallet(api: Api, banks: string, operation: LoadOperation, tag: string, i: number, holder: Holder): Promise<SeededWallet> {
  let token = await seedVerifiedWallet(api, `bench-${tag}-${i}@example.jp`, holder.person_index);
  if (operation === 'payments') {
    await api.post('/v1/sandbox/topups', { amount: TOPUP }, token);
    return { token };
  }
  const started = await api.post<{ factor: { id: string }; secret: string }>('/v1/factors/totp', {}, token);
  ({ session: { token } } = await api.post<{ session: { token: string } }>(`/v1/factors/totp/${started.factor.id}/confirm`,
    { code: totpCodeAt(started.secret, Date.now()) }, token));
  const challenge = await api.post<{ challenge: { id: string } }>('/v1/step-up/challenges', { action: 'link', destination: holder.bank_code }, token);
  // The next time step: the confirm above used this one's code, and a TOTP code is accepted once.
  const { proof } = await api.post<{ proof: string }>(`/v1/step-up/challenges/${challenge.challenge.id}/approve`,
    { method: 'totp', code: totpCodeAt(started.secret, Date.now() + 30_000) }, token);
  const linkStart = await api.post<{ link_request_id: string }>('/v1/links', {
    bank_code: holder.bank_code, method: 'pin_otp', pin: holder.pin,
    account: { branch_code: holder.branch_code, account_number: holder.account_number }, step_up_proof: proof,
  }, token);
  const bankSms = (await (await fetch(`${banks}/sandbox/sms?phone=${encodeURIComponent(holder.registered_phone)}&bank_code=${holder.bank_code}`))
    .json() as { data: Array<{ body: string }> }).data;
  const otp = /】(\d{6}) /.exec(bankSms[0]!.body)![1];
  const link = await api.post<{ id: string }>(`/v1/links/${linkStart.link_request_id}/complete`, { otp }, token);
  return { token, linkId: link.id };
}

/**
 * Payments (¥100 to one merchant from topped-up L2 wallets) or charges (¥1 from each wallet's linked bank account:
 * HTTP → koza → risk decision → pending transfer → signed call to the bank sandbox → post), a fresh Idempotency-Key
 * per request, round-robin over the wallets. Afterwards the ledger must hold every answered one: payments in the
 * merchant's balance, charges as yen in wallets equal to the yen the banks took.
 */
export async function runHttpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const { operation, label, progress, connections, durationS } = options;
  const temp = mkdtempSync(join(tmpdir(), 'koza-bench-'));
  let koza: RunningKoza | undefined;
  let bank: { url: string; stop(): Promise<void> } | undefined;
  try {
    const env: Record<string, string> = {
      ...process.env as Record<string, string>,
      HOST: '127.0.0.1', PORT: '0', KOZA_BANK_SANDBOX_PORT: '0', KOZA_BANK_SANDBOX_URL: '', KOZA_SANDBOX: 'true',
      LOG_LEVEL: 'error', KOZA_DATA: join(temp, 'data'), KOZA_SECRET_KEY: 'ab'.repeat(32), KOZA_POLICY: 'secure',
      KOZA_RATE_LIMIT_PER_MINUTE: '10000000', KOZA_PHONE_CODES_PER_IP_PER_HOUR: '100000',
      // Throughput, not policy, is measured: the level caps and the new link's cooling-off cap are raised so that no
      // wallet reaches them; the checks themselves still run on every charge and payment.
      KOZA_LIMITS: JSON.stringify({ L2: { maxBalance: 1e12, dailyPayments: 1e12, monthlyPayments: 1e12, dailyCharges: 1e12, monthlyCharges: 1e12 } }),
      KOZA_COOLING_OFF_DAILY_CAP: '1000000000',
      // The engine stays on: every rule evaluated and every decision stored, in shadow mode (shadow-rules.ts).
      KOZA_RISK_ENGINE: 'true', KOZA_RISK_RULES: writeShadowRuleFile(temp),
      DATABASE_URL: options.databaseUrl ?? '', KOZA_DB_SCHEMA: 'public',
    };
    if (options.bankProcess) {
      bank = await startBankProcess({ ...env, PORT: '0' }, options.databaseUrl ? undefined : join(temp, 'banks'));
      env.KOZA_BANK_SANDBOX_URL = bank.url;
    }
    progress(`${label}: starting koza (${options.databaseUrl ? 'PostgreSQL' : 'PGlite'}) on 127.0.0.1, `
      + `the bank sandbox ${bank ? `as its own process at ${bank.url}` : 'inside it'}`);
    koza = await startKoza(env, options.cpuProfDir);
    const api = new Api(koza.base);
    const banks = koza.banks;
    const tag = randomUUID().slice(0, 8);
    const holders = (await pinOtpHolders(banks)).slice(0, options.wallets);
    if (holders.length < options.wallets) throw new Error(`the sandbox has ${holders.length} PIN + OTP holders; --wallets must be at most that`);
    const merchant = await seedMerchant(api, tag, holders);

    progress(`${label}: seeding ${options.wallets} wallet${options.wallets === 1 ? '' : 's'} through the API`);
    const wallets: SeededWallet[] = new Array(options.wallets);
    let next = 0;
    let done = 0;
    // A few at a time: sign-up and sign-in hash passwords (argon2), which is slow by design.
    await Promise.all(Array.from({ length: Math.min(4, options.wallets) }, async () => {
      while (next < options.wallets) {
        const i = next++;
        wallets[i] = await seedWallet(api, banks, operation, tag, i, holders[i]!);
        if (++done % 16 === 0 && done < options.wallets) progress(`${label}: seeded ${done}/${options.wallets}`);
      }
    }));
    const bankBefore = operation === 'charges' ? await holderBalances(banks, holders) : 0;

    progress(`${label}: ${connections} connection${connections === 1 ? '' : 's'} for ${durationS} s`);
    let n = 0;
    const paymentBody = JSON.stringify({ merchant_id: merchant.merchant.id, amount: 100 });
    let answered = 0;
    let second = 0;
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon({
        url: koza!.base, connections, duration: durationS,
        requests: [{
          method: 'POST',
          path: operation === 'payments' ? '/v1/payments' : '/v1/charges',
          setupRequest: (req) => {
            const w = wallets[n++ % wallets.length]!;
            req.headers = { 'content-type': 'application/json', 'idempotency-key': randomUUID(), authorization: `Bearer ${w.token}` };
            req.body = operation === 'payments' ? paymentBody : JSON.stringify({ link_id: w.linkId, amount: 1 });
            return req;
          },
        }],
      }, (err, res) => (err ? reject(err) : resolve(res)));
      (instance as NodeJS.EventEmitter).on('tick', (t: { counter: number }) => {
        answered += t.counter;
        second += 1;
        if (second < durationS) progress(`${label}: ${second} s, ${answered} answered (${t.counter}/s)`);
      });
    });
    const ok = result['2xx'];
    if (result.non2xx > 0 || result.errors > 0) {
      progress(`${label}: warning: ${result.non2xx} non-2xx answers, ${result.errors} errors (${result.timeouts} timeouts)`);
    }

    // The ledger, not the load tool, says what moved. autocannon stops counting at the deadline, so up to one
    // in-flight request per connection is in the ledger but not in `ok`.
    let inLedger: number;
    let agrees: boolean;
    let detail: string;
    if (operation === 'payments') {
      const merchantBalance = await settled(async () => (await api.get<{ balance: number }>('/v1/merchant', merchant.api_key)).balance);
      let walletTotal = 0;
      for (const w of wallets) walletTotal += (await api.get<{ balance: number }>('/v1/wallet/balance', w.token)).balance;
      inLedger = merchantBalance / 100;
      agrees = inLedger - ok >= 0 && inLedger - ok <= connections && walletTotal + merchantBalance === options.wallets * TOPUP;
      detail = `merchant holds ${inLedger} payments, wallets ¥${walletTotal}, ${ok} answered`;
    } else {
      const walletTotal = await settled(async () => {
        let total = 0;
        for (const w of wallets) total += (await api.get<{ balance: number }>('/v1/wallet/balance', w.token)).balance;
        return total;
      });
      const bankTaken = bankBefore - await holderBalances(banks, holders);
      inLedger = walletTotal;
      agrees = bankTaken === walletTotal && walletTotal - ok >= 0 && walletTotal - ok <= connections;
      detail = `wallets hold ¥${walletTotal}, banks gave ¥${bankTaken}, ${ok} answered`;
    }
    if (!agrees) throw new Error(`${label}: the ledger disagrees with the load (${detail})`);
    const round1 = (x: number) => Math.round(x * 10) / 10;
    const figures: HttpLoadResult = {
      per_s: round1(ok / durationS), p50_ms: result.latency.p50, p99_ms: result.latency.p99, max_ms: result.latency.max,
      answered: ok, requests_sent: result.requests.sent, non_2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts,
      connections, wallets: options.wallets, duration_s: durationS, in_ledger: inLedger,
    };
    progress(`${label}: ${figures.per_s}/s, p50 ${figures.p50_ms} ms, p99 ${figures.p99_ms} ms; ledger agrees (${detail})`);
    return figures;
  } finally {
    await koza?.stop();
    await bank?.stop();
    rmSync(temp, { recursive: true, force: true, maxRetries: 3 });
  }
}
