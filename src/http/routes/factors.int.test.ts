// Tests the second-factor and step-up routes over HTTP on PGlite and PostgreSQL: TOTP and passkey enrolment with a
// software authenticator, step-up approval with each factor, factor removal, recovery codes, and bad input as problems.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { forEachBackend } from '../../../test-support/backends.js';
import {
  expectJson, expectProblem, get, outbox, post, signUpVerified, testApp, type SignedUp,
} from '../../../test-support/api-client.js';
import { SoftAuthenticator } from '../../../test-support/soft-authenticator.js';
import type { App } from '../context.js';
import { totpCodeAt } from '../../identity/factors/totp.js';
import { webauthnChallengeFor } from '../../identity/step-up-binding.js';
import type { Yen } from '../../money.js';

interface Enrolled { factor: { id: string; kind: string }; recovery_codes: string[] | null; session: { token: string } }
interface Created { challenge: { id: string; status: string; description: string }; methods: string[]; webauthn: any }
interface Proof { proof: string; action: string; amount: number | null; destination: string | null; expires_at: string }

/** The code an authenticator app shows `ahead` steps from now: each use in a test takes a fresh step. */
const codeAt = (secret: string, ahead = 0) => totpCodeAt(secret, Date.now() + ahead * 30_000);

forEachBackend('second factors and step-up over HTTP', (db) => {
  let app: App;
  before(async () => {
    app = await testApp(db());
  });

  async function enrolTotp(user: SignedUp, stepUpProof?: string): Promise<{ secret: string; enrolled: Enrolled }> {
    const started = expectJson<{ factor: { id: string }; secret: string }>(
      await post(app, '/v1/factors/totp', stepUpProof ? { step_up_proof: stepUpProof } : {}, { token: user.token }), 201);
    const enrolled = expectJson<Enrolled>(
      await post(app, `/v1/factors/totp/${started.factor.id}/confirm`, { code: codeAt(started.secret) }, { token: user.token }), 200);
    user.token = enrolled.session.token;
    return { secret: started.secret, enrolled };
  }

  async function enrolPasskey(user: SignedUp, authenticator: SoftAuthenticator, stepUpProof?: string): Promise<Enrolled> {
    const started = expectJson<{ factor: { id: string }; options: any }>(
      await post(app, '/v1/factors/passkeys', { label: 'Soft key', ...(stepUpProof ? { step_up_proof: stepUpProof } : {}) }, { token: user.token }), 201);
    const enrolled = expectJson<Enrolled>(await post(app, `/v1/factors/passkeys/${started.factor.id}/confirm`,
      { credential: authenticator.register(started.options) }, { token: user.token }), 200);
    user.token = enrolled.session.token;
    return enrolled;
  }

  async function challenge(user: SignedUp, body: Record<string, unknown>): Promise<Created> {
    return expectJson<Created>(await post(app, '/v1/step-up/challenges', body, { token: user.token }), 201);
  }

  async function proofWith(user: SignedUp, body: Record<string, unknown>, presentation: (c: Created) => Record<string, unknown>): Promise<Proof> {
    const created = await challenge(user, body);
    return expectJson<Proof>(await post(app, `/v1/step-up/challenges/${created.challenge.id}/approve`, presentation(created), { token: user.token }), 201);
  }

  it('TOTP enrolment: secret, otpauth URI and QR code; a current code activates it, rotates the session and hands out recovery codes once', async () => {
    const user = await signUpVerified(app);
    const oldToken = user.token;
    const started = expectJson<{ factor: { id: string; status: string }; secret: string; otpauth_uri: string; qr_svg: string; expires_at: string }>(
      await post(app, '/v1/factors/totp', { label: 'My phone' }, { token: user.token }), 201);
    assert.equal(started.factor.status, 'pending');
    assert.match(started.secret, /^[A-Z2-7]{32}$/);
    const uri = new URL(started.otpauth_uri);
    assert.equal(uri.searchParams.get('issuer'), 'koza');
    assert.equal(uri.searchParams.get('secret'), started.secret);
    assert.ok(decodeURIComponent(uri.pathname).endsWith(`:${user.email}`));
    assert.match(started.qr_svg, /^<svg /);
    // Pending factors do not count, and a wrong code does not activate.
    assert.deepEqual(expectJson(await get(app, '/v1/factors', user.token), 200).data, []);
    expectProblem(await post(app, `/v1/factors/totp/${started.factor.id}/confirm`, { code: codeAt(started.secret, 5) }, { token: user.token }),
      422, 'second-factor-rejected');

    const enrolled = expectJson<Enrolled>(
      await post(app, `/v1/factors/totp/${started.factor.id}/confirm`, { code: codeAt(started.secret) }, { token: user.token }), 200);
    assert.equal(enrolled.factor.kind, 'totp');
    assert.equal(enrolled.recovery_codes?.length, 10);
    assert.notEqual(enrolled.session.token, oldToken);
    expectProblem(await get(app, '/v1/factors', oldToken), 401);
    user.token = enrolled.session.token;

    const listed = expectJson(await get(app, '/v1/factors', user.token), 200).data;
    assert.deepEqual(listed.map((f: any) => [f.id, f.kind, f.label, f.status]), [[started.factor.id, 'totp', 'My phone', 'active']]);
    assert.ok(!JSON.stringify(listed).includes(started.secret));
    assert.deepEqual(expectJson(await get(app, '/v1/factors/state', user.token), 200), {
      second_factor_enrolled: true, totp_enrolled: true, passkeys: 0, recovery_codes_remaining: 10, locked_factors: [],
    });
    const mail = await outbox(app, user.email.toLowerCase());
    assert.ok(mail.some((m) => m.subject === 'A second factor was added to your koza wallet'));
    // Secrets at rest: the TOTP secret sealed, recovery codes hashed, and neither in a stored idempotent response.
    const stored = await db().query<{ text: string }>(
      `SELECT coalesce(f.totp_secret_sealed, '') || (SELECT string_agg(c.code_hash, ',') FROM recovery_codes c
          JOIN recovery_code_batches b ON b.id = c.batch_id WHERE b.wallet_id = f.wallet_id) AS text
         FROM second_factors f WHERE f.id = $1`, [started.factor.id]);
    const responses = await db().query<{ response_body: string }>('SELECT response_body FROM idempotency_keys WHERE scope = $1', [user.walletId]);
    for (const haystack of [stored.rows[0]!.text, ...responses.rows.map((r) => r.response_body)]) {
      assert.ok(!haystack.includes(started.secret));
      for (const code of enrolled.recovery_codes!) assert.ok(!haystack.includes(code));
    }
  });

  it('one authenticator app per wallet; adding a passkey to a wallet with a factor needs a proof for factor_enrollment', async () => {
    const user = await signUpVerified(app);
    const { secret } = await enrolTotp(user);
    expectProblem(await post(app, '/v1/factors/totp', {}, { token: user.token }), 409, 'totp-already-enrolled');
    expectProblem(await post(app, '/v1/factors/passkeys', {}, { token: user.token }), 403, 'step-up-required');
    const proof = await proofWith(user, { action: 'factor_enrollment' }, () => ({ method: 'totp', code: codeAt(secret, 1) }));
    const enrolled = await enrolPasskey(user, new SoftAuthenticator(), proof.proof);
    assert.equal(enrolled.recovery_codes, null, 'recovery codes come with the first factor only');
    expectProblem(await post(app, '/v1/factors/passkeys', { step_up_proof: proof.proof }, { token: user.token }), 403, 'step-up-proof-invalid');
  });

  it('passkey: a registration ceremony, then a step-up whose WebAuthn challenge commits to the exact amount and destination', async () => {
    const user = await signUpVerified(app);
    const authenticator = new SoftAuthenticator();
    const enrolled = await enrolPasskey(user, authenticator);
    assert.equal(enrolled.factor.kind, 'passkey');
    assert.equal(enrolled.recovery_codes?.length, 10);

    const small = await challenge(user, { action: 'payment', amount: 10_000, destination: 'mer_A' });
    assert.deepEqual(small.methods, ['passkey', 'recovery_code']);
    assert.equal(small.challenge.description, 'Pay ¥10,000 to mer_A');
    assert.equal(small.webauthn.challenge,
      webauthnChallengeFor(small.challenge.id, { action: 'payment', amount: 10_000 as Yen, destination: 'mer_A' }));
    assert.equal(small.webauthn.userVerification, 'required');
    const signedForSmall = authenticator.assert(small.webauthn);

    // The signature over the ¥10,000 challenge does not approve a ¥600,000 one.
    const big = await challenge(user, { action: 'payment', amount: 600_000, destination: 'mer_A' });
    expectProblem(await post(app, `/v1/step-up/challenges/${big.challenge.id}/approve`, { method: 'passkey', credential: signedForSmall },
      { token: user.token }), 422, 'second-factor-rejected');

    const proof = expectJson<Proof>(await post(app, `/v1/step-up/challenges/${small.challenge.id}/approve`,
      { method: 'passkey', credential: signedForSmall }, { token: user.token }), 201);
    assert.deepEqual([proof.action, proof.amount, proof.destination], ['payment', 10_000, 'mer_A']);
    assert.match(proof.proof, /^kzp_/);
    const counter = await db().query<{ sign_count: number }>(
      'SELECT sign_count FROM webauthn_credentials WHERE factor_id = $1', [enrolled.factor.id]);
    assert.equal(counter.rows[0]!.sign_count, 1, 'the counter of the verified assertion is stored');
    const next = await challenge(user, { action: 'payment', amount: 600_000, destination: 'mer_A' });
    expectJson(await post(app, `/v1/step-up/challenges/${next.challenge.id}/approve`,
      { method: 'passkey', credential: authenticator.assert(next.webauthn) }, { token: user.token }), 201);
    const after = await db().query<{ sign_count: number }>('SELECT sign_count FROM webauthn_credentials WHERE factor_id = $1', [enrolled.factor.id]);
    assert.equal(after.rows[0]!.sign_count, 2);
    assert.equal(expectJson(await get(app, `/v1/step-up/challenges/${small.challenge.id}`, user.token), 200).status, 'approved');
  });

  it('a passkey registration answer is single use and bound to its origin', async () => {
    const user = await signUpVerified(app);
    const authenticator = new SoftAuthenticator();
    const started = expectJson<{ factor: { id: string }; options: any }>(await post(app, '/v1/factors/passkeys', {}, { token: user.token }), 201);
    expectProblem(await post(app, `/v1/factors/passkeys/${started.factor.id}/confirm`,
      { credential: authenticator.register(started.options, { origin: 'https://evil.example' }) }, { token: user.token }), 422, 'second-factor-rejected');
    // The challenge was spent by the wrong answer: even a right one is now refused.
    expectProblem(await post(app, `/v1/factors/passkeys/${started.factor.id}/confirm`,
      { credential: authenticator.register(started.options) }, { token: user.token }), 409, 'enrollment-expired');
    assert.equal(expectJson(await get(app, '/v1/factors/state', user.token), 200).second_factor_enrolled, false);
  });

  it('removal needs a proof bound to that factor; the last one goes with the recovery codes; each change is e-mailed', async () => {
    const user = await signUpVerified(app);
    const authenticator = new SoftAuthenticator();
    const passkey = await enrolPasskey(user, authenticator);
    const codes = passkey.recovery_codes!;
    const enrolProof = await proofWith(user, { action: 'factor_enrollment' }, (c) => ({ method: 'passkey', credential: authenticator.assert(c.webauthn) }));
    const { enrolled: totp } = await enrolTotp(user, enrolProof.proof);

    expectProblem(await post(app, `/v1/factors/${totp.factor.id}/remove`, {}, { token: user.token }), 400);
    // A proof for removing the passkey does not remove the TOTP factor.
    const wrongTarget = await proofWith(user, { action: 'factor_removal', destination: passkey.factor.id },
      (c) => ({ method: 'passkey', credential: authenticator.assert(c.webauthn) }));
    expectProblem(await post(app, `/v1/factors/${totp.factor.id}/remove`, { step_up_proof: wrongTarget.proof }, { token: user.token }),
      403, 'step-up-proof-invalid');
    const rightTarget = await proofWith(user, { action: 'factor_removal', destination: totp.factor.id },
      (c) => ({ method: 'passkey', credential: authenticator.assert(c.webauthn) }));
    const before = user.token;
    const removed = expectJson<{ factor: { status: string }; session: { token: string } }>(
      await post(app, `/v1/factors/${totp.factor.id}/remove`, { step_up_proof: rightTarget.proof }, { token: user.token }), 200);
    assert.equal(removed.factor.status, 'removed');
    expectProblem(await get(app, '/v1/factors', before), 401);
    user.token = removed.session.token;

    // The last factor, removed with a recovery code (the lost-phone path): allowed while no bank account is linked.
    const last = await proofWith(user, { action: 'factor_removal', destination: passkey.factor.id }, () => ({ method: 'recovery_code', code: codes[0] }));
    user.token = expectJson<{ session: { token: string } }>(
      await post(app, `/v1/factors/${passkey.factor.id}/remove`, { step_up_proof: last.proof }, { token: user.token }), 200).session.token;
    assert.deepEqual(expectJson(await get(app, '/v1/factors/state', user.token), 200), {
      second_factor_enrolled: false, totp_enrolled: false, passkeys: 0, recovery_codes_remaining: 0, locked_factors: [],
    });
    expectProblem(await post(app, '/v1/step-up/challenges', { action: 'recovery_codes' }, { token: user.token }), 409, 'second-factor-required');
    const subjects = (await outbox(app, user.email.toLowerCase())).map((m) => m.subject);
    assert.equal(subjects.filter((s) => s === 'A second factor was removed from your koza wallet').length, 2);
    assert.equal(subjects.filter((s) => s === 'A second factor was added to your koza wallet').length, 2);
  });

  it('recovery codes: replacing them needs a fresh proof and voids the old ones', async () => {
    const user = await signUpVerified(app);
    const { secret, enrolled } = await enrolTotp(user);
    const oldCodes = enrolled.recovery_codes!;
    expectProblem(await post(app, '/v1/factors/recovery-codes', {}, { token: user.token }), 400);
    const proof = await proofWith(user, { action: 'recovery_codes' }, () => ({ method: 'totp', code: codeAt(secret, 1) }));
    const fresh = expectJson<{ recovery_codes: string[] }>(
      await post(app, '/v1/factors/recovery-codes', { step_up_proof: proof.proof }, { token: user.token }), 201).recovery_codes;
    assert.equal(fresh.length, 10);
    assert.equal(fresh.filter((c) => oldCodes.includes(c)).length, 0);
    const c = await challenge(user, { action: 'payment', amount: 500, destination: 'mer_Z' });
    expectProblem(await post(app, `/v1/step-up/challenges/${c.challenge.id}/approve`, { method: 'recovery_code', code: oldCodes[0] },
      { token: user.token }), 422, 'second-factor-rejected');
    expectJson(await post(app, `/v1/step-up/challenges/${c.challenge.id}/approve`, { method: 'recovery_code', code: fresh[0] },
      { token: user.token }), 201);
  });

  it('five wrong TOTP codes lock the factor (429 with the end of the lock) and the state shows it', async () => {
    const user = await signUpVerified(app);
    const { secret, enrolled } = await enrolTotp(user);
    for (let i = 0; i < 5; i++) {
      const c = await challenge(user, { action: 'withdrawal', amount: 1_000, destination: 'lnk_X' });
      expectProblem(await post(app, `/v1/step-up/challenges/${c.challenge.id}/approve`, { method: 'totp', code: `00000${i}` },
        { token: user.token }), 422, 'second-factor-rejected');
    }
    const c = await challenge(user, { action: 'withdrawal', amount: 1_000, destination: 'lnk_X' });
    const locked = expectProblem(await post(app, `/v1/step-up/challenges/${c.challenge.id}/approve`, { method: 'totp', code: codeAt(secret, 1) },
      { token: user.token }), 429, 'second-factor-locked');
    assert.ok(Date.parse(locked.locked_until) > Date.now() + 14 * 60_000);
    // Every 429 says when (issue 11): the lock's end, as Retry-After, retry_at and a JST time in the detail.
    assert.ok(Math.abs(Date.parse(locked.retry_at) - Date.parse(locked.locked_until)) < 2_000, `${locked.retry_at} ${locked.locked_until}`);
    assert.match(locked.detail, /Try again after \d{4}-\d{2}-\d{2} \d{2}:\d{2} JST\.$/);
    assert.deepEqual(expectJson(await get(app, '/v1/factors/state', user.token), 200).locked_factors, [enrolled.factor.id]);
  });

  it('bad input is a 4xx problem: missing key, wrong code format, unknown challenge, wrong factor type, wrong fields', async () => {
    const user = await signUpVerified(app);
    const { enrolled } = await enrolTotp(user);
    // The header schema refuses a missing key before the handler runs: a 400 that names the header.
    for (const [url, body] of [['/v1/step-up/challenges', { action: 'recovery_codes' }], ['/v1/factors/totp', {}],
      ['/v1/step-up/challenges/stp_x/approve', { method: 'totp', code: '123456' }]] as const) {
      const missing = expectProblem(await post(app, url, body, { token: user.token, key: null }), 400, 'invalid-request');
      assert.match(JSON.stringify(missing.errors), /idempotency-key/);
    }
    expectProblem(await post(app, '/v1/step-up/challenges', { action: 'recovery_codes' }), 401, 'unauthenticated');
    const c = await challenge(user, { action: 'payment', amount: 10_000, destination: 'mer_A' });
    const approve = (body: unknown) => post(app, `/v1/step-up/challenges/${c.challenge.id}/approve`, body, { token: user.token });
    for (const code of ['12345', '1234567', 'abcdef', 123456]) expectProblem(await approve({ method: 'totp', code }), 400, 'invalid-request');
    expectProblem(await approve({ method: 'sms', code: '123456' }), 400, 'invalid-request');
    expectProblem(await approve({ method: 'totp', code: '123456', extra: 1 }), 400, 'invalid-request');
    // A factor kind the wallet does not have: refused, and not counted against the challenge.
    const noPasskey = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: 'AAAA', authenticatorData: 'AAAA', signature: 'AAAA' } };
    expectProblem(await approve({ method: 'passkey', credential: noPasskey }), 409, 'second-factor-not-enrolled');
    assert.equal(expectJson(await get(app, `/v1/step-up/challenges/${c.challenge.id}`, user.token), 200).attempts_left, 5);
    expectProblem(await post(app, '/v1/step-up/challenges/stp_doesnotexist/approve', { method: 'totp', code: '123456' },
      { token: user.token }), 404, 'not-found');
    expectProblem(await get(app, '/v1/step-up/challenges/stp_doesnotexist', user.token), 404, 'not-found');
    expectProblem(await get(app, '/v1/step-up/challenges/not-an-id', user.token), 400, 'invalid-request');
    // Another wallet's challenge is as unknown as a made-up one.
    const stranger = await signUpVerified(app);
    expectProblem(await get(app, `/v1/step-up/challenges/${c.challenge.id}`, stranger.token), 404, 'not-found');
    for (const body of [
      { action: 'payment', destination: 'mer_A' }, { action: 'payment', amount: 100 }, { action: 'recovery_codes', amount: 100 },
      { action: 'payment', amount: 0, destination: 'mer_A' }, { action: 'payment', amount: 1.5, destination: 'mer_A' },
      { action: 'payment', amount: '100', destination: 'mer_A' }, { action: 'steal', amount: 100, destination: 'mer_A' },
      { action: 'payment', amount: 100, destination: 'has space' },
    ]) expectProblem(await post(app, '/v1/step-up/challenges', body, { token: user.token }), 400, 'invalid-request');
    expectProblem(await post(app, '/v1/step-up/challenges', { action: 'factor_removal', destination: 'fac_unknown' }, { token: user.token }), 404);
    expectProblem(await post(app, `/v1/factors/totp/${enrolled.factor.id}/confirm`, { code: '123456' }, { token: user.token }), 409, 'conflict');
    expectProblem(await post(app, '/v1/factors/totp/fac_unknown/confirm', { code: '123456' }, { token: user.token }), 404, 'not-found');
    expectProblem(await post(app, '/v1/factors/passkeys', { label: '' }, { token: user.token }), 400, 'invalid-request');
  });

  it('the OpenAPI document describes every factor and step-up route with its schemas', async () => {
    const doc = expectJson<{ paths: Record<string, Record<string, any>> }>(await get(app, '/openapi.json'), 200);
    const expected: Array<[string, string]> = [
      ['/v1/factors', 'get'], ['/v1/factors/state', 'get'], ['/v1/factors/totp', 'post'], ['/v1/factors/totp/{id}/confirm', 'post'],
      ['/v1/factors/passkeys', 'post'], ['/v1/factors/passkeys/{id}/confirm', 'post'], ['/v1/factors/{id}/remove', 'post'],
      ['/v1/factors/recovery-codes', 'post'], ['/v1/step-up/challenges', 'post'], ['/v1/step-up/challenges/{id}', 'get'],
      ['/v1/step-up/challenges/{id}/approve', 'post'],
    ];
    for (const [path, method] of expected) {
      const operation = doc.paths[path]?.[method];
      assert.ok(operation, `${method.toUpperCase()} ${path} is in the document`);
      assert.ok(operation.summary, `${path} has a summary`);
      assert.deepEqual(operation.security, [{ session: [] }]);
      assert.ok(Object.keys(operation.responses).some((s) => s.startsWith('2')), `${path} documents its success`);
      assert.ok(operation.responses['401'], `${path} documents 401`);
      if (method === 'post') {
        assert.ok(operation.parameters?.some((p: any) => p.in === 'header' && p.name === 'idempotency-key'), `${path} takes Idempotency-Key`);
        assert.ok(operation.requestBody, `${path} documents its body`);
      }
    }
  });
});
