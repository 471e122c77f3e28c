// Owns the simulated clients' hands: one device's HTTP calls to koza (its own address in X-Forwarded-For, its own
// X-Device-Id), an authenticator app (TOTP, then recovery codes), and a cookie-keeping browser for the bank's pages.
// Must never reach into koza's or the banks' tables: what a simulated person does, a real one could do over HTTP.
import { randomUUID } from 'node:crypto';
import { totpCodeAt } from '../identity/factors/totp.js';

export interface Answer {
  status: number;
  json: Record<string, any>;
  text: string;
}

/** A response body as a JSON object; {} when it is empty or not JSON (an HTML page, a proxy's text). */
export function jsonOrEmpty(text: string): Record<string, any> {
  try {
    return text ? JSON.parse(text) as Record<string, any> : {};
  } catch {
    return {};
  }
}

/** The problem code of an answer (urn:koza:problem:<code>), or '' for a success or a non-problem. */
export function problemCode(answer: Answer): string {
  const type = typeof answer.json.type === 'string' ? answer.json.type : '';
  return type.startsWith('urn:koza:problem:') ? type.slice('urn:koza:problem:'.length) : '';
}

/** Counts every request the simulation sends, for the progress line. */
export class RequestMeter {
  requests = 0;
}

/**
 * One device of one simulated person: every request carries the device's id and, as a proxy in front of koza would
 * add it, the device's network address (koza runs with KOZA_TRUST_PROXY=127.0.0.1). Moving to another network or
 * device is a new SimDevice; a session token travels with whoever holds it.
 */
export class SimDevice {
  constructor(
    readonly baseUrl: string,
    readonly address: string,
    readonly deviceId: string,
    readonly userAgent: string,
    private readonly meter: RequestMeter,
  ) {}

  async request(method: 'GET' | 'POST', path: string, options: { token?: string; body?: unknown; key?: string } = {}): Promise<Answer> {
    const headers: Record<string, string> = {
      'x-forwarded-for': this.address, 'x-device-id': this.deviceId, 'user-agent': this.userAgent, accept: 'application/json',
    };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (method === 'POST') {
      headers['content-type'] = 'application/json';
      headers['idempotency-key'] = options.key ?? randomUUID();
    }
    this.meter.requests++;
    const res = await fetch(new URL(path, this.baseUrl), {
      method, headers, redirect: 'manual', ...(method === 'POST' ? { body: JSON.stringify(options.body ?? {}) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: jsonOrEmpty(text), text };
  }

  post(path: string, body: unknown, token?: string): Promise<Answer> {
    return this.request('POST', path, { body, ...(token ? { token } : {}) });
  }

  get(path: string, token?: string): Promise<Answer> {
    return this.request('GET', path, token ? { token } : {});
  }
}

/**
 * An authenticator app: a TOTP code per time step not used before (koza accepts ±1 step, each once), then the recovery
 * codes handed out at enrolment, so a fast simulation never waits for the clock. It starts at the current step, not the
 * one before: koza's clock may tick past a step boundary between the code and its check.
 */
export class Authenticator {
  private lastStep = -1;
  constructor(readonly secret: string, private readonly recoveryCodes: string[] = []) {}

  totp(): string | null {
    const current = Math.floor(Date.now() / 30_000);
    const step = Math.max(current, this.lastStep + 1);
    if (step > current + 1) return null;
    this.lastStep = step;
    return totpCodeAt(this.secret, step * 30_000 + 1_000);
  }

  /** Recovery codes not used yet. */
  get recoveryLeft(): number {
    return this.recoveryCodes.length;
  }

  /** A new batch of recovery codes (koza replaced the old ones). */
  replaceRecoveryCodes(codes: string[]): void {
    this.recoveryCodes.splice(0, this.recoveryCodes.length, ...codes);
  }

  approval(): { method: 'totp' | 'recovery_code'; code: string } | null {
    const code = this.totp();
    if (code !== null) return { method: 'totp', code };
    const recovery = this.recoveryCodes.shift();
    return recovery ? { method: 'recovery_code', code: recovery } : null;
  }
}

export interface Page {
  status: number;
  location: string | null;
  html: string;
  setCookie: string | null;
  headers: Headers;
}

function unescapeHtml(s: string): string {
  return s.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"');
}

/** The hidden inputs of a page's forms, by name. */
export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[unescapeHtml(match[1]!)] = unescapeHtml(match[2]!);
  }
  return fields;
}

/** A browser at the bank's holder pages: a cookie jar (name → value, per path), redirects followed by hand. */
export class BankBrowser {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

