// The crash the reconciler exists for: koza is killed (SIGKILL) after the bank booked a charge and before
// the ledger posted it. After a restart, reconciliation settles the charge from the bank's record, and bank
// and ledger are equal to the yen; the interrupted request's Idempotency-Key then answers the outcome.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { forEachBackend, freshSchemaName } from '../../test-support/backends.js';
import { startTestBankSandbox, TEST_KEY_SEED } from '../../test-support/bank-client-for-tests.js';
import { expectOk, KozaHttp } from '../../test-support/links-for-tests.js';
import { Authenticator } from '../../test-support/links-for-tests.js';
import { KOZA_BIN, startKozaProcess } from '../../test-support/koza-process.js';
import type { RunningBankSandbox } from '../sandbox/banks/server.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';

const PASSWORD = 'correct horse battery staple';

forEachBackend('crash between the bank debit and the ledger post', (_db, backend) => {
  let sandbox: RunningBankSandbox;
  const dir = mkdtempSync(join(tmpdir(), 'koza-crash-'));
  let env: Record<string, string>;
  let operatorKey: string;
  before(async () => {
    sandbox = await startTestBankSandbox(backend);
    env = {
      PORT: '0', LOG_LEVEL: 'silent', KOZA_SECRET_KEY: 'ef'.repeat(32), KOZA_BANK_SANDBOX_URL: sandbox.url,
      KOZA_BANK_KEY_SEED: TEST_KEY_SEED, KOZA_RECONCILE_EVERY_SECONDS: '0', KOZA_BANK_TIMEOUT_MS: '60000',
      KOZA_RATE_LIMIT_PER_MINUTE: '100000',
      ...(backend.name === 'postgres'
        ? { DATABASE_URL: process.env.KOZA_TEST_DATABASE_URL!, KOZA_DB_SCHEMA: freshSchemaName() }
        : { DATABASE_URL: '', KOZA_DATA: join(dir, 'data') }),
    };
    const created = spawnSync(process.execPath, [KOZA_BIN, 'operator', '--name', 'Ops', '--role', 'admin'], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);
    operatorKey = (JSON.parse(created.stdout) as { api_key: string }).api_key;
  });
  after(async () => {
    await sandbox?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The holder's own wallet over HTTP: e-mail, phone, eKYC, TOTP, then a pin_otp link; returns token and link. */
  async function holderWallet(koza: KozaHttp, holder: SandboxHolderAccount) {
    const email = `crash-${randomUUID()}@example.jp`;
    expectOk(await koza.post('/v1/signup', { email, password: PASSWORD }), 202);
    const mail = expectOk(await koza.get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(email)}`), 200);
    const code = /code is (\d{6})/.exec(mail.data[0].body)![1];
    expectOk(await koza.post('/v1/signup/verify', { email, code }), 200);
    let token = expectOk(await koza.post('/v1/sessions', { email, password: PASSWORD }), 201).token as string;
    const person = expectOk(await koza.get(`/v1/sandbox/identities?limit=1&offset=${holder.person_index}`), 200).data[0];
    const sent = expectOk(await koza.post('/v1/phone', { phone: person.phone }, token), 202);
    const sms = expectOk(await koza.get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(sent.phone)}`), 200);
    token = expectOk(await koza.post('/v1/phone/verify', { code: /koza code: (\d{6})/.exec(sms.data[0].body)![1] }, token), 200).session.token;
    token = expectOk(await koza.post('/v1/identity/verifications', {
      document_type: person.document_type, document_number: person.document_number, name_kanji: person.name_kanji,
      name_kana: person.name_kana, date_of_birth: person.date_of_birth, address: person.address, selfie_token: 'live-selfie-ok',
    }, token), 201).session.token;
    const started = expectOk(await koza.post('/v1/factors/totp', {}, token), 201);
    const totp = new Authenticator(started.secret);
    const enrolled = expectOk(await koza.post(`/v1/factors/totp/${started.factor.id}/confirm`, { code: totp.totp() }, token), 200);
    token = enrolled.session.token;
    const authenticator = new Authenticator(started.secret, enrolled.recovery_codes);
    authenticator.totp();
    const challenge = expectOk(await koza.post('/v1/step-up/challenges', { action: 'link', destination: holder.bank_code }, token), 201);
    const proof = expectOk(await koza.post(`/v1/step-up/challenges/${challenge.challenge.id}/approve`, authenticator.approval(), token), 201).proof;
    const linkStart = expectOk(await koza.post('/v1/links', {
      bank_code: holder.bank_code, method: 'pin_otp', account: { branch_code: holder.branch_code, account_number: holder.account_number },
      pin: holder.pin, step_up_proof: proof,
    }, token), 201);
    const otp = await sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code);
    const link = expectOk(await koza.post(`/v1/links/${linkStart.link_request_id}/complete`, { otp }, token), 201);
    return { token, linkId: link.id as string };
  }

  it('settles the charge from the bank after a SIGKILL and a restart: bank and ledger equal to the yen', async () => {
    const holder = (await sandbox.admin.holders({ link_method: 'pin_otp' }))
      .filter((h) => h.balance >= 20_000 && h.person_index < 500)
      .sort((a, b) => a.person_index - b.person_index)[backend.name === 'pglite' ? 0 : 1]!;
    const bankBefore = holder.balance;
    let running = await startKozaProcess(env);
    let koza = new KozaHttp(running.url);
    const { token, linkId } = await holderWallet(koza, holder);

    // The bank books the debit and then holds its answer: koza is waiting between debit and post.
    sandbox.admin.setFaults(holder.bank_code, { timeout_rate: 1, timeout_ms: 30_000, apply_before_timeout: 1 });
    const key = `crash-${randomUUID()}`;
    const inFlight = koza.post('/v1/charges', { link_id: linkId, amount: 6_000 }, token, key).catch((err: Error) => err);
    let booked: string | undefined;
    while (!booked) {
      const lines = await sandbox.admin.passbook(holder);
      booked = lines.find((l) => l.descriptor.startsWith('KOZA chg_'))?.reference ?? undefined;
      if (!booked) await new Promise((r) => setImmediate(r));
    }
    await running.kill();
    assert.ok((await inFlight) instanceof Error, 'the customer got no answer');
    sandbox.admin.clearFaults(holder.bank_code);
    assert.equal((await sandbox.admin.holder(holder))!.balance, bankBefore - 6_000, 'the bank took the money');

    running = await startKozaProcess(env);
    koza = new KozaHttp(running.url);
    try {
      const open = expectOk(await koza.get(`/v1/movements/${booked}`, token), 200);
      assert.equal(open.status, 'pending', 'after the crash the ledger holds the charge pending, not lost');
      expectOk(await koza.post('/v1/admin/reconciliation/pending', { grace_seconds: 0 }, operatorKey), 200);
      assert.equal(expectOk(await koza.get(`/v1/movements/${booked}`, token), 200).status, 'posted');
      const balance = expectOk(await koza.get('/v1/wallet/balance', token), 200);
      assert.equal(balance.balance, 6_000);
      assert.equal(balance.pending, 0);
      // The interrupted request, retried with its key, now answers what happened.
      const retried = await koza.post('/v1/charges', { link_id: linkId, amount: 6_000 }, token, key);
      assert.equal(retried.status, 201);
      assert.equal(retried.json.id, booked);
      assert.equal((await sandbox.admin.holder(holder))!.balance, bankBefore - 6_000, 'and the bank did not take it twice');

      const today = new Date(Date.now() + 9 * 3_600_000).toISOString().slice(0, 10);
      const report = expectOk(await koza.post('/v1/admin/reconciliation/statements', { bank_code: holder.bank_code, date: today }, operatorKey), 200);
      assert.deepEqual(report.differences, []);
      assert.equal(report.bank_debits, report.ledger_debits);
    } finally {
      await running.kill();
    }
  });
});
