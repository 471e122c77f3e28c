// Owns the tests' world for bank linking: a bank sandbox and a koza listening on 127.0.0.1, an HTTP client for koza,
// wallets verified as chosen sandbox persons (so their own accounts exist at the banks), TOTP and link step-up proofs.
// Must never reach into koza's tables to make a link: links are made over HTTP, as a customer's app would.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { buildApp } from '../src/http/app.js';
import type { App } from '../src/http/context.js';
import type { RiskDecider } from '../src/risk/hook.js';
import type { BankClient } from '../src/banks/client.js';
import type { Db } from '../src/store/db.js';
import type { Config } from '../src/config.js';
import { totpCodeAt } from '../src/identity/factors/totp.js';
import type { SandboxHolderAccount } from '../src/sandbox/banks/admin.js';
import type { RunningBankSandbox } from '../src/sandbox/banks/server.js';
import { expectJson, get, post, signUpVerified, testConfig, verifyPhone, type SandboxPerson, type SignedUp } from './api-client.js';
import type { TestBackend } from './backends.js';
import { startTestBankSandbox, TEST_KEY_SEED } from './bank-client-for-tests.js';
import { jsonOrEmpty } from '../src/attack/client.js';

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, any>;
}

/** koza over real HTTP (fetch on 127.0.0.1), the way a customer's app reaches it. */
export class KozaHttp {
  constructor(readonly url: string) {}

  async request(method: 'GET' | 'POST', path: string, options: {
    token?: string; body?: unknown; key?: string | null; headers?: Record<string, string>;
  } = {}): Promise<HttpAnswer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (method === 'POST') {
      headers['content-type'] = 'application/json';
      const key = options.key === undefined ? randomUUID() : options.key;
      if (key !== null) headers['idempotency-key'] = key;
    }
    const res = await fetch(new URL(path, this.url), {
      method, headers, redirect: 'manual', ...(method === 'POST' ? { body: JSON.stringify(options.body ?? {}) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: jsonOrEmpty(text) };
  }

  post(path: string, body: unknown, token?: string, key?: string | null): Promise<HttpAnswer> {
    return this.request('POST', path, { body, ...(token ? { token } : {}), ...(key !== undefined ? { key } : {}) });
  }

  get(path: string, token?: string, headers?: Record<string, string>): Promise<HttpAnswer> {
    return this.request('GET', path, { ...(token ? { token } : {}), ...(headers ? { headers } : {}) });
  }
}

export function expectOk(answer: HttpAnswer, status: number): Record<string, any> {
  assert.equal(answer.status, status, `expected ${status}, got ${answer.status}: ${answer.text}`);
  return answer.json;
}

/** An RFC 9457 answer with this status and koza problem code. */
export function expectProblemOver(answer: HttpAnswer, status: number, code?: string): Record<string, any> {
  assert.equal(answer.status, status, `expected ${status}, got ${answer.status}: ${answer.text}`);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/, answer.text);
  assert.equal(answer.json.status, status, answer.text);
  if (code !== undefined) assert.equal(answer.json.type, `urn:koza:problem:${code}`, answer.text);
  return answer.json;
}

export interface LinkWorld {
  sandbox: RunningBankSandbox;
  app: App;
  koza: KozaHttp;
  /** koza's configuration (its secret key unseals the link tokens), for tests that run a flow's steps themselves. */
  config: Config;
  close(): Promise<void>;
}

/** A bank sandbox on the backend under test and a koza on `db` that talks to it, listening on 127.0.0.1. */
export interface KozaOptions {
  env?: Record<string, string>;
  risk?: RiskDecider;
  /** A bank client of the test's own (to lose answers on purpose); by default koza's, from the configuration. */
  banks?: BankClient;
}

export async function startLinkWorld(backend: TestBackend, db: Db, options: KozaOptions = {}): Promise<LinkWorld> {
  const sandbox = await startTestBankSandbox(backend);
  const { app, koza, config } = await startKoza(db, sandbox, options);
  return {
    sandbox, app, koza, config,
    async close() {
      await app.close();
      await sandbox.close();
    },
  };
}

/** A koza on `db` for this sandbox, listening on 127.0.0.1 (close the app when done). */
export async function startKoza(
  db: Db, sandbox: RunningBankSandbox, options: KozaOptions = {},
): Promise<{ app: App; koza: KozaHttp; config: Config }> {
  const config = testConfig({ KOZA_BANK_SANDBOX_URL: sandbox.url, KOZA_BANK_KEY_SEED: TEST_KEY_SEED, ...options.env });
  const app = await buildApp({ db, config, ...(options.risk ? { risk: options.risk } : {}), ...(options.banks ? { banks: options.banks } : {}) });
  return { app, config, koza: new KozaHttp(await app.listen({ port: 0, host: '127.0.0.1' })) };
}

/** The sandbox person at a population index (the same persons hold the bank accounts). */
export async function personAt(app: App, index: number): Promise<SandboxPerson> {
  const page = expectJson<{ data: SandboxPerson[] }>(await get(app, `/v1/sandbox/identities?limit=1&offset=${index}`), 200);
  assert.equal(page.data[0]?.index, index);
  return page.data[0]!;
}

export interface PersonWallet extends SignedUp {
  person: SandboxPerson;
}

/** A wallet at L2 verified as this person: e-mail, the person's own phone, then eKYC with their document. */
export async function walletOf(app: App, person: SandboxPerson): Promise<PersonWallet> {
  const user = await signUpVerified(app);
  const afterPhone = await verifyPhone(app, user.token, person.phone);
  assert.ok(afterPhone, `the phone of person ${person.index} is taken`);
  const res = await post(app, '/v1/identity/verifications', {
    document_type: person.document_type, document_number: person.document_number, name_kanji: person.name_kanji,
    name_kana: person.name_kana, date_of_birth: person.date_of_birth, address: { ...person.address }, selfie_token: 'live-selfie-ok',
  }, { token: afterPhone });
  const body = expectJson<{ assurance_level: string; session: { token: string } }>(res, 201);
  assert.equal(body.assurance_level, 'L2');
  return { ...user, token: body.session.token, person };
}

/**
 * A wallet's second factor in a test: TOTP codes, each for a time step not used before within koza's ±1 step
 * window (three in any 30 s), then the recovery codes handed out at enrolment, so no test waits for the clock.
 */
export class Authenticator {
  private lastStep = -1;
  constructor(readonly secret: string, private readonly recoveryCodes: string[] = []) {}

