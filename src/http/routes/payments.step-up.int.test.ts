// A large payment needs strong customer authentication bound to it (PSD2 dynamic linking): the proof of an
// approved step-up challenge names the amount and the merchant, works once, and moves exactly that money.
import assert from 'node:assert/strict';
import { before, after, it } from 'node:test';
import { forEachBackend } from '../../../test-support/backends.js';
import {
  expectJson, expectProblem, merchantBalance, newMerchant, outbox, post, signUpPaying, testApp, topUp, walletBalance, type SignedUp,
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

  it('a wallet with no second factor yet approves a large payment with the code e-mailed for it; once it has a factor, only the factor', async () => {
    // Funded without a bank link (a transfer, a top-up): no link asked it for a factor, and a checkout must not strand it.
    const user = await signUpPaying(app);
    await topUp(app, user.token, 300_000);
    const shop = await newMerchant(app, 'Kaden-ya');
    const pay = (proof?: string) => post(app, '/v1/payments',
      { merchant_id: shop.merchantId, amount: 150_000, ...(proof ? { step_up_proof: proof } : {}) }, { token: user.token });

    // The refusal names the way through, in both languages.
    const needed = expectProblem(await pay(), 403, 'step-up-required');
    assert.deepEqual(needed.methods, ['email_code']);
    assert.equal(needed.challenge_path, '/v1/step-up/challenges');
    assert.deepEqual(needed.next_step, {
      ja: 'メールで届くコードで承認すると、続けて操作できます。',
      en: 'Approve it with a code we e-mail to you, then the action goes ahead.',
    });

    const created = expectJson<{ challenge: { id: string; description: string }; methods: string[]; next_step: { en: string } }>(
      await post(app, '/v1/step-up/challenges', { action: 'payment', amount: 150_000, destination: shop.merchantId }, { token: user.token }), 201);
    assert.deepEqual(created.methods, ['email_code']);
    assert.equal(created.next_step.en, 'Approve it with a code we e-mail to you, then the action goes ahead.');
    const mail = (await outbox(app, user.email)).find((m) => m.subject === 'Your koza approval code');
    assert.ok(mail, 'no approval code was e-mailed');
    assert.ok(mail.body.includes(`Pay ¥150,000 to ${shop.merchantId}`), 'the e-mail says what the code approves');
    const code = /enter (\d{6})/.exec(mail.body)![1]!;

    const approve = (body: object) => post(app, `/v1/step-up/challenges/${created.challenge.id}/approve`, body, { token: user.token });
    const wrong = code === '000000' ? '111111' : '000000';
    assert.equal(expectProblem(await approve({ method: 'email_code', code: wrong }), 422, 'second-factor-rejected').attempts_left, 4);
    const proof = expectJson<{ proof: string }>(await approve({ method: 'email_code', code }), 201).proof;
    expectJson(await pay(proof), 201);
    assert.equal(await walletBalance(app, user.token), 150_000);
    assert.equal(await merchantBalance(app, shop.apiKey), 150_000);
    const record = await db().query<{ approved_with: string; failed_attempts: number }>(
      'SELECT approved_with, failed_attempts FROM step_up_challenges WHERE id = $1', [created.challenge.id]);
    assert.deepEqual(record.rows[0], { approved_with: 'email_code', failed_attempts: 1 });

    // An e-mailed code stops being a way once the wallet has a factor: a takeover may hold the mailbox too.
    const early = expectJson<{ challenge: { id: string } }>(await post(app, '/v1/step-up/challenges',
      { action: 'payment', amount: 120_000, destination: shop.merchantId }, { token: user.token }), 201);
    const earlyCode = /enter (\d{6})/.exec((await outbox(app, user.email)).find((m) => m.subject === 'Your koza approval code')!.body)![1]!;
    await enrolTotp(user);
    expectProblem(await post(app, `/v1/step-up/challenges/${early.challenge.id}/approve`, { method: 'email_code', code: earlyCode },
      { token: user.token }), 422, 'second-factor-rejected');
    assert.deepEqual(expectProblem(await pay(), 403, 'step-up-required').methods, ['totp', 'recovery_code']);
    const later = expectJson<{ methods: string[] }>(await post(app, '/v1/step-up/challenges',
      { action: 'payment', amount: 150_000, destination: shop.merchantId }, { token: user.token }), 201);
    assert.deepEqual(later.methods, ['totp', 'recovery_code']);
    const approved = await db().query<{ n: number }>(
      "SELECT count(*)::int AS n FROM step_up_challenges WHERE wallet_id = $1 AND approved_with = 'email_code'", [user.walletId]);
    assert.equal(Number(approved.rows[0]!.n), 1);
  });

  it('a wallet with no second factor cannot approve a security change by e-mail: it is told to enrol one', async () => {
    const user = await signUpPaying(app);
    const refused = expectProblem(await post(app, '/v1/step-up/challenges', { action: 'recovery_codes' }, { token: user.token }),
      409, 'second-factor-required');
    assert.deepEqual(refused.methods, []);
    assert.match(String((refused.next_step as { ja: string }).ja), /パスキーまたは認証アプリを登録/);
    const rows = await db().query('SELECT 1 FROM step_up_challenges WHERE wallet_id = $1', [user.walletId]);
    assert.equal(rows.rows.length, 0);
  });
});
