// Tests the risk features on PGlite and PostgreSQL: one seeded story per feature family, every value checked.
// Must never depend on the wall clock: the seeded rows and the events are placed around an injected `now`.
import assert from 'node:assert/strict';
import { newId } from '../ids.js';
import { before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import type { RiskEvent } from './hook.js';
import { CachedCounterStore, PostgresCounterStore } from './counters.js';
import { computeFeatures, FEATURE_NAMES, recordEvent } from './features.js';
import { seedCharge, seedDevice, seedIdentity, seedLink, seedWallet } from './fixtures.js';

const store = new PostgresCounterStore();
const NOW = new Date(Date.UTC(2026, 2, 1, 10, 30, 30));
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000);
const BANK = '0001';

forEachBackend('risk features', (db) => {
  // The story: a wallet opened 3 days ago, linked a day later, charged three times (and once voided), signed in
  // from a second device 5 hours ago; its bank account is also linked by a second wallet and was tried by a third.
  let wallet = '';
  let second = '';
  let third = '';
  let fresh = '';
  const record = (event: RiskEvent, at: Date) => recordEvent(db(), store, event, at);

  before(async () => {
    const q = db();
    wallet = await seedWallet(q, { createdAt: hoursAgo(72), email: 'Taro@Mail.Example', phoneVerifiedAt: hoursAgo(10) });
    second = await seedWallet(q, { createdAt: hoursAgo(30) });
    third = await seedWallet(q, { createdAt: hoursAgo(2) });
    fresh = await seedWallet(q, { createdAt: hoursAgo(1) });
    await seedDevice(q, { walletId: wallet, deviceKey: 'dev-home', firstSeenAt: hoursAgo(72) });
    await seedDevice(q, { walletId: wallet, deviceKey: 'dev-new', firstSeenAt: hoursAgo(5) });
    const link = await seedLink(q, { walletId: wallet, bankCode: BANK, accountRef: 'acct-1', createdAt: hoursAgo(48), nameMatchScore: 92 });
    await seedLink(q, { walletId: second, bankCode: BANK, accountRef: 'acct-1', createdAt: hoursAgo(20) });
    await seedCharge(q, { walletId: wallet, linkId: link, bankCode: BANK, amount: 1000, createdAt: hoursAgo(40) });
    await seedCharge(q, { walletId: wallet, linkId: link, bankCode: BANK, amount: 2000, createdAt: hoursAgo(30) });
    await seedCharge(q, { walletId: wallet, linkId: link, bankCode: BANK, amount: 3000, createdAt: hoursAgo(20) });
    await seedCharge(q, { walletId: wallet, linkId: link, bankCode: BANK, amount: 100_000, createdAt: hoursAgo(10), status: 'voided' });
    await seedIdentity(q, { walletId: wallet, documentKey: 'doc-1', personKey: 'person-1', status: 'verified', at: hoursAgo(60) });
    await seedIdentity(q, { walletId: third, documentKey: 'doc-1', personKey: 'person-1', status: 'refused', at: hoursAgo(1) });

    // The bank vouched for acct-1 to all three wallets (the third was refused), and for acct-2 to the first.
    for (const w of [wallet, second, third]) await record({ kind: 'link_complete', walletId: w, bankCode: BANK, accountRef: 'acct-1' }, hoursAgo(20));
    await record({ kind: 'link_complete', walletId: wallet, bankCode: BANK, accountRef: 'acct-2' }, hoursAgo(3));
    // Two charges earlier today and one yesterday.
    await record({ kind: 'charge', walletId: wallet, bankCode: BANK, accountRef: 'acct-1', amount: 1000 }, hoursAgo(23));
    await record({ kind: 'charge', walletId: wallet, bankCode: BANK, accountRef: 'acct-1', amount: 2000 }, hoursAgo(2));
    await record({ kind: 'charge', walletId: wallet, bankCode: BANK, accountRef: 'acct-1', amount: 2000 }, hoursAgo(25));
  });

  it('computes every feature of a charge from the seeded history', async () => {
    const event: RiskEvent = {
      kind: 'charge', walletId: wallet, ip: '203.0.113.7', deviceKey: 'dev-new', bankCode: BANK, accountRef: 'acct-1', amount: 5800,
    };
    await recordEvent(db(), store, event, NOW);
    const features = await computeFeatures(db(), store, event, NOW);
    assert.deepEqual(Object.keys(features).sort(), [...FEATURE_NAMES].sort());
    assert.deepEqual(features, {
      signups_per_ip_24h: 0,
      signups_per_device_24h: 0,
      signups_per_email_domain_24h: 0,
      wallets_per_device_30d: 1,
      names_per_device_30d: 0,
      uncleared_names_per_device_30d: 0,
      email_domain: 'mail.example',
      pin_failures_per_account_24h: 0,
      otp_failures_per_account_24h: 0,
      pin_failures_per_ip_24h: 0,
      accounts_with_failures_per_ip_24h: 0,
      wallets_per_bank_account: 3, // first, second (linked) and third (vouched for, refused)
      bank_accounts_per_wallet: 2, // acct-1 linked, acct-2 vouched for
      wallets_per_identity: 2, // the third wallet submitted the same document
      account_age_hours: 72,
      link_age_hours: 48,
      hours_signup_to_first_link: 24,
      hours_signup_to_first_charge: 32,
      hours_link_to_first_charge: 8,
      name_match_score: 92,
      amount: 5800,
      amount_vs_p95_history: 2, // p95 of 1000, 2000, 3000 (the voided charge left out) is 2900
      charges_per_wallet_24h: 3, // 23 h ago, 2 h ago, and this one
      charges_per_account_24h: 3,
      new_device: true, // first seen 5 h ago, while the wallet has an older device
      hours_since_phone_change: 10,
      hours_since_new_device_login: 5,
      hours_since_factor_change: null,
      hours_since_charge_from_other_account: null,
      signups_per_ip_1h: 0,
      wallets_per_device_24h: 1,
      auth_failures_per_bank_account_24h: 0,
      wallets_failing_per_bank_account_24h: 0,
      bank_accounts_failed_per_ip_24h: 0,
      wallets_per_bank_account_90d: 3,
      bank_accounts_per_wallet_30d: 2,
      charges_per_bank_account_24h: 3,
      charge_amount_per_wallet_24h: 2000 + 1000 + 5800, // 23 h and 2 h ago, and this one
      // Payment features are null on a charge.
      merchant_age_hours: null, first_payment_to_merchant: null, merchant_owner_is_payer: null, payments_per_wallet_1h: null,
      payments_per_wallet_24h: null, payment_amount_per_wallet_1h: null, payment_amount_per_wallet_24h: null,
      wallets_paying_merchant_24h: null, payments_to_merchant_1h: null,
      // Sign-in counts: no failed sign-in anywhere in this story; a charge names no login account.
      login_failures_per_account_1h: null, login_failures_per_ip_1h: 0, accounts_failed_login_per_ip_1h: 0,
      accounts_failed_login_per_network_1h: 0, accounts_failed_login_global_1h: 0, logins_succeeded_global_1h: 0,
      failed_login_accounts_per_success_1h: 0,
    });
  });

  it('treats the charge being decided as the first when there is none before it', async () => {
    const link = await seedLink(db(), { walletId: fresh, bankCode: BANK, accountRef: 'acct-fresh', createdAt: new Date(NOW.getTime() - 1_800_000) });
    assert.ok(link);
    const f = await computeFeatures(db(), store, { kind: 'charge', walletId: fresh, bankCode: BANK, accountRef: 'acct-fresh', amount: 50_000 }, NOW);
    assert.equal(f.account_age_hours, 1);
    assert.equal(f.hours_signup_to_first_link, 0.5);
    assert.equal(f.hours_signup_to_first_charge, 1);
    assert.equal(f.hours_link_to_first_charge, 0.5);
    assert.equal(f.link_age_hours, 0.5);
    assert.equal(f.amount_vs_p95_history, null, 'no history, no ratio');
    assert.equal(f.name_match_score, null);
    assert.equal(f.wallets_per_identity, null, 'never submitted an identity');
    assert.equal(f.new_device, null, 'no device key');
    assert.equal(f.hours_since_phone_change, null);
    assert.equal(f.hours_since_new_device_login, null);
    assert.equal(f.email_domain, 'example.jp');
  });

  it('knows the hours since a factor change (not the first enrolment) and, for a withdrawal, since a charge from another account', async () => {
    const q = db();
    const owner = await seedWallet(q, { createdAt: hoursAgo(500) });
    const factor = (activated: Date, removed: Date | null) => q.query(
      `INSERT INTO second_factors (id, wallet_id, kind, label, status, enrollment_expires_at, activated_at, removed_at, created_at)
       VALUES ($1, $2, 'passkey', 'key', $3, $4, $4, $5, $4)`,
      [newId('fac'), owner, removed ? 'removed' : 'active', activated, removed]);
    await factor(hoursAgo(400), null);
    const withdrawal = { kind: 'withdrawal' as const, walletId: owner, bankCode: BANK, accountRef: 'acct-mule', amount: 5_000 };
    let f = await computeFeatures(q, store, withdrawal, NOW);
    assert.deepEqual([f.hours_since_factor_change, f.hours_since_charge_from_other_account], [null, null], 'the first enrolment is no change');
    await factor(hoursAgo(30), hoursAgo(6));
    const victim = await seedLink(q, { walletId: owner, bankCode: BANK, accountRef: 'acct-stolen', createdAt: hoursAgo(10) });
    const mule = await seedLink(q, { walletId: owner, bankCode: BANK, accountRef: 'acct-mule', createdAt: hoursAgo(2) });
    await seedCharge(q, { walletId: owner, linkId: victim, bankCode: BANK, amount: 50_000, createdAt: hoursAgo(3) });
    await seedCharge(q, { walletId: owner, linkId: mule, bankCode: BANK, amount: 1_000, createdAt: hoursAgo(1) });
    await seedCharge(q, { walletId: owner, linkId: victim, bankCode: BANK, amount: 9_000, createdAt: hoursAgo(0.5), status: 'voided' });
    f = await computeFeatures(q, store, withdrawal, NOW);
    assert.equal(f.hours_since_factor_change, 6, 'the removal 6 h ago is the latest change');
    assert.equal(f.hours_since_charge_from_other_account, 3, 'the posted charge from the victim account, not the mule\'s own or a voided one');
    const charge = await computeFeatures(q, store, { ...withdrawal, kind: 'charge' }, NOW);
    assert.equal(charge.hours_since_charge_from_other_account, null, 'only withdrawals ask');
  });

  it('tells a known device from an unknown one, and has no new device before the first', async () => {
    const known = await computeFeatures(db(), store, { kind: 'login', walletId: wallet, deviceKey: 'dev-home' }, NOW);
    assert.equal(known.new_device, false);
    const stranger = await computeFeatures(db(), store, { kind: 'login', walletId: wallet, deviceKey: 'dev-unknown' }, NOW);
    assert.equal(stranger.new_device, true);
    const later = await computeFeatures(db(), store, { kind: 'login', walletId: wallet, deviceKey: 'dev-new' }, new Date(NOW.getTime() + 20 * 3_600_000));
    assert.equal(later.new_device, false, 'a device in use for a day is no longer new');
    const first = await computeFeatures(db(), store, { kind: 'login', walletId: second, deviceKey: 'dev-x' }, NOW);
    assert.equal(first.new_device, false);
  });

  it('counts sign-ups per IP, device and e-mail domain over 24 h, and wallets and names per device over 30 days', async () => {
    const farm = { ip: '198.51.100.9', deviceKey: 'dev-farm' };
    for (const [h, w] of [[1, wallet], [2, second], [3, third]] as const) {
      await record({ kind: 'signup', walletId: w, ...farm, attributes: { email: `x${h}@Throwaway.Example` } }, hoursAgo(h));
    }
    await record({ kind: 'signup', walletId: second, ...farm, attributes: { email: 'old@throwaway.example' } }, hoursAgo(25));
    await record({ kind: 'login', walletId: fresh, deviceKey: 'dev-farm' }, hoursAgo(31 * 24));
    await record({ kind: 'kyc_submit', walletId: wallet, deviceKey: 'dev-farm', attributes: { name_kana: 'ヤマダ タロウ' } }, hoursAgo(1));
    await record({ kind: 'kyc_submit', walletId: second, deviceKey: 'dev-farm', attributes: { name_kana: 'ヤマダタロウ' } }, hoursAgo(1));
    await record({ kind: 'kyc_submit', walletId: third, deviceKey: 'dev-farm', attributes: { name_kana: 'スズキ ハナコ' } }, hoursAgo(1));
    await record({ kind: 'kyc_submit', walletId: third, deviceKey: 'dev-farm', attributes: { name_key: 'person-key-3' } }, hoursAgo(1));
    const f = await computeFeatures(db(), store, { kind: 'signup', walletId: null, ...farm, attributes: { email: 'y@throwaway.example' } }, NOW);
    assert.equal(f.signups_per_ip_24h, 3);
    assert.equal(f.signups_per_ip_1h, 1, 'only the sign-up an hour ago');
    assert.equal(f.signups_per_device_24h, 3);
    assert.equal(f.signups_per_email_domain_24h, 3);
    assert.equal(f.email_domain, 'throwaway.example');
    assert.equal(f.wallets_per_device_30d, 3, 'the fourth wallet was last seen on the device 31 days ago');
    assert.equal(f.names_per_device_30d, 3, 'one name typed two ways counts once; a keyed name counts as given');
    assert.equal(f.uncleared_names_per_device_30d, 3, 'no analyst cleared any of them');
    assert.equal(f.account_age_hours, null, 'no wallet yet');
    assert.equal(f.wallets_per_bank_account, null);
    const stored = await db().query<{ member: string }>(`SELECT member FROM risk_distinct WHERE dimension = 'names_per_device'`);
    assert.ok(stored.rows.every((r) => !/[ァ-ン]/.test(r.member)), 'names are stored hashed');
  });

  it('counts PIN and OTP failures per bank account across wallets and per IP across accounts (PIN spraying)', async () => {
    const sprayer = '192.0.2.66';
    const fail = (w: string, account: string, failure: 'pin' | 'otp', h: number, ip = sprayer) =>
      record({ kind: 'link_start', walletId: w, ip, bankCode: BANK, accountRef: account, attributes: { failure } }, hoursAgo(h));
    await fail(wallet, 'acct-victim', 'pin', 1);
    await fail(second, 'acct-victim', 'pin', 2, '192.0.2.67');
    await fail(third, 'acct-victim', 'pin', 3);
    await fail(third, 'acct-victim', 'pin', 26);
    await fail(third, 'acct-victim', 'otp', 4);
    await fail(third, 'acct-victim', 'otp', 5);
    await fail(third, 'acct-other', 'pin', 6);
    await fail(third, 'acct-third', 'otp', 7);
    const f = await computeFeatures(db(), store, { kind: 'link_start', walletId: fresh, ip: sprayer, bankCode: BANK, accountRef: 'acct-victim' }, NOW);
    assert.equal(f.pin_failures_per_account_24h, 3, 'three wallets, one account, the 26-hour-old failure left out');
    assert.equal(f.otp_failures_per_account_24h, 2);
    assert.equal(f.pin_failures_per_ip_24h, 3, 'PIN failures from this IP on any account');
    assert.equal(f.accounts_with_failures_per_ip_24h, 3, 'victim, other and third');
    assert.equal(f.bank_accounts_failed_per_ip_24h, 3);
    assert.equal(f.auth_failures_per_bank_account_24h, 5, 'three PIN and two OTP failures');
    assert.equal(f.wallets_failing_per_bank_account_24h, 3);
    assert.equal(f.wallets_per_bank_account, 0, 'failures never tie a wallet to the account');
    // Windows a rule picks for itself: the same counters over 2 h, 4 h, 7 h and 2 days.
    const windowed = await computeFeatures(db(), store, { kind: 'link_start', walletId: fresh, ip: sprayer, bankCode: BANK, accountRef: 'acct-victim' },
      NOW, ['pin_failures_per_ip_2h', 'pin_failures_per_ip_4h', 'pin_failures_per_ip_7h', 'pin_failures_per_ip_2d', 'accounts_with_failures_per_ip_5h', 'not_a_feature_3h']);
    assert.deepEqual([windowed.pin_failures_per_ip_2h, windowed.pin_failures_per_ip_4h, windowed.pin_failures_per_ip_7h, windowed.pin_failures_per_ip_2d],
      [1, 2, 3, 4]);
    assert.equal(windowed.accounts_with_failures_per_ip_5h, 1, 'only acct-victim failed from this IP in the last 5 h');
    assert.equal('not_a_feature_3h' in windowed, false);
    // Another bank's account of the same reference is another account.
    const elsewhere = await computeFeatures(db(), store, { kind: 'link_start', walletId: fresh, bankCode: '0002', accountRef: 'acct-victim' }, NOW);
    assert.equal(elsewhere.pin_failures_per_account_24h, 0);
  });

  it('takes the name-match score the event carries over the stored one', async () => {
    const f = await computeFeatures(db(), store, {
      kind: 'link_complete', walletId: wallet, bankCode: BANK, accountRef: 'acct-1', attributes: { name_match_score: 41 },
    }, NOW);
    assert.equal(f.name_match_score, 41);
  });

  it('records and computes inside the caller\'s transaction, through the cache, and rolls back with it', async () => {
    const cached = new CachedCounterStore(store);
    const event: RiskEvent = { kind: 'charge', walletId: second, deviceKey: 'dev-tx', bankCode: BANK, accountRef: 'acct-1', amount: 100 };
    const inside = await db().transaction(async (tx) => {
      await recordEvent(tx, cached, event, NOW);
      return computeFeatures(tx, cached, event, NOW);
    });
    assert.equal(inside.charges_per_wallet_24h, 1);
    assert.equal(inside.wallets_per_device_30d, 1);
    await assert.rejects(db().transaction(async (tx) => {
      await recordEvent(tx, store, event, NOW);
      assert.equal((await computeFeatures(tx, store, event, NOW)).charges_per_wallet_24h, 2);
      throw new Error('rolled back');
    }), /rolled back/);
    assert.equal((await computeFeatures(db(), store, event, NOW)).charges_per_wallet_24h, 1, 'the rolled-back charge is not counted');
  });
});