  /** The recovery codes enrolment handed out (after the code that confirmed it, whose step stays used). */
  keep(recoveryCodes: string[]): void {
    this.recoveryCodes.push(...recoveryCodes);
  }

  /** A TOTP code (enrolment takes one). */
  totp(): string | null {
    const current = Math.floor(Date.now() / 30_000);
    const step = Math.max(current - 1, this.lastStep + 1);
    if (step > current + 1) return null;
    this.lastStep = step;
    return totpCodeAt(this.secret, step * 30_000 + 1_000);
  }

  /** What approves a step-up challenge: a TOTP code while one is left in the window, else a recovery code. */
  approval(): { method: 'totp' | 'recovery_code'; code: string } {
    const code = this.totp();
    if (code !== null) return { method: 'totp', code };
    const recovery = this.recoveryCodes.shift();
    assert.ok(recovery, 'out of TOTP steps and recovery codes');
    return { method: 'recovery_code', code: recovery };
  }
}

/** Enrols an authenticator app; rotates the wallet's token as koza does after a privilege change. */
export async function enrolTotp(app: App, user: SignedUp): Promise<Authenticator> {
  const started = expectJson<{ factor: { id: string }; secret: string }>(await post(app, '/v1/factors/totp', {}, { token: user.token }), 201);
  const authenticator = new Authenticator(started.secret);
  const confirm = () => post(app, `/v1/factors/totp/${started.factor.id}/confirm`, { code: authenticator.totp() }, { token: user.token });
  let answer = await confirm();
  // The first code is the previous step's, which koza takes only until the next step begins: on a busy machine the
  // answer may come after that, and a person types the code now on the screen — the next one.
  if (answer.statusCode === 422) answer = await confirm();
  const enrolled = expectJson<{ session: { token: string }; recovery_codes: string[] | null }>(answer, 200);
  user.token = enrolled.session.token;
  authenticator.keep(enrolled.recovery_codes ?? []);
  return authenticator;
}

/** Approves a step-up challenge for this binding; returns the proof. */
export async function stepUpProof(
  app: App, user: SignedUp, authenticator: Authenticator, binding: { action: string; destination?: string; amount?: number },
): Promise<string> {
  const created = expectJson<{ challenge: { id: string } }>(await post(app, '/v1/step-up/challenges', binding, { token: user.token }), 201);
  return expectJson<{ proof: string }>(await post(app, `/v1/step-up/challenges/${created.challenge.id}/approve`,
    authenticator.approval(), { token: user.token }), 201).proof;
}

/** A step-up proof for action "link" to this bank (dynamic linking: it works for this bank only, once). */
export function linkProof(app: App, user: SignedUp, authenticator: Authenticator, bankCode: string): Promise<string> {
  return stepUpProof(app, user, authenticator, { action: 'link', destination: bankCode });
}

/**
 * Hands out holder accounts that no earlier test took, matching a predicate; each person once (one person, one wallet).
 * Persons are taken from the start of the population: signUpPaying takes its persons from the end.
 */
export class HolderPicker {
  private readonly usedPersons = new Set<number>();
  private readonly usedAccounts = new Set<string>();
  constructor(private readonly sandbox: RunningBankSandbox) {}

