// One action, one count (issue 11), over HTTP with the real rule engine, on both backends: a ¥50,000 charge
// challenged and then approved with TOTP is one charge in every velocity count, so the next ordinary charge goes
// through; the same for a payment above the step-up threshold; two retries racing with one proof count once; and a
// refusal for a day limit says it in yen and JST.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  enrolTotp, expectOk, expectProblemOver, HolderPicker, linkedHolder, startKoza, startLinkWorld, stepUpProof, type LinkedHolder,
  type LinkWorld,
} from '../../test-support/links-for-tests.js';
import { riskEngine } from './engine.js';
import { PostgresCounterStore } from './counters.js';
import { parseRuleText } from './rule-file.js';
import { expectJson, expectProblem, newMerchant, post, signUpPaying, topUp } from '../../test-support/api-client.js';
import { nextJstDayStart } from '../wallets/limits.js';
import { formatJst } from '../display.js';

/** Two kozas in one test share a database: one key seals the link tokens for both (a test key, not a secret). */
const ENV = { KOZA_LIMITS: '{"L2":{"dailyCharges":200000}}', KOZA_SECRET_KEY: '6b'.repeat(32) };

forEachBackend('count each action once', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  before(async () => {
    // The rule engine as deployed (default rules); a day's charges capped lower so the limit test needs little money.
    world = await startLinkWorld(backend, db(), { env: ENV });
    picker = new HolderPicker(world.sandbox);
  });
  after(async () => { await world?.close(); });

  const charge = (l: LinkedHolder, amount: number, extra: Record<string, unknown> = {}) =>
    world.koza.post('/v1/charges', { link_id: l.linkId, amount, ...extra }, l.wallet.token);
  /** Past cooling-off and graduated trust: linked four weeks ago, confirmed by the holder at the bank. */
  const establishedLink = async () => {
    const l = await linkedHolder(world, picker, (h) => h.balance >= 400_000);
    await db().query(
      `UPDATE bank_links SET created_at = now() - interval '29 days', holder_confirmed_at = now(), holder_confirmed_via = 'email' WHERE id = $1`,
      [l.linkId]);
    return l;
  };
  /** The velocity features each charge (or payment) decision of the wallet was made on, oldest first. */
  const decisions = async (walletId: string, kind: 'charge' | 'payment') => (await db().query<{ action: string; features: Record<string, unknown> }>(
    `SELECT action, features FROM risk_decisions WHERE wallet_id = $1 AND event_kind = $2 ORDER BY seq`, [walletId, kind])).rows
    .map((r) => {
      const f = typeof r.features === 'string' ? JSON.parse(r.features) : r.features;
      return kind === 'charge'
        ? { action: r.action, charges: f.charges_per_wallet_24h, yen: f.charge_amount_per_wallet_24h, account: f.charges_per_account_24h }
        : { action: r.action, payments: f.payments_per_wallet_24h, yen: f.payment_amount_per_wallet_24h };
    });
  const accountRefOf = async (linkId: string) =>
    (await db().query<{ account_ref: string }>('SELECT account_ref FROM bank_links WHERE id = $1', [linkId])).rows[0]!.account_ref;
  /** What the counter store holds for the wallet (every minute bucket ever written). */
  const counter = async (name: string, key: string) => Number((await db().query<{ n: string | number }>(
    `SELECT coalesce(sum(count), 0) AS n FROM risk_counters WHERE counter = $1 AND key = $2 AND granularity = 60`, [name, key])).rows[0]!.n);

  it('counts a ¥50,000 charge challenged and approved with TOTP once; the next ordinary charge goes through', async () => {
    const l = await establishedLink();
    const walletId = l.wallet.walletId;
    assert.equal(expectOk(await charge(l, 10_000), 201).status, 'posted');

    // Five times the wallet's usual charge an hour after a sign-in from a new phone: the engine asks for the owner's
    // second factor (large-charge-vs-history).
    await db().query(`INSERT INTO devices (id, wallet_id, device_key, first_seen_at, last_seen_at)
      VALUES ($1, $2, 'id:new-phone', now() - interval '1 hour', now() - interval '1 hour')`, [`dev_newphone${walletId.slice(4, 16)}`, walletId]);
    expectProblemOver(await charge(l, 50_000), 403, 'step-up-required');
    const proof = await stepUpProof(world.app, l.wallet, l.totp, { action: 'charge', amount: 50_000, destination: l.linkId });
    assert.equal(expectOk(await charge(l, 50_000, { step_up_proof: proof }), 201).status, 'posted');
    // The ordinary charge after it: allowed, not held (twice counted, it was the fourth debit of the account in 24 h).
    assert.equal(expectOk(await charge(l, 10_000), 201).status, 'posted');

    assert.deepEqual(await decisions(walletId, 'charge'), [
      { action: 'allow', charges: 1, yen: 10_000, account: 1 },
      { action: 'challenge', charges: 2, yen: 60_000, account: 2 },
      // The approved retry is the challenged charge: it counts itself as that one, not as a third.
      { action: 'challenge', charges: 2, yen: 60_000, account: 2 },
      { action: 'allow', charges: 3, yen: 70_000, account: 3 },
    ]);
    assert.equal(await counter('charges_per_wallet', walletId), 3);
    assert.equal(await counter('charge_amount_per_wallet', walletId), 70_000);
    const balance = expectOk(await world.koza.get('/v1/wallet/balance', l.wallet.token), 200);
    assert.equal(balance.balance, 70_000, 'the money moved once per charge');

    // A day limit refusal says it for a person: yen formatted, what is left, and when it starts afresh in JST.
    const refused = expectProblemOver(await charge(l, 150_000), 422, 'limit-exceeded');
    assert.equal(refused.limit, 'daily_charges');
    assert.equal(refused.limit_yen, 200_000);
    assert.equal(refused.remaining_yen, 130_000);
    const resetsAt = nextJstDayStart(new Date());
    assert.equal(refused.resets_at, resetsAt.toISOString());
    assert.match(refused.detail, /¥200,000 a day/);
    assert.match(refused.detail, /¥130,000 is left today/);
    assert.ok(refused.detail.includes(formatJst(resetsAt)), refused.detail);
    assert.match(formatJst(resetsAt), /^\d{4}-\d\d-\d\d 00:00 JST$/);
    assert.doesNotMatch(refused.detail, /¥\d{4,}|T\d\d:\d\d|Z\b/, 'no raw yen, no UTC ISO time in what the customer reads');
    assert.equal(await counter('charges_per_wallet', walletId), 3, 'a limit refusal comes before the risk check and is not counted');

    // A withdrawal to an account never withdrawn to (from ¥10,000) asks for the step-up whatever the rules say: the
    // refused attempt and its approved retry are one withdrawal, and the money leaves once.
    const withdraw = (proof?: string) => world.koza.post('/v1/withdrawals',
      { link_id: l.linkId, amount: 20_000, ...(proof ? { step_up_proof: proof } : {}) }, l.wallet.token);
    expectProblemOver(await withdraw(), 403, 'step-up-required');
    const out = await stepUpProof(world.app, l.wallet, l.totp, { action: 'withdrawal', amount: 20_000, destination: l.linkId });
    assert.equal(expectOk(await withdraw(out), 201).kind, 'withdrawal');
    const actions = (await db().query<{ proof_id: string | null }>(
      'SELECT proof_id FROM risk_counted_actions WHERE wallet_id = $1 ORDER BY counted_at', [walletId])).rows;
    assert.equal(actions.length, 2, 'the charge and the withdrawal, one row each');
    assert.ok(actions.every((a) => a.proof_id !== null), 'each answered by its own proof');
    assert.equal(expectOk(await world.koza.get('/v1/wallet/balance', l.wallet.token), 200).balance, 50_000);
  });

  it('two retries racing with one approved proof count once and move the money once', async () => {
    // A koza on the same database and banks whose one rule challenges every charge from ¥40,000: the step-up is asked
    // again of the second retry, so its spent proof refuses it (with the default rules the ¥50,000 in the history
    // would make the second a new ordinary charge, counted and made as one).
    const rules = parseRuleText(`version: 1
rules:
  - id: test-large-charge
    description: every charge from 40,000 yen
    events: [charge]
    when: { feature: amount, op: '>=', value: 40000 }
    action: challenge
    score: 50
    rationale: the test asks the step-up of every large charge
`);
    const strict = await startKoza(db(), world.sandbox, {
      env: ENV,
      risk: riskEngine({ db: db(), store: new PostgresCounterStore(), rules: () => rules }),
    });
    try {
      const l = await establishedLink();
      const walletId = l.wallet.walletId;
      const strictCharge = (amount: number, extra: Record<string, unknown> = {}) =>
        strict.koza.post('/v1/charges', { link_id: l.linkId, amount, ...extra }, l.wallet.token);
      const bankBefore = (await world.sandbox.admin.holder(l.holder))!.balance;
      expectOk(await strictCharge(10_000), 201);
      expectProblemOver(await strictCharge(50_000), 403, 'step-up-required');
      const proof = await stepUpProof(world.app, l.wallet, l.totp, { action: 'charge', amount: 50_000, destination: l.linkId });

      const answers = await Promise.all([strictCharge(50_000, { step_up_proof: proof }), strictCharge(50_000, { step_up_proof: proof })]);
      assert.deepEqual(answers.map((a) => a.status).sort(), [201, 403]);
      assert.equal(expectProblemOver(answers.find((a) => a.status === 403)!, 403, 'step-up-proof-invalid').reason, 'used');

      assert.equal(await counter('charges_per_wallet', walletId), 2);
      assert.equal(await counter('charge_amount_per_wallet', walletId), 60_000);
      assert.equal(await counter('charges_per_account', `${l.holder.bank_code}:${await accountRefOf(l.linkId)}`), 2);
      const rows = (await db().query<{ proof_id: string | null }>('SELECT proof_id FROM risk_counted_actions WHERE wallet_id = $1', [walletId])).rows;
      assert.equal(rows.length, 1, 'one action, one row');
      assert.ok(rows[0]!.proof_id, 'claimed by the proof that answered it');
      assert.deepEqual((await decisions(walletId, 'charge')).map((d) => [d.charges, d.yen]),
        [[1, 10_000], [2, 60_000], [2, 60_000], [2, 60_000]], 'both retries were decided as the one challenged charge');
      assert.equal((await world.sandbox.admin.holder(l.holder))!.balance, bankBefore - 60_000);
      assert.equal(expectOk(await strict.koza.get('/v1/wallet/balance', l.wallet.token), 200).balance, 60_000);

      // Without a proof the factor approved nothing is a retry: an attempt with a made-up proof is a new one, counted.
      expectProblemOver(await strictCharge(50_000, { step_up_proof: `kzp_${'A'.repeat(43)}` }), 403, 'step-up-proof-invalid');
      assert.equal(await counter('charges_per_wallet', walletId), 3);
    } finally {
      await strict.app.close();
    }
  });

  it('counts a ¥100,000 payment refused for a step-up and its approved retry as one payment', async () => {
    const user = await signUpPaying(world.app);
    const totp = await enrolTotp(world.app, user);
    await topUp(world.app, user.token, 300_000);
    const shop = await newMerchant(world.app, 'Kaden-ya');
    const walletId = user.walletId;
    const pay = (amount: number, proof?: string) => post(world.app, '/v1/payments',
      { merchant_id: shop.merchantId, amount, ...(proof ? { step_up_proof: proof } : {}) }, { token: user.token });

    expectProblem(await pay(100_000), 403, 'step-up-required');
    const proof = await stepUpProof(world.app, user, totp, { action: 'payment', amount: 100_000, destination: shop.merchantId });
    expectJson(await pay(100_000, proof), 201);
    expectJson(await pay(5_000), 201);

    assert.deepEqual((await decisions(walletId, 'payment')).map((d) => [d.payments, d.yen]), [
      [1, 100_000], // the refused attempt, decided as the wallet's first payment (its decision is kept)
      [1, 100_000], // its approved retry: the same payment
      [2, 105_000], // the next ordinary payment
    ]);
    assert.ok((await decisions(walletId, 'payment')).every((d) => d.action === 'allow'));
    const rows = (await db().query<{ proof_id: string | null }>('SELECT proof_id FROM risk_counted_actions WHERE wallet_id = $1', [walletId])).rows;
    assert.equal(rows.length, 1);
    assert.ok(rows[0]!.proof_id);
    const paid = (await db().query<{ n: string | number; yen: string | number }>(
      'SELECT count(*) AS n, sum(amount) AS yen FROM payments WHERE wallet_id = $1', [walletId])).rows[0]!;
    assert.deepEqual([Number(paid.n), Number(paid.yen)], [2, 105_000]);
  });
});
