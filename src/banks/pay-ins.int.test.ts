// Pay-in by bank transfer end to end over HTTP on 127.0.0.1, on both storage backends: a holder at a PIN-only bank, whom
// koza cannot link, is told to fund by transfer, reads the wallet's virtual account, sends a furikomi from the bank's own
// pages, and the wallet is credited once; another person's transfer, an unknown number, a frozen wallet and a transfer
// above the limit go back to the sender; a lost notice is credited from the statement, once; duplicate notices credit
// once. Every story checks koza's ledger and the sandbox bank's books to the yen.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  expectOk, expectProblemOver, HolderPicker, linkProof, personAt, startLinkWorld, walletOf, enrolTotp, type LinkWorld, type PersonWallet,
} from '../../test-support/links-for-tests.js';
import { answered, refusedCode, TEST_KEY_SEED, testBankClient } from '../../test-support/bank-client-for-tests.js';
import { signUpVerified } from '../../test-support/api-client.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import { jstDate } from '../sandbox/banks/transfers.js';
import { BankBrowser, hiddenFields, readBankText, RequestMeter, SimDevice } from '../attack/client.js';
import { fundByBankTransfer, type PayInResult } from '../attack/pay-in.js';
import type { SimWallet } from '../attack/wallet-app.js';
import { createOperator } from '../operations/operators.js';
import { getBalance, ledgerTotals, SYSTEM_ACCOUNTS } from '../ledger/ledger.js';
import { clearingAccountId } from './movement-links.js';
import { deriveBankNoticeKeyPair, signRequest } from './signing.js';
import { BANK_SIGNATURE_HEADER, IDEMPOTENCY_HEADER, type IncomingTransferNotice } from './protocol.js';
import { hasValidCheckDigit, reconcilePayInStatements } from './pay-ins.js';

