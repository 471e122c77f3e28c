// Owns the account-takeover replay (issue 10): credential stuffing with a leaked e-mail/password list and a spray of
// common passwords over many accounts from many addresses; once in, the ring takes the wallet over and cashes out.
// Must never use what the ring does not hold: no victim's authenticator, phone or mailbox — only the leaked list.
import { mulberry32, shuffled, type Random } from '../sandbox/population.js';
import type { Db } from '../store/db.js';
import { castFor, COMMON_PASSWORDS, type Customer } from './cast.js';
import { Authenticator, problemCode, SimDevice, type Answer, type RequestMeter } from './client.js';
import { analystFor } from './analyst.js';
import { CustomerCrowd, customerEmail, mergeGroups } from './customers.js';
import { stage, type AttackOptions, type AttackReport } from './scenario.js';
import { rulesHit, sandboxData, tallyGroups, tallyLegit, tallySignals, type AttackFigures, type LegitFigures } from './tally.js';
import { customersComeBack } from './scenario.js';
import { stepUpProof, type SimWallet } from './wallet-app.js';

const ANDROID = 'Mozilla/5.0 (Linux; Android 11; SM-A515F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0 Mobile Safari/537.36';
/** Below koza's step-up threshold for payments (¥100,000 by default): what the issue saw, ¥99,999 at a time. */
const BELOW_STEP_UP = 99_999;
const SMALLER = 9_999;
/** The most it tries to charge at once from a victim's linked account. */
const CHARGE_WANT = 500_000;

export interface LeakedLogin {
  email: string;
  password: string;
}

export interface TakeoverLog {
  signInsTried: number;
  takenOver: number;
  walletIds: string[];
  deviceIds: string[];
  addresses: string[];
  merchantIds: string[];
  chargesAttempted: number;
  refusals: Record<string, number>;
}

/** The list: for most victims the password they use elsewhere (reused here, so it works); for about a third an old one. */
export function leakedLoginsOf(random: Random, victims: Customer[]): LeakedLogin[] {
  return shuffled(random, victims.map((c) => ({
    email: customerEmail(c),
    password: random() < 0.65 ? c.password : `${c.password.slice(0, 4)}-old-${Math.floor(random() * 1000)}`,
  })));
}

export class TakeoverRing {
  readonly log: TakeoverLog = {
    signInsTried: 0, takenOver: 0, walletIds: [], deviceIds: [], addresses: [], merchantIds: [], chargesAttempted: 0, refusals: {},
  };
  private turn = 0;
  private readonly done = new Set<string>();
  private shop: string | null | undefined;
  private burner = 0;

  constructor(private readonly kozaUrl: string, private readonly random: Random, private readonly meter: RequestMeter) {
    // Residential proxies across three networks: many addresses, each used for a few tries only.
    for (let i = 0; i < 48; i++) this.log.addresses.push(`${['198.51.100', '203.0.113', '192.0.2'][i % 3]}.${30 + i}`);
    for (let i = 0; i < 8; i++) this.log.deviceIds.push(`ato-${i}-${Math.floor(random() * 2 ** 48).toString(16)}`);
  }

  private refused(reason: string): void {
    this.log.refusals[reason] = (this.log.refusals[reason] ?? 0) + 1;
  }

  /** The next proxy and emulator profile: a refusal is answered by moving on, never by trying harder from one place. */
  private nextDevice(): SimDevice {
    const n = this.turn++;
    return new SimDevice(this.kozaUrl, this.log.addresses[n % this.log.addresses.length]!,
      this.log.deviceIds[n % this.log.deviceIds.length]!, ANDROID, this.meter);
  }

  /** Stuffing first (the list), then the spray: each common password once over every address on the list. */
  async run(leaked: LeakedLogin[], workers: number): Promise<void> {
    const tries = [
      ...leaked,
      ...COMMON_PASSWORDS.flatMap((password) => leaked.map(({ email }) => ({ email, password }))),
    ];
    await Promise.all(Array.from({ length: Math.max(1, workers) }, async () => {
      for (let next = tries.shift(); next; next = tries.shift()) {
        if (this.done.has(next.email)) continue;
        await this.tryLogin(next);
      }
    }));
  }

