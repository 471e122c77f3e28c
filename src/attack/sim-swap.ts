// Owns the sim-swap replay (issue 10): a ring holding a few holders' identity documents, PINs and — after a SIM swap —
// the phone number their bank texts, over five simulated days on the test clock, ordinary customers alongside.
// Must never use what a SIM swap does not give: no holder's bank e-mail, inbox or online-banking password.
import type { Random } from '../sandbox/population.js';
import { intBetween, mulberry32, shuffled } from '../sandbox/population.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import { castFor, type Victim } from './cast.js';
import { problemCode, readBankText, SimDevice, type Answer, type RequestMeter } from './client.js';
import { analystFor } from './analyst.js';
import { CustomerCrowd } from './customers.js';
import { holdersReact } from './holders.js';
import { stage, type AttackOptions, type AttackReport } from './scenario.js';
import { tallyAttack, tallyLegit, tallySignals } from './tally.js';
import { customersComeBack } from './scenario.js';
import {
  bankDirectory, claimOf, enrolTotp, getAs, openWallet, postAs, StepFailed, stepUpProof, verifyIdentity, verifyPhone,
  type SandboxPerson, type SimWallet,
} from './wallet-app.js';
import type { TestClock } from './test-clock.js';

/** Simulated days the ring keeps going, and its charging rounds a day (hours apart on the test clock). */
export const SIM_SWAP_DAYS = 5;
const ROUNDS_PER_DAY = 3;
const HOURS_PER_ROUND = 24 / ROUNDS_PER_DAY;
/** What it hopes for a day per holder: 2020's largest case was ¥600,000; ¥500,000 a day is what the issue saw. */
const DAILY_WANT = 500_000;
const MIN_CHARGE = 1_000;
/** Payments to its own shop stay under the step-up threshold (¥100,000 by default) out of habit: fewer prompts, fewer alerts. */
const CASH_OUT_CHUNK = 99_000;
const ANDROID = 'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36';

interface Target {
  person: SandboxPerson;
  holder: SandboxHolderAccount;
  wallet: SimWallet | null;
  linkId: string | null;
  /** Re-links done today (the ring resets a per-link cap by revoking and linking again, once a day). */
  relinkedToday: boolean;
  /** Days on which koza said no in a way that looked like attention (a review, a refusal): the careful ring backs off. */
  coolDownUntilRound: number;
  /** What the ring charges at once now: halved after each refusal that smells of a rule. */
  chunk: number;
  /** Charges tried on this account today: it stays under four a day (a passbook with many KOZA lines draws the eye). */
  triesToday: number;
  /** The largest charge that went through: the next stays within a few times it, as an ordinary customer's grow. */
  largest: number;
}

/** At most this many charge attempts per account per day, and each at most this many times the largest so far. */
const TRIES_PER_DAY = 3;
const GROWTH = 4;
const FIRST_CEILING = 29_000;

export interface SimSwapLog {
  walletIds: string[];
  deviceIds: string[];
  addresses: string[];
  linksAttempted: number;
  chargesAttempted: number;
  relinks: number;
  cashOutYen: number;
  refusals: Record<string, number>;
}

/** Cast: holders at banks koza links by PIN + the bank's text, whose persons the eKYC sandbox passes, with money worth taking. */
function castTargets(seed: number, count: number, persons: SandboxPerson[], holders: SandboxHolderAccount[], excluded: Set<number>): Target[] {
  const random = mulberry32((seed ^ 0x73696d73) >>> 0);
  const byIndex = new Map(persons.map((p) => [p.index, p]));
  const targets: Target[] = [];
  for (const holder of shuffled(random, holders.filter((h) => h.link_methods.includes('pin_otp') && !h.pin_locked && h.balance >= 300_000))) {
    if (targets.length >= count) break;
    const person = byIndex.get(holder.person_index);
    if (!person || person.behaviour !== 'pass' || excluded.has(person.index) || targets.some((t) => t.person.index === person.index)) continue;
    targets.push({ person, holder, wallet: null, linkId: null, relinkedToday: false, coolDownUntilRound: 0, chunk: DAILY_WANT, triesToday: 0, largest: 0 });
  }
  if (targets.length < count) throw new RangeError(`the population has only ${targets.length} holders a SIM swap fits`);
  return targets;
}

export class SimSwapRing {
  readonly log: SimSwapLog = { walletIds: [], deviceIds: [], addresses: [], linksAttempted: 0, chargesAttempted: 0, relinks: 0, cashOutYen: 0, refusals: {} };
  private merchant: { id: string } | null | undefined;
  private round = 0;

