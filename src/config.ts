// Owns koza's configuration: defaults, environment, validated once at start.
// Must never start with a value it did not understand; a bad value names the variable and what was expected.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { parseLimits, type Limits } from './wallets/limits.js';
import { parseTrustRamp, type TrustStep } from './banks/link-trust.js';

export interface Config {
  port: number;
  host: string;
  /** PGlite data directory; ignored when databaseUrl is set. 'memory://' keeps it in memory. */
  dataDir: string;
  databaseUrl: string | undefined;
  /** The PostgreSQL schema koza's tables live in (one server can host several koza databases side by side). */
  dbSchema: string;
  /** Sandbox mode: development outbox readable over the API, sandbox top-ups enabled. */
  sandbox: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  rateLimitPerMinute: number;
  bodyLimitBytes: number;
  sessionIdleMinutes: number;
  sessionAbsoluteHours: number;
  /**
   * SMS codes from one network address in an hour at which analysts are alerted (SMS pumping through one host). Never a
   * refusal: carrier NAT puts thousands of customers behind one address; the limits per number, wallet and device refuse.
   */
  phoneCodesPerIpPerHour: number;
  /** Seed of the sandbox population (identities now; bank holders later): the same seed, the same persons. */
  sandboxSeed: number;
  /** After a phone or e-mail change, payments + withdrawals per rolling 24 h are capped at this (KOZA_CONTACT_CHANGE_MONEY_OUT_CAP). */
  contactChangeMoneyOutCap: number;
  /** For this many hours after the change (KOZA_CONTACT_CHANGE_HOLD_HOURS). */
  contactChangeHoldHours: number;
  /** A factor reset (lost every factor) waits this many hours after the person and mailbox are proven (KOZA_FACTOR_RESET_WAIT_HOURS). */
  factorResetWaitHours: number;
  /** Payments of this many yen or more need a step-up proof bound to the amount and merchant (PSD2 SCA). */
  stepUpPaymentFrom: number;
  /** Money to a destination the wallet never used (a first payment to a merchant, a first withdrawal to an account) of this many yen or more needs a step-up. */
  stepUpNewDestinationFrom: number;
  /** Payments to a merchant younger than this many days are held before payout (KOZA_MERCHANT_HOLD_NEW_DAYS). */
  merchantHoldNewDays: number;
  /** How long such a payment is held, in days (KOZA_MERCHANT_HOLD_DAYS). */
  merchantHoldDays: number;
  /** Seconds between rounds of the job that releases due merchant holds in `koza start` (0 = off). */
  holdReleaseEverySeconds: number;
  /** Money limits per assurance level (KOZA_LIMITS, JSON overrides of the defaults). */
  limits: Limits;
  /** WebAuthn relying-party id: the domain passkeys are bound to (KOZA_WEBAUTHN_RP_ID). */
  webauthnRpId: string;
  /** The name authenticators show when a passkey is created (KOZA_WEBAUTHN_RP_NAME). */
  webauthnRpName: string;
  /** Origins the web app runs on; a passkey response from any other origin is refused (KOZA_WEBAUTHN_ORIGINS). */
  webauthnOrigins: string[];
  /** 32 bytes; encrypts stored idempotent responses that carry secrets (session tokens, API keys). */
  secretKey: Buffer;
  /** The risk engine behind the hook: rules from riskRulesFile over shared counters; off = allow everything. */
  riskEngine: boolean;
  /** The whole rule set in shadow mode: every decision computed and stored (enforced = false), the customer always allowed. */
  riskShadow: boolean;
  /** The rule file (YAML, docs/risk-rules.md); the shipped default set unless KOZA_RISK_RULES names another. */
  riskRulesFile: string | undefined;
  /** Port of the bank sandbox `koza start` runs beside the API when no KOZA_BANK_SANDBOX_URL is given (0 = any). */
  bankSandboxPort: number;
  /** Seconds between reconciliation rounds in `koza start` (0 = off). */
  reconcileEverySeconds: number;
  /** The policy profile (SPEC §9, KOZA_POLICY): 'secure', or 'legacy-2020' to replay the 2020 wallet's rules. */
  policy: PolicyName;
  /** Where the partner banks answer (KOZA_BANK_SANDBOX_URL): {url}/banks/{code}; unset means no bank is reachable. */
  bankSandboxUrl: string | undefined;
  /**
   * The partner bank where koza collects pay-ins by bank transfer (KOZA_PAYIN_BANK, 4 digits); unset: the first bank in
   * the directory that offers redirect links. Each wallet's virtual account is issued there once and stays.
   */
  payInBank: string | undefined;
  /** The branch at the pay-in bank whose account numbers are koza's virtual accounts (KOZA_PAYIN_BRANCH, default 990). */
  payInBranch: string;
  /** Seed koza's per-bank signing keys are derived from (KOZA_BANK_KEY_SEED); the sandbox derives the same. */
  bankKeySeed: string | undefined;
  /** How long koza waits for a bank before the outcome is unknown (KOZA_BANK_TIMEOUT_MS). */
  bankTimeoutMs: number;
  /** koza's public base URL (KOZA_PUBLIC_URL), for the redirect link callback; unset: taken from the request's Host. */
  publicUrl: string | undefined;
  /** Hours a new bank link stays in cooling-off (KOZA_COOLING_OFF_HOURS). */
  coolingOffHours: number;
  /** Yen a bank account in its new-link window (or linked by PIN + text and not confirmed) may charge per rolling 24 h (KOZA_COOLING_OFF_DAILY_CAP). */
  coolingOffDailyCap: number;
  /** The new-link cap: yen in total in the new-link window, and for life on an unconfirmed pin link (KOZA_NEW_LINK_TOTAL_CAP; default 3 × the 24 h cap). */
  newLinkTotalCap: number;
  /** After the new-link window: the ramp to full limits for confirmed or redirect links with clean history (KOZA_TRUST_RAMP). */
  trustRamp: TrustStep[];
  /** Charges of this many yen or more are told to the holder through the bank's inbox and e-mail (KOZA_LARGE_CHARGE_NOTICE_FROM). */
  largeChargeNoticeFrom: number;
  /**
   * Which peers' X-Forwarded-For koza believes (KOZA_TRUST_PROXY): false (default, the peer is the client), true (any
   * peer), or the proxies' addresses/CIDRs. Rules count by client address, so behind a proxy this must be set.
   */
  trustProxy: TrustProxy;
}