  private async tryLogin(login: LeakedLogin): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const device = this.nextDevice();
      this.log.signInsTried++;
      const answer = await device.post('/v1/sessions', login);
      if (answer.status === 201) {
        this.done.add(login.email);
        this.log.takenOver++;
        this.log.walletIds.push(String(answer.json.wallet_id));
        const wallet: SimWallet = {
          walletId: String(answer.json.wallet_id), email: login.email, token: String(answer.json.token), device, level: 'L2', authenticator: null,
        };
        await this.takeOver(wallet);
        return;
      }
      if (answer.status === 202 && answer.json.login_challenge) {
        // The victim's second factor: the ring has none; three guesses, then the account is not worth the noise.
        this.done.add(login.email);
        for (let guess = 0; guess < 3; guess++) {
          const code = String(Math.floor(this.random() * 1_000_000)).padStart(6, '0');
          const done = await device.post('/v1/sessions/second-factor', { login_challenge: answer.json.login_challenge, code });
          if (done.status === 201) {
            this.refused('second factor guessed?!');
            return;
          }
        }
        this.refused('sign-in:second factor asked');
        // "Lost my phone": the recovery path is where a ring stopped by a factor goes next.
        await this.tryFactorReset(device, { login_challenge: answer.json.login_challenge });
        return;
      }
      if (answer.status === 429 || answer.status === 423) continue; // throttled: another address, another device, try again
      this.refused(`sign-in:${problemCode(answer) || answer.status}`);
      return;
    }
    this.refused('sign-in:throttled three times (moves on)');
  }

  /**
   * The lost-every-factor support path (issue 11), tried wherever the owner's factor stops the ring. It needs the owner's
   * person (documents and a live face) and mailbox; the leaked list holds neither, so the ring sends what it can invent:
   * a made-up document, its own face, a guessed e-mail code — and asks to finish at once, not after the wait.
   */
  private async tryFactorReset(device: SimDevice, start: { login_challenge?: unknown }, token?: string): Promise<void> {
    const started = await device.post('/v1/factors/reset', start, token);
    if (started.status !== 201) {
      this.refused(`factor reset start:${problemCode(started) || started.status}`);
      return;
    }
    const resetToken = String(started.json.reset_token);
    const steps: Array<[string, Record<string, unknown>]> = [
      ['identity', { identity: {
        document_type: 'drivers_licence', document_number: String(Math.floor(this.random() * 1e12)).padStart(12, '0'),
        name_kanji: '山田 太郎', name_kana: 'ヤマダ タロウ', date_of_birth: '1985-05-05',
        address: { prefecture: '東京都', city: '新宿区', street: '西新宿1-1-1' }, selfie_token: 'sandbox-selfie-mismatch',
      } }],
      ['mailbox', { code: String(Math.floor(this.random() * 1_000_000)).padStart(6, '0') }],
      ['complete', { code: String(Math.floor(this.random() * 1_000_000)).padStart(6, '0') }],
    ];
    for (const [step, body] of steps) {
      const answer = await device.post(`/v1/factors/reset/${step}`, { reset_token: resetToken, ...body });
      this.refused(answer.status < 300 ? `factor reset ${step}:passed?!` : `factor reset ${step}:${problemCode(answer) || answer.status}`);
    }
  }

  /** Asks for a step-up with its own factor if it managed to enrol one; null when it has none. */
  private async proof(wallet: SimWallet, binding: { action: string; destination?: string; amount?: number }): Promise<string | null> {
    return wallet.authenticator ? stepUpProof(wallet, binding) : null;
  }

  private async post(wallet: SimWallet, path: string, body: Record<string, unknown>, binding: { action: string; destination?: string; amount?: number }): Promise<Answer> {
    const answer = await wallet.device.post(path, body, wallet.token);
    if (problemCode(answer) !== 'step-up-required') return answer;
    const proof = await this.proof(wallet, binding);
    return proof ? wallet.device.post(path, { ...body, step_up_proof: proof }, wallet.token) : answer;
  }

  /** Lock the owner out (phone, e-mail, its own factor), move the money in from the linked bank, out to its own shop. */
  private async takeOver(wallet: SimWallet): Promise<void> {
    await this.changePhone(wallet);
    const email = await this.post(wallet, '/v1/email', { email: `owner${this.burner}@inbox.example.org` }, { action: 'email_change' });
    if (email.status >= 300) this.refused(`email change:${problemCode(email) || email.status}`);
    await this.enrolOwnFactor(wallet);
    await this.chargeFromLinks(wallet);
    await this.payOut(wallet);
  }

  private async changePhone(wallet: SimWallet): Promise<void> {
    const phone = `+8170${String(55_000_000 + this.burner++).padStart(8, '0')}`;
    const sent = await this.post(wallet, '/v1/phone', { phone }, { action: 'phone_change' });
    if (sent.status !== 202) {
      this.refused(`phone change:${problemCode(sent) || sent.status}`);
      return;
    }
    const outbox = await wallet.device.get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(String(sent.json.phone ?? phone))}&limit=1`);
    const code = /koza code: (\d{6})/.exec(String(outbox.json.data?.[0]?.body ?? ''))?.[1];
    if (!code) return;
    const verified = await wallet.device.post('/v1/phone/verify', { code }, wallet.token);
    if (verified.status === 200) wallet.token = String(verified.json.session.token);
    else this.refused(`phone verify:${problemCode(verified) || verified.status}`);
  }

  private async enrolOwnFactor(wallet: SimWallet): Promise<void> {
    let started = await this.post(wallet, '/v1/factors/totp', {}, { action: 'factor_change' });
    if (problemCode(started) === 'totp-already-enrolled') {
      // The owner's authenticator is in the way: remove it first (a step-up it cannot pass, if koza asks for one).
      const factors = await wallet.device.get('/v1/factors', wallet.token);
      for (const factor of (factors.json.data ?? []) as Array<{ id: string }>) {
        const removed = await wallet.device.post(`/v1/factors/${factor.id}/remove`, {}, wallet.token);
        if (removed.status < 300) continue;
        // Removing a factor takes a step-up proof, approved with a factor — the owner's, which it does not have.
        this.refused(removed.status === 400 || problemCode(removed) === 'step-up-required'
          ? 'remove owner\'s factor:asks a step-up (it has no factor)' : `remove owner's factor:${problemCode(removed) || removed.status}`);
      }
      await this.tryFactorReset(wallet.device, {}, wallet.token);
      started = await this.post(wallet, '/v1/factors/totp', {}, { action: 'factor_change' });
    }
    if (started.status !== 201) {
      this.refused(`own factor:${problemCode(started) || started.status}`);
      return;
    }
    const app = new Authenticator(String(started.json.secret));
    const confirmed = await wallet.device.post(`/v1/factors/totp/${started.json.factor.id}/confirm`, { code: app.totp() }, wallet.token);
    if (confirmed.status !== 200) {
      this.refused(`own factor confirm:${problemCode(confirmed) || confirmed.status}`);
      return;
    }
    wallet.token = String(confirmed.json.session.token);
    app.totp();
    wallet.authenticator = new Authenticator(String(started.json.secret), (confirmed.json.recovery_codes ?? []) as string[]);
    wallet.authenticator.totp();
  }

  /** As much as each linked account gives: the wallet's cap in the limit answer tells it how much is left. */
  private async chargeFromLinks(wallet: SimWallet): Promise<void> {
    const links = await wallet.device.get('/v1/links', wallet.token);
    for (const link of ((links.json.data ?? []) as Array<{ id: string; status: string }>).filter((l) => l.status === 'active')) {
      let amount = CHARGE_WANT;
      for (let tries = 0; tries < 6 && amount >= 1_000; tries++) {
        this.log.chargesAttempted++;
        const answer = await this.post(wallet, '/v1/charges', { link_id: link.id, amount }, { action: 'charge', amount, destination: link.id });
        const code = problemCode(answer);
        if (answer.status === 201) continue;
        if (code === 'limit-exceeded' && Number(answer.json.remaining_yen ?? 0) >= 1_000 && Number(answer.json.remaining_yen) < amount) {
          amount = Math.floor(Number(answer.json.remaining_yen) / 1_000) * 1_000;
          continue;
        }
        if (code === 'bank-declined' || code === 'limit-exceeded' || code === 'step-up-required') {
          amount = Math.floor(amount / 2_000) * 1_000;
          continue;
        }
        this.refused(`charge:${code || answer.json.status || answer.status}`);
        break;
      }
    }
  }

  /**
   * Its shop, opened from a wallet it holds: the victim is verified, so the ring trades as a sole proprietor under the
   * victim's identity with a trade name of its own. A refusal (a business check, a step-up) is answered by trying again
   * from the next wallet it takes over.
   */
  private async shopFor(wallet: SimWallet): Promise<string | null> {
    if (this.shop) return this.shop;
    const name = `Tsubame Digital ${this.log.merchantIds.length + this.turn}`;
    const created = await this.post(wallet, '/v1/merchants', { name, business: { kind: 'sole_proprietor', trade_name: name } },
      { action: 'merchant_create' });
    if (created.status === 201) {
      this.shop = String(created.json.merchant.id);
      this.log.merchantIds.push(this.shop);
      return this.shop;
    }
    this.refused(`open merchant:${created.status === 202 ? 'business check pending' : problemCode(created) || created.status}`);
    return null;
  }

  private async payOut(wallet: SimWallet): Promise<void> {
    const shop = await this.shopFor(wallet);
    if (!shop) return;
    let chunk = BELOW_STEP_UP;
    for (let tries = 0; tries < 20; tries++) {
      const balance = await wallet.device.get('/v1/wallet/balance', wallet.token);
      const amount = Math.min(Number(balance.json.available ?? 0), chunk);
      if (!(amount > 0)) return;
      const paid = await this.post(wallet, '/v1/payments', { merchant_id: shop, amount }, { action: 'payment', amount, destination: shop });
      if (paid.status === 201) continue;
      const code = problemCode(paid);
      if (chunk > SMALLER && (code === 'step-up-required' || code === 'payment-refused' || code === 'limit-exceeded')) {
        chunk = SMALLER; // smaller amounts, in case a threshold stands in the way
        continue;
      }
      this.refused(`payment:${code || paid.status}`);
      return;
    }
  }
}

