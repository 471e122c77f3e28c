// Each default rule fires on the pattern it is written for and stays quiet on ordinary customers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { RiskEventKind } from './hook.js';
import { DEFAULT_RULE_FILE, loadRuleFile } from './rule-file.js';
import { FEATURES, featuresFromEvent, isFeatureName, type FeatureVector } from './rule-features.js';
import { FEATURE_NAMES } from './features.js';
import { evaluate, featuresRead, RISK_EVENT_KINDS } from './rules.js';

const rules = loadRuleFile(DEFAULT_RULE_FILE);

/** Customers who must never trip a default rule, with every feature known (no rule stays quiet only by a null). */
const ORDINARY: Record<string, FeatureVector> = {
  'established customer: one wallet, one device, a few charges a week': {
    amount: 5000, name_match_score: 100, dob_matches: true, link_method: 'redirect', link_age_hours: 2000,
    email_domain: 'gmail.com', new_device: false, account_age_hours: 4000, hours_since_new_device_login: 400,
    hours_since_phone_change: 400, hours_since_factor_change: 400,
    wallets_per_device_24h: 1, wallets_per_device_30d: 1, signups_per_ip_1h: 2, signups_per_ip_24h: 12, names_per_device_30d: 1, uncleared_names_per_device_30d: 1,
    pin_failures_per_account_24h: 1, otp_failures_per_account_24h: 1, wallets_per_identity: 1, wallets_failing_per_bank_account_24h: 1, accounts_with_failures_per_ip_24h: 1,
    wallets_per_bank_account: 1, bank_accounts_per_wallet_30d: 2,
    charges_per_wallet_24h: 1, charge_amount_per_wallet_24h: 5000, charges_per_account_24h: 1,
    amount_vs_p95_history: 1.2, hours_since_charge_from_other_account: 200,
    merchant_age_hours: 8000, first_payment_to_merchant: false, merchant_owner_is_payer: false,
    payments_per_wallet_1h: 1, payments_per_wallet_24h: 2, payment_amount_per_wallet_1h: 1200, payment_amount_per_wallet_24h: 3500,
    wallets_paying_merchant_24h: 12, payments_to_merchant_1h: 3,
    // Linked salary and savings, with one code mistyped and one account number mistyped once.
    wallets_failing_per_bank_account_30d: 1, link_failures_per_account_30d: 1, link_failures_per_wallet_24h: 1,
    link_failures_per_wallet_30d: 2, link_failures_per_person_30d: 2, typed_accounts_started_per_wallet_24h: 2,
    typed_accounts_started_per_wallet_30d: 3, typed_accounts_started_per_person_30d: 3, typed_accounts_started_per_device_24h: 2,
    typed_accounts_started_per_device_30d: 3,
    link_holder_confirmed: true, link_phone_matches: true, account_link_age_hours: 2000, first_large_charge: false,
    new_destination: false, minutes_since_charge: 4000,
    login_failed: false, login_failures_per_account_1h: 1, accounts_failed_login_per_ip_1h: 1, accounts_failed_login_per_network_1h: 3,
    accounts_failed_login_global_1h: 40, logins_succeeded_global_1h: 900, failed_login_accounts_per_success_1h: 0.04,
  },
  'new customer on day one: sign-up, link, a first 10,000 yen charge': {
    amount: 10000, name_match_score: 92, dob_matches: true, link_method: 'pin_otp', link_age_hours: 0.5,
    email_domain: 'docomo.ne.jp', new_device: false, account_age_hours: 1, hours_since_new_device_login: 30,
    hours_since_phone_change: 1, hours_since_factor_change: 100,
    wallets_per_device_24h: 1, wallets_per_device_30d: 1, signups_per_ip_1h: 1, signups_per_ip_24h: 3, names_per_device_30d: 1, uncleared_names_per_device_30d: 1,
    pin_failures_per_account_24h: 2, otp_failures_per_account_24h: 1, wallets_per_identity: 1, wallets_failing_per_bank_account_24h: 1, accounts_with_failures_per_ip_24h: 1,
    wallets_per_bank_account: 1, bank_accounts_per_wallet_30d: 1,
    charges_per_wallet_24h: 1, charge_amount_per_wallet_24h: 10000, charges_per_account_24h: 1,
    amount_vs_p95_history: 1, hours_since_charge_from_other_account: 500,
    // Day one: the first payment at a shop the customer never paid, a new shop at that.
    merchant_age_hours: 200, first_payment_to_merchant: true, merchant_owner_is_payer: false,
    payments_per_wallet_1h: 1, payments_per_wallet_24h: 1, payment_amount_per_wallet_1h: 2500, payment_amount_per_wallet_24h: 2500,
    wallets_paying_merchant_24h: 15, payments_to_merchant_1h: 4,
    // A PIN mistyped twice and a code once on day one, then linked; an account number mistyped once.
    wallets_failing_per_bank_account_30d: 1, link_failures_per_account_30d: 3, link_failures_per_wallet_24h: 3,
    link_failures_per_wallet_30d: 3, link_failures_per_person_30d: 3, typed_accounts_started_per_wallet_24h: 3,
    typed_accounts_started_per_wallet_30d: 3, typed_accounts_started_per_person_30d: 3, typed_accounts_started_per_device_24h: 3,
    typed_accounts_started_per_device_30d: 3,
    // Not confirmed yet: the bank's e-mail is minutes old, and the link half an hour.
    link_holder_confirmed: false, link_phone_matches: true, account_link_age_hours: 0.5, first_large_charge: false,
    new_destination: true, minutes_since_charge: 600,
    // Forgot the password twice before getting it right, on a carrier network where others mistype too.
    login_failed: false, login_failures_per_account_1h: 2, accounts_failed_login_per_ip_1h: 6, accounts_failed_login_per_network_1h: 25,
    accounts_failed_login_global_1h: 150, logins_succeeded_global_1h: 2000, failed_login_accounts_per_success_1h: 0.08,
  },
  'a couple sharing a tablet, each with a wallet and a salary account': {
    amount: 30000, name_match_score: 100, dob_matches: true, link_method: 'redirect', link_age_hours: 100,
    email_domain: 'yahoo.co.jp', new_device: false, account_age_hours: 300, hours_since_new_device_login: 48,
    hours_since_phone_change: 200, hours_since_factor_change: 48,
    wallets_per_device_24h: 2, wallets_per_device_30d: 2, signups_per_ip_1h: 2, signups_per_ip_24h: 2, names_per_device_30d: 2, uncleared_names_per_device_30d: 2,
    pin_failures_per_account_24h: 0, otp_failures_per_account_24h: 0, wallets_per_identity: 1, wallets_failing_per_bank_account_24h: 0, accounts_with_failures_per_ip_24h: 2,
    wallets_per_bank_account: 1, bank_accounts_per_wallet_30d: 2,
    charges_per_wallet_24h: 2, charge_amount_per_wallet_24h: 40000, charges_per_account_24h: 2,
    amount_vs_p95_history: 3, hours_since_charge_from_other_account: 100,
    merchant_age_hours: 3000, first_payment_to_merchant: false, merchant_owner_is_payer: false,
    payments_per_wallet_1h: 2, payments_per_wallet_24h: 3, payment_amount_per_wallet_1h: 30000, payment_amount_per_wallet_24h: 42000,
    wallets_paying_merchant_24h: 40, payments_to_merchant_1h: 10,
    // Two adults, two accounts each and a typo, all from the one tablet; each mistyped a PIN once.
    wallets_failing_per_bank_account_30d: 1, link_failures_per_account_30d: 1, link_failures_per_wallet_24h: 1,
    link_failures_per_wallet_30d: 1, link_failures_per_person_30d: 1, typed_accounts_started_per_wallet_24h: 3,
    typed_accounts_started_per_wallet_30d: 3, typed_accounts_started_per_person_30d: 3, typed_accounts_started_per_device_24h: 5,
    typed_accounts_started_per_device_30d: 5,
    link_holder_confirmed: true, link_phone_matches: true, account_link_age_hours: 100, first_large_charge: false,
    new_destination: false, minutes_since_charge: 1500,
    // A quiet night: few sign-ins at all, a few typos among them.
    login_failed: false, login_failures_per_account_1h: 0, accounts_failed_login_per_ip_1h: 2, accounts_failed_login_per_network_1h: 2,
    accounts_failed_login_global_1h: 12, logins_succeeded_global_1h: 10, failed_login_accounts_per_success_1h: 1.2,
  },  'a family of four on one tablet after an analyst released the link held for the third': {
    amount: 30000, name_match_score: 100, dob_matches: true, link_method: 'redirect', link_age_hours: 100,
    email_domain: 'yahoo.co.jp', new_device: false, account_age_hours: 300, hours_since_new_device_login: 48,
    hours_since_phone_change: 200, hours_since_factor_change: 48,
    wallets_per_device_24h: 1, wallets_per_device_30d: 4, signups_per_ip_1h: 2, signups_per_ip_24h: 2, names_per_device_30d: 4, uncleared_names_per_device_30d: 0,
    pin_failures_per_account_24h: 0, otp_failures_per_account_24h: 0, wallets_per_identity: 1, wallets_failing_per_bank_account_24h: 0, accounts_with_failures_per_ip_24h: 2,
    wallets_per_bank_account: 1, bank_accounts_per_wallet_30d: 2,
    charges_per_wallet_24h: 2, charge_amount_per_wallet_24h: 40000, charges_per_account_24h: 2,
    amount_vs_p95_history: 3, hours_since_charge_from_other_account: 100,
    merchant_age_hours: 3000, first_payment_to_merchant: false, merchant_owner_is_payer: false,
    payments_per_wallet_1h: 2, payments_per_wallet_24h: 3, payment_amount_per_wallet_1h: 30000, payment_amount_per_wallet_24h: 42000,
    wallets_paying_merchant_24h: 40, payments_to_merchant_1h: 10,
    // Two adults, two accounts each and a typo, all from the one tablet; each mistyped a PIN once.
    wallets_failing_per_bank_account_30d: 1, link_failures_per_account_30d: 1, link_failures_per_wallet_24h: 1,
    link_failures_per_wallet_30d: 1, link_failures_per_person_30d: 1, typed_accounts_started_per_wallet_24h: 3,
    typed_accounts_started_per_wallet_30d: 3, typed_accounts_started_per_person_30d: 3, typed_accounts_started_per_device_24h: 5,
    typed_accounts_started_per_device_30d: 5,
    link_holder_confirmed: true, link_phone_matches: true, account_link_age_hours: 100, first_large_charge: false,
    new_destination: false, minutes_since_charge: 1500,
    // A quiet night: few sign-ins at all, a few typos among them.
    login_failed: false, login_failures_per_account_1h: 0, accounts_failed_login_per_ip_1h: 2, accounts_failed_login_per_network_1h: 2,
    accounts_failed_login_global_1h: 12, logins_succeeded_global_1h: 10, failed_login_accounts_per_success_1h: 1.2,
  },
  'an ordinary shopper: a few payments a week at a few shops, one of them opened this month': {
    amount: 1800, name_match_score: 100, dob_matches: true, link_method: 'redirect', link_age_hours: 900,
    email_domain: 'icloud.com', new_device: false, account_age_hours: 2500, hours_since_new_device_login: 700,
    hours_since_phone_change: 2500, hours_since_factor_change: 700,
    wallets_per_device_24h: 1, wallets_per_device_30d: 1, signups_per_ip_1h: 1, signups_per_ip_24h: 5, names_per_device_30d: 1, uncleared_names_per_device_30d: 1,
    pin_failures_per_account_24h: 0, otp_failures_per_account_24h: 0, wallets_per_identity: 1, wallets_failing_per_bank_account_24h: 0, accounts_with_failures_per_ip_24h: 0,
    wallets_per_bank_account: 1, bank_accounts_per_wallet_30d: 1,
    charges_per_wallet_24h: 1, charge_amount_per_wallet_24h: 10000, charges_per_account_24h: 1,
    amount_vs_p95_history: 1, hours_since_charge_from_other_account: 300,
    // Lunch and a bakery on the same day; the bakery opened two weeks ago and is busy at lunch time.
    merchant_age_hours: 340, first_payment_to_merchant: false, merchant_owner_is_payer: false,
    payments_per_wallet_1h: 2, payments_per_wallet_24h: 3, payment_amount_per_wallet_1h: 2900, payment_amount_per_wallet_24h: 4100,
    wallets_paying_merchant_24h: 25, payments_to_merchant_1h: 12,
    // No link failures: linked long ago, one account.
    wallets_failing_per_bank_account_30d: 0, link_failures_per_account_30d: 0, link_failures_per_wallet_24h: 0,
    link_failures_per_wallet_30d: 0, link_failures_per_person_30d: 0, typed_accounts_started_per_wallet_24h: 0,
    typed_accounts_started_per_wallet_30d: 0, typed_accounts_started_per_person_30d: 0, typed_accounts_started_per_device_24h: 0,
    typed_accounts_started_per_device_30d: 0,
    link_holder_confirmed: true, link_phone_matches: true, account_link_age_hours: 900, first_large_charge: false,
    new_destination: false, minutes_since_charge: 3000,
    login_failed: false, login_failures_per_account_1h: 0, accounts_failed_login_per_ip_1h: 1, accounts_failed_login_per_network_1h: 2,
    accounts_failed_login_global_1h: 40, logins_succeeded_global_1h: 900, failed_login_accounts_per_success_1h: 0.04,
  },
  'a busy lunch at a popular new shop: the customer pays there for the first time': {
    amount: 1200, name_match_score: 100, dob_matches: true, link_method: 'pin_otp', link_age_hours: 400,
    email_domain: 'gmail.com', new_device: false, account_age_hours: 600, hours_since_new_device_login: 300,
    hours_since_phone_change: 600, hours_since_factor_change: 300,
    wallets_per_device_24h: 1, wallets_per_device_30d: 1, signups_per_ip_1h: 1, signups_per_ip_24h: 4, names_per_device_30d: 1, uncleared_names_per_device_30d: 1,
    pin_failures_per_account_24h: 0, otp_failures_per_account_24h: 0, wallets_per_identity: 1, wallets_failing_per_bank_account_24h: 0, accounts_with_failures_per_ip_24h: 0,
    wallets_per_bank_account: 1, bank_accounts_per_wallet_30d: 1,
    charges_per_wallet_24h: 1, charge_amount_per_wallet_24h: 5000, charges_per_account_24h: 1,
    amount_vs_p95_history: 0.5, hours_since_charge_from_other_account: 300,
    merchant_age_hours: 48, first_payment_to_merchant: true, merchant_owner_is_payer: false,
    payments_per_wallet_1h: 1, payments_per_wallet_24h: 2, payment_amount_per_wallet_1h: 1200, payment_amount_per_wallet_24h: 2000,
    wallets_paying_merchant_24h: 29, payments_to_merchant_1h: 19,
    // No link failures: linked long ago, one account.
    wallets_failing_per_bank_account_30d: 0, link_failures_per_account_30d: 0, link_failures_per_wallet_24h: 0,
    link_failures_per_wallet_30d: 0, link_failures_per_person_30d: 0, typed_accounts_started_per_wallet_24h: 0,
    typed_accounts_started_per_wallet_30d: 0, typed_accounts_started_per_person_30d: 0, typed_accounts_started_per_device_24h: 0,
    typed_accounts_started_per_device_30d: 0,
    link_holder_confirmed: true, link_phone_matches: true, account_link_age_hours: 900, first_large_charge: false,
    new_destination: false, minutes_since_charge: 3000,
    login_failed: false, login_failures_per_account_1h: 0, accounts_failed_login_per_ip_1h: 1, accounts_failed_login_per_network_1h: 2,
    accounts_failed_login_global_1h: 40, logins_succeeded_global_1h: 900, failed_login_accounts_per_success_1h: 0.04,
  },
  // Issue 11: a carrier-NAT address is shared by thousands of customers, so its counts are everyone's, not this person's.
  'a customer in their first week on mobile data behind a carrier-NAT address shared by thousands': {
    amount: 10000, name_match_score: 100, dob_matches: true, link_method: 'pin_otp', link_age_hours: 0.5,
    email_domain: 'docomo.ne.jp', new_device: false, account_age_hours: 150, hours_since_new_device_login: 150,
    hours_since_phone_change: 149, hours_since_factor_change: 148,
    wallets_per_device_24h: 1, wallets_per_device_30d: 1, names_per_device_30d: 1, uncleared_names_per_device_30d: 1,
    // An evening on a busy carrier address: sign-ups by the hundred, several people mistyping their bank PIN.
    signups_per_ip_1h: 150, signups_per_ip_24h: 1500, accounts_with_failures_per_ip_24h: 9,
    pin_failures_per_account_24h: 1, otp_failures_per_account_24h: 0, wallets_per_identity: 1, wallets_failing_per_bank_account_24h: 1,
    wallets_per_bank_account: 1, bank_accounts_per_wallet_30d: 1,
    charges_per_wallet_24h: 1, charge_amount_per_wallet_24h: 10000, charges_per_account_24h: 1,
    amount_vs_p95_history: 1, hours_since_charge_from_other_account: 1000,
    merchant_age_hours: 3000, first_payment_to_merchant: false, merchant_owner_is_payer: false,
    payments_per_wallet_1h: 1, payments_per_wallet_24h: 1, payment_amount_per_wallet_1h: 800, payment_amount_per_wallet_24h: 800,
    wallets_paying_merchant_24h: 30, payments_to_merchant_1h: 8,
    // The customer mistyped the PIN once, then linked.
    wallets_failing_per_bank_account_30d: 1, link_failures_per_account_30d: 1, link_failures_per_wallet_24h: 1,
    link_failures_per_wallet_30d: 1, link_failures_per_person_30d: 1, typed_accounts_started_per_wallet_24h: 1,
    typed_accounts_started_per_wallet_30d: 1, typed_accounts_started_per_person_30d: 1, typed_accounts_started_per_device_24h: 1,
    typed_accounts_started_per_device_30d: 1,
    link_holder_confirmed: true, link_phone_matches: true, account_link_age_hours: 0.5, first_large_charge: false,
    new_destination: false, minutes_since_charge: 3000,
    login_failed: false, login_failures_per_account_1h: 0, accounts_failed_login_per_ip_1h: 6, accounts_failed_login_per_network_1h: 20,
    accounts_failed_login_global_1h: 150, logins_succeeded_global_1h: 2000, failed_login_accounts_per_success_1h: 0.08,
  },
};