export type TrustProxy = boolean | string[];

export type PolicyName = 'secure' | 'legacy-2020';
const POLICY_NAMES: readonly PolicyName[] = ['secure', 'legacy-2020'];

/** Development only: the sandbox and koza agree on bank keys without exchanging files. */
export const SANDBOX_BANK_KEY_SEED = 'koza-sandbox-bank-keys-v1';

export class ConfigError extends Error {
  constructor(variable: string, expected: string, got: string | undefined) {
    super(`${variable}: expected ${expected}, got ${got === undefined ? 'nothing' : JSON.stringify(got)}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `a whole number between ${min} and ${max}`, raw);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `a whole number between ${min} and ${max}`, raw);
  return value;
}

const RP_ID_PATTERN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** A WebAuthn relying-party id is a bare domain (no scheme, port or path): browsers compare it to the page's host. */
function rpIdVar(env: Env): string {
  const raw = env.KOZA_WEBAUTHN_RP_ID;
  if (raw === undefined || raw === '') return 'localhost';
  if (!RP_ID_PATTERN.test(raw)) throw new ConfigError('KOZA_WEBAUTHN_RP_ID', 'a lower-case domain name such as wallet.example.jp', raw);
  return raw;
}

/** Each origin is scheme://host[:port] whose host is the rp id or under it; http only for localhost (WebAuthn needs a secure context). */
function originsVar(env: Env, rpId: string): string[] {
  const raw = env.KOZA_WEBAUTHN_ORIGINS;
  const expected = `comma-separated origins (https://host[:port], http only for localhost) on ${rpId} or its subdomains`;
  const list = (raw === undefined || raw === '' ? 'http://localhost:8080' : raw).split(',').map((o) => o.trim());
  for (const origin of list) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new ConfigError('KOZA_WEBAUTHN_ORIGINS', expected, raw);
    }
    const secure = url.protocol === 'https:' || (url.protocol === 'http:' && url.hostname === 'localhost');
    const onRpId = url.hostname === rpId || url.hostname.endsWith(`.${rpId}`);
    if (!secure || !onRpId || url.origin !== origin) throw new ConfigError('KOZA_WEBAUTHN_ORIGINS', expected, raw);
  }
  return list;
}

function trustRampVar(env: Env): TrustStep[] {
  const parsed = parseTrustRamp(env.KOZA_TRUST_RAMP);
  if (typeof parsed === 'string') throw new ConfigError('KOZA_TRUST_RAMP', parsed, env.KOZA_TRUST_RAMP);
  return parsed;
}

function boolVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(name, 'true or false', raw);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Reads the key from KOZA_SECRET_KEY, else from a file beside the data directory, created on first start. */
function secretKeyFrom(env: Env, dataDir: string, databaseUrl: string | undefined): Buffer {
  const raw = env.KOZA_SECRET_KEY;
  if (raw !== undefined && raw !== '') {
    if (!/^[0-9a-fA-F]{64}$/.test(raw)) throw new ConfigError('KOZA_SECRET_KEY', '64 hexadecimal characters (32 bytes)', '(hidden)');
    return Buffer.from(raw, 'hex');
  }
  if (dataDir.startsWith('memory://')) return randomBytes(32);
  if (databaseUrl !== undefined) {
    throw new ConfigError('KOZA_SECRET_KEY', '64 hexadecimal characters when DATABASE_URL is set (every API process must share one key)', undefined);
  }
  const file = resolve(dirname(resolve(dataDir)), 'secret-key');
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-fA-F]{64}$/.test(stored)) throw new ConfigError(file, '64 hexadecimal characters', '(hidden)');
    return Buffer.from(stored, 'hex');
  }
  mkdirSync(dirname(file), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('hex'), { mode: 0o600 });
  return key;
}

