// Linking bank accounts under the secure policy (SPEC §5.3), end to end over HTTP on 127.0.0.1 against the bank
// sandbox, on both storage backends: each method works for the account's own holder, and the 2020 attack — a victim's
// account with its number, PIN and even its OTP, linked to an attacker's wallet — is refused, revoked and recorded.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../../test-support/backends.js';
import { expectJson, get, outbox, post, signUpPaying, signUpVerified, verifyPhone } from '../../../test-support/api-client.js';
import { consentAtBank, TEST_KEY_SEED, TestBrowser } from '../../../test-support/bank-client-for-tests.js';
import {
  accountOf, enrolTotp, expectOk, expectProblemOver, HolderPicker, linkProof, personAt, startKoza, startLinkWorld, stepUpProof, walletOf,
  type Authenticator, type LinkWorld, type PersonWallet,
} from '../../../test-support/links-for-tests.js';
import { listRiskSignals } from '../../risk/signals.js';
import { createOperator } from '../../operations/operators.js';
import type { SandboxHolderAccount } from '../../sandbox/banks/admin.js';
import { BankClient, keysFromSeed } from '../../banks/client.js';
import { findActiveLink } from '../../banks/link-store.js';
import { settleLinks } from '../../banks/link-flow.js';
import { allowAll } from '../../risk/hook.js';
import { PIN_OTP_NEXT } from './links.js';
import type { RiskAction, RiskDecider, RiskEvent } from '../../risk/hook.js';

const HALF_WIDTH_KANA = /[\uFF66-\uFF9F]/;
const SMALL_KANA = /[ァィゥェォッャュョヮ]/;

