// Owns the registry of feature names a risk rule may read: each name's type and exact meaning.
// Must never compute a feature (that is the counter store's job) nor accept a rule over a name not listed here.
import type { RiskEvent } from './hook.js';

export type FeatureType = 'number' | 'string' | 'boolean';
export type FeatureValue = number | string | boolean | null;
export type FeatureVector = Record<string, FeatureValue>;

export interface FeatureDefinition {
  type: FeatureType;
  /** One line: what the value is, its unit and window, and when it is null. */
  meaning: string;
}

/*
 * Conventions every counter below follows, so thresholds in the rule file mean one thing:
 * - Windows are sliding and end at the moment of the event being decided.
 * - Counts include the event being decided as if it had already been recorded (a lone customer's first
 *   sign-up has wallets_per_device_24h = 1, their first charge of the day charges_per_wallet_24h = 1). Failure
 *   counts include the current event only when it reports a failure (attributes.failure), so a link attempt
 *   is decided on the failures before it.
 * - A bank account is the pair (bank code, account ref); a device is the client device key; amounts are yen.
 * - null means "not known or not applicable to this event" — a rule comparing a null feature never fires.
 * - One action counts once: an attempt refused for a step-up and the retry its approved proof answers (same
 *   wallet, action, amount and destination) are one event in every counter (count-once.ts).
 */
