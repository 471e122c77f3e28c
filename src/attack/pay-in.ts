// Owns a simulated person's pay-in by bank transfer (issue 11): read the wallet's virtual account from koza, sign in to
// their own bank's pages and send the furikomi there, then wait (bounded) until koza says credited or returned.
// Must never reach into koza's or the banks' tables, nor type a sender name: the bank writes its holder's own.
import { BankBrowser, hiddenFields, readBankText, type Answer, type RequestMeter } from './client.js';
import { getAs, type SimWallet } from './wallet-app.js';

/** The holder's side: their account's bank, the phone the bank texts, their online banking. */
export interface PayInHolder {
  bank_code: string;
  registered_phone: string;
  online_banking: { user_id: string; password: string };
}

export interface PayInRequest {
  wallet: SimWallet;
  holder: PayInHolder;
  /** The bank sandbox's URL (world.banksUrl). */
  banksUrl: string;
  amount: number;
  meter?: RequestMeter;
  /** Reads of koza's pay-ins before giving up (default 20). The sandbox reports before it answers the holder, so 1 is usual. */
  maxPolls?: number;
}

export interface PayInResult {
  /**
   * credited: on the wallet; returned: the bank booked it back to the sender (returning: koza is still asking the bank);
   * refused: a step before the transfer failed (koza's GET /v1/wallet/pay-in, the bank's sign-in or transfer form);
   * not_seen: the transfer was sent but koza had not heard of it after maxPolls (a lost notice: the statement will tell).
   */
  outcome: 'credited' | 'returned' | 'returning' | 'refused' | 'not_seen';
  /** Where a refusal happened, and its HTTP status. */
  step?: 'pay-in details' | 'bank sign-in' | 'bank transfer';
  status?: number;
  /** The answer of a refused koza step (its problem code is what the replay counts). */
  answer?: Answer;
  furikomiId: string | null;
  payInId: string | null;
  returnReason: string | null;
}

const FURIKOMI_ID = /id="furikomi-id">(bfk_[A-Za-z0-9_-]+)</;

/**
 * Funds `wallet` with `amount` yen by a bank transfer from the holder's own account: GET /v1/wallet/pay-in, then the
 * holder's bank pages (sign-in with online-banking ID, password and the bank's texted code; 振込 form), then polls
 * GET /v1/wallet/pay-ins until the transfer shows credited or returned.
 */
export async function fundByBankTransfer(request: PayInRequest): Promise<PayInResult> {
  const { wallet, holder, banksUrl, amount, meter } = request;
  const none = { furikomiId: null, payInId: null, returnReason: null };
  const details = await getAs(wallet, '/v1/wallet/pay-in');
  if (details.status !== 200) return { outcome: 'refused', step: 'pay-in details', status: details.status, answer: details, ...none };
  const to = details.json as { bank_code: string; branch_code: string; account_number: string };

  const browser = new BankBrowser(banksUrl, meter);
  const signInPage = await browser.follow(await browser.request('GET', `/banks/${holder.bank_code}/transfer`));
  const form = await browser.signIn(holder.bank_code, signInPage, holder.online_banking,
    () => readBankText(banksUrl, holder.registered_phone, holder.bank_code, meter));
  if (!form || form.status !== 200 || !form.html.includes('name="to_account_number"')) {
    return { outcome: 'refused', step: 'bank sign-in', status: form?.status ?? 401, ...none };
  }
  const sent = await browser.request('POST', `/banks/${holder.bank_code}/transfer`, {
    ...hiddenFields(form.html), to_bank_code: to.bank_code, to_branch_code: to.branch_code, to_account_number: to.account_number,
    amount: String(amount),
  });
  const furikomiId = FURIKOMI_ID.exec(sent.html)?.[1] ?? null;
  if (sent.status !== 200 || furikomiId === null) return { outcome: 'refused', step: 'bank transfer', status: sent.status, ...none };

  const polls = Math.max(1, request.maxPolls ?? 20);
  for (let poll = 0; poll < polls; poll++) {
    const list = await getAs(wallet, '/v1/wallet/pay-ins');
    const mine = ((list.json.data ?? []) as Array<{ id: string; bank_transfer_id: string; status: PayInResult['outcome']; return_reason: string | null }>)
      .find((p) => p.bank_transfer_id === furikomiId);
    if (mine && (mine.status === 'credited' || mine.status === 'returned' || poll === polls - 1)) {
      return { outcome: mine.status, furikomiId, payInId: mine.id, returnReason: mine.return_reason };
    }
    // The bank reports before it answers the holder, so this is reached only when a notice is late or lost.
    if (poll < polls - 1) await new Promise((resolve) => setTimeout(resolve, 25 * (poll + 1)));
  }
  return { outcome: 'not_seen', furikomiId, payInId: null, returnReason: null };
}
