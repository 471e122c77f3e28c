// Owns the docomo-2020 replay (SPEC §1, §9): start the banks and koza under one policy, cast the leaked list, the ring
// and the customers from the seed, run the attacker and the customers at once over HTTP, let the holders react, tally.
// Must never report a figure from the attacker's view where koza's ledger or the banks' books can answer it.
import type { PolicyName } from '../config.js';
import { mulberry32 } from '../sandbox/population.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import { AttackerRing } from './attacker.js';
import { openShops, SHOP_COUNT } from './shops.js';
import { castFor, type CastSize } from './cast.js';
import { RequestMeter, SimDevice } from './client.js';
import { CustomerCrowd } from './customers.js';
import { holdersReact } from './holders.js';
import { analystFor, reviewHeldLinks } from './analyst.js';
import { tallyAttack, tallyLegit, tallySignals, type AttackFigures, type LegitFigures } from './tally.js';
import type { SandboxPerson } from './wallet-app.js';
import { startWorld, type AttackWorld } from './world.js';

export const SCENARIOS = ['docomo-2020', 'sim-swap', 'account-takeover', 'pin-spraying'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** In the spirit of the incident: 66 victims at 11 banks, a few hundred ordinary customers alongside. */
export const DEFAULT_SIZE: CastSize = { victims: 66, victimBanks: 11, customers: 200, attackers: 3 };

/**
 * Each scenario's default cast, sized to run in about a minute on a 2-core machine. `victims` is what the ring holds:
 * docomo-2020 leaked accounts; sim-swap holders whose documents and phone number it has (the issue's four); account-
 * takeover customers on the leaked login list; pin-spraying account numbers it sprays. `victimBanks` is docomo-2020's.
 */
export const DEFAULT_SIZES: Record<ScenarioName, CastSize> = {
  'docomo-2020': DEFAULT_SIZE,
  'sim-swap': { victims: 4, victimBanks: 11, customers: 40, attackers: 1 },
  'account-takeover': { victims: 40, victimBanks: 11, customers: 60, attackers: 3 },
  'pin-spraying': { victims: 40, victimBanks: 11, customers: 40, attackers: 2 },
};

export interface AttackOptions {
  policy: PolicyName;
  seed: number;
  size: CastSize;
  databaseUrl: string | undefined;
  /** koza's other settings (rule file, limits, cooling-off, KOZA_SANDBOX_SEED for the population). */
  env: Record<string, string | undefined>;
  /** Customers served at once. */
  customerConcurrency?: number;
  /** sim-swap: simulated days the ring keeps charging (default 5, the issue's); tests use fewer. */
  days?: number;
  progress?: (line: string) => void;
}

export interface AttackReport {
  scenario: ScenarioName;
  policy: PolicyName;
  seed: number;
  banks: number;
  attack: AttackFigures;
  legit: LegitFigures;
  backend: 'pglite' | 'postgres';
  victim_banks: string[];
  duration_s: number;
  requests: number;
  /** Why attacker attempts ended and what the customers were refused, by step and problem code: the story behind the figures. */
  attacker_refusals: Record<string, number>;
  legit_refusals: Record<string, number>;
  legit_failures: Record<string, number>;
  /** How far the test clock moved the world (sim-swap: five days); 0 for scenarios that run in real time. */
  simulated_hours?: number;
}

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return await res.json() as T;
}

/** The eKYC sandbox's population, page by page, from koza's sandbox route. */
async function population(kozaUrl: string): Promise<SandboxPerson[]> {
  const people: SandboxPerson[] = [];
  for (let offset: number | null = 0; offset !== null;) {
    const page: { data: SandboxPerson[]; next_offset: number | null } = await json(`${kozaUrl}/v1/sandbox/identities?limit=100&offset=${offset}`);
    people.push(...page.data);
    offset = page.next_offset;
  }
  return people;
}

/** What every scenario starts from: the world, the population as koza's eKYC sandbox and the banks know it, a few shops. */
export interface Stage {
  world: AttackWorld;
  meter: RequestMeter;
  persons: SandboxPerson[];
  holders: SandboxHolderAccount[];
  /** Shops ordinary customers pay at (opened by their owners before the run). */
  merchants: string[];
  started: number;
}

/** Starts the world under the policy and opens the shops; the caller closes the world. */
export async function stage(options: AttackOptions): Promise<Stage> {
  const progress = options.progress ?? (() => {});
  const started = Date.now();
  const world = await startWorld({ policy: options.policy, databaseUrl: options.databaseUrl, env: options.env });
  try {
    progress(`koza (${options.policy}, ${world.backend}) at ${world.kozaUrl}; ${world.sandbox.banks.length} banks at ${world.banksUrl}`);
    const meter = new RequestMeter();
    const persons = await population(world.kozaUrl);
    const holders = (await json<{ data: SandboxHolderAccount[] }>(`${world.banksUrl}/sandbox/holders`)).data;
    // A few shops the customers pay at, each opened by a verified owner: the population's last few who pass eKYC, kept out
    // of every scenario's cast.
    const shopOwners = persons.filter((p) => p.behaviour === 'pass').slice(-SHOP_COUNT);
    const merchants = await openShops(world.kozaUrl, shopOwners, meter);
    // They are the neighbourhood's established shops, trading for years (opened over the API above, then aged): the
    // mule-merchant rules (a shop younger than 30 days drawing many payers) and new-shop holds are about the ring's shop,
    // and a crowd of a hundred customers paying five brand-new shops would be a test of those rules, not of the attack.
    await world.db.query(`UPDATE merchants SET created_at = created_at - interval '3 years' WHERE id = ANY($1::text[])`, [merchants]);
    const others = persons.filter((p) => !shopOwners.includes(p));
    return { world, meter, persons: others, holders, merchants, started };
  } catch (err) {
    await world.close();
    throw err;
  }
}

