// Owns the tests' view of the HTTP API: typed calls over app.inject (no network) and the flows most tests start with.
// Must never reach into the database or the domain modules: what it does, a client could do over HTTP.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { LightMyRequestResponse as InjectResponse } from 'fastify';
import { buildApp } from '../src/http/app.js';
import type { App } from '../src/http/context.js';
import { loadConfig, type Config } from '../src/config.js';
import type { Db } from '../src/store/db.js';

export type ApiResponse = InjectResponse;

/** A sandbox configuration on an in-memory data dir; overrides win (for example KOZA_SANDBOX: 'false'). */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    KOZA_DATA: 'memory://', LOG_LEVEL: 'silent', KOZA_SANDBOX: 'true',
    // Tests send far more than a person would; the limit itself is tested on an app of its own.
    KOZA_RATE_LIMIT_PER_MINUTE: '1000000', KOZA_PHONE_CODES_PER_IP_PER_HOUR: '1000000',
    ...overrides,
  });
}

export async function testApp(db: Db, overrides: Record<string, string> = {}): Promise<App> {
  const app = await buildApp({ db, config: testConfig(overrides) });
  await app.ready();
  return app;
}

/** An e-mail address no other test or run uses. */
export function uniqueEmail(label = 'user'): string {
  return `${label}-${randomBytes(6).toString('hex')}@example.jp`;
}

export interface PostOptions {
  /** Bearer token: a session token (kzs_…) or a merchant API key (kzm_…). */
  token?: string;
  /** The Idempotency-Key; a fresh UUID unless given; null sends none. */
  key?: string | null;
  headers?: Record<string, string>;
}