  constructor(
    private readonly kozaUrl: string,
    private readonly banksUrl: string,
    private readonly targets: Target[],
    private readonly random: Random,
    private readonly meter: RequestMeter,
  ) {}

  private refused(reason: string): void {
    this.log.refusals[reason] = (this.log.refusals[reason] ?? 0) + 1;
  }

  /** One phone per holder, as a SIM-swapped number sits in a handset of the ring's; home broadband in Japan. */
  private deviceFor(n: number): SimDevice {
    const address = `203.0.113.${100 + n}`;
    const deviceId = `swap-${n}-${Math.floor(this.random() * 2 ** 48).toString(16)}`;
    this.log.deviceIds.push(deviceId);
    this.log.addresses.push(address);
    return new SimDevice(this.kozaUrl, address, deviceId, ANDROID, this.meter);
  }

  /** Day 0: a wallet as the holder (their documents, their phone number), its own authenticator, the holder's account linked. */
  private async setUp(target: Target, n: number): Promise<void> {
    try {
      const wallet = await openWallet(this.deviceFor(n), `${target.person.name_kana.normalize('NFKC').length}.${n}.${intBetween(this.random, 100, 999)}@post.example.net`);
      target.wallet = wallet;
      this.log.walletIds.push(wallet.walletId);
      await verifyPhone(wallet, target.holder.registered_phone);
      if (!(await verifyIdentity(wallet, claimOf(target.person)))) {
        this.refused('ekyc as the holder failed');
        return;
      }
      await enrolTotp(wallet);
    } catch (err) {
      if (!(err instanceof StepFailed)) throw err;
      this.refused(`${err.step}:${problemCode(err.answer) || err.answer.status}`);
      return;
    }
    target.linkId = await this.link(target);
  }

  /** PIN + the bank's text (which the swapped phone receives); PIN alone where koza still takes it (legacy-2020). */
  private async link(target: Target): Promise<string | null> {
    const wallet = target.wallet!;
    const { holder } = target;
    const offered = (await bankDirectory(wallet.device)).methods.get(holder.bank_code) ?? [];
    for (const method of ['pin_only', 'pin_otp'].filter((m) => offered.includes(m))) {
      this.log.linksAttempted++;
      let proof: string | null = null;
      for (let step = 0; step < 4; step++) {
        const started = await postAs(wallet, '/v1/links', {
          bank_code: holder.bank_code, method, account: { branch_code: holder.branch_code, account_number: holder.account_number }, pin: holder.pin,
          ...(proof ? { step_up_proof: proof } : {}),
        });
        const code = problemCode(started);
        if (code === 'step-up-required' || code === 'step-up-proof-invalid') {
          // Its own authenticator: the factor proves the wallet's owner, and the ring owns the wallet.
          proof = await stepUpProof(wallet, { action: 'link', destination: holder.bank_code });
          if (proof) continue;
        }
        if (started.status !== 201) {
          this.refused(`link ${method}:${code || started.status}`);
          break;
        }
        const otp = method === 'pin_otp' ? await readBankText(this.banksUrl, holder.registered_phone, holder.bank_code, this.meter) : null;
        const done = await postAs(wallet, `/v1/links/${started.json.link_request_id}/complete`, otp ? { otp } : {});
        if (done.status === 201 && done.json.status !== 'revoked') return String(done.json.id);
        this.refused(`link complete ${method}:${problemCode(done) || done.status}`);
        break;
      }
    }
    return null;
  }

  /** A charge, met with its own factor when challenged. */
  private async chargeOnce(target: Target, amount: number): Promise<Answer> {
    const wallet = target.wallet!;
    this.log.chargesAttempted++;
    let answer = await postAs(wallet, '/v1/charges', { link_id: target.linkId, amount });
    if (problemCode(answer) === 'step-up-required') {
      const proof = await stepUpProof(wallet, { action: 'charge', amount, destination: target.linkId! });
      if (proof) answer = await postAs(wallet, '/v1/charges', { link_id: target.linkId, amount, step_up_proof: proof });
    }
    return answer;
  }

