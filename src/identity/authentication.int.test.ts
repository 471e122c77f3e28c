// Authentication at the right moments (issue 10): a second factor from an unseen device, a mailbox proof for the first
// factor, failed sign-ins in the risk engine and password spraying, phone and e-mail changes that need a step-up, tell
// the old channel and cap money-out.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { forEachBackend } from '../../test-support/backends.js';
import {
  expectJson, expectProblem, get, newMerchant, outbox, post, signUpPaying, signUpVerified, testApp, topUp, uniqueEmail,
  walletBalance, DEFAULT_PASSWORD, latestSmsCode, type SignedUp, type ApiResponse,
} from '../../test-support/api-client.js';
import { enrolTotp, stepUpProof, type Authenticator } from '../../test-support/links-for-tests.js';
import type { App } from '../http/context.js';

const laptop = { 'x-device-id': 'laptop-0123456789abcdef', 'user-agent': 'Laptop Browser' };
const thief = { 'x-device-id': 'thief-0123456789abcdef', 'user-agent': 'Other Browser' };

interface Challenge202 { status: string; login_challenge: string; methods: string[]; expires_at: string; webauthn: unknown }

function signIn(app: App, email: string, password: string, headers: Record<string, string>, remoteAddress?: string): Promise<ApiResponse> {
  return app.inject({
    method: 'POST', url: '/v1/sessions', payload: JSON.stringify({ email, password }),
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...headers },
    ...(remoteAddress ? { remoteAddress } : {}),
  });
}

