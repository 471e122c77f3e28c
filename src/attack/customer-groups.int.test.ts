// The replay's ordinary customers in their groups (issue 11), at a tiny size, in process over real HTTP on each backend:
// each group is cast as asked and its figures come out of the run — families on one tablet held once and released by
// the analyst, reinstalls asked for their second factor, typists and carrier-NAT neighbours served, heavy users' large
// sums after the new-link window met with their authenticator, PIN-only bank holders refused the link with a next step
// and funding the wallet by bank transfer instead.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backends, testDatabaseUrl } from '../../test-support/backends.js';
import { CUSTOMER_GROUPS, groupSizes } from './cast.js';
import { summaryOf, verdictOf } from './report.js';
import { runDocomo2020, type AttackReport } from './scenario.js';

const SIZE = { victims: 2, victimBanks: 1, customers: 12, attackers: 1 };

for (const backend of backends()) {
  const databaseUrl = backend.name === 'postgres' ? testDatabaseUrl() : undefined;

  describe(`koza attack: ordinary customers by group [${backend.name}]`, () => {
    let report: AttackReport;
    before(async () => {
      report = await runDocomo2020({ policy: 'secure', seed: 11, size: SIZE, databaseUrl, env: { KOZA_SANDBOX_SEED: '2020' } });
    });

    it('casts every group the size asks and counts each action once: succeeded + held + denied = attempted', () => {
      const groups = report.legit.groups!;
      const sizes = groupSizes(SIZE.customers);
      for (const g of CUSTOMER_GROUPS) {
        assert.equal(groups[g].customers, sizes[g], g);
        const f = groups[g];
        assert.equal(f.succeeded + f.held + f.denied, f.attempted, `${g}: ${JSON.stringify(f)}`);
      }
      assert.ok(sizes.family >= 3 && sizes.cafe >= 3 && sizes.reinstall >= 1 && sizes['pin-typo'] >= 1 && sizes.heavy >= 1);
    });

    it('no customer is denied or stranded; the family tablet is held once, released, and its members go on', () => {
      const groups = report.legit.groups!;
      for (const g of CUSTOMER_GROUPS) {
        assert.equal(groups[g].denied, 0, `${g} denied: ${JSON.stringify(report.legit_refusals)} ${JSON.stringify(report.legit_failures)}`);
        assert.equal(groups[g].stranded, 0, `${g} stranded: ${JSON.stringify(report.legit_failures)}`);
      }
      assert.ok(groups.family.held <= 1, JSON.stringify(groups.family));
      // Every member opened a wallet, verified, enrolled, linked and charged: at least 6 actions each came through.
      assert.ok(groups.family.succeeded >= 6 * groups.family.customers, JSON.stringify(groups.family));
    });

    it('a reinstall meets the second factor at sign-in; a heavy user meets step-ups for sums above the thresholds, and gets through', () => {
      const { reinstall, heavy } = report.legit.groups!;
      assert.ok(reinstall.challenged >= reinstall.customers, JSON.stringify(reinstall));
      // The payment from ¥10,000 to a shop they never paid (and a first withdrawal from ¥10,000) meets the designed step-up;
      // their larger charges on their usual phone are the trust ramp, asked for nothing (large-charge-vs-history needs a
      // takeover sign).
      assert.ok(heavy.challenged >= heavy.customers, JSON.stringify(heavy));
      assert.equal(heavy.succeeded, heavy.attempted, JSON.stringify(heavy));
      assert.equal(heavy.rules_hit['large-charge-vs-history'], undefined, JSON.stringify(heavy.rules_hit));
    });

    it('holders at a PIN-only bank are refused the link with a next step, fund by bank transfer and pay from it', () => {
      const { 'pin-only-bank': pinOnly } = report.legit.groups!;
      assert.ok(pinOnly.customers >= 1);
      assert.equal(pinOnly.steered, pinOnly.customers, JSON.stringify(report.legit_failures));
      assert.equal(pinOnly.stranded, 0, JSON.stringify(report.legit_failures));
      assert.equal(pinOnly.succeeded, pinOnly.attempted, JSON.stringify(pinOnly));
      const t = report.legit.targets!;
      assert.equal(t.stranded, 0);
      assert.equal(t.denied, 0);
      assert.equal(t.actions, CUSTOMER_GROUPS.reduce((n, g) => n + report.legit.groups![g].attempted, 0));
      assert.equal(t.met, t.denied === 0 && t.stranded === 0 && t.challenged_pct <= 2 && t.held_pct <= 0.5);
      // The verdict holds the targets: it is as expected exactly when they are met (the attack takes nothing here).
      assert.equal(report.attack.stolen_yen, 0);
      assert.equal(verdictOf(report).expected, t.met, verdictOf(report).text);
      assert.match(summaryOf(report), /ordinary customers by group/);
      assert.match(summaryOf(report), /targets: \d+ denied/);
    });
  });
}
