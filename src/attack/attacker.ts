// Owns the attacker of the 2020 replay: with a leaked list of account numbers, PINs and names, a pool of e-mail
// addresses, devices, proxies, burner SIMs and a few bought identities, it opens wallets in the victims' names, tries
// every link method, and charges as much as it can — adapting the way a real ring would when koza says no.
// Must never use what the list does not hold: no victim's document, date of birth, bank password or phone.
import type { Random } from '../sandbox/population.js';
import { BankBrowser, problemCode, SimDevice, type Answer, type RequestMeter } from './client.js';
import type { AttackerPools, Victim } from './cast.js';
import {
  bankDirectory, claimOf, enrolTotp, openWallet, StepFailed, stepUpProof, verifyIdentity, verifyPhone, type SimWallet,
} from './wallet-app.js';

/** What the attacker did, as it saw it (the report counts outcomes from koza's and the banks' records instead). */
export interface AttackerLog {
  /** Every wallet the ring opened: the tally finds their links and money in koza's tables. */
  walletIds: string[];
  signupsRefused: number;
  linksAttempted: number;
  chargesAttempted: number;
  ekycFailed: number;
  victimsDone: number;
  /** Why attempts ended, by koza's problem code (or the step that ended them). */
  refusals: Record<string, number>;
}

const MAX_CHARGE = 500_000;
const MIN_CHARGE = 5_000;
/** Emulator resets the ring bothers with. */
const MAX_DEVICES = 60;
const ANDROID_EMULATOR = 'Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0 Mobile Safari/537.36';

function roundDown(yen: number): number {
  return Math.floor(yen / 1_000) * 1_000;
}

export class AttackerRing {
  readonly log: AttackerLog = {
    walletIds: [], signupsRefused: 0, linksAttempted: 0, chargesAttempted: 0, ekycFailed: 0, victimsDone: 0, refusals: {},
  };
  private deviceTurn = 0;
  private emailCount = 0;
  private directory: Promise<Map<string, string[]>> | undefined;
  /** Wallets the ring got to L2 with a bought identity: worth reusing for the next victims. */
  private readonly verifiedWallets: SimWallet[] = [];
  private verifiedTurn = 0;

  constructor(
    private readonly kozaUrl: string,
    private readonly banksUrl: string,
    private readonly pools: AttackerPools,
    private readonly random: Random,
    private readonly meter: RequestMeter,
  ) {}

  /** Works through the list with `workers` at once. */
  async run(victims: Victim[], workers: number): Promise<void> {
    const queue = [...victims];
    await Promise.all(Array.from({ length: Math.max(1, workers) }, async () => {
      for (let victim = queue.shift(); victim; victim = queue.shift()) {
        await this.attack(victim);
        this.log.victimsDone++;
      }
    }));
  }

  private refused(reason: string): void {
    this.log.refusals[reason] = (this.log.refusals[reason] ?? 0) + 1;
  }

  /** The next device of the ring on the next proxy: rotating is how it answers a refusal. */
  private nextDevice(): SimDevice {
    const turn = this.deviceTurn++;
    const { addresses, deviceIds } = this.pools;
    return new SimDevice(this.kozaUrl, addresses[turn % addresses.length]!, deviceIds[turn % deviceIds.length]!, ANDROID_EMULATOR, this.meter);
  }

  private nextEmail(): string {
    const n = this.emailCount++;
    const domain = this.pools.emailDomains[n % this.pools.emailDomains.length]!;
    return `${Math.floor(this.random() * 36 ** 6).toString(36)}${n}@${domain}`;
  }

  private methodsAt(bankCode: string, device: SimDevice): Promise<string[]> {
    this.directory ??= bankDirectory(device).then((d) => d.methods);
    return this.directory.then((m) => m.get(bankCode) ?? []);
  }

  private async attack(victim: Victim): Promise<void> {
    let wallet = await this.openWalletFor();
    let linkId = wallet ? await this.link(wallet, victim) : null;
    if (!linkId) {
      // Then a wallet that already passed eKYC with a bought identity, if the ring has one; else another fresh wallet
      // on another device and address: maybe it was the device that gave it away.
      const verified = this.verifiedWallets[this.verifiedTurn++ % Math.max(1, this.verifiedWallets.length)];
      wallet = verified ?? await this.openWalletFor();
      linkId = wallet ? await this.link(wallet, victim) : null;
    }
    if (wallet && linkId) await this.charge(wallet, linkId, victim);
  }

