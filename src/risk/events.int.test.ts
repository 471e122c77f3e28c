// Every event of SPEC §7 reaches the risk engine with the default rules: an ordinary customer's sign-up, sign-in,
// phone, identity, factor and payment are each decided, stored and allowed without a single rule hit; a disposable
// e-mail and a device farm are refused at sign-up; an address that sprayed PINs cannot sign in; a payment the
// engine sends to review or challenge is refused or stepped up. Refusals never name the rule.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { forEachBackend } from '../../test-support/backends.js';
import {
  DEFAULT_PASSWORD, expectJson, expectProblem, newMerchant, payMerchant, post, signUpPaying, testApp, testConfig, topUp, uniqueEmail, walletBalance,
} from '../../test-support/api-client.js';
import { enrolTotp, stepUpProof } from '../../test-support/links-for-tests.js';
import { buildApp } from '../http/app.js';
import type { App } from '../http/context.js';
import type { RiskAction, RiskDecider } from './hook.js';
import { listAlerts, listDecisions } from './decisions.js';

function signUpFrom(app: App, email: string, client: { ip: string; device?: string }) {
  return app.inject({
    method: 'POST', url: '/v1/signup', remoteAddress: client.ip,
    headers: { 'content-type': 'application/json', 'idempotency-key': randomBytes(8).toString('hex'), ...(client.device ? { 'x-device-id': client.device } : {}) },
    payload: JSON.stringify({ email, password: DEFAULT_PASSWORD }),
  });
}

