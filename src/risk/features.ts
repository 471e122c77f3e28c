// Owns the risk features (SPEC §7): which counters an event moves, and the named numbers the rules read about it.
// Must never write to a table other than the counter store's, and never put personal data (a name) into a counter.
import { createHash } from 'node:crypto';
import type { Queryable } from '../store/db.js';
import type { RiskEvent } from './hook.js';
import { readCounters, writeCounters, type CounterRead, type CounterStore, type CounterWrite } from './counters.js';
import { parseWindowedFeature, WINDOWED_COUNTS } from './rule-features.js';
import { PAYMENT_FEATURE_MEANINGS, PAYMENT_FEATURE_NAMES, paymentFeatures } from './payment-features.js';
import { ipNetworkOf } from '../identity/devices.js';

export type FeatureValue = number | string | boolean | null;
export type Features = Record<string, FeatureValue>;

const DAY = 24 * 3600;

/** Counter and distinct-dimension names, as stored in risk_counters and risk_distinct. */
export const COUNTERS = {
  signupsPerIp: 'signups_per_ip',
  signupsPerDevice: 'signups_per_device',
  signupsPerEmailDomain: 'signups_per_email_domain',
  pinFailuresPerAccount: 'pin_failures_per_account',
  otpFailuresPerAccount: 'otp_failures_per_account',
  pinFailuresPerIp: 'pin_failures_per_ip',
  chargesPerWallet: 'charges_per_wallet',
  chargesPerAccount: 'charges_per_account',
  chargeAmountPerWallet: 'charge_amount_per_wallet',
  linkFailuresPerAccount: 'link_failures_per_account',
  linkFailuresPerWallet: 'link_failures_per_wallet',
  linkFailuresPerPerson: 'link_failures_per_person',
  loginFailuresPerAccount: 'login_failures_per_account',
  loginFailuresPerIp: 'login_failures_per_ip',
  loginsSucceededGlobal: 'logins_succeeded_global',
} as const;

export const DIMENSIONS = {
  walletsPerDevice: 'wallets_per_device',
  namesPerDevice: 'names_per_device',
  bankAccountsPerWallet: 'bank_accounts_per_wallet',
  walletsPerBankAccount: 'wallets_per_bank_account',
  accountsWithFailuresPerIp: 'accounts_with_failures_per_ip',
  walletsFailingPerBankAccount: 'wallets_failing_per_bank_account',
  typedAccountsStartedPerWallet: 'typed_accounts_started_per_wallet',
  typedAccountsStartedPerPerson: 'typed_accounts_started_per_person',
  typedAccountsStartedPerDevice: 'typed_accounts_started_per_device',
  accountsFailedLoginPerIp: 'accounts_failed_login_per_ip',
  accountsFailedLoginPerNetwork: 'accounts_failed_login_per_network',
  accountsFailedLoginGlobal: 'accounts_failed_login_global',
} as const;

/** The one key of koza-wide counts (password spraying is seen across every account, from every address). */
export const GLOBAL_KEY = 'all';

/** Every feature computeFeatures returns, in a stable order (the rules' vocabulary). */
export const FEATURE_NAMES = [
  'signups_per_ip_24h', 'signups_per_device_24h', 'signups_per_email_domain_24h', 'wallets_per_device_30d',
  'names_per_device_30d', 'email_domain', 'pin_failures_per_account_24h', 'otp_failures_per_account_24h',
  'pin_failures_per_ip_24h', 'accounts_with_failures_per_ip_24h', 'wallets_per_bank_account', 'bank_accounts_per_wallet',
  'wallets_per_identity', 'account_age_hours', 'link_age_hours', 'hours_signup_to_first_link',
  'hours_signup_to_first_charge', 'hours_link_to_first_charge', 'name_match_score', 'amount', 'amount_vs_p95_history',
  'charges_per_wallet_24h', 'charges_per_account_24h', 'new_device', 'hours_since_phone_change',
  'hours_since_new_device_login', 'hours_since_factor_change', 'hours_since_charge_from_other_account',
  // Names the rule registry (rule-features.ts) reads that are the same counts over other windows or another name.
  'signups_per_ip_1h', 'wallets_per_device_24h', 'auth_failures_per_bank_account_24h',
  'wallets_failing_per_bank_account_24h', 'bank_accounts_failed_per_ip_24h', 'wallets_per_bank_account_90d',
  'bank_accounts_per_wallet_30d', 'charges_per_bank_account_24h', 'charge_amount_per_wallet_24h',
  // Payments (payment-features.ts): merchant age and owner, first payment to it, wallet and merchant velocity.
  ...PAYMENT_FEATURE_NAMES,
  // Sign-in failures (issue 10): per account, per address, per network, across koza.
  'login_failures_per_account_1h', 'login_failures_per_ip_1h', 'accounts_failed_login_per_ip_1h',
  'accounts_failed_login_per_network_1h', 'accounts_failed_login_global_1h', 'logins_succeeded_global_1h',
  'failed_login_accounts_per_success_1h',
  // Issue 11: names an analyst cleared on the device (a released held link) no longer make it "many names".
  'uncleared_names_per_device_30d',
] as const;
export type FeatureName = typeof FEATURE_NAMES[number];