/** For each default rule: the event and the features that show its pattern (on top of an ordinary customer). */
const PATTERNS: Record<string, { event: RiskEventKind; features: Record<string, number | string | boolean> }> = {
  'device-wallet-farm-24h': { event: 'signup', features: { wallets_per_device_24h: 3 } },
  'device-wallet-farm-30d': { event: 'signup', features: { wallets_per_device_30d: 5 } },
  'ip-signup-burst-1h': { event: 'signup', features: { signups_per_ip_1h: 200 } },
  'ip-signup-burst-24h': { event: 'signup', features: { signups_per_ip_24h: 2000 } },
  'device-many-names': { event: 'kyc_submit', features: { names_per_device_30d: 3 } },
  'disposable-email-signup': { event: 'signup', features: { email_domain: 'Mailinator.com' } },
  'bank-account-credential-testing': { event: 'link_start', features: { wallets_failing_per_bank_account_24h: 2 } },
  'bank-account-auth-failures': { event: 'link_start', features: { otp_failures_per_account_24h: 5 } },
  'identity-many-wallets': { event: 'kyc_submit', features: { wallets_per_identity: 2 } },
  'ip-pin-spraying': { event: 'link_start', features: { accounts_with_failures_per_ip_24h: 12 } },
  'bank-account-many-wallets': { event: 'link_complete', features: { wallets_per_bank_account: 2 } },
  'wallet-many-bank-accounts': { event: 'link_start', features: { bank_accounts_per_wallet_30d: 4 } },
  'name-match-below-strong': { event: 'link_complete', features: { name_match_score: 70 } },
  'charge-soon-after-link': { event: 'charge', features: { link_age_hours: 0.2, amount: 50000 } },
  'charge-soon-after-signup': { event: 'charge', features: { account_age_hours: 5, charge_amount_per_wallet_24h: 100000, amount: 30000 } },
  'pin-only-link-early-charge': { event: 'charge', features: { link_method: 'pin_only', link_age_hours: 48, amount: 20000 } },
  'large-charge-vs-history': { event: 'charge', features: { amount: 40000, amount_vs_p95_history: 8, new_device: true } },
  'wallet-charge-velocity': { event: 'charge', features: { charges_per_wallet_24h: 5 } },
  'bank-account-charge-velocity': { event: 'charge', features: { charges_per_account_24h: 4 } },
  'mule-withdrawal-to-new-link': { event: 'withdrawal', features: { link_age_hours: 6, hours_since_charge_from_other_account: 2 } },
  'new-device-then-factor-change': { event: 'factor_change', features: { hours_since_new_device_login: 1 } },
  'sim-swap-then-factor-change': { event: 'factor_change', features: { hours_since_phone_change: 3 } },
  'sim-swap-then-link-or-withdrawal': { event: 'link_complete', features: { hours_since_phone_change: 10 } },
  'factor-change-then-withdrawal': { event: 'withdrawal', features: { hours_since_factor_change: 2 } },
  // ── Merchants and payments (issue 10)
  'payment-self-dealing': { event: 'payment', features: { merchant_owner_is_payer: true } },
  'new-merchant-many-payers': { event: 'payment', features: { merchant_age_hours: 100, wallets_paying_merchant_24h: 30 } },
  'new-merchant-payment-velocity': { event: 'payment', features: { merchant_age_hours: 100, payments_to_merchant_1h: 20 } },
  'wallet-payment-velocity-1h': { event: 'payment', features: { payments_per_wallet_1h: 10 } },
  'wallet-payment-amount-24h': { event: 'payment', features: { amount: 99999, payment_amount_per_wallet_24h: 199998 + 99999 } },
  'young-merchant-large-first-payment': {
    event: 'payment', features: { first_payment_to_merchant: true, merchant_age_hours: 20, amount: 99999 },
  },
  // No oracles (issue 10).
  'bank-account-credential-testing-30d': { event: 'link_start', features: { wallets_failing_per_bank_account_30d: 2, link_failures_per_account_30d: 2 } },
  'wallet-link-failures-24h': { event: 'link_complete', features: { link_failures_per_wallet_24h: 4 } },
  'wallet-link-failures-30d': { event: 'link_start', features: { link_failures_per_wallet_30d: 6 } },
  'person-link-failures-30d': { event: 'link_start', features: { link_failures_per_person_30d: 6 } },
  'wallet-many-typed-accounts-24h': { event: 'link_start', features: { typed_accounts_started_per_wallet_24h: 4 } },
  'wallet-many-typed-accounts-30d': { event: 'link_start', features: { typed_accounts_started_per_wallet_30d: 6 } },
  'person-many-typed-accounts-30d': { event: 'link_start', features: { typed_accounts_started_per_person_30d: 6 } },
  'device-many-typed-accounts-24h': { event: 'link_start', features: { typed_accounts_started_per_device_24h: 6 } },
  'device-many-typed-accounts-30d': { event: 'link_start', features: { typed_accounts_started_per_device_30d: 10 } },
  'first-large-charge-after-new-link': { event: 'charge', features: { amount: 50000, first_large_charge: true, account_link_age_hours: 80 } },
  'charge-on-unconfirmed-pin-link': { event: 'charge', features: { link_method: 'pin_otp', link_holder_confirmed: false, account_link_age_hours: 25 } },
  'cash-out-right-after-charge': { event: 'withdrawal', features: { minutes_since_charge: 3 } },
  'link-phone-mismatch': { event: 'link_complete', features: { link_phone_matches: false } },
  'pay-new-merchant-right-after-charge': { event: 'payment', features: { minutes_since_charge: 5, new_destination: true, amount: 20000 } },
  'login-after-password-failures': { event: 'login', features: { login_failures_per_account_1h: 6 } },
  'login-credential-stuffing-address': { event: 'login', features: { accounts_failed_login_per_ip_1h: 12 } },
  'login-password-spraying-network': { event: 'login', features: { accounts_failed_login_per_network_1h: 40 } },
  'login-password-spraying-global': {
    event: 'login', features: { accounts_failed_login_global_1h: 800, logins_succeeded_global_1h: 900, failed_login_accounts_per_success_1h: 0.89 },
  },
  'login-password-spraying-alert': {
    event: 'login', features: { login_failed: true, accounts_failed_login_global_1h: 100, failed_login_accounts_per_success_1h: 0.6 },
  },
  'login-credential-stuffing-alert': { event: 'login', features: { login_failed: true, accounts_failed_login_per_ip_1h: 20 } },
  // Issue 11: signals that fit the population.
  'ip-pin-spraying-alert': { event: 'link_complete', features: { accounts_with_failures_per_ip_24h: 10 } },
  'device-wallet-farm-login': { event: 'login', features: { wallets_per_device_24h: 3 } },
};