forEachBackend('authentication at the right moments', (db) => {
  let app: App;
  before(async () => {
    app = await testApp(db());
  });
  after(async () => {
    await app.close();
  });

  const sessionsOf = async (walletId: string) =>
    Number((await db().query<{ n: string }>('SELECT count(*) AS n FROM sessions WHERE wallet_id = $1', [walletId])).rows[0]!.n);
  const deviceKeysOf = async (walletId: string) =>
    (await db().query<{ device_key: string }>('SELECT device_key FROM devices WHERE wallet_id = $1 ORDER BY first_seen_at', [walletId])).rows.map((r) => r.device_key);

  /** A wallet with an authenticator app, signed in once from the laptop (a device it knows). */
  async function walletWithFactor(): Promise<{ user: SignedUp; authenticator: Authenticator }> {
    const user = await signUpVerified(app);
    const authenticator = await enrolTotp(app, user);
    return { user, authenticator };
  }

  it('a right password from an unseen device opens no session until the second factor passes; then the device is known', async () => {
    const { user, authenticator } = await walletWithFactor();
    const before = await sessionsOf(user.walletId);
    const challenged = expectJson<Challenge202>(await signIn(app, user.email, DEFAULT_PASSWORD, thief), 202);
    assert.equal(challenged.status, 'second_factor_required');
    assert.match(challenged.login_challenge, /^lgc_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(challenged.methods, ['totp', 'recovery_code']);
    // The answer says, in both languages, how the owner gets through with what they have.
    assert.deepEqual((challenged as unknown as { next_step: unknown }).next_step, {
      ja: '認証アプリのコード、リカバリーコードのいずれかで承認すると、続けて操作できます。',
      en: 'Approve it with a code from your authenticator app or a recovery code, then the action goes ahead.',
    });
    const expiresIn = Date.parse(challenged.expires_at) - Date.now();
    assert.ok(expiresIn > 4 * 60_000 && expiresIn <= 5 * 60_000, `expires in ${expiresIn} ms`);
    assert.equal(await sessionsOf(user.walletId), before, 'no session yet');
    assert.ok(!(await deviceKeysOf(user.walletId)).includes(`id:${thief['x-device-id']}`), 'the device is not seen yet');

    // A wrong code: the same words whatever the factor; counted.
    const wrong = expectProblem(await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code: '000000' }), 422, 'second-factor-rejected');
    assert.equal(wrong.attempts_left, 4);
    const wrongRecovery = expectProblem(await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code: 'aaaaa-bbbbb' }), 422, 'second-factor-rejected');
    assert.equal(wrongRecovery.detail, wrong.detail);

    const done = expectJson<{ token: string; wallet_id: string }>(
      await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code: authenticator.totp()! }), 201);
    assert.equal(done.wallet_id, user.walletId);
    expectJson(await get(app, '/v1/wallet', done.token), 200);
    assert.ok((await deviceKeysOf(user.walletId)).includes(`id:${thief['x-device-id']}`), 'the device is seen now');
    const notice = (await outbox(app, user.email)).find((m) => m.subject === 'New sign-in to your koza wallet');
    assert.ok(notice, 'the owner hears of the new device');

    // Single use; and the device is known now, so the password alone opens a session there.
    expectProblem(await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code: authenticator.totp()! }), 409, 'login-challenge-closed');
    expectJson(await signIn(app, user.email, DEFAULT_PASSWORD, thief), 201);
  });

  it('five wrong answers close the login challenge and count toward the factor lockout', async () => {
    const { user } = await walletWithFactor();
    const challenged = expectJson<Challenge202>(await signIn(app, user.email, DEFAULT_PASSWORD, thief), 202);
    for (let i = 0; i < 5; i++) {
      expectProblem(await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code: '111111' }), 422, 'second-factor-rejected');
    }
    expectProblem(await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code: '222222' }), 409, 'login-challenge-closed');
    const factor = (await db().query<{ locked_until: Date | null; lockouts: number }>(
      `SELECT locked_until, lockouts FROM second_factors WHERE wallet_id = $1 AND status = 'active'`, [user.walletId])).rows[0]!;
    assert.ok(factor.locked_until && new Date(factor.locked_until) > new Date(), 'the factor locked after five wrong codes');
    const signals = (await db().query<{ kind: string }>('SELECT kind FROM risk_signals WHERE wallet_id = $1', [user.walletId])).rows.map((r) => r.kind);
    assert.ok(signals.includes('login_challenge_locked') && signals.includes('second_factor_locked'));
    const failures = (await db().query<{ n: string }>(
      `SELECT count(*) AS n FROM risk_decisions WHERE wallet_id = $1 AND event_kind = 'login' AND features->>'login_failed' = 'true'`,
      [user.walletId])).rows[0]!;
    assert.equal(Number(failures.n), 5, 'each wrong second factor is a failed login event');
  });

  it('a recovery code completes a sign-in; a replayed request answers the same session', async () => {
    const { user, authenticator } = await walletWithFactor();
    // Fresh recovery codes through the API (a step-up with the app), as a customer replacing them would get.
    const proof = await stepUpProof(app, user, authenticator, { action: 'recovery_codes' });
    const codes = expectJson<{ recovery_codes: string[] }>(
      await post(app, '/v1/factors/recovery-codes', { step_up_proof: proof }, { token: user.token }), 201).recovery_codes;
    const challenged = expectJson<Challenge202>(await signIn(app, user.email, DEFAULT_PASSWORD, thief), 202);
    const key = randomUUID();
    const first = await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code: codes[0] }, { key });
    const again = await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code: codes[0] }, { key });
    const session = expectJson<{ token: string }>(first, 201);
    assert.equal(expectJson<{ token: string }>(again, 201).token, session.token);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    const left = (await db().query<{ n: string }>(
      `SELECT count(*) AS n FROM recovery_codes c JOIN recovery_code_batches b ON b.id = c.batch_id
        WHERE b.wallet_id = $1 AND b.revoked_at IS NULL AND c.used_at IS NULL`, [user.walletId])).rows[0]!;
    assert.equal(Number(left.n), codes.length - 1, 'the recovery code was spent once');
  });

  it('a wallet without a factor signs in from a new device as before, and its owner is told', async () => {
    const user = await signUpVerified(app);
    expectJson(await signIn(app, user.email, DEFAULT_PASSWORD, laptop), 201);
    assert.ok((await outbox(app, user.email)).some((m) => m.subject === 'New sign-in to your koza wallet'));
  });

  it('every wrong password is a login event with a failure for the risk engine', async () => {
    const user = await signUpVerified(app);
    for (let i = 0; i < 3; i++) expectProblem(await signIn(app, user.email, 'not the password at all', laptop), 401, 'login-failed');
    const rows = (await db().query<{ features: Record<string, unknown>; wallet_id: string }>(
      `SELECT features, wallet_id FROM risk_decisions WHERE wallet_id = $1 AND event_kind = 'login' ORDER BY seq`, [user.walletId])).rows;
    const failed = rows.filter((r) => r.features.login_failed === true);
    assert.equal(failed.length, 3);
    assert.deepEqual(failed.map((r) => r.features.login_failures_per_account_1h), [1, 2, 3]);
    // An e-mail with no wallet counts too (spraying tries names that do not exist), with no wallet on the decision.
    const nobody = uniqueEmail('nobody');
    expectProblem(await signIn(app, nobody, 'not the password at all', laptop), 401, 'login-failed');
    const anonymous = (await db().query<{ n: string }>(
      `SELECT count(*) AS n FROM risk_decisions WHERE wallet_id IS NULL AND event_kind = 'login' AND features->>'login_failed' = 'true'`)).rows[0]!;
    assert.ok(Number(anonymous.n) >= 1);
  });

  it('password spraying from one network: the honest customer there gets an e-mail code, an analyst an alert, nobody a denial', async () => {
    const net = `198.51.${100 + Math.floor(Math.random() * 50)}`;
    // Thirty accounts, one wrong password each, from thirty addresses in one /24.
    for (let i = 1; i <= 30; i++) {
      expectProblem(await signIn(app, uniqueEmail('sprayed'), 'Summer2024!', {}, `${net}.${i}`), 401, 'login-failed');
    }
    const alerts = (await db().query<{ n: string }>(
      `SELECT count(*) AS n FROM risk_alerts a JOIN risk_decisions d ON d.id = a.decision_id
        WHERE d.ip LIKE $1 AND d.rule_hits::text LIKE '%login-credential-stuffing-alert%'`, [`${net}.%`])).rows[0]!;
    assert.equal(Number(alerts.n), 1, 'one alert when the network reaches the mark');
    const customer = await signUpVerified(app);
    const ownPhone = { 'x-device-id': `phone-${randomUUID()}`, 'user-agent': 'Phone Browser' };
    const res = await signIn(app, customer.email, DEFAULT_PASSWORD, ownPhone, `${net}.77`);
    const challenged = expectJson<Challenge202>(res, 202);
    assert.deepEqual(challenged.methods, ['email_code']);
    assert.deepEqual((challenged as unknown as { next_step: { ja: string } }).next_step.ja, 'メールで届くコードで承認すると、続けて操作できます。');
    const mail = (await outbox(app, customer.email)).find((m) => m.subject === 'Your koza sign-in code')!;
    const code = /enter (\d{6})/.exec(mail.body)![1]!;
    expectProblem(await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code: code === '000000' ? '111111' : '000000' }), 422, 'second-factor-rejected');
    const session = expectJson<{ wallet_id: string }>(await post(app, '/v1/sessions/second-factor', { login_challenge: challenged.login_challenge, code }), 201);
    assert.equal(session.wallet_id, customer.walletId);
  });

  it('the first factor away from the sign-up device needs a code from the wallet\'s e-mail, which tells the owner', async () => {
    const owner = await signUpVerified(app);
    // A thief with the password signs in elsewhere (no factor yet: no second step) and tries to enrol their own app.
    const stolen = expectJson<{ token: string }>(
      await signIn(app, owner.email, DEFAULT_PASSWORD, { 'x-device-id': `thief-${randomUUID()}` }), 201);
    expectProblem(await post(app, '/v1/factors/totp', {}, { token: stolen.token }), 403, 'email-code-required');
    expectProblem(await post(app, '/v1/factors/totp', { email_code: '123456' }, { token: stolen.token }), 422, 'verification-failed');
    const sent = expectJson<{ email: string }>(await post(app, '/v1/factors/email-code', {}, { token: stolen.token }), 202);
    assert.equal(sent.email, owner.email);
    const mail = (await outbox(app, owner.email)).find((m) => m.subject === 'Your koza code to add a second factor');
    assert.ok(mail && /change your password/.test(mail.body), 'the owner reads what the code is for');
    // The owner (who reads the mail) can enrol from this device with the code; the thief, without it, cannot.
    const code = /Enter (\d{6})/.exec(mail.body)![1]!;
    expectJson(await post(app, '/v1/factors/totp', { email_code: code }, { token: stolen.token }), 201);
    assert.equal((await db().query(`SELECT 1 FROM second_factors WHERE wallet_id = $1 AND status = 'active'`, [owner.walletId])).rows.length, 0);
  });

  it('a phone change needs a step-up, tells the old number and e-mail, and caps money-out for 72 h', async () => {
    const user = await signUpPaying(app);
    const authenticator = await enrolTotp(app, user);
    await topUp(app, user.token, 50_000);
    const merchant = await newMerchant(app);
    const oldPhone = expectJson<{ wallet: { phone: string } }>(await get(app, '/v1/wallet', user.token), 200).wallet.phone;
    const newPhone = `+8190${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    expectProblem(await post(app, '/v1/phone', { phone: newPhone }, { token: user.token }), 403, 'step-up-required');
    const proof = await stepUpProof(app, user, authenticator, { action: 'phone_change' });
    expectJson(await post(app, '/v1/phone', { phone: newPhone, step_up_proof: proof }, { token: user.token }), 202);
    const verified = expectJson<{ phone: string; session: { token: string } }>(
      await post(app, '/v1/phone/verify', { code: await latestSmsCode(app, newPhone) }, { token: user.token }), 200);
    user.token = verified.session.token;
    assert.equal(verified.phone, newPhone);
    assert.match((await outbox(app, oldPhone))[0]!.body, /phone number was changed/);
    assert.ok((await outbox(app, user.email)).some((m) => m.subject === 'Your koza phone number was changed'));

    const refused = expectProblem(await post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 15_000 }, { token: user.token }),
      403, 'money-out-limited-after-contact-change');
    assert.equal(refused.remaining_yen, 10_000);
    assert.match(refused.detail, /¥10,000/);
    assert.match(refused.detail, /\d{4}-\d{2}-\d{2} \d{2}:\d{2} JST/);
    expectJson(await post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 8_000 }, { token: user.token }), 201);
    const second = expectProblem(await post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 3_000 }, { token: user.token }), 403);
    assert.equal(second.remaining_yen, 2_000);
    assert.equal(await walletBalance(app, user.token), 42_000, 'only the allowed ¥8,000 left the wallet');
    const hold = (await db().query<{ ends_at: Date; cap_per_24h: string }>('SELECT ends_at, cap_per_24h FROM contact_change_holds WHERE wallet_id = $1', [user.walletId])).rows[0]!;
    const hours = (new Date(hold.ends_at).getTime() - Date.now()) / 3_600_000;
    assert.ok(hours > 71.9 && hours <= 72, `hold for ${hours} h`);
    assert.equal(Number(hold.cap_per_24h), 10_000);
    // The hold ends: the payment goes through (with the owner's approval: ¥15,000 to a merchant never paid with one).
    await db().query(`UPDATE contact_change_holds SET ends_at = now() - interval '1 second', starts_at = now() - interval '73 hours' WHERE wallet_id = $1`, [user.walletId]);
    expectProblem(await post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 15_000 }, { token: user.token }), 403, 'step-up-required');
    const approved = await stepUpProof(app, user, authenticator, { action: 'payment', amount: 15_000, destination: merchant.merchantId });
    expectJson(await post(app, '/v1/payments', { merchant_id: merchant.merchantId, amount: 15_000, step_up_proof: approved }, { token: user.token }), 201);
  });

  it('an e-mail change sends a code to the new address, takes effect on it, and tells the old address and phone', async () => {
    const user = await signUpPaying(app);
    const authenticator = await enrolTotp(app, user);
    const phone = expectJson<{ wallet: { phone: string } }>(await get(app, '/v1/wallet', user.token), 200).wallet.phone;
    const fresh = uniqueEmail('moved');
    expectProblem(await post(app, '/v1/email', { email: fresh }, { token: user.token }), 403, 'step-up-required');
    const proof = await stepUpProof(app, user, authenticator, { action: 'email_change' });
    expectJson(await post(app, '/v1/email', { email: fresh, step_up_proof: proof }, { token: user.token }), 202);
    assert.equal(expectJson<{ wallet: { email: string } }>(await get(app, '/v1/wallet', user.token), 200).wallet.email, user.email, 'nothing changed yet');
    const code = /Enter (\d{6})/.exec((await outbox(app, fresh)).find((m) => m.subject === 'Confirm your new koza e-mail address')!.body)![1]!;
    const done = expectJson<{ wallet: { email: string }; money_out_limited_until: string }>(await post(app, '/v1/email/verify', { code }, { token: user.token }), 200);
    assert.equal(done.wallet.email, fresh);
    assert.ok(Date.parse(done.money_out_limited_until) > Date.now() + 71 * 3_600_000);
    assert.ok((await outbox(app, user.email)).some((m) => m.subject === 'Your koza e-mail address was changed'), 'the old address is told');
    assert.match((await outbox(app, phone))[0]!.body, /e-mail address was changed/);
    // The new address signs in (from the device the wallet knows); the old one no longer does.
    expectProblem(await signIn(app, user.email, DEFAULT_PASSWORD, {}), 401, 'login-failed');
    const signals = (await db().query<{ kind: string }>(`SELECT kind FROM risk_signals WHERE wallet_id = $1 AND kind = 'email_changed'`, [user.walletId])).rows.length;
    assert.equal(signals, 1);
  });

  it('an address another wallet holds answers the same and gets a notice, never a code', async () => {
    const user = await signUpVerified(app);
    const other = await signUpVerified(app);
    expectJson(await post(app, '/v1/email', { email: other.email }, { token: user.token }), 202);
    const mail = await outbox(app, other.email);
    assert.ok(mail.some((m) => m.subject === 'Someone tried to move a koza wallet to your e-mail'));
    assert.ok(!mail.some((m) => m.subject === 'Confirm your new koza e-mail address'));
  });
});
