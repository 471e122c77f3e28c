// Owns the ordinary customers of the replay: each opens one wallet on one phone, verifies phone and identity as
// themselves, enrols an authenticator, links their own account the way koza offers it, charges a little and pays.
// Must never behave unlike a customer to get through: a challenge is answered with their own factor, a refusal counted.
import { BankBrowser, hiddenFields, problemCode, SimDevice, type Answer, type RequestMeter } from './client.js';
import type { Customer } from './cast.js';
import { CONFIRMATION_URL } from '../sandbox/banks/admin.js';
import {
  bankDirectory, claimOf, enrolTotp, openWallet, StepFailed, stepUpProof, verifyIdentity, verifyPhone, type SimWallet,
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
  /** Steps koza refused or held: sign-up, identity, link, charge or payment; by step and problem code. */
  denied: number;
  refusals: Record<string, number>;
  /** Steps that failed for another reason (a bank outage, a limit): by step and code. */
  failures: Record<string, number>;
}

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) koza/1.0 Mobile/15E148';
const REFUSALS = new Set(['signup-refused', 'login-refused', 'identity-submission-refused', 'profile-change-refused', 'factor-change-refused',
  'link-refused', 'link-held-for-review', 'charge-refused', 'payment-refused']);

const OTP_IN_SMS = /】(\d{6}) /;

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
    walletIds: [], done: 0, linksAttempted: 0, chargesAttempted: 0, paymentsAttempted: 0, challenged: 0, denied: 0, refusals: {}, failures: {},
  };

  constructor(
    private readonly kozaUrl: string,
    private readonly banksUrl: string,
    private readonly merchants: string[],
    private readonly meter: RequestMeter,
  ) {}

  async run(customers: Customer[], concurrency: number): Promise<void> {
    const queue = [...customers];
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, async () => {
      for (let customer = queue.shift(); customer; customer = queue.shift()) {
        try {
          await this.live(customer);
        } catch (err) {
          if (!(err instanceof StepFailed)) throw err;
          this.outcome(err.step, err.answer);
        } finally {
          this.log.done++;
        }
      }
    }));
  }

  /** Counts an answer that was not a success: a refusal (what the report calls denied) or another failure. */
  private outcome(step: string, answer: Answer): void {
    const code = problemCode(answer) || (answer.json.status === 'held' ? 'held' : String(answer.status));
    if (REFUSALS.has(code) || code === 'held') {
      this.log.denied++;
      this.log.refusals[`${step}:${code}`] = (this.log.refusals[`${step}:${code}`] ?? 0) + 1;
    } else {
      this.log.failures[`${step}:${code}`] = (this.log.failures[`${step}:${code}`] ?? 0) + 1;
    }
  }

  private async live(customer: Customer): Promise<void> {
    const device = new SimDevice(this.kozaUrl, customer.address, customer.deviceId, IPHONE, this.meter);
    const email = customerEmail(customer);
    let wallet: SimWallet;
    try {
      wallet = await openWallet(device, email, customer.password);
    } catch (err) {
      // Told the password is too easy to guess, a person picks a longer one (and writes it down): not a refusal of them.
      if (!(err instanceof StepFailed) || err.step !== 'signup' || problemCode(err.answer) === 'signup-refused') throw err;
      customer.password = `${customer.password} and a longer ${customer.person.index} tail`;
      wallet = await openWallet(device, email, customer.password);
    }
    this.log.walletIds.push(wallet.walletId);
    this.walletOf.set(customer.person.index, wallet.walletId);
    await verifyPhone(wallet, customer.person.phone);
    if (!(await verifyIdentity(wallet, claimOf(customer.person)))) {
      this.log.failures['identity:not verified'] = (this.log.failures['identity:not verified'] ?? 0) + 1;
      return;
    }
    await enrolTotp(wallet);
    const linkId = await this.link(wallet, customer);
    this.apps.set(customer.person.index, { wallet, linkId });
    if (!linkId) return;
    let balance = 0;
    for (const amount of customer.charges) {
      if (await this.money(wallet, 'charge', '/v1/charges', { link_id: linkId, amount }, { action: 'charge', amount, destination: linkId })) {
        balance += amount;
      }
    }
    for (const [i, wanted] of customer.payments.entries()) {
      const amount = Math.min(wanted, balance);
      if (amount <= 0) break;
      const merchant = this.merchants[(customer.person.index + i) % this.merchants.length]!;
      if (await this.money(wallet, 'payment', '/v1/payments', { merchant_id: merchant, amount }, { action: 'payment', amount, destination: merchant })) {
        balance -= amount;
      }
    }
  }

  /** A charge or a payment; a challenge is met with the customer's own authenticator. True when it went through. */
  private async money(wallet: SimWallet, step: 'charge' | 'payment', path: string, body: Record<string, unknown>,
    binding: { action: string; amount: number; destination: string }): Promise<boolean> {
    if (step === 'charge') this.log.chargesAttempted++;
    else this.log.paymentsAttempted++;
    let answer = await wallet.device.post(path, body, wallet.token);
    if (problemCode(answer) === 'step-up-required') {
      this.log.challenged++;
      const proof = await stepUpProof(wallet, binding);
      if (proof) answer = await wallet.device.post(path, { ...body, step_up_proof: proof }, wallet.token);
    }
    if (answer.status === 201) return true;
    this.outcome(step, answer);
    return false;
  }

  /** The customer's own account, the first way koza offers for their bank. */
  private async link(wallet: SimWallet, customer: Customer): Promise<string | null> {
    const { account } = customer;
    const directory = await bankDirectory(wallet.device);
    const method = directory.methods.get(account.bank_code)?.[0];
    if (!method) {
      this.log.failures['link:no method offered'] = (this.log.failures['link:no method offered'] ?? 0) + 1;
      return null;
    }
    const secure = directory.policy === 'secure';
    const proof = secure ? await stepUpProof(wallet, { action: 'link', destination: account.bank_code }) : null;
    this.log.linksAttempted++;
    const started = await wallet.device.post('/v1/links', {
      bank_code: account.bank_code, method,
      ...(method === 'redirect' ? {} : { account: { branch_code: account.branch_code, account_number: account.account_number }, pin: account.pin }),
      // The 2020 app asked for the holder's name; the secure one takes it from the verified identity only.
      ...(secure ? {} : { name_kana: customer.person.name_kana }),
      ...(proof ? { step_up_proof: proof } : {}),
    }, wallet.token);
    if (started.status !== 201) {
      this.outcome('link', started);
      return null;
    }
    const requestId = String(started.json.link_request_id);
    let done: Answer;
    if (method === 'redirect') {
      done = await this.consentAtBank(wallet, customer, String(started.json.authorization_url));
    } else {
      const otp = method === 'pin_otp' ? await this.bankOtp(account.registered_phone, account.bank_code) : null;
      done = await wallet.device.post(`/v1/links/${requestId}/complete`, otp ? { otp } : {}, wallet.token);
    }
    if (done.status !== 201 && done.status !== 200) {
      this.outcome('link', done);
      return null;
    }
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
    if (customer.person.index % 8 === 3) {
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
