// The dry run over decisions stored by the decision record, on PGlite and PostgreSQL: the window, the event kinds,
// the limit (newest first, truncated flagged), reading in batches, and nothing written.
// Must never count another test's decisions: each test uses its own time window in a year no other test writes.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import type { RiskAction, RiskEvent } from './hook.js';
import { storeDecision } from './decisions.js';
import { dryRunRules } from './dry-run.js';
import { parseRuleSet } from './rules.js';

const candidate = parseRuleSet(`
version: 1
rules:
  - id: big-charge
    description: A big charge
    rationale: testing
    events: [charge]
    when: { feature: amount, op: '>=', value: 10000 }
    action: review
    score: 60
  - id: young-wallet-link
    description: A link from a wallet younger than an hour
    rationale: testing
    events: [link_start]
    when: { feature: account_age_hours, op: '<', value: 1 }
    action: challenge
    score: 30
    mode: shadow
`, { source: 'candidate.yaml' });

let year = 2100;

async function seed(db: Parameters<typeof storeDecision>[0], at: Date, kind: RiskEvent['kind'], action: RiskAction, features: Record<string, number | null>) {
  return storeDecision(db, {
    event: { kind, walletId: `wal_dry_${at.getTime()}` }, features,
    decision: { action, score: action === 'allow' ? 0 : 50, reasons: [] },
    hits: action === 'allow' ? [] : [{ rule: 'old-rule', text: 'old', action, score: 50 }], shadowHits: [], enforced: true, at,
  });
}

forEachBackend('risk dry run', (db) => {
  it('replays the decisions in the window on their recorded features and counts what would change', async () => {
    const y = ++year;
    const at = (minute: number) => new Date(Date.UTC(y, 0, 1, 0, minute));
    const bigAllowed = await seed(db(), at(1), 'charge', 'allow', { amount: 30_000 });
    await seed(db(), at(2), 'charge', 'allow', { amount: 300 });
    const reviewedSmall = await seed(db(), at(3), 'charge', 'review', { amount: 500 });
    await seed(db(), at(4), 'link_start', 'allow', { account_age_hours: 0.2 });
    await seed(db(), at(70), 'charge', 'allow', { amount: 99_000 }); // outside the window below
    const alertsBefore = await db().query('SELECT count(*)::int AS n FROM risk_alerts');

    const s = await dryRunRules(db(), candidate, { since: at(0), until: at(60) });
    assert.equal(s.replayed, 4);
    assert.equal(s.truncated, false);
    assert.deepEqual(s.before, { allow: 3, challenge: 0, review: 1, deny: 0 });
    assert.deepEqual(s.after, { allow: 3, challenge: 0, review: 1, deny: 0 });
    assert.equal(s.changes.allow.review, 1);
    assert.equal(s.changes.review.allow, 1);
    assert.equal(s.changed, 2);
    assert.deepEqual(s.rules.map((r) => [r.rule, r.enforcedHits, r.shadowHits]), [['big-charge', 1, 0], ['young-wallet-link', 0, 1]]);
    assert.deepEqual(s.samples.map((x) => [x.id, x.before, x.after]), [[reviewedSmall, 'review', 'allow'], [bigAllowed, 'allow', 'review']]);
    assert.deepEqual(s.first, at(1));
    assert.deepEqual(s.last, at(4));

    const charges = await dryRunRules(db(), candidate, { since: at(0), until: at(60), eventKinds: ['link_start'] });
    assert.equal(charges.replayed, 1);
    assert.equal(charges.rules[1]!.shadowHits, 1);
    const after = await db().query('SELECT count(*)::int AS n FROM risk_alerts');
    assert.deepEqual(after.rows, alertsBefore.rows, 'a dry run writes nothing');
  });

  it('takes the newest `limit` decisions across batches and says when the window held more', async () => {
    const y = ++year;
    const start = new Date(Date.UTC(y, 0, 1));
    const total = 1_005; // more than one batch of 1 000
    await db().transaction(async (tx) => {
      for (let i = 0; i < total; i++) {
        await seed(tx, new Date(start.getTime() + i * 1000), 'charge', 'allow', { amount: i % 2 === 0 ? 50_000 : 10 });
      }
    });
    const window = { since: start, until: new Date(Date.UTC(y + 1, 0, 1)) };
    const all = await dryRunRules(db(), candidate, { ...window, limit: 2_000 });
    assert.equal(all.replayed, total);
    assert.equal(all.truncated, false);
    assert.equal(all.after.review, 503);
    assert.equal(all.samples.length, 20);

    const newest = await dryRunRules(db(), candidate, { ...window, limit: 1_001 });
    assert.equal(newest.replayed, 1_001);
    assert.equal(newest.truncated, true);
    assert.deepEqual(newest.first, new Date(start.getTime() + 4 * 1000), 'the oldest four were left out');
    const exact = await dryRunRules(db(), candidate, { ...window, limit: total });
    assert.equal(exact.truncated, false);
    await assert.rejects(dryRunRules(db(), candidate, { limit: 100_001 }), RangeError);
  });
});