forEachBackend('pay-in by bank transfer', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  let operatorKey: string;
  const meter = new RequestMeter();
  before(async () => {
    world = await startLinkWorld(backend, db());
    world.sandbox.deliverPayInsTo(world.koza.url);
    picker = new HolderPicker(world.sandbox);
    operatorKey = (await createOperator(db(), { name: 'Ops', role: 'admin' })).apiKey;
  });
  after(async () => { await world?.close(); });

  const admin = () => world.sandbox.admin;
  const simWallet = (w: PersonWallet): SimWallet => ({
    walletId: w.walletId, email: w.email, token: w.token, level: 'L2', authenticator: null,
    device: new SimDevice(world.koza.url, '198.51.100.7', `dev-${w.walletId}`, 'test', meter),
  });
  const holderWallet = async (predicate: (h: SandboxHolderAccount) => boolean) => {
    const holder = await picker.pick(predicate);
    return { holder, wallet: await walletOf(world.app, await personAt(world.app, holder.person_index)) };
  };
  const payInDetails = async (w: PersonWallet) => expectOk(await world.koza.get('/v1/wallet/pay-in', w.token), 200);
  const balanceOf = async (w: PersonWallet) => expectOk(await world.koza.get('/v1/wallet/balance', w.token), 200).balance as number;
  const bankBalance = async (h: SandboxHolderAccount) => (await admin().holder(h))!.balance;
  const fund = (w: PersonWallet, h: SandboxHolderAccount, amount: number, maxPolls?: number) => fundByBankTransfer({
    wallet: simWallet(w), holder: h, banksUrl: world.sandbox.url, amount, meter, ...(maxPolls ? { maxPolls } : {}),
  });
  /** What koza's ledger and the bank's books must always say: both sum to zero, no balance off its journal. */
  const booksBalance = async () => {
    const totals = await ledgerTotals(db());
    assert.equal(totals.debitsPosted, totals.creditsPosted, 'koza\'s ledger sums to zero');
    const books = await admin().books();
    assert.deepEqual([books.balance_sum, books.balances_off_journal, books.negative_holders], [0, 0, 0], 'the banks\' books balance');
  };
  const suspense = async () => {
    const b = await getBalance(db(), SYSTEM_ACCOUNTS.suspense);
    return b.creditsPosted - b.debitsPosted;
  };
  /** A furikomi sent by hand from the holder's pages (to any account), for the stories the helper does not tell. */
  const sendFurikomi = async (h: SandboxHolderAccount, to: { bank_code: string; branch_code: string; account_number: string }, amount: number) => {
    const browser = new BankBrowser(world.sandbox.url);
    const signIn = await browser.follow(await browser.request('GET', `/banks/${h.bank_code}/transfer`));
    const form = (await browser.signIn(h.bank_code, signIn, h.online_banking, () => readBankText(world.sandbox.url, h.registered_phone, h.bank_code)))!;
    const sent = await browser.request('POST', `/banks/${h.bank_code}/transfer`, {
      ...hiddenFields(form.html), to_bank_code: to.bank_code, to_branch_code: to.branch_code, to_account_number: to.account_number, amount: String(amount),
    });
    assert.equal(sent.status, 200, sent.html);
    return /id="furikomi-id">(bfk_[A-Za-z0-9_-]+)</.exec(sent.html)![1]!;
  };
  const payIns = async (w: PersonWallet) => expectOk(await world.koza.get('/v1/wallet/pay-ins', w.token), 200).data as Array<Record<string, any>>;
  const outbox = async (w: PersonWallet) => expectOk(await world.koza.get(`/v1/sandbox/outbox?recipient=${encodeURIComponent(w.email)}&limit=5`), 200)
    .data as Array<{ subject: string; body: string }>;

  it('a holder at a PIN-only bank is told to fund by transfer, sends one from the bank\'s pages, and is credited once', async () => {
    const { holder, wallet } = await holderWallet((h) => h.link_methods.length === 1 && h.link_methods[0] === 'pin_only' && h.balance >= 100_000);
    const totp = await enrolTotp(world.app, wallet);
    const refused = expectProblemOver(await world.koza.post('/v1/links', {
      bank_code: holder.bank_code, step_up_proof: await linkProof(world.app, wallet, totp, holder.bank_code),
    }, wallet.token), 422, 'link-method-not-offered');
    assert.match(refused.detail, /fund by bank transfer to your koza account: GET \/v1\/wallet\/pay-in/);
    assert.match(refused.detail, /銀行振込で入金できます/);
    assert.equal(refused.fund_by_transfer, '/v1/wallet/pay-in');
    assert.match(refused.next_step.ja, /振込/, 'the next step in Japanese names the transfer');
    assert.match(refused.next_step.en, /GET \/v1\/wallet\/pay-in/, 'and in English');

    const listed = (expectOk(await world.koza.get('/v1/banks'), 200).data as Array<Record<string, any>>).find((b) => b.bank_code === holder.bank_code)!;
    assert.deepEqual([listed.link_methods, listed.next_step.href], [[], '/v1/wallet/pay-in'], 'the bank list names the way too');

    const details = await payInDetails(wallet);
    assert.equal(details.branch_code, '990');
    assert.ok(hasValidCheckDigit(details.account_number), details.account_number);
    assert.match(details.account_name_kana, /^ｺｻﾞ\(ｶ /);
    assert.equal(details.limits.max_now_yen, 500_000);
    assert.match(details.explanation.ja, /ご本人名義/);
    assert.deepEqual(await payInDetails(wallet), details, 'issued once: the same account on every ask');

    const bankBefore = await bankBalance(holder);
    const kozaAtBankBefore = await admin().kozaBalance(details.bank_code);
    const clearingBefore = await getBalance(db(), clearingAccountId(details.bank_code));
    const result = await fund(wallet, holder, 30_000);
    assert.equal(result.outcome, 'credited', JSON.stringify(result));
    assert.equal(await balanceOf(wallet), 30_000);
    assert.equal(await bankBalance(holder), bankBefore - 30_000);
    assert.equal(await admin().kozaBalance(details.bank_code), kozaAtBankBefore + 30_000, 'booked into koza\'s collection account');
    const clearing = await getBalance(db(), clearingAccountId(details.bank_code));
    assert.equal(clearing.debitsPosted - clearingBefore.debitsPosted, 30_000, 'koza\'s claim on the bank grew by the pay-in');
    assert.equal(await suspense(), 0, 'nothing left in suspense');
    const line = (await admin().passbook(holder)).at(-1)!;
    assert.equal(line.withdrawal, 30_000);
    assert.match(line.descriptor, /振込 ｺｻﾞ\(ｶ/);
    assert.equal((await admin().furikomi(result.furikomiId!))!.koza_notified, true);
    assert.match((await outbox(wallet))[0]!.subject, /Bank transfer received/);
    // The statement lists it; reconciling it takes nothing again.
    const report = expectOk(await world.koza.post('/v1/admin/reconciliation/statements',
      { bank_code: details.bank_code, date: jstDate(new Date()) }, operatorKey), 200);
    assert.ok(report.pay_ins.known >= 1);
    assert.equal(report.pay_ins.found, 0);
    assert.equal(await balanceOf(wallet), 30_000);
    await booksBalance();
  });

  it('returns a transfer from an account in another person\'s name: suspense in and out, the sender made whole, the owner told why', async () => {
    const { wallet } = await holderWallet((h) => h.link_methods.includes('redirect'));
    const other = await picker.pick((h) => h.balance >= 50_000);
    const details = await payInDetails(wallet);
    const otherBefore = await bankBalance(other);
    const kozaAtBankBefore = await admin().kozaBalance(details.bank_code);
    const result = await fund(wallet, other, 20_000);
    assert.deepEqual([result.outcome, result.returnReason], ['returned', 'name_mismatch'], JSON.stringify(result));
    assert.equal(await balanceOf(wallet), 0, 'never on the wallet');
    assert.equal(await bankBalance(other), otherBefore, 'the sender has it back');
    assert.equal(await admin().kozaBalance(details.bank_code), kozaAtBankBefore);
    assert.equal((await admin().furikomi(result.furikomiId!))!.returned, true);
    assert.match((await admin().passbook(other)).at(-1)!.descriptor, /振込返却/);
    // The bank's retries of the same report, at once: the one pay-in answers, nothing is returned twice.
    const notice = (await admin().statement(details.bank_code, jstDate(new Date()))).incoming!.find((n) => n.bank_transfer_id === result.furikomiId)!;
    const replays = await Promise.all(Array.from({ length: 3 }, () => postNotice(world.koza.url, notice)));
    assert.deepEqual(replays.map((r) => [r.status, r.body.pay_in_id, r.body.status]), Array(3).fill([200, result.payInId, 'returned']));
    assert.equal(await bankBalance(other), otherBefore, 'returned once');
    // The bank's side of POST /v2/returns: the same reference replays, another one conflicts, an unknown transfer is 404.
    const bank = testBankClient(world.sandbox.url);
    const replayed = answered(await bank.returnTransfer(details.bank_code,
      { bank_transfer_id: result.furikomiId!, reference: result.payInId!, reason: 'name_mismatch' }, `return:${result.payInId}`));
    assert.equal(replayed.amount, 20_000);
    assert.equal(refusedCode(await bank.returnTransfer(details.bank_code,
      { bank_transfer_id: result.furikomiId!, reference: 'pin_other', reason: 'name_mismatch' }, randomUUID())), 'idempotency_conflict');
    assert.equal(refusedCode(await bank.returnTransfer(details.bank_code,
      { bank_transfer_id: 'bfk_none', reference: 'pin_none', reason: 'unknown_account' }, randomUUID())), 'transfer_not_found');
    assert.equal(await bankBalance(other), otherBefore, 'still returned once');
    assert.equal(await suspense(), 0);
    const [mail] = await outbox(wallet);
    assert.match(mail!.body, /お返しします/);
    assert.match(mail!.body, /accounts in your own name/);
    const signals = await db().query<{ kind: string }>('SELECT kind FROM risk_signals WHERE wallet_id = $1', [wallet.walletId]);
    assert.ok(signals.rows.some((s) => s.kind === 'pay_in_returned'));
    await booksBalance();
  });

  it('returns a transfer to an unknown virtual account, and to a frozen wallet; a transfer above the limit goes back whole', async () => {
    const { holder, wallet } = await holderWallet((h) => h.balance >= 700_000);
    const details = await payInDetails(wallet);
    const before = await bankBalance(holder);
    const wrongNumber = details.account_number.slice(0, 6) + String((Number(details.account_number[6]) + 1) % 10);
    const unknownId = await sendFurikomi(holder, { bank_code: details.bank_code, branch_code: '990', account_number: wrongNumber }, 5_000);
    assert.equal((await admin().furikomi(unknownId))!.returned, true, 'one mistyped digit reaches no wallet: returned');
    const unknown = await db().query<{ status: string; return_reason: string; wallet_id: string | null }>(
      'SELECT status, return_reason, wallet_id FROM pay_ins WHERE bank_transfer_id = $1', [unknownId]);
    assert.deepEqual(unknown.rows[0], { status: 'returned', return_reason: 'unknown_account', wallet_id: null });

    const tooMuch = await fund(wallet, holder, 600_000);
    assert.deepEqual([tooMuch.outcome, tooMuch.returnReason], ['returned', 'limit_exceeded']);
    assert.match((await outbox(wallet))[0]!.body, /Send at most ¥500,000 now/);

    expectOk(await world.koza.post(`/v1/admin/wallets/${wallet.walletId}/freeze`, { frozen: true, reason: 'test: frozen wallet' }, operatorKey), 200);
    const frozen = await fund({ ...wallet }, holder, 1_000).catch(() => null);
    // The wallet app cannot show the account to a frozen wallet; the holder still has the number and sends by hand.
    assert.equal(frozen?.outcome, 'refused');
    const frozenId = await sendFurikomi(holder, { bank_code: details.bank_code, branch_code: '990', account_number: details.account_number }, 1_000);
    const row = await db().query<{ status: string; return_reason: string }>('SELECT status, return_reason FROM pay_ins WHERE bank_transfer_id = $1', [frozenId]);
    assert.deepEqual(row.rows[0], { status: 'returned', return_reason: 'wallet_unavailable' });
    assert.equal(await bankBalance(holder), before, 'every yen is back with the sender');
    assert.equal(await suspense(), 0);
    await booksBalance();
  });

  it('credits a transfer whose notice was lost from the statement, exactly once; duplicate notices credit once', async () => {
    const { holder, wallet } = await holderWallet((h) => h.balance >= 100_000);
    const details = await payInDetails(wallet);
    admin().losePayInNotices(true);
    let lost: PayInResult;
    try {
      lost = await fund(wallet, holder, 12_000, 1);
    } finally {
      admin().losePayInNotices(false);
    }
    assert.equal(lost.outcome, 'not_seen');
    assert.equal(await balanceOf(wallet), 0);
    assert.equal((await admin().furikomi(lost.furikomiId!))!.koza_notified, false);

    // The bank's late retry of the lost notice races itself five times over: one pay-in, one credit.
    const statement = await admin().statement(details.bank_code, jstDate(new Date()));
    const notice = statement.incoming!.find((n) => n.bank_transfer_id === lost.furikomiId)!;
    assert.ok(notice, 'the statement lists the incoming transfer');
    const answers = await Promise.all(Array.from({ length: 5 }, () => postNotice(world.koza.url, notice)));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
    assert.equal(new Set(answers.map((a) => a.body.pay_in_id)).size, 1, JSON.stringify(answers));
    assert.equal(await balanceOf(wallet), 12_000);

    // A second lost one, found only by the reconciler from the statement.
    admin().losePayInNotices(true);
    try {
      lost = await fund(wallet, holder, 8_000, 1);
    } finally {
      admin().losePayInNotices(false);
    }
    const reconcile = () => world.koza.post('/v1/admin/reconciliation/statements', { bank_code: details.bank_code, date: jstDate(new Date()) }, operatorKey);
    const first = expectOk(await reconcile(), 200);
    assert.equal(first.pay_ins.found, 1);
    assert.equal(await balanceOf(wallet), 20_000);
    const again = expectOk(await reconcile(), 200);
    assert.equal(again.pay_ins.found, 0, 'the statement and the notice for the same transfer credit once');
    assert.equal(await balanceOf(wallet), 20_000);
    // A third, found by koza start's own round over its pay-in banks' statements (no operator), once.
    admin().losePayInNotices(true);
    try {
      lost = await fund(wallet, holder, 5_000, 1);
    } finally {
      admin().losePayInNotices(false);
    }
    const deps = { db: db(), config: world.config, client: world.app.koza.banks };
    assert.equal(await reconcilePayInStatements(deps), 1);
    assert.equal(await reconcilePayInStatements(deps), 0);
    assert.equal(await balanceOf(wallet), 25_000);
    const mine = await payIns(wallet);
    assert.deepEqual(mine.map((p) => [p.amount, p.status, p.source]).sort(),
      [[12_000, 'credited', 'notice'], [8_000, 'credited', 'statement'], [5_000, 'credited', 'statement']].sort());
    assert.equal(await bankBalance(holder), holder.balance - 25_000);
    await booksBalance();
  });

  it('the bank\'s transfer form: holder to holder across banks names each side in the passbooks; too much is refused, nothing booked', async () => {
    const from = await picker.pick((h) => h.balance >= 10_000 && h.balance < 3_000_000);
    const to = await picker.pick((h) => h.bank_code !== from.bank_code);
    const [fromBefore, toBefore] = [await bankBalance(from), await bankBalance(to)];
    const id = await sendFurikomi(from, { bank_code: to.bank_code, branch_code: to.branch_code, account_number: to.account_number }, 7_000);
    assert.equal(await bankBalance(from), fromBefore - 7_000);
    assert.equal(await bankBalance(to), toBefore + 7_000);
    const [out, inn] = [(await admin().passbook(from)).at(-1)!, (await admin().passbook(to)).at(-1)!];
    assert.deepEqual([out.withdrawal, out.reference, inn.deposit, inn.reference], [7_000, id, 7_000, id]);
    assert.match(inn.descriptor, /^振込 [ｱ-ﾝﾞﾟ ]+$/);
    assert.equal((await admin().furikomi(id))!.to_virtual, false);

    const browser = new BankBrowser(world.sandbox.url);
    const signIn = await browser.follow(await browser.request('GET', `/banks/${from.bank_code}/transfer`));
    const form = (await browser.signIn(from.bank_code, signIn, from.online_banking, () => readBankText(world.sandbox.url, from.registered_phone, from.bank_code)))!;
    const refused = await browser.request('POST', `/banks/${from.bank_code}/transfer`, {
      ...hiddenFields(form.html), to_bank_code: to.bank_code, to_branch_code: to.branch_code, to_account_number: to.account_number,
      amount: String(fromBefore),
    });
    assert.equal(refused.status, 422);
    assert.match(refused.html, /残高が不足しています/);
    assert.equal(await bankBalance(from), fromBefore - 7_000, 'nothing booked');
    await booksBalance();
  });

  it('refuses a notice not signed with the bank\'s key, and a wallet below L2 is told to verify first', async () => {
    const fake: IncomingTransferNotice = {
      bank_transfer_id: 'bfk_forged', bank_code: '0001', branch_code: '990', account_number: '1234567', amount: 1_000_000,
      sender: { name_kana: 'ﾔﾏﾀﾞ ﾀﾛｳ', bank_code: '0001', branch_code: '001' }, booked_at: new Date().toISOString(),
    };
    const forged = await postNotice(world.koza.url, fake, 'another-seed');
    assert.equal(forged.status, 401);
    const unsigned = await fetch(`${world.koza.url}/v1/banks/0001/incoming-transfers`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'bfk_forged' }, body: JSON.stringify(fake),
    });
    assert.equal(unsigned.status, 401);
    assert.equal((await db().query('SELECT 1 FROM pay_ins WHERE bank_transfer_id = $1', ['bfk_forged'])).rows.length, 0);

    const l0 = await signUpVerified(world.app);
    const low = expectProblemOver(await world.koza.get('/v1/wallet/pay-in', l0.token), 403, 'assurance-level-too-low');
    assert.match(low.detail, /POST \/v1\/identity\/verifications/);
    assert.match(low.detail, /本人確認/);
  });
});

/** The bank's notice to koza, signed as the sandbox signs it (or with another seed's key, which koza refuses). */
async function postNotice(kozaUrl: string, notice: IncomingTransferNotice, seed = TEST_KEY_SEED): Promise<{ status: number; body: Record<string, any> }> {
  const path = `/v1/banks/${notice.bank_code}/incoming-transfers`;
  const body = JSON.stringify(notice);
  const signature = await signRequest(deriveBankNoticeKeyPair(seed, notice.bank_code), {
    method: 'POST', path, body, idempotencyKey: notice.bank_transfer_id,
  });
  const res = await fetch(`${kozaUrl}${path}`, {
    method: 'POST', body,
    headers: { 'content-type': 'application/json', [IDEMPOTENCY_HEADER]: notice.bank_transfer_id, [BANK_SIGNATURE_HEADER]: signature },
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) as Record<string, any> : {} };
}