  /** A wallet in the victim's name: under 2020's rules a name and an e-mail were all it took. */
  private async openWalletFor(): Promise<SimWallet | null> {
    for (let tries = 0; tries < 3; tries++) {
      try {
        const wallet = await openWallet(this.nextDevice(), this.nextEmail());
        this.log.walletIds.push(wallet.walletId);
        return wallet;
      } catch (err) {
        if (!(err instanceof StepFailed)) throw err;
        this.log.signupsRefused++;
        this.refused(`${err.step}:${problemCode(err.answer) || err.answer.status}`);
        // Reinstall the app or reset the emulator: the device id is the client's word, so the ring mints a new one.
        if (this.pools.deviceIds.length < MAX_DEVICES) this.pools.deviceIds.push(`ring-${Math.floor(this.random() * 2 ** 48).toString(16)}-reset`);
      }
    }
    return null;
  }

  /** Every method: PIN alone first (what worked in 2020), then whatever koza offers at the bank. */
  private async link(wallet: SimWallet, victim: Victim): Promise<string | null> {
    const offered = await this.methodsAt(victim.leaked.bank_code, wallet.device);
    for (const method of [...new Set(['pin_only', ...offered])]) {
      const linkId = await this.tryMethod(wallet, victim, method);
      if (linkId) return linkId;
    }
    return null;
  }

  private async tryMethod(wallet: SimWallet, victim: Victim, method: string): Promise<string | null> {
    const { leaked } = victim;
    let typedName = true;
    let proof: string | null = null;
    this.log.linksAttempted++;
    for (let step = 0; step < 8; step++) {
      const answer = await wallet.device.post('/v1/links', {
        bank_code: leaked.bank_code, method,
        ...(method === 'redirect' ? {} : { account: { branch_code: leaked.branch_code, account_number: leaked.account_number }, pin: leaked.pin }),
        ...(typedName ? { name_kana: leaked.name_kana } : {}),
        ...(proof ? { step_up_proof: proof } : {}),
      }, wallet.token);
      proof = null;
      if (answer.status === 201) return this.complete(wallet, victim, method, answer);
      const code = problemCode(answer);
      if (code === 'invalid-request' && typedName) {
        typedName = false; // this wallet does not take a typed name: send without it
        continue;
      }
      if (code === 'assurance-level-too-low') {
        if (await this.raiseLevel(wallet, victim)) continue;
        this.refused('stayed below L2');
        return null;
      }
      if (code === 'second-factor-required') {
        // Its own authenticator app on its own device: the factor proves the wallet's owner, and the ring owns the wallet.
        try {
          await enrolTotp(wallet);
          continue;
        } catch (err) {
          if (err instanceof StepFailed) { this.refused(`totp:${problemCode(err.answer)}`); return null; }
          throw err;
        }
      }
      if (code === 'step-up-required' || code === 'step-up-proof-invalid') {
        proof = await stepUpProof(wallet, { action: 'link', destination: leaked.bank_code });
        if (proof) continue;
        this.refused('authenticator out of codes this minute (the ring moves on)');
        return null;
      }
      if (code === 'rate-limited') {
        wallet.device = this.nextDevice();
        continue;
      }
      if (code === 'link-refused' || code === 'link-held-for-review') wallet.device = this.nextDevice();
      this.refused(`link ${method}:${code || answer.status}`);
      return null;
    }
    return null;
  }

  /** L1 with a burner SIM; L2 first as the victim (a name, no document: it fails), then as a bought identity. */
  private async raiseLevel(wallet: SimWallet, victim: Victim): Promise<boolean> {
    try {
      if (wallet.level === 'L0') {
        const phone = this.pools.burnerPhones.shift();
        if (!phone) return false;
        await verifyPhone(wallet, phone);
      }
      if (wallet.level === 'L1') {
        const asVictim = await verifyIdentity(wallet, {
          document_type: 'drivers_licence', document_number: String(10 ** 11 + Math.floor(this.random() * 9 * 10 ** 11)),
          name_kanji: victim.leaked.name_kana, name_kana: victim.leaked.name_kana.normalize('NFKC'), date_of_birth: '1975-04-01',
          address: { prefecture: '東京都', city: '新宿区', street: '西新宿1丁目1番1号' },
        });
        if (asVictim) return true;
        this.log.ekycFailed++;
        const bought = this.pools.stolenIdentities.shift();
        if (!bought) return false;
        if (await verifyIdentity(wallet, claimOf(bought))) {
          this.verifiedWallets.push(wallet);
          return true;
        }
        this.log.ekycFailed++;
        return false;
      }
      return wallet.level === 'L2';
    } catch (err) {
      if (err instanceof StepFailed) {
        this.refused(`${err.step}:${problemCode(err.answer) || err.answer.status}`);
        return false;
      }
      throw err;
    }
  }

