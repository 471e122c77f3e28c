// Charges and withdrawals end to end over HTTP on 127.0.0.1 against the bank sandbox, on both storage
// backends: the holder's own wallet charges within cooling-off and level limits, the passbook shows KOZA
// and the reference, a bank that declines voids the charge, a halted bank refuses, a risk challenge needs
// a proof bound to amount and link, and a lost answer stays pending until reconciliation settles it from
// the bank's record — with bank and ledger equal to the yen.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  expectOk, expectProblemOver, HolderPicker, linkedHolder, startLinkWorld, stepUpProof, type LinkedHolder, type LinkWorld,
} from '../../test-support/links-for-tests.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import { createOperator } from '../operations/operators.js';
import { ledgerTotals } from '../ledger/ledger.js';
import type { RiskAction, RiskDecider } from '../risk/hook.js';

/** What the risk hook answers for charges (and, separately, withdrawals) in this file; tests switch them. */
let chargeAction: RiskAction = 'allow';
let withdrawalAction: RiskAction = 'allow';
const testRisk: RiskDecider = async (event) => {
  const action = event.kind === 'charge' ? chargeAction : event.kind === 'withdrawal' ? withdrawalAction : 'allow';
  return { action, score: action === 'allow' ? 0 : 80, reasons: action === 'allow' ? [] : [{ rule: 'test', text: 'set by the test' }] };
};