forEachBackend('bank links (secure)', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  before(async () => {
    world = await startLinkWorld(backend, db());
    picker = new HolderPicker(world.sandbox);
  });
  after(async () => { await world?.close(); });

  const koza = () => world.koza;
  const admin = () => world.sandbox.admin;

  /** A wallet verified as the holder's own person, with a second factor: everything the secure policy asks. */
  async function ownerOf(holder: SandboxHolderAccount): Promise<{ wallet: PersonWallet; totp: Authenticator }> {
    const wallet = await walletOf(world.app, await personAt(world.app, holder.person_index));
    return { wallet, totp: await enrolTotp(world.app, wallet) };
  }

  async function startPinOtp(wallet: PersonWallet, totp: Authenticator, holder: SandboxHolderAccount) {
    return koza().post('/v1/links', {
      bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin,
      step_up_proof: await linkProof(world.app, wallet, totp, holder.bank_code),
    }, wallet.token);
  }

  async function bankOtp(holder: SandboxHolderAccount): Promise<string> {
    const code = await admin().lastOtp(holder.registered_phone, holder.bank_code);
    assert.ok(code, 'the bank sent no code');
    return code;
  }

  /** A pin_otp link made by the holder's own wallet (the second-wallet and revoke tests start from one). */
  async function linkedPinOtp(predicate: (h: SandboxHolderAccount) => boolean = () => true) {
    const holder = await picker.pick((h) => h.link_methods.includes('pin_otp') && predicate(h));
    const { wallet, totp } = await ownerOf(holder);
    const started = expectOk(await startPinOtp(wallet, totp, holder), 201);
    const link = expectOk(await koza().post(`/v1/links/${started.link_request_id}/complete`, { otp: await bankOtp(holder) }, wallet.token), 201);
    return { holder, wallet, totp, link };
  }

  it('lists the banks with the ways koza allows to link them: never PIN only', async () => {
    const banks = expectOk(await koza().get('/v1/banks'), 200);
    assert.equal(banks.policy, 'secure');
    assert.equal(banks.data.length, world.sandbox.banks.length);
    for (const bank of banks.data as Array<{ bank_code: string; link_methods: string[] }>) {
      assert.ok(!bank.link_methods.includes('pin_only'), bank.bank_code);
      const offered = world.sandbox.banks.find((b) => b.bank_code === bank.bank_code)!.link_methods;
      assert.deepEqual(bank.link_methods, ['redirect', 'pin_otp'].filter((m) => offered.includes(m as never)));
    }
  });

  it('redirect: the holder signs in at the bank and consents; koza checks state and iss, redeems the code, and the bank tells the holder', async () => {
    const holder = await picker.pick((h) => h.link_methods.includes('redirect'));
    const { wallet, totp } = await ownerOf(holder);
    const started = expectOk(await koza().post('/v1/links', {
      bank_code: holder.bank_code, step_up_proof: await linkProof(world.app, wallet, totp, holder.bank_code),
    }, wallet.token), 201);
    assert.equal(started.method, 'redirect', 'redirect is the default where the bank offers it');
    assert.ok(started.authorization_url.startsWith(`${world.sandbox.url}/banks/${holder.bank_code}/authorize?`));

    const browser = new TestBrowser(world.sandbox.url);
    const callback = await consentAtBank(browser, started.authorization_url, holder, () => admin().lastOtp(holder.registered_phone, holder.bank_code));
    assert.equal(callback.origin, koza().url);
    assert.equal(callback.pathname, '/v1/links/callback');
    assert.equal(callback.searchParams.get('iss'), `${world.sandbox.url}/banks/${holder.bank_code}`);

    // The browser lands on a page; a reload answers the same link, and nothing is linked twice.
    const page = await koza().get(callback.pathname + callback.search, undefined, { accept: 'text/html' });
    assert.equal(page.status, 200, page.text);
    assert.match(page.text, /Bank account linked/);
    const link = expectOk(await koza().get(callback.pathname + callback.search), 200);
    assert.equal(link.status, 'active');
    assert.equal(link.method, 'redirect');
    assert.equal(link.bank_code, holder.bank_code);
    assert.ok(!link.account_number_masked.includes(holder.account_number));
    assert.equal(link.cooling_off.daily_cap, 10_000);
    assert.ok(Math.abs(Date.parse(link.cooling_off.ends_at) - Date.parse(link.created_at) - 72 * 3_600_000) < 1_000);
    assert.ok(link.holder_notified_at);

    const listed = expectOk(await koza().get('/v1/links', wallet.token), 200);
    assert.deepEqual(listed.data.map((l: { id: string }) => l.id), [link.id]);
    assert.equal(expectOk(await koza().get(`/v1/links/${link.id}`, wallet.token), 200).id, link.id);
    const atBank = await admin().links(holder);
    assert.equal(atBank.length, 1);
    assert.equal(atBank[0]!.revoked_at, null);
    const inbox = await admin().inbox(holder);
    assert.ok(inbox.some((m) => m.sender === 'koza' && m.kind === 'link_created'), JSON.stringify(inbox));
  });

  it('redirect: a callback from another issuer, or one the holder denied, links nothing', async () => {
    const holder = await picker.pick((h) => h.link_methods.includes('redirect'));
    const { wallet, totp } = await ownerOf(holder);
    const start = async () => expectOk(await koza().post('/v1/links', {
      bank_code: holder.bank_code, method: 'redirect', step_up_proof: await linkProof(world.app, wallet, totp, holder.bank_code),
    }, wallet.token), 201);

    const first = await start();
    const callback = await consentAtBank(new TestBrowser(world.sandbox.url), first.authorization_url, holder,
      () => admin().lastOtp(holder.registered_phone, holder.bank_code));
    callback.searchParams.set('iss', 'https://evil.example/banks/0001');
    expectProblemOver(await koza().get(callback.pathname + callback.search), 422, 'link-issuer-mismatch');
    // The state is spent: the genuine answer cannot be replayed afterwards either.
    callback.searchParams.set('iss', `${world.sandbox.url}/banks/${holder.bank_code}`);
    expectProblemOver(await koza().get(callback.pathname + callback.search), 422, 'link-issuer-mismatch');

    const second = await start();
    const denied = await consentAtBank(new TestBrowser(world.sandbox.url), second.authorization_url, holder,
      () => admin().lastOtp(holder.registered_phone, holder.bank_code), 'deny');
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    const declined = expectProblemOver(await koza().get(denied.pathname + denied.search), 422, 'link-declined');
    assert.equal(declined.next_step.ja, '承認する場合は、もう一度口座登録を始めて銀行のページで承認してください。');
    // The holder's browser tab says the same, Japanese first.
    const page = await koza().get(denied.pathname + denied.search, undefined, { accept: 'text/html' });
    assert.equal(page.status, 422);
    assert.match(page.text, /銀行で口座登録が承認されませんでした。/);
    assert.match(page.text, /start again and approve at your bank/);
    assert.equal(expectOk(await koza().get('/v1/links', wallet.token), 200).data.length, 0);
    assert.equal((await admin().links(holder)).length, 0);
  });

  it('pin_otp: PIN plus the bank\'s own code to the holder\'s phone; a wrong code is refused, then the right one links', async () => {
    // A bank whose old core system keeps names half-width, for a person whose name has small kana (ｼﾖｳﾀ for ショウタ).
    let holder: SandboxHolderAccount | undefined;
    for (const candidate of (await admin().holders({ link_method: 'pin_otp' })).filter((h) => HALF_WIDTH_KANA.test(h.name_kana))) {
      if (candidate.person_index >= 800) continue;
      const person = await personAt(world.app, candidate.person_index);
      if (SMALL_KANA.test(person.name_kana)) {
        holder = await picker.pick((h) => h.bank_code === candidate.bank_code && h.account_number === candidate.account_number);
        break;
      }
    }
    assert.ok(holder, 'no half-width holder with small kana in the population');
    const { wallet, totp } = await ownerOf(holder);
    assert.notEqual(holder.name_kana, wallet.person.name_kana, 'the bank writes the name differently from the eKYC record');

    const proof = await linkProof(world.app, wallet, totp, holder.bank_code);
    const start = () => koza().post('/v1/links', {
      bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin, step_up_proof: proof,
    }, wallet.token, 'pin-otp-start');
    const started = expectOk(await start(), 201);
    assert.equal(started.method, 'pin_otp');
    // A retry with the same key gets the first answer: one link request, one code to the holder's phone.
    const retried = await start();
    assert.equal(retried.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(retried.json, started);
    assert.equal((await admin().sms({ phone: holder.registered_phone, bank_code: holder.bank_code })).length, 1);
    // Bank protocol v2: nothing of the holder's phone, and the same words whatever the account and PIN.
    assert.deepEqual(Object.keys(started).sort(), ['authorization_url', 'expires_at', 'link_request_id', 'method', 'next']);
    assert.ok(!JSON.stringify(started).includes(holder.registered_phone.slice(-4)));
    assert.ok(String(started.next).startsWith(PIN_OTP_NEXT));
    const complete = (otp: string) => koza().post(`/v1/links/${started.link_request_id}/complete`, { otp }, wallet.token);
    const right = await bankOtp(holder);
    expectProblemOver(await complete(right === '000000' ? '111111' : '000000'), 422, 'bank-credentials-rejected');
    const link = expectOk(await complete(right), 201);
    assert.equal(link.status, 'active');
    assert.equal(link.method, 'pin_otp');
    assert.ok((await admin().inbox(holder)).some((m) => m.kind === 'link_created'));
    const signals = await listRiskSignals(db(), wallet.walletId);
    assert.ok(signals.some((s) => s.kind === 'link_credentials_rejected'));
    assert.ok(signals.some((s) => s.kind === 'link_created' && s.detail.name_match_score === 100));
  });

  it('pin_otp start: the same answer for a right PIN, a wrong PIN and an account that does not exist, nothing of the phone', async () => {
    const holder = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    const { wallet, totp } = await ownerOf(holder);
    let missing = 9_999_999;
    while ((await admin().holder({ bank_code: holder.bank_code, branch_code: holder.branch_code, account_number: String(missing) })) !== null) missing--;
    const start = async (account: { branch_code: string; account_number: string }, pin: string) => koza().post('/v1/links', {
      bank_code: holder.bank_code, method: 'pin_otp', account, pin, step_up_proof: await linkProof(world.app, wallet, totp, holder.bank_code),
    }, wallet.token);
    const wrongPin = holder.pin === '0000' ? '1111' : '0000';
    const answers = {
      right: await start(accountOf(holder), holder.pin),
      wrong: await start(accountOf(holder), wrongPin),
      missing: await start({ branch_code: holder.branch_code, account_number: String(missing) }, holder.pin),
    };
    /** The answer with its request's own id and time taken out: what could tell one case from another. */
    const readable = (a: { status: number; json: Record<string, any>; headers: Headers }) => ({
      status: a.status, type: a.headers.get('content-type'),
      body: JSON.stringify({ ...a.json, link_request_id: 'id', expires_at: 'at' }).replaceAll(String(a.json.link_request_id), 'id'),
      ttl_minutes: Math.round((Date.parse(a.json.expires_at) - Date.now()) / 60_000),
    });
    assert.equal(answers.right.status, 201, answers.right.text);
    for (const [name, answer] of Object.entries(answers)) {
      assert.deepEqual(readable(answer), readable(answers.right), name);
      assert.doesNotMatch(readable(answer).body, new RegExp(`${holder.registered_phone.slice(-4)}|otp_sent_to|\\*\\*\\*`), name);
    }
    assert.ok(answers.right.json.next.startsWith(PIN_OTP_NEXT));
    // Only the right PIN reached the holder's phone; nothing was counted against the account at the start.
    assert.equal((await admin().sms({ phone: holder.registered_phone, bank_code: holder.bank_code })).length, 1);
    assert.equal((await admin().holder(holder))!.pin_failures, 0);
    // The right request still links with the code, and the bank forgets nothing it should not.
    const link = expectOk(await koza().post(`/v1/links/${answers.right.json.link_request_id}/complete`, { otp: await bankOtp(holder) }, wallet.token), 201);
    assert.equal(link.status, 'active');
  });

  it('refuses PIN only under the secure policy, and a way the bank does not offer', async () => {
    const holder = await picker.pick((h) => h.link_methods.includes('pin_only') && h.link_methods.includes('pin_otp'));
    const { wallet, totp } = await ownerOf(holder);
    const proof = await linkProof(world.app, wallet, totp, holder.bank_code);
    const pinOnly = expectProblemOver(await koza().post('/v1/links', {
      bank_code: holder.bank_code, method: 'pin_only', account: accountOf(holder), pin: holder.pin, step_up_proof: proof,
    }, wallet.token), 403, 'link-method-not-allowed');
    assert.deepEqual(pinOnly.allowed_methods, ['redirect', 'pin_otp']);
    if (!holder.link_methods.includes('redirect')) {
      expectProblemOver(await koza().post('/v1/links', { bank_code: holder.bank_code, method: 'redirect', step_up_proof: proof },
        wallet.token), 422, 'link-method-not-offered');
    }
    const pinOnlyBank = world.sandbox.banks.find((b) => b.link_methods.length === 1 && b.link_methods[0] === 'pin_only')!;
    expectProblemOver(await koza().post('/v1/links', {
      bank_code: pinOnlyBank.bank_code, step_up_proof: await linkProof(world.app, wallet, totp, pinOnlyBank.bank_code),
    }, wallet.token), 422, 'link-method-not-offered');
    // The refusals spent nothing: the first proof still links at its bank.
    const started = expectOk(await koza().post('/v1/links', {
      bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin, step_up_proof: proof,
    }, wallet.token), 201);
    expectOk(await koza().post(`/v1/links/${started.link_request_id}/complete`, { otp: await bankOtp(holder) }, wallet.token), 201);
  });

  it('the 2020 attack: a victim\'s account number, PIN and even OTP do not link it to another person\'s wallet', async () => {
    const victim = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    const attackerAccount = await picker.pick((h) => h.link_methods.includes('redirect'));
    const { wallet: attacker, totp } = await ownerOf(attackerAccount);
    assert.notEqual(attacker.person.name_kana, (await personAt(world.app, victim.person_index)).name_kana);

    const started = expectOk(await startPinOtp(attacker, totp, victim), 201);
    const refused = expectProblemOver(await koza().post(`/v1/links/${started.link_request_id}/complete`,
      { otp: await bankOtp(victim) }, attacker.token), 422, 'link-holder-mismatch');
    // The refusal tells the attacker nothing about the holder.
    assert.ok(!JSON.stringify(refused).includes(victim.name_kana) && !JSON.stringify(refused).includes(victim.date_of_birth));
    assert.equal(expectOk(await koza().get('/v1/links', attacker.token), 200).data.length, 0);
    // The bank made a link when the OTP matched; koza revoked it there at once.
    const atBank = await admin().links(victim);
    assert.equal(atBank.length, 1);
    assert.ok(atBank[0]!.revoked_at, 'the refused link is revoked at the bank');
    const mismatch = (await listRiskSignals(db(), attacker.walletId)).find((s) => s.kind === 'link_name_mismatch');
    assert.ok(mismatch);
    assert.equal(mismatch.detail.name_match_band, 'mismatch');

    // The same with the victim's online-banking credentials through redirect.
    const redirectVictim = await picker.pick((h) => h.link_methods.includes('redirect'));
    const pushed = expectOk(await koza().post('/v1/links', {
      bank_code: redirectVictim.bank_code, step_up_proof: await linkProof(world.app, attacker, totp, redirectVictim.bank_code),
    }, attacker.token), 201);
    const callback = await consentAtBank(new TestBrowser(world.sandbox.url), pushed.authorization_url, redirectVictim,
      () => admin().lastOtp(redirectVictim.registered_phone, redirectVictim.bank_code));
    expectProblemOver(await koza().get(callback.pathname + callback.search), 422, 'link-holder-mismatch');
    assert.ok((await admin().links(redirectVictim)).every((l) => l.revoked_at !== null));
    assert.ok(!(await admin().inbox(redirectVictim)).some((m) => m.kind === 'link_created'));
  });

  it('one bank account, one wallet: a second wallet is refused without naming the first, whose owner is alerted', async () => {
    const { holder, wallet: first } = await linkedPinOtp();
    const otherAccount = await picker.pick((h) => h.link_methods.includes('redirect'));
    const { wallet: second, totp } = await ownerOf(otherAccount);
    const started = expectOk(await startPinOtp(second, totp, holder), 201);
    const refused = expectProblemOver(await koza().post(`/v1/links/${started.link_request_id}/complete`,
      { otp: await bankOtp(holder) }, second.token), 409, 'bank-account-already-linked');
    const text = JSON.stringify(refused);
    assert.ok(!text.includes(first.walletId) && !text.includes(first.email), text);

    const alerts = (await outbox(world.app, first.email)).filter((m) => m.subject.includes('tried to link your bank account'));
    assert.equal(alerts.length, 1);
    assert.ok(!alerts[0]!.body.includes(second.email));
    assert.ok((await listRiskSignals(db(), first.walletId)).some((s) => s.kind === 'link_attempt_on_linked_account'));
    assert.ok((await listRiskSignals(db(), second.walletId)).some((s) => s.kind === 'link_account_linked_elsewhere'));
    // The first link is untouched; the second bank-side link is revoked.
    assert.equal(expectOk(await koza().get('/v1/links', first.token), 200).data[0].status, 'active');
    assert.equal((await admin().links(holder)).filter((l) => l.revoked_at === null).length, 1);
  });

  it('checks level, second factor and step-up proof, in that order', async () => {
    const l1 = await signUpVerified(world.app);
    picker.reservePerson(700);
    const l1Token = await verifyPhone(world.app, l1.token, (await personAt(world.app, 700)).phone);
    const bank = world.sandbox.banks.find((b) => b.link_methods.includes('redirect'))!;
    const denied = expectProblemOver(await koza().post('/v1/links', { bank_code: bank.bank_code }, l1Token!), 403, 'assurance-level-too-low');
    assert.equal(denied.required_level, 'L2');

    const l2 = await signUpPaying(world.app);
    expectProblemOver(await koza().post('/v1/links', { bank_code: bank.bank_code }, l2.token), 409, 'second-factor-required');
    const totp = await enrolTotp(world.app, l2);
    expectProblemOver(await koza().post('/v1/links', { bank_code: bank.bank_code }, l2.token), 403, 'step-up-required');
    const otherBank = world.sandbox.banks.find((b) => b.bank_code !== bank.bank_code && b.link_methods.includes('redirect'))!;
    const wrongBank = await linkProof(world.app, l2, totp, otherBank.bank_code);
    const mismatch = expectProblemOver(await koza().post('/v1/links', { bank_code: bank.bank_code, step_up_proof: wrongBank }, l2.token),
      403, 'step-up-proof-invalid');
    assert.equal(mismatch.reason, 'mismatch');
    expectOk(await koza().post('/v1/links', { bank_code: otherBank.bank_code, step_up_proof: wrongBank }, l2.token), 201);
  });

  it('refuses new links to a halted bank, and links again once operators lift the halt', async () => {
    const operator = (await createOperator(db(), { name: 'Aiko (admin)', role: 'admin' })).apiKey;
    const holder = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    const { wallet, totp } = await ownerOf(holder);
    const control = (active: boolean) => post(world.app, '/v1/admin/controls',
      { kind: 'links_halted', bank_code: holder.bank_code, active, reason: active ? 'PIN spraying seen' : 'resolved' }, { token: operator });
    expectJson(await control(true), 200);
    const proof = await linkProof(world.app, wallet, totp, holder.bank_code);
    const body = { bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin, step_up_proof: proof };
    expectProblemOver(await koza().post('/v1/links', body, wallet.token), 503, 'linking-halted');
    assert.equal(await admin().lastOtp(holder.registered_phone, holder.bank_code), null, 'the bank was never asked');
    expectJson(await control(false), 200);
    const started = expectOk(await koza().post('/v1/links', body, wallet.token), 201);
    expectOk(await koza().post(`/v1/links/${started.link_request_id}/complete`, { otp: await bankOtp(holder) }, wallet.token), 201);
  });

  it('revokes a link in koza and at the bank; the last second factor stays while a link is live', async () => {
    const { holder, wallet, totp, link } = await linkedPinOtp();
    const factors = expectJson<{ data: Array<{ id: string; status: string }> }>(await get(world.app, '/v1/factors', wallet.token), 200)
      .data.filter((f) => f.status === 'active');
    const removeFactor = async () => post(world.app, `/v1/factors/${factors[0]!.id}/remove`, {
      step_up_proof: await stepUpProof(world.app, wallet, totp, { action: 'factor_removal', destination: factors[0]!.id }),
    }, { token: wallet.token });
    assert.equal((await removeFactor()).statusCode, 409, 'a wallet with a live link keeps its last factor');

    const key = 'revoke-once';
    const revoked = expectOk(await koza().post(`/v1/links/${link.id}/revoke`, {}, wallet.token, key), 200);
    assert.equal(revoked.status, 'revoked');
    assert.ok(revoked.revoked_at);
    const replay = await koza().post(`/v1/links/${link.id}/revoke`, {}, wallet.token, key);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.ok((await admin().links(holder)).every((l) => l.revoked_at !== null));
    assert.ok((await admin().inbox(holder)).some((m) => m.kind === 'link_revoked'));
    expectOk(await koza().post(`/v1/links/${link.id}/revoke`, {}, wallet.token), 200);
    assert.equal((await removeFactor()).statusCode, 200);
  });

  it('asks the risk hook: deny and review stop a link before the bank is asked, and a denial at completion revokes it', async () => {
    const holder = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    const { wallet, totp } = await ownerOf(holder);
    const seen: RiskEvent[] = [];
    let verdict: { start: RiskAction; complete: RiskAction } = { start: 'deny', complete: 'allow' };
    const decide: RiskDecider = async (event) => {
      seen.push(event);
      const action = event.kind === 'link_start' ? verdict.start : event.kind === 'link_complete' ? verdict.complete : 'allow';
      return { action, score: action === 'allow' ? 0 : 90, reasons: action === 'allow' ? [] : [{ rule: 'test-rule', text: 'test' }] };
    };
    const judged = await startKoza(db(), world.sandbox, { risk: decide });
    try {
      const start = async () => judged.koza.post('/v1/links', {
        bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin,
        step_up_proof: await linkProof(world.app, wallet, totp, holder.bank_code),
      }, wallet.token);
      const denied = expectProblemOver(await start(), 403, 'link-refused');
      assert.ok(!JSON.stringify(denied).includes('test-rule'), 'rule hits are for analysts, not customers');
      verdict = { start: 'review', complete: 'allow' };
      expectProblemOver(await start(), 403, 'link-held-for-review');
      assert.equal(await admin().lastOtp(holder.registered_phone, holder.bank_code), null, 'the bank was never asked');
      assert.deepEqual(seen.map((e) => [e.kind, e.walletId, e.bankCode]), [
        ['link_start', wallet.walletId, holder.bank_code], ['link_start', wallet.walletId, holder.bank_code]]);

      verdict = { start: 'allow', complete: 'deny' };
      const started = expectOk(await start(), 201);
      expectProblemOver(await judged.koza.post(`/v1/links/${started.link_request_id}/complete`, { otp: await bankOtp(holder) }, wallet.token),
        403, 'link-refused');
      const completeEvent = seen.find((e) => e.kind === 'link_complete')!;
      assert.equal(completeEvent.accountRef, holder.account_ref);
      assert.equal(completeEvent.attributes?.name_match_score, 100);
      assert.ok((await admin().links(holder)).every((l) => l.revoked_at !== null));
      assert.ok((await listRiskSignals(db(), wallet.walletId)).some((s) => s.kind === 'link_refused_by_risk'));
    } finally {
      await judged.app.close();
    }
  });

  it('a link whose holder notice the bank did not confirm moves no money until the notice goes out', async () => {
    const holder = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    const { wallet, totp } = await ownerOf(holder);
    let loseNotices = true;
    const lossy: typeof fetch = async (input, init) => {
      if (loseNotices && String(input).endsWith('/v2/notifications')) throw new TypeError('fetch failed');
      return fetch(input, init);
    };
    const client = new BankClient({ baseUrl: world.sandbox.url, keyFor: keysFromSeed(TEST_KEY_SEED), fetch: lossy });
    const lossyKoza = await startKoza(db(), world.sandbox, { banks: client });
    try {
      const started = expectOk(await lossyKoza.koza.post('/v1/links', {
        bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin,
        step_up_proof: await linkProof(world.app, wallet, totp, holder.bank_code),
      }, wallet.token), 201);
      const complete = (key?: string) => lossyKoza.koza.post(`/v1/links/${started.link_request_id}/complete`, {}, wallet.token, key);
      const otp = await bankOtp(holder);
      expectProblemOver(await lossyKoza.koza.post(`/v1/links/${started.link_request_id}/complete`, { otp }, wallet.token, 'lost-notice'),
        503, 'bank-unavailable');
      const [pending] = expectOk(await koza().get('/v1/links', wallet.token), 200).data as Array<{ id: string; status: string }>;
      assert.equal(pending!.status, 'notifying');
      assert.equal(await findActiveLink(db(), wallet.walletId, pending!.id), null, 'charges cannot use it');
      assert.ok(!(await admin().inbox(holder)).some((m) => m.kind === 'link_created'));

      loseNotices = false;
      const env = { db: db(), config: lossyKoza.config, client, risk: allowAll };
      assert.deepEqual(await settleLinks(env), { notified: 0, revoked: 0, confirmed: 0 }, 'a notice younger than a minute is left to the request');
      assert.deepEqual(await settleLinks(env, { noticeAfterSeconds: 0 }), { notified: 1, revoked: 0, confirmed: 0 });
      const link = expectOk(await complete(), 201);
      assert.equal(link.id, pending!.id);
      assert.equal(link.status, 'active');
      assert.equal((await admin().inbox(holder)).filter((m) => m.kind === 'link_created').length, 1);
      assert.equal(expectOk(await complete(), 201).id, link.id, 'completing a linked request again answers the link');
    } finally {
      await lossyKoza.app.close();
    }
  });

  it('answers bad input with problem+json, and documents every route', async () => {
    const holder = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    const { wallet, totp } = await ownerOf(holder);
    expectProblemOver(await koza().post('/v1/links', { bank_code: 'abcd' }, wallet.token), 400, 'invalid-request');
    expectProblemOver(await koza().post('/v1/links', { bank_code: holder.bank_code, extra: 1 }, wallet.token), 400, 'invalid-request');
    expectProblemOver(await koza().post('/v1/links', { bank_code: holder.bank_code, pin: '12a4' }, wallet.token), 400, 'invalid-request');
    expectProblemOver(await koza().post('/v1/links', { bank_code: '9999' }, wallet.token), 404, 'bank-not-found');
    expectProblemOver(await koza().post('/v1/links', { bank_code: holder.bank_code }, wallet.token, null), 400, 'invalid-request');
    expectProblemOver(await koza().post('/v1/links', { bank_code: holder.bank_code }), 401, 'unauthenticated');
    // Under secure the bank is told the verified name only; a typed one is refused, not ignored.
    expectProblemOver(await koza().post('/v1/links', {
      bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin, name_kana: 'ヤマダ タロウ',
      step_up_proof: await linkProof(world.app, wallet, totp, holder.bank_code),
    }, wallet.token), 400, 'invalid-request');
    expectProblemOver(await koza().post(`/v1/links/lrq_${'A'.repeat(22)}/complete`, { otp: '123456' }, wallet.token), 404, 'link-request-not-found');
    expectProblemOver(await koza().post('/v1/links/nope/complete', {}, wallet.token), 400, 'invalid-request');
    expectProblemOver(await koza().get('/v1/links/callback?state=short'), 400, 'invalid-request');
    expectProblemOver(await koza().get(`/v1/links/callback?state=${'x'.repeat(43)}&code=c&iss=i`), 404, 'link-request-not-found');
    expectProblemOver(await koza().get(`/v1/links/lnk_${'B'.repeat(22)}`, wallet.token), 404, 'not-found');
    expectProblemOver(await koza().post(`/v1/links/lnk_${'B'.repeat(22)}/revoke`, {}, wallet.token), 404, 'not-found');
    expectProblemOver(await koza().get('/v1/links?limit=0', wallet.token), 400, 'invalid-request');

    const openapi = expectOk(await koza().get('/openapi.json'), 200);
    for (const [path, method] of [
      ['/v1/banks', 'get'], ['/v1/links', 'post'], ['/v1/links', 'get'], ['/v1/links/{id}/complete', 'post'],
      ['/v1/links/callback', 'get'], ['/v1/links/{id}', 'get'], ['/v1/links/{id}/revoke', 'post'],
    ] as const) {
      assert.ok(openapi.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
    }
  });
});