const established = Object.values(ORDINARY)[0]!;

describe('default rule set', () => {
  it('loads, with its disposable-domain list, and every rule has a rationale', () => {
    assert.ok(rules.rules.length >= 20);
    assert.ok(rules.lists.get('disposable_email_domains')!.size >= 300);
    for (const rule of rules.rules) assert.ok(rule.rationale.length > 40, `${rule.id} explains itself`);
  });

  it('has a firing pattern in this test for every rule, and no pattern for a rule that is gone', () => {
    assert.deepEqual(Object.keys(PATTERNS).sort(), rules.rules.map((r) => r.id).sort());
  });

  it('ordinary vectors know every feature the rules read', () => {
    const read = new Set(rules.rules.flatMap((r) => [...featuresRead(r.when)]));
    for (const [who, vector] of Object.entries(ORDINARY)) {
      for (const name of read) assert.notEqual(vector[name] ?? null, null, `${who} has ${name}`);
      for (const name of Object.keys(vector)) assert.ok(isFeatureName(name), `${name} is a registered feature or windowed count`);
    }
  });

  for (const rule of rules.rules) {
    describe(rule.id, () => {
      const pattern = PATTERNS[rule.id];
      it(`fires on its pattern (${pattern ? pattern.event : 'missing'})`, () => {
        assert.ok(pattern, `PATTERNS has ${rule.id}`);
        assert.ok(rule.events.includes(pattern.event), `${rule.id} applies to ${pattern.event}`);
        const result = evaluate(rules, { kind: pattern.event }, { ...established, ...pattern.features });
        const fired = rule.mode === 'shadow' ? result.shadowHits : result.hits;
        assert.ok(fired.some((h) => h.rule === rule.id), `${rule.id} fired; hits ${JSON.stringify(result.hits)}`);
        if (rule.mode === 'enforce') {
          assert.ok(result.reasons.some((r) => r.rule === rule.id && r.text === rule.description));
        }
      });

      for (const [who, vector] of Object.entries(ORDINARY)) {
        it(`stays quiet for the ${who}`, () => {
          for (const kind of rule.events) {
            const result = evaluate(rules, { kind }, vector);
            const all = [...result.hits, ...result.shadowHits].map((h) => h.rule);
            assert.ok(!all.includes(rule.id), `${rule.id} fired on ${kind} for the ${who}`);
          }
        });
      }
    });
  }

  it('every feature a rule may read is computed: by the counter store or carried by the event', () => {
    const carried = Object.keys(featuresFromEvent({ kind: 'charge', walletId: null }));
    const computed = new Set<string>([...FEATURE_NAMES, ...carried]);
    for (const name of Object.keys(FEATURES)) assert.ok(computed.has(name), `${name} is computed somewhere`);
  });

  it('docs/risk-rules.md lists every feature and every default rule', () => {
    const doc = readFileSync(new URL('../../docs/risk-rules.md', import.meta.url), 'utf8');
    for (const name of Object.keys(FEATURES)) assert.ok(doc.includes(`| \`${name}\` |`), `the feature table has ${name}`);
    // The docs say what each feature counts in the registry's own words (count-once.int.test.ts and features.int.test.ts hold the code to them).
    for (const [name, def] of Object.entries(FEATURES)) {
      assert.ok(doc.includes(`| \`${name}\` | ${def.type} | ${def.meaning.replace(/\|/g, '\\|')} |`), `the docs' meaning of ${name} is the registry's`);
    }
    for (const rule of rules.rules) assert.ok(doc.includes(`| \`${rule.id}\` |`), `the rule table has ${rule.id}`);
  });

  it('allows every event of every ordinary customer, with no hit at all', () => {
    for (const [who, vector] of Object.entries(ORDINARY)) {
      for (const kind of RISK_EVENT_KINDS) {
        const result = evaluate(rules, { kind }, vector);
        assert.deepEqual({ action: result.action, hits: result.hits, shadowHits: result.shadowHits },
          { action: 'allow', hits: [], shadowHits: [] }, `${kind} for the ${who}`);
      }
    }
  });

  it('steps up the account-takeover cash-out: ¥99,999 at a time to a merchant the attacker opened yesterday', () => {
    const taken = ORDINARY['established customer: one wallet, one device, a few charges a week']!;
    const third = evaluate(rules, { kind: 'payment' }, {
      ...taken, amount: 99999, merchant_age_hours: 20, first_payment_to_merchant: false, wallets_paying_merchant_24h: 6,
      payments_to_merchant_1h: 14, payments_per_wallet_1h: 3, payment_amount_per_wallet_1h: 299997, payment_amount_per_wallet_24h: 299997,
    });
    assert.equal(third.action, 'challenge');
    assert.deepEqual(third.hits.map((h) => h.rule), ['wallet-payment-amount-24h']);
  });

  it('a typed account that two wallets failed on this month is denied; one wallet spraying many accounts is held', () => {
    const day1 = ORDINARY['new customer on day one: sign-up, link, a first 10,000 yen charge']!;
    const testing = evaluate(rules, { kind: 'link_start' }, {
      ...day1, wallets_failing_per_bank_account_30d: 2, link_failures_per_account_30d: 2, wallets_failing_per_bank_account_24h: 1,
    });
    assert.equal(testing.action, 'deny');
    assert.deepEqual(testing.hits.map((h) => h.rule), ['bank-account-credential-testing-30d']);
    const sprayer = evaluate(rules, { kind: 'link_start' }, {
      ...day1, link_failures_per_wallet_24h: 4, link_failures_per_wallet_30d: 4, typed_accounts_started_per_wallet_24h: 5,
      typed_accounts_started_per_wallet_30d: 5, typed_accounts_started_per_person_30d: 5, typed_accounts_started_per_device_24h: 5,
    });
    assert.equal(sprayer.action, 'review');
    assert.deepEqual(sprayer.hits.map((h) => h.rule).sort(), ['wallet-link-failures-24h', 'wallet-many-typed-accounts-24h']);
  });

  it('allows but alerts: the issue-10 rules open an alert without changing the action', () => {
    for (const id of ['first-large-charge-after-new-link', 'charge-on-unconfirmed-pin-link', 'cash-out-right-after-charge', 'pay-new-merchant-right-after-charge', 'link-phone-mismatch']) {
      const rule = rules.rules.find((r) => r.id === id)!;
      assert.equal(rule.action, 'allow');
      assert.equal(rule.alert, true);
      const pattern = PATTERNS[id]!;
      const result = evaluate(rules, { kind: pattern.event }, { ...established, ...pattern.features });
      assert.equal(result.action, 'allow', id);
      assert.equal(result.alert, true, id);
    }
    const quiet = evaluate(rules, { kind: 'charge' }, established);
    assert.equal(quiet.alert, undefined);
  });

  it('SIM swap: the day-0 charge passes quietly, the next day\'s charge on the unconfirmed link alerts', () => {
    const simSwap = { ...ORDINARY['new customer on day one: sign-up, link, a first 10,000 yen charge']!, link_method: 'pin_otp', link_holder_confirmed: false };
    assert.equal(evaluate(rules, { kind: 'charge' }, { ...simSwap, account_link_age_hours: 0.3 }).alert, undefined);
    const dayTwo = evaluate(rules, { kind: 'charge' }, { ...simSwap, account_link_age_hours: 24.5, link_age_hours: 24.5 });
    assert.equal(dayTwo.alert, true);
    assert.ok(dayTwo.hits.some((h) => h.rule === 'charge-on-unconfirmed-pin-link'));
  });

  it('asks a sprayed sign-in for a second proof and never denies a sign-in on address counts', () => {
    const sprayed = { ...established, accounts_failed_login_per_ip_1h: 5000, accounts_failed_login_per_network_1h: 5000,
      accounts_failed_login_global_1h: 5000, failed_login_accounts_per_success_1h: 5, login_failures_per_account_1h: 50 };
    const right = evaluate(rules, { kind: 'login' }, { ...sprayed, login_failed: false });
    assert.equal(right.action, 'challenge', JSON.stringify(right.hits));
    const failed = evaluate(rules, { kind: 'login' }, { ...sprayed, login_failed: true });
    assert.notEqual(failed.action, 'deny');
    // A spray reaching the alert mark opens one alert; the failures after it do not open one each.
    const atMark = evaluate(rules, { kind: 'login' }, { ...sprayed, login_failed: true, accounts_failed_login_global_1h: 100 });
    assert.equal(atMark.action, 'review');
    assert.equal(failed.action, 'allow');
  });

  it('decides the 2020 attack shape — new wallet, PIN-only link to a victim, large charge at once — as review', () => {
    const result = evaluate(rules, { kind: 'charge' }, {
      ...ORDINARY['new customer on day one: sign-up, link, a first 10,000 yen charge']!,
      link_method: 'pin_only', link_age_hours: 0.1, amount: 300000, charge_amount_per_wallet_24h: 300000,
    });
    assert.equal(result.action, 'review');
    assert.deepEqual(result.hits.map((h) => h.rule).sort(),
      ['charge-soon-after-link', 'charge-soon-after-signup', 'pin-only-link-early-charge']);
    assert.equal(result.score, 70);
  });

  it('never denies or holds sign-up, sign-in, phone or link events on an address or network count alone (issue 11)', () => {
    const addressOnly = new Set(['signups_per_ip_1h', 'signups_per_ip_24h', 'accounts_with_failures_per_ip_24h',
      'pin_failures_per_ip_24h', 'bank_accounts_failed_per_ip_24h', 'login_failures_per_ip_1h', 'accounts_failed_login_per_ip_1h',
      'accounts_failed_login_per_network_1h']);
    const gated: RiskEventKind[] = ['signup', 'login', 'profile_change', 'link_start', 'link_complete'];
    for (const rule of rules.rules) {
      const read = [...featuresRead(rule.when)].filter((f) => f !== 'login_failed');
      if (read.length === 0 || !read.every((f) => addressOnly.has(f))) continue;
      if (!rule.events.some((e) => gated.includes(e))) continue;
      assert.notEqual(rule.action, 'deny', `${rule.id} denies on an address count`);
      // A review on a failed sign-in holds nothing (the try already failed): it is how a login alert opens.
      if (rule.action === 'review') assert.ok(rule.events.every((e) => e === 'login') && JSON.stringify(rule.when).includes('"login_failed"'), `${rule.id} holds on an address count`);
    }
  });

  it('lets everyone behind a busy carrier address sign up, sign in and link, and only steps up a PIN spray from one', () => {
    const nat = ORDINARY['a customer in their first week on mobile data behind a carrier-NAT address shared by thousands']!;
    // Three honest PIN typos on different accounts (issue 11 found ip-pin-spraying then denied sign-in to all of them).
    const afterTypos = { ...nat, accounts_with_failures_per_ip_24h: 3 };
    for (const kind of ['signup', 'login', 'link_start', 'link_complete'] as RiskEventKind[]) {
      assert.equal(evaluate(rules, { kind }, afterTypos).action, 'allow', kind);
    }
    // A spray across a dozen accounts from the address: the link asks for the step-up, sign-in is untouched.
    const sprayed = { ...nat, accounts_with_failures_per_ip_24h: 40, signups_per_ip_1h: 400, signups_per_ip_24h: 5000 };
    assert.equal(evaluate(rules, { kind: 'link_start' }, sprayed).action, 'challenge');
    // Not at completion: the start's step-up is spent there, and a challenge refused honest neighbours' links outright.
    assert.equal(evaluate(rules, { kind: 'link_complete' }, sprayed).action, 'allow');
    assert.equal(evaluate(rules, { kind: 'login' }, sprayed).action, 'allow');
    assert.equal(evaluate(rules, { kind: 'signup' }, sprayed).action, 'allow');
    // Analysts hear once, when the count reaches the mark.
    assert.equal(evaluate(rules, { kind: 'link_start' }, { ...nat, accounts_with_failures_per_ip_24h: 10 }).alert, true);
    assert.equal(evaluate(rules, { kind: 'signup' }, { ...nat, signups_per_ip_1h: 200 }).alert, true);
    assert.equal(evaluate(rules, { kind: 'signup' }, { ...nat, signups_per_ip_1h: 201 }).alert, undefined);
  });
});
