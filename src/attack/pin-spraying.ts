// Owns the pin-spraying replay (issue 10): a ring with account numbers at banks that link by PIN + text (some PINs
// leaked, one in ten stale) uses koza's link start as a PIN checker — answers compared with a known-wrong baseline.
// Must never count a belief as a confirmation: the tally checks every PIN the ring marked against the bank's own data.
import { intBetween, mulberry32, shuffled, type Random } from '../sandbox/population.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import { castFor, type Victim } from './cast.js';
import { problemCode, SimDevice, type Answer, type RequestMeter } from './client.js';
import { analystFor } from './analyst.js';
import { CustomerCrowd } from './customers.js';
import { holdersReact } from './holders.js';
import { stage, type AttackOptions, type AttackReport } from './scenario.js';
import { tallyAttack, tallyLegit, tallySignals } from './tally.js';
import { customersComeBack } from './scenario.js';
import {
  bankDirectory, claimOf, enrolTotp, openWallet, StepFailed, verifyIdentity, verifyPhone, type SandboxPerson, type SimWallet,
} from './wallet-app.js';

/** The PINs people choose (the Berry/DataGenetics ranking): what the ring sprays where it has no leaked PIN. */
export const COMMON_PINS = ['1234', '1111', '0000', '1212', '7777', '1004', '2000', '4444', '2222', '6969'];
/** Tries per account: the bank locks at five failures, and the ring does not care whose account it locks. */
const TRIES_PER_ACCOUNT = 6;
const MAX_WALLETS = 6;
const EMULATOR = 'Mozilla/5.0 (Linux; Android 9; SM-G960N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0 Mobile Safari/537.36';

export interface SprayTarget {
  holder: SandboxHolderAccount;
  /** The PIN on the list, if the list had one (stale for about one in ten). */
  leakedPin: string | null;
}

export interface SprayLog {
  walletIds: string[];
  deviceIds: string[];
  addresses: string[];
  linkStarts: number;
  codesTried: number;
  chargesAttempted: number;
  /** What the ring believes: the account and the PIN it marked confirmed. */
  believed: Array<{ bank_code: string; branch_code: string; account_number: string; pin: string }>;
  refusals: Record<string, number>;
}

interface Probe { status: number; keys: string; ms: number }

function castSpray(seed: number, count: number, holders: SandboxHolderAccount[], persons: SandboxPerson[], excluded: Set<number>) {
  const random = mulberry32((seed ^ 0x7370726b) >>> 0);
  const accounts = shuffled(random, holders.filter((h) => h.link_methods.includes('pin_otp') && !h.pin_locked && !excluded.has(h.person_index)))
    .slice(0, count);
  if (accounts.length < count) throw new RangeError(`the population has only ${accounts.length} accounts at banks that link by PIN + text`);
  const targets: SprayTarget[] = accounts.map((holder) => {
    if (random() >= 0.5) return { holder, leakedPin: null };
    const stale = random() < 0.1;
    return { holder, leakedPin: stale ? String((Number(holder.pin) + intBetween(random, 1, 9998)) % 10_000).padStart(4, '0') : holder.pin };
  });
  const used = new Set([...excluded, ...accounts.map((a) => a.person_index)]);
  const identities = shuffled(random, persons.filter((p) => p.behaviour === 'pass' && !used.has(p.index))).slice(0, MAX_WALLETS);
  return { targets, identities };
}

export class PinSprayer {
  readonly log: SprayLog = {
    walletIds: [], deviceIds: [], addresses: [], linkStarts: 0, codesTried: 0, chargesAttempted: 0, believed: [], refusals: {},
  };
  private readonly wallets: SimWallet[] = [];
  private turn = 0;
  private baseline = new Map<string, Probe[]>();
  private methods: Map<string, string[]> | undefined;

  constructor(
    private readonly kozaUrl: string,
    private readonly identities: SandboxPerson[],
    private readonly random: Random,
    private readonly meter: RequestMeter,
  ) {
    for (let i = 0; i < 24; i++) this.log.addresses.push(`${i % 2 ? '198.51.100' : '203.0.113'}.${150 + i}`);
  }