/** An http(s) URL without a trailing slash, or undefined when unset. */
function urlVar(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'an http:// or https:// URL', raw);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(name, 'an http:// or https:// URL', raw);
  return raw.replace(/\/+$/, '');
}

function policyVar(env: Env): PolicyName {
  const raw = env.KOZA_POLICY;
  if (raw === undefined || raw === '') return 'secure';
  if (!(POLICY_NAMES as readonly string[]).includes(raw)) throw new ConfigError('KOZA_POLICY', POLICY_NAMES.join(' | '), raw);
  return raw as PolicyName;
}

/** A code of exactly `length` digits (a bank or branch code), or the default when unset. */
function digitsVar<D extends string | undefined>(env: Env, name: string, length: number, fallback: D): string | D {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!new RegExp(`^[0-9]{${length}}$`).test(raw)) throw new ConfigError(name, `a code of exactly ${length} digits`, raw);
  return raw;
}

/** Outside sandbox mode a bank needs a real key seed: the development one is published in this file. */
function bankKeySeedVar(env: Env, sandbox: boolean, bankSandboxUrl: string | undefined): string | undefined {
  const raw = env.KOZA_BANK_KEY_SEED;
  if (raw !== undefined && raw !== '') {
    if (raw.length < 16) throw new ConfigError('KOZA_BANK_KEY_SEED', 'at least 16 characters', '(hidden)');
    return raw;
  }
  if (sandbox) return SANDBOX_BANK_KEY_SEED;
  if (bankSandboxUrl !== undefined) throw new ConfigError('KOZA_BANK_KEY_SEED', 'a secret of at least 16 characters when KOZA_SANDBOX=false', undefined);
  return undefined;
}

/**
 * false | true | comma-separated IP addresses or CIDRs of the proxies in front of koza. No hop count: Fastify cannot
 * check the peer with one, and refuses to trust it (a direct client could send enough hops to pick its address).
 */
