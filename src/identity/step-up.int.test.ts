// Tests step-up challenges and proofs on the store, with a fixed clock, on PGlite and PostgreSQL: dynamic linking,
// expiry, single use, the challenge's 5 tries, TOTP replay and lockout, recovery codes.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { forEachBackend } from '../../test-support/backends.js';
import { signUpVerified, testApp } from '../../test-support/api-client.js';
import type { App } from '../http/context.js';
import type { Db, Queryable } from '../store/db.js';
import { KozaError } from '../errors.js';
import type { Yen } from '../money.js';
import { listRiskSignals } from '../risk/signals.js';
import { totpCodeAt } from './factors/totp.js';
import { confirmTotpEnrollment, startTotpEnrollment, type FactorEnv } from './factors/enrollment.js';
import { approveStepUpChallenge, consumeStepUpProof, createStepUpChallenge, type IssuedProof } from './step-up.js';
import { stepUpBinding } from './step-up-binding.js';
import type { Presentation } from './factors/verify.js';

const SECRET_KEY = randomBytes(32);
const RP = { id: 'localhost', name: 'koza', origins: ['http://localhost:8080'] };
// A fixed clock, 5 s into a TOTP step so that ±seconds never cross one by accident.
const T0 = new Date(Date.UTC(2026, 0, 1, 9, 0, 5));
const at = (seconds: number): FactorEnv => ({ secretKey: SECRET_KEY, rp: RP, now: new Date(T0.getTime() + seconds * 1000) });
const yen = (n: number) => n as Yen;

/** Runs fn in a transaction like runIdempotent does: a refusal that keeps writes commits them. Returns the refusal, if any. */
async function attempt<T>(db: Db, fn: (tx: Queryable) => Promise<T>): Promise<{ value?: T; error?: KozaError }> {
  let error: KozaError | undefined;
  const value = await db.transaction(async (tx) => {
    try {
      return await fn(tx);
    } catch (err) {
      if (!(err instanceof KozaError)) throw err;
      error = err;
      if (!err.keepWrites) throw err;
      return undefined;
    }
  }).catch((err: unknown) => {
    if (err === error) return undefined;
    throw err;
  });
  return error ? { error } : { value: value as T };
}

function refusal(result: { error?: KozaError }, code: string, status?: number): KozaError {
  assert.ok(result.error, `expected ${code}, got success`);
  assert.equal(result.error.code, code, result.error.message);
  if (status !== undefined) assert.equal(result.error.status, status);
  return result.error;
}