export const FEATURES = {
  // Carried by the event itself (see featuresFromEvent).
  amount: { type: 'number', meaning: 'The amount of the charge, payment or withdrawal being decided, in yen; null on other events.' },
  name_match_score: { type: 'number', meaning: 'link_complete: kana name-match score 0–100 between the bank holder and the expected name (exact 100, strong 85–99); null when nothing was compared.' },
  dob_matches: { type: 'boolean', meaning: "link_complete: the bank holder's date of birth equals the wallet's verified identity's; null when either is unknown." },
  link_method: { type: 'string', meaning: "Method of the bank link this event creates or uses: 'redirect', 'pin_otp' or 'pin_only'; null when no link is involved." },
  link_age_hours: { type: 'number', meaning: 'charge/withdrawal: hours (fractional) since the bank link this event uses became active; null when no link is involved.' },
  // Graduated trust and the holder's own channel (issue 10), carried by the event.
  link_holder_confirmed: { type: 'boolean', meaning: "link_complete/charge: the bank-account holder confirmed the link on a channel the phone alone cannot reach (bank sign-in, or the bank's e-mailed one tap); redirect links always; null when no link is involved." },
  link_phone_matches: { type: 'boolean', meaning: "link_complete/charge: the wallet's verified phone is the phone the bank holds for the account; null when not compared." },
  account_link_age_hours: { type: 'number', meaning: "charge: hours since this person's first link of the bank account (re-linking does not reset it); null on other events." },
  first_large_charge: { type: 'boolean', meaning: 'charge: the amount is at least KOZA_LARGE_CHARGE_NOTICE_FROM and the bank account had no such charge before (any wallet); null on other events.' },
  new_destination: { type: 'boolean', meaning: 'withdrawal: the wallet never withdrew to this bank account before; payment: the wallet never paid this merchant before; null on other events.' },
  minutes_since_charge: { type: 'number', meaning: "withdrawal/payment: minutes since the wallet's latest charge that was not voided (cash-out: charge, then straight out); null if none in 30 days." },
  // Wallet and session facts.
  email_domain: { type: 'string', meaning: "Lower-cased domain part of the wallet's e-mail address (at signup: the address being registered); null when unknown." },
  new_device: { type: 'boolean', meaning: "The event's device is one the wallet was not using: unknown to it, or first seen in the last 24 h while the wallet has an older device; false for the wallet's first device; null without a device key." },
  account_age_hours: { type: 'number', meaning: 'Hours (fractional) since the wallet was created; 0 at signup.' },
  hours_signup_to_first_link: { type: 'number', meaning: "Hours from the wallet's creation to its first bank link; null before any link." },
  hours_signup_to_first_charge: { type: 'number', meaning: "Hours from the wallet's creation to its first charge (this one, if it is the first); null before any charge." },
  hours_link_to_first_charge: { type: 'number', meaning: "Hours from the event's bank link's creation to the first charge through it (this one, if it is the first); null before any." },
  hours_since_new_device_login: { type: 'number', meaning: 'Hours since the latest successful login to this wallet from a device never seen on it before; null if none in the last 30 days.' },
  hours_since_phone_change: { type: 'number', meaning: "Hours since the wallet's phone number was last verified (changed, or first verified at sign-up — rules guard with account_age_hours); null if never verified." },
  hours_since_factor_change: { type: 'number', meaning: 'Hours since an authentication factor of this wallet was last added, removed or replaced after sign-up (enrolment does not count); null if none in the last 30 days.' },
  // Sign-up farms: distinct counts per device and IP.
  wallets_per_device_24h: { type: 'number', meaning: "Distinct wallets seen on any risk event with the event's device key in the last 24 h, including this event's wallet." },
  wallets_per_device_30d: { type: 'number', meaning: "Distinct wallets seen on any risk event with the event's device key in the last 30 days, including this event's wallet." },
  signups_per_ip_1h: { type: 'number', meaning: "Sign-ups the risk check saw from the event's IP address in the last hour (refused ones too), including this sign-up." },
  signups_per_ip_24h: { type: 'number', meaning: "Sign-ups the risk check saw from the event's IP address in the last 24 h (refused ones too), including this sign-up." },
  signups_per_device_24h: { type: 'number', meaning: "Sign-ups the risk check saw from the event's device key in the last 24 h (refused ones too), including this sign-up." },
  signups_per_email_domain_24h: { type: 'number', meaning: "Sign-ups the risk check saw with the event's e-mail domain in the last 24 h (refused ones too), including this sign-up." },
  names_per_device_30d: { type: 'number', meaning: "Distinct holder names (normalised kana, verified or claimed at link) on wallets seen with the event's device key in the last 30 days, including this event's." },
  // Credential testing and PIN spraying: bank-side authentication failures (PIN or OTP rejected during a link).
  pin_failures_per_account_24h: { type: 'number', meaning: "PIN failures against the event's bank account in the last 24 h, across all wallets." },
  otp_failures_per_account_24h: { type: 'number', meaning: "One-time-code failures against the event's bank account in the last 24 h, across all wallets." },
  wallets_failing_per_bank_account_24h: { type: 'number', meaning: "Distinct wallets with at least one PIN/OTP failure against the event's bank account in the last 24 h." },
  accounts_with_failures_per_ip_24h: { type: 'number', meaning: "Distinct bank accounts with at least one PIN/OTP failure from the event's IP address in the last 24 h." },
  pin_failures_per_ip_24h: { type: 'number', meaning: "PIN failures from the event's IP address in the last 24 h, across all bank accounts." },
  // Link graph.
  wallets_per_bank_account: { type: 'number', meaning: "Distinct wallets ever linked to the event's bank account (the bank vouched at link_complete), including this event's wallet at link_complete; null without an account." },
  uncleared_names_per_device_30d: { type: 'number', meaning: "`names_per_device_30d` less the names an analyst cleared on this device by releasing a link held from it (`POST /v1/admin/links/{id}/release`); a name first seen there after the release counts, unless the analyst cleared the device as one household (`household: true`, 30 days) and it shows at most four names. null without a device key." },
  wallets_per_identity: { type: 'number', meaning: 'Distinct wallets tied to the same person as this wallet (same verified person key or identity document, in any submission); null before any identity submission.' },
  bank_accounts_per_wallet: { type: 'number', meaning: 'Distinct bank accounts ever tied to this wallet (linked, or vouched for by the bank at link_complete), including this event\'s.' },
  bank_accounts_per_wallet_30d: { type: 'number', meaning: "Distinct bank accounts the bank vouched for to this wallet at link_complete (linked in the end or not) in the last 30 days, including this event's." },
  // Money velocity and history.
  charges_per_wallet_24h: { type: 'number', meaning: "Charges by this wallet in the last 24 h that reached the risk check, including this one: denied, challenged and held ones too (a limit refusal comes before the check and is not counted); a charge refused for a step-up and its approved retry count once." },
  charge_amount_per_wallet_24h: { type: 'number', meaning: "Sum in yen of the charges by this wallet in the last 24 h that reached the risk check, including this one: denied, challenged and held ones too (a limit refusal comes before the check and is not counted); a charge refused for a step-up and its approved retry count once." },
  charges_per_account_24h: { type: 'number', meaning: "Charges debiting the event's bank account in the last 24 h, across all wallets, counted as charges_per_wallet_24h counts them." },
  amount_vs_p95_history: { type: 'number', meaning: "amount ÷ the 95th percentile of this wallet's earlier charges that were not voided; null with no earlier charge." },
  hours_since_charge_from_other_account: { type: 'number', meaning: "withdrawal: hours since the latest posted charge into this wallet from a bank account other than the withdrawal's; null if none in 30 days." },
  // ── Merchants and payments (issue 10): computed by payment-features.ts from koza's payments; null on other events.
  merchant_age_hours: { type: 'number', meaning: 'payment: hours since the merchant paid was opened; null for an unknown merchant.' },
  first_payment_to_merchant: { type: 'boolean', meaning: 'payment: the wallet never paid this merchant before.' },
  merchant_owner_is_payer: { type: 'boolean', meaning: "payment: the merchant's verified owner is the paying wallet (self-dealing)." },
  payments_per_wallet_1h: { type: 'number', meaning: "payment: payments made by this wallet in the last hour, including this one (refused ones are not counted: a payment refused for a step-up and its approved retry are one payment)." },
  payments_per_wallet_24h: { type: 'number', meaning: "payment: payments made by this wallet in the last 24 h, including this one (refused ones are not counted; refunds do not take one away)." },
  payment_amount_per_wallet_1h: { type: 'number', meaning: "payment: yen paid in payments made by this wallet in the last hour, including this payment (refunds not deducted)." },
  payment_amount_per_wallet_24h: { type: 'number', meaning: "payment: yen paid in payments made by this wallet in the last 24 h, including this payment (refunds not deducted)." },
  wallets_paying_merchant_24h: { type: 'number', meaning: "payment: distinct wallets that made a payment to this merchant in the last 24 h, including this one; null for an unknown merchant." },
  payments_to_merchant_1h: { type: 'number', meaning: "payment: payments made to this merchant in the last hour from any wallet, including this one; null for an unknown merchant." },
  // Sign-in (issue 10): failed sign-ins are login events with attribute failure='password' or 'second_factor'.
  login_failed: { type: 'boolean', meaning: 'login: true for a failed sign-in (wrong password or second proof), false for a right password; null on other events.' },
  login_failures_per_account_1h: { type: 'number', meaning: "Failed sign-ins on the event's login account (the e-mail tried, wallet or not, as a keyed hash) in the last hour, including this one when it failed." },
  login_failures_per_ip_1h: { type: 'number', meaning: "Failed sign-ins from the event's IP address in the last hour, any account." },
  accounts_failed_login_per_ip_1h: { type: 'number', meaning: "Distinct login accounts with a failed sign-in from the event's IP address in the last hour (credential stuffing)." },
  accounts_failed_login_per_network_1h: { type: 'number', meaning: "Distinct login accounts with a failed sign-in from the event's IPv4 /24 or IPv6 /48 in the last hour." },
  accounts_failed_login_global_1h: { type: 'number', meaning: 'Distinct login accounts with a failed sign-in from anywhere in the last hour (password spraying across accounts).' },
  logins_succeeded_global_1h: { type: 'number', meaning: 'Sign-ins with a right password from anywhere in the last hour: the baseline the failures are read against.' },
  failed_login_accounts_per_success_1h: { type: 'number', meaning: 'accounts_failed_login_global_1h ÷ max(1, logins_succeeded_global_1h), 2 decimals.' },
} as const satisfies Record<string, FeatureDefinition>;