/**
 * What each feature means. Conventions: windows slide and end at `now`; counts include the event being decided when
 * recordEvent ran first (failure counts hold only failures already reported); a bank account is (bank code, account
 * ref); hours are fractional (2 decimals); null means not applicable or unknown, never zero.
 */
export const FEATURE_MEANINGS: Record<FeatureName, string> = {
  signups_per_ip_24h: "Sign-up events from the event's IP in the last 24 h (minute resolution).",
  signups_per_device_24h: "Sign-up events from the event's device key in the last 24 h.",
  signups_per_email_domain_24h: "Sign-up events whose e-mail has the event's domain in the last 24 h.",
  wallets_per_device_30d: "Distinct wallets seen (any event) with the event's device key in the last 30 days.",
  names_per_device_30d: "Distinct names (attribute name_key, or name_kana normalised and hashed) seen with the event's device key in the last 30 days.",
  email_domain: "Lower-cased domain of the event's e-mail (attribute email/email_domain), else of the wallet's e-mail.",
  pin_failures_per_account_24h: "PIN failures (attribute failure='pin') on the event's bank account in the last 24 h, across all wallets.",
  otp_failures_per_account_24h: "OTP failures (attribute failure='otp') on the event's bank account in the last 24 h, across all wallets.",
  pin_failures_per_ip_24h: "PIN failures from the event's IP in the last 24 h, on any bank account.",
  accounts_with_failures_per_ip_24h: "Distinct bank accounts with a PIN or OTP failure from the event's IP in the last 24 h.",
  wallets_per_bank_account: "Distinct wallets ever tied to the event's bank account: the bank vouched for it to them (link_complete) or they hold a bank_links row; the larger of the two counts.",
  bank_accounts_per_wallet: "Distinct bank accounts ever tied to the event's wallet, the same way.",
  wallets_per_identity: "Distinct wallets sharing this wallet's verified person or any identity document it submitted (itself included); null if it never submitted one.",
  account_age_hours: 'Hours since the wallet was created.',
  link_age_hours: "Hours since the wallet's link to the event's bank account (the live one, else the latest) was made; with no account in the event, its first link.",
  hours_signup_to_first_link: "Hours from wallet creation to its first bank link; null before any link.",
  hours_signup_to_first_charge: 'Hours from wallet creation to its first charge (this charge when it is the first); null before any.',
  hours_link_to_first_charge: "Hours from the link's creation to the first charge through it (this charge when it is the first); null before any.",
  name_match_score: "Holder name-match score 0–100: the event's attribute, else the stored score of the link; null when none.",
  amount: "The event's amount in yen; null when it has none.",
  amount_vs_p95_history: "amount ÷ the 95th percentile (continuous) of the wallet's earlier charges not voided; null without amount or history.",
  charges_per_wallet_24h: 'Charge events of the wallet in the last 24 h that reached the risk check (refused ones too; a step-up-refused attempt and its approved retry once).',
  charges_per_account_24h: "Charge events debiting the event's bank account in the last 24 h, across all wallets, counted as charges_per_wallet_24h.",
  new_device: "The device key is unknown to the wallet, or first seen in the last 24 h while the wallet has an older device; false for a wallet with no device yet; null without a device key.",
  hours_since_phone_change: "Hours since the wallet's phone number was last verified (a first verification counts); null if never.",
  hours_since_new_device_login: "Hours since the wallet first signed in from its most recent device other than its first; null if it only ever used one.",
  hours_since_factor_change: 'Hours since a second factor was added (not the first), removed, or recovery codes replaced, within 30 days; null if none.',
  hours_since_charge_from_other_account: "withdrawal: hours since the latest posted charge into the wallet from a bank account other than the withdrawal's, within 30 days; null otherwise.",
  signups_per_ip_1h: "Sign-up events from the event's IP in the last hour.",
  wallets_per_device_24h: "Distinct wallets seen with the event's device key in the last 24 h.",
  auth_failures_per_bank_account_24h: 'pin_failures_per_account_24h + otp_failures_per_account_24h.',
  wallets_failing_per_bank_account_24h: "Distinct wallets with a PIN or OTP failure on the event's bank account in the last 24 h.",
  bank_accounts_failed_per_ip_24h: 'The same as accounts_with_failures_per_ip_24h.',
  wallets_per_bank_account_90d: "Distinct wallets the bank vouched for the event's bank account to (link_complete) in the last 90 days.",
  bank_accounts_per_wallet_30d: 'Distinct bank accounts vouched for to the wallet (link_complete) in the last 30 days.',
  charges_per_bank_account_24h: 'The same as charges_per_account_24h.',
  charge_amount_per_wallet_24h: 'Sum in yen of the charge events of the wallet in the last 24 h, counted as charges_per_wallet_24h.',
  ...PAYMENT_FEATURE_MEANINGS,
  login_failures_per_account_1h: "Failed sign-ins (wrong password or wrong second proof) on the event's login account (attribute login_account) in the last hour.",
  login_failures_per_ip_1h: "Failed sign-ins from the event's IP in the last hour, on any account.",
  accounts_failed_login_per_ip_1h: "Distinct login accounts with a failed sign-in from the event's IP in the last hour.",
  accounts_failed_login_per_network_1h: "Distinct login accounts with a failed sign-in from the event's IPv4 /24 or IPv6 /48 in the last hour.",
  accounts_failed_login_global_1h: 'Distinct login accounts with a failed sign-in from anywhere in the last hour.',
  logins_succeeded_global_1h: 'Sign-ins with a right password, from anywhere, in the last hour.',
  failed_login_accounts_per_success_1h: 'accounts_failed_login_global_1h ÷ max(1, logins_succeeded_global_1h).',
  uncleared_names_per_device_30d: "names_per_device_30d less the names an analyst cleared on this device by releasing a link held from it (a name first seen there after that release still counts, unless the analyst cleared the device as one household and it shows at most four names).",
};