  /** One round: as much as each holder's account gives today, within what the ring thinks goes unnoticed. */
  private async chargeRound(target: Target, takenToday: Map<Target, number>): Promise<void> {
    if (!target.wallet || !target.linkId || this.round < target.coolDownUntilRound) return;
    // Pacing: a third of the day's hope a round, so no burst stands out against the account's history.
    let amount = Math.min(target.chunk, Math.ceil((DAILY_WANT - (takenToday.get(target) ?? 0)) / 1_000) * 1_000,
      Math.max(FIRST_CEILING, GROWTH * target.largest));
    while (target.triesToday < TRIES_PER_DAY && amount >= MIN_CHARGE) {
      target.triesToday++;
      const answer = await this.chargeOnce(target, amount);
      const code = problemCode(answer);
      if (answer.status === 201) {
        takenToday.set(target, (takenToday.get(target) ?? 0) + amount);
        target.largest = Math.max(target.largest, amount);
        return;
      }
      if (code === 'limit-exceeded') {
        const remaining = Math.floor(Number(answer.json.remaining_yen ?? 0) / 1_000) * 1_000;
        if (remaining >= MIN_CHARGE && remaining < amount) {
          amount = remaining;
          continue;
        }
        // The link's cap for today is used up: a fresh link has a fresh cap (it did in the issue), once a day.
        if (!target.relinkedToday && await this.relink(target)) {
          target.relinkedToday = true;
          continue;
        }
        this.refused('charge:limit-exceeded (waits for tomorrow)');
        return;
      }
      if (code === 'bank-declined') {
        amount = Math.floor(amount / 2_000) * 1_000;
        if (target.triesToday >= TRIES_PER_DAY) this.refused('charge:bank-declined (waits for tomorrow)');
        continue;
      }
      if (answer.status === 202 || code === 'charge-refused' || code === 'link-refused' || code === 'step-up-required') {
        // Attention (a review, a rule): careful, it lies low for a day and comes back with smaller amounts.
        target.coolDownUntilRound = this.round + ROUNDS_PER_DAY;
        target.chunk = Math.max(MIN_CHARGE, Math.floor(target.chunk / 2_000) * 1_000);
        this.refused(`charge:${code || answer.json.status || answer.status} (lies low a day)`);
        return;
      }
      this.refused(`charge:${code || answer.status}`);
      return;
    }
  }

  private async relink(target: Target): Promise<boolean> {
    const revoked = await postAs(target.wallet!, `/v1/links/${target.linkId}/revoke`, {});
    if (revoked.status !== 200) {
      this.refused(`revoke:${problemCode(revoked) || revoked.status}`);
      return false;
    }
    this.log.relinks++;
    const linkId = await this.link(target);
    if (!linkId) return false;
    target.linkId = linkId;
    return true;
  }

  /** The ring's own shop, opened from the first of its verified wallets; null when koza will not open one for it. */
  private async shop(): Promise<{ id: string } | null> {
    if (this.merchant !== undefined) return this.merchant;
    const owner = this.targets.find((t) => t.wallet && t.wallet.level === 'L2')?.wallet;
    if (!owner) return null;
    // koza opens a merchant only for a verified business: the ring trades as a sole proprietor under the identity it
    // passed eKYC with (the holder's), with a trade name of its own.
    const created = await postAs(owner, '/v1/merchants', {
      name: 'Sakura Trading', email: 'sales@sakura-trading.example.net', business: { kind: 'sole_proprietor', trade_name: 'Sakura Trading' },
    });
    this.merchant = created.status === 201 ? { id: String(created.json.merchant.id) } : null;
    if (!this.merchant) this.refused(`merchant:${problemCode(created) || created.status}`);
    return this.merchant;
  }

  /** End of a day: the balance to its own shop, in chunks below the step-up threshold (its own factor if asked anyway). */
  private async cashOut(target: Target): Promise<void> {
    const shop = await this.shop();
    if (!shop || !target.wallet) return;
    const wallet = target.wallet;
    for (let tries = 0; tries < 12; tries++) {
      const balance = await getAs(wallet, '/v1/wallet/balance');
      const available = Number(balance.json.available ?? balance.json.balance ?? 0);
      const amount = Math.min(available, CASH_OUT_CHUNK);
      if (!(amount > 0)) return;
      let paid = await postAs(wallet, '/v1/payments', { merchant_id: shop.id, amount });
      if (problemCode(paid) === 'step-up-required') {
        const proof = await stepUpProof(wallet, { action: 'payment', amount, destination: shop.id });
        if (proof) paid = await postAs(wallet, '/v1/payments', { merchant_id: shop.id, amount, step_up_proof: proof });
      }
      if (paid.status !== 201) {
        this.refused(`payment to its shop:${problemCode(paid) || paid.status}`);
        return;
      }
      this.log.cashOutYen += amount;
    }
  }

