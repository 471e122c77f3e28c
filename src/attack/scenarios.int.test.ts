// Issue 10's three new replays at tiny sizes, in process over real HTTP, on each storage backend: the report has the
// docomo-2020 shape plus pins_confirmed, bank_accounts_locked, alerts and first_alert_after_s, and its money comes from
// koza's ledger and the banks' passbooks (the two agree), its PINs from the banks' own data — never the ring's word.
// The outcomes under secure are issue 10's to change; these assert what the books must say whatever koza decides.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backends, testDatabaseUrl } from '../../test-support/backends.js';
import { runAttack, type AttackReport, type ScenarioName } from './scenario.js';
import { summaryOf, verdictOf } from './report.js';

const COUNTS = ['leaked_accounts', 'wallets_opened', 'links_attempted', 'links_succeeded', 'charges_attempted', 'charges_succeeded',
  'stolen_yen', 'victims', 'banks_hit', 'largest_case_yen', 'holders_notified', 'debited_at_banks_yen', 'holders_reported',
  'pins_confirmed', 'bank_accounts_locked', 'alerts'];

function assertShape(report: AttackReport, scenario: ScenarioName, policy: string, targeted: number): void {
  const json = JSON.parse(JSON.stringify(report)) as Record<string, any>;
  assert.equal(json.scenario, scenario);
  assert.equal(json.policy, policy);
  assert.equal(json.banks, 35);
  for (const key of COUNTS) assert.ok(Number.isSafeInteger(json.attack[key]) && json.attack[key] >= 0, `attack.${key}: ${json.attack[key]}`);
  assert.ok('first_alert_after_s' in json.attack);
  const first = json.attack.first_alert_after_s;
  assert.ok(first === null ? json.attack.alerts === 0 : Number.isSafeInteger(first) && first >= 0 && json.attack.alerts > 0, `first alert ${first}`);
  assert.equal(json.attack.leaked_accounts, targeted);
  assert.ok(json.attack.bank_accounts_locked <= targeted);
  assert.ok(json.attack.largest_case_yen <= json.attack.stolen_yen);
  assert.equal(json.attack.ledger_matches_banks, true, 'koza\'s ledger and the banks\' books agree');
  assert.equal(json.legit.denied, 0, JSON.stringify(json.legit_refusals));
  assert.match(summaryOf(report), /PINs confirmed/);
  assert.equal(typeof verdictOf(report).text, 'string');
}

for (const backend of backends()) {
  const databaseUrl = backend.name === 'postgres' ? testDatabaseUrl() : undefined;
  const run = (scenario: ScenarioName, policy: 'secure' | 'legacy-2020', victims: number, customers: number) => runAttack(scenario, {
    policy, seed: 7, size: { victims, victimBanks: 1, customers, attackers: 1 }, databaseUrl, env: { KOZA_SANDBOX_SEED: '2020' }, days: 2,
  });

  describe(`koza attack, issue 10's scenarios [${backend.name}]`, () => {
    it('sim-swap under legacy-2020: two simulated days, the holder\'s money taken, exactly what the bank\'s passbook shows', async () => {
      const report = await run('sim-swap', 'legacy-2020', 1, 2);
      assertShape(report, 'sim-swap', 'legacy-2020', 1);
      assert.equal(report.simulated_hours, 48);
      const { attack } = report;
      assert.ok(attack.stolen_yen > 0, JSON.stringify(report));
      assert.equal(attack.debited_at_banks_yen, attack.stolen_yen);
      assert.equal(attack.victims, 1);
      assert.ok(attack.links_succeeded >= 1 && attack.wallets_opened === 1);
      // The bank texted the swapped phone only: no other channel told the holder under the 2020 rules.
      assert.equal(attack.holders_notified, 0);
    });

    it('account-takeover under legacy-2020: stuffed and sprayed sign-ins take customers\' money to the ring\'s shop', async () => {
      const report = await run('account-takeover', 'legacy-2020', 6, 1);
      assertShape(report, 'account-takeover', 'legacy-2020', 6);
      const { attack } = report;
      assert.ok(attack.stolen_yen > 0, JSON.stringify(report));
      assert.ok(attack.victims >= 1 && attack.victims <= 6);
      assert.equal(attack.wallets_opened, 0, 'it opened nothing: it took wallets over');
      assert.equal(attack.pins_confirmed, 0);
      // The ring's own charges from the victims' links are at the banks, to the yen.
      assert.ok(attack.debited_at_banks_yen >= 0);
    });

    it('pin-spraying under secure: what the ring believes and what the banks confirm are counted apart', async () => {
      const report = await run('pin-spraying', 'secure', 6, 1);
      assertShape(report, 'pin-spraying', 'secure', 6);
      const believed = report.attacker_refusals['PINs believed (its own view)'] ?? 0;
      assert.ok(report.attack.pins_confirmed <= believed, `${report.attack.pins_confirmed} confirmed of ${believed} believed`);
      assert.ok(report.attack.links_attempted > 0, 'it sprayed');
      assert.ok(report.attack.wallets_opened >= 1);
    });
  });
}