function authHeaders(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** POSTs body as JSON with an Idempotency-Key. */
export function post(app: App, url: string, body: unknown, options: PostOptions = {}): Promise<ApiResponse> {
  const key = options.key === undefined ? randomUUID() : options.key;
  return app.inject({
    method: 'POST',
    url,
    headers: {
      'content-type': 'application/json',
      ...(key === null ? {} : { 'idempotency-key': key }),
      ...authHeaders(options.token),
      ...options.headers,
    },
    payload: JSON.stringify(body),
  });
}

/** POSTs a body exactly as given (malformed JSON, another content type, nothing at all). */
export function postRaw(
  app: App, url: string, payload: string | undefined, options: PostOptions & { contentType?: string | null } = {},
): Promise<ApiResponse> {
  const key = options.key === undefined ? randomUUID() : options.key;
  const contentType = options.contentType === undefined ? 'application/json' : options.contentType;
  return app.inject({
    method: 'POST',
    url,
    headers: {
      ...(contentType === null ? {} : { 'content-type': contentType }),
      ...(key === null ? {} : { 'idempotency-key': key }),
      ...authHeaders(options.token),
      ...options.headers,
    },
    ...(payload === undefined ? {} : { payload }),
  });
}

export function get(app: App, url: string, token?: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  return app.inject({ method: 'GET', url, headers: { ...authHeaders(token), ...headers } });
}

export function del(app: App, url: string, token?: string): Promise<ApiResponse> {
  return app.inject({ method: 'DELETE', url, headers: authHeaders(token) });
}

/** The parsed body, after checking the status (the body is shown when it is not the expected one). */
export function expectJson<T = Record<string, any>>(res: ApiResponse, status: number): T {
  assert.equal(res.statusCode, status, `expected ${status}, got ${res.statusCode}: ${res.body}`);
  return res.json() as T;
}

/** Asserts an RFC 9457 answer: the status, problem+json, and type/title/status in the body. Returns the body. */
export function expectProblem(res: ApiResponse, status: number, code?: string): Record<string, any> {
  assert.equal(res.statusCode, status, `expected ${status}, got ${res.statusCode}: ${res.body}`);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const problem = res.json() as Record<string, any>;
  assert.equal(typeof problem.type, 'string', res.body);
  assert.equal(typeof problem.title, 'string', res.body);
  assert.equal(problem.status, status, res.body);
  if (code !== undefined) assert.equal(problem.type, `urn:koza:problem:${code}`, res.body);
  return problem;
}

interface OutboxMessage { id: string; channel: string; recipient: string; subject: string; body: string; created_at: string }

/** The sandbox outbox for one recipient, newest first. */
export async function outbox(app: App, recipient: string): Promise<OutboxMessage[]> {
  const res = await get(app, `/v1/sandbox/outbox?recipient=${encodeURIComponent(recipient)}&limit=100`);
  return expectJson<{ data: OutboxMessage[] }>(res, 200).data;
}

/** The newest verification code e-mailed to recipient. */
export async function latestCode(app: App, recipient: string): Promise<string> {
  const messages = await outbox(app, recipient);
  const latest = messages.find((m) => m.subject === 'Your koza verification code');
  assert.ok(latest, `no verification code was e-mailed to ${recipient}`);
  const match = /\b(\d{6})\b/.exec(latest.body);
  assert.ok(match, 'the verification e-mail holds no 6-digit code');
  return match[1]!;
}

export const DEFAULT_PASSWORD = 'correct horse battery staple';

export interface SignedUp {
  walletId: string;
  token: string;
  email: string;
}

/** Signs up, verifies the e-mail with the code from the outbox, signs in. */
export async function signUpVerified(app: App, email = uniqueEmail(), password = DEFAULT_PASSWORD): Promise<SignedUp> {
  expectJson(await post(app, '/v1/signup', { email, password }), 202);
  const code = await latestCode(app, email);
  const wallet = expectJson<{ id: string }>(await post(app, '/v1/signup/verify', { email, code }), 200);
  const session = expectJson<{ token: string; wallet_id: string }>(await post(app, '/v1/sessions', { email, password }), 201);
  assert.equal(session.wallet_id, wallet.id);
  return { walletId: wallet.id, token: session.token, email };
}

export interface NewMerchant {
  merchantId: string;
  apiKey: string;
  /** The verified owner who opened it (a sole proprietor trading under the merchant's name). */
  owner: SignedUp;
}

/** A merchant opened the way koza requires: a new verified (L2) owner, as a sole proprietor trading under `name`. */
export async function newMerchant(app: App, name = 'Kissa Koza'): Promise<NewMerchant> {
  const owner = await signUpPaying(app, uniqueEmail('merchant'));
  const res = await post(app, '/v1/merchants', { name, business: { kind: 'sole_proprietor', trade_name: name } }, { token: owner.token });
  const body = expectJson<{ merchant: { id: string }; api_key: string }>(res, 201);
  return { merchantId: body.merchant.id, apiKey: body.api_key, owner };
}

/** Sandbox top-up of the signed-in wallet; returns the top-up id. */
export async function topUp(app: App, token: string, amount: number): Promise<string> {
  const res = await post(app, '/v1/sandbox/topups', { amount }, { token });
  return expectJson<{ id: string }>(res, 201).id;
}

export async function walletBalance(app: App, token: string): Promise<number> {
  return expectJson<{ balance: number }>(await get(app, '/v1/wallet/balance', token), 200).balance;
}

export async function merchantBalance(app: App, apiKey: string): Promise<number> {
  return expectJson<{ balance: number }>(await get(app, '/v1/merchant', apiKey), 200).balance;
}

export interface PaymentJson {
  id: string; wallet_id: string; merchant_id: string; amount: number; refunded_amount: number;
  description: string | null; created_at: string;
}

export async function payMerchant(app: App, token: string, merchantId: string, amount: number): Promise<PaymentJson> {
  return expectJson<PaymentJson>(await post(app, '/v1/payments', { merchant_id: merchantId, amount }, { token }), 201);
}

// ---------------------------------------------------------------------------------------------------------------
// Assurance levels: L1 (phone) and L2 (eKYC of a seeded sandbox person), the level that may pay.
// ---------------------------------------------------------------------------------------------------------------

export interface SandboxPerson {
  index: number; name_kanji: string; name_kana: string; date_of_birth: string;
  address: { prefecture: string; city: string; street: string };
  document_type: 'drivers_licence' | 'my_number_card'; document_number: string; phone: string; behaviour: string;
}

/** The sandbox population per app, and the persons this module already handed out (in this process: apps
 * on one database share its verified identities, so a person is never handed out twice). */
const population = new WeakMap<App, Promise<SandboxPerson[]>>();
const handedOut = new Set<number>();

async function loadPopulation(app: App): Promise<SandboxPerson[]> {
  const people: SandboxPerson[] = [];
  for (let offset: number | null = 0; offset !== null;) {
    const page: { data: SandboxPerson[]; next_offset: number | null } =
      expectJson(await get(app, `/v1/sandbox/identities?limit=100&offset=${offset}`), 200);
    people.push(...page.data);
    offset = page.next_offset;
  }
  return people;
}

/**
 * A seeded person nobody on this app has used, that the sandbox provider passes. Taken from the end of the
 * population, since tests that pick persons themselves count from the start.
 */
export async function unusedPerson(app: App, wanted: (person: SandboxPerson) => boolean = () => true): Promise<SandboxPerson> {
  if (!population.has(app)) population.set(app, loadPopulation(app));
  const people = await population.get(app)!;
  for (let i = people.length - 1; i >= 0; i--) {
    const person = people[i]!;
    if (!handedOut.has(person.index) && person.behaviour === 'pass' && wanted(person)) {
      handedOut.add(person.index);
      return person;
    }
  }
  throw new Error('the sandbox population is used up');
}

/** The newest SMS code sent to an E.164 number. */
export async function latestSmsCode(app: App, phone: string): Promise<string> {
  const match = /koza code: (\d{6})/.exec((await outbox(app, phone))[0]?.body ?? '');
  assert.ok(match, `no SMS code was sent to ${phone}`);
  return match[1]!;
}

/** Verifies a phone number (L1); returns the rotated session token, or null if the number is taken. */
export async function verifyPhone(app: App, token: string, phone: string): Promise<string | null> {
  expectJson(await post(app, '/v1/phone', { phone }, { token }), 202);
  const res = await post(app, '/v1/phone/verify', { code: await latestSmsCode(app, phone) }, { token });
  if (res.statusCode === 409) return null;
  return expectJson<{ session: { token: string } }>(res, 200).session.token;
}

/**
 * Takes a signed-in L0 wallet to L2 (phone, then eKYC as an unused seeded person, or as `as` when given); returns the
 * rotated token.
 */
export async function raiseToL2(app: App, token: string, as?: SandboxPerson): Promise<string> {
  let current: string | null = null;
  for (let tries = 0; current === null; tries++) {
    assert.ok(tries < 20, 'could not verify a phone after 20 persons');
    current = await verifyPhone(app, token, (await unusedPerson(app)).phone);
  }
  for (let tries = 0; tries < 20; tries++) {
    const person = as ?? await unusedPerson(app);
    const res = await post(app, '/v1/identity/verifications', {
      document_type: person.document_type, document_number: person.document_number, name_kanji: person.name_kanji,
      name_kana: person.name_kana, date_of_birth: person.date_of_birth, address: { ...person.address },
      selfie_token: 'live-selfie-ok',
    }, { token: current });
    // Another test verified this person on another wallet: one person, one wallet. Take the next one.
    if (res.statusCode === 409 && !as) continue;
    const body = expectJson<{ verification: { status: string }; assurance_level: string; session: { token: string } }>(res, 201);
    assert.equal(body.verification.status, 'verified', JSON.stringify(body));
    assert.equal(body.assurance_level, 'L2');
    return body.session.token;
  }
  throw new Error('could not verify an identity after 20 persons');
}

/** signUpVerified, then L1 and L2: a wallet that may hold money and pay. The token is the latest rotated one. */
export async function signUpPaying(
  app: App, email = uniqueEmail(), password = DEFAULT_PASSWORD, as?: SandboxPerson,
): Promise<SignedUp> {
  const user = await signUpVerified(app, email, password);
  return { ...user, token: await raiseToL2(app, user.token, as) };
}