  private async complete(wallet: SimWallet, victim: Victim, method: string, started: Answer): Promise<string | null> {
    const requestId = String(started.json.link_request_id);
    if (method === 'pin_only') {
      const done = await wallet.device.post(`/v1/links/${requestId}/complete`, {}, wallet.token);
      if (done.status === 201 && done.json.status !== 'revoked') return String(done.json.id);
      this.refused(`link complete:${problemCode(done) || done.status}`);
      return null;
    }
    if (method === 'pin_otp') {
      // The code went to the holder's phone. Guess a few times, staying under the bank's lock.
      for (let guess = 0; guess < 3; guess++) {
        const otp = String(Math.floor(this.random() * 1_000_000)).padStart(6, '0');
        const done = await wallet.device.post(`/v1/links/${requestId}/complete`, { otp }, wallet.token);
        if (done.status === 201 && done.json.status !== 'revoked') return String(done.json.id);
        if (done.status !== 422) {
          this.refused(`link complete:${problemCode(done) || done.status}`);
          return null;
        }
      }
      this.refused('otp never reached the ring');
      return null;
    }
    // redirect: the bank asks for the holder's own online-banking ID and password, which the list does not hold.
    const browser = new BankBrowser(this.banksUrl, this.meter);
    const signInPage = await browser.follow(await browser.request('GET', String(started.json.authorization_url)));
    const signedIn = await browser.signIn(victim.leaked.bank_code, signInPage,
      { user_id: victim.leaked.account_number, password: victim.leaked.pin }, async () => null);
    if (signedIn) this.refused('redirect: signed in without a code?');
    else this.refused('redirect: bank sign-in refused');
    return null;
  }

  /** As much as it can: the most a charge may be, halving on a decline, another wallet when a limit stops it. */
  private async charge(wallet: SimWallet, firstLinkId: string, victim: Victim): Promise<void> {
    let linkId = firstLinkId;
    let taken = 0;
    let amount = Math.min(MAX_CHARGE, victim.leaked.target_yen);
    let wallets = 1;
    let refusedOnce = false;
    for (let tries = 0; tries < 16 && taken < victim.leaked.target_yen && amount >= MIN_CHARGE; tries++) {
      this.log.chargesAttempted++;
      let answer = await wallet.device.post('/v1/charges', { link_id: linkId, amount }, wallet.token);
      if (problemCode(answer) === 'step-up-required') {
        // The wallet's own factor passes its own challenge: a step-up stops a thief who took a wallet, not one who owns it.
        const proof = await stepUpProof(wallet, { action: 'charge', amount, destination: linkId });
        if (proof) answer = await wallet.device.post('/v1/charges', { link_id: linkId, amount, step_up_proof: proof }, wallet.token);
      }
      const code = problemCode(answer);
      if (answer.status === 201) {
        taken += amount;
        amount = Math.min(amount, victim.leaked.target_yen - taken);
        continue;
      }
      if (answer.status === 202) {
        this.refused(`charge:${answer.json.status ?? 'pending'}`);
        return;
      }
      if (code === 'bank-declined') {
        amount = roundDown(amount / 2);
        continue;
      }
      if (code === 'limit-exceeded') {
        const remaining = Number(answer.json.remaining_yen ?? 0);
        if (remaining >= MIN_CHARGE && remaining < amount) {
          amount = roundDown(remaining);
          continue;
        }
        if (wallets >= 3) return;
        const next = await this.openWalletFor();
        const nextLink = next ? await this.link(next, victim) : null;
        if (!next || !nextLink) return;
        wallet = next;
        linkId = nextLink;
        wallets++;
        continue;
      }
      if (code === 'charge-refused' && !refusedOnce) {
        refusedOnce = true;
        amount = roundDown(amount / 3);
        wallet.device = this.nextDevice();
        continue;
      }
      this.refused(`charge:${code || answer.status}`);
      return;
    }
  }
}