/**
 * What an event may carry in `attributes` for the features (all optional):
 *  - `failure`: 'pin' | 'otp' | 'credentials' — the bank refused the PIN, the one-time code, or (bank protocol v2,
 *    which judges them together and never says which) the PIN and code of a completion (link_start, link_complete):
 *    counted per bank account across wallets, per wallet, per person and per IP, never as a link;
 *  - `email` or `email_domain` (signup): the e-mail domain velocity and `email_domain`;
 *  - `name_key` (preferred) or `name_kana` (kyc_submit, link_start under legacy-2020, …): a name typed or verified on
 *    this device. name_key is the caller's keyed hash of the normalised name (as verified_identities.person_key is
 *    keyed); a bare name_kana is stored as an unkeyed hash, which hides it from a casual reader but not from someone
 *    who can guess names;
 *  - `name_match_score`: the holder name match the link flow computed (link_complete).
 */
export interface FeatureAttributes {
  /** pin/otp/credentials: a bank refused a link's credential; password/second_factor (login): a failed sign-in. */
  failure?: 'pin' | 'otp' | 'credentials' | 'password' | 'second_factor';
  /** login: the account the sign-in named (a keyed hash of the e-mail: loginAccountKey), known wallet or not. */
  login_account?: string;
  email?: string;
  email_domain?: string;
  name_key?: string;
  name_kana?: string;
  name_match_score?: number | null;
}

/** One bank account across every wallet: the bank's code and its stable account reference (or a typed-account key). */
export function bankAccountKey(bankCode: string | undefined, accountRef: string): string {
  return `${bankCode ?? '----'}:${accountRef}`;
}

function accountKeyOf(event: RiskEvent): string | null {
  return event.accountRef ? bankAccountKey(event.bankCode, event.accountRef) : null;
}

function attr(event: RiskEvent, name: string): string | number | boolean | null | undefined {
  return event.attributes?.[name];
}

function stringAttr(event: RiskEvent, name: string): string | null {
  const v = attr(event, name);
  return typeof v === 'string' && v.length > 0 ? v : null;
}

export function emailDomainOf(email: string): string | null {
  const at = email.lastIndexOf('@');
  if (at < 0 || at === email.length - 1) return null;
  return email.slice(at + 1).trim().toLowerCase().replace(/\.$/, '');
}

function eventEmailDomain(event: RiskEvent): string | null {
  const domain = stringAttr(event, 'email_domain');
  if (domain) return domain.trim().toLowerCase();
  const email = stringAttr(event, 'email');
  return email ? emailDomainOf(email) : null;
}

/** Names count per device as a hash of the normalised name: the counter tables never hold a person's name in clear. */
export function nameMember(name: string): string {
  return createHash('sha256').update(name.normalize('NFKC').replace(/\s+/g, '').toLowerCase()).digest('base64url').slice(0, 22);
}

/**
 * Moves the counters an event implies. Call it before computeFeatures for the same event, in the same
 * transaction: velocity and distinct features then include the event being decided ("the 6th sign-up from this IP").
 */