export type FeatureName = keyof typeof FEATURES;

/**
 * Counts a rule may read over a window of its own choosing (configurable windows, no code change): the base name,
 * `_`, a whole number and m (minutes), h (hours) or d (days) — `signups_per_ip_6h`, `pin_failures_per_ip_7d`. Windows
 * run from 1 minute to 90 days; up to 48 h they have minute resolution, longer ones hour resolution. The counting
 * conventions above hold; a count with no key in the event (no IP, no device) is null.
 */
export const WINDOWED_COUNTS = {
  signups_per_ip: { kind: 'count', key: 'ip', meaning: 'sign-ups from the event\'s IP address' },
  signups_per_device: { kind: 'count', key: 'device', meaning: 'sign-ups from the event\'s device key' },
  signups_per_email_domain: { kind: 'count', key: 'email_domain', meaning: 'sign-ups with the event\'s e-mail domain' },
  pin_failures_per_account: { kind: 'count', key: 'account', meaning: 'PIN failures on the event\'s bank account, all wallets' },
  otp_failures_per_account: { kind: 'count', key: 'account', meaning: 'one-time-code failures on the event\'s bank account, all wallets' },
  pin_failures_per_ip: { kind: 'count', key: 'ip', meaning: 'PIN failures from the event\'s IP address, all accounts' },
  charges_per_wallet: { kind: 'count', key: 'wallet', meaning: 'charges by the wallet that reached the risk check (refused ones too; a step-up and its retry once)' },
  charge_amount_per_wallet: { kind: 'count', key: 'wallet', meaning: 'yen of the charges by the wallet that reached the risk check (refused ones too; a step-up and its retry once)' },
  charges_per_account: { kind: 'count', key: 'account', meaning: 'charges debiting the event\'s bank account, all wallets (counted as charges_per_wallet)' },
  wallets_per_device: { kind: 'distinct', key: 'device', meaning: 'distinct wallets seen with the event\'s device key' },
  names_per_device: { kind: 'distinct', key: 'device', meaning: 'distinct holder names seen with the event\'s device key' },
  accounts_with_failures_per_ip: { kind: 'distinct', key: 'ip', meaning: 'distinct bank accounts with a PIN/OTP failure from the event\'s IP' },
  wallets_failing_per_bank_account: { kind: 'distinct', key: 'account', meaning: 'distinct wallets with a PIN/OTP failure on the event\'s bank account' },
  bank_accounts_per_wallet: { kind: 'distinct', key: 'wallet', meaning: 'distinct bank accounts the bank vouched for to the wallet' },
  wallets_per_bank_account: { kind: 'distinct', key: 'account', meaning: 'distinct wallets the bank vouched for the event\'s bank account to' },
  // Bank protocol v2 judges the PIN and the code together at completion: a refused completion is one failure, PIN or code.
  link_failures_per_account: { kind: 'count', key: 'account', meaning: 'refused link completions (PIN or code, v2 does not say which) on the event\'s bank account, all wallets' },
  link_failures_per_wallet: { kind: 'count', key: 'wallet', meaning: 'refused link completions (PIN or code) by the wallet, all bank accounts' },
  link_failures_per_person: { kind: 'count', key: 'person', meaning: 'refused link completions (PIN or code) by the wallets of the event\'s verified person' },
  typed_accounts_started_per_wallet: { kind: 'distinct', key: 'wallet', meaning: 'distinct typed bank accounts (account number and PIN) the wallet started links to' },
  typed_accounts_started_per_person: { kind: 'distinct', key: 'person', meaning: 'distinct typed bank accounts the event\'s verified person started links to, from any wallet' },
  typed_accounts_started_per_device: { kind: 'distinct', key: 'device', meaning: 'distinct typed bank accounts links were started to from the event\'s device id' },
  login_failures_per_account: { kind: 'count', key: 'login_account', meaning: 'failed sign-ins on the event\'s login account' },
  login_failures_per_ip: { kind: 'count', key: 'ip', meaning: 'failed sign-ins from the event\'s IP address' },
  logins_succeeded_global: { kind: 'count', key: 'global', meaning: 'sign-ins with a right password, anywhere' },
  accounts_failed_login_per_ip: { kind: 'distinct', key: 'ip', meaning: 'distinct login accounts failing from the event\'s IP' },
  accounts_failed_login_per_network: { kind: 'distinct', key: 'network', meaning: 'distinct login accounts failing from the event\'s /24 or /48' },
  accounts_failed_login_global: { kind: 'distinct', key: 'global', meaning: 'distinct login accounts failing anywhere' },
} as const satisfies Record<string, { kind: 'count' | 'distinct';
  key: 'ip' | 'device' | 'email_domain' | 'account' | 'wallet' | 'person' | 'network' | 'global' | 'login_account'; meaning: string }>;