interface PassbookLine { descriptor: string; withdrawal: number }

/** KOZA debits on each victim's bank account so far, from the bank's passbook. */
async function kozaDebits(banksUrl: string, victims: Customer[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const { person, account } of victims) {
    const lines = await sandboxData<PassbookLine[]>(banksUrl,
      `/sandbox/banks/${account.bank_code}/accounts/${account.branch_code}/${account.account_number}/passbook`);
    out.set(person.index, lines.filter((l) => l.withdrawal > 0 && l.descriptor.startsWith('KOZA')).reduce((s, l) => s + l.withdrawal, 0));
  }
  return out;
}

/** Money the ring took: payments from the victims' wallets to its shops (the ledger transfers), and charges it made. */
async function takeoverFigures(db: Db, banksUrl: string, victims: Customer[], walletOf: Map<number, string>, before: Map<number, number>,
  ring: TakeoverLog, ownCharges: number): Promise<Omit<AttackFigures, 'rules_hit' | 'pins_confirmed' | 'bank_accounts_locked' | 'alerts' | 'first_alert_after_s'>> {
  const victimWallets = victims.map((v) => walletOf.get(v.person.index)).filter((w): w is string => w !== undefined);
  const paid = await db.query<{ wallet_id: string; yen: number }>(
    `SELECT p.wallet_id, sum(t.amount)::int8 AS yen FROM payments p JOIN ledger_transfers t ON t.id = p.transfer_id
      WHERE p.merchant_id = ANY($1::text[]) GROUP BY 1`, [ring.merchantIds]);
  // Every charge koza posted on the victims' wallets, theirs and the ring's, against every KOZA debit their banks booked.
  const allCharges = await db.query<{ n: number; yen: number }>(
    `SELECT count(*)::int8 AS n, coalesce(sum(amount), 0)::int8 AS yen FROM bank_movements WHERE wallet_id = ANY($1::text[]) AND kind = 'charge' AND status = 'posted'`,
    [victimWallets]);
  const after = await kozaDebits(banksUrl, victims);
  const debitedDuring = victims.reduce((s, v) => s + (after.get(v.person.index)! - before.get(v.person.index)!), 0);
  const taken = paid.rows.filter((r) => victimWallets.includes(r.wallet_id));
  const byBank = new Map(victims.map((v) => [walletOf.get(v.person.index), v.account.bank_code]));
  return {
    leaked_accounts: victims.length,
    wallets_opened: 0,
    links_attempted: 0,
    links_succeeded: 0,
    charges_attempted: ring.chargesAttempted,
    charges_succeeded: allCharges.rows[0]!.n - ownCharges,
    stolen_yen: taken.reduce((s, r) => s + r.yen, 0),
    victims: taken.length,
    banks_hit: new Set(taken.map((r) => byBank.get(r.wallet_id))).size,
    largest_case_yen: Math.max(0, ...taken.map((r) => r.yen)),
    holders_notified: 0,
    debited_at_banks_yen: debitedDuring,
    // The charges koza posted on the victims' wallets during the attack are exactly the KOZA debits their banks booked.
    ledger_matches_banks: [...after.values()].reduce((s, y) => s + y, 0) === allCharges.rows[0]!.yen,
    holders_reported: 0,
  };
}

