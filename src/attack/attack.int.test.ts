// The 2020 attack replayed on a small cast (6 leaked accounts at 3 of the 11 PIN-only banks, 10 ordinary customers),
// in process over real HTTP, on each storage backend: under legacy-2020 the ring steals from accounts at several banks,
// exactly what the banks' books show; under secure it steals nothing, while no ordinary customer is refused anything
// and at most 5% of their charges are challenged.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backends, testDatabaseUrl } from '../../test-support/backends.js';
import { runDocomo2020, type AttackReport } from './scenario.js';
import { summaryOf, verdictOf } from './report.js';

const SMALL = { victims: 6, victimBanks: 3, customers: 10, attackers: 2 };
const ATTACK_FIELDS = ['leaked_accounts', 'wallets_opened', 'links_attempted', 'links_succeeded', 'charges_attempted',
  'charges_succeeded', 'stolen_yen', 'victims', 'banks_hit', 'largest_case_yen', 'holders_notified'];
const LEGIT_FIELDS = ['customers', 'links_attempted', 'links_succeeded', 'charges_attempted', 'charges_succeeded', 'challenged', 'denied'];

/** The report has the shape: these keys, whole numbers everywhere. */
function assertShape(report: AttackReport, policy: string): void {
  const json = JSON.parse(JSON.stringify(report)) as Record<string, any>;
  for (const key of ['scenario', 'policy', 'seed', 'banks', 'attack', 'legit']) assert.ok(key in json, key);
  assert.equal(json.scenario, 'docomo-2020');
  assert.equal(json.policy, policy);
  assert.equal(json.seed, 7);
  assert.equal(json.banks, 35);
  for (const key of ATTACK_FIELDS) assert.ok(Number.isSafeInteger(json.attack[key]) && json.attack[key] >= 0, `attack.${key}: ${json.attack[key]}`);
  for (const key of LEGIT_FIELDS) assert.ok(Number.isSafeInteger(json.legit[key]) && json.legit[key] >= 0, `legit.${key}: ${json.legit[key]}`);
  assert.equal(json.attack.leaked_accounts, SMALL.victims);
  assert.equal(json.legit.customers, SMALL.customers);
}

/**
 * Ordinary customers linked their own accounts and charged; nothing they did was refused. Under secure the holders at a
 * PIN-only bank cannot link (they fund by transfer), and a family tablet's link may be held once before the analyst
 * releases it (customer-groups.int.test.ts has the groups' own figures).
 */
function assertCustomersServed(report: AttackReport): void {
  const { legit } = report;
  assert.equal(legit.denied, 0, `customers refused: ${JSON.stringify(report.legit_refusals)}`);
  assert.deepEqual(Object.keys(report.legit_refusals).filter((r) => !r.endsWith(':link-held-for-review')), []);
  const groups = legit.groups!;
  assert.ok(legit.held <= groups.family.customers - 2, `held ${legit.held}`);
  const cannotLink = report.policy === 'secure' ? groups['pin-only-bank'].customers : 0;
  assert.equal(legit.links_succeeded, legit.customers - cannotLink, JSON.stringify(report.legit_failures));
  assert.ok(legit.charges_attempted >= legit.customers - cannotLink);
  assert.equal(legit.charges_succeeded, legit.charges_attempted, JSON.stringify(report.legit_failures));
  // Challenged only where a proof is by design: a heavy user's payment to a new shop from ¥10,000 and first withdrawal,
  // a reinstalled app's sign-in. Everyone else — a family on one tablet too — goes through without one.
  for (const g of ['own-line', 'carrier-nat', 'cafe', 'family', 'pin-typo', 'pin-only-bank'] as const) {
    assert.equal(groups[g].challenged, 0, `${g}: ${JSON.stringify(groups[g])}`);
  }
}

for (const backend of backends()) {
  const databaseUrl = backend.name === 'postgres' ? testDatabaseUrl() : undefined;
  const run = (policy: 'secure' | 'legacy-2020') => runDocomo2020({
    policy, seed: 7, size: SMALL, databaseUrl, env: { KOZA_SANDBOX_SEED: '2020' },
  });

  describe(`koza attack docomo-2020 [${backend.name}]`, () => {
    let legacy: AttackReport;
    let secure: AttackReport;
    before(async () => {
      // One after the other: two koza instances at once would share the machine's two cores and slow both.
      legacy = await run('legacy-2020');
      secure = await run('secure');
    });

    it('legacy-2020: wallets opened with a name and an e-mail link victims\' accounts by PIN and take their money, at several banks', () => {
      assertShape(legacy, 'legacy-2020');
      assert.equal(legacy.backend, backend.name);
      const { attack } = legacy;
      assert.ok(attack.stolen_yen > 0, JSON.stringify(legacy));
      assert.ok(attack.banks_hit >= 2, `banks hit: ${attack.banks_hit}`);
      assert.ok(attack.victims >= 2 && attack.victims <= attack.leaked_accounts);
      assert.ok(attack.links_succeeded >= attack.victims);
      assert.ok(attack.largest_case_yen > 0 && attack.largest_case_yen <= 600_000, `largest: ${attack.largest_case_yen}`);
      // Counted twice, from koza's ledger and from the banks' books, and the two agree to the yen.
      assert.equal(attack.debited_at_banks_yen, attack.stolen_yen);
      assert.equal(attack.ledger_matches_banks, true);
      // The 2020 wallet had no risk engine: nothing decided, nothing hit.
      assert.deepEqual(attack.rules_hit, {});
      assert.equal(verdictOf(legacy).expected, true);
      assertCustomersServed(legacy);
    });

    it('secure: the same ring with the same list steals nothing, and ordinary customers are refused nothing', () => {
      assertShape(secure, 'secure');
      const { attack } = secure;
      assert.equal(attack.stolen_yen, 0, JSON.stringify(secure));
      assert.equal(attack.charges_succeeded, 0);
      assert.equal(attack.links_succeeded, 0);
      assert.equal(attack.victims, 0);
      assert.equal(attack.banks_hit, 0);
      assert.equal(attack.debited_at_banks_yen, 0);
      assert.ok(attack.links_attempted > 0, 'the ring tried');
      assert.ok(attack.wallets_opened > 0);
      // It tried PIN alone first, as in 2020, and was told no.
      assert.ok(Object.keys(secure.attacker_refusals).some((r) => r.startsWith('link pin_only:')), JSON.stringify(secure.attacker_refusals));
      assertCustomersServed(secure);
      // As expected exactly when issue 11's customer targets are met too.
      assert.equal(verdictOf(secure).expected, secure.legit.targets!.met, verdictOf(secure).text);
    });

    it('prints a readable summary with both tables and the verdict', () => {
      const text = summaryOf(secure);
      for (const heading of ['the attack', 'ordinary customers', 'stolen', 'challenged', 'denied', 'verdict: ']) {
        assert.ok(text.includes(heading), heading);
      }
      assert.match(summaryOf(legacy), /verdict: the 2020 attack works again: ¥[\d,]+ taken/);
    });
  });
}