export type WindowedBase = keyof typeof WINDOWED_COUNTS;

const WINDOW_UNITS = { m: 60, h: 3600, d: 86_400 } as const;
const WINDOW_MAX_SECONDS = 90 * 86_400;

/** A windowed count's base and window in seconds; null when the name is not one (or its window is out of range). */
export function parseWindowedFeature(name: string): { base: WindowedBase; windowSeconds: number } | null {
  const match = /^([a-z_]+)_([1-9][0-9]{0,4})([mhd])$/.exec(name);
  if (!match || !Object.hasOwn(WINDOWED_COUNTS, match[1]!)) return null;
  const windowSeconds = Number(match[2]) * WINDOW_UNITS[match[3] as keyof typeof WINDOW_UNITS];
  return windowSeconds <= WINDOW_MAX_SECONDS ? { base: match[1] as WindowedBase, windowSeconds } : null;
}

/** A name a rule may read: a registered feature, or a windowed count. */
export function isFeatureName(name: string): boolean {
  return Object.hasOwn(FEATURES, name) || parseWindowedFeature(name) !== null;
}

/** The type of a name isFeatureName accepted (windowed counts are numbers). */
export function featureType(name: string): FeatureType {
  return Object.hasOwn(FEATURES, name) ? FEATURES[name as FeatureName].type : 'number';
}

/** The features an event carries itself; the counter store adds the rest. */
export function featuresFromEvent(event: RiskEvent): FeatureVector {
  const attr = event.attributes ?? {};
  const pick = (key: FeatureName): FeatureValue => {
    const v = attr[key];
    return v === undefined ? null : v;
  };
  return {
    amount: event.amount ?? null,
    name_match_score: pick('name_match_score'),
    dob_matches: pick('dob_matches'),
    link_method: attr.method === undefined ? pick('link_method') : attr.method,
    link_age_hours: pick('link_age_hours'),
    link_holder_confirmed: pick('link_holder_confirmed'),
    link_phone_matches: attr.phone_matches === undefined ? pick('link_phone_matches') : attr.phone_matches,
    account_link_age_hours: pick('account_link_age_hours'),
    first_large_charge: pick('first_large_charge'),
    new_destination: pick('new_destination'),
    minutes_since_charge: pick('minutes_since_charge'),
    login_failed: event.kind !== 'login' ? null : attr.failure === 'password' || attr.failure === 'second_factor',
  };
}
