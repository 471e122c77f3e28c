// The partner-bank protocol at the sandbox banks, called the way koza calls it (signed, idempotent) on both storage
// backends: signature refusals, pin_otp and pin_only links with the PIN lock, debits and credits in double entry,
// replays, statements and the holder's inbox.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { forEachBackend } from '../../../test-support/backends.js';
import {
  TEST_KEY_SEED, answered, rawBankCall, refusedCode, startTestBankSandbox, testBankClient,
} from '../../../test-support/bank-client-for-tests.js';
import type { BankClient } from '../../banks/client.js';
import type { LinkCompleted, LinkMethod } from '../../banks/protocol.js';
import { deriveBankKeyPair } from '../../banks/signing.js';
import type { SandboxHolderAccount } from './admin.js';
import type { RunningBankSandbox } from './server.js';
import { jstDate } from './transfers.js';

forEachBackend('bank sandbox protocol', (_db, backend) => {
  let sandbox: RunningBankSandbox;
  let client: BankClient;
  const used = new Set<string>();

  before(async () => {
    sandbox = await startTestBankSandbox(backend);
    client = testBankClient(sandbox.url);
  });
  after(async () => {
    await sandbox.close();
  });

  /** A holder no other test here has touched, at a bank that offers the method. */
  async function freshHolder(method: LinkMethod, filter: (h: SandboxHolderAccount) => boolean = () => true): Promise<SandboxHolderAccount> {
    const holder = (await sandbox.admin.holders({ link_method: method }))
      .find((h) => !used.has(`${h.bank_code}/${h.account_number}`) && filter(h));
    assert.ok(holder, `no unused holder for ${method}`);
    used.add(`${holder.bank_code}/${holder.account_number}`);
    return holder;
  }

  const accountOf = (h: SandboxHolderAccount) => ({ branch_code: h.branch_code, account_number: h.account_number });

  async function linkPinOnly(holder: SandboxHolderAccount, walletRef = 'wal_test'): Promise<LinkCompleted> {
    const created = answered(await client.createLinkRequest(holder.bank_code, {
      method: 'pin_only', wallet_ref: walletRef, claims: null, account: accountOf(holder), pin: holder.pin,
    }, randomUUID()));
    return answered(await client.completeLinkRequest(holder.bank_code, created.link_request_id, {}, randomUUID()));
  }

  describe('directory and signatures', () => {
    it('lists every bank unsigned at /directory and one bank signed at its own directory', async () => {
      const all = answered(await client.directory());
      assert.equal(all.length, 35);
      assert.deepEqual(all, sandbox.banks);
      const bank = sandbox.banks[3]!;
      const res = await rawBankCall(sandbox.url, deriveBankKeyPair(TEST_KEY_SEED, bank.bank_code),
        { method: 'GET', path: `/banks/${bank.bank_code}/v2/directory` });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, bank);
    });

    it('refuses a missing, forged, stale, replayed, altered or other bank\'s signature with unauthorized_signature', async () => {
      const bank = sandbox.banks[0]!.bank_code;
      const key = deriveBankKeyPair(TEST_KEY_SEED, bank);
      const path = `/banks/${bank}/v2/transfers/nothing-here`;
      const expectRefused = (res: { status: number; body: Record<string, unknown> }, why: string) => {
        assert.equal(res.status, 401, why);
        assert.equal(res.body.code, 'unauthorized_signature', why);
        assert.match(String(res.body.detail), new RegExp(why));
      };
      expectRefused(await rawBankCall(sandbox.url, key, { method: 'GET', path, signature: null }), 'missing');
      expectRefused(await rawBankCall(sandbox.url, key, { method: 'GET', path, signature: 'not.a.jws' }), 'bad_signature');
      expectRefused(await rawBankCall(sandbox.url, deriveBankKeyPair(TEST_KEY_SEED, sandbox.banks[1]!.bank_code),
        { method: 'GET', path }), 'bad_signature');
      expectRefused(await rawBankCall(sandbox.url, deriveBankKeyPair('another-seed', bank), { method: 'GET', path }), 'bad_signature');
      expectRefused(await rawBankCall(sandbox.url, key, { method: 'GET', path, now: new Date(Date.now() - 5 * 60_000) }), 'stale');
      // Signed for one path, sent to another.
      const elsewhere = await rawBankCall(sandbox.url, key, { method: 'GET', path: `/banks/${bank}/v2/statements/2024-01-01` });
      expectRefused(await rawBankCall(sandbox.url, key, { method: 'GET', path, signature: elsewhere.signature }), 'mismatch');
      // A good call answers (404: no such transfer); the very same signature again is a replay.
      const first = await rawBankCall(sandbox.url, key, { method: 'GET', path });
      assert.equal(first.status, 404);
      assert.equal(first.body.code, 'transfer_not_found');
      expectRefused(await rawBankCall(sandbox.url, key, { method: 'GET', path, signature: first.signature }), 'replayed');
    });

    it('binds the body and the Idempotency-Key into the signature, and needs the key on every POST', async () => {
      const bank = sandbox.banks[0]!.bank_code;
      const key = deriveBankKeyPair(TEST_KEY_SEED, bank);
      const path = `/banks/${bank}/v2/notifications`;
      const body = { link_token: 'blt_nothing', kind: 'debit', message: 'hello' };
      const signed = await rawBankCall(sandbox.url, key, { method: 'POST', path, body, idempotencyKey: 'k-1' });
      assert.equal(signed.status, 404);
      // The same signature over a changed body, or under a fresh key, is not koza's request.
      const changed = await rawBankCall(sandbox.url, key, {
        method: 'POST', path, body: { ...body, message: 'pay me' }, idempotencyKey: 'k-1', signature: signed.signature,
      });
      assert.equal(changed.body.code, 'unauthorized_signature');
      const rekeyed = await rawBankCall(sandbox.url, key, { method: 'POST', path, body, idempotencyKey: 'k-2', signature: signed.signature });
      assert.equal(rekeyed.body.code, 'unauthorized_signature');
      const keyless = await rawBankCall(sandbox.url, key, { method: 'POST', path, body, idempotencyKey: null });
      assert.equal(keyless.status, 400);
      assert.equal(keyless.body.code, 'invalid_request');
    });

    it('answers an unknown bank with 404 and validates bodies strictly', async () => {
      const key = deriveBankKeyPair(TEST_KEY_SEED, '9999');
      const unknown = await rawBankCall(sandbox.url, key, { method: 'GET', path: '/banks/9999/v2/directory' });
      assert.equal(unknown.status, 404);
      const bank = sandbox.banks[0]!.bank_code;
      const bad = await rawBankCall(sandbox.url, deriveBankKeyPair(TEST_KEY_SEED, bank), {
        method: 'POST', path: `/banks/${bank}/v2/debits`, body: { link_token: 'x', amount: '100', descriptor: 'KOZA', reference: 'r' },
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.code, 'invalid_request');
    });
  });

  describe('linking', () => {
    it('links with pin_only: account + PIN, completed with nothing more; the bank answers its holder\'s kana and DOB', async () => {
      const holder = await freshHolder('pin_only');
      const created = answered(await client.createLinkRequest(holder.bank_code, {
        method: 'pin_only', wallet_ref: 'wal_pin_only', claims: { name_kana: 'ダレカ', date_of_birth: '2000-01-01' },
        account: accountOf(holder), pin: holder.pin,
      }, randomUUID()));
      assert.equal(created.method, 'pin_only');
      assert.deepEqual(Object.keys(created).sort(), ['expires_at', 'link_request_id', 'method']);
      const completeKey = randomUUID();
      const linked = answered(await client.completeLinkRequest(holder.bank_code, created.link_request_id, {}, completeKey));
      assert.match(linked.link_token, /^blt_/);
      // koza lost the answer and retries: the same link (the answer is kept sealed, the token itself only hashed).
      assert.deepEqual(answered(await client.completeLinkRequest(holder.bank_code, created.link_request_id, {}, completeKey)), linked);
      assert.equal(linked.iss, `${sandbox.url}/banks/${holder.bank_code}`);
      assert.deepEqual(linked.account, {
        branch_code: holder.branch_code, account_number_masked: `****${holder.account_number.slice(-3)}`, account_ref: holder.account_ref,
      });
      // What the bank stores, half-width or not; koza normalises.
      assert.deepEqual(linked.holder, { name_kana: holder.name_kana, date_of_birth: holder.date_of_birth });
      assert.deepEqual((await sandbox.admin.links(holder)).map((l) => [l.wallet_ref, l.method]), [['wal_pin_only', 'pin_only']]);
      // The request is spent.
      assert.equal(refusedCode(await client.completeLinkRequest(holder.bank_code, created.link_request_id, {}, randomUUID())),
        'link_request_expired');
    });

    it('refuses a method the bank does not list with method_not_supported', async () => {
      const redirectOnly = sandbox.banks.find((b) => b.link_methods.length === 1 && b.link_methods[0] === 'redirect')!;
      const holder = (await sandbox.admin.holders({ bank_code: redirectOnly.bank_code }))[0]!;
      const outcome = await client.createLinkRequest(redirectOnly.bank_code, {
        method: 'pin_only', wallet_ref: 'wal_x', claims: null, account: accountOf(holder), pin: holder.pin,
      }, randomUUID());
      assert.equal(refusedCode(outcome), 'method_not_supported');
    });

    it('links with pin_otp: the bank texts a code to the phone it has on file, and only that code completes', async () => {
      const holder = await freshHolder('pin_otp');
      const created = answered(await client.createLinkRequest(holder.bank_code, {
        method: 'pin_otp', wallet_ref: 'wal_pin_otp', claims: null, account: accountOf(holder), pin: holder.pin,
      }, randomUUID()));
      // v2: nothing of the phone in the answer.
      assert.deepEqual(Object.keys(created).sort(), ['expires_at', 'link_request_id', 'method']);
      assert.doesNotMatch(JSON.stringify(created), new RegExp(holder.registered_phone.slice(-4)));
      const [sms] = await sandbox.admin.sms({ phone: holder.registered_phone, bank_code: holder.bank_code });
      assert.match(sms!.body, /wal_pin_otp/);
      const otp = (await sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code))!;
      const wrong = otp === '000000' ? '111111' : '000000';
      assert.equal(refusedCode(await client.completeLinkRequest(holder.bank_code, created.link_request_id, { otp: wrong }, randomUUID())),
        'invalid_credentials');
      const linked = answered(await client.completeLinkRequest(holder.bank_code, created.link_request_id, { otp }, randomUUID()));
      assert.equal(linked.account.account_ref, holder.account_ref);
      assert.equal(refusedCode(await client.completeLinkRequest(holder.bank_code, created.link_request_id, { otp }, randomUUID())),
        'link_request_expired');
    });

    it('burns a pin_otp request after 5 wrong codes: the right code no longer links', async () => {
      const holder = await freshHolder('pin_otp');
      const created = answered(await client.createLinkRequest(holder.bank_code, {
        method: 'pin_otp', wallet_ref: 'wal_guess', claims: null, account: accountOf(holder), pin: holder.pin,
      }, randomUUID()));
      const otp = (await sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code))!;
      for (let i = 0; i < 5; i++) {
        const guess = String((Number(otp) + 1 + i) % 1_000_000).padStart(6, '0');
        assert.equal(refusedCode(await client.completeLinkRequest(holder.bank_code, created.link_request_id, { otp: guess }, randomUUID())),
          'invalid_credentials');
      }
      assert.notEqual((await client.completeLinkRequest(holder.bank_code, created.link_request_id, { otp }, randomUUID())).kind, 'answered');
      assert.deepEqual(await sandbox.admin.links(holder), []);
    });

    /** A pin_otp start as koza sends it; the raw answer, so that status and bytes can be compared. */
    const startPinOtp = (bankCode: string, account: { branch_code: string; account_number: string }, pin: string, walletRef: string) =>
      rawBankCall(sandbox.url, deriveBankKeyPair(TEST_KEY_SEED, bankCode), {
        method: 'POST', path: `/banks/${bankCode}/v2/link-requests`,
        body: { method: 'pin_otp', wallet_ref: walletRef, claims: null, account, pin },
      });
    const wrongPinOf = (h: SandboxHolderAccount) => (h.pin === '0000' ? '1111' : '0000');
    const smsCount = async (h: SandboxHolderAccount) => (await sandbox.admin.sms({ phone: h.registered_phone, bank_code: h.bank_code })).length;
    /** One completion try; the bank's problem code or 'linked'. */
    const tryCode = async (bankCode: string, linkRequestId: string, otp: string): Promise<string> => {
      const outcome = await client.completeLinkRequest(bankCode, linkRequestId, { otp }, randomUUID());
      return outcome.kind === 'answered' ? 'linked' : refusedCode(outcome);
    };
    /** A wrong-PIN request tried once at completion: the bank counts one failure for it. */
    const failOnce = async (h: SandboxHolderAccount, walletRef: string) => {
      const started = await startPinOtp(h.bank_code, accountOf(h), wrongPinOf(h), walletRef);
      assert.equal(started.status, 201);
      assert.equal(await tryCode(h.bank_code, String(started.body.link_request_id), '123456'), 'invalid_credentials');
    };

    it('answers a pin_otp start the same for a right PIN, a wrong PIN, an unknown account and a locked one; texts only a right PIN', async () => {
      const right = await freshHolder('pin_otp');
      const wrong = await freshHolder('pin_otp', (h) => h.bank_code === right.bank_code);
      const locked = await freshHolder('pin_otp', (h) => h.bank_code === right.bank_code);
      for (let i = 0; i < 5; i++) await failOnce(locked, `wal_locker_${i}`);
      assert.equal((await sandbox.admin.holder(locked))!.pin_locked, true);
      let unknownNumber = 9_999_999;
      while ((await sandbox.admin.holder({ bank_code: right.bank_code, branch_code: right.branch_code, account_number: String(unknownNumber) })) !== null) unknownNumber--;
      const before = { right: await smsCount(right), wrong: await smsCount(wrong), locked: await smsCount(locked) };

      const answers = {
        right: await startPinOtp(right.bank_code, accountOf(right), right.pin, 'wal_same'),
        wrong: await startPinOtp(wrong.bank_code, accountOf(wrong), wrongPinOf(wrong), 'wal_same'),
        unknown: await startPinOtp(right.bank_code, { branch_code: right.branch_code, account_number: String(unknownNumber) }, '1234', 'wal_same'),
        lockedWrong: await startPinOtp(locked.bank_code, accountOf(locked), wrongPinOf(locked), 'wal_same'),
      };
      const shapeOf = (a: { status: number; body: Record<string, unknown> }) => ({
        status: a.status, keys: Object.keys(a.body).sort(), method: a.body.method,
        id: String(a.body.link_request_id).replace(/[A-Za-z0-9_-]/g, 'x'),
        // The same lifetime for every request: five minutes from the start, to the second.
        ttl: Math.round((Date.parse(String(a.body.expires_at)) - Date.now()) / 10_000),
      });
      const expected = shapeOf(answers.right);
      assert.deepEqual(expected.keys, ['expires_at', 'link_request_id', 'method']);
      assert.equal(expected.status, 201);
      for (const [name, answer] of Object.entries(answers)) assert.deepEqual(shapeOf(answer), expected, name);

      // The code goes to the holder's own phone for the right PIN only; a wrong PIN bothers nobody.
      assert.equal(await smsCount(right), before.right + 1);
      assert.equal(await smsCount(wrong), before.wrong);
      assert.equal(await smsCount(locked), before.locked);
      // Nothing is counted at the start.
      assert.equal((await sandbox.admin.holder(wrong))!.pin_failures, 0);
    });

    it('judges PIN and code together at completion: wrong PIN, wrong code, unknown account all 401 alike for 5 tries', async () => {
      const holder = await freshHolder('pin_otp');
      const wrongPin = await freshHolder('pin_otp', (h) => h.bank_code === holder.bank_code);
      const rightStart = await startPinOtp(holder.bank_code, accountOf(holder), holder.pin, 'wal_typo');
      const wrongStart = await startPinOtp(wrongPin.bank_code, accountOf(wrongPin), wrongPinOf(wrongPin), 'wal_thief');
      const unknownStart = await startPinOtp(holder.bank_code, { branch_code: holder.branch_code, account_number: '0000001' }, '1234', 'wal_thief');
      const otp = (await sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code))!;
      const wrongCode = otp === '000000' ? '111111' : '000000';
      const tries = async (started: { body: Record<string, unknown> }, bankCode: string, code: string) => {
        const codes: string[] = [];
        for (let i = 0; i < 6; i++) codes.push(await tryCode(bankCode, String(started.body.link_request_id), code));
        return codes;
      };
      const failing = ['invalid_credentials', 'invalid_credentials', 'invalid_credentials', 'invalid_credentials',
        'invalid_credentials', 'link_request_expired'];
      assert.deepEqual(await tries(rightStart, holder.bank_code, wrongCode), failing, 'right PIN, wrong code');
      // Even a code someone guessed right: the PIN was wrong, the answer is the same.
      assert.deepEqual(await tries(wrongStart, wrongPin.bank_code, otp), failing, 'wrong PIN');
      assert.deepEqual(await tries(unknownStart, holder.bank_code, otp), failing, 'unknown account');
      // A wrong PIN counts once per request, however many tries it had; a wrong code counts nothing against the PIN.
      assert.equal((await sandbox.admin.holder(wrongPin))!.pin_failures, 1);
      assert.equal((await sandbox.admin.holder(holder))!.pin_failures, 0);
      assert.deepEqual(await sandbox.admin.links(holder), []);
      assert.deepEqual(await sandbox.admin.links(wrongPin), []);
    });

    it('counts one wrong PIN per request, locks at 5 and tells the holder; a right code on a locked account answers credentials_locked', async () => {
      const holder = await freshHolder('pin_otp');
      for (let i = 0; i < 4; i++) await failOnce(holder, `wal_thief_${i}`);
      assert.deepEqual(await sandbox.admin.holder(holder).then((h) => [h!.pin_failures, h!.pin_locked]), [4, false]);
      // The holder's own right PIN and code link, and the bank forgets the failures.
      const own = await startPinOtp(holder.bank_code, accountOf(holder), holder.pin, 'wal_owner');
      const otp = (await sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code))!;
      assert.equal(await tryCode(holder.bank_code, String(own.body.link_request_id), otp), 'linked');
      assert.deepEqual(await sandbox.admin.holder(holder).then((h) => [h!.pin_failures, h!.pin_locked]), [0, false]);

      for (let i = 0; i < 5; i++) await failOnce(holder, `wal_thief_${i}`);
      assert.deepEqual(await sandbox.admin.holder(holder).then((h) => [h!.pin_failures, h!.pin_locked]), [5, true]);
      const notices = await sandbox.admin.inbox(holder);
      assert.deepEqual(notices.filter((n) => n.sender === 'bank').map((n) => n.kind), ['pin_locked']);
      // Locked: the start still answers 201 and texts the holder; only the right code learns of the lock.
      const sent = await smsCount(holder);
      const late = await startPinOtp(holder.bank_code, accountOf(holder), holder.pin, 'wal_owner');
      assert.equal(late.status, 201);
      assert.equal(await smsCount(holder), sent + 1);
      const code = (await sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code))!;
      assert.equal(await tryCode(holder.bank_code, String(late.body.link_request_id), code === '000000' ? '111111' : '000000'),
        'invalid_credentials');
      assert.equal(await tryCode(holder.bank_code, String(late.body.link_request_id), code), 'credentials_locked');
      assert.equal(await sandbox.admin.unlock(holder), true);
    });

    it('pin_only: the start answers the same for any PIN; the PIN is judged at completion, counted once per request', async () => {
      const holder = await freshHolder('pin_only');
      const wrongPin = wrongPinOf(holder);
      const start = async (pin: string, walletRef: string, account = accountOf(holder)) => answered(await client.createLinkRequest(
        holder.bank_code, { method: 'pin_only', wallet_ref: walletRef, claims: null, account, pin }, randomUUID()));
      const complete = async (id: string, key = randomUUID()) => {
        const outcome = await client.completeLinkRequest(holder.bank_code, id, {}, key);
        return outcome.kind === 'answered' ? 'linked' : refusedCode(outcome);
      };
      const first = await start(wrongPin, 'wal_thief_0');
      // A retry of one try (same Idempotency-Key) is the same answer and counts nothing more.
      const replayKey = randomUUID();
      assert.equal(await complete(first.link_request_id, replayKey), 'invalid_credentials');
      assert.equal(await complete(first.link_request_id, replayKey), 'invalid_credentials');
      assert.equal(await complete(first.link_request_id), 'invalid_credentials');
      assert.equal((await sandbox.admin.holder(holder))!.pin_failures, 1);
      for (let i = 1; i < 5; i++) assert.equal(await complete((await start(wrongPin, `wal_thief_${i}`)).link_request_id), 'invalid_credentials');
      assert.equal((await sandbox.admin.holder(holder))!.pin_locked, true);
      assert.equal(await complete((await start(holder.pin, 'wal_thief_5')).link_request_id), 'credentials_locked');
      // An account that does not exist starts like any other and is refused like a wrong PIN.
      const missing = await start('1234', 'wal_x', { branch_code: holder.branch_code, account_number: '0000000' });
      assert.equal(await complete(missing.link_request_id), 'invalid_credentials');
      assert.equal(await sandbox.admin.unlock(holder), true);
      await linkPinOnly(holder, 'wal_owner');
    });
  });

  describe('debits, credits and the books', () => {
    it('debits and credits by link token, with KOZA lines in the passbook and books that balance', async () => {
      const holder = await freshHolder('pin_only');
      const { link_token } = await linkPinOnly(holder);
      const reference = `chg_${randomUUID()}`;
      const debit = answered(await client.debit(holder.bank_code, {
        link_token, amount: 12_345, descriptor: `KOZA ${reference.slice(0, 12)}`, reference,
      }, randomUUID()));
      assert.equal(debit.status, 'completed');
      assert.equal(debit.kind, 'debit');
      assert.equal(debit.amount, 12_345);
      const withdrawal = `wdl_${randomUUID()}`;
      const credit = answered(await client.credit(holder.bank_code, {
        link_token, amount: 2_000, descriptor: 'KOZA WITHDRAWAL', reference: withdrawal,
      }, randomUUID()));
      assert.equal(credit.status, 'completed');
      const after = (await sandbox.admin.holder(holder))!;
      assert.equal(after.balance, holder.balance - 12_345 + 2_000);
      const passbook = await sandbox.admin.passbook(holder);
      assert.deepEqual(passbook.slice(-2).map((l) => [l.descriptor, l.withdrawal, l.deposit, l.balance_after, l.reference]), [
        [`KOZA ${reference.slice(0, 12)}`, 12_345, 0, holder.balance - 12_345, reference],
        ['KOZA WITHDRAWAL', 0, 2_000, holder.balance - 10_345, withdrawal],
      ]);
      assert.deepEqual(answered(await client.getTransfer(holder.bank_code, reference)), debit);
      const books = await sandbox.admin.books();
      assert.deepEqual({ ...books, journal_entries: 0 }, { balance_sum: 0, balances_off_journal: 0, negative_holders: 0, journal_entries: 0 });
    });

    it('rejects a debit beyond the balance as an answer, moving nothing', async () => {
      const holder = await freshHolder('pin_only');
      const { link_token } = await linkPinOnly(holder);
      const result = answered(await client.debit(holder.bank_code, {
        link_token, amount: holder.balance + 1, descriptor: 'KOZA TOO MUCH', reference: `chg_${randomUUID()}`,
      }, randomUUID()));
      assert.deepEqual([result.status, result.reason], ['rejected', 'insufficient_funds']);
      assert.equal((await sandbox.admin.holder(holder))!.balance, holder.balance);
      assert.equal((await sandbox.admin.passbook(holder)).length, 1);
    });

    it('replays a debit for the same Idempotency-Key or reference, and refuses either with other details', async () => {
      const holder = await freshHolder('pin_only');
      const { link_token } = await linkPinOnly(holder);
      const reference = `chg_${randomUUID()}`;
      const body = { link_token, amount: 5_000, descriptor: 'KOZA REPLAY', reference };
      const key = randomUUID();
      const first = answered(await client.debit(holder.bank_code, body, key));
      assert.deepEqual(answered(await client.debit(holder.bank_code, body, key)), first);
      assert.deepEqual(answered(await client.debit(holder.bank_code, body, randomUUID())), first);
      assert.equal(refusedCode(await client.debit(holder.bank_code, { ...body, amount: 6_000 }, key)), 'idempotency_conflict');
      assert.equal(refusedCode(await client.debit(holder.bank_code, { ...body, amount: 6_000 }, randomUUID())), 'idempotency_conflict');
      // Ten concurrent retries of one key: one debit.
      const concurrentKey = randomUUID();
      const concurrentBody = { ...body, reference: `chg_${randomUUID()}` };
      const answers = await Promise.all(Array.from({ length: 10 }, () => client.debit(holder.bank_code, concurrentBody, concurrentKey)));
      assert.equal(new Set(answers.map((a) => answered(a).bank_transfer_id)).size, 1);
      assert.equal((await sandbox.admin.holder(holder))!.balance, holder.balance - 10_000);
      assert.equal((await sandbox.admin.passbook(holder)).filter((l) => l.withdrawal > 0).length, 2);
    });

    it('rejects debits on a revoked link but still pays credits into it (compensation after the link is cut)', async () => {
      const holder = await freshHolder('pin_only');
      const { link_token } = await linkPinOnly(holder);
      assert.deepEqual(answered(await client.revokeLink(holder.bank_code, link_token, randomUUID())), { revoked: true });
      assert.deepEqual(answered(await client.revokeLink(holder.bank_code, link_token, randomUUID())), { revoked: true });
      const debit = answered(await client.debit(holder.bank_code, {
        link_token, amount: 1_000, descriptor: 'KOZA AFTER REVOKE', reference: `chg_${randomUUID()}`,
      }, randomUUID()));
      assert.deepEqual([debit.status, debit.reason], ['rejected', 'link_revoked']);
      const credit = answered(await client.credit(holder.bank_code, {
        link_token, amount: 7_000, descriptor: 'KOZA COMPENSATION', reference: `cmp_${randomUUID()}`,
      }, randomUUID()));
      assert.equal(credit.status, 'completed');
      assert.equal((await sandbox.admin.holder(holder))!.balance, holder.balance + 7_000);
      assert.equal(refusedCode(await client.debit(holder.bank_code, {
        link_token: 'blt_unknown', amount: 1, descriptor: 'KOZA', reference: `chg_${randomUUID()}`,
      }, randomUUID())), 'link_not_found');
    });

    it('answers a transfer query by reference and lists the day\'s completed movements in the JST statement', async () => {
      const holder = await freshHolder('pin_only');
      const { link_token } = await linkPinOnly(holder);
      const references = [`chg_${randomUUID()}`, `chg_${randomUUID()}`, `wdl_${randomUUID()}`];
      await client.debit(holder.bank_code, { link_token, amount: 3_000, descriptor: 'KOZA S1', reference: references[0]! }, randomUUID());
      await client.debit(holder.bank_code, { link_token, amount: 4_000, descriptor: 'KOZA S2', reference: references[1]! }, randomUUID());
      await client.credit(holder.bank_code, { link_token, amount: 500, descriptor: 'KOZA S3', reference: references[2]! }, randomUUID());
      const rejected = `chg_${randomUUID()}`;
      await client.debit(holder.bank_code, { link_token, amount: 99_999_999, descriptor: 'KOZA S4', reference: rejected }, randomUUID());
      assert.equal(answered(await client.getTransfer(holder.bank_code, rejected)).reason, 'limit_exceeded');
      assert.equal(refusedCode(await client.getTransfer(holder.bank_code, 'never-booked')), 'transfer_not_found');
      const statement = answered(await client.statement(holder.bank_code, jstDate(new Date())));
      const ours = statement.entries.filter((e) => references.includes(e.reference));
      assert.deepEqual(ours.map((e) => [e.kind, e.amount]), [['debit', 3_000], ['debit', 4_000], ['credit', 500]]);
      assert.ok(!statement.entries.some((e) => e.reference === rejected));
      assert.equal(statement.total_debits, statement.entries.filter((e) => e.kind === 'debit').reduce((s, e) => s + e.amount, 0));
      assert.equal(statement.total_credits, statement.entries.filter((e) => e.kind === 'credit').reduce((s, e) => s + e.amount, 0));
      assert.deepEqual(answered(await client.statement(holder.bank_code, '2001-01-01')).entries, []);
      assert.deepEqual(await sandbox.admin.statement(holder.bank_code, statement.date), statement);
      const bad = await rawBankCall(sandbox.url, deriveBankKeyPair(TEST_KEY_SEED, holder.bank_code),
        { method: 'GET', path: `/banks/${holder.bank_code}/v2/statements/2024-02-30` });
      assert.equal(bad.status, 400);
    });

    it('delivers koza\'s notifications to the holder\'s inbox at the bank', async () => {
      const holder = await freshHolder('pin_only');
      const { link_token } = await linkPinOnly(holder);
      assert.deepEqual(answered(await client.notifyHolder(holder.bank_code, {
        link_token, kind: 'link_created', message: 'Your account was linked to the koza wallet wal_test.',
      }, randomUUID())), { notified: true, channels: ['inbox'] });
      const [message] = await sandbox.admin.inbox(holder);
      assert.deepEqual([message!.sender, message!.kind, message!.message, message!.channels],
        ['koza', 'link_created', 'Your account was linked to the koza wallet wal_test.', ['inbox']]);
    });

    it('v2: notifies on the channels asked for that the holder has, and says which carried it', async () => {
      const withEmail = await freshHolder('pin_only', (h) => h.registered_email !== null);
      const { link_token } = await linkPinOnly(withEmail);
      assert.deepEqual(answered(await client.notifyHolder(withEmail.bank_code, {
        link_token, kind: 'large_charge', message: 'A charge of ¥50,000.', channels: ['inbox', 'email'],
      }, randomUUID())), { notified: true, channels: ['inbox', 'email'] });
      const [mail] = await sandbox.admin.emails({ address: withEmail.registered_email!, bank_code: withEmail.bank_code });
      assert.match(mail!.body, /A charge of ¥50,000\./);
      const noEmail = await freshHolder('pin_only', (h) => h.registered_email === null);
      const second = await linkPinOnly(noEmail);
      assert.deepEqual(answered(await client.notifyHolder(noEmail.bank_code, {
        link_token: second.link_token, kind: 'first_charge', message: 'A first charge.', channels: ['inbox', 'email'],
      }, randomUUID())), { notified: true, channels: ['inbox'] }, 'no e-mail on file: the answer says so');
    });

    it('v2: a pin link is not holder-confirmed and its phone is matched; GET /links/{token} tells its state', async () => {
      const holder = await freshHolder('pin_only', (h) => h.registered_email !== null);
      const created = answered(await client.createLinkRequest(holder.bank_code, {
        method: 'pin_only', wallet_ref: 'wal_state', claims: { name_kana: 'ダレカ', date_of_birth: '2000-01-01', phone: holder.registered_phone },
        account: accountOf(holder), pin: holder.pin,
      }, randomUUID()));
      const linked = answered(await client.completeLinkRequest(holder.bank_code, created.link_request_id, {}, randomUUID()));
      assert.equal(linked.phone_matches, true);
      assert.equal(linked.holder_confirmed, false);
      const state = answered(await client.getLinkState(holder.bank_code, linked.link_token));
      assert.deepEqual([state.status, state.method, state.holder_confirmed_at, state.revoked_by], ['active', 'pin_only', null, null]);
      assert.ok(await sandbox.admin.lastConfirmationUrl(holder.registered_email!, holder.bank_code), 'the bank e-mailed a one-tap confirmation');
      answered(await client.revokeLink(holder.bank_code, linked.link_token, randomUUID()));
      const revoked = answered(await client.getLinkState(holder.bank_code, linked.link_token));
      assert.deepEqual([revoked.status, revoked.revoked_by], ['revoked', 'koza']);
    });
  });
});
