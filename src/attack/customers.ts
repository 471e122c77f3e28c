// Owns the ordinary customers of the replay, group by group as real customers differ (cast.ts): each opens a wallet on
// their phone (or the family tablet, behind a carrier NAT or a café's Wi-Fi), verifies phone and identity as themselves,
// enrols an authenticator, links their own account the way koza offers it (mistyping a PIN or code on the way, some),
// charges and pays; some reinstall the app, some come back after the new-link window for larger sums; holders at a bank
// koza cannot link fund by transfer. Each action's outcome is counted per group: succeeded, challenged, held, denied.
// Must never behave unlike a customer to get through: a challenge is answered with their own factor, a refusal counted.
import { fundByBankTransfer } from './pay-in.js';
import { BankBrowser, hiddenFields, problemCode, SimDevice, type Answer, type RequestMeter } from './client.js';
import { CUSTOMER_GROUPS, type Customer, type CustomerGroup } from './cast.js';
import { CONFIRMATION_URL } from '../sandbox/banks/admin.js';
import {
  answerSignInChallenge, bankDirectory, claimOf, enrolTotp, getAs, openWallet, postAs, StepFailed, stepUpProof, verifyIdentity, verifyPhone,
  type SimWallet,
} from './wallet-app.js';

/** What the customers saw over HTTP; the report counts decisions and money from koza's records as well. */
export interface CustomerLog {
  walletIds: string[];
  done: number;
  linksAttempted: number;
  chargesAttempted: number;
  paymentsAttempted: number;
  /** Charges and payments koza asked a step-up for (403 step-up-required). */
  challenged: number;
  /** Steps koza refused: sign-up, identity, link, charge or payment. */
  denied: number;
  /** Steps koza held for an analyst (a link or a movement). */
  held: number;
  /** Refused and held steps by step and problem code. */
  refusals: Record<string, number>;
  /** Steps that failed for another reason (a bank outage, a limit): by step and code. */
  failures: Record<string, number>;
  /** Each group's actions and outcomes as its customers saw them (tally.ts adds koza's records). */
  groups: Record<CustomerGroup, GroupLog>;
}

/**
 * One group's journey. An action is one thing a person sets out to do (open a wallet, verify the phone, verify identity,
 * add the authenticator, link, sign in on a reinstalled app, each charge, payment, withdrawal, transfer); a mistyped
 * code retried is the same action. Succeeded: it was done in the end. Challenged: koza asked a proof the routine did not
 * (a step-up answered 403, a second factor at sign-in). Held: put to an analyst. Denied: refused (or failed) for good.
 * Stranded: customers who never got money into their wallet (or whose journey a refusal ended).
 */
export interface GroupLog {
  customers: number;
  walletIds: string[];
  /** The customers' own devices as koza keys them (id:<X-Device-Id>): koza's decisions on their wallets from other devices are not theirs. */
  deviceKeys: string[];
  attempted: number;
  succeeded: number;
  challenged: number;
  held: number;
  denied: number;
  stranded: number;
  /** pin-only-bank: link attempts koza refused and that named funding by transfer (or another way) as the next step. */
  steered: number;
}

const emptyGroup = (): GroupLog => ({ customers: 0, walletIds: [], deviceKeys: [], attempted: 0, succeeded: 0, challenged: 0, held: 0, denied: 0, stranded: 0, steered: 0 });

/** Merges the group logs of several crowds (account-takeover runs two). */
export function mergeGroups(logs: CustomerLog[]): Record<CustomerGroup, GroupLog> {
  const out = Object.fromEntries(CUSTOMER_GROUPS.map((g) => [g, emptyGroup()])) as Record<CustomerGroup, GroupLog>;
  for (const log of logs) {
    for (const g of CUSTOMER_GROUPS) {
      const from = log.groups[g];
      const to = out[g];
      to.walletIds.push(...from.walletIds);
      to.deviceKeys.push(...from.deviceKeys);
      for (const k of ['customers', 'attempted', 'succeeded', 'challenged', 'held', 'denied', 'stranded', 'steered'] as const) to[k] += from[k];
    }
  }
  return out;
}