export async function runAccountTakeover(options: AttackOptions): Promise<AttackReport> {
  const progress = options.progress ?? (() => {});
  const { world, meter, persons, holders, merchants, started } = await stage(options);
  try {
    const everyone = castFor(options.seed, { victims: 1, victimBanks: 1, customers: options.size.victims + options.size.customers, attackers: 1 },
      persons, holders).customers;
    const victims = everyone.slice(0, options.size.victims);
    const alongside = everyone.slice(options.size.victims);
    const crowd = new CustomerCrowd(world.kozaUrl, world.banksUrl, merchants, meter);
    crowd.analyst = analystFor(world, meter);
    progress(`account-takeover: ${victims.length} customers on the leaked list live their lives first (link, charge, pay)`);
    await crowd.run(victims, options.customerConcurrency ?? 6);
    const before = await kozaDebits(world.banksUrl, victims);
    const random = mulberry32(options.seed >>> 0);
    const leaked = leakedLoginsOf(random, victims);
    const ring = new TakeoverRing(world.kozaUrl, random, meter);
    // The victims' own figures are taken before the ring comes: what it does in their wallets is not theirs.
    const victimsLegit = await tallyLegit(world.db, crowd.log, victims.length);
    const others = new CustomerCrowd(world.kozaUrl, world.banksUrl, merchants, meter);
    others.analyst = analystFor(world, meter);
    const attackStart = world.clock.now();
    progress(`the ring: ${leaked.length} leaked logins, then ${COMMON_PASSWORDS.length} common passwords sprayed over them, `
      + `from ${ring.log.addresses.length} addresses; ${alongside.length} more customers alongside`);
    await Promise.all([ring.run(leaked, options.size.attackers), others.run(alongside, options.customerConcurrency ?? 6)]);
    progress(`traffic done: ${meter.requests} requests, ${ring.log.signInsTried} sign-ins tried, ${ring.log.takenOver} wallets taken over`);
    const figures = await takeoverFigures(world.db, world.banksUrl, victims, crowd.walletOf, before, ring.log, victimsLegit.charges_succeeded);
    const signals = await tallySignals(world.db, world.banksUrl, world.secretKey, world.clock, {
      walletIds: ring.log.walletIds, deviceIds: ring.log.deviceIds, addresses: ring.log.addresses, targets: [], believedPins: [],
    }, attackStart);
    const attack: AttackFigures = { ...figures, rules_hit: await rulesHit(world.db, [], ring.log.addresses), ...signals };
    const othersLegit = await tallyLegit(world.db, others.log, alongside.length);
    // The heavy users among both crowds come back after the new-link window, once the ring's money is counted.
    await customersComeBack(world, meter, options, [crowd, others]);
    const merged = (x: Record<string, number>, y: Record<string, number>) => {
      const out = { ...x };
      for (const [k, v] of Object.entries(y)) out[k] = (out[k] ?? 0) + v;
      return out;
    };
    const { rules_hit: victimsRules, groups: _vg, targets: _vt, ...victimsCounts } = victimsLegit;
    const { rules_hit: othersRules, groups: _og, targets: _ot, ...othersCounts } = othersLegit;
    const legit: LegitFigures = {
      ...merged(victimsCounts, othersCounts) as unknown as Omit<LegitFigures, 'rules_hit'>, rules_hit: merged(victimsRules, othersRules),
      ...await tallyGroups(world.db, mergeGroups([crowd.log, others.log])),
    };
    return {
      scenario: 'account-takeover', policy: options.policy, seed: options.seed, banks: world.sandbox.banks.length, attack, legit,
      backend: world.backend, victim_banks: [...new Set(victims.map((v) => v.account.bank_code))].sort(),
      duration_s: Math.round((Date.now() - started) / 100) / 10, requests: meter.requests, attacker_refusals: ring.log.refusals,
      legit_refusals: merged(crowd.log.refusals, others.log.refusals), legit_failures: merged(crowd.log.failures, others.log.failures),
    };
  } finally {
    await world.close();
  }
}
