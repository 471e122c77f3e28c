// Owns `koza attack`: the 2020 replay from the command line — options checked, progress on stderr, the summary (or one
// JSON object) on stdout. Must never leave the servers or schemas it started behind when a run ends or fails.
import type { ParseArgsConfig } from 'node:util';
import type { PolicyName } from '../config.js';
import { DEFAULT_SIZE, runDocomo2020, SCENARIOS } from '../attack/scenario.js';
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
  summary: 'Replay the 2020 wallet attack against koza under a policy and the partner-bank sandbox; report what was stolen',
  usage: `koza attack --scenario docomo-2020 --policy secure|legacy-2020 [--seed N] [--victims N] [--victim-banks N]
             [--customers N] [--attackers N] [--json]

  Starts koza (in memory, or fresh schemas on DATABASE_URL, dropped afterwards) and the bank sandbox (35 banks) on free
  loopback ports, then runs at once over HTTP: a ring holding a leaked list of account numbers, PINs and names that
  opens wallets in the victims' names, tries every link method and charges what it can; ordinary customers who sign
  up, verify, link their own accounts, charge and pay; then the holders, who read what their bank told them and
  report KOZA debits they never made. Money is counted from koza's ledger and the banks' books.

  --scenario      docomo-2020 (the only one)
  --policy        secure (koza as built) or legacy-2020 (the 2020 wallet's rules)
  --seed          who is cast: victims, customers, the ring's pools (default 2020); KOZA_SANDBOX_SEED seeds the population
  --victims       accounts on the leaked list (default ${DEFAULT_SIZE.victims}, as in 2020)
  --victim-banks  banks the list covers, of the 11 that take a PIN alone (default ${DEFAULT_SIZE.victimBanks})
  --customers     ordinary customers alongside (default ${DEFAULT_SIZE.customers})
  --attackers     the ring's workers at once (default ${DEFAULT_SIZE.attackers})
  --json          only the report, one JSON object, on stdout; progress always goes to stderr`,
  options: {
    scenario: { type: 'string' }, policy: { type: 'string' }, seed: { type: 'string' }, victims: { type: 'string' },
    'victim-banks': { type: 'string' }, customers: { type: 'string' }, attackers: { type: 'string' }, json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  } satisfies NonNullable<ParseArgsConfig['options']>,
  async run(values: Record<string, string | boolean | undefined>): Promise<number> {
    if (values.scenario === undefined) return fail('--scenario is required (docomo-2020)');
    if (!(SCENARIOS as readonly unknown[]).includes(values.scenario)) return fail(`unknown scenario '${String(values.scenario)}' (scenarios: ${SCENARIOS.join(', ')})`);
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
      report = await runDocomo2020({
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
