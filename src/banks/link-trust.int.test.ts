// Graduated trust and the holder's own channel (issue 10), end to end over HTTP on 127.0.0.1 against the bank sandbox,
// on both backends, with the default risk rules: the new-link cap holds per bank account across a revoke and re-link
// (the bank's books say ¥30,000), a PIN+text link stays at the cap after 72 h until the holder taps "confirm" on the
// bank's e-mailed page, a holder's one click at the bank stops the next debit, the holder hears of the link, the first
// charge and a large one by inbox and e-mail, and the SIM-swap and cash-out patterns open alerts without refusing.
// Age is simulated by backdating rows (bank_links, bank_movements created_at), inside this file only.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  accountOf, expectOk, expectProblemOver, HolderPicker, linkedHolder, linkProof, startLinkWorld, stepUpProof, type LinkedHolder, type LinkWorld,
} from '../../test-support/links-for-tests.js';
import { BankBrowser, hiddenFields } from '../attack/client.js';
import { settleLinks } from './link-flow.js';
import { BankClient, keysFromSeed } from './client.js';
import { allowAll } from '../risk/hook.js';

forEachBackend('graduated trust and the holder\'s channel', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  before(async () => {
    // ¥15,000 per 24 h and ¥30,000 in all: the cap is reached in two charges, so the default rules' velocity counts
    // (which backdating the movements cannot move) stay below their thresholds.
    world = await startLinkWorld(backend, db(), { env: { KOZA_COOLING_OFF_DAILY_CAP: '15000', KOZA_NEW_LINK_TOTAL_CAP: '30000' } });
    picker = new HolderPicker(world.sandbox);
  });
  after(async () => { await world?.close(); });

  const koza = () => world.koza;
  const admin = () => world.sandbox.admin;
  const charge = (l: LinkedHolder, amount: number, linkId = l.linkId) => koza().post('/v1/charges', { link_id: linkId, amount }, l.wallet.token);
  const age = (table: 'bank_links' | 'bank_movements', id: string, hours: number) =>
    db().query(`UPDATE ${table} SET created_at = now() - make_interval(secs => $2) WHERE id = $1`, [id, hours * 3600]);
  /** What the bank's passbook shows koza took from the holder (sum of KOZA withdrawals). */
  const takenByKoza = async (l: LinkedHolder) =>
    (await admin().passbook(l.holder)).filter((line) => line.descriptor.startsWith('KOZA')).reduce((sum, line) => sum + line.withdrawal, 0);
  const walletAlerts = async (walletId: string) => (await db().query<{ kind: string; rule_hits: unknown }>(
    `SELECT a.kind, d.rule_hits FROM risk_alerts a JOIN risk_decisions d ON d.id = a.decision_id WHERE d.wallet_id = $1 ORDER BY a.seq`,
    [walletId])).rows.map((r) => ({ kind: r.kind, rules: (typeof r.rule_hits === 'string' ? JSON.parse(r.rule_hits) : r.rule_hits) as Array<{ rule: string }> }));
  const walletIdOf = async (l: LinkedHolder) => (await db().query<{ wallet_id: string }>('SELECT wallet_id FROM bank_links WHERE id = $1', [l.linkId])).rows[0]!.wallet_id;

  it('caps a bank account at ¥30,000 in its first 72 h across a revoke and a re-link, as the bank\'s books show', async () => {
    const l = await linkedHolder(world, picker, (h) => h.balance >= 100_000);
    const before = (await admin().holder(l.holder))!.balance;
    await age('bank_links', l.linkId, 50);
    const first = expectOk(await charge(l, 15_000), 201);
    await age('bank_movements', first.id, 49);

    // Revoke and link the same account again: a fresh link, the same account.
    expectOk(await koza().post(`/v1/links/${l.linkId}/revoke`, {}, l.wallet.token), 200);
    const started = expectOk(await koza().post('/v1/links', {
      bank_code: l.holder.bank_code, method: 'pin_otp', account: accountOf(l.holder), pin: l.holder.pin,
      step_up_proof: await linkProof(world.app, l.wallet, l.totp, l.holder.bank_code),
    }, l.wallet.token), 201);
    const otp = await admin().lastOtp(l.holder.registered_phone, l.holder.bank_code);
    const relinked = expectOk(await koza().post(`/v1/links/${started.link_request_id}/complete`, { otp }, l.wallet.token), 201);
    assert.notEqual(relinked.id, l.linkId);

    expectOk(await charge(l, 15_000, relinked.id), 201);
    const refused = expectProblemOver(await charge(l, 1_000, relinked.id), 422, 'limit-exceeded');
    assert.equal(refused.limit, 'cooling_off');
    assert.equal(refused.remaining_yen, 0);
    assert.match(refused.detail, /¥15,000 per 24 hours and ¥30,000 in total until \d{4}-\d\d-\d\d \d\d:\d\d JST/);
    assert.equal(await takenByKoza(l), 30_000);
    assert.equal((await admin().holder(l.holder))!.balance, before - 30_000);
  });

  it('keeps an unconfirmed PIN+text link at ¥30,000 after 72 h, and lets it grow once the holder taps confirm in the bank\'s e-mail', async () => {
    const l = await linkedHolder(world, picker, (h) => h.balance >= 200_000 && h.registered_email !== null);
    const email = l.holder.registered_email!;
    const walletId = await walletIdOf(l);
    await age('bank_links', l.linkId, 100);
    const early = expectOk(await charge(l, 15_000), 201);
    await age('bank_movements', early.id, 95);
    expectOk(await charge(l, 15_000), 201);
    const stuck = expectProblemOver(await charge(l, 5_000), 422, 'limit-exceeded');
    assert.equal(stuck.limit, 'unconfirmed_link');
    assert.equal(stuck.next_action, 'confirm_link_at_bank');
    assert.match(stuck.detail, /confirm the link in the e-mail your bank sent, or sign in to your bank/);
    assert.equal(await takenByKoza(l), 30_000);

    // The holder opens the bank's e-mail: GET shows the page and changes nothing; the Confirm button does.
    const url = await admin().lastConfirmationUrl(email, l.holder.bank_code);
    assert.ok(url, 'the bank e-mailed a one-tap confirmation to the address it holds');
    const browser = new BankBrowser(world.sandbox.url);
    const pageShown = await browser.request('GET', url);
    assert.equal(pageShown.status, 200);
    assert.match(pageShown.html, /確認 Confirm/);
    assert.match(pageShown.html, /This was not me — stop it/);
    assert.equal((await admin().links(l.holder)).at(-1)!.holder_confirmed_at, null);
    const confirmed = await browser.request('POST', `/banks/${l.holder.bank_code}/confirm-link`, { ...hiddenFields(pageShown.html), decision: 'confirm' });
    assert.equal(confirmed.status, 200, confirmed.html);
    const atBank = (await admin().links(l.holder)).at(-1)!;
    assert.equal(atBank.holder_confirmed_via, 'email');

    // koza asks the bank once when the cap binds, records the confirmation, and the ramp applies (¥50,000 per 24 h,
    // ¥15,000 of it used).
    const large = expectOk(await charge(l, 35_000), 201);
    assert.equal(large.status, 'posted');
    const link = (await db().query<{ holder_confirmed_via: string }>('SELECT holder_confirmed_via FROM bank_links WHERE id = $1', [l.linkId])).rows[0]!;
    assert.equal(link.holder_confirmed_via, 'email');
    assert.equal(await takenByKoza(l), 65_000);

    // The holder heard of the first charge and of the large one through inbox and e-mail; koza recorded the channels.
    const notices = (await db().query<{ amount: string | number; holder_notice_kind: string; holder_notice_channels: string[] }>(
      `SELECT amount, holder_notice_kind, holder_notice_channels FROM bank_movements WHERE wallet_id = $1 AND holder_notice_kind IS NOT NULL ORDER BY created_at`,
      [walletId])).rows;
    assert.deepEqual(notices.map((n) => [Number(n.amount), n.holder_notice_kind, n.holder_notice_channels]),
      [[15_000, 'first_charge', ['inbox', 'email']], [35_000, 'large_charge', ['inbox', 'email']]]);
    const inbox = await admin().inbox(l.holder);
    assert.ok(inbox.some((n) => n.kind === 'large_charge' && n.channels.includes('email')));
    assert.ok(inbox.some((n) => n.kind === 'link_created' && n.channels.join() === 'inbox,email'));
    const mails = await admin().emails({ address: email, bank_code: l.holder.bank_code });
    assert.ok(mails.some((m) => m.body.includes('¥35,000')), 'the large charge reached the mailbox');

    // Allowed, and alerted: charging on the unconfirmed link 100 h after linking, then the first large charge.
    const alerts = await walletAlerts(walletId);
    assert.ok(alerts.some((a) => a.kind === 'alert' && a.rules.some((r) => r.rule === 'charge-on-unconfirmed-pin-link')), JSON.stringify(alerts));
    assert.ok(alerts.some((a) => a.kind === 'alert' && a.rules.some((r) => r.rule === 'first-large-charge-after-new-link')), JSON.stringify(alerts));
  });

  it('stops the next debit when the holder revokes the link in one click on the bank\'s page', async () => {
    const l = await linkedHolder(world, picker, (h) => h.balance >= 50_000);
    expectOk(await charge(l, 5_000), 201);
    const browser = new BankBrowser(world.sandbox.url);
    const signInPage = await browser.follow(await browser.request('GET', `/banks/${l.holder.bank_code}/links`));
    const linksPage = await browser.signIn(l.holder.bank_code, signInPage, l.holder.online_banking,
      () => admin().lastOtp(l.holder.registered_phone, l.holder.bank_code));
    assert.ok(linksPage && linksPage.status === 200, linksPage?.html);
    assert.match(linksPage.html, /停止 Stop/);
    const action = /action="(\/banks\/\d{4}\/links\/blk_[^"]+)"/.exec(linksPage.html)![1]!;
    const stopped = await browser.request('POST', action, { ...hiddenFields(linksPage.html), decision: 'revoke' });
    assert.equal(stopped.status, 303);
    assert.equal((await admin().links(l.holder)).at(-1)!.revoked_by, 'holder');

    const balanceBefore = (await admin().holder(l.holder))!.balance;
    const declined = expectProblemOver(await charge(l, 1_000), 422, 'bank-declined');
    const voided = (await db().query<{ status: string; failure_reason: string }>('SELECT status, failure_reason FROM bank_movements WHERE id = $1',
      [declined.movement_id])).rows[0]!;
    assert.deepEqual(voided, { status: 'voided', failure_reason: 'link_revoked' });
    assert.equal((await admin().holder(l.holder))!.balance, balanceBefore, 'nothing more left the account');
    assert.equal(await takenByKoza(l), 5_000);
    const wallet = expectOk(await koza().get('/v1/wallet/balance', l.wallet.token), 200);
    assert.equal(wallet.balance, 5_000);
  });

  it('learns of a holder\'s confirmation from the sweeper (settleLinks) without a charge', async () => {
    const l = await linkedHolder(world, picker, (h) => h.registered_email !== null);
    const url = await admin().lastConfirmationUrl(l.holder.registered_email!, l.holder.bank_code);
    const browser = new BankBrowser(world.sandbox.url);
    const shown = await browser.request('GET', url!);
    assert.equal((await browser.request('POST', `/banks/${l.holder.bank_code}/confirm-link`, { ...hiddenFields(shown.html), decision: 'confirm' })).status, 200);
    const client = new BankClient({ baseUrl: world.config.bankSandboxUrl!, keyFor: keysFromSeed(world.config.bankKeySeed!) });
    const env = { db: db(), config: world.config, client, risk: allowAll };
    const swept = await settleLinks(env, { confirmationCheckSeconds: 0 });
    assert.ok(swept.confirmed >= 1, JSON.stringify(swept));
    const row = (await db().query<{ holder_confirmed_via: string | null }>('SELECT holder_confirmed_via FROM bank_links WHERE id = $1', [l.linkId])).rows[0]!;
    assert.equal(row.holder_confirmed_via, 'email');
  });

  it('alerts on an unconfirmed PIN+text link that moved money from the sweep, 12 h after linking, once, without a charge', async () => {
    const l = await linkedHolder(world, picker, (h) => h.balance >= 50_000);
    const walletId = await walletIdOf(l);
    const first = expectOk(await charge(l, 10_000), 201);
    const client = new BankClient({ baseUrl: world.config.bankSandboxUrl!, keyFor: keysFromSeed(world.config.bankKeySeed!) });
    const env = { db: db(), config: world.config, client, risk: world.app.koza.risk };
    const sweepAlerts = async () => (await walletAlerts(walletId))
      .filter((a) => a.rules.some((r) => r.rule === 'charge-on-unconfirmed-pin-link')).length;

    // Young: the holder may still tap the bank's e-mail, so the sweep asks and nothing opens.
    await settleLinks(env, { confirmationCheckSeconds: 0 });
    assert.equal(await sweepAlerts(), 0);
    // Thirteen hours on, unconfirmed and having charged: one alert, with no charge in between; later sweeps add none.
    await age('bank_links', l.linkId, 13);
    await age('bank_movements', first.id, 12);
    await settleLinks(env, { confirmationCheckSeconds: 0 });
    assert.equal(await sweepAlerts(), 1);
    await settleLinks(env, { confirmationCheckSeconds: 0 });
    assert.equal(await sweepAlerts(), 1);
    const asked = (await db().query<{ n: string | number }>(
      `SELECT count(*) AS n FROM risk_decisions WHERE wallet_id = $1 AND event_kind = 'link_unconfirmed'`, [walletId])).rows[0]!;
    assert.equal(Number(asked.n), 2, 'asked while young and once at 13 h; never after the alert');
    // The money stayed where the charge put it: the sweep only told an analyst.
    assert.equal(await takenByKoza(l), 10_000);
  });

  it('asks for a step-up on the first withdrawal to an account from ¥10,000, and alerts on a cash-out right after a charge', async () => {
    const l = await linkedHolder(world, picker, (h) => h.balance >= 50_000);
    const walletId = await walletIdOf(l);
    expectOk(await charge(l, 10_000), 201);
    const asked = await koza().post('/v1/withdrawals', { link_id: l.linkId, amount: 10_000 }, l.wallet.token);
    assert.ok([401, 403].includes(asked.status), asked.text);
    const proof = await stepUpProof(world.app, l.wallet, l.totp, { action: 'withdrawal', destination: l.linkId, amount: 10_000 });
    const out = expectOk(await koza().post('/v1/withdrawals', { link_id: l.linkId, amount: 10_000, step_up_proof: proof }, l.wallet.token), 201);
    assert.equal(out.status, 'posted');
    const alerts = await walletAlerts(walletId);
    assert.ok(alerts.some((a) => a.kind === 'alert' && a.rules.some((r) => r.rule === 'cash-out-right-after-charge')), JSON.stringify(alerts));
  });
});
