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
    KOZA_RATE_LIMIT_PER_MINUTE: '1000000',
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
}

export async function newMerchant(app: App, name = 'Kissa Koza'): Promise<NewMerchant> {
  const res = await post(app, '/v1/merchants', { name, email: uniqueEmail('merchant') });
  const body = expectJson<{ merchant: { id: string }; api_key: string }>(res, 201);
  return { merchantId: body.merchant.id, apiKey: body.api_key };
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