  private refused(reason: string): void {
    this.log.refusals[reason] = (this.log.refusals[reason] ?? 0) + 1;
  }

  private device(): SimDevice {
    const deviceId = `spray-${this.log.deviceIds.length}-${Math.floor(this.random() * 2 ** 48).toString(16)}`;
    this.log.deviceIds.push(deviceId);
    return new SimDevice(this.kozaUrl, this.log.addresses[this.turn++ % this.log.addresses.length]!, deviceId, EMULATOR, this.meter);
  }

  /** A wallet that may start links: a bought identity, a burner phone, its own authenticator. */
  private async newWallet(): Promise<SimWallet | null> {
    const person = this.identities.shift();
    if (!person) return null;
    try {
      const wallet = await openWallet(this.device(), `p${person.index}.${intBetween(this.random, 10, 99)}@mail.example.com`);
      this.log.walletIds.push(wallet.walletId);
      await verifyPhone(wallet, `+8170${String(66_000_000 + person.index).padStart(8, '0')}`);
      if (!(await verifyIdentity(wallet, claimOf(person)))) {
        this.refused('ekyc with a bought identity failed');
        return null;
      }
      await enrolTotp(wallet);
      this.wallets.push(wallet);
      return wallet;
    } catch (err) {
      if (!(err instanceof StepFailed)) throw err;
      this.refused(`${err.step}:${problemCode(err.answer) || err.answer.status}`);
      return null;
    }
  }

  /** The next wallet in turn, on a fresh device and address (rotation is the answer to every refusal). */
  private async nextWallet(): Promise<SimWallet | null> {
    if (this.wallets.length === 0 && !(await this.newWallet())) return null;
    const wallet = this.wallets[this.turn % this.wallets.length]!;
    return wallet;
  }

  /** A step-up proof from its own authenticator; when its recovery codes run low it has koza issue new ones. */
  private async proof(wallet: SimWallet, binding: { action: string; destination?: string; amount?: number }): Promise<string | null> {
    const app = wallet.authenticator!;
    const approve = async (b: typeof binding) => {
      const created = await wallet.device.post('/v1/step-up/challenges', b, wallet.token);
      if (created.status !== 201) {
        this.refused(`step-up challenge:${problemCode(created) || created.status}`);
        return null;
      }
      const approval = app.approval();
      if (!approval) {
        this.refused('authenticator out of codes');
        return null;
      }
      const approved = await wallet.device.post(`/v1/step-up/challenges/${created.json.challenge.id}/approve`, approval, wallet.token);
      if (approved.status !== 201) this.refused(`step-up approve:${problemCode(approved) || approved.status}`);
      return approved.status === 201 ? String(approved.json.proof) : null;
    };
    if (app.recoveryLeft <= 2) {
      const renewal = await approve({ action: 'recovery_codes' });
      if (renewal) {
        const fresh = await wallet.device.post('/v1/factors/recovery-codes', { step_up_proof: renewal }, wallet.token);
        if (fresh.status === 201) app.replaceRecoveryCodes(fresh.json.recovery_codes as string[]);
        else this.refused(`new recovery codes:${problemCode(fresh) || fresh.status}`);
      }
    }
    return approve(binding);
  }

  /** One link start with an account and a PIN: the answer and how long it took. */
  private async start(wallet: SimWallet, holder: SandboxHolderAccount, method: string, pin: string, accountNumber = holder.account_number):
    Promise<{ answer: Answer; probe: Probe } | null> {
    const proof = await this.proof(wallet, { action: 'link', destination: holder.bank_code });
    this.log.linkStarts++;
    const began = performance.now();
    const answer = await wallet.device.post('/v1/links', {
      bank_code: holder.bank_code, method, account: { branch_code: holder.branch_code, account_number: accountNumber }, pin,
      ...(proof ? { step_up_proof: proof } : {}),
    }, wallet.token);
    const ms = performance.now() - began;
    return { answer, probe: { status: answer.status, keys: Object.keys(answer.json).sort().join(','), ms } };
  }

