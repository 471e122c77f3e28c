// Merchants are businesses: a signed-in, verified owner and a business check open a merchant (one per business);
// what a new merchant receives is held, released by the job as ledger transfers, refundable from held first, paid out
// to the owner's wallet; the first large payment to a merchant is stepped up, bound to amount and merchant; the payment
// rules fire on self-dealing and on a wallet emptied in a burst. Money is read from the ledger, not only status codes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  expectJson, expectProblem, get, newMerchant, outbox, payMerchant, post, signUpPaying, signUpVerified, testApp, topUp,
  unusedPerson, walletBalance, type SandboxPerson,
} from '../../test-support/api-client.js';
import { enrolTotp, stepUpProof } from '../../test-support/links-for-tests.js';
import type { App } from '../http/context.js';
import type { Db } from '../store/db.js';
import { getBalance } from '../ledger/ledger.js';
import { listDecisions } from '../risk/decisions.js';
import { releaseHoldsRound, startHoldRelease } from './hold-release.js';

interface RegisteredBusiness {
  corporate_number: string; registered_name: string; representative_index: number | null;
  representative: { name_kana: string };
}

async function register(app: App): Promise<RegisteredBusiness[]> {
  const all: RegisteredBusiness[] = [];
  for (let offset: number | null = 0; offset !== null;) {
    const page: { data: RegisteredBusiness[]; next_offset: number | null } =
      expectJson(await get(app, `/v1/sandbox/businesses?limit=100&offset=${offset}`), 200);
    all.push(...page.data);
    offset = page.next_offset;
  }
  return all;
}

function corporation(business: RegisteredBusiness, name = 'Sato Shoten') {
  return { name, business: { kind: 'corporation', corporate_number: business.corporate_number, registered_name: business.registered_name } };
}

async function balances(db: Db, merchantId: string): Promise<{ available: number; held: number }> {
  const available = await getBalance(db, `acc_${merchantId}`);
  const held = await getBalance(db, `acc_${merchantId}_held`);
  return { available: available.creditsPosted - available.debitsPosted, held: held.creditsPosted - held.debitsPosted };
}

async function transfers(db: Db, code: string, reference: string): Promise<Array<{ debit_account_id: string; credit_account_id: string; amount: number }>> {
  return (await db.query<{ debit_account_id: string; credit_account_id: string; amount: number }>(
    'SELECT debit_account_id, credit_account_id, amount FROM ledger_transfers WHERE code = $1 AND reference = $2', [code, reference])).rows;
}

