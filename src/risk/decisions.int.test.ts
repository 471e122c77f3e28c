// Tests the decision record on PGlite and PostgreSQL: every decision stored with its inputs and hits, read back by
// wallet, device, IP and bank account a page at a time, and review and deny decisions feeding the alert queue.
// Must never assert on another test's rows: each test uses its own wallet, device, IP and account.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import type { RiskAction, RiskEvent } from './hook.js';
import { acknowledgeAlert, getDecision, listAlerts, listDecisions, storeDecision } from './decisions.js';

let n = 0;
const unique = (label: string) => `${label}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

function decide(action: RiskAction, score: number) {
  return { action, score, reasons: action === 'allow' ? [] : [{ rule: `r_${action}`, text: `${action} because` }] };
}

forEachBackend('risk decisions', (db) => {
  it('stores a decision with its event, features, hits and shadow hits, and reads it back by each key', async () => {
    const event: RiskEvent = {
      kind: 'charge', walletId: unique('wal'), ip: unique('ip'), deviceKey: unique('dev'), bankCode: '0001', accountRef: unique('acct'),
      amount: 5000, attributes: { method: 'redirect' },
    };
    const features = { amount: 5000, email_domain: 'example.jp', new_device: true, link_age_hours: null };
    const id = await storeDecision(db(), {
      event, features, decision: decide('challenge', 40),
      hits: [{ rule: 'new_device_big_charge', text: 'A large charge from a new device', action: 'challenge', score: 40 }],
      shadowHits: [{ rule: 'young_link', text: 'Link younger than a day', action: 'review', score: 30 }],
      enforced: true,
    });
    assert.match(id, /^rsk_/);
    const stored = await getDecision(db(), id);
    assert.ok(stored);
    assert.equal(stored.eventKind, 'charge');
    assert.equal(stored.action, 'challenge');
    assert.equal(stored.score, 40);
    assert.equal(stored.enforced, true);
    assert.deepEqual(stored.features, features);
    assert.deepEqual(stored.ruleHits.map((h) => h.rule), ['new_device_big_charge']);
    assert.deepEqual(stored.shadowHits.map((h) => h.rule), ['young_link']);
    for (const filter of [
      { walletId: event.walletId! }, { deviceKey: event.deviceKey! }, { ip: event.ip! },
      { accountRef: event.accountRef! }, { accountRef: event.accountRef!, bankCode: '0001' },
    ]) {
      const page = await listDecisions(db(), filter);
      assert.deepEqual(page.items.map((d) => d.id), [id], JSON.stringify(filter));
      assert.equal(page.next, null);
    }
    assert.equal((await listDecisions(db(), { accountRef: event.accountRef!, bankCode: '0002' })).items.length, 0);
    assert.equal((await listDecisions(db(), { ip: 'nobody' })).items.length, 0);
  });

  it('pages decisions newest first', async () => {
    const walletId = unique('wal');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await storeDecision(db(), {
        event: { kind: 'login', walletId }, features: { i }, decision: decide('allow', 0), hits: [], shadowHits: [], enforced: true,
      }));
    }
    const first = await listDecisions(db(), { walletId }, { limit: 2 });
    assert.deepEqual(first.items.map((d) => d.id), [ids[4], ids[3]]);
    assert.ok(first.next !== null);
    const second = await listDecisions(db(), { walletId }, { limit: 2, before: first.next });
    assert.deepEqual(second.items.map((d) => d.id), [ids[2], ids[1]]);
    const last = await listDecisions(db(), { walletId }, { limit: 2, before: second.next! });
    assert.deepEqual(last.items.map((d) => d.id), [ids[0]]);
    assert.equal(last.next, null);
    await assert.rejects(listDecisions(db(), { walletId }, { limit: 0 }), RangeError);
  });

  it('opens an alert for review and deny decisions only, enforced or in shadow mode', async () => {
    const walletId = unique('wal');
    const made: Record<string, string> = {};
    for (const [action, enforced] of [['allow', true], ['challenge', true], ['review', true], ['deny', true], ['deny', false]] as const) {
      made[`${action}/${enforced}`] = await storeDecision(db(), {
        event: { kind: 'link_complete', walletId, bankCode: '0001', accountRef: 'a' }, features: {}, decision: decide(action, 50),
        hits: [{ rule: `r_${action}`, text: 'why' }], shadowHits: [], enforced,
      });
    }
    const open = (await listAlerts(db(), 'open', { limit: 200 })).items.filter((a) => a.decision.walletId === walletId);
    assert.deepEqual(open.map((a) => [a.kind, a.decisionId]), [
      ['review', made['review/true']], ['deny', made['deny/true']], ['deny', made['deny/false']],
    ]);
    assert.equal(open[2]!.decision.enforced, false);
    assert.ok(open.every((a) => a.status === 'open' && a.acknowledgedAt === null));
    assert.match(open[0]!.id, /^alr_/);

    assert.equal(await acknowledgeAlert(db(), open[0]!.id, 'opr_analyst'), true);
    assert.equal(await acknowledgeAlert(db(), open[0]!.id, 'opr_analyst'), false, 'only once');
    const acknowledged = (await listAlerts(db(), 'acknowledged')).items.filter((a) => a.decision.walletId === walletId);
    assert.deepEqual(acknowledged.map((a) => a.id), [open[0]!.id]);
    assert.equal(acknowledged[0]!.acknowledgedBy, 'opr_analyst');
    const stillOpen = (await listAlerts(db(), 'open', { limit: 200 })).items.filter((a) => a.decision.walletId === walletId);
    assert.equal(stillOpen.length, 2);
  });

  it('stores a decision inside the caller\'s transaction, and loses it with a rollback', async () => {
    const walletId = unique('wal');
    await assert.rejects(db().transaction(async (tx) => {
      await storeDecision(tx, { event: { kind: 'charge', walletId }, features: {}, decision: decide('deny', 100), hits: [], shadowHits: [], enforced: true });
      assert.equal((await listDecisions(tx, { walletId })).items.length, 1);
      throw new Error('rolled back');
    }), /rolled back/);
    assert.equal((await listDecisions(db(), { walletId })).items.length, 0);
  });
});
