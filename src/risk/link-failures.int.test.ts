// Credential testing and PIN spraying through the real link flow (koza → bank sandbox over 127.0.0.1) under bank
// protocol v2, where a start answers the same for any PIN and the bank refuses PIN and code together at completion:
// koza's try budget stops tries on one account before the bank's lock (with the risk engine off), the rules deny an
// account two wallets failed on, and count failures per wallet and person and links started to many accounts.
// Every request in this file is an attack; each test comes from its own address (X-Forwarded-For, trusted here).
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import { DEFAULT_PASSWORD } from '../../test-support/api-client.js';
import {
  accountOf, enrolTotp, expectOk, expectProblemOver, HolderPicker, linkProof, personAt, startKoza, startLinkWorld, walletOf,
  type Authenticator, type HttpAnswer, type KozaHttp, type LinkWorld, type PersonWallet,
} from '../../test-support/links-for-tests.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import { LINK_TRY_LIMIT, LINK_TRY_WINDOW_DAYS } from '../banks/link-try-budget.js';
import { allowAll } from './hook.js';
import { listDecisions, type StoredDecision } from './decisions.js';

interface Thief {
  wallet: PersonWallet;
  totp: Authenticator;
}

forEachBackend('risk engine on bank credential failures', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  before(async () => {
    world = await startLinkWorld(backend, db(), { env: { KOZA_TRUST_PROXY: 'true' } });
    picker = new HolderPicker(world.sandbox);
  });
  after(async () => { await world?.close(); });

  /** A thief's own verified wallet (its own identity, as after eKYC) with an authenticator app. */
  const thief = async (): Promise<Thief> => {
    const own = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    const wallet = await walletOf(world.app, await personAt(world.app, own.person_index));
    return { wallet, totp: await enrolTotp(world.app, wallet) };
  };
  const pinOtpHolder = () => picker.pick((h) => h.link_methods.includes('pin_otp'));
  const wrongPin = (h: SandboxHolderAccount) => (h.pin === '0000' ? '1111' : '0000');
  /** A guess at the code the bank sent (or did not send) to the holder's phone. */
  const guess = (i = 0) => String(123_456 + i);

  /** Calls from one client address (and device, when given), as the customer's app would make them. */
  const from = (koza: KozaHttp, ip: string, device?: string) => ({
    start: async (who: Thief, victim: SandboxHolderAccount, pin: string) => koza.request('POST', '/v1/links', {
      token: who.wallet.token, headers: { 'x-forwarded-for': ip, ...(device ? { 'x-device-id': device } : {}) },
      body: {
        bank_code: victim.bank_code, method: 'pin_otp', account: accountOf(victim), pin,
        step_up_proof: await linkProof(world.app, who.wallet, who.totp, victim.bank_code),
      },
    }),
    complete: (who: Thief, started: HttpAnswer, otp: string) => koza.request('POST', `/v1/links/${started.json.link_request_id}/complete`, {
      token: who.wallet.token, headers: { 'x-forwarded-for': ip, ...(device ? { 'x-device-id': device } : {}) }, body: { otp },
    }),
  });
  const bankView = async (h: SandboxHolderAccount) => {
    const now = (await world.sandbox.admin.holder(h))!;
    return { pin_failures: now.pin_failures, pin_locked: now.pin_locked };
  };
  const decisionsOf = async (walletId: string): Promise<StoredDecision[]> =>
    (await listDecisions(db(), { walletId }, { limit: 100 })).items.reverse();

  it('stops a spray of wrong PINs over one account from many wallets before the bank locks it, even with the engine off', async () => {
    // The try budget is not a rule: it holds when the risk engine allows everything.
    const open = await startKoza(db(), world.sandbox, { risk: allowAll, env: { KOZA_TRUST_PROXY: 'true' } });
    try {
      const victim = await pinOtpHolder();
      const thieves = [await thief(), await thief(), await thief(), await thief(), await thief()];
      const calls = from(open.koza, '198.51.100.7');
      // Every start answers 201, the same as for the right PIN: nothing is counted yet, nobody is texted.
      const started: HttpAnswer[] = [];
      for (const t of thieves) {
        const answer = await calls.start(t, victim, wrongPin(victim));
        expectOk(answer, 201);
        started.push(answer);
      }
      assert.deepEqual(await bankView(victim), { pin_failures: 0, pin_locked: false });
      assert.equal(await world.sandbox.admin.lastOtp(victim.registered_phone, victim.bank_code), null);

      // All five completions at once: the budget lets LINK_TRY_LIMIT reach the bank, the others never get there.
      const answers = await Promise.all(thieves.map((t, i) => calls.complete(t, started[i]!, guess(i))));
      const codes = answers.map((a) => String(a.json.type).replace('urn:koza:problem:', '')).sort();
      assert.deepEqual(codes.filter((c) => c === 'bank-credentials-rejected').length, LINK_TRY_LIMIT, JSON.stringify(codes));
      assert.ok(codes.every((c) => ['bank-credentials-rejected', 'link-tries-exhausted', 'link-account-busy'].includes(c)), JSON.stringify(codes));
      assert.deepEqual(await bankView(victim), { pin_failures: LINK_TRY_LIMIT, pin_locked: false });

      // From now on no wallet's new try reaches the bank; a request that already failed may retry (it costs the bank nothing).
      const refused = expectProblemOver(await calls.start(await thief(), victim, wrongPin(victim)), 403, 'link-tries-exhausted');
      const againAt = Date.parse(refused.tries_again_at);
      assert.ok(Math.abs(againAt - (Date.now() + LINK_TRY_WINDOW_DAYS * 86_400_000)) < 120_000, refused.tries_again_at);
      assert.match(refused.detail, /JST/);
      assert.doesNotMatch(JSON.stringify(refused), new RegExp(`${victim.pin}|${victim.account_number}`));
      const failedBefore = thieves.findIndex((_, i) => answers[i]!.json.type === 'urn:koza:problem:bank-credentials-rejected');
      expectProblemOver(await calls.complete(thieves[failedBefore]!, started[failedBefore]!, guess(9)), 422, 'bank-credentials-rejected');
      const notYet = thieves.findIndex((_, i) => answers[i]!.json.type !== 'urn:koza:problem:bank-credentials-rejected');
      expectProblemOver(await calls.complete(thieves[notYet]!, started[notYet]!, guess(8)), 403, 'link-tries-exhausted');
      assert.deepEqual(await bankView(victim), { pin_failures: LINK_TRY_LIMIT, pin_locked: false }, 'the bank never locks it through koza');

      // The holder with the right PIN is told why, when, and the way that needs no PIN; the bank texted nobody.
      const owner = await walletOf(world.app, await personAt(world.app, victim.person_index));
      const ownerFactor = await enrolTotp(world.app, owner);
      const holderAnswer = expectProblemOver(await from(open.koza, '192.0.2.10').start({ wallet: owner, totp: ownerFactor }, victim, victim.pin),
        403, 'link-tries-exhausted');
      assert.equal(holderAnswer.redirect_offered, world.sandbox.banks.find((b) => b.bank_code === victim.bank_code)!.link_methods.includes('redirect'));
      assert.match(holderAnswer.detail, /sign-in|your bank/);
      assert.equal(await world.sandbox.admin.lastOtp(victim.registered_phone, victim.bank_code), null);
      assert.deepEqual(await world.sandbox.admin.links(victim), []);
    } finally {
      await open.app.close();
    }
  });

  it('denies the next link to an account that two wallets failed on, even with the right PIN, before the bank is asked', async () => {
    const a = await thief();
    const b = await thief();
    const victim = await pinOtpHolder();
    const calls = from(world.koza, '198.51.100.20');
    for (const t of [a, b]) {
      const started = await calls.start(t, victim, wrongPin(victim));
      expectOk(started, 201);
      expectProblemOver(await calls.complete(t, started, guess()), 422, 'bank-credentials-rejected');
    }
    const refused = expectProblemOver(await calls.start(a, victim, victim.pin), 403, 'link-refused');
    assert.doesNotMatch(JSON.stringify(refused), /credential|rule|wallets/i);
    assert.equal(await world.sandbox.admin.lastOtp(victim.registered_phone, victim.bank_code), null, 'the bank never sent the holder a code');
    assert.deepEqual(await bankView(victim), { pin_failures: 2, pin_locked: false });

    const decisions = await decisionsOf(a.wallet.walletId);
    const failure = decisions.find((d) => d.eventKind === 'link_complete' && d.features.link_failures_per_account_30d === 1)!;
    assert.ok(failure, 'the refused completion is itself an event, counted per typed account');
    assert.match(failure.accountRef ?? '', /^typed:/, 'the account is the keyed typed account, never the number');
    const denied = decisions.find((d) => d.eventKind === 'link_start' && d.action === 'deny')!;
    assert.deepEqual(denied.ruleHits.map((h) => h.rule).sort(), ['bank-account-credential-testing', 'bank-account-credential-testing-30d']);
    assert.equal(denied.features.wallets_failing_per_bank_account_24h, 2);
    assert.equal(denied.features.link_failures_per_account_30d, 2);
  });

  it('three honest PIN typos on different accounts behind one carrier address stop nobody else behind it (issue 11)', async () => {
    // Carrier NAT: everyone below shares 198.51.100.30; each has their own phone (device id).
    const nat = '198.51.100.30';
    const customer = async (device: string) => {
      const own = await picker.pick((h) => h.link_methods.includes('pin_otp'));
      const wallet = await walletOf(world.app, await personAt(world.app, own.person_index));
      return { who: { wallet, totp: await enrolTotp(world.app, wallet) }, own, calls: from(world.koza, nat, device) };
    };
    const typists = [await customer('nat-phone-aaaaaaaaaa1'), await customer('nat-phone-aaaaaaaaaa2'), await customer('nat-phone-aaaaaaaaaa3')];
    for (const [i, t] of typists.entries()) {
      const started = expectOk(await t.calls.start(t.who, t.own, wrongPin(t.own)), 201);
      expectProblemOver(await t.calls.complete(t.who, { json: started } as HttpAnswer, guess(i)), 422, 'bank-credentials-rejected');
    }
    // The fourth customer behind the address signs in and links with the bank's code, the way anyone would.
    const next = await customer('nat-phone-aaaaaaaaaa4');
    const signIn = await world.koza.request('POST', '/v1/sessions', {
      body: { email: next.who.wallet.email, password: DEFAULT_PASSWORD }, headers: { 'x-forwarded-for': nat, 'x-device-id': 'nat-phone-aaaaaaaaaa4' },
    });
    assert.ok(signIn.status === 201 || signIn.status === 202, `signed in or asked for the factor, never refused: ${signIn.text}`);
    const started = expectOk(await next.calls.start(next.who, next.own, next.own.pin), 201);
    const otp = await world.sandbox.admin.lastOtp(next.own.registered_phone, next.own.bank_code);
    assert.ok(otp, 'the bank texted its holder');
    const linked = expectOk(await next.calls.complete(next.who, { json: started } as HttpAnswer, otp), 201);
    assert.equal(linked.status, 'active');
    const startDecision = (await decisionsOf(next.who.wallet.walletId)).find((d) => d.eventKind === 'link_start')!;
    assert.equal(startDecision.features.accounts_with_failures_per_ip_24h, 3, 'the address count is there, and decides nothing');
    assert.equal(startDecision.action, 'allow');
    // The typists themselves sign in again from behind the same address, and their own wallets were never refused.
    for (const t of typists) {
      const again = await world.koza.request('POST', '/v1/sessions', { body: { email: t.who.wallet.email, password: DEFAULT_PASSWORD }, headers: { 'x-forwarded-for': nat } });
      assert.ok(again.status === 201 || again.status === 202, again.text);
      assert.ok((await decisionsOf(t.who.wallet.walletId)).every((d) => d.action !== 'deny'));
    }
  });

  it('holds a sprayer by its own wallet\'s counts, not its address: the fourth account it starts waits for an analyst', async () => {
    const sprayer = await thief();
    const calls = from(world.koza, '198.51.100.31');
    for (let i = 0; i < 3; i++) {
      const victim = await pinOtpHolder();
      const started = await calls.start(sprayer, victim, wrongPin(victim));
      expectOk(started, 201);
      expectProblemOver(await calls.complete(sprayer, started, guess(i)), 422, 'bank-credentials-rejected');
    }
    const next = await pinOtpHolder();
    expectProblemOver(await calls.start(sprayer, next, next.pin), 403, 'link-held-for-review');
    const decisions = await decisionsOf(sprayer.wallet.walletId);
    const held = decisions.find((d) => d.eventKind === 'link_start' && d.action === 'review')!;
    assert.deepEqual(held.ruleHits.map((h) => h.rule), ['wallet-many-typed-accounts-24h']);
    assert.equal(held.features.accounts_with_failures_per_ip_24h, 3);
    assert.equal(held.features.typed_accounts_started_per_wallet_24h, 4);
    assert.equal(await world.sandbox.admin.lastOtp(next.registered_phone, next.bank_code), null, 'the bank never texted the fourth holder');
  });

  it('counts PIN and code failures per wallet and per verified person: an alert at the fourth, the next link held', async () => {
    const t = await thief();
    const own = (await world.sandbox.admin.holders({ person_index: t.wallet.person.index })).find((h) => h.link_methods.includes('pin_otp'))!;
    const calls = from(world.koza, '198.51.100.40');
    // Two requests on the wallet's own account with a mistyped PIN: the bank counts one failure per request.
    const first = await calls.start(t, own, wrongPin(own));
    const second = await calls.start(t, own, wrongPin(own));
    for (let i = 0; i < 5; i++) expectProblemOver(await calls.complete(t, first, guess(i)), 422, 'bank-credentials-rejected');
    expectProblemOver(await calls.complete(t, second, guess(5)), 422, 'bank-credentials-rejected');
    assert.deepEqual(await bankView(own), { pin_failures: 2, pin_locked: false });

    const failures = (await decisionsOf(t.wallet.walletId)).filter((d) => d.eventKind === 'link_complete');
    assert.deepEqual(failures.map((d) => d.features.link_failures_per_wallet_24h), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(failures.map((d) => d.features.link_failures_per_person_30d), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(failures.map((d) => d.action), ['allow', 'allow', 'allow', 'review', 'review', 'review']);
    assert.deepEqual(failures[3]!.ruleHits.map((h) => h.rule), ['wallet-link-failures-24h']);
    assert.deepEqual(failures[5]!.ruleHits.map((h) => h.rule).sort(),
      ['person-link-failures-30d', 'wallet-link-failures-24h', 'wallet-link-failures-30d']);
    const alerts = await db().query<{ n: number | string }>(
      `SELECT count(*) AS n FROM risk_alerts a JOIN risk_decisions d ON d.id = a.decision_id WHERE d.wallet_id = $1 AND d.event_kind = 'link_complete'`, [t.wallet.walletId]);
    assert.equal(Number(alerts.rows[0]!.n), 3, 'each failure from the fourth opens an alert');
    // The wallet's next link waits for an analyst, even to its own account with the right PIN.
    expectProblemOver(await calls.start(t, own, own.pin), 403, 'link-held-for-review');
  });

  it('flags one device starting links to six different accounts across wallets (a family stays below)', async () => {
    const calls = from(world.koza, '198.51.100.50', 'dev-shared-tablet-0001');
    const first = await thief();
    const second = await thief();
    const answers: HttpAnswer[] = [];
    for (const who of [first, first, first, second, second, second]) {
      const victim = await pinOtpHolder();
      answers.push(await calls.start(who, victim, wrongPin(victim)));
    }
    assert.deepEqual(answers.map((a) => a.status), [201, 201, 201, 201, 201, 403]);
    expectProblemOver(answers[5]!, 403, 'link-held-for-review');
    const held = (await decisionsOf(second.wallet.walletId)).find((d) => d.eventKind === 'link_start' && d.action === 'review')!;
    assert.deepEqual(held.ruleHits.map((h) => h.rule), ['device-many-typed-accounts-24h']);
    assert.equal(held.features.typed_accounts_started_per_device_24h, 6);
    assert.equal(held.features.typed_accounts_started_per_wallet_24h, 3);
    assert.equal(held.features.typed_accounts_started_per_person_30d, 3);
  });
});