forEachBackend('risk decisions on every event', (db) => {
  let app: App;
  before(async () => { app = await testApp(db()); });
  after(async () => { await app?.close(); });

  it('decides each event of an ordinary customer and allows all of them with no rule hit', async () => {
    const user = await signUpPaying(app);
    await enrolTotp(app, user);
    await topUp(app, user.token, 20_000);
    const merchant = await newMerchant(app);
    await payMerchant(app, user.token, merchant.merchantId, 1_200);
    await payMerchant(app, user.token, merchant.merchantId, 800);

    const decisions = (await listDecisions(db(), { walletId: user.walletId }, { limit: 100 })).items;
    const kinds = new Set(decisions.map((d) => d.eventKind));
    for (const kind of ['signup', 'login', 'profile_change', 'kyc_submit', 'factor_change', 'payment'] as const) {
      assert.ok(kinds.has(kind), `a ${kind} decision is stored; got ${[...kinds].join(', ')}`);
    }
    for (const d of decisions) {
      assert.deepEqual({ kind: d.eventKind, action: d.action, hits: d.ruleHits, shadow: d.shadowHits },
        { kind: d.eventKind, action: 'allow', hits: [], shadow: [] });
    }
    const payment = decisions.find((d) => d.eventKind === 'payment')!;
    assert.equal(payment.features.amount, 800, 'the newest payment decision carries its amount');
    assert.equal(payment.ip, '127.0.0.1');
  });

  it('refuses a disposable e-mail at sign-up without naming the rule, and opens no wallet', async () => {
    const email = `koza-${randomBytes(4).toString('hex')}@mailinator.com`;
    const problem = expectProblem(await signUpFrom(app, email, { ip: '192.0.2.10' }), 403, 'signup-refused');
    assert.doesNotMatch(JSON.stringify(problem), /disposable|rule|mailinator/i);
    const wallets = await db().query('SELECT 1 FROM wallets WHERE email_normalized = $1', [email]);
    assert.equal(wallets.rows.length, 0);
    const ip = (await listDecisions(db(), { ip: '192.0.2.10' })).items;
    assert.deepEqual(ip.map((d) => [d.eventKind, d.action, d.ruleHits.map((h) => h.rule)]), [['signup', 'deny', ['disposable-email-signup']]]);
  });

  it('in whole-set shadow mode (KOZA_RISK_SHADOW) decides and stores as usual but enforces nothing', async () => {
    const shadow = await testApp(db(), { KOZA_RISK_SHADOW: 'true' });
    try {
      const email = `shadow-${randomBytes(4).toString('hex')}@mailinator.com`;
      expectJson(await signUpFrom(shadow, email, { ip: '192.0.2.11' }), 202);
      const [decision] = (await listDecisions(db(), { ip: '192.0.2.11' })).items;
      assert.deepEqual([decision!.action, decision!.enforced, decision!.ruleHits.map((h) => h.rule)], ['deny', false, ['disposable-email-signup']]);
      const open = (await listAlerts(db(), 'open', { limit: 200 })).items.map((a) => a.decisionId);
      assert.ok(open.includes(decision!.id), 'analysts watching a shadow roll-out still see it');
    } finally {
      await shadow.close();
    }
  });

  it('sends the third wallet from one device to review and refuses the fifth (a wallet farm)', async () => {
    const device = `farm-${randomBytes(12).toString('hex')}`;
    const answers: number[] = [];
    for (let i = 0; i < 5; i++) answers.push((await signUpFrom(app, uniqueEmail('farm'), { ip: `198.51.100.${20 + i}`, device })).statusCode);
    assert.deepEqual(answers, [202, 202, 202, 202, 403]);
    const decisions = (await listDecisions(db(), { deviceKey: `id:${device}` })).items.reverse();
    assert.deepEqual(decisions.map((d) => d.action), ['allow', 'allow', 'review', 'review', 'deny']);
    assert.ok(decisions[2]!.ruleHits.some((h) => h.rule === 'device-wallet-farm-24h'));
    assert.ok(decisions[4]!.ruleHits.some((h) => h.rule === 'device-wallet-farm-30d'));
    const open = new Set((await listAlerts(db(), 'open', { limit: 200 })).items.map((a) => a.decisionId));
    assert.ok(decisions.slice(2).every((d) => open.has(d.id)), 'review and deny open alerts');
  });

  it('never refuses sign-in from an address where PINs failed on many bank accounts; a link from there is stepped up (issue 11)', async () => {
    const user = await signUpPaying(app);
    // A carrier-NAT address: a sprayer and thousands of customers share it.
    const shared = '203.0.113.77';
    for (let i = 0; i < 12; i++) {
      await app.koza.risk({ kind: 'link_start', walletId: null, ip: shared, bankCode: '0005', accountRef: `typed:spray-${i}`, attributes: { failure: 'pin' } });
    }
    const signIn = (ip: string) => app.inject({
      method: 'POST', url: '/v1/sessions', remoteAddress: ip,
      headers: { 'content-type': 'application/json', 'idempotency-key': randomBytes(8).toString('hex') },
      payload: JSON.stringify({ email: user.email, password: DEFAULT_PASSWORD }),
    });
    // Before issue 11, three accounts' failures denied sign-in to everyone behind the address for a day.
    expectJson(await signIn(shared), 201);
    const login = (await listDecisions(db(), { ip: shared })).items.find((d) => d.eventKind === 'login')!;
    assert.deepEqual([login.action, login.walletId, login.ruleHits], ['allow', user.walletId, []]);
    const link = await app.koza.risk({ kind: 'link_start', walletId: user.walletId, ip: shared, bankCode: '0005', accountRef: 'typed:own' });
    assert.equal(link.action, 'challenge', 'a link from the address asks for the step-up its owner passes');
    assert.deepEqual(link.reasons.map((r) => r.rule), ['ip-pin-spraying']);
  });

  it('refuses a payment on review and deny (nothing paid), and on challenge asks for a step-up bound to amount and merchant', async () => {
    let verdict: RiskAction = 'allow';
    const risk: RiskDecider = async (event) => (event.kind === 'payment'
      ? { action: verdict, score: 50, reasons: [{ rule: 'test', text: 'set by the test' }] } : { action: 'allow', score: 0, reasons: [] });
    const judged = await buildApp({ db: db(), config: testConfig(), risk });
    try {
      await judged.ready();
      const user = await signUpPaying(judged);
      const totp = await enrolTotp(judged, user);
      await topUp(judged, user.token, 10_000);
      const merchant = await newMerchant(judged);
      const pay = (amount: number, proof?: string) => post(judged, '/v1/payments',
        { merchant_id: merchant.merchantId, amount, ...(proof ? { step_up_proof: proof } : {}) }, { token: user.token });

      for (const action of ['review', 'deny'] as const) {
        verdict = action;
        const problem = expectProblem(await pay(1_000), 403, 'payment-refused');
        assert.doesNotMatch(JSON.stringify(problem), /set by the test/);
      }
      verdict = 'challenge';
      expectProblem(await pay(1_000), 403, 'step-up-required');
      const proof = await stepUpProof(judged, user, totp, { action: 'payment', amount: 1_000, destination: merchant.merchantId });
      expectProblem(await pay(2_000, proof), 403);
      expectJson(await pay(1_000, proof), 201);
      verdict = 'allow';
      assert.equal(await walletBalance(judged, user.token), 9_000, 'only the stepped-up payment was paid');
    } finally {
      await judged.close();
    }
  });
});

