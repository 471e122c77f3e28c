// Factor recovery (issue 11) over HTTP on both backends, with real bank links: a customer with only an authenticator
// app and a linked bank moves it to a new phone (with a recovery code, or with the old app), adds a passkey while the
// app exists, and — having lost everything — re-verifies person and mailbox, waits, and gets new factors; the owner
// cancels a reset; a stolen session cannot use the path. Factors, recovery codes and the money-out cap are asserted.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../../test-support/backends.js';
import {
  DEFAULT_PASSWORD, expectJson, expectProblem, newMerchant, outbox, post, topUp, walletBalance, type SignedUp,
} from '../../../test-support/api-client.js';
import { HolderPicker, linkedHolder, startLinkWorld, stepUpProof, type LinkedHolder, type LinkWorld } from '../../../test-support/links-for-tests.js';
import { SoftAuthenticator } from '../../../test-support/soft-authenticator.js';
import { totpCodeAt } from './totp.js';

const ENV = { KOZA_SECRET_KEY: '7c'.repeat(32) };

forEachBackend('factor recovery', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  before(async () => {
    world = await startLinkWorld(backend, db(), { env: ENV });
    picker = new HolderPicker(world.sandbox);
  });
  after(async () => { await world?.close(); });

  const app = () => world.app;
  const recoveryCodesOf = (l: LinkedHolder): string[] => (l.totp as unknown as { recoveryCodes: string[] }).recoveryCodes;
  const factorsOf = async (walletId: string) => (await db().query<{ id: string; kind: string; status: string }>(
    'SELECT id, kind, status FROM second_factors WHERE wallet_id = $1 ORDER BY created_at, id', [walletId])).rows;
  const activeFactors = async (walletId: string) => (await factorsOf(walletId)).filter((f) => f.status === 'active');
  const liveRecovery = async (walletId: string) => Number((await db().query<{ n: string | number }>(
    `SELECT count(*) AS n FROM recovery_codes c JOIN recovery_code_batches b ON b.id = c.batch_id
      WHERE b.wallet_id = $1 AND b.revoked_at IS NULL AND c.used_at IS NULL`, [walletId])).rows[0]!.n);
  const approve = async (user: SignedUp, binding: Record<string, unknown>, approval: Record<string, unknown>) => {
    const created = expectJson<{ challenge: { id: string } }>(await post(app(), '/v1/step-up/challenges', binding, { token: user.token }), 201);
    return post(app(), `/v1/step-up/challenges/${created.challenge.id}/approve`, approval, { token: user.token });
  };
  const phoneOf = async (walletId: string) => (await db().query<{ phone: string }>('SELECT phone FROM wallets WHERE id = $1', [walletId])).rows[0]!.phone;
  const mailCode = async (email: string, subject: string) => {
    const mail = (await outbox(app(), email.toLowerCase())).find((m) => m.subject === subject);
    assert.ok(mail, `no mail "${subject}"`);
    return /Enter (\d{6})/.exec(mail.body)![1]!;
  };

  it('moves the authenticator app to a new phone with a recovery code: one transaction, never two or none, a fresh set of codes', async () => {
    const l = await linkedHolder(world, picker);
    const user = l.wallet;
    const [old] = await activeFactors(user.walletId);
    // Today's dead end, now with a next step: adding says how to replace; removing the last one is still refused.
    const refused = expectProblem(await post(app(), '/v1/factors/totp', {}, { token: user.token }), 409, 'totp-already-enrolled');
    assert.match(refused.detail, new RegExp(`replaces: "${old!.id}"`));
    const oldCodes = recoveryCodesOf(l);
    const proof = expectJson<{ proof: string }>(await approve(user, { action: 'factor_replacement', destination: old!.id },
      { method: 'recovery_code', code: oldCodes[0]! }), 201).proof;
    // A proof for one factor replaces that one only: a passkey enrolment or another binding does not take it.
    expectProblem(await post(app(), '/v1/factors/passkeys', { step_up_proof: proof }, { token: user.token }), 403, 'step-up-proof-invalid');
    const started = expectJson<{ factor: { id: string }; secret: string }>(
      await post(app(), '/v1/factors/totp', { label: 'New phone', replaces: old!.id, step_up_proof: proof }, { token: user.token }), 201);
    // A wrong code from the new app changes nothing: the old app still works, the new one is pending.
    expectProblem(await post(app(), `/v1/factors/totp/${started.factor.id}/confirm`, { code: totpCodeAt(started.secret, Date.now() + 10 * 30_000) },
      { token: user.token }), 422, 'second-factor-rejected');
    assert.deepEqual((await factorsOf(user.walletId)).map((f) => [f.id, f.status]), [[old!.id, 'active'], [started.factor.id, 'pending']]);
    assert.equal(await liveRecovery(user.walletId), 9);

    const done = expectJson<{ factor: { id: string; status: string }; recovery_codes: string[] | null; session: { token: string } }>(
      await post(app(), `/v1/factors/totp/${started.factor.id}/confirm`, { code: totpCodeAt(started.secret, Date.now()) }, { token: user.token }), 200);
    user.token = done.session.token;
    assert.deepEqual((await factorsOf(user.walletId)).map((f) => [f.id, f.status]), [[old!.id, 'removed'], [started.factor.id, 'active']]);
    assert.equal(done.recovery_codes?.length, 10, 'a recovery code was spent: a fresh set, shown once');
    assert.equal(await liveRecovery(user.walletId), 10);
    // The old set is dead; the new app and the new codes approve.
    const dead = await approve(user, { action: 'recovery_codes' }, { method: 'recovery_code', code: oldCodes[1]! });
    expectProblem(dead, 422, 'second-factor-rejected');
    expectJson(await approve(user, { action: 'recovery_codes' }, { method: 'recovery_code', code: done.recovery_codes![0]! }), 201);
    // Both channels told.
    assert.ok((await outbox(app(), user.email.toLowerCase())).some((m) => m.subject === 'Your koza authenticator app was replaced'));
    assert.match((await outbox(app(), await phoneOf(user.walletId)))[0]!.body, /authenticator app was replaced/);
    // The link still has its factor: the new app cannot be removed as the last one.
    const removal = expectJson<{ proof: string }>(await approve(user, { action: 'factor_removal', destination: started.factor.id },
      { method: 'totp', code: totpCodeAt(started.secret, Date.now() + 30_000) }), 201).proof;
    expectProblem(await post(app(), `/v1/factors/${started.factor.id}/remove`, { step_up_proof: removal }, { token: user.token }), 409, 'last-factor-required');
  });

  it('moves the authenticator app with the old app itself; the recovery codes stay; a passkey is added while the app exists', async () => {
    const l = await linkedHolder(world, picker);
    const user = l.wallet;
    const [old] = await activeFactors(user.walletId);
    const proof = await stepUpProof(app(), user, l.totp, { action: 'factor_replacement', destination: old!.id });
    const started = expectJson<{ factor: { id: string }; secret: string }>(
      await post(app(), '/v1/factors/totp', { replaces: old!.id, step_up_proof: proof }, { token: user.token }), 201);
    const done = expectJson<{ recovery_codes: string[] | null; session: { token: string } }>(
      await post(app(), `/v1/factors/totp/${started.factor.id}/confirm`, { code: totpCodeAt(started.secret, Date.now()) }, { token: user.token }), 200);
    user.token = done.session.token;
    assert.equal(done.recovery_codes, null, 'proved with the old app: the paper codes are unexposed and stay');
    assert.equal(await liveRecovery(user.walletId), 10);
    assert.deepEqual((await activeFactors(user.walletId)).map((f) => f.id), [started.factor.id]);
    // A passkey while the app exists, approved with a recovery code (the phone is in a drawer).
    const enrolProof = expectJson<{ proof: string }>(await approve(user, { action: 'factor_enrollment' },
      { method: 'recovery_code', code: recoveryCodesOf(l)[0]! }), 201).proof;
    const key = new SoftAuthenticator();
    const pk = expectJson<{ factor: { id: string }; options: any }>(
      await post(app(), '/v1/factors/passkeys', { step_up_proof: enrolProof }, { token: user.token }), 201);
    const enrolled = expectJson<{ recovery_codes: string[] | null; session: { token: string } }>(
      await post(app(), `/v1/factors/passkeys/${pk.factor.id}/confirm`, { credential: key.register(pk.options) }, { token: user.token }), 200);
    user.token = enrolled.session.token;
    assert.deepEqual((await activeFactors(user.walletId)).map((f) => f.kind).sort(), ['passkey', 'totp']);
  });

  /** The owner on a new phone: the password is right, the second step asks for a factor they no longer have. */
  async function stuckSignIn(user: SignedUp): Promise<string> {
    const res = await post(app(), '/v1/sessions', { email: user.email, password: DEFAULT_PASSWORD }, { headers: { 'x-device-id': `new-${randomUUID()}` } });
    return expectJson<{ login_challenge: string }>(res, 202).login_challenge;
  }
  const identityOf = (l: LinkedHolder, selfie = 'live-selfie-ok') => {
    const p = l.wallet.person;
    return {
      document_type: p.document_type, document_number: p.document_number, name_kanji: p.name_kanji, name_kana: p.name_kana,
      date_of_birth: p.date_of_birth, address: { ...p.address }, selfie_token: selfie,
    };
  };
  async function resetToWaiting(l: LinkedHolder) {
    const started = expectJson<{ reset: { id: string; status: string }; reset_token: string }>(
      await post(app(), '/v1/factors/reset', { login_challenge: await stuckSignIn(l.wallet) }), 201);
    assert.equal(started.reset.status, 'verifying');
    const token = started.reset_token;
    const code = await mailCode(l.wallet.email, 'Reset the second factors of your koza wallet?');
    expectProblem(await post(app(), '/v1/factors/reset/mailbox', { reset_token: token, code: code === '000000' ? '111111' : '000000' }), 422, 'verification-failed');
    const mailbox = expectJson<{ reset: { status: string; mailbox_confirmed: boolean } }>(
      await post(app(), '/v1/factors/reset/mailbox', { reset_token: token, code }), 200);
    assert.deepEqual([mailbox.reset.status, mailbox.reset.mailbox_confirmed], ['verifying', true]);
    const waiting = expectJson<{ reset: { status: string; waits_until: string } }>(
      await post(app(), '/v1/factors/reset/identity', { reset_token: token, identity: identityOf(l) }), 200);
    assert.equal(waiting.reset.status, 'waiting');
    const hours = (Date.parse(waiting.reset.waits_until) - Date.now()) / 3_600_000;
    assert.ok(hours > 71.9 && hours <= 72, `waits ${hours} h`);
    return { id: started.reset.id, token };
  }

  it('lost everything: person and mailbox re-verified, 72 h told on every channel with money-out capped, then the old factors go', async () => {
    const l = await linkedHolder(world, picker);
    const user = l.wallet;
    await topUp(app(), user.token, 50_000);
    const merchant = await newMerchant(app());
    const { id, token } = await resetToWaiting(l);
    const waitMail = (await outbox(app(), user.email.toLowerCase())).find((m) => m.subject === 'Your koza second factors will be reset')!;
    assert.match(waitMail.body, /\d{4}-\d{2}-\d{2} \d{2}:\d{2} JST/);
    assert.match((await outbox(app(), await phoneOf(user.walletId)))[0]!.body, /second factors will be reset/);
    // Money-out capped as after a contact change, in yen.
    const capped = expectProblem(await post(app(), '/v1/payments', { merchant_id: merchant.merchantId, amount: 15_000 }, { token: user.token }),
      403, 'money-out-limited-after-contact-change');
    assert.equal(capped.remaining_yen, 10_000);
    assert.equal(await walletBalance(app(), user.token), 50_000);
    // Nothing shortens the wait: completing early is refused, from any client; a new start does not restart it.
    expectProblem(await post(app(), '/v1/factors/reset', { login_challenge: await stuckSignIn(user) }), 409, 'factor-reset-open');
    expectProblem(await post(app(), '/v1/factors/reset', {}, { token: user.token }), 409, 'factor-reset-open');
    await post(app(), '/v1/factors/reset/email-code', { reset_token: token });
    const early = expectProblem(await post(app(), '/v1/factors/reset/complete', { reset_token: token, code: '123456' }), 409, 'factor-reset-waiting');
    assert.match(early.detail, /JST/);
    assert.equal((await activeFactors(user.walletId)).length, 1);

    await db().query(`UPDATE factor_resets SET waits_until = now() - interval '1 second' WHERE id = $1`, [id]);
    expectJson(await post(app(), '/v1/factors/reset/email-code', { reset_token: token }), 202);
    const code = await mailCode(user.email, 'Finish resetting your koza second factors');
    const done = expectJson<{ reset: { status: string } }>(await post(app(), '/v1/factors/reset/complete', { reset_token: token, code }), 200);
    assert.equal(done.reset.status, 'completed');
    assert.deepEqual(await activeFactors(user.walletId), []);
    assert.equal(await liveRecovery(user.walletId), 0);
    // The hold outlives the wait (a thief who got this far is slowed); the owner enrols a new app with a mailbox proof.
    expectProblem(await post(app(), '/v1/payments', { merchant_id: merchant.merchantId, amount: 15_000 }, { token: user.token }), 403, 'money-out-limited-after-contact-change');
    expectJson(await post(app(), '/v1/factors/email-code', {}, { token: user.token }), 202);
    const enrol = await mailCode(user.email, 'Your koza code to add a second factor');
    const started = expectJson<{ factor: { id: string }; secret: string }>(await post(app(), '/v1/factors/totp', { email_code: enrol }, { token: user.token }), 201);
    expectJson(await post(app(), `/v1/factors/totp/${started.factor.id}/confirm`, { code: totpCodeAt(started.secret, Date.now()) }, { token: user.token }), 200);
    assert.deepEqual((await activeFactors(user.walletId)).map((f) => f.id), [started.factor.id]);
  });

  it('the owner cancels a reset by using a factor (the cap ends) or by "this was not me" (the cap stays)', async () => {
    const l = await linkedHolder(world, picker);
    const user = l.wallet;
    const first = await resetToWaiting(l);
    await stepUpProof(app(), user, l.totp, { action: 'recovery_codes' });
    const row = (await db().query<{ status: string; cancelled_via: string }>('SELECT status, cancelled_via FROM factor_resets WHERE id = $1', [first.id])).rows[0]!;
    assert.deepEqual([row.status, row.cancelled_via], ['cancelled', 'factor']);
    const holds = async () => Number((await db().query<{ n: string | number }>(
      `SELECT count(*) AS n FROM contact_change_holds WHERE wallet_id = $1 AND change = 'factor_reset' AND ends_at > now()`, [user.walletId])).rows[0]!.n);
    assert.equal(await holds(), 0);
    expectProblem(await post(app(), '/v1/factors/reset/complete', { reset_token: first.token, code: '123456' }), 409, 'factor-reset-closed');

    const second = await resetToWaiting(l);
    const sms = (await outbox(app(), await phoneOf(user.walletId)))[0]!.body;
    const cancelToken = /(krc_[A-Za-z0-9_-]{43})/.exec(sms)![1]!;
    const cancelled = expectJson<{ reset: { status: string } }>(await post(app(), '/v1/factors/reset/cancel', { cancel_token: cancelToken }), 200);
    assert.equal(cancelled.reset.status, 'cancelled');
    assert.equal(await holds(), 1);
    assert.equal((await activeFactors(user.walletId)).length, 1);
    expectProblem(await post(app(), '/v1/factors/reset/complete', { reset_token: second.token, code: '123456' }), 409, 'factor-reset-closed');

    // A sign-in from a new device during the wait cannot go around it: it needs a factor, and using one cancels the reset.
    const third = await resetToWaiting(l);
    const challenge = await stuckSignIn(user);
    expectJson(await post(app(), '/v1/sessions/second-factor', { login_challenge: challenge, code: l.totp.approval().code }), 201);
    assert.equal((await db().query<{ status: string }>('SELECT status FROM factor_resets WHERE id = $1', [third.id])).rows[0]!.status, 'cancelled');
    assert.ok((await outbox(app(), user.email.toLowerCase())).some((m) => m.subject === 'The reset of your koza second factors was cancelled'));
  });

  it('a stolen session cannot use it: no person, no mailbox, no wait shortened; the factors and money stay', async () => {
    const l = await linkedHolder(world, picker);
    const owner = l.wallet;
    const thief = expectJson<{ token: string }>(await post(app(), '/v1/sessions', { email: owner.email, password: DEFAULT_PASSWORD }), 201);
    const started = expectJson<{ reset_token: string; reset: { id: string } }>(await post(app(), '/v1/factors/reset', {}, { token: thief.token }), 201);
    assert.ok((await outbox(app(), owner.email.toLowerCase())).some((m) => m.subject === 'Reset the second factors of your koza wallet?'),
      'the owner reads that someone asked');
    // The thief's face is not the owner's (the liveness stand-in); the thief's own documents are another person.
    expectProblem(await post(app(), '/v1/factors/reset/identity', { reset_token: started.reset_token, identity: identityOf(l, 'sandbox-selfie-mismatch') }),
      422, 'factor-reset-identity-not-confirmed');
    expectProblem(await post(app(), '/v1/factors/reset/mailbox', { reset_token: started.reset_token, code: '000000' }), 422, 'verification-failed');
    const state = (await db().query<{ status: string; verification_id: string | null; mailbox_confirmed_at: Date | null }>(
      'SELECT status, verification_id, mailbox_confirmed_at FROM factor_resets WHERE id = $1', [started.reset.id])).rows[0]!;
    assert.deepEqual([state.status, state.verification_id, state.mailbox_confirmed_at], ['verifying', null, null]);
    expectProblem(await post(app(), '/v1/factors/reset/complete', { reset_token: started.reset_token, code: '000000' }), 409, 'factor-reset-waiting');
    // The session cannot enrol an app of its own, nor replace the owner's without the owner's factor.
    const [ownerApp] = await activeFactors(owner.walletId);
    expectProblem(await post(app(), '/v1/factors/totp', { replaces: ownerApp!.id }, { token: thief.token }), 403, 'step-up-required');
    expectProblem(await post(app(), '/v1/factors/totp', {}, { token: thief.token }), 409, 'totp-already-enrolled');
    assert.equal((await activeFactors(owner.walletId)).length, 1);
    assert.equal(await liveRecovery(owner.walletId), 10);
    assert.equal(Number((await db().query<{ n: string | number }>(
      `SELECT count(*) AS n FROM contact_change_holds WHERE wallet_id = $1`, [owner.walletId])).rows[0]!.n), 0, 'nothing started, nothing capped');
  });
});