  /** A known-wrong answer at this bank: an account number that cannot exist, with a PIN. Measured three times. */
  private async baselineAt(wallet: SimWallet, holder: SandboxHolderAccount, method: string): Promise<Probe[]> {
    const known = this.baseline.get(holder.bank_code);
    if (known) return known;
    const probes: Probe[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await this.start(wallet, holder, method, '0000', '0000001');
      if (r) probes.push(r.probe);
    }
    this.baseline.set(holder.bank_code, probes);
    return probes;
  }

  /** Differs from the known-wrong answer: status or body shape, or slower than any baseline by half again (the bank checked something). */
  private looksRight(probe: Probe, baseline: Probe[]): boolean {
    if (baseline.length === 0) return probe.status < 300;
    if (baseline.some((b) => b.status !== probe.status || b.keys !== probe.keys)) return probe.status < 300 || baseline.every((b) => b.keys !== probe.keys);
    const slowest = Math.max(...baseline.map((b) => b.ms));
    return probe.ms > slowest * 1.5 + 25;
  }

  async run(targets: SprayTarget[], workers: number): Promise<void> {
    const queue = [...targets];
    if (!(await this.newWallet())) return;
    await this.newWallet();
    await Promise.all(Array.from({ length: Math.max(1, workers) }, async () => {
      for (let target = queue.shift(); target; target = queue.shift()) await this.spray(target);
    }));
  }

  private async spray(target: SprayTarget): Promise<void> {
    const { holder } = target;
    const pins = [...new Set([...(target.leakedPin ? [target.leakedPin] : []), ...COMMON_PINS])].slice(0, TRIES_PER_ACCOUNT);
    let refusalsInARow = 0;
    for (const pin of pins) {
      let wallet = await this.nextWallet();
      if (!wallet) return;
      this.methods ??= (await bankDirectory(wallet.device)).methods;
      const offered = this.methods.get(holder.bank_code) ?? [];
      const method = offered.includes('pin_only') ? 'pin_only' : offered.includes('pin_otp') ? 'pin_otp' : null;
      if (!method) {
        this.refused('no PIN method offered at the bank');
        return;
      }
      const baseline = await this.baselineAt(wallet, holder, method);
      const tried = await this.start(wallet, holder, method, pin);
      if (!tried) return;
      const { answer, probe } = tried;
      const code = problemCode(answer);
      if (code === 'rate-limited' || code === 'link-refused' || code === 'link-held-for-review' || code === 'step-up-required'
        || code === 'step-up-proof-invalid' || answer.status === 429 || answer.status === 423) {
        // Another wallet, device and address; after three in a row, a new wallet with the next bought identity.
        this.refused(`link start:${code || answer.status}`);
        wallet.device = this.device();
        this.turn++;
        if (++refusalsInARow >= 3) {
          refusalsInARow = 0;
          if (this.wallets.length < MAX_WALLETS) await this.newWallet();
        }
        continue;
      }
      refusalsInARow = 0;
      if (!this.looksRight(probe, baseline)) continue;
      this.log.believed.push({ bank_code: holder.bank_code, branch_code: holder.branch_code, account_number: holder.account_number, pin });
      if (answer.status === 201) await this.complete(wallet, method, String(answer.json.link_request_id));
      return;
    }
  }

  /** PIN alone links at once (legacy); PIN + text: two guesses at the code, under the bank's lock. Then what it can charge. */
  private async complete(wallet: SimWallet, method: string, requestId: string): Promise<void> {
    for (let guess = 0; guess < (method === 'pin_only' ? 1 : 2); guess++) {
      const otp = String(Math.floor(this.random() * 1_000_000)).padStart(6, '0');
      if (method !== 'pin_only') this.log.codesTried++;
      const done = await wallet.device.post(`/v1/links/${requestId}/complete`, method === 'pin_only' ? {} : { otp }, wallet.token);
      if (done.status === 201 && done.json.status !== 'revoked') {
        await this.charge(wallet, String(done.json.id));
        return;
      }
    }
    this.refused(method === 'pin_only' ? 'link complete refused' : 'the code went to the holder\'s phone');
  }