export async function recordEvent(q: Queryable, store: CounterStore, event: RiskEvent, at: Date = new Date()): Promise<void> {
  const writes: CounterWrite[] = [];
  const increment = (counter: string, key: string, by?: number) => {
    writes.push({ kind: 'increment', counter, key, at, ...(by === undefined ? {} : { by }) });
  };
  const addDistinct = (dimension: string, key: string, member: string) => {
    writes.push({ kind: 'distinct', dimension, key, member, at });
  };
  const account = accountKeyOf(event);
  const failure = attr(event, 'failure');
  if (event.deviceKey && event.walletId) addDistinct(DIMENSIONS.walletsPerDevice, event.deviceKey, event.walletId);
  const nameKey = stringAttr(event, 'name_key');
  const name = stringAttr(event, 'name_kana');
  const member = nameKey ?? (name === null ? null : nameMember(name));
  if (event.deviceKey && member) addDistinct(DIMENSIONS.namesPerDevice, event.deviceKey, member);

  if (event.kind === 'signup') {
    if (event.ip) increment(COUNTERS.signupsPerIp, event.ip);
    if (event.deviceKey) increment(COUNTERS.signupsPerDevice, event.deviceKey);
    const domain = eventEmailDomain(event);
    if (domain) increment(COUNTERS.signupsPerEmailDomain, domain);
  }

  if (failure === 'pin' || failure === 'otp' || failure === 'credentials') {
    // Credential testing: failures on one account from many wallets, and one IP failing on many accounts.
    if (account && failure !== 'credentials') {
      increment(failure === 'pin' ? COUNTERS.pinFailuresPerAccount : COUNTERS.otpFailuresPerAccount, account);
    }
    // Whatever the bank could say of it, one failed try: per account (all wallets), per wallet and per person.
    if (account) increment(COUNTERS.linkFailuresPerAccount, account);
    if (event.walletId) increment(COUNTERS.linkFailuresPerWallet, event.walletId);
    if (event.personKey) increment(COUNTERS.linkFailuresPerPerson, event.personKey);
    if (event.ip && failure === 'pin') increment(COUNTERS.pinFailuresPerIp, event.ip);
    if (event.ip && account) addDistinct(DIMENSIONS.accountsWithFailuresPerIp, event.ip, account);
    if (account && event.walletId) addDistinct(DIMENSIONS.walletsFailingPerBankAccount, account, event.walletId);
  } else if (event.kind === 'link_start' && account && event.accountRef!.startsWith('typed:')) {
    // Starting links to many different typed accounts is a signal before any PIN fails (a sprayer's first round).
    if (event.walletId) addDistinct(DIMENSIONS.typedAccountsStartedPerWallet, event.walletId, account);
    if (event.personKey) addDistinct(DIMENSIONS.typedAccountsStartedPerPerson, event.personKey, account);
    if (event.deviceKey) addDistinct(DIMENSIONS.typedAccountsStartedPerDevice, event.deviceKey, account);
  } else if (event.kind === 'link_complete' && account && event.walletId) {
    // The bank vouched for the account: the wallet and the account are now tied, linked in the end or refused.
    addDistinct(DIMENSIONS.walletsPerBankAccount, account, event.walletId);
    addDistinct(DIMENSIONS.bankAccountsPerWallet, event.walletId, account);
  }

  if (event.kind === 'login') {
    const loginAccount = stringAttr(event, 'login_account');
    if (failure === 'password' || failure === 'second_factor') {
      // Credential stuffing (one address, many accounts) and spraying (many addresses, many accounts, few tries each).
      if (loginAccount) increment(COUNTERS.loginFailuresPerAccount, loginAccount);
      if (event.ip) increment(COUNTERS.loginFailuresPerIp, event.ip);
      if (loginAccount) {
        if (event.ip) addDistinct(DIMENSIONS.accountsFailedLoginPerIp, event.ip, loginAccount);
        if (event.ip) addDistinct(DIMENSIONS.accountsFailedLoginPerNetwork, ipNetworkOf(event.ip), loginAccount);
        addDistinct(DIMENSIONS.accountsFailedLoginGlobal, GLOBAL_KEY, loginAccount);
      }
    } else if (failure === undefined && loginAccount) {
      increment(COUNTERS.loginsSucceededGlobal, GLOBAL_KEY);
    }
  }

  if (event.kind === 'charge') {
    if (event.walletId) increment(COUNTERS.chargesPerWallet, event.walletId);
    if (event.walletId && typeof event.amount === 'number' && Number.isSafeInteger(event.amount) && event.amount > 0) {
      increment(COUNTERS.chargeAmountPerWallet, event.walletId, event.amount);
    }
    if (account) increment(COUNTERS.chargesPerAccount, account);
  }
  // One round trip for all of them (a charge moves three counters, a link failure four).
  await writeCounters(q, store, writes);
}