/**
 * What the ordinary customers do once the scenario's traffic has stopped (nothing else may write while the clock moves):
 * the analyst reviews the held links and those customers go on; then the heavy users come back after their new-link
 * window (KOZA_COOLING_OFF_HOURS + 1 on the test clock). Before the customers' figures are tallied.
 */
export async function customersComeBack(world: AttackWorld, meter: RequestMeter, options: AttackOptions, crowds: CustomerCrowd[]): Promise<void> {
  const progress = options.progress ?? (() => {});
  if (crowds.some((c) => c.waitingForAnalyst > 0)) {
    const review = await reviewHeldLinks(world.db, world.kozaUrl, meter);
    progress(`the analyst released ${review.released.size} held links and rejected ${review.rejected}; those customers go on`);
    for (const crowd of crowds) await crowd.afterReview(review.released);
  }
  const hours = Number(options.env.KOZA_COOLING_OFF_HOURS ?? 72) + 1;
  const back = crowds.filter((c) => c.waitingToComeBack > 0);
  if (back.length === 0) return;
  progress(`${hours} simulated hours later: ${back.reduce((n, c) => n + c.waitingToComeBack, 0)} heavy users come back`);
  await world.clock.advance(hours);
  for (const crowd of back) await crowd.afterCoolingOff();
}

/** Runs one scenario by name. */
export async function runAttack(scenario: ScenarioName, options: AttackOptions): Promise<AttackReport> {
  switch (scenario) {
    case 'docomo-2020': return runDocomo2020(options);
    case 'sim-swap': return (await import('./sim-swap.js')).runSimSwap(options);
    case 'account-takeover': return (await import('./account-takeover.js')).runAccountTakeover(options);
    case 'pin-spraying': return (await import('./pin-spraying.js')).runPinSpraying(options);
  }
}

export async function runDocomo2020(options: AttackOptions): Promise<AttackReport> {
  const progress = options.progress ?? (() => {});
  const { world, meter, persons, holders, merchants, started } = await stage(options);
  try {
    const cast = castFor(options.seed, options.size, persons, holders);
    progress(`leaked list: ${cast.victims.length} accounts at ${cast.victimBanks.length} of the ${cast.pinBanks.length} banks that take a PIN alone; `
      + `${cast.customers.length} ordinary customers; the ring: ${cast.attacker.deviceIds.length} devices, ${cast.attacker.addresses.length} addresses, `
      + `${cast.attacker.burnerPhones.length} burner SIMs, ${cast.attacker.stolenIdentities.length} bought identities`);

    const random = mulberry32(options.seed >>> 0);
    const ring = new AttackerRing(world.kozaUrl, world.banksUrl, cast.attacker, random, meter);
    const crowd = new CustomerCrowd(world.kozaUrl, world.banksUrl, merchants, meter);
    crowd.analyst = analystFor(world, meter);
    progress('running: the ring and the customers at once');
    const attackStart = world.clock.now();
    const ticker = setInterval(() => progress(`  ${Math.round((Date.now() - started) / 1000)} s: victims ${ring.log.victimsDone}/${cast.victims.length}, `
      + `ring wallets ${ring.log.walletIds.length}, customers ${crowd.log.done}/${cast.customers.length}, ${meter.requests} requests`), 2_000);
    try {
      await Promise.all([
        ring.run(cast.victims, options.size.attackers),
        crowd.run(cast.customers, options.customerConcurrency ?? 6),
      ]);
    } finally {
      clearInterval(ticker);
    }
    progress(`traffic done: ${meter.requests} requests in ${Math.round((Date.now() - started) / 1000)} s; the holders read their banks`);
    const holderLog = await holdersReact(world.banksUrl, cast.victims, mulberry32((options.seed ^ 0x686f6c64) >>> 0), meter);
    progress('tallying from koza\'s ledger and decision log and the banks\' books');
    const signals = await tallySignals(world.db, world.banksUrl, world.secretKey, world.clock, {
      walletIds: ring.log.walletIds, deviceIds: cast.attacker.deviceIds, addresses: cast.attacker.addresses,
      targets: cast.victims.map((v) => v.holder), believedPins: [],
    }, attackStart);
    const attack = await tallyAttack(world.db, world.banksUrl, cast.victims, { ...ring.log, addresses: cast.attacker.addresses }, holderLog, signals);
    await customersComeBack(world, meter, options, [crowd]);
    const legit = await tallyLegit(world.db, crowd.log, cast.customers.length);
    return {
      scenario: 'docomo-2020', policy: options.policy, seed: options.seed, banks: world.sandbox.banks.length, attack, legit,
      backend: world.backend, victim_banks: cast.victimBanks, duration_s: Math.round((Date.now() - started) / 100) / 10,
      requests: meter.requests, attacker_refusals: ring.log.refusals, legit_refusals: crowd.log.refusals, legit_failures: crowd.log.failures,
    };
  } finally {
    await world.close();
  }
}