forEachBackend('step-up challenges and proofs', (db) => {
  let app: App;
  before(async () => {
    app = await testApp(db());
  });

  /** A wallet with an authenticator app enrolled at T0; returns its id, TOTP secret and recovery codes. */
  async function walletWithTotp(): Promise<{ walletId: string; secret: string; recoveryCodes: string[] }> {
    const { walletId } = await signUpVerified(app);
    // The sign-up's own session, on the device that verified the e-mail: the first factor needs no further mailbox proof.
    const sessionId = (await db().query<{ id: string }>('SELECT id FROM sessions WHERE wallet_id = $1', [walletId])).rows[0]!.id;
    const started = await db().transaction((tx) => startTotpEnrollment(tx, at(0), {
      walletId, label: undefined, stepUpProof: undefined, sessionId, emailCode: undefined,
    }));
    const done = await db().transaction((tx) => confirmTotpEnrollment(tx, at(0), {
      walletId, factorId: started.factor.id, code: totpCodeAt(started.secret, T0.getTime()),
    }));
    assert.equal(done.recoveryCodes?.length, 10);
    return { walletId, secret: started.secret, recoveryCodes: done.recoveryCodes! };
  }

  async function challenge(walletId: string, binding: Parameters<typeof stepUpBinding>[0], seconds: number) {
    return db().transaction((tx) => createStepUpChallenge(tx, at(seconds), { walletId, binding: stepUpBinding(binding) }));
  }

  function approve(walletId: string, challengeId: string, presentation: Presentation, seconds: number) {
    return attempt(db(), (tx) => approveStepUpChallenge(tx, at(seconds), { walletId, challengeId, presentation }));
  }

  /** A proof for ¥10,000 to mer_A, approved with the TOTP code 30 s after enrolment. */
  async function proofFor10000ToA(): Promise<{ walletId: string; issued: IssuedProof }> {
    const { walletId, secret } = await walletWithTotp();
    const created = await challenge(walletId, { action: 'payment', amount: yen(10_000), destination: 'mer_A' }, 30);
    assert.deepEqual(created.methods, ['totp', 'recovery_code']);
    assert.equal(created.webauthn, null);
    assert.equal(created.challenge.description, 'Pay ¥10,000 to mer_A');
    const approved = await approve(walletId, created.challenge.id, { method: 'totp', code: totpCodeAt(secret, T0.getTime() + 30_000) }, 30);
    assert.ok(approved.value, approved.error?.message);
    return { walletId, issued: approved.value };
  }

  const consume = (walletId: string, proof: string, amount: number, destination: string, seconds: number, action: 'payment' | 'withdrawal' = 'payment') =>
    attempt(db(), (tx) => consumeStepUpProof(tx, { walletId, proof, action, amount: yen(amount), destination, now: at(seconds).now }));

  it('a proof for ¥10,000 to A is refused for ¥600,000, for B, for another action and for another wallet; it then works once', async () => {
    const { walletId, issued } = await proofFor10000ToA();
    assert.match(issued.proof, /^kzp_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(issued.expiresAt, at(30 + 300).now);
    const other = await walletWithTotp();
    refusal(await consume(walletId, issued.proof, 600_000, 'mer_A', 40), 'step-up-proof-invalid', 403);
    refusal(await consume(walletId, issued.proof, 10_000, 'mer_B', 40), 'step-up-proof-invalid', 403);
    refusal(await consume(walletId, issued.proof, 10_000, 'mer_A', 40, 'withdrawal'), 'step-up-proof-invalid', 403);
    const stranger = refusal(await consume(other.walletId, issued.proof, 10_000, 'mer_A', 40), 'step-up-proof-invalid', 403);
    assert.equal(stranger.extensions.reason, 'unknown');
    // None of the refusals spent it: the exact action still goes through, once.
    assert.equal((await consume(walletId, issued.proof, 10_000, 'mer_A', 40)).error, undefined);
    const again = refusal(await consume(walletId, issued.proof, 10_000, 'mer_A', 41), 'step-up-proof-invalid', 403);
    assert.equal(again.extensions.reason, 'used');
  });

  it('a proof is refused after its five minutes, and a missing or made-up proof is refused', async () => {
    const { walletId, issued } = await proofFor10000ToA();
    const late = refusal(await consume(walletId, issued.proof, 10_000, 'mer_A', 30 + 300), 'step-up-proof-invalid', 403);
    assert.equal(late.extensions.reason, 'expired');
    const missing = await attempt(db(), (tx) => consumeStepUpProof(tx, {
      walletId, proof: undefined, action: 'payment', amount: yen(10_000), destination: 'mer_A', now: at(40).now,
    }));
    assert.equal(refusal(missing, 'step-up-required', 403).extensions.action, 'payment');
    refusal(await consume(walletId, `kzp_${randomBytes(32).toString('base64url')}`, 10_000, 'mer_A', 40), 'step-up-proof-invalid');
    refusal(await consume(walletId, 'kzp_short', 10_000, 'mer_A', 40), 'step-up-proof-invalid');
  });

  it('a proof spent in a transaction that rolls back (the payment failed) can be used again', async () => {
    const { walletId, issued } = await proofFor10000ToA();
    await assert.rejects(db().transaction(async (tx) => {
      await consumeStepUpProof(tx, { walletId, proof: issued.proof, action: 'payment', amount: yen(10_000), destination: 'mer_A', now: at(40).now });
      throw new Error('the bank said no');
    }), /the bank said no/);
    assert.equal((await consume(walletId, issued.proof, 10_000, 'mer_A', 41)).error, undefined);
  });

  it('a challenge is approved once, expires after five minutes, and its TOTP step cannot be replayed', async () => {
    const { walletId, secret } = await walletWithTotp();
    const first = await challenge(walletId, { action: 'withdrawal', amount: yen(5_000), destination: 'lnk_1' }, 30);
    const code = totpCodeAt(secret, T0.getTime() + 30_000);
    assert.ok((await approve(walletId, first.challenge.id, { method: 'totp', code }, 30)).value);
    const twice = refusal(await approve(walletId, first.challenge.id, { method: 'totp', code }, 31), 'step-up-challenge-closed', 409);
    assert.equal(twice.extensions.reason, 'approved');
    // The same code on a new challenge is a replay of a spent step.
    const second = await challenge(walletId, { action: 'withdrawal', amount: yen(5_000), destination: 'lnk_1' }, 31);
    refusal(await approve(walletId, second.challenge.id, { method: 'totp', code }, 31), 'second-factor-rejected', 422);
    // Five minutes later the challenge is closed, whatever is presented.
    const expired = refusal(await approve(walletId, second.challenge.id, { method: 'totp', code: totpCodeAt(secret, T0.getTime() + 331_000) }, 331),
      'step-up-challenge-closed', 409);
    assert.equal(expired.extensions.reason, 'expired');
  });

  it('five wrong tries kill the challenge and raise a risk signal, without locking a factor that had fewer', async () => {
    const { walletId, secret } = await walletWithTotp();
    const created = await challenge(walletId, { action: 'link', destination: 'bank_A:1234567' }, 30);
    const wrong: Presentation[] = [
      { method: 'totp', code: '000000' }, { method: 'recovery_code', code: 'zzzzz-zzzzz' }, { method: 'totp', code: '111111' },
      { method: 'recovery_code', code: 'yyyyy-yyyyy' }, { method: 'totp', code: '222222' },
    ];
    const left: unknown[] = [];
    for (const presentation of wrong) {
      left.push(refusal(await approve(walletId, created.challenge.id, presentation, 30), 'second-factor-rejected', 422).extensions.attempts_left);
    }
    assert.deepEqual(left, [4, 3, 2, 1, 0]);
    const dead = refusal(await approve(walletId, created.challenge.id, { method: 'totp', code: totpCodeAt(secret, T0.getTime() + 30_000) }, 30),
      'step-up-challenge-closed', 409);
    assert.equal(dead.extensions.reason, 'too_many_failures');
    const kinds = (await listRiskSignals(db(), walletId)).map((s) => s.kind);
    assert.ok(kinds.includes('step_up_challenge_locked'));
    assert.ok(!kinds.includes('second_factor_locked'));
    // The factor itself is not locked: a new challenge is approved by the right code.
    const fresh = await challenge(walletId, { action: 'link', destination: 'bank_A:1234567' }, 30);
    assert.ok((await approve(walletId, fresh.challenge.id, { method: 'totp', code: totpCodeAt(secret, T0.getTime() + 30_000) }, 30)).value);
  });

  it('five wrong TOTP codes in a row lock the factor for 15 minutes, then an hour; the lock is a risk signal', async () => {
    const { walletId, secret, recoveryCodes } = await walletWithTotp();
    const wrongCodes = async (seconds: number) => {
      for (let i = 0; i < 5; i++) {
        const created = await challenge(walletId, { action: 'recovery_codes' }, seconds);
        refusal(await approve(walletId, created.challenge.id, { method: 'totp', code: String(900_000 + i) }, seconds), 'second-factor-rejected');
      }
    };
    await wrongCodes(60);
    const during = await challenge(walletId, { action: 'recovery_codes' }, 60 + 14 * 60);
    const locked = refusal(await approve(walletId, during.challenge.id, { method: 'totp', code: totpCodeAt(secret, T0.getTime() + (60 + 14 * 60) * 1000) }, 60 + 14 * 60),
      'second-factor-locked', 429);
    assert.equal(locked.extensions.locked_until, at(60 + 15 * 60).now.toISOString());
    // A locked factor is refused without counting against the challenge; another factor still approves it.
    const stillOpen = await approve(walletId, during.challenge.id, { method: 'recovery_code', code: recoveryCodes[0]! }, 60 + 14 * 60);
    assert.ok(stillOpen.value, stillOpen.error?.message);
    await wrongCodes(60 + 15 * 60);
    const second = (await listRiskSignals(db(), walletId)).filter((s) => s.kind === 'second_factor_locked');
    assert.equal(second.length, 2);
    assert.equal(second[1]!.detail.locked_until, at(60 + 15 * 60 + 60 * 60).now.toISOString());
    assert.equal(second[1]!.detail.lockouts, 2);
  });

  it('a recovery code approves once; the same code again is refused', async () => {
    const { walletId, recoveryCodes } = await walletWithTotp();
    const first = await challenge(walletId, { action: 'payment', amount: yen(1_200), destination: 'mer_C' }, 30);
    // Typed in capitals without the dash: still the code.
    const typed = recoveryCodes[3]!.toUpperCase().replace('-', '');
    const approved = await approve(walletId, first.challenge.id, { method: 'recovery_code', code: typed }, 30);
    assert.ok(approved.value);
    assert.deepEqual(approved.value.binding, { action: 'payment', amount: 1_200, destination: 'mer_C' });
    const second = await challenge(walletId, { action: 'payment', amount: yen(1_200), destination: 'mer_C' }, 31);
    refusal(await approve(walletId, second.challenge.id, { method: 'recovery_code', code: recoveryCodes[3]! }, 31), 'second-factor-rejected');
    assert.ok((await approve(walletId, second.challenge.id, { method: 'recovery_code', code: recoveryCodes[4]! }, 31)).value);
    const signals = (await listRiskSignals(db(), walletId)).filter((s) => s.kind === 'recovery_code_used');
    assert.deepEqual(signals.map((s) => s.detail.remaining), [9, 8]);
  });

  it('a wallet without a second factor approves a money action with the code e-mailed for that challenge, and nothing else with it', async () => {
    const { walletId } = await signUpVerified(app);
    // A security change has no e-mail way: the customer is told to enrol a factor (which itself takes an e-mailed code).
    await assert.rejects(challenge(walletId, { action: 'recovery_codes' }, 0),
      (err: unknown) => err instanceof KozaError && err.code === 'second-factor-required' && err.status === 409
        && Array.isArray(err.extensions.methods) && err.extensions.methods.length === 0);
    const created = await challenge(walletId, { action: 'payment', amount: yen(20_000), destination: 'mer_A' }, 0);
    assert.deepEqual(created.methods, ['email_code']);
    const mail = await db().query<{ body: string }>(
      `SELECT body FROM dev_outbox WHERE subject = 'Your koza approval code' AND recipient = (SELECT email_normalized FROM wallets WHERE id = $1)
        ORDER BY seq DESC LIMIT 1`, [walletId]);
    const code = /enter (\d{6})/.exec(mail.rows[0]!.body)![1]!;
    assert.ok(mail.rows[0]!.body.includes('Pay ¥20,000 to mer_A'));
    // The code of one challenge does not approve another, even the same wallet's.
    const other = await challenge(walletId, { action: 'payment', amount: yen(20_000), destination: 'mer_B' }, 1);
    refusal(await approve(walletId, other.challenge.id, { method: 'email_code', code } as never, 2), 'second-factor-rejected');
    const issued = await approve(walletId, created.challenge.id, { method: 'email_code', code } as never, 2);
    assert.ok(issued.value, issued.error?.message);
    assert.ok((await attempt(db(), (tx) => consumeStepUpProof(tx, {
      walletId, proof: issued.value!.proof, action: 'payment', amount: yen(20_000), destination: 'mer_A', now: at(3).now,
    }))).value === undefined);
    const rows = await db().query<{ id: string; approved_with: string | null; failed_attempts: number }>(
      'SELECT id, approved_with, failed_attempts FROM step_up_challenges WHERE wallet_id = $1 ORDER BY created_at', [walletId]);
    assert.deepEqual(rows.rows.map((r) => [r.approved_with, r.failed_attempts]), [['email_code', 0], [null, 1]]);
  });

  it('a missing proof names the methods the wallet can approve with', async () => {
    const { walletId } = await walletWithTotp();
    const missing = refusal(await attempt(db(), (tx) => consumeStepUpProof(tx, {
      walletId, proof: undefined, action: 'withdrawal', amount: yen(50_000), destination: 'lnk_x', now: at(0).now,
    })), 'step-up-required', 403);
    assert.deepEqual(missing.extensions, { action: 'withdrawal', methods: ['totp', 'recovery_code'], challenge_path: '/v1/step-up/challenges' });
    // A factor wallet is never offered the mailbox (a takeover may hold it): no e-mail code is sent, none approves.
    const created = await challenge(walletId, { action: 'payment', amount: yen(20_000), destination: 'mer_A' }, 30);
    assert.deepEqual(created.methods, ['totp', 'recovery_code']);
    const stored = await db().query<{ email_code_hash: string | null }>('SELECT email_code_hash FROM step_up_challenges WHERE id = $1', [created.challenge.id]);
    assert.equal(stored.rows[0]!.email_code_hash, null);
    refusal(await approve(walletId, created.challenge.id, { method: 'email_code', code: '123456' } as never, 31), 'second-factor-rejected');
  });
});