interface WalletFacts {
  created_at: Date;
  email: string;
  phone_verified_at: Date | null;
  first_link_at: Date | null;
  first_charge_at: Date | null;
  linked_accounts: number | string;
  p95_charge: number | string | null;
  device_count: number | string;
  first_device_at: Date | null;
  device_first_seen: Date | null;
  last_new_device_at: Date | null;
  last_factor_change_at: Date | null;
  /** Identity documents this wallet ever submitted, and the wallets tied to the same person or document. */
  identity_documents: number | string;
  identity_wallets: number | string;
  /** Wallets holding a bank_links row for the event's account; null without an account in the event. */
  account_linked_wallets: number | string | null;
}

interface LinkFacts {
  id: string;
  created_at: Date;
  name_match_score: number | null;
  first_charge_at: Date | null;
}

function hoursBetween(from: Date | string | null | undefined, to: Date | string | null | undefined): number | null {
  if (from === null || from === undefined || to === null || to === undefined) return null;
  const ms = new Date(to).getTime() - new Date(from).getTime();
  return Math.round((ms / 3_600_000) * 100) / 100;
}

/**
 * Everything the features need to know about the wallet (and the event's bank account) from koza's own tables, in one
 * round trip: one SELECT of scalar subqueries, each an index lookup. identity_wallets: wallets tied to the same person
 * as this wallet — the same verified person (keyed name + birth date) or the same identity document, in a verified
 * identity or in any submission (a stolen document tried on several wallets).
 */
async function walletFacts(
  q: Queryable, walletId: string, deviceKey: string | null, now: Date, bankCode: string | undefined, accountRef: string | undefined,
): Promise<WalletFacts | null> {
  const res = await q.query<WalletFacts>(
    `SELECT w.created_at, w.email, w.phone_verified_at,
       (SELECT min(created_at) FROM bank_links WHERE wallet_id = w.id) AS first_link_at,
       (SELECT min(created_at) FROM bank_movements WHERE wallet_id = w.id AND kind = 'charge' AND created_at <= $3) AS first_charge_at,
       (SELECT count(DISTINCT (bank_code, account_ref)) FROM bank_links WHERE wallet_id = w.id) AS linked_accounts,
       (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY amount) FROM bank_movements
          WHERE wallet_id = w.id AND kind = 'charge' AND status <> 'voided' AND created_at < $3) AS p95_charge,
       (SELECT count(*) FROM devices WHERE wallet_id = w.id) AS device_count,
       (SELECT min(first_seen_at) FROM devices WHERE wallet_id = w.id) AS first_device_at,
       (SELECT first_seen_at FROM devices WHERE wallet_id = w.id AND device_key = $2) AS device_first_seen,
       (SELECT max(d.first_seen_at) FROM devices d WHERE d.wallet_id = w.id
          AND d.first_seen_at > (SELECT min(first_seen_at) FROM devices WHERE wallet_id = w.id)) AS last_new_device_at,
       (SELECT max(t) FROM (
          SELECT f.activated_at AS t FROM second_factors f WHERE f.wallet_id = w.id
            AND f.activated_at > (SELECT min(activated_at) FROM second_factors WHERE wallet_id = w.id)
          UNION ALL SELECT f.removed_at FROM second_factors f WHERE f.wallet_id = w.id AND f.removed_at IS NOT NULL
          UNION ALL SELECT b.created_at FROM recovery_code_batches b WHERE b.wallet_id = w.id
            AND b.created_at > (SELECT min(created_at) FROM recovery_code_batches WHERE wallet_id = w.id)
        ) changes WHERE t > $3::timestamptz - interval '30 days' AND t <= $3) AS last_factor_change_at,
       (SELECT count(*) FROM (SELECT document_key FROM identity_verifications WHERE wallet_id = w.id
                              UNION SELECT document_key FROM verified_identities WHERE wallet_id = w.id) docs) AS identity_documents,
       (SELECT count(DISTINCT wallet_id) FROM (
          SELECT vi.wallet_id FROM verified_identities vi
            WHERE vi.person_key IN (SELECT person_key FROM verified_identities WHERE wallet_id = w.id)
               OR vi.document_key IN (SELECT document_key FROM identity_verifications WHERE wallet_id = w.id
                                      UNION SELECT document_key FROM verified_identities WHERE wallet_id = w.id)
          UNION SELECT iv.wallet_id FROM identity_verifications iv
            WHERE iv.document_key IN (SELECT document_key FROM identity_verifications WHERE wallet_id = w.id
                                      UNION SELECT document_key FROM verified_identities WHERE wallet_id = w.id)
        ) tied) AS identity_wallets,
       CASE WHEN $5::text IS NULL THEN NULL ELSE (SELECT count(DISTINCT wallet_id) FROM bank_links
          WHERE account_ref = $5 AND ($4::text IS NULL OR bank_code = $4)) END AS account_linked_wallets
     FROM wallets w WHERE w.id = $1`,
    [walletId, deviceKey, now, bankCode ?? null, accountRef ?? null],
  );
  return res.rows[0] ?? null;
}