  async pick(predicate: (h: SandboxHolderAccount) => boolean): Promise<SandboxHolderAccount> {
    const holders = (await this.sandbox.admin.holders()).sort((a, b) => a.person_index - b.person_index);
    const holder = holders.find((h) => predicate(h) && !this.usedPersons.has(h.person_index) && !this.usedAccounts.has(accountKey(h))
      && h.person_index < 800 && !h.pin_locked);
    assert.ok(holder, 'no unused holder account fits');
    this.take(holder);
    return holder;
  }

  /** A person used for something else (a phone number), so no holder of theirs is handed out. */
  reservePerson(index: number): void {
    this.usedPersons.add(index);
  }

  take(holder: SandboxHolderAccount): void {
    this.usedPersons.add(holder.person_index);
    this.usedAccounts.add(accountKey(holder));
  }
}

function accountKey(h: { bank_code: string; branch_code: string; account_number: string }): string {
  return `${h.bank_code}/${h.branch_code}/${h.account_number}`;
}

export function accountOf(h: SandboxHolderAccount): { branch_code: string; account_number: string } {
  return { branch_code: h.branch_code, account_number: h.account_number };
}

export interface LinkedHolder {
  holder: SandboxHolderAccount;
  wallet: PersonWallet;
  totp: Authenticator;
  linkId: string;
}

/** A holder's own wallet (L2, TOTP) with a pin_otp link to that holder's account, through the API and the bank's OTP. */
export async function linkedHolder(world: LinkWorld, picker: HolderPicker, predicate: (h: SandboxHolderAccount) => boolean = () => true): Promise<LinkedHolder> {
  const holder = await picker.pick((h) => h.link_methods.includes('pin_otp') && predicate(h));
  const wallet = await walletOf(world.app, await personAt(world.app, holder.person_index));
  const totp = await enrolTotp(world.app, wallet);
  const started = expectOk(await world.koza.post('/v1/links', {
    bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin,
    step_up_proof: await linkProof(world.app, wallet, totp, holder.bank_code),
  }, wallet.token), 201);
  const otp = await world.sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code);
  const link = expectOk(await world.koza.post(`/v1/links/${started.link_request_id}/complete`, { otp }, wallet.token), 201);
  return { holder, wallet, totp, linkId: link.id };
}
