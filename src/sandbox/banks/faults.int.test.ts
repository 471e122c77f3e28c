// Injected faults at a sandbox bank, as koza's client meets them on both storage backends: an outage and an error rate
// answer 503, latency delays, and a time-out can leave a debit booked whose answer koza never got — which the transfer
// query, the statement and a retry under the same Idempotency-Key then all report the same way.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { forEachBackend } from '../../../test-support/backends.js';
import { answered, refusedCode, startTestBankSandbox, testBankClient } from '../../../test-support/bank-client-for-tests.js';
import type { BankClient } from '../../banks/client.js';
import type { SandboxHolderAccount } from './admin.js';
import type { RunningBankSandbox } from './server.js';
import { jstDate } from './transfers.js';

forEachBackend('bank sandbox faults', (_db, backend) => {
  let sandbox: RunningBankSandbox;
  /** koza's client, with a short time-out for the calls that meet faults. */
  let impatient: BankClient;
  let client: BankClient;
  let holder: SandboxHolderAccount;
  let linkToken: string;

  before(async () => {
    sandbox = await startTestBankSandbox(backend);
    client = testBankClient(sandbox.url);
    impatient = testBankClient(sandbox.url, { timeoutMs: 150 });
    holder = (await sandbox.admin.holders({ link_method: 'pin_only' }))[0]!;
    const created = answered(await client.createLinkRequest(holder.bank_code, {
      method: 'pin_only', wallet_ref: 'wal_faults', claims: null,
      account: { branch_code: holder.branch_code, account_number: holder.account_number }, pin: holder.pin,
    }, randomUUID()));
    linkToken = answered(await client.completeLinkRequest(holder.bank_code, created.link_request_id, {}, randomUUID())).link_token;
  });
  afterEach(() => {
    sandbox.admin.clearFaults();
  });
  after(async () => {
    await sandbox.close();
  });

  const debitBody = (amount: number) => ({ link_token: linkToken, amount, descriptor: 'KOZA FAULT', reference: `chg_${randomUUID()}` });

  describe('faults', () => {
    it('answers every call 503 unavailable during an outage, and the directory says so', async () => {
      sandbox.admin.setFaults(holder.bank_code, { outage: true });
      const outcome = await client.debit(holder.bank_code, debitBody(1_000), randomUUID());
      assert.deepEqual(outcome, { kind: 'unknown', reason: 'server_error', status: 503 });
      const entry = answered(await client.directory()).find((b) => b.bank_code === holder.bank_code);
      assert.equal(entry?.status, 'outage');
      // Other banks are not affected.
      const other = sandbox.banks.find((b) => b.bank_code !== holder.bank_code)!;
      assert.equal(refusedCode(await client.getTransfer(other.bank_code, 'none')), 'transfer_not_found');
      const res = await fetch(`${sandbox.url}/banks/${holder.bank_code}/v2/transfers/x`);
      assert.equal(res.status, 503);
      assert.equal((await res.json() as { code: string }).code, 'unavailable');
    });

    it('answers 503 at error rate 1 without booking anything, and normally once cleared', async () => {
      sandbox.admin.setFaults(holder.bank_code, { error_rate: 1 });
      const body = debitBody(1_500);
      const key = randomUUID();
      assert.equal((await impatient.debit(holder.bank_code, body, key)).kind, 'unknown');
      assert.equal(await sandbox.admin.transfer(holder.bank_code, body.reference), null);
      sandbox.admin.clearFaults(holder.bank_code);
      assert.equal(answered(await client.debit(holder.bank_code, body, key)).status, 'completed');
    });

    it('adds the configured latency', async () => {
      sandbox.admin.setFaults(holder.bank_code, { latency_ms: 120 });
      const started = performance.now();
      assert.equal(refusedCode(await client.getTransfer(holder.bank_code, 'none')), 'transfer_not_found');
      assert.ok(performance.now() - started >= 115);
    });

    it('books a debit whose answer is lost in a time-out; the transfer query, the statement and a retry all see it', async () => {
      const before = (await sandbox.admin.holder(holder))!.balance;
      sandbox.admin.setFaults(holder.bank_code, { timeout_rate: 1, apply_before_timeout: 1, timeout_ms: 600 });
      const body = debitBody(4_200);
      const key = randomUUID();
      assert.deepEqual(await impatient.debit(holder.bank_code, body, key), { kind: 'unknown', reason: 'timeout' });
      sandbox.admin.clearFaults(holder.bank_code);
      // koza gave up first; the bank may still be finishing the work it will not be able to report.
      let outcome = await client.getTransfer(holder.bank_code, body.reference);
      for (let tries = 0; outcome.kind === 'refused' && tries < 50; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        outcome = await client.getTransfer(holder.bank_code, body.reference);
      }
      const booked = answered(outcome);
      assert.deepEqual([booked.status, booked.amount], ['completed', 4_200]);
      assert.equal((await sandbox.admin.holder(holder))!.balance, before - 4_200);
      const statement = answered(await client.statement(holder.bank_code, jstDate(new Date())));
      assert.ok(statement.entries.some((e) => e.reference === body.reference));
      // koza's retry with the same key is the first answer, not a second debit.
      assert.deepEqual(answered(await client.debit(holder.bank_code, body, key)), booked);
      assert.equal((await sandbox.admin.holder(holder))!.balance, before - 4_200);
    });

    it('books nothing when a time-out comes before the work', async () => {
      sandbox.admin.setFaults(holder.bank_code, { timeout_rate: 1, apply_before_timeout: 0, timeout_ms: 300 });
      const body = debitBody(900);
      assert.deepEqual(await impatient.debit(holder.bank_code, body, randomUUID()), { kind: 'unknown', reason: 'timeout' });
      sandbox.admin.clearFaults(holder.bank_code);
      assert.equal(refusedCode(await client.getTransfer(holder.bank_code, body.reference)), 'transfer_not_found');
      const books = await sandbox.admin.books();
      assert.deepEqual([books.balance_sum, books.balances_off_journal, books.negative_holders], [0, 0, 0]);
    });

    it('takes fault settings over the admin HTTP routes and refuses bad ones', async () => {
      const url = `${sandbox.url}/sandbox/banks/${holder.bank_code}/faults`;
      const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error_rate: 0.25 }) });
      assert.equal(put.status, 200);
      assert.equal((await put.json() as { error_rate: number }).error_rate, 0.25);
      assert.equal(sandbox.admin.faults(holder.bank_code).error_rate, 0.25);
      const bad = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error_rate: 2 }) });
      assert.equal(bad.status, 400);
      const cleared = await fetch(`${sandbox.url}/sandbox/faults`, { method: 'DELETE' });
      assert.equal(cleared.status, 200);
      assert.equal(sandbox.admin.faults(holder.bank_code).error_rate, 0);
    });
  });
});