function trustProxyVar(env: Env): TrustProxy {
  const raw = env.KOZA_TRUST_PROXY?.trim();
  if (raw === undefined || raw === '') return false;
  const expected = 'false, true, or comma-separated proxy addresses/CIDRs (127.0.0.1,10.0.0.0/8)';
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  if (['true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  const list = raw.split(',').map((s) => s.trim());
  for (const entry of list) {
    const [address, bits, ...extra] = entry.split('/');
    const family = isIP(address ?? '');
    const maxBits = family === 4 ? 32 : 128;
    const bitsOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || !bitsOk || extra.length > 0) throw new ConfigError('KOZA_TRUST_PROXY', expected, raw);
  }
  return list;
}

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = env.DATABASE_URL === '' ? undefined : env.DATABASE_URL;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'a postgres:// or postgresql:// URL', '(hidden)');
  }
  const dataDir = env.KOZA_DATA && env.KOZA_DATA !== '' ? env.KOZA_DATA : './.koza/data';
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', LOG_LEVELS.join(' | '), logLevel);
  }
  const dbSchema = env.KOZA_DB_SCHEMA && env.KOZA_DB_SCHEMA !== '' ? env.KOZA_DB_SCHEMA : 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(dbSchema)) {
    throw new ConfigError('KOZA_DB_SCHEMA', 'a lower-case SQL identifier (letters, digits, _)', dbSchema);
  }
  const limits = parseLimits(env.KOZA_LIMITS);
  // ¥10,000 per 24 h: a day of ordinary small payments, while a stolen link takes at most the new-link cap (¥30,000),
  // one twentieth of the largest 2020 case (¥600,000 from one account, all on day one).
  const coolingOffDailyCap = intVar(env, 'KOZA_COOLING_OFF_DAILY_CAP', 10_000, 0, 1_000_000_000);
  if (typeof limits === 'string') throw new ConfigError('KOZA_LIMITS', limits, env.KOZA_LIMITS);
  const host = env.HOST && env.HOST !== '' ? env.HOST : '127.0.0.1';
  const webauthnRpId = rpIdVar(env);
  // Sandbox mode is on unless switched off: koza ships with simulated banks and identity providers.
  const sandbox = boolVar(env, 'KOZA_SANDBOX', true);
  const bankSandboxUrl = urlVar(env, 'KOZA_BANK_SANDBOX_URL');
  return {
    port: intVar(env, 'PORT', 8080, 0, 65535),
    host,
    dataDir,
    databaseUrl,
    dbSchema,
    sandbox,
    logLevel: logLevel as Config['logLevel'],
    // Per client address, so sized for carrier NAT (thousands of app users behind one address); the per-account,
    // per-number and per-device throttles are the tight ones.
    rateLimitPerMinute: intVar(env, 'KOZA_RATE_LIMIT_PER_MINUTE', 12_000, 1, 10_000_000),
    bodyLimitBytes: intVar(env, 'KOZA_BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
    sessionIdleMinutes: intVar(env, 'KOZA_SESSION_IDLE_MINUTES', 30, 1, 24 * 60),
    sessionAbsoluteHours: intVar(env, 'KOZA_SESSION_ABSOLUTE_HOURS', 12, 1, 24 * 30),
    phoneCodesPerIpPerHour: intVar(env, 'KOZA_PHONE_CODES_PER_IP_PER_HOUR', 500, 1, 1_000_000),
    sandboxSeed: intVar(env, 'KOZA_SANDBOX_SEED', 2020, 0, 2 ** 31 - 1),
    stepUpPaymentFrom: intVar(env, 'KOZA_STEP_UP_PAYMENT_FROM', 100_000, 1, 1_000_000_000_000),
    // ¥10,000: a stolen session's first payment to a merchant it opened (or a mule's) costs a step-up, a
    // customer's usual shop never does again.
    stepUpNewDestinationFrom: intVar(env, 'KOZA_STEP_UP_NEW_DESTINATION_FROM', 10_000, 1, 1_000_000_000_000),
    // A new merchant's takings wait a week for 30 days: long enough for a payer's bank or a holder to report fraud.
    merchantHoldNewDays: intVar(env, 'KOZA_MERCHANT_HOLD_NEW_DAYS', 30, 0, 3650),
    merchantHoldDays: intVar(env, 'KOZA_MERCHANT_HOLD_DAYS', 7, 0, 365),
    holdReleaseEverySeconds: intVar(env, 'KOZA_HOLD_RELEASE_EVERY_SECONDS', 60, 0, 86_400),
    limits,
    webauthnRpId,
    webauthnRpName: env.KOZA_WEBAUTHN_RP_NAME && env.KOZA_WEBAUTHN_RP_NAME !== '' ? env.KOZA_WEBAUTHN_RP_NAME.slice(0, 64) : 'koza',
    webauthnOrigins: originsVar(env, webauthnRpId),
    secretKey: secretKeyFrom(env, dataDir, databaseUrl),
    policy: policyVar(env),
    riskEngine: boolVar(env, 'KOZA_RISK_ENGINE', true),
    riskShadow: boolVar(env, 'KOZA_RISK_SHADOW', false),
    riskRulesFile: env.KOZA_RISK_RULES && env.KOZA_RISK_RULES !== '' ? env.KOZA_RISK_RULES : undefined,
    bankSandboxPort: intVar(env, 'KOZA_BANK_SANDBOX_PORT', 8081, 0, 65535),
    reconcileEverySeconds: intVar(env, 'KOZA_RECONCILE_EVERY_SECONDS', 5, 0, 86_400),
    bankSandboxUrl,
    bankKeySeed: bankKeySeedVar(env, sandbox, bankSandboxUrl),
    payInBank: digitsVar(env, 'KOZA_PAYIN_BANK', 4, undefined),
    payInBranch: digitsVar(env, 'KOZA_PAYIN_BRANCH', 3, '990')!,
    bankTimeoutMs: intVar(env, 'KOZA_BANK_TIMEOUT_MS', 5_000, 100, 120_000),
    publicUrl: urlVar(env, 'KOZA_PUBLIC_URL'),
    // 72 hours: the holder is told of the link on day one (SPEC §5.3), so a stolen link is reported inside the window.
    coolingOffHours: intVar(env, 'KOZA_COOLING_OFF_HOURS', 72, 0, 24 * 90),
    coolingOffDailyCap,
    // 3 × the 24 h cap: rolling windows, so 72 h cannot hold a fourth day's cap (Japan days could: 72 h span four).
    newLinkTotalCap: intVar(env, 'KOZA_NEW_LINK_TOTAL_CAP', 3 * coolingOffDailyCap, 0, 1_000_000_000),
    trustRamp: trustRampVar(env),
    // ¥30,000: above what the new-link window allows at all, and above most everyday top-ups; every one is told.
    largeChargeNoticeFrom: intVar(env, 'KOZA_LARGE_CHARGE_NOTICE_FROM', 30_000, 1, 1_000_000_000_000),
    // ¥10,000: a thief's first withdrawal to a new account (or payment to a new merchant) is above it; small honest ones pass.
    trustProxy: trustProxyVar(env),
    // ¥10,000 a day for 72 h: what a takeover that moved the contacts can take before the old channel's owner reacts,
    // while the customer who changed phones can still buy lunch.
    contactChangeMoneyOutCap: intVar(env, 'KOZA_CONTACT_CHANGE_MONEY_OUT_CAP', 10_000, 0, 1_000_000_000),
    contactChangeHoldHours: intVar(env, 'KOZA_CONTACT_CHANGE_HOLD_HOURS', 72, 0, 24 * 90),
    // 72 h: every channel is told and any factor or "this was not me" stops it; long enough for an owner away for a weekend.
    factorResetWaitHours: intVar(env, 'KOZA_FACTOR_RESET_WAIT_HOURS', 72, 1, 24 * 30),
  };
}