/** One customer's running journey: the outcome of each action, folded into the group's log at the end. */
class Journey {
  funded = false;
  ended = false;
  /** The last action was held for review. */
  held = false;
  /** Coming back later (after a review, after the new-link window): not finished yet. */
  pending = false;
  constructor(readonly customer: Customer, private readonly group: GroupLog) {
    group.customers++;
    for (const id of [customer.deviceId, customer.reinstallDeviceId]) if (id && !group.deviceKeys.includes(`id:${id}`)) group.deviceKeys.push(`id:${id}`);
  }

  /** An action begun; `done` records how it ended. */
  begin(): void {
    this.group.attempted++;
  }

  done(outcome: 'ok' | 'held' | 'denied', challenged = false): void {
    if (challenged) this.group.challenged++;
    this.held = outcome === 'held';
    if (outcome === 'ok') this.group.succeeded++;
    else if (outcome === 'held') this.group.held++;
    else this.group.denied++;
  }

  steered(): void {
    this.group.steered++;
  }

  wallet(walletId: string): void {
    this.group.walletIds.push(walletId);
  }

  finish(): void {
    if (!this.funded || this.ended) this.group.stranded++;
  }
}

/** A held answer: a movement held for review (202 held) or a link held before the bank is asked. */
function isHeld(answer: Answer): boolean {
  return answer.json.status === 'held' || problemCode(answer) === 'link-held-for-review';
}

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) koza/1.0 Mobile/15E148';
const REFUSALS = new Set(['signup-refused', 'login-refused', 'identity-submission-refused', 'profile-change-refused', 'factor-change-refused',
  'link-refused', 'link-held-for-review', 'charge-refused', 'payment-refused']);

const OTP_IN_SMS = /】(\d{6}) /;

/** A code or PIN with one digit typed wrong (the `at`-th from the end). */
function mistyped(code: string, at = 0): string {
  const i = code.length - 1 - (at % code.length);
  return `${code.slice(0, i)}${(Number(code[i]) + 1) % 10}${code.slice(i + 1)}`;
}

/** The customer's e-mail address at their mail provider. */
export function customerEmail(customer: Customer): string {
  return `customer${customer.person.index}@mail.example.jp`;
}

export class CustomerCrowd {
  /** Each customer's wallet, by person index (a scenario's victims are customers). */
  readonly walletOf = new Map<number, string>();
  /** Each customer's wallet app and linked account, by person index (for tests that go on with a customer). */
  readonly apps = new Map<number, { wallet: SimWallet; linkId: string | null }>();
  readonly log: CustomerLog = {
    walletIds: [], done: 0, linksAttempted: 0, chargesAttempted: 0, paymentsAttempted: 0, challenged: 0, denied: 0, held: 0, refusals: {}, failures: {},
    groups: Object.fromEntries(CUSTOMER_GROUPS.map((g) => [g, emptyGroup()])) as Record<CustomerGroup, GroupLog>,
  };
  /** Heavy users waiting for their new-link window to end, with their wallet and link (afterCoolingOff). */
  private readonly comingBack: Array<{ journey: Journey; wallet: SimWallet; linkId: string }> = [];
  /** Customers whose link a risk review holds, waiting for the analyst (afterReview). */
  private readonly waitingForReview: Array<{ journey: Journey; wallet: SimWallet }> = [];

  get waitingToComeBack(): number {
    return this.comingBack.length;
  }

  constructor(
    private readonly kozaUrl: string,
    private readonly banksUrl: string,
    private readonly merchants: string[],
    private readonly meter: RequestMeter,
  ) {}

  /**
   * The analyst working the held-link queue while customers come and go (analyst.ts): reviews one wallet's held link and
   * says whether it was released. Unset, held links wait until the traffic has stopped (afterReview).
   */
  analyst?: (walletId: string) => Promise<boolean>;

