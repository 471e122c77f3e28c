// Owns the tests' hands on the bank sandbox: koza's own BankClient for protocol calls, a raw signed fetch for the
// refusals (missing, stale, replayed signatures), and a tiny cookie-keeping browser for the holder pages.
// Must never reach into the sandbox's database: what it does, koza or a holder could do over HTTP.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { BankClient, keysFromSeed, type BankOutcome } from '../src/banks/client.js';
import { SIGNATURE_HEADER, IDEMPOTENCY_HEADER } from '../src/banks/protocol.js';
import { signRequest, type BankKeyPair } from '../src/banks/signing.js';
import { startBankSandbox, type BankSandboxOptions, type RunningBankSandbox } from '../src/sandbox/banks/server.js';
import type { TestBackend } from './backends.js';
import { BankBrowser, hiddenFields, type Page } from '../src/attack/client.js';

export const TEST_KEY_SEED = 'bank-sandbox-tests';

export function testBankClient(url: string, options: { timeoutMs?: number; keySeed?: string } = {}): BankClient {
  return new BankClient({
    baseUrl: url, keyFor: keysFromSeed(options.keySeed ?? TEST_KEY_SEED), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
}

/**
 * A bank sandbox on the backend under test, on a fresh schema of its own: the sandbox is another organisation and
 * its tables (banks, link_requests, …) share names with koza's, so it never goes into koza's test schema.
 */
export async function startTestBankSandbox(
  backend: TestBackend, options: Partial<BankSandboxOptions> = {},
): Promise<RunningBankSandbox> {
  const db = await backend.openEmpty();
  try {
    const sandbox = await startBankSandbox({ keySeed: TEST_KEY_SEED, ...options, db });
    return { ...sandbox, async close() {
      await sandbox.close();
      await db.close();
    } };
  } catch (err) {
    await db.close();
    throw err;
  }
}

/** The value of an answered call; fails the test with what came instead. */
export function answered<T>(outcome: BankOutcome<T>): T {
  assert.equal(outcome.kind, 'answered', `expected an answer, got ${JSON.stringify(outcome)}`);
  return (outcome as Extract<BankOutcome<T>, { kind: 'answered' }>).value;
}

/** The problem code of a refused call. */
export function refusedCode(outcome: BankOutcome<unknown>): string {
  assert.equal(outcome.kind, 'refused', `expected a refusal, got ${JSON.stringify(outcome)}`);
  return (outcome as Extract<BankOutcome<unknown>, { kind: 'refused' }>).problem.code;
}

export interface RawResponse {
  status: number;
  body: Record<string, unknown>;
  signature: string | null;
}

/**
 * One protocol call with full control over its signature: sign with another key, at another time, or send a given
 * signature (a replay) or none (null).
 */
export async function rawBankCall(
  baseUrl: string, key: BankKeyPair,
  request: { method: 'GET' | 'POST'; path: string; body?: unknown; idempotencyKey?: string | null; now?: Date; signature?: string | null },
): Promise<RawResponse> {
  const raw = request.body === undefined ? undefined : JSON.stringify(request.body);
  const idempotencyKey = request.idempotencyKey === undefined ? (request.method === 'POST' ? randomBytes(8).toString('hex') : null)
    : request.idempotencyKey;
  const signature = request.signature !== undefined ? request.signature
    : await signRequest(key, { method: request.method, path: request.path, body: raw, idempotencyKey, ...(request.now ? { now: request.now } : {}) });
  const headers: Record<string, string> = {};
  if (raw !== undefined) headers['content-type'] = 'application/json';
  if (idempotencyKey !== null) headers[IDEMPOTENCY_HEADER] = idempotencyKey;
  if (signature !== null) headers[SIGNATURE_HEADER] = signature;
  const res = await fetch(`${baseUrl}${request.path}`, { method: request.method, headers, ...(raw === undefined ? {} : { body: raw }) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) as Record<string, unknown> : {}, signature };
}

/** A PKCE verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

// The hidden inputs of a page's forms, by name: the attack replay's browser reads them the same way.
export { hiddenFields };

export type PageResponse = Page;

/** A browser with a cookie jar (name → value, per path) that never follows redirects by itself: the replay's own. */
export class TestBrowser extends BankBrowser {
  get(path: string): Promise<PageResponse> {
    return this.request('GET', path);
  }

  post(path: string, form: Record<string, string>): Promise<PageResponse> {
    return this.request('POST', path, form);
  }
}

export interface HolderCredentials {
  online_banking: { user_id: string; password: string };
  registered_phone: string;
}

/**
 * A holder at the bank's pages: opens the authorization URL, signs in with the bank's credentials, types the code the
 * bank texted (read through `readOtp`), and approves or denies. Returns the redirect back to the wallet.
 */
export async function consentAtBank(
  browser: TestBrowser, authorizationUrl: string, holder: HolderCredentials, readOtp: () => Promise<string | null>,
  decision: 'approve' | 'deny' = 'approve',
): Promise<URL> {
  const signIn = await browser.follow(await browser.get(authorizationUrl));
  assert.equal(signIn.status, 200, signIn.html);
  const otpStep = await browser.post(new URL(authorizationUrl).pathname.replace(/\/authorize$/, '/sign-in'), {
    ...hiddenFields(signIn.html), online_id: holder.online_banking.user_id, password: holder.online_banking.password,
  });
  assert.equal(otpStep.status, 303, otpStep.html);
  const otpPage = await browser.follow(otpStep);
  const code = await readOtp();
  assert.ok(code, 'the bank sent no code');
  const consentStep = await browser.post(new URL(otpStep.location!, authorizationUrl).pathname, { ...hiddenFields(otpPage.html), otp: code });
  assert.equal(consentStep.status, 303, consentStep.html);
  const consent = await browser.follow(consentStep);
  assert.equal(consent.status, 200, consent.html);
  const back = await browser.post(new URL(authorizationUrl).pathname.replace(/\/authorize$/, '/consent'), {
    ...hiddenFields(consent.html), decision,
  });
  assert.equal(back.status, 303, back.html);
  return new URL(back.location!);
}
