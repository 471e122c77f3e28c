// Charges while the banks misbehave: answers lost after booking, requests dropped, errors at random. Customers
// retry with the same Idempotency-Key as a real app would; then the faults stop and reconciliation runs.
// Nothing may be lost or doubled: every charge the bank booked is posted once in the ledger, every charge it
// did not book is voided, and money at the banks, in the wallets and in the ledger agrees to the yen.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { forEachBackend } from '../../test-support/backends.js';
import {
  expectOk, HolderPicker, linkedHolder, startLinkWorld, type LinkWorld, type PersonWallet,
} from '../../test-support/links-for-tests.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import { createOperator } from '../operations/operators.js';
import { ledgerTotals } from '../ledger/ledger.js';
import { reconcileOnce } from './reconciler.js';
import { allowAll } from '../risk/hook.js';

const HOLDERS = 3;
const CHARGES = 30;
const WAVE = 10;

forEachBackend('charges under bank faults', (db, backend) => {
  let world: LinkWorld;
  let operatorKey: string;
  let picker: HolderPicker;
  before(async () => {
    // The banks' faults are under test here, not the risk rules: a customer retrying dozens of charges in a
    // minute is exactly what the velocity rules send to review, so this koza allows every charge.
    world = await startLinkWorld(backend, db(), { env: { KOZA_BANK_TIMEOUT_MS: '300' }, risk: allowAll });
    picker = new HolderPicker(world.sandbox);
    operatorKey = (await createOperator(db(), { name: 'Ops', role: 'admin' })).apiKey;
  });
  after(async () => { await world?.close(); });

  it('loses and doubles nothing: bank, wallets and ledger agree to the yen after reconciliation', async () => {
    const admin = world.sandbox.admin;
    const linked: Array<{ holder: SandboxHolderAccount; wallet: PersonWallet; linkId: string; bankBefore: number }> = [];
    for (let i = 0; i < HOLDERS; i++) {
      const { holder, wallet, linkId } = await linkedHolder(world, picker, (h) => h.balance >= 300_000
        && !linked.some((l) => l.holder.bank_code === h.bank_code));
      // Four weeks old and confirmed by its holder at the bank: full trust, so the amounts here are not capped.
      await db().query(`UPDATE bank_links SET created_at = now() - interval '29 days', holder_confirmed_at = now(),
        holder_confirmed_via = 'email' WHERE id = $1`, [linkId]);
      linked.push({ holder, wallet, linkId, bankBefore: (await admin.holder(holder))!.balance });
    }
    for (const { holder } of linked) {
      admin.setFaults(holder.bank_code, { latency_ms: 2, error_rate: 0.2, timeout_rate: 0.3, timeout_ms: 600, apply_before_timeout: 0.5 });
    }

    // Each customer app retries a charge with its key until it gets an answer that is not "try again".
    const answers: Array<{ status: number; id?: string }> = [];
    const chargeWithRetries = async (n: number) => {
      const who = linked[n % HOLDERS]!;
      const amount = 1_000 + ((n * 7_919) % 9) * 1_000;
      const key = `chaos-${randomUUID()}`;
      let last = { status: 0, json: {} as Record<string, any> };
      for (let attempt = 0; attempt < 4; attempt++) {
        last = await world.koza.post('/v1/charges', { link_id: who.linkId, amount }, who.wallet.token, key);
        if (last.status !== 409 && last.status < 500) break;
      }
      answers.push({ status: last.status, ...(typeof last.json.id === 'string' ? { id: last.json.id } : {}) });
    };
    for (let start = 0; start < CHARGES; start += WAVE) {
      await Promise.all(Array.from({ length: Math.min(WAVE, CHARGES - start) }, (_, i) => chargeWithRetries(start + i)));
    }
    admin.clearFaults();
    assert.ok(answers.some((a) => a.status === 202), 'some answers were lost (pending)');
    assert.ok(answers.some((a) => a.status === 201), 'some charges went through at once');

    // Reconcile until nothing is open; the bank answers now.
    for (let round = 0; round < 5; round++) {
      const result = expectOk(await world.koza.post('/v1/admin/reconciliation/pending', { grace_seconds: 0 }, operatorKey), 200);
      if (result.still_open === 0) break;
    }
    const open = await db().query(`SELECT count(*)::int8 AS n FROM bank_movements WHERE status IN ('requested', 'unknown')`);
    assert.equal(open.rows[0]!.n, 0, 'every movement settled');

    let postedTotal = 0;
    for (const who of linked) {
      const movements = await db().query<{ id: string; amount: number; status: string }>(
        'SELECT id, amount, status FROM bank_movements WHERE link_id = $1', [who.linkId]);
      let posted = 0;
      for (const m of movements.rows) {
        const atBank = await admin.transfer(who.holder.bank_code, m.id);
        const booked = atBank?.status === 'completed';
        assert.equal(m.status === 'posted', booked, `${m.id}: ledger ${m.status}, bank ${atBank?.status ?? 'none'}`);
        if (booked) assert.equal(atBank!.amount, m.amount);
        if (m.status === 'posted') posted += m.amount;
      }
      const bankAfter = (await admin.holder(who.holder))!.balance;
      assert.equal(who.bankBefore - bankAfter, posted, 'the bank took exactly what the ledger posted');
      const wallet = expectOk(await world.koza.get('/v1/wallet/balance', who.wallet.token), 200);
      assert.equal(wallet.balance, posted);
      assert.equal(wallet.pending, 0);
      postedTotal += posted;
    }
    assert.ok(postedTotal > 0);
    const totals = await ledgerTotals(db());
    assert.equal(totals.debitsPosted, totals.creditsPosted);
    assert.equal(totals.debitsPending, totals.creditsPending);
    const books = await admin.books();
    assert.equal(books.balance_sum, 0);
    assert.equal(books.balances_off_journal, 0);
    assert.equal(books.negative_holders, 0);
  });

  it('lets two reconciler workers run at once: each open movement is taken by one of them and settled once', async () => {
    const admin = world.sandbox.admin;
    const { holder, wallet, linkId } = await linkedHolder(world, picker, (h) => h.balance >= 100_000);
    const link = { id: linkId };
    // Every answer is lost after booking: six charges left pending.
    admin.setFaults(holder.bank_code, { timeout_rate: 1, timeout_ms: 600, apply_before_timeout: 1 });
    try {
      for (let i = 0; i < 6; i++) expectOk(await world.koza.post('/v1/charges', { link_id: link.id, amount: 1_000 }, wallet.token), 202);
    } finally {
      admin.clearFaults(holder.bank_code);
    }
    const koza = world.app.koza;
    const deps = { db: koza.db, config: koza.config, client: koza.banks!, risk: koza.risk };
    const [a, b] = await Promise.all([reconcileOnce(deps, { graceSeconds: 0 }), reconcileOnce(deps, { graceSeconds: 0 })]);
    assert.equal(a.settled + b.settled, 6, `worker A ${a.settled}, worker B ${b.settled}`);
    const balance = expectOk(await world.koza.get('/v1/wallet/balance', wallet.token), 200);
    assert.equal(balance.balance, 6_000);
    assert.equal(balance.pending, 0);
  });
});
