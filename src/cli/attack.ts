// Owns `koza attack`: the 2020 replay from the command line — options checked, progress on stderr, the summary (or one
// JSON object) on stdout. Must never leave the servers or schemas it started behind when a run ends or fails.
import type { ParseArgsConfig } from 'node:util';
import type { PolicyName } from '../config.js';
import { DEFAULT_SIZES, runAttack, SCENARIOS, type ScenarioName } from '../attack/scenario.js';
import { summaryOf } from '../attack/report.js';

function fail(message: string): number {
  process.stderr.write(`koza: ${message}; run 'koza attack --help'\n`);
  return 2;
}

function wholeNumber(raw: string | boolean | undefined, fallback: number, min: number, max: number): number | null {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw)) return null;
  const n = Number(raw);
  return n >= min && n <= max ? n : null;
}

export const attackCommand = {
  summary: 'Replay an attack (the 2020 one, SIM swap, account takeover, PIN spraying) against koza and the bank sandbox; report what was taken',
  usage: `koza attack --scenario docomo-2020|sim-swap|account-takeover|pin-spraying --policy secure|legacy-2020 [--seed N]
             [--victims N] [--victim-banks N] [--customers N] [--attackers N] [--json]

  docomo-2020 (below); sim-swap: a ring with a few holders' identity documents, PINs and their bank phone number passes
  eKYC as them, links by PIN + the bank's text and charges what it can for five simulated days (a test clock moves
  koza's and the banks' stored times); account-takeover: credential stuffing and common-password spraying against
  ordinary customers, then phone, e-mail, factor, a shop of its own and payments below the step-up threshold;
  pin-spraying: koza's link start used as a PIN checker over many account numbers. Every report adds pins_confirmed
  (checked against the banks' data), bank_accounts_locked, alerts and first_alert_after_s (simulated seconds).

  Starts koza (in memory, or fresh schemas on DATABASE_URL, dropped afterwards) and the bank sandbox (35 banks) on free
  loopback ports, then runs at once over HTTP: a ring holding a leaked list of account numbers, PINs and names that
  opens wallets in the victims' names, tries every link method and charges what it can; ordinary customers who sign
  up, verify, link their own accounts, charge and pay; then the holders, who read what their bank told them and
  report KOZA debits they never made. Money is counted from koza's ledger and the banks' books.

  --scenario      docomo-2020, sim-swap, account-takeover or pin-spraying
  --policy        secure (koza as built) or legacy-2020 (the 2020 wallet's rules)
  --seed          who is cast: victims, customers, the ring's pools (default 2020); KOZA_SANDBOX_SEED seeds the population
  --victims       what the ring holds (defaults ${SCENARIOS.map((s) => DEFAULT_SIZES[s].victims).join('/')} in the order above): leaked accounts,
                  holders whose phone it swapped, customers on its login list, account numbers it sprays
  --victim-banks  docomo-2020: banks the list covers, of the 11 that take a PIN alone (default ${DEFAULT_SIZES['docomo-2020'].victimBanks})
  --customers     ordinary customers alongside (defaults ${SCENARIOS.map((s) => DEFAULT_SIZES[s].customers).join('/')})
  --attackers     the ring's workers at once (defaults ${SCENARIOS.map((s) => DEFAULT_SIZES[s].attackers).join('/')})
  --json          only the report, one JSON object, on stdout; progress always goes to stderr`,
  options: {
    scenario: { type: 'string' }, policy: { type: 'string' }, seed: { type: 'string' }, victims: { type: 'string' },
    'victim-banks': { type: 'string' }, customers: { type: 'string' }, attackers: { type: 'string' }, json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } satisfies NonNullable<ParseArgsConfig['options']>,
  async run(values: Record<string, string | boolean | undefined>): Promise<number> {
    if (values.scenario === undefined) return fail(`--scenario is required (${SCENARIOS.join(', ')})`);
    if (!(SCENARIOS as readonly unknown[]).includes(values.scenario)) return fail(`unknown scenario '${String(values.scenario)}' (scenarios: ${SCENARIOS.join(', ')})`);
    const scenario = values.scenario as ScenarioName;
    const DEFAULT_SIZE = DEFAULT_SIZES[scenario];
    if (values.policy !== 'secure' && values.policy !== 'legacy-2020') return fail('--policy must be secure or legacy-2020');
    const seed = wholeNumber(values.seed, 2020, 0, 2 ** 31 - 1);
    if (seed === null) return fail('--seed must be a whole number from 0 to 2147483647');
    const victims = wholeNumber(values.victims, DEFAULT_SIZE.victims, 1, 300);
    if (victims === null) return fail('--victims must be a whole number from 1 to 300');
    const victimBanks = wholeNumber(values['victim-banks'], DEFAULT_SIZE.victimBanks, 1, 11);
    if (victimBanks === null) return fail('--victim-banks must be a whole number from 1 to 11');
    const customers = wholeNumber(values.customers, DEFAULT_SIZE.customers, 0, 600);
    if (customers === null) return fail('--customers must be a whole number from 0 to 600');
    const attackers = wholeNumber(values.attackers, DEFAULT_SIZE.attackers, 1, 16);
    if (attackers === null) return fail('--attackers must be a whole number from 1 to 16');

    const progress = (line: string) => process.stderr.write(`${line}\n`);
    const databaseUrl = process.env.DATABASE_URL === '' ? undefined : process.env.DATABASE_URL;
    let report;
    try {
      report = await runAttack(scenario, {
        policy: values.policy as PolicyName, seed, size: { victims, victimBanks, customers, attackers }, databaseUrl,
        env: { ...process.env }, progress,
      });
    } catch (err) {
      // The cast does not fit the population (too many victims at too few banks): the options' fault, not a crash.
      if (err instanceof RangeError) return fail(err.message);
      throw err;
    }
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : summaryOf(report));
    return 0;
  },
};