/** The wallet's link to the event's account: the live one if any, else the latest. */
async function linkFacts(q: Queryable, walletId: string, bankCode: string | undefined, accountRef: string, now: Date): Promise<LinkFacts | null> {
  const res = await q.query<LinkFacts>(
    `SELECT l.id, l.created_at, l.name_match_score,
       (SELECT min(created_at) FROM bank_movements m WHERE m.link_id = l.id AND m.kind = 'charge' AND m.created_at <= $4) AS first_charge_at
     FROM bank_links l
     WHERE l.wallet_id = $1 AND l.account_ref = $3 AND ($2::text IS NULL OR l.bank_code = $2)
     ORDER BY (l.status <> 'revoked') DESC, l.seq DESC LIMIT 1`,
    [walletId, bankCode ?? null, accountRef, now],
  );
  return res.rows[0] ?? null;
}

/** The wallet's first link, when the event names no account. */
async function firstLinkFacts(q: Queryable, walletId: string, now: Date): Promise<LinkFacts | null> {
  const res = await q.query<LinkFacts>(
    `SELECT l.id, l.created_at, l.name_match_score,
       (SELECT min(created_at) FROM bank_movements m WHERE m.link_id = l.id AND m.kind = 'charge' AND m.created_at <= $2) AS first_charge_at
     FROM bank_links l WHERE l.wallet_id = $1 ORDER BY l.seq LIMIT 1`,
    [walletId, now],
  );
  return res.rows[0] ?? null;
}

/** Hours since the latest posted charge into the wallet, in the last 30 days, from another bank account than this one. */
async function hoursSinceChargeFromOtherAccount(
  q: Queryable, walletId: string, bankCode: string | undefined, accountRef: string, now: Date,
): Promise<number | null> {
  const res = await q.query<{ at: Date | null }>(
    `SELECT max(m.created_at) AS at FROM bank_movements m JOIN bank_links l ON l.id = m.link_id
      WHERE m.wallet_id = $1 AND m.kind = 'charge' AND m.status = 'posted'
        AND m.created_at > $4::timestamptz - interval '30 days' AND m.created_at <= $4
        AND NOT (l.account_ref = $3 AND ($2::text IS NULL OR l.bank_code = $2))`,
    [walletId, bankCode ?? null, accountRef, now]);
  return hoursBetween(res.rows[0]?.at ?? null, now);
}

/**
 * A household's size on one device: an analyst's household clearance (link-review.ts) covers names first seen after it
 * only while the device shows at most this many names in 30 days (device-wallet-farm-30d refuses a fifth wallet anyway).
 */
export const HOUSEHOLD_MAX_NAMES = 4;

/**
 * Names seen with the device in 30 days that no analyst cleared there (link-review.ts): read past the counter cache. A
 * device cleared as a household, still within its size, has none.
 */
async function unclearedNamesOnDevice(q: Queryable, deviceKey: string, now: Date): Promise<number> {
  const res = await q.query<{ n: number | string; all_names: number | string; household: boolean }>(
    `SELECT count(*) FILTER (WHERE NOT EXISTS (
              SELECT 1 FROM device_name_clearances c WHERE c.device_key = d.key AND c.member = d.member)) AS n,
            count(*) AS all_names,
            EXISTS (SELECT 1 FROM device_household_clearances h WHERE h.device_key = $2 AND h.expires_at > $3::timestamptz) AS household
       FROM risk_distinct d
      WHERE d.dimension = $1 AND d.key = $2 AND d.last_seen > $3::timestamptz - interval '30 days'`,
    [DIMENSIONS.namesPerDevice, deviceKey, now]);
  const row = res.rows[0]!;
  return row.household && Number(row.all_names) <= HOUSEHOLD_MAX_NAMES ? 0 : Number(row.n);
}

async function linkedWalletsOfAccount(q: Queryable, bankCode: string | undefined, accountRef: string): Promise<number> {
  const res = await q.query<{ n: number | string }>(
    'SELECT count(DISTINCT wallet_id) AS n FROM bank_links WHERE account_ref = $2 AND ($1::text IS NULL OR bank_code = $1)',
    [bankCode ?? null, accountRef],
  );
  return Number(res.rows[0]!.n);
}

