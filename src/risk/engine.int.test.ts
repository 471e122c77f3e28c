// The rule engine behind the risk hook, as a customer meets it: ordinary charges pass, the fourth debit
// of one bank account in a day is held for review (the 2020 pattern from the victim's side), every
// decision is stored with its features and rule hits, a review opening an alert; an analyst releases one
// held charge (the bank is asked then) and rejects another (nothing moves).
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  expectOk, expectProblemOver, HolderPicker, linkedHolder, startLinkWorld, type LinkWorld,
} from '../../test-support/links-for-tests.js';
import { listAlerts, listDecisions } from './decisions.js';
import { createOperator } from '../operations/operators.js';
import { ledgerTotals } from '../ledger/ledger.js';

forEachBackend('risk engine behind the hook', (db, backend) => {
  let world: LinkWorld;
  let analystKey: string;
  let supportKey: string;
  before(async () => {
    world = await startLinkWorld(backend, db());
    analystKey = (await createOperator(db(), { name: 'Analyst', role: 'fraud_analyst' })).apiKey;
    supportKey = (await createOperator(db(), { name: 'Support', role: 'support' })).apiKey;
  });
  after(async () => { await world?.close(); });

  it('lets ordinary charges through and sends the fourth debit of one account in a day to review, stored with its hits', async () => {
    const { wallet, linkId, holder } = await linkedHolder(world, new HolderPicker(world.sandbox), (h) => h.balance >= 50_000);
    const link = { id: linkId };
    for (let i = 0; i < 3; i++) expectOk(await world.koza.post('/v1/charges', { link_id: link.id, amount: 2_000 }, wallet.token), 201);
    const heldKey = 'held-charge-1';
    const held = expectOk(await world.koza.post('/v1/charges', { link_id: link.id, amount: 2_000 }, wallet.token, heldKey), 202);
    assert.equal(held.status, 'held');
    assert.doesNotMatch(JSON.stringify(held), /velocity|rule/, 'the customer is not told the rule');
    assert.equal(expectOk(await world.koza.get('/v1/wallet/balance', wallet.token), 200).balance, 6_000, 'a held charge is not spendable');
    const bankBefore = (await world.sandbox.admin.holder(holder))!;
    const decisions = await listDecisions(db(), { walletId: wallet.walletId }, { limit: 50 });
    const charges = decisions.items.filter((d) => d.eventKind === 'charge');
    assert.equal(charges.length, 4);
    assert.deepEqual(charges.map((d) => d.action).reverse(), ['allow', 'allow', 'allow', 'review']);
    const review = charges.find((d) => d.action === 'review')!;
    assert.ok(review.ruleHits.some((h) => h.rule === 'bank-account-charge-velocity'), JSON.stringify(review.ruleHits));
    assert.equal(review.features.charges_per_account_24h, 4);
    assert.ok(decisions.items.some((d) => d.eventKind === 'link_start' && d.action === 'allow'));
    const alerts = await listAlerts(db(), 'open', { limit: 100 });
    assert.ok(alerts.items.some((a) => a.decisionId === review.id));

    // The analyst's queue shows it; a support operator may not release it.
    const queue = expectOk(await world.koza.get('/v1/admin/movements/held', analystKey), 200);
    assert.deepEqual(queue.data.map((m: { id: string; risk_decision_id: string }) => [m.id, m.risk_decision_id]), [[held.id, review.id]]);
    expectProblemOver(await world.koza.post(`/v1/admin/movements/${held.id}/release`, { reason: 'customer confirmed by phone' }, supportKey), 403);
    const released = expectOk(await world.koza.post(`/v1/admin/movements/${held.id}/release`, { reason: 'customer confirmed by phone' }, analystKey), 201);
    assert.equal(released.status, 'posted');
    assert.equal(expectOk(await world.koza.get('/v1/wallet/balance', wallet.token), 200).balance, 8_000);
    const bankAfter = (await world.sandbox.admin.holder(holder))!;
    assert.equal(bankBefore.balance - bankAfter.balance, 2_000, 'the bank was debited once, on release');
    expectProblemOver(await world.koza.post(`/v1/admin/movements/${held.id}/reject`, { reason: 'too late' }, analystKey), 409, 'movement-not-held');
    const resolved = await listAlerts(db(), 'acknowledged', { limit: 100 });
    assert.ok(resolved.items.some((a) => a.decisionId === review.id));

    // The fifth is held too; rejected, nothing moves and the customer's own retry learns it was refused.
    const rejectKey = 'held-charge-2';
    const second = expectOk(await world.koza.post('/v1/charges', { link_id: link.id, amount: 1_000 }, wallet.token, rejectKey), 202);
    assert.equal(second.status, 'held');
    const rejected = expectOk(await world.koza.post(`/v1/admin/movements/${second.id}/reject`, { reason: 'holder did not answer' }, analystKey), 200);
    assert.equal(rejected.status, 'voided');
    assert.equal(expectOk(await world.koza.get('/v1/wallet/balance', wallet.token), 200).balance, 8_000);
    assert.equal(((await world.sandbox.admin.holder(holder))!).balance, bankAfter.balance);
    const movement = expectOk(await world.koza.get(`/v1/movements/${second.id}`, wallet.token), 200);
    assert.equal(movement.status, 'voided');
    expectProblemOver(await world.koza.post('/v1/charges', { link_id: link.id, amount: 1_000 }, wallet.token, rejectKey), 403, 'charge-refused');
    assert.equal(expectOk(await world.koza.post('/v1/charges', { link_id: link.id, amount: 2_000 }, wallet.token, heldKey), 201).status, 'posted',
      'the released charge\'s own key now answers how it ended');
    const mail = expectOk(await world.koza.get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(wallet.email)}`), 200);
    assert.ok(JSON.stringify(mail).includes('was not made after our check'), 'the customer is told');
    const totals = await ledgerTotals(db());
    assert.equal(totals.debitsPosted, totals.creditsPosted, 'the ledger sums to zero');
    assert.equal(totals.debitsPending, totals.creditsPending);
  });
});