  /** The whole campaign on the test clock; `alongside(day)` runs that day's ordinary customers at the same time. */
  async run(clock: TestClock, days: number, alongside: (day: number) => Promise<void>): Promise<void> {
    for (let day = 0; day < days; day++) {
      const takenToday = new Map<Target, number>();
      for (const t of this.targets) {
        t.relinkedToday = false;
        t.triesToday = 0;
      }
      for (let r = 0; r < ROUNDS_PER_DAY; r++, this.round++) {
        const ring = (async () => {
          if (day === 0 && r === 0) await Promise.all(this.targets.map((t, n) => this.setUp(t, n)));
          for (const target of this.targets) await this.chargeRound(target, takenToday);
          if (r === ROUNDS_PER_DAY - 1) for (const target of this.targets) await this.cashOut(target);
        })();
        await Promise.all([ring, r === 0 ? alongside(day) : Promise.resolve()]);
        await clock.advance(HOURS_PER_ROUND);
      }
    }
  }
}

export async function runSimSwap(options: AttackOptions): Promise<AttackReport> {
  const progress = options.progress ?? (() => {});
  const { world, meter, persons, holders, merchants, started } = await stage(options);
  try {
    // The customers come from the docomo cast (no leaked list needed): a few hundred people at many banks.
    const customers = castFor(options.seed, { victims: 1, victimBanks: 1, customers: options.size.customers, attackers: 1 }, persons, holders).customers;
    const targets = castTargets(options.seed, options.size.victims, persons, holders, new Set(customers.map((c) => c.person.index)));
    progress(`sim-swap: ${targets.length} holders' documents, PINs and phone numbers at ${new Set(targets.map((t) => t.holder.bank_code)).size} banks; `
      + `${customers.length} ordinary customers over ${options.days ?? SIM_SWAP_DAYS} simulated days`);
    const ring = new SimSwapRing(world.kozaUrl, world.banksUrl, targets, mulberry32(options.seed >>> 0), meter);
    const crowd = new CustomerCrowd(world.kozaUrl, world.banksUrl, merchants, meter);
    crowd.analyst = analystFor(world, meter);
    const days = options.days ?? SIM_SWAP_DAYS;
    const perDay = Math.ceil(customers.length / days);
    const attackStart = world.clock.now();
    await ring.run(world.clock, days, async (day) => {
      progress(`  day ${day}: ${Math.round((Date.now() - started) / 1000)} s, ${ring.log.chargesAttempted} ring charges tried, ${meter.requests} requests`);
      await crowd.run(customers.slice(day * perDay, (day + 1) * perDay), options.customerConcurrency ?? 4);
    });
    const victims: Victim[] = targets.map(({ holder }) => ({
      holder,
      leaked: { bank_code: holder.bank_code, branch_code: holder.branch_code, account_number: holder.account_number, pin: holder.pin,
        name_kana: holder.name_kana, target_yen: DAILY_WANT * days },
    }));
    progress(`traffic done: ${meter.requests} requests in ${Math.round((Date.now() - started) / 1000)} s; the holders read their bank (not their texts: the phone is the ring's)`);
    const holderLog = await holdersReact(world.banksUrl, victims, mulberry32((options.seed ^ 0x686f6c64) >>> 0), meter, { phoneHeldByAttacker: true });
    const signals = await tallySignals(world.db, world.banksUrl, world.secretKey, world.clock, {
      walletIds: ring.log.walletIds, deviceIds: ring.log.deviceIds, addresses: ring.log.addresses, targets: targets.map((t) => t.holder), believedPins: [],
    }, attackStart);
    const attack = await tallyAttack(world.db, world.banksUrl, victims,
      { walletIds: ring.log.walletIds, linksAttempted: ring.log.linksAttempted, chargesAttempted: ring.log.chargesAttempted, addresses: ring.log.addresses },
      holderLog, signals);
    const simulatedHours = world.clock.elapsedMs / 3_600_000;
    await customersComeBack(world, meter, options, [crowd]);
    const legit = await tallyLegit(world.db, crowd.log, customers.length);
    return {
      scenario: 'sim-swap', policy: options.policy, seed: options.seed, banks: world.sandbox.banks.length, attack, legit, backend: world.backend,
      victim_banks: [...new Set(targets.map((t) => t.holder.bank_code))].sort(), duration_s: Math.round((Date.now() - started) / 100) / 10,
      requests: meter.requests, attacker_refusals: ring.log.refusals, legit_refusals: crowd.log.refusals, legit_failures: crowd.log.failures,
      simulated_hours: simulatedHours,
    };
  } finally {
    await world.close();
  }
}