forEachBackend('charges and withdrawals', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  let operatorKey: string;
  before(async () => {
    world = await startLinkWorld(backend, db(), { risk: testRisk, env: { KOZA_BANK_TIMEOUT_MS: '1000' } });
    picker = new HolderPicker(world.sandbox);
    operatorKey = (await createOperator(db(), { name: 'Ops', role: 'admin' })).apiKey;
  });
  after(async () => { await world?.close(); });

  const koza = () => world.koza;
  const admin = () => world.sandbox.admin;

  type Linked = LinkedHolder;
  const linkedHolderOf = (predicate?: (h: SandboxHolderAccount) => boolean) => linkedHolder(world, picker, predicate);

  const charge = (l: Linked, amount: number, extra: Record<string, unknown> = {}, key?: string) =>
    koza().post('/v1/charges', { link_id: l.linkId, amount, ...extra }, l.wallet.token, key);
  const balanceOf = async (l: Linked) => expectOk(await koza().get('/v1/wallet/balance', l.wallet.token), 200);
  const bankBalance = async (h: SandboxHolderAccount) => (await admin().holder(h))!.balance;
  /** Full trust: the link is four weeks old and its holder confirmed it at the bank (graduated trust, link-trust.ts). */
  const ageLink = (l: Linked) => db().query(
    `UPDATE bank_links SET created_at = now() - interval '29 days', holder_confirmed_at = now(), holder_confirmed_via = 'email' WHERE id = $1`,
    [l.linkId]);

  it('charges the holder\'s own account: posted, passbook shows KOZA and the reference, idempotent, cooling-off caps a new link', async () => {
    const l = await linkedHolderOf((h) => h.balance >= 200_000);
    const before = await bankBalance(l.holder);
    const first = await charge(l, 8_000, {}, 'charge-once');
    const posted = expectOk(first, 201);
    assert.equal(posted.status, 'posted');
    assert.equal(posted.descriptor, `KOZA ${posted.id}`);
    const replay = await charge(l, 8_000, {}, 'charge-once');
    assert.equal(replay.text, first.text, 'a retry gets the first answer byte for byte and moves nothing');
    assert.deepEqual(await balanceOf(l), { ...(await balanceOf(l)), balance: 8_000, available: 8_000, pending: 0 });
    assert.equal(await bankBalance(l.holder), before - 8_000);
    const passbook = await admin().passbook(l.holder);
    assert.ok(passbook.some((line) => line.descriptor.includes(`KOZA ${posted.id}`) && line.withdrawal === 8_000), JSON.stringify(passbook.slice(-2)));

    // The new-link cap: ¥10,000 per rolling 24 h on an account linked less than 72 hours ago.
    const capped = expectProblemOver(await charge(l, 3_000), 422, 'limit-exceeded');
    assert.equal(capped.limit, 'cooling_off');
    assert.equal(capped.remaining_yen, 2_000);
    await ageLink(l);
    expectOk(await charge(l, 150_000), 201);
    assert.equal((await balanceOf(l)).balance, 158_000);
    assert.equal(await bankBalance(l.holder), before - 158_000);
  });

  it('withdraws to the own account: held, then posted when the bank pays', async () => {
    const l = await linkedHolderOf((h) => h.balance >= 50_000);
    await ageLink(l);
    expectOk(await charge(l, 30_000), 201);
    const before = await bankBalance(l.holder);
    // The first withdrawal to this account from ¥10,000 needs a step-up bound to amount and link.
    const proof = await stepUpProof(world.app, l.wallet, l.totp, { action: 'withdrawal', destination: l.linkId, amount: 12_000 });
    const out = expectOk(await koza().post('/v1/withdrawals', { link_id: l.linkId, amount: 12_000, step_up_proof: proof }, l.wallet.token), 201);
    assert.equal(out.kind, 'withdrawal');
    assert.equal((await balanceOf(l)).balance, 18_000);
    assert.equal(await bankBalance(l.holder), before + 12_000);
    expectProblemOver(await koza().post('/v1/withdrawals', { link_id: l.linkId, amount: 18_001 }, l.wallet.token), 422, 'insufficient-funds');
  });

  it('holds a reviewed charge and withdrawal where reconciliation cannot reach them, until an analyst decides', async () => {
    const l = await linkedHolderOf((h) => h.balance >= 50_000);
    await ageLink(l);
    expectOk(await charge(l, 20_000), 201);
    const bankBefore = await bankBalance(l.holder);
    chargeAction = 'review';
    withdrawalAction = 'review';
    let heldCharge: Record<string, any>;
    let heldWithdrawal: Record<string, any>;
    try {
      heldCharge = expectOk(await charge(l, 5_000), 202);
      heldWithdrawal = expectOk(await koza().post('/v1/withdrawals', { link_id: l.linkId, amount: 8_000 }, l.wallet.token), 202);
    } finally {
      chargeAction = 'allow';
      withdrawalAction = 'allow';
    }
    assert.deepEqual([heldCharge.status, heldWithdrawal.status], ['held', 'held']);
    // The held withdrawal's yen are set aside; the held charge's are not spendable.
    assert.deepEqual(await balanceOf(l), { ...(await balanceOf(l)), balance: 20_000, available: 12_000 });
    expectProblemOver(await koza().post('/v1/withdrawals', { link_id: l.linkId, amount: 12_001 }, l.wallet.token), 422, 'insufficient-funds');

    // The reconciler, even with no grace, asks no bank about a held movement: the bank was never asked.
    expectOk(await koza().post('/v1/admin/reconciliation/pending', { grace_seconds: 0 }, operatorKey), 200);
    for (const m of [heldCharge, heldWithdrawal]) assert.equal(expectOk(await koza().get(`/v1/movements/${m.id}`, l.wallet.token), 200).status, 'held');
    assert.equal(await bankBalance(l.holder), bankBefore);

    const paid = expectOk(await koza().post(`/v1/admin/movements/${heldWithdrawal.id}/release`, { reason: 'owner confirmed' }, operatorKey), 201);
    assert.equal(paid.status, 'posted');
    assert.equal(await bankBalance(l.holder), bankBefore + 8_000, 'the bank paid the released withdrawal once');
    expectOk(await koza().post(`/v1/admin/movements/${heldCharge.id}/reject`, { reason: 'not the owner' }, operatorKey), 200);
    assert.equal(await bankBalance(l.holder), bankBefore + 8_000, 'the rejected charge never reached the bank');
    assert.deepEqual(await balanceOf(l), { ...(await balanceOf(l)), balance: 12_000, available: 12_000, pending: 0 });
    const totals = await ledgerTotals(db());
    assert.equal(totals.debitsPosted, totals.creditsPosted);
    assert.equal(totals.debitsPending, totals.creditsPending);
  });

  it('voids a charge the bank declines, and moves nothing', async () => {
    const l = await linkedHolderOf((h) => h.balance < 400_000);
    await ageLink(l);
    const declined = expectProblemOver(await charge(l, 450_000), 422, 'bank-declined');
    assert.equal(declined.reason, 'insufficient_funds');
    assert.deepEqual(await balanceOf(l), { ...(await balanceOf(l)), balance: 0, available: 0, pending: 0 });
    const movement = expectOk(await koza().get(`/v1/movements/${declined.movement_id}`, l.wallet.token), 200);
    assert.equal(movement.status, 'voided');
  });

  it('refuses charges from a halted bank while other banks go on', async () => {
    const l = await linkedHolderOf();
    const halt = (active: boolean) => koza().post('/v1/admin/controls',
      { kind: 'charges_halted', bank_code: l.holder.bank_code, active, reason: 'test' }, operatorKey);
    expectOk(await halt(true), 200);
    expectProblemOver(await charge(l, 1_000), 503, 'charges-halted');
    expectOk(await halt(false), 200);
    expectOk(await charge(l, 1_000), 201);
  });

  it('asks for a step-up proof bound to amount and link when the risk hook says challenge, and refuses on deny', async () => {
    const l = await linkedHolderOf();
    chargeAction = 'challenge';
    try {
      expectProblemOver(await charge(l, 5_000), 403, 'step-up-required');
      const proof = await stepUpProof(world.app, l.wallet, l.totp, { action: 'charge', amount: 5_000, destination: l.linkId });
      assert.equal(expectProblemOver(await charge(l, 9_000, { step_up_proof: proof }), 403, 'step-up-proof-invalid').reason, 'mismatch');
      expectOk(await charge(l, 5_000, { step_up_proof: proof }), 201);
      chargeAction = 'deny';
      const denied = expectProblemOver(await charge(l, 1_000), 403, 'charge-refused');
      assert.doesNotMatch(JSON.stringify(denied), /test|rule/, 'the customer is not told the rule');
    } finally {
      chargeAction = 'allow';
    }
  });

  it('leaves a charge whose answer was lost pending, and reconciliation posts it from the bank\'s record; statements agree', async () => {
    const l = await linkedHolderOf((h) => h.balance >= 50_000);
    const before = await bankBalance(l.holder);
    // The bank books the debit, then holds its answer past koza's time-out.
    admin().setFaults(l.holder.bank_code, { timeout_rate: 1, timeout_ms: 2_500, apply_before_timeout: 1 });
    let pending;
    try {
      pending = expectOk(await charge(l, 7_000, {}, 'lost-answer'), 202);
    } finally {
      admin().clearFaults(l.holder.bank_code);
    }
    assert.equal(pending.status, 'pending');
    assert.equal(await bankBalance(l.holder), before - 7_000, 'the bank did book it');
    assert.deepEqual(await balanceOf(l), { ...(await balanceOf(l)), balance: 0, pending: 7_000 });

    const round = expectOk(await koza().post('/v1/admin/reconciliation/pending', { grace_seconds: 0 }, operatorKey), 200);
    assert.ok(round.settled >= 1);
    assert.equal(expectOk(await koza().get(`/v1/movements/${pending.id}`, l.wallet.token), 200).status, 'posted');
    assert.deepEqual(await balanceOf(l), { ...(await balanceOf(l)), balance: 7_000, pending: 0 });
    // The retry of the lost request learns how it ended: the key's 202 gave way to the final answer.
    const retried = expectOk(await charge(l, 7_000, {}, 'lost-answer'), 201);
    assert.deepEqual([retried.id, retried.status], [pending.id, 'posted']);

    const today = new Date(Date.now() + 9 * 3_600_000).toISOString().slice(0, 10);
    const report = expectOk(await koza().post('/v1/admin/reconciliation/statements', { bank_code: l.holder.bank_code, date: today }, operatorKey), 200);
    assert.deepEqual(report.differences, []);
    assert.equal(report.agrees, true);
    assert.equal(report.bank_debits, report.ledger_debits);
    const totals = await ledgerTotals(db());
    assert.equal(totals.debitsPosted, totals.creditsPosted);
    assert.equal(totals.debitsPending, totals.creditsPending);
  });
});