/**
 * The features of an event at `now`, by name (FEATURE_NAMES). A feature that does not apply to the event (no IP, no
 * wallet, no history) is null, never 0, so that a rule can tell "none" from "unknown". Reads only through `q`, one
 * query at a time (`q` may be one connection: a transaction, or PGlite); the counter reads go in one round trip.
 */
export async function computeFeatures(
  q: Queryable, store: CounterStore, event: RiskEvent, now: Date = new Date(),
  /** Windowed counts the rules read beyond the fixed vocabulary (`signups_per_ip_6h`: rule-features.ts). */
  windowed: Iterable<string> = [],
): Promise<Features> {
  const account = accountKeyOf(event);
  const ip = event.ip ?? null;
  const device = event.deviceKey ?? null;
  const walletId = event.walletId;
  const wallet = walletId ? await walletFacts(q, walletId, device, now, event.bankCode, event.accountRef) : null;
  const link = wallet && walletId
    ? (event.accountRef ? await linkFacts(q, walletId, event.bankCode, event.accountRef, now) : await firstLinkFacts(q, walletId, now))
    : null;
  const domain = eventEmailDomain(event) ?? (wallet ? emailDomainOf(wallet.email) : null);
  const isCharge = event.kind === 'charge';
  const amount = typeof event.amount === 'number' ? event.amount : null;

  const reads: CounterRead[] = [];
  const slots = new Map<string, number>();
  const count = (name: string, counter: string, key: string | null, windowSeconds: number) => {
    if (key === null) return;
    slots.set(name, reads.length);
    reads.push({ kind: 'count', counter, key, windowSeconds });
  };
  const distinct = (name: string, dimension: string, key: string | null, windowSeconds: number | null) => {
    if (key === null) return;
    slots.set(name, reads.length);
    reads.push({ kind: 'distinct', dimension, key, windowSeconds });
  };
  // Every count named <base>_<window> (the fixed vocabulary's and those the rules pick) is read the same way, keyed as
  // WINDOWED_COUNTS says; the all-time distinct counts have no window in their names.
  const keyOf = {
    ip, device, email_domain: domain, account, wallet: walletId, person: event.personKey ?? null,
    network: ip === null ? null : ipNetworkOf(ip), global: GLOBAL_KEY, login_account: stringAttr(event, 'login_account'),
  } as const;
  for (const name of new Set([...FEATURE_NAMES, ...windowed])) {
    const parsed = parseWindowedFeature(name);
    if (!parsed) continue;
    const spec = WINDOWED_COUNTS[parsed.base];
    if (spec.kind === 'count') count(name, parsed.base, keyOf[spec.key], parsed.windowSeconds);
    else distinct(name, parsed.base, keyOf[spec.key], parsed.windowSeconds);
  }
  distinct('wallets_per_bank_account_seen', DIMENSIONS.walletsPerBankAccount, account, null);
  distinct('bank_accounts_per_wallet_seen', DIMENSIONS.bankAccountsPerWallet, wallet ? walletId : null, null);
  const values = await readCounters(q, store, reads, now);
  const v = (name: string): number | null => {
    const slot = slots.get(name);
    return slot === undefined ? null : values[slot]!;
  };

  const f: Features = {};
  f.signups_per_ip_24h = v('signups_per_ip_24h');
  f.signups_per_device_24h = v('signups_per_device_24h');
  f.signups_per_email_domain_24h = v('signups_per_email_domain_24h');
  f.wallets_per_device_30d = v('wallets_per_device_30d');
  f.names_per_device_30d = v('names_per_device_30d');
  f.email_domain = domain;
  f.pin_failures_per_account_24h = v('pin_failures_per_account_24h');
  f.otp_failures_per_account_24h = v('otp_failures_per_account_24h');
  f.pin_failures_per_ip_24h = v('pin_failures_per_ip_24h');
  f.accounts_with_failures_per_ip_24h = v('accounts_with_failures_per_ip_24h');
  // Links made before the engine saw events are in bank_links only: the larger of the two is the better lower bound.
  f.wallets_per_bank_account = account === null ? null
    : Math.max(v('wallets_per_bank_account_seen')!, wallet?.account_linked_wallets != null
      ? Number(wallet.account_linked_wallets) : await linkedWalletsOfAccount(q, event.bankCode, event.accountRef!));
  f.bank_accounts_per_wallet = wallet ? Math.max(v('bank_accounts_per_wallet_seen')!, Number(wallet.linked_accounts)) : null;
  // No name on the device (most money events): nothing to subtract, and no second read.
  f.uncleared_names_per_device_30d = device === null ? null
    : f.names_per_device_30d === 0 ? 0 : await unclearedNamesOnDevice(q, device, now);
  f.wallets_per_identity = wallet && Number(wallet.identity_documents) > 0 ? Number(wallet.identity_wallets) : null;

  f.account_age_hours = wallet ? hoursBetween(wallet.created_at, now) : null;
  f.link_age_hours = link ? hoursBetween(link.created_at, now) : null;
  f.hours_signup_to_first_link = wallet ? hoursBetween(wallet.created_at, wallet.first_link_at) : null;
  // The charge being decided is not in bank_movements yet: with no earlier charge, it is the first.
  const firstCharge = wallet?.first_charge_at ?? (isCharge ? now : null);
  f.hours_signup_to_first_charge = wallet ? hoursBetween(wallet.created_at, firstCharge) : null;
  const firstChargeOnLink = link?.first_charge_at ?? (isCharge && link ? now : null);
  f.hours_link_to_first_charge = link ? hoursBetween(link.created_at, firstChargeOnLink) : null;
  const score = attr(event, 'name_match_score');
  f.name_match_score = typeof score === 'number' ? score : (link?.name_match_score ?? null);

  f.amount = amount;
  const p95 = wallet?.p95_charge === null || wallet?.p95_charge === undefined ? null : Number(wallet.p95_charge);
  f.amount_vs_p95_history = amount !== null && p95 !== null && p95 > 0 ? Math.round((amount / p95) * 10_000) / 10_000 : null;
  f.charges_per_wallet_24h = v('charges_per_wallet_24h');
  f.charges_per_account_24h = v('charges_per_account_24h');

  f.new_device = newDevice(wallet, device, now);
  f.hours_since_phone_change = wallet ? hoursBetween(wallet.phone_verified_at, now) : null;
  f.hours_since_new_device_login = wallet ? hoursBetween(wallet.last_new_device_at, now) : null;
  f.hours_since_factor_change = wallet ? hoursBetween(wallet.last_factor_change_at, now) : null;
  f.hours_since_charge_from_other_account = wallet && walletId && event.kind === 'withdrawal' && event.accountRef
    ? await hoursSinceChargeFromOtherAccount(q, walletId, event.bankCode, event.accountRef, now) : null;

  f.signups_per_ip_1h = v('signups_per_ip_1h');
  f.wallets_per_device_24h = v('wallets_per_device_24h');
  const pin = f.pin_failures_per_account_24h;
  const otp = f.otp_failures_per_account_24h;
  f.auth_failures_per_bank_account_24h = pin === null || otp === null ? null : pin + otp;
  f.wallets_failing_per_bank_account_24h = v('wallets_failing_per_bank_account_24h');
  f.bank_accounts_failed_per_ip_24h = f.accounts_with_failures_per_ip_24h;
  f.wallets_per_bank_account_90d = v('wallets_per_bank_account_90d');
  f.bank_accounts_per_wallet_30d = v('bank_accounts_per_wallet_30d');
  f.charges_per_bank_account_24h = f.charges_per_account_24h;
  f.charge_amount_per_wallet_24h = v('charge_amount_per_wallet_24h');
  Object.assign(f, await paymentFeatures(q, event, now));
  f.login_failures_per_account_1h = v('login_failures_per_account_1h');
  f.login_failures_per_ip_1h = v('login_failures_per_ip_1h');
  f.accounts_failed_login_per_ip_1h = v('accounts_failed_login_per_ip_1h');
  f.accounts_failed_login_per_network_1h = v('accounts_failed_login_per_network_1h');
  f.accounts_failed_login_global_1h = v('accounts_failed_login_global_1h');
  f.logins_succeeded_global_1h = v('logins_succeeded_global_1h');
  const failedAccounts = f.accounts_failed_login_global_1h;
  const successes = f.logins_succeeded_global_1h;
  f.failed_login_accounts_per_success_1h = failedAccounts === null || successes === null ? null
    : Math.round((failedAccounts / Math.max(1, successes)) * 100) / 100;
  for (const name of windowed) if (!(name in f) && parseWindowedFeature(name)) f[name] = v(name);
  return f;
}

/**
 * A device the wallet was not using: unknown to it, or first seen in the last 24 h while the wallet has an older
 * device. A wallet with no device at all (the sign-up itself) has no new device; no device key → unknown (null).
 */
function newDevice(wallet: WalletFacts | null, device: string | null, now: Date): boolean | null {
  if (!wallet || device === null) return null;
  if (Number(wallet.device_count) === 0) return false;
  if (wallet.device_first_seen === null) return true;
  const firstSeen = new Date(wallet.device_first_seen).getTime();
  const walletFirst = new Date(wallet.first_device_at!).getTime();
  return firstSeen > walletFirst && now.getTime() - firstSeen < DAY * 1000;
}