forEachBackend('merchants are businesses', (db) => {
  let app: App;
  let businesses: RegisteredBusiness[];
  before(async () => {
    app = await testApp(db());
    businesses = await register(app);
  });
  after(async () => { await app?.close(); });

  /** A corporation whose representative is a sandbox person nobody has used yet, and that person's L2 wallet. */
  async function representativeOfACorporation() {
    const representatives = new Map(businesses.filter((b) => b.representative_index !== null).map((b) => [b.representative_index!, b]));
    const person: SandboxPerson = await unusedPerson(app, (p) => representatives.has(p.index));
    const owner = await signUpPaying(app, undefined, undefined, person);
    return { owner, business: representatives.get(person.index)!, person };
  }

  describe('onboarding', () => {
    it('the sandbox register is drawn from the population seed, with valid corporate numbers', async () => {
      assert.ok(businesses.length > 100);
      for (const b of businesses) {
        const base = b.corporate_number.slice(1);
        let sum = 0;
        for (let n = 1; n <= 12; n++) sum += Number(base[12 - n]) * (n % 2 === 1 ? 1 : 2);
        assert.equal(b.corporate_number[0], String(9 - (sum % 9)), `${b.corporate_number} has its check digit`);
      }
      assert.ok(businesses.some((b) => b.representative_index === null), 'some representatives are strangers to the eKYC sandbox');
      assert.deepEqual(await register(await testApp(db())), businesses, 'the same seed, the same register');
    });

    it('refuses without a session, below L2, and with a corporate number whose check digit is wrong; nothing opened', async () => {
      const before = Number((await db().query<{ n: number }>('SELECT count(*)::int AS n FROM merchants')).rows[0]!.n);
      expectProblem(await post(app, '/v1/merchants', { name: 'Shop', business: { kind: 'sole_proprietor', trade_name: 'Shop' } }), 401, 'unauthenticated');
      const l0 = await signUpVerified(app);
      const refused = expectProblem(await post(app, '/v1/merchants', { name: 'Shop', business: { kind: 'sole_proprietor', trade_name: 'Shop' } },
        { token: l0.token }), 403, 'assurance-level-too-low');
      assert.match(refused.detail, /identity/);
      const owner = await signUpPaying(app);
      const good = businesses[0]!.corporate_number;
      const wrongDigit = `${(Number(good[0]) % 9) + 1}${good.slice(1)}`;
      expectProblem(await post(app, '/v1/merchants', corporation({ ...businesses[0]!, corporate_number: wrongDigit }), { token: owner.token }),
        400, 'invalid-request');
      const after = Number((await db().query<{ n: number }>('SELECT count(*)::int AS n FROM merchants')).rows[0]!.n);
      assert.equal(after, before);
    });

    it('opens a corporation\'s merchant for its representative, once; the owner is e-mailed; the key is hashed', async () => {
      const { owner, business } = await representativeOfACorporation();
      const created = expectJson(await post(app, '/v1/merchants', corporation(business), { token: owner.token }), 201);
      assert.equal(created.merchant.owner_wallet_id, owner.walletId);
      assert.deepEqual(created.merchant.business, {
        kind: 'corporation', registered_name: business.registered_name, corporate_number: business.corporate_number,
      });
      assert.equal(created.business_verification.status, 'verified');
      const mail = (await outbox(app, owner.email)).find((m) => m.subject === 'Your koza merchant is open');
      assert.ok(mail && mail.body.includes(created.merchant.id) && !mail.body.includes(created.api_key));
      const row = (await db().query<{ api_key_hash: string; business_key: string }>(
        'SELECT api_key_hash, business_key FROM merchants WHERE id = $1', [created.merchant.id])).rows[0]!;
      assert.notEqual(row.api_key_hash, created.api_key);
      assert.equal(row.business_key, `corp:${business.corporate_number}`);

      // One business, one merchant: the same owner again, whatever the display name.
      expectProblem(await post(app, '/v1/merchants', corporation(business, 'Another name'), { token: owner.token }), 409, 'business-already-onboarded');
      // A sole proprietorship is a business of its own: one more, then no second.
      expectJson(await post(app, '/v1/merchants', { name: 'Weekend stall', business: { kind: 'sole_proprietor', trade_name: '佐藤屋' } },
        { token: owner.token }), 201);
      expectProblem(await post(app, '/v1/merchants', { name: 'Other stall', business: { kind: 'sole_proprietor', trade_name: '別の屋号' } },
        { token: owner.token }), 409, 'business-already-onboarded');
      assert.equal(Number((await db().query<{ n: number }>('SELECT count(*)::int AS n FROM merchants WHERE owner_wallet_id = $1',
        [owner.walletId])).rows[0]!.n), 2);
    });

    it('refuses an owner who is not the representative, and a wrong registered name, saying what to do; the check is kept', async () => {
      const { business } = await representativeOfACorporation();
      const stranger = await signUpPaying(app);
      const problem = expectProblem(await post(app, '/v1/merchants', corporation(business), { token: stranger.token }), 422, 'business-check-failed');
      assert.equal(problem.reason, 'not_representative');
      assert.match(problem.detail, /representative/);
      const wrongName = expectProblem(await post(app, '/v1/merchants',
        { name: 'x', business: { kind: 'corporation', corporate_number: business.corporate_number, registered_name: '株式会社どこか' } },
        { token: stranger.token }), 422, 'business-check-failed');
      assert.equal(wrongName.reason, 'name_mismatch');
      const checks = (await db().query<{ status: string; reason: string }>(
        'SELECT status, reason FROM business_verifications WHERE wallet_id = $1 ORDER BY seq', [stranger.walletId])).rows;
      assert.deepEqual(checks.map((c) => [c.status, c.reason]), [['failed', 'not_representative'], ['failed', 'name_mismatch']]);
      assert.equal(Number((await db().query<{ n: number }>('SELECT count(*)::int AS n FROM merchants WHERE owner_wallet_id = $1',
        [stranger.walletId])).rows[0]!.n), 0);
      assert.ok((await outbox(app, stranger.email)).some((m) => m.subject === 'We could not verify your business'));
    });

    it('a check under review opens nothing (202); asked again after the review passes, it opens the merchant', async () => {
      const { owner, business } = await representativeOfACorporation();
      expectJson(await app.inject({ method: 'PUT', url: `/v1/sandbox/businesses/${business.corporate_number}/behaviour`,
        headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ outcome: 'pending_review' }) }), 200);
      const waiting = expectJson(await post(app, '/v1/merchants', corporation(business), { token: owner.token }), 202);
      assert.equal(waiting.business_verification.status, 'pending_review');
      const declined = await app.inject({ method: 'PUT', url: `/v1/sandbox/businesses/${business.corporate_number}/behaviour`,
        headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ outcome: 'pass' }) });
      expectJson(declined, 200);
      expectJson(await post(app, '/v1/merchants', corporation(business), { token: owner.token }), 201);
    });
  });

  describe('held funds, release, refunds and payouts', () => {
    it('holds a new merchant\'s takings until the job releases them, refunds from held first, pays out to the owner', async () => {
      const shop = await newMerchant(app, 'Pan-ya Hikari');
      const payer = await signUpPaying(app);
      await topUp(app, payer.token, 9_000);
      const first = await payMerchant(app, payer.token, shop.merchantId, 3_000);
      const second = await payMerchant(app, payer.token, shop.merchantId, 2_000);
      assert.deepEqual(await balances(db(), shop.merchantId), { available: 0, held: 5_000 });
      assert.deepEqual((await transfers(db(), 'payment', first.id)).map((t) => t.credit_account_id), [`acc_${shop.merchantId}_held`]);
      const view = expectJson(await get(app, '/v1/merchants/me/balances', shop.apiKey), 200);
      assert.equal(view.available, 0);
      assert.equal(view.held_total, 5_000);
      assert.match(view.held[0].release_at_jst, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} JST$/);
      const heldFor = (new Date(view.held[0].release_at).getTime() - Date.now()) / 86_400_000;
      assert.ok(heldFor > 6.9 && heldFor <= 7, `held for ${heldFor} days`);

      // Held money cannot be paid out; the refusal says when it becomes available.
      const early = expectProblem(await post(app, '/v1/merchants/me/payouts', { amount: 1 }, { token: shop.apiKey }), 422, 'merchant-funds-too-low');
      assert.match(early.detail, /¥0 .*available.*JST/);
      // A refund before the release comes out of the held account.
      expectJson(await post(app, `/v1/payments/${first.id}/refunds`, { amount: 1_000 }, { token: shop.apiKey }), 201);
      assert.deepEqual(await balances(db(), shop.merchantId), { available: 0, held: 4_000 });
      assert.equal(await walletBalance(app, payer.token), 9_000 - 5_000 + 1_000);

      // Nothing is due yet; then a week passes for the first payment only.
      assert.equal((await releaseHoldsRound(db())).filter((r) => r.merchantId === shop.merchantId).length, 0);
      await db().query(`UPDATE merchant_holds SET release_at = now() - interval '1 minute' WHERE payment_id = $1`, [first.id]);
      const released = (await releaseHoldsRound(db())).filter((r) => r.merchantId === shop.merchantId);
      assert.deepEqual(released.map((r) => [r.paymentId, r.amount]), [[first.id, 2_000]]);
      assert.deepEqual(await transfers(db(), 'hold_release', first.id),
        [{ debit_account_id: `acc_${shop.merchantId}_held`, credit_account_id: `acc_${shop.merchantId}`, amount: 2_000 }]);
      assert.deepEqual(await balances(db(), shop.merchantId), { available: 2_000, held: 2_000 });
      assert.equal((await releaseHoldsRound(db())).filter((r) => r.merchantId === shop.merchantId).length, 0, 'released once');

      // After its release a refund comes from the available balance.
      const late = expectJson(await post(app, `/v1/payments/${first.id}/refunds`, { amount: 500 }, { token: shop.apiKey }), 201);
      assert.equal((await db().query<{ from_held: boolean }>('SELECT from_held FROM refunds WHERE id = $1', [late.refund.id])).rows[0]!.from_held, false);
      assert.deepEqual(await balances(db(), shop.merchantId), { available: 1_500, held: 2_000 });

      // Payout: available → the owner's wallet, idempotent; never above what is available.
      const ownerBefore = await walletBalance(app, shop.owner.token);
      expectProblem(await post(app, '/v1/merchants/me/payouts', { amount: 1_501 }, { token: shop.apiKey }), 422, 'merchant-funds-too-low');
      const key = 'payout-1';
      const payout = expectJson(await post(app, '/v1/merchants/me/payouts', { amount: 1_500 }, { token: shop.apiKey, key }), 201);
      const again = await post(app, '/v1/merchants/me/payouts', { amount: 1_500 }, { token: shop.apiKey, key });
      assert.equal(again.body, JSON.stringify(payout));
      assert.equal(payout.wallet_id, shop.owner.walletId);
      assert.equal(await walletBalance(app, shop.owner.token), ownerBefore + 1_500);
      const ownerAccount = (await db().query<{ ledger_account_id: string }>(
        'SELECT ledger_account_id FROM wallets WHERE id = $1', [shop.owner.walletId])).rows[0]!.ledger_account_id;
      assert.deepEqual(await transfers(db(), 'payout', payout.id),
        [{ debit_account_id: `acc_${shop.merchantId}`, credit_account_id: ownerAccount, amount: 1_500 }]);
      assert.deepEqual(await balances(db(), shop.merchantId), { available: 0, held: 2_000 });

      // The second payment's refund still works from held; a refund of the released one now exceeds what is available.
      expectJson(await post(app, `/v1/payments/${second.id}/refunds`, { amount: 2_000 }, { token: shop.apiKey }), 201);
      const broke = expectProblem(await post(app, `/v1/payments/${first.id}/refunds`, { amount: 100 }, { token: shop.apiKey }), 422, 'merchant-funds-too-low');
      assert.equal(broke.available_yen, 0);
      assert.deepEqual(await balances(db(), shop.merchantId), { available: 0, held: 0 });
      await db().query(`UPDATE merchant_holds SET release_at = now() - interval '1 minute' WHERE payment_id = $1`, [second.id]);
      const empty = (await releaseHoldsRound(db())).filter((r) => r.merchantId === shop.merchantId);
      assert.deepEqual(empty.map((r) => [r.amount, r.transferId]), [[0, null]], 'a fully refunded hold releases nothing');
      const me = expectJson(await get(app, '/v1/merchant', shop.apiKey), 200);
      assert.deepEqual([me.balance, me.available, me.held], [0, 0, 0]);
    });

    it('the periodic job koza start runs releases a due hold as a ledger transfer', async () => {
      const shop = await newMerchant(app, 'Tofu-ya');
      const payer = await signUpPaying(app);
      await topUp(app, payer.token, 2_000);
      const payment = await payMerchant(app, payer.token, shop.merchantId, 1_500);
      await db().query(`UPDATE merchant_holds SET release_at = now() - interval '1 minute' WHERE payment_id = $1`, [payment.id]);
      const released: string[] = [];
      const job = startHoldRelease(db(), {
        everyMs: 3_600_000, onReleased: (r) => released.push(...r.map((x) => x.paymentId)), onError: (err) => { throw err; },
      });
      await job.lastRound;
      await job.stop();
      assert.ok(released.includes(payment.id));
      assert.deepEqual(await balances(db(), shop.merchantId), { available: 1_500, held: 0 });
      assert.equal((await transfers(db(), 'hold_release', payment.id)).length, 1);
    });

    it('a merchant older than the hold window is paid into its available balance at once', async () => {
      const shop = await newMerchant(app, 'Sakaya Furui');
      await db().query(`UPDATE merchants SET created_at = now() - interval '31 days' WHERE id = $1`, [shop.merchantId]);
      const payer = await signUpPaying(app);
      await topUp(app, payer.token, 5_000);
      const payment = await payMerchant(app, payer.token, shop.merchantId, 4_000);
      assert.deepEqual(await balances(db(), shop.merchantId), { available: 4_000, held: 0 });
      assert.equal((await db().query('SELECT 1 FROM merchant_holds WHERE payment_id = $1', [payment.id])).rows.length, 0);
      // Three payouts of ¥2,000 at once from ¥4,000: the merchant row lock lets exactly two through.
      const ownerBefore = await walletBalance(app, shop.owner.token);
      const answers = await Promise.all([1, 2, 3].map(() => post(app, '/v1/merchants/me/payouts', { amount: 2_000 }, { token: shop.apiKey })));
      assert.deepEqual(answers.map((a) => a.statusCode).sort(), [201, 201, 422]);
      assert.deepEqual(await balances(db(), shop.merchantId), { available: 0, held: 0 });
      assert.equal(await walletBalance(app, shop.owner.token), ownerBefore + 4_000);
    });
  });

  describe('payments to a new destination and the payment rules', () => {
    it('a payment of ¥10,000 or more to a merchant never paid with a step-up needs one bound to amount and merchant', async () => {
      const shopA = await newMerchant(app, 'Denki-ya A');
      const shopB = await newMerchant(app, 'Denki-ya B');
      const payer = await signUpPaying(app);
      const totp = await enrolTotp(app, payer);
      await topUp(app, payer.token, 100_000);
      const pay = (merchantId: string, amount: number, proof?: string) => post(app, '/v1/payments',
        { merchant_id: merchantId, amount, ...(proof ? { step_up_proof: proof } : {}) }, { token: payer.token });

      // ¥1 first does not make the merchant a used destination.
      expectJson(await pay(shopA.merchantId, 1), 201);
      expectProblem(await pay(shopA.merchantId, 10_000), 403, 'step-up-required');
      const forB = await stepUpProof(app, payer, totp, { action: 'payment', amount: 10_000, destination: shopB.merchantId });
      expectProblem(await pay(shopA.merchantId, 10_000, forB), 403, 'step-up-proof-invalid');
      const forA = await stepUpProof(app, payer, totp, { action: 'payment', amount: 10_000, destination: shopA.merchantId });
      expectProblem(await pay(shopA.merchantId, 12_000, forA), 403, 'step-up-proof-invalid');
      const paid = expectJson(await pay(shopA.merchantId, 10_000, forA), 201);
      // Now A is a used destination; B still is not.
      expectJson(await pay(shopA.merchantId, 15_000), 201);
      expectProblem(await pay(shopB.merchantId, 10_000), 403, 'step-up-required');
      expectJson(await pay(shopB.merchantId, 9_999), 201);
      assert.equal(await walletBalance(app, payer.token), 100_000 - 1 - 10_000 - 15_000 - 9_999);
      assert.deepEqual(await balances(db(), shopA.merchantId), { available: 0, held: 25_001 });
      const stepped = (await db().query<{ stepped_up: boolean }>('SELECT stepped_up FROM payments WHERE id = $1', [paid.id])).rows[0]!;
      assert.equal(stepped.stepped_up, true);
    });

    it('self-dealing is refused with an alert; the payment features are stored with the decision', async () => {
      const shop = await newMerchant(app, 'Jibun-ya');
      await topUp(app, shop.owner.token, 5_000);
      const refused = expectProblem(await post(app, '/v1/payments', { merchant_id: shop.merchantId, amount: 1_000 }, { token: shop.owner.token }),
        403, 'payment-refused');
      assert.doesNotMatch(JSON.stringify(refused), /self-dealing/);
      assert.equal(await walletBalance(app, shop.owner.token), 5_000);
      const decision = (await listDecisions(db(), { walletId: shop.owner.walletId }, { limit: 50 })).items.find((d) => d.eventKind === 'payment')!;
      assert.equal(decision.action, 'review');
      assert.deepEqual(decision.ruleHits.map((h) => h.rule), ['payment-self-dealing']);
      assert.equal(decision.features.merchant_owner_is_payer, true);
      assert.equal(decision.features.first_payment_to_merchant, true);
      assert.ok(typeof decision.features.merchant_age_hours === 'number' && decision.features.merchant_age_hours < 1);
    });

    it('the tenth payment from one wallet within an hour asks for a step-up; an ordinary few payments do not', async () => {
      const shops = [await newMerchant(app, 'Konbini'), await newMerchant(app, 'Soba')];
      const payer = await signUpPaying(app);
      const totp = await enrolTotp(app, payer);
      await topUp(app, payer.token, 20_000);
      for (let i = 0; i < 9; i++) await payMerchant(app, payer.token, shops[i % 2]!.merchantId, 500);
      const tenth = { merchant_id: shops[0]!.merchantId, amount: 500 };
      expectProblem(await post(app, '/v1/payments', tenth, { token: payer.token }), 403, 'step-up-required');
      // The owner passes it with their own factor. The refused attempt moves nothing but keeps its decision (analysts
      // see it); it and its approved retry are one payment in the counts (count-once.ts).
      const proof = await stepUpProof(app, payer, totp, { action: 'payment', amount: 500, destination: shops[0]!.merchantId });
      expectJson(await post(app, '/v1/payments', { ...tenth, step_up_proof: proof }, { token: payer.token }), 201);
      const decisions = (await listDecisions(db(), { walletId: payer.walletId }, { limit: 50 })).items.filter((d) => d.eventKind === 'payment');
      assert.equal(decisions.length, 11);
      const hit = decisions.filter((d) => d.ruleHits.length > 0);
      assert.deepEqual(hit.map((d) => d.ruleHits.map((h) => h.rule)), [['wallet-payment-velocity-1h'], ['wallet-payment-velocity-1h']]);
      for (const d of hit) {
        assert.equal(d.action, 'challenge');
        assert.equal(d.features.payments_per_wallet_1h, 10, 'the attempt and its retry are both the tenth payment');
        assert.equal(d.features.payment_amount_per_wallet_1h, 5_000);
      }
      assert.equal(await walletBalance(app, payer.token), 20_000 - 10 * 500);
    });
  });
});
