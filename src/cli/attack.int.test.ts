// `koza attack` as a user runs it: help, one-line mistakes with exit 2, and a tiny replay whose --json is the only
// thing on stdout while progress goes to stderr (embedded database; the scenario's own tests cover both backends).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { KOZA_BIN } from '../../test-support/koza-process.js';

function koza(args: string[]) {
  const res = spawnSync(process.execPath, [KOZA_BIN, 'attack', ...args], {
    encoding: 'utf8', env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'silent' }, timeout: 300_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('koza attack', () => {
  it('--help names the scenarios, the policies and the size options', () => {
    const help = koza(['--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /Usage: koza attack --scenario docomo-2020\|sim-swap\|account-takeover\|pin-spraying --policy secure\|legacy-2020/);
    for (const field of ['pins_confirmed', 'bank_accounts_locked', 'first_alert_after_s']) assert.ok(help.stdout.includes(field), field);
    for (const option of ['--seed', '--victims', '--victim-banks', '--customers', '--attackers', '--json']) {
      assert.ok(help.stdout.includes(option), option);
    }
  });

  it('answers a mistake with one line on stderr and exit 2', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--bogus'], /^koza: Unknown option '--bogus'/],
      [['--policy', 'secure'], /^koza: --scenario is required/],
      [['--scenario', 'mtgox-2014', '--policy', 'secure'], /^koza: unknown scenario 'mtgox-2014'/],
      [['--scenario', 'docomo-2020'], /^koza: --policy must be secure or legacy-2020/],
      [['--scenario', 'docomo-2020', '--policy', 'secure', '--victims', '0'], /^koza: --victims must be a whole number/],
      [['--scenario', 'docomo-2020', '--policy', 'secure', '--victim-banks', '12'], /^koza: --victim-banks must be a whole number/],
      [['--scenario', 'docomo-2020', '--policy', 'secure', '--seed', '-1'], /^koza: /],
      [['--scenario', 'sim-swap'], /^koza: --policy must be secure or legacy-2020/],
      [['--scenario', 'sim_swap', '--policy', 'secure'], /^koza: unknown scenario 'sim_swap' \(scenarios: docomo-2020, sim-swap, account-takeover, pin-spraying\)/],
      [['--scenario', 'pin-spraying', '--policy', 'legacy-2020', '--victims', '301'], /^koza: --victims must be a whole number/],
      [['--scenario', 'account-takeover', '--policy', 'secure', '--attackers', 'many'], /^koza: --attackers must be a whole number/],
      [['--policy', 'secure'], /^koza: --scenario is required \(docomo-2020, sim-swap, account-takeover, pin-spraying\)/],
    ];
    for (const [args, stderr] of cases) {
      const res = koza(args);
      assert.equal(res.status, 2, `koza attack ${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, stderr, args.join(' '));
      assert.equal(res.stderr.split('\n').filter(Boolean).length, 1, `one line: ${res.stderr}`);
      assert.equal(res.stdout, '');
    }
  });

  it('--json prints only the report on stdout: a tiny legacy-2020 replay steals, counted from the books', () => {
    const res = koza(['--scenario', 'docomo-2020', '--policy', 'legacy-2020', '--seed', '7', '--victims', '3', '--victim-banks', '2',
      '--customers', '2', '--attackers', '1', '--json']);
    assert.equal(res.status, 0, res.stderr);
    const lines = res.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, res.stdout);
    const report = JSON.parse(lines[0]!) as Record<string, any>;
    assert.equal(report.scenario, 'docomo-2020');
    assert.equal(report.policy, 'legacy-2020');
    assert.equal(report.seed, 7);
    assert.equal(report.banks, 35);
    assert.equal(report.attack.leaked_accounts, 3);
    assert.ok(report.attack.stolen_yen > 0);
    assert.equal(report.attack.stolen_yen, report.attack.debited_at_banks_yen);
    assert.equal(report.legit.customers, 2);
    assert.equal(report.legit.denied, 0);
    assert.match(res.stderr, /leaked list: 3 accounts at 2 of the 11 banks/);
    for (const field of ['pins_confirmed', 'bank_accounts_locked', 'alerts']) assert.ok(Number.isSafeInteger(report.attack[field]), field);
    assert.ok('first_alert_after_s' in report.attack);
  });

  it('--json for a new scenario: pin-spraying reports PINs confirmed against the banks\' data and locked accounts', () => {
    const res = koza(['--scenario', 'pin-spraying', '--policy', 'secure', '--seed', '7', '--victims', '2', '--customers', '1', '--attackers', '1', '--json']);
    assert.equal(res.status, 0, res.stderr);
    const lines = res.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, res.stdout);
    const report = JSON.parse(lines[0]!) as Record<string, any>;
    assert.equal(report.scenario, 'pin-spraying');
    assert.equal(report.attack.leaked_accounts, 2);
    assert.ok(report.attack.pins_confirmed <= (report.attacker_refusals['PINs believed (its own view)'] ?? 0));
    assert.ok(report.attack.bank_accounts_locked <= 2);
    assert.match(res.stderr, /pin-spraying: 2 account numbers/);
  });
});
