// Owns the tests' world for bank linking: a bank sandbox and a koza listening on 127.0.0.1, an HTTP client for koza,
// wallets verified as chosen sandbox persons (so their own accounts exist at the banks), TOTP and link step-up proofs.
// Must never reach into koza's tables to make a link: links are made over HTTP, as a customer's app would.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { buildApp } from '../src/http/app.js';
import type { App } from '../src/http/context.js';
import type { RiskDecider } from '../src/risk/hook.js';
import type { Db } from '../src/store/db.js';
import { totpCodeAt } from '../src/identity/factors/totp.js';
import type { SandboxHolderAccount } from '../src/sandbox/banks/admin.js';
import type { RunningBankSandbox } from '../src/sandbox/banks/server.js';
import { expectJson, get, post, signUpVerified, testConfig, verifyPhone, type SandboxPerson, type SignedUp } from './api-client.js';
import type { TestBackend } from './backends.js';
import { startTestBankSandbox, TEST_KEY_SEED } from './bank-client-for-tests.js';

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
    let json: Record<string, any> = {};
    try {
      json = text ? JSON.parse(text) as Record<string, any> : {};
    } catch {
      json = {};
    }
    return { status: res.status, headers: res.headers, text, json };
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
  close(): Promise<void>;
}

/** A bank sandbox on the backend under test and a koza on `db` that talks to it, listening on 127.0.0.1. */
export async function startLinkWorld(
  backend: TestBackend, db: Db, options: { env?: Record<string, string>; risk?: RiskDecider } = {},
): Promise<LinkWorld> {
  const sandbox = await startTestBankSandbox(backend);
  const config = testConfig({ KOZA_BANK_SANDBOX_URL: sandbox.url, KOZA_BANK_KEY_SEED: TEST_KEY_SEED, ...options.env });
  const app = await buildApp({ db, config, ...(options.risk ? { risk: options.risk } : {}) });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    sandbox, app, koza: new KozaHttp(url),
    async close() {
      await app.close();
      await sandbox.close();
    },
  };
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
 * TOTP codes for one secret. koza accepts a time step once and ±1 step around now, so each code is for the
 * step after the last one used: now, then now + 30 s; a third within the same step waits for the clock.
 */
export class Authenticator {
  private lastStep = -1;
  constructor(readonly secret: string) {}
  async next(): Promise<string> {
    for (;;) {
      const current = Math.floor(Date.now() / 30_000);
      const step = Math.max(current, this.lastStep + 1);
      if (step <= current + 1) {
        this.lastStep = step;
        return totpCodeAt(this.secret, step * 30_000 + 1_000);
      }
      await new Promise((resolve) => setTimeout(resolve, (current + 1) * 30_000 - Date.now() + 50));
    }
  }
}

/** Enrols an authenticator app; rotates the wallet's token as koza does after a privilege change. */
export async function enrolTotp(app: App, user: SignedUp): Promise<Authenticator> {
  const started = expectJson<{ factor: { id: string }; secret: string }>(await post(app, '/v1/factors/totp', {}, { token: user.token }), 201);
  const authenticator = new Authenticator(started.secret);
  const enrolled = expectJson<{ session: { token: string } }>(
    await post(app, `/v1/factors/totp/${started.factor.id}/confirm`, { code: await authenticator.next() }, { token: user.token }), 200);
  user.token = enrolled.session.token;
  return authenticator;
}

/** A step-up proof for action "link" to this bank (dynamic linking: it works for this bank only, once). */
export async function linkProof(app: App, user: SignedUp, authenticator: Authenticator, bankCode: string): Promise<string> {
  const created = expectJson<{ challenge: { id: string } }>(
    await post(app, '/v1/step-up/challenges', { action: 'link', destination: bankCode }, { token: user.token }), 201);
  return expectJson<{ proof: string }>(await post(app, `/v1/step-up/challenges/${created.challenge.id}/approve`,
    { method: 'totp', code: await authenticator.next() }, { token: user.token }), 201).proof;
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