  async run(customers: Customer[], concurrency: number): Promise<void> {
    // One device is used by one person at a time: a family hands its tablet on when one member is done. Members open
    // their wallets days apart and the analyst works the queue within hours, so a held link has been reviewed before the
    // next member's turn (however the scenario spreads its customers over days).
    const units = new Map<string, Customer[]>();
    for (const customer of customers) units.set(customer.deviceId, [...(units.get(customer.deviceId) ?? []), customer]);
    const queue = [...units.values()];
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, async () => {
      for (let unit = queue.shift(); unit; unit = queue.shift()) {
        for (const customer of unit) {
          await this.serve(customer);
          await this.reviewHeldLink(customer);
        }
      }
    }));
  }

  /** A customer's link held for review: the analyst looks at it (within hours, before a family's next member), and they go on. */
  private async reviewHeldLink(customer: Customer): Promise<void> {
    const at = this.waitingForReview.findIndex((w) => w.journey.customer === customer);
    if (at < 0 || !this.analyst) return;
    const [waiting] = this.waitingForReview.splice(at, 1);
    const released = await this.analyst(waiting!.wallet.walletId);
    await this.goOnAfterReview(waiting!, released);
  }

  private async serve(customer: Customer): Promise<void> {
    const journey = new Journey(customer, this.log.groups[customer.group]);
    try {
      await this.live(customer, journey);
    } catch (err) {
      this.stepFailed(err, journey);
    } finally {
      this.log.done++;
      if (!journey.pending) journey.finish();
    }
  }

  /** A step koza refused or held ends the journey (counted); anything else is the replay's own failure. */
  private stepFailed(err: unknown, journey: Journey): void {
    if (!(err instanceof StepFailed)) throw err;
    this.outcome(err.step, err.answer);
    journey.done(isHeld(err.answer) ? 'held' : 'denied');
    journey.ended = true;
  }

  /** Counts an answer that was not a success: a refusal (what the report calls denied) or another failure. */
  private outcome(step: string, answer: Answer): void {
    const code = problemCode(answer) || (answer.json.status === 'held' ? 'held' : String(answer.status));
    if (isHeld(answer)) {
      this.log.held++;
      this.log.refusals[`${step}:${code}`] = (this.log.refusals[`${step}:${code}`] ?? 0) + 1;
    } else if (REFUSALS.has(code)) {
      this.log.denied++;
      this.log.refusals[`${step}:${code}`] = (this.log.refusals[`${step}:${code}`] ?? 0) + 1;
    } else {
      this.log.failures[`${step}:${code}`] = (this.log.failures[`${step}:${code}`] ?? 0) + 1;
    }
  }

  /** One action that throws StepFailed when koza refuses it (counted by run()). */
  private async step<T>(journey: Journey, act: () => Promise<T>): Promise<T> {
    journey.begin();
    const result = await act();
    journey.done('ok');
    return result;
  }

  private async live(customer: Customer, journey: Journey): Promise<void> {
    const device = new SimDevice(this.kozaUrl, customer.address, customer.deviceId, IPHONE, this.meter);
    const email = customerEmail(customer);
    let challenged = false;
    journey.begin();
    const wallet = await (async () => {
      for (let tries = 0; ; tries++) {
        try {
          return await openWallet(device, email, customer.password);
        } catch (err) {
          if (!(err instanceof StepFailed)) throw err;
          // Told the password is too easy to guess, a person picks a longer one (and writes it down): not a refusal of them.
          if (tries === 0 && err.step === 'signup' && problemCode(err.answer) !== 'signup-refused') {
            customer.password = `${customer.password} and a longer ${customer.person.index} tail`;
            continue;
          }
          // Asked for a second proof at the first sign-in (a risk rule, e.g. many wallets on a family tablet): the code
          // koza e-mailed them.
          if (err.step === 'sign-in' && err.answer.status === 202) {
            challenged = true;
            const done = await answerSignInChallenge(device, email, err.answer, null);
            if (done.status !== 201) throw new StepFailed('sign-in', done);
            const walletId = String((await device.get('/v1/wallet', String(done.json.token))).json.wallet?.id ?? '');
            return { walletId, email, token: String(done.json.token), device, level: 'L0' as const, authenticator: null };
          }
          throw err;
        }
      }
    })();
    journey.done('ok', challenged);
    this.log.walletIds.push(wallet.walletId);
    journey.wallet(wallet.walletId);
    this.walletOf.set(customer.person.index, wallet.walletId);
    await this.step(journey, () => verifyPhone(wallet, customer.person.phone));
    journey.begin();
    if (!(await verifyIdentity(wallet, claimOf(customer.person)))) {
      journey.done('denied');
      this.log.failures['identity:not verified'] = (this.log.failures['identity:not verified'] ?? 0) + 1;
      return;
    }
    journey.done('ok');
    await this.step(journey, () => enrolTotp(wallet));
    await this.useWallet(wallet, customer, journey);
  }

  /** Link (or fund by transfer), charge, pay; a link held for review waits for the analyst (afterReview). */
  private async useWallet(wallet: SimWallet, customer: Customer, journey: Journey): Promise<void> {
    const linkId = await this.link(wallet, customer, journey);
    this.apps.set(customer.person.index, { wallet, linkId });
    if (journey.held) {
      // koza said when an analyst will have looked (review_due_at_jst) and that it will e-mail them: they wait.
      journey.pending = true;
      this.waitingForReview.push({ journey, wallet });
      return;
    }
    let balance = 0;
    if (!linkId) {
      if (customer.group !== 'pin-only-bank') return;
      // A bank koza cannot link: the holder sends a transfer from their own bank's pages instead (src/attack/pay-in.ts).
      balance = await this.fundByTransfer(wallet, customer, journey);
      if (balance <= 0) return;
    }
    for (const [i, amount] of customer.charges.entries()) {
      if (!linkId) break;
      // A reinstall: after the first charge the app is deleted and installed again (a new device id), and they sign in.
      if (i === 1 && customer.reinstallDeviceId) await this.reinstall(wallet, customer, journey);
      if (await this.money(wallet, journey, 'charge', '/v1/charges', { link_id: linkId, amount }, { action: 'charge', amount, destination: linkId })) {
        balance += amount;
      }
    }
    if (linkId && customer.reinstallDeviceId && customer.charges.length < 2) await this.reinstall(wallet, customer, journey);
    for (const [i, wanted] of customer.payments.entries()) {
      const amount = Math.min(wanted, balance);
      if (amount <= 0) break;
      const merchant = this.merchants[(customer.person.index + i) % this.merchants.length]!;
      if (await this.money(wallet, journey, 'payment', '/v1/payments', { merchant_id: merchant, amount }, { action: 'payment', amount, destination: merchant })) {
        balance -= amount;
      }
    }
    if (customer.heavy && linkId) {
      journey.pending = true;
      this.comingBack.push({ journey, wallet, linkId });
    }
  }

  /**
   * After the analyst looked at the held links (analyst.ts): each customer whose link was held reads koza's e-mail and,
   * released, links again and goes on (signing in again if the wait outlived the session); rejected, they are stranded.
   */
  async afterReview(released: Set<string>): Promise<void> {
    for (const waiting of this.waitingForReview.splice(0)) await this.goOnAfterReview(waiting, released.has(waiting.wallet.walletId));
  }

  private async goOnAfterReview({ journey, wallet }: { journey: Journey; wallet: SimWallet }, released: boolean): Promise<void> {
    journey.pending = false;
    journey.held = false;
    try {
      if (!released) {
        journey.ended = true;
        return;
      }
      await getAs(wallet, '/v1/wallet', journey.customer.password);
      await this.useWallet(wallet, journey.customer, journey);
    } catch (err) {
      this.stepFailed(err, journey);
    } finally {
      if (!journey.pending) journey.finish();
    }
  }

  get waitingForAnalyst(): number {
    return this.waitingForReview.length;
  }

  /**
   * Funding without a link, for a holder at a bank koza cannot link: a bank transfer (furikomi) the holder sends from
   * their own bank's pages to their wallet's own transfer account (src/attack/pay-in.ts). Returns the yen credited.
   */
  private async fundByTransfer(wallet: SimWallet, customer: Customer, journey: Journey): Promise<number> {
    // What they would have charged from a link, sent as one transfer.
    const amount = customer.charges.reduce((sum, yen) => sum + yen, 0);
    journey.begin();
    const paid = await fundByBankTransfer({ wallet, holder: customer.account, banksUrl: this.banksUrl, amount, meter: this.meter });
    if (paid.outcome === 'credited') {
      journey.funded = true;
      journey.done('ok');
      return amount;
    }
    journey.done('denied');
    if (paid.answer) {
      this.outcome('pay-in', paid.answer);
    } else {
      const key = `pay-in:${paid.outcome}${paid.returnReason ? `:${paid.returnReason}` : ''}${paid.step ? `:${paid.step}` : ''}`;
      this.log.failures[key] = (this.log.failures[key] ?? 0) + 1;
    }
    return 0;
  }

  /** The app reinstalled: a new device id, the same person signs in again (their authenticator app kept its codes). */
  private async reinstall(wallet: SimWallet, customer: Customer, journey: Journey): Promise<void> {
    wallet.device = new SimDevice(this.kozaUrl, customer.address, customer.reinstallDeviceId!, IPHONE, this.meter);
    journey.begin();
    const first = await wallet.device.post('/v1/sessions', { email: wallet.email, password: customer.password });
    // A device the wallet has not seen: the second factor, from their authenticator app (it kept its secret).
    const challenged = first.status === 202;
    const answer = challenged ? await answerSignInChallenge(wallet.device, wallet.email, first, wallet.authenticator) : first;
    if (answer.status === 201) {
      wallet.token = String(answer.json.token);
      journey.done('ok', challenged);
      return;
    }
    journey.done(isHeld(answer) ? 'held' : 'denied', challenged);
    throw new StepFailed('sign-in after reinstall', answer);
  }

  /**
   * Heavy users come back once every heavy customer's new-link window is over (the test clock moves the world on): a
   * charge near the graduated-trust cap, a payment above the step-up threshold, a withdrawal to their own account.
   * The caller moves the test clock past the window first (scenario.ts heavyUsersAfter).
   */
  async afterCoolingOff(): Promise<void> {
    const back = this.comingBack.splice(0);
    for (const { journey, wallet, linkId } of back) {
      const { heavy } = journey.customer;
      try {
        let balance = Number((await getAs(wallet, '/v1/wallet/balance', journey.customer.password)).json.available ?? 0);
        if (await this.money(wallet, journey, 'charge', '/v1/charges', { link_id: linkId, amount: heavy!.charge },
          { action: 'charge', amount: heavy!.charge, destination: linkId })) balance += heavy!.charge;
        const merchant = this.merchants[journey.customer.person.index % this.merchants.length]!;
        const payment = Math.min(heavy!.payment, balance);
        if (payment > 0 && await this.money(wallet, journey, 'payment', '/v1/payments', { merchant_id: merchant, amount: payment },
          { action: 'payment', amount: payment, destination: merchant })) balance -= payment;
        const withdrawal = Math.min(heavy!.withdrawal, balance);
        if (withdrawal > 0) {
          await this.money(wallet, journey, 'withdrawal', '/v1/withdrawals', { link_id: linkId, amount: withdrawal },
            { action: 'withdrawal', amount: withdrawal, destination: linkId });
        }
      } finally {
        journey.pending = false;
        journey.finish();
      }
    }
  }

  /** A charge or a payment; a challenge is met with the customer's own authenticator. True when it went through. */
  private async money(wallet: SimWallet, journey: Journey, step: 'charge' | 'payment' | 'withdrawal', path: string,
    body: Record<string, unknown>, binding: { action: string; amount: number; destination: string }): Promise<boolean> {
    if (step === 'charge') this.log.chargesAttempted++;
    else if (step === 'payment') this.log.paymentsAttempted++;
    journey.begin();
    // A session that expired while they were away is renewed by signing in again (their own device, their password).
    let answer = await postAs(wallet, path, body, journey.customer.password);
    const challenged = problemCode(answer) === 'step-up-required';
    if (challenged) {
      this.log.challenged++;
      const proof = await stepUpProof(wallet, binding);
      if (proof) answer = await wallet.device.post(path, { ...body, step_up_proof: proof }, wallet.token);
    }
    if (answer.status === 201) {
      if (step === 'charge') journey.funded = true;
      journey.done('ok', challenged);
      return true;
    }
    journey.done(isHeld(answer) ? 'held' : 'denied', challenged);
    this.outcome(step, answer);
    return false;
  }

  /** The customer's own account, the first way koza offers for their bank. */
  private async link(wallet: SimWallet, customer: Customer, journey: Journey): Promise<string | null> {
    const { account } = customer;
    const directory = await bankDirectory(wallet.device);
    const method = directory.methods.get(account.bank_code)?.[0];
    const secure = directory.policy === 'secure';
    journey.begin();
    if (!method) {
      // A bank koza cannot link (PIN alone): the app lets them try, koza says no and what to do instead.
      this.log.linksAttempted++;
      const proof = secure ? await stepUpProof(wallet, { action: 'link', destination: account.bank_code }) : null;
      const refused = await wallet.device.post('/v1/links', { bank_code: account.bank_code, ...(proof ? { step_up_proof: proof } : {}) }, wallet.token);
      const code = problemCode(refused) || String(refused.status);
      const nextStep = typeof refused.json.detail === 'string' && refused.json.detail.length > 0;
      if ((code === 'link-method-not-offered' || code === 'link-method-not-allowed') && nextStep) {
        journey.steered();
        journey.done('ok');
      } else {
        journey.done('denied');
      }
      const key = `link:${code} (${nextStep ? 'with a next step' : 'NO next step'})`;
      this.log.failures[key] = (this.log.failures[key] ?? 0) + 1;
      return null;
    }
    let challenged = false;
    const start = async (pin: string): Promise<Answer> => {
      const proof = secure ? await stepUpProof(wallet, { action: 'link', destination: account.bank_code }) : null;
      this.log.linksAttempted++;
      return wallet.device.post('/v1/links', {
        bank_code: account.bank_code, method,
        ...(method === 'redirect' ? {} : { account: { branch_code: account.branch_code, account_number: account.account_number }, pin }),
        // The 2020 app asked for the holder's name; the secure one takes it from the verified identity only.
        ...(secure ? {} : { name_kana: customer.person.name_kana }),
        ...(proof ? { step_up_proof: proof } : {}),
      }, wallet.token);
    };
    const typos = method === 'pin_otp' ? customer.typos : undefined;
    let started = await start(typos?.pin ? mistyped(account.pin) : account.pin);
    if (started.status === 201 && typos?.pin) {
      // A wrong PIN: the bank texts no code. After a while they look at the PIN again and start over with the right one.
      if (!(await this.bankOtp(account.registered_phone, account.bank_code))) started = await start(account.pin);
    }
    const refused = (answer: Answer) => {
      this.outcome('link', answer);
      journey.done(isHeld(answer) ? 'held' : 'denied', challenged);
      return null;
    };
    if (started.status !== 201) return refused(started);
    const requestId = String(started.json.link_request_id);
    let done: Answer;
    if (method === 'redirect') {
      done = await this.consentAtBank(wallet, customer, String(started.json.authorization_url));
    } else {
      const otp = method === 'pin_otp' ? await this.bankOtp(account.registered_phone, account.bank_code) : null;
      // Mistyped codes first (a digit off), each refused by the bank; the same request takes the right one after.
      for (let i = 0; otp && i < (typos?.otp ?? 0); i++) {
        const wrong = await wallet.device.post(`/v1/links/${requestId}/complete`, { otp: mistyped(otp, i) }, wallet.token);
        if (problemCode(wrong) !== 'bank-credentials-rejected') return refused(wrong);
      }
      done = await wallet.device.post(`/v1/links/${requestId}/complete`, otp ? { otp } : {}, wallet.token);
      if (problemCode(done) === 'step-up-required' || done.status === 202) challenged = true;
    }
    if (done.status !== 201 && done.status !== 200) return refused(done);
    journey.done('ok', challenged);
    if (method !== 'redirect') await this.confirmAtBank(customer);
    return String(done.json.id);
  }

  /**
   * The bank e-mails its holder a one-tap confirmation of a PIN+text link. People differ: most open it and tap Confirm
   * straight away; about one in eight never reads bank mail (their link stays at the new-link cap and an analyst is
   * alerted, as for a SIM swap); a holder the bank has no e-mail for gets none. The answer is counted, never forced.
   */
  private async confirmAtBank(customer: Customer): Promise<void> {
    const { account } = customer;
    if (!account.registered_email) return;
    this.meter.requests++;
    const res = await fetch(`${this.banksUrl}/sandbox/emails?address=${encodeURIComponent(account.registered_email)}&bank_code=${account.bank_code}`);
    const mails = ((await res.json()) as { data: Array<{ body: string }> }).data;
    const url = mails.map((m) => CONFIRMATION_URL.exec(m.body)?.[1]).find((u) => u !== undefined);
    if (!url) return; // legacy-2020: the bank sends no confirmation
    if (customer.person.index % 8 === 3 && !customer.heavy) {
      this.log.failures['link:bank\'s confirmation e-mail left unread'] = (this.log.failures['link:bank\'s confirmation e-mail left unread'] ?? 0) + 1;
      return;
    }
    const browser = new BankBrowser(this.banksUrl, this.meter);
    const page = await browser.request('GET', url);
    const tapped = await browser.request('POST', `/banks/${account.bank_code}/confirm-link`, { ...hiddenFields(page.html), decision: 'confirm' });
    if (tapped.status !== 200) this.log.failures[`link confirm at bank:${tapped.status}`] = (this.log.failures[`link confirm at bank:${tapped.status}`] ?? 0) + 1;
  }

  /** The code the bank texted to the customer's own phone (the sandbox's SMS log stands in for the handset). */
  private async bankOtp(phone: string, bankCode: string): Promise<string | null> {
    this.meter.requests++;
    const res = await fetch(`${this.banksUrl}/sandbox/sms?phone=${encodeURIComponent(phone)}&bank_code=${bankCode}`);
    const newest = ((await res.json()) as { data: Array<{ body: string }> }).data[0];
    return newest ? OTP_IN_SMS.exec(newest.body)?.[1] ?? null : null;
  }

  /** redirect: sign in at the bank with the customer's own online banking and code, approve, come back to koza. */
  private async consentAtBank(wallet: SimWallet, customer: Customer, authorizationUrl: string): Promise<Answer> {
    const { account } = customer;
    const browser = new BankBrowser(this.banksUrl, this.meter);
    const signInPage = await browser.follow(await browser.request('GET', authorizationUrl));
    const consent = await browser.signIn(account.bank_code, signInPage, account.online_banking,
      () => this.bankOtp(account.registered_phone, account.bank_code));
    if (!consent || consent.status !== 200) return { status: consent?.status ?? 401, json: { type: 'urn:koza:problem:bank-sign-in' }, text: '' };
    const back = await browser.request('POST', `/banks/${account.bank_code}/consent`, {
      ...hiddenFields(consent.html),
      decision: 'approve',
    });
    if (back.status !== 303 || !back.location) return { status: back.status, json: { type: 'urn:koza:problem:bank-consent' }, text: back.html };
    const callback = new URL(back.location);
    return wallet.device.get(callback.pathname + callback.search);
  }
}