  private async charge(wallet: SimWallet, linkId: string): Promise<void> {
    let amount = 100_000;
    for (let tries = 0; tries < 5 && amount >= 5_000; tries++) {
      this.log.chargesAttempted++;
      const answer = await wallet.device.post('/v1/charges', { link_id: linkId, amount }, wallet.token);
      if (answer.status === 201) continue;
      const remaining = Number(answer.json.remaining_yen ?? 0);
      amount = remaining >= 5_000 && remaining < amount ? Math.floor(remaining / 1_000) * 1_000 : Math.floor(amount / 2_000) * 1_000;
    }
  }
}

export async function runPinSpraying(options: AttackOptions): Promise<AttackReport> {
  const progress = options.progress ?? (() => {});
  const { world, meter, persons, holders, merchants, started } = await stage(options);
  try {
    const customers = castFor(options.seed, { victims: 1, victimBanks: 1, customers: options.size.customers, attackers: 1 }, persons, holders).customers;
    const { targets, identities } = castSpray(options.seed, options.size.victims, holders, persons, new Set(customers.map((c) => c.person.index)));
    progress(`pin-spraying: ${targets.length} account numbers at ${new Set(targets.map((t) => t.holder.bank_code)).size} banks that link by PIN + text, `
      + `${targets.filter((t) => t.leakedPin).length} with a leaked PIN; ${customers.length} ordinary customers alongside`);
    const sprayer = new PinSprayer(world.kozaUrl, identities, mulberry32(options.seed >>> 0), meter);
    const crowd = new CustomerCrowd(world.kozaUrl, world.banksUrl, merchants, meter);
    crowd.analyst = analystFor(world, meter);
    const attackStart = world.clock.now();
    const ticker = setInterval(() => progress(`  ${Math.round((Date.now() - started) / 1000)} s: ${sprayer.log.linkStarts} link starts, `
      + `${sprayer.log.believed.length} PINs believed, customers ${crowd.log.done}/${customers.length}`), 5_000);
    try {
      await Promise.all([sprayer.run(targets, options.size.attackers), crowd.run(customers, options.customerConcurrency ?? 4)]);
    } finally {
      clearInterval(ticker);
    }
    const victims: Victim[] = targets.map(({ holder, leakedPin }) => ({
      holder,
      leaked: { bank_code: holder.bank_code, branch_code: holder.branch_code, account_number: holder.account_number, pin: leakedPin ?? '',
        name_kana: holder.name_kana, target_yen: 100_000 },
    }));
    progress(`traffic done: ${meter.requests} requests; tallying from the books`);
    const holderLog = await holdersReact(world.banksUrl, victims, mulberry32((options.seed ^ 0x686f6c64) >>> 0), meter);
    const signals = await tallySignals(world.db, world.banksUrl, world.secretKey, world.clock, {
      walletIds: sprayer.log.walletIds, deviceIds: sprayer.log.deviceIds, addresses: sprayer.log.addresses,
      targets: targets.map((t) => t.holder), believedPins: sprayer.log.believed,
    }, attackStart);
    const attack = await tallyAttack(world.db, world.banksUrl, victims, {
      walletIds: sprayer.log.walletIds, linksAttempted: sprayer.log.linkStarts, chargesAttempted: sprayer.log.chargesAttempted, addresses: sprayer.log.addresses,
    }, holderLog, signals);
    await customersComeBack(world, meter, options, [crowd]);
    const legit = await tallyLegit(world.db, crowd.log, customers.length);
    return {
      scenario: 'pin-spraying', policy: options.policy, seed: options.seed, banks: world.sandbox.banks.length, attack, legit, backend: world.backend,
      victim_banks: [...new Set(targets.map((t) => t.holder.bank_code))].sort(), duration_s: Math.round((Date.now() - started) / 100) / 10,
      requests: meter.requests, attacker_refusals: { ...sprayer.log.refusals, 'PINs believed (its own view)': sprayer.log.believed.length },
      legit_refusals: crowd.log.refusals, legit_failures: crowd.log.failures,
    };
  } finally {
    await world.close();
  }
}