  /** `meter` counts the requests (the replay's progress line); tests drive one without. */
  constructor(private readonly origin: string, private readonly meter?: RequestMeter) {}

  private remember(setCookie: string | null): void {
    if (!setCookie) return;
    const [pair, ...attributes] = setCookie.split(';').map((s) => s.trim());
    const [name, ...value] = pair!.split('=');
    const path = attributes.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
    this.cookies.set(`${name}@${path}`, { name: name!, value: value.join('='), path });
  }

  async request(method: 'GET' | 'POST', pathOrUrl: string, form?: Record<string, string>): Promise<Page> {
    const url = new URL(pathOrUrl, this.origin);
    const headers: Record<string, string> = {};
    const cookie = [...this.cookies.values()].filter((c) => url.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
    if (cookie) headers.cookie = cookie;
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (this.meter) this.meter.requests++;
    const res = await fetch(url, { method, headers, redirect: 'manual', ...(form ? { body: new URLSearchParams(form).toString() } : {}) });
    const setCookie = res.headers.get('set-cookie');
    this.remember(setCookie);
    return { status: res.status, location: res.headers.get('location'), html: await res.text(), setCookie, headers: res.headers };
  }

  /** Follows 30x answers within the bank's site until a page (a redirect elsewhere — back to koza — is returned as is). */
  async follow(first: Page): Promise<Page> {
    let page = first;
    for (let hops = 0; page.location && page.status >= 300 && page.status < 400 && hops < 10; hops++) {
      if (!page.location.startsWith('/') && !page.location.startsWith(this.origin)) return page;
      page = await this.request('GET', page.location);
    }
    return page;
  }

  /**
   * Signs in at a bank from wherever `start` led to its sign-in page: ID and password, then the code the bank texted
   * (read through `readOtp`). Returns the page after the code, or null when the bank refused the ID or password.
   */
  async signIn(bankCode: string, signInPage: Page, credentials: { user_id: string; password: string },
    readOtp: () => Promise<string | null>): Promise<Page | null> {
    const afterPassword = await this.request('POST', `/banks/${bankCode}/sign-in`, {
      ...hiddenFields(signInPage.html), online_id: credentials.user_id, password: credentials.password,
    });
    if (afterPassword.status !== 303 || !afterPassword.location) return null;
    const otpPage = await this.follow(afterPassword);
    const code = await readOtp();
    if (!code) return null;
    const afterCode = await this.request('POST', `/banks/${bankCode}/otp`, { ...hiddenFields(otpPage.html), otp: code });
    if (afterCode.status !== 303) return null;
    return this.follow(afterCode);
  }
}

const OTP_IN_BANK_SMS = /】(\d{6}) /;

/** The newest one-time code a bank texted to a phone (the sandbox's SMS page stands in for the handset that holds the number). */
export async function readBankText(banksUrl: string, phone: string, bankCode: string, meter?: RequestMeter): Promise<string | null> {
  if (meter) meter.requests++;
  const res = await fetch(`${banksUrl}/sandbox/sms?phone=${encodeURIComponent(phone)}&bank_code=${bankCode}`);
  const newest = ((await res.json()) as { data: Array<{ body: string }> }).data[0];
  return newest ? OTP_IN_BANK_SMS.exec(newest.body)?.[1] ?? null : null;
}
