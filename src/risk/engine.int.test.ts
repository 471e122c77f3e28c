// The rule engine behind the risk hook, as a customer meets it: ordinary charges pass, the fourth debit
// of one bank account in a day goes to review (the 2020 pattern from the victim's side), and every
// decision is stored with its features and rule hits, a review opening an alert for an analyst.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  expectOk, expectProblemOver, HolderPicker, linkedHolder, startLinkWorld, type LinkWorld,
} from '../../test-support/links-for-tests.js';
import { listAlerts, listDecisions } from './decisions.js';

forEachBackend('risk engine behind the hook', (db, backend) => {
  let world: LinkWorld;
  before(async () => { world = await startLinkWorld(backend, db()); });
  after(async () => { await world?.close(); });

  it('lets ordinary charges through and sends the fourth debit of one account in a day to review, stored with its hits', async () => {
    const { wallet, linkId } = await linkedHolder(world, new HolderPicker(world.sandbox), (h) => h.balance >= 50_000);
    const link = { id: linkId };
    for (let i = 0; i < 3; i++) expectOk(await world.koza.post('/v1/charges', { link_id: link.id, amount: 2_000 }, wallet.token), 201);
    const held = expectProblemOver(await world.koza.post('/v1/charges', { link_id: link.id, amount: 2_000 }, wallet.token), 403, 'charge-under-review');
    assert.doesNotMatch(JSON.stringify(held), /velocity|rule/, 'the customer is not told the rule');
    assert.equal(expectOk(await world.koza.get('/v1/wallet/balance', wallet.token), 200).balance, 6_000);

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
  });
});
