// A large payment needs strong customer authentication bound to it (PSD2 dynamic linking): the proof of an
// approved step-up challenge names the amount and the merchant, works once, and moves exactly that money.
import assert from 'node:assert/strict';
import { before, after, it } from 'node:test';
import { forEachBackend } from '../../../test-support/backends.js';
import {
  expectJson, expectProblem, merchantBalance, newMerchant, post, signUpPaying, testApp, topUp, walletBalance, type SignedUp,
} from '../../../test-support/api-client.js';
import { totpCodeAt } from '../../identity/factors/totp.js';
import type { App } from '../context.js';

forEachBackend('payments with step-up', (db) => {
  let app: App;
  // The payment threshold alone: the first-payment (new destination) step-up is tested in src/payments/merchants.int.test.ts.
  before(async () => { app = await testApp(db(), { KOZA_STEP_UP_NEW_DESTINATION_FROM: '1000000000' }); });
  after(async () => { await app.close(); });

  const stepsUsed = new Map<string, number>();
  /** Each use takes the next TOTP step (a code is single use); two per secret stay inside the ±1 step window. */
  const nextCode = (secret: string) => {
    const step = stepsUsed.get(secret) ?? 0;
    stepsUsed.set(secret, step + 1);
    return totpCodeAt(secret, Date.now() + step * 30_000);
  };

  async function enrolTotp(user: SignedUp): Promise<string> {
    const started = expectJson<{ factor: { id: string }; secret: string }>(await post(app, '/v1/factors/totp', {}, { token: user.token }), 201);
    const enrolled = expectJson<{ session: { token: string } }>(
      await post(app, `/v1/factors/totp/${started.factor.id}/confirm`, { code: nextCode(started.secret) }, { token: user.token }), 200);
    user.token = enrolled.session.token;
    return started.secret;
  }

  async function proofFor(user: SignedUp, secret: string, amount: number, destination: string): Promise<string> {
    const created = expectJson<{ challenge: { id: string } }>(
      await post(app, '/v1/step-up/challenges', { action: 'payment', amount, destination }, { token: user.token }), 201);
    return expectJson<{ proof: string }>(await post(app, `/v1/step-up/challenges/${created.challenge.id}/approve`,
      { method: 'totp', code: nextCode(secret) }, { token: user.token }), 201).proof;
  }

  it('pays ¥100,000 only with a proof for that amount and that merchant, once', async () => {
    const user = await signUpPaying(app);
    const secret = await enrolTotp(user);
    await topUp(app, user.token, 500_000);
    const shop = await newMerchant(app, 'Denki-ya');
    const other = await newMerchant(app, 'Other shop');

    const pay = (amount: number, merchantId: string, proof?: string) => post(app, '/v1/payments',
      { merchant_id: merchantId, amount, ...(proof ? { step_up_proof: proof } : {}) }, { token: user.token });

    // Below the threshold no step-up; from it, none without a proof.
    expectJson(await pay(99_999, shop.merchantId), 201);
    expectProblem(await pay(100_000, shop.merchantId), 403, 'step-up-required');

    const proof = await proofFor(user, secret, 100_000, shop.merchantId);
    assert.equal(expectProblem(await pay(300_000, shop.merchantId, proof), 403, 'step-up-proof-invalid').reason, 'mismatch');
    assert.equal(expectProblem(await pay(100_000, other.merchantId, proof), 403, 'step-up-proof-invalid').reason, 'mismatch');
    expectJson(await pay(100_000, shop.merchantId, proof), 201);
    assert.equal(expectProblem(await pay(100_000, shop.merchantId, proof), 403, 'step-up-proof-invalid').reason, 'used');

    assert.equal(await walletBalance(app, user.token), 500_000 - 99_999 - 100_000);
    assert.equal(await merchantBalance(app, shop.apiKey), 199_999);
    assert.equal(await merchantBalance(app, other.apiKey), 0);
  });

  it('does not spend the proof when the payment itself is refused', async () => {
    const user = await signUpPaying(app);
    const secret = await enrolTotp(user);
    await topUp(app, user.token, 50_000);
    const shop = await newMerchant(app);
    const proof = await proofFor(user, secret, 120_000, shop.merchantId);
    const pay = () => post(app, '/v1/payments', { merchant_id: shop.merchantId, amount: 120_000, step_up_proof: proof }, { token: user.token });
    expectProblem(await pay(), 422, 'insufficient-funds');
    await topUp(app, user.token, 100_000);
    expectJson(await pay(), 201);
    assert.equal(await walletBalance(app, user.token), 30_000);
  });
});
