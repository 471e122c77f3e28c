// A family of four on one tablet, under the default rules, on both backends (issue 11: every review has a way through):
// the third and fourth members' links are held by device-many-names; an analyst releases them (audited, the alert
// closed, the customer e-mailed), they link and charge, and the family is not held again; a fifth, unrelated name on
// the tablet is still held, rejected, told, and has no link. Only analysts may release; retries answer the same. A link
// held after the bank vouched becomes active on release and is revoked at the bank on reject.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import { expectJson, outbox, post, signUpVerified, verifyPhone } from '../../test-support/api-client.js';
import {
  accountOf, enrolTotp, expectOk, expectProblemOver, HolderPicker, linkProof, personAt, startKoza, startLinkWorld, walletOf,
  type Authenticator, type KozaHttp, type LinkWorld, type PersonWallet,
} from '../../test-support/links-for-tests.js';
import { createOperator } from '../operations/operators.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import type { App } from '../http/context.js';
import { allowAll, type RiskDecider } from '../risk/hook.js';
import { BankClient, keysFromSeed } from './client.js';
import { settleLinks } from './link-flow.js';
import { TEST_KEY_SEED } from '../../test-support/bank-client-for-tests.js';

interface Member {
  holder: SandboxHolderAccount;
  wallet: PersonWallet;
  totp: Authenticator;
}

forEachBackend('held links: released or rejected by an analyst', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  let analyst: string;
  let support: string;
  // The real risk engine and the default rules: the hold is device-many-names itself, not a test decider.
  before(async () => {
    world = await startLinkWorld(backend, db());
    picker = new HolderPicker(world.sandbox);
    analyst = (await createOperator(db(), { name: 'Mei (fraud)', role: 'fraud_analyst' })).apiKey;
    support = (await createOperator(db(), { name: 'Ken (support)', role: 'support' })).apiKey;
  });
  after(async () => { await world?.close(); });

  const tablet = `tablet-${randomBytes(8).toString('hex')}`;
  const onTablet = { 'x-device-id': tablet };

  /** walletOf, with the identity submitted from the shared tablet: that is where the name is counted. */
  async function memberOnTablet(app: App, holder: SandboxHolderAccount, device = onTablet): Promise<Member> {
    const person = await personAt(app, holder.person_index);
    const user = await signUpVerified(app);
    const afterPhone = await verifyPhone(app, user.token, person.phone);
    assert.ok(afterPhone, `the phone of person ${person.index} is taken`);
    const verified = expectJson<{ assurance_level: string; session: { token: string } }>(await post(app, '/v1/identity/verifications', {
      document_type: person.document_type, document_number: person.document_number, name_kanji: person.name_kanji,
      name_kana: person.name_kana, date_of_birth: person.date_of_birth, address: { ...person.address }, selfie_token: 'live-selfie-ok',
    }, { token: afterPhone, headers: device }), 201);
    assert.equal(verified.assurance_level, 'L2');
    const wallet: PersonWallet = { ...user, token: verified.session.token, person };
    return { holder, wallet, totp: await enrolTotp(app, wallet) };
  }

  async function startOnTablet(m: Member, device = onTablet) {
    return world.koza.request('POST', '/v1/links', {
      token: m.wallet.token, headers: device,
      body: {
        bank_code: m.holder.bank_code, method: 'pin_otp', account: accountOf(m.holder), pin: m.holder.pin,
        step_up_proof: await linkProof(world.app, m.wallet, m.totp, m.holder.bank_code),
      },
    });
  }

  async function link(m: Member, device = onTablet): Promise<string> {
    const started = expectOk(await startOnTablet(m, device), 201);
    const otp = await world.sandbox.admin.lastOtp(m.holder.registered_phone, m.holder.bank_code);
    return expectOk(await world.koza.post(`/v1/links/${started.link_request_id}/complete`, { otp }, m.wallet.token), 201).id as string;
  }

  /** The start is held: the answer says what happens next and when, and nothing reached the bank. */
  async function held(m: Member, device = onTablet): Promise<string> {
    const otpBefore = await world.sandbox.admin.lastOtp(m.holder.registered_phone, m.holder.bank_code);
    const answer = expectProblemOver(await startOnTablet(m, device), 403, 'link-held-for-review');
    assert.match(answer.detail, /within 24 hours \(by \d{4}-\d\d-\d\d \d\d:\d\d JST\); you will get an e-mail/);
    assert.match(answer.review_due_at_jst, /JST$/);
    assert.equal(await world.sandbox.admin.lastOtp(m.holder.registered_phone, m.holder.bank_code), otpBefore, 'the bank was not asked');
    const row = await db().query<{ state: string; risk_decision_id: string | null }>(
      'SELECT state, risk_decision_id FROM link_requests WHERE id = $1', [answer.link_request_id]);
    assert.equal(row.rows[0]!.state, 'held');
    const hits = await db().query<{ rule_hits: unknown }>('SELECT rule_hits FROM risk_decisions WHERE id = $1', [row.rows[0]!.risk_decision_id]);
    assert.match(JSON.stringify(hits.rows[0]!.rule_hits), /device-many-names/);
    return answer.link_request_id as string;
  }

  const review = (id: string, verb: 'release' | 'reject', key: string, token = analyst) =>
    world.koza.request('POST', `/v1/admin/links/${id}/${verb}`, { token, key, body: { reason: `${verb}: checked the family's documents` } });

  const charge = (m: Member, linkId: string, amount: number) =>
    world.koza.post('/v1/charges', { link_id: linkId, amount }, m.wallet.token);

  it('holds the third and fourth, releases them (audited, alert closed, told), they link and charge; a fifth name is still held and rejected', async () => {
    const members: Member[] = [];
    for (let i = 0; i < 5; i++) members.push(await pickMember());
    async function pickMember(): Promise<Member> {
      const holder = await picker.pick((h) => h.link_methods.includes('pin_otp') && h.balance >= 50_000);
      return { holder } as Member;
    }
    // Two names on the tablet: a couple links as anyone does.
    for (const i of [0, 1]) {
      Object.assign(members[i]!, await memberOnTablet(world.app, members[i]!.holder));
      await link(members[i]!);
    }
    // The third and fourth names make the tablet "many names": held before the bank is asked.
    Object.assign(members[2]!, await memberOnTablet(world.app, members[2]!.holder));
    const third = await held(members[2]!);
    Object.assign(members[3]!, await memberOnTablet(world.app, members[3]!.holder));
    const fourth = await held(members[3]!);
    const queue = expectOk(await world.koza.get('/v1/admin/links/held', analyst), 200);
    assert.deepEqual(queue.data.map((h: { link_request_id: string }) => h.link_request_id).filter((id: string) => id === third || id === fourth),
      [third, fourth]);

    // Only analysts: a support key and a customer's session are refused, and nothing changes.
    expectProblemOver(await review(third, 'release', 'support-try', support), 403);
    expectProblemOver(await review(third, 'release', 'customer-try', members[2]!.wallet.token), 401);
    assert.equal((await db().query<{ state: string }>('SELECT state FROM link_requests WHERE id = $1', [third])).rows[0]!.state, 'held');

    // Release, retried with the same key: one answer, one audit entry, one e-mail.
    const first = await review(third, 'release', `rel-${third}`);
    const released = expectOk(first, 200);
    assert.equal(released.state, 'released');
    const retry = await review(third, 'release', `rel-${third}`);
    assert.equal(retry.text, first.text, 'a retry gets the first answer');
    expectProblemOver(await review(third, 'release', 'another-key'), 409, 'link-not-held');
    expectOk(await review(fourth, 'release', `rel-${fourth}`), 200);
    for (const [id, m] of [[third, members[2]!], [fourth, members[3]!]] as const) {
      const audit = await db().query<{ actor: string; reason: string }>(
        "SELECT actor, reason FROM audit_log WHERE action = 'link.release' AND target = $1", [id]);
      assert.equal(audit.rows.length, 1, 'audited once');
      assert.match(audit.rows[0]!.reason, /family/);
      const alert = await db().query<{ status: string; resolution: string }>(
        'SELECT a.status, a.resolution FROM risk_alerts a JOIN link_requests r ON r.risk_decision_id = a.decision_id WHERE r.id = $1', [id]);
      assert.deepEqual(alert.rows[0], { status: 'acknowledged', resolution: 'released' }, 'the release closed the alert');
      const told = (await outbox(world.app, m.wallet.email)).filter((msg) => msg.subject === 'koza: you can link your bank account now');
      assert.equal(told.length, 1, 'told once');
      assert.match(told[0]!.body, new RegExp(`${id}.*link the account again by \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d JST`));
    }

    // They link from the tablet and charge; the money reaches the wallets from their own accounts.
    for (const m of [members[2]!, members[3]!]) {
      const before = (await world.sandbox.admin.holder(m.holder))!.balance;
      const linkId = await link(m);
      const posted = expectOk(await charge(m, linkId, 5_000), 201);
      assert.equal(posted.status, 'posted');
      assert.equal(expectOk(await world.koza.get('/v1/wallet/balance', m.wallet.token), 200).balance, 5_000);
      assert.equal((await world.sandbox.admin.holder(m.holder))!.balance, before - 5_000);
    }
    // Not held again and again: the release was spent, yet a new start from the tablet goes through (the names are cleared).
    expectOk(await startOnTablet(members[3]!), 201);
    expectOk(await startOnTablet(members[0]!), 201);

    // A fifth, unrelated name on the tablet is still held; rejected, told, and has no link.
    const stranger = members[4]!;
    Object.assign(stranger, await memberOnTablet(world.app, stranger.holder));
    const fifth = await held(stranger);
    const rejected = expectOk(await review(fifth, 'reject', `rej-${fifth}`), 200);
    assert.equal(rejected.state, 'rejected');
    expectProblemOver(await review(fifth, 'release', 'late-release'), 409, 'link-not-held');
    const audit = await db().query("SELECT 1 FROM audit_log WHERE action = 'link.reject' AND target = $1", [fifth]);
    assert.equal(audit.rows.length, 1);
    const told = (await outbox(world.app, stranger.wallet.email)).filter((msg) => msg.subject === 'koza: your bank link was not approved');
    assert.equal(told.length, 1);
    assert.match(told[0]!.body, new RegExp(`${fifth}.*nothing was linked`));
    assert.deepEqual(expectOk(await world.koza.get('/v1/links', stranger.wallet.token), 200).data, []);
    expectProblemOver(await startOnTablet(stranger), 403, 'link-held-for-review');
    const noCharge = await world.koza.post('/v1/charges', { link_id: 'lnk_0000000000000000000000', amount: 5_000 }, stranger.wallet.token);
    assert.ok(noCharge.status >= 400 && noCharge.status < 500, noCharge.text);
    assert.equal(expectOk(await world.koza.get('/v1/wallet/balance', stranger.wallet.token), 200).balance, 0);
  });

  it('released as one household, a member who joins the tablet later links without a hold; past four names, one is held again', async () => {
    const device = { 'x-device-id': `family-tablet-${randomBytes(8).toString('hex')}` };
    const members: Member[] = [];
    for (let i = 0; i < 5; i++) {
      members.push({ holder: await picker.pick((h) => h.link_methods.includes('pin_otp') && h.balance >= 50_000) } as Member);
    }
    for (const i of [0, 1]) {
      Object.assign(members[i]!, await memberOnTablet(world.app, members[i]!.holder, device));
      await link(members[i]!, device);
    }
    Object.assign(members[2]!, await memberOnTablet(world.app, members[2]!.holder, device));
    const third = await held(members[2]!, device);
    const released = await world.koza.request('POST', `/v1/admin/links/${third}/release`, {
      token: analyst, key: `household-${third}`, body: { reason: 'one family on their tablet: documents checked', household: true },
    });
    assert.equal(expectOk(released, 200).state, 'released');
    const audit = await db().query<{ detail: Record<string, unknown> | string }>(
      "SELECT detail FROM audit_log WHERE action = 'link.release' AND target = $1", [third]);
    const detail = typeof audit.rows[0]!.detail === 'string' ? JSON.parse(audit.rows[0]!.detail) : audit.rows[0]!.detail;
    assert.equal(detail.household_cleared, true, 'the audit says the device was cleared as a household');
    await link(members[2]!, device);

    // The fourth member opens a wallet on the tablet after the review: a new name, yet one household, so not held.
    Object.assign(members[3]!, await memberOnTablet(world.app, members[3]!.holder, device));
    const fourthLink = await link(members[3]!, device);
    assert.equal(expectOk(await charge(members[3]!, fourthLink, 5_000), 201).status, 'posted');
    const holds = await db().query(
      `SELECT 1 FROM link_requests WHERE wallet_id = $1 AND state IN ('held', 'released', 'rejected')`, [members[3]!.wallet.walletId]);
    assert.equal(holds.rows.length, 0, 'the fourth member was never held');

    // A fifth name is more than a household: held again, for an analyst to look at.
    Object.assign(members[4]!, await memberOnTablet(world.app, members[4]!.holder, device));
    await held(members[4]!, device);
  });

  it('a link held after the bank vouched: released, it becomes active (holder told by the bank) and charges; rejected, it is revoked at the bank', async () => {
    // A decider that reviews every completion: the mechanism, whichever rule would hold it.
    const reviewAtCompletion: RiskDecider = async (event) => event.kind === 'link_complete'
      ? { action: 'review', score: 70, reasons: [{ rule: 'test', text: 'completion review' }] }
      : { action: 'allow', score: 0, reasons: [] };
    const second = await startKoza(db(), world.sandbox, { risk: reviewAtCompletion });
    try {
      const made: Array<{ holder: SandboxHolderAccount; wallet: PersonWallet; id: string }> = [];
      for (let i = 0; i < 3; i++) {
        const holder = await picker.pick((h) => h.link_methods.includes('pin_otp') && h.balance >= 50_000);
        const wallet = await walletOf(second.app, await personAt(second.app, holder.person_index));
        const totp = await enrolTotp(second.app, wallet);
        const started = expectOk(await second.koza.post('/v1/links', {
          bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin,
          step_up_proof: await linkProof(second.app, wallet, totp, holder.bank_code),
        }, wallet.token), 201);
        const otp = await world.sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code);
        const heldAnswer = expectProblemOver(
          await second.koza.post(`/v1/links/${started.link_request_id}/complete`, { otp }, wallet.token), 403, 'link-held-for-review');
        assert.match(heldAnswer.detail, /Your bank confirmed the account.*within 24 hours \(by .* JST\)/);
        assert.equal(heldAnswer.link_request_id, started.link_request_id);
        assert.deepEqual(expectOk(await second.koza.get('/v1/links', wallet.token), 200).data, [], 'no link while held');
        // A retry under a new key is told the same next step, not to start a new request.
        expectProblemOver(await second.koza.post(`/v1/links/${started.link_request_id}/complete`, { otp }, wallet.token), 403, 'link-held-for-review');
        const atBank = await world.sandbox.admin.links(holder);
        assert.equal(atBank.filter((l) => l.revoked_at === null).length, 1, 'the bank-side link waits for the analyst');
        made.push({ holder, wallet, id: started.link_request_id });
      }
      const [keep, drop] = made as [typeof made[0], typeof made[0]];
      const review = (k: KozaHttp, id: string, verb: string) =>
        k.request('POST', `/v1/admin/links/${id}/${verb}`, { token: analyst, key: `${verb}-${id}`, body: { reason: `${verb} after a call to the customer` } });

      const released = expectOk(await review(second.koza, keep.id, 'release'), 200);
      assert.equal(released.bank_side, true);
      assert.equal(released.link.status, 'active', 'the bank told the holder, the link is active');
      const told = (await outbox(second.app, keep.wallet.email)).filter((m) => m.subject === 'koza: your bank link is approved');
      assert.equal(told.length, 1);
      const before = (await world.sandbox.admin.holder(keep.holder))!.balance;
      const posted = expectOk(await second.koza.post('/v1/charges', { link_id: released.link.id, amount: 5_000 }, keep.wallet.token), 201);
      assert.equal(posted.status, 'posted');
      assert.equal((await world.sandbox.admin.holder(keep.holder))!.balance, before - 5_000);

      // Not answered in time: settleLinks rejects the other one and revokes it at the bank; the customer is told to link again.
      const third = made[2]!;
      await db().query(`UPDATE link_requests SET created_at = now() - interval '8 days' WHERE id = $1`, [third.id]);
      const env = { db: db(), config: second.config, client: new BankClient({ baseUrl: world.sandbox.url, keyFor: keysFromSeed(TEST_KEY_SEED) }), risk: allowAll };
      assert.ok((await settleLinks(env)).revoked >= 1);
      const expired = await db().query<{ state: string; reviewed_by: string }>('SELECT state, reviewed_by FROM link_requests WHERE id = $1', [third.id]);
      assert.deepEqual(expired.rows[0], { state: 'rejected', reviewed_by: 'koza:hold-expiry' });
      assert.ok((await world.sandbox.admin.links(third.holder)).every((l) => l.revoked_at !== null));
      assert.equal((await outbox(second.app, third.wallet.email)).filter((m) => m.subject === 'koza: please link your bank account again').length, 1);

      const rejected = expectOk(await review(second.koza, drop.id, 'reject'), 200);
      assert.equal(rejected.state, 'rejected');
      assert.equal(rejected.link, null);
      const atBank = await world.sandbox.admin.links(drop.holder);
      assert.ok(atBank.length > 0 && atBank.every((l) => l.revoked_at !== null && l.revoked_by === 'koza'), JSON.stringify(atBank));
      const row = await db().query<{ bank_revoked_at: Date | null; held_link_token_sealed: string | null }>(
        'SELECT bank_revoked_at, held_link_token_sealed FROM link_requests WHERE id = $1', [drop.id]);
      assert.ok(row.rows[0]!.bank_revoked_at !== null);
      assert.equal(row.rows[0]!.held_link_token_sealed, null);
      assert.deepEqual(expectOk(await second.koza.get('/v1/links', drop.wallet.token), 200).data, []);
      const notice = (await outbox(second.app, drop.wallet.email)).filter((m) => m.subject === 'koza: your bank link was not approved');
      assert.match(notice[0]!.body, /koza removes it at your bank/);
    } finally {
      await second.app.close();
    }
  });

  it('a release is one way through a review that still fires: the next start and its completion go past it, once', async () => {
    const reviewAll: RiskDecider = async (event) => event.kind === 'link_start' || event.kind === 'link_complete'
      ? { action: 'review', score: 70, reasons: [{ rule: 'test', text: 'always review links' }] }
      : { action: 'allow', score: 0, reasons: [] };
    const third = await startKoza(db(), world.sandbox, { risk: reviewAll });
    try {
      const holder = await picker.pick((h) => h.link_methods.includes('pin_otp') && h.balance >= 50_000);
      const wallet = await walletOf(third.app, await personAt(third.app, holder.person_index));
      const totp = await enrolTotp(third.app, wallet);
      const start = async () => third.koza.post('/v1/links', {
        bank_code: holder.bank_code, method: 'pin_otp', account: accountOf(holder), pin: holder.pin,
        step_up_proof: await linkProof(third.app, wallet, totp, holder.bank_code),
      }, wallet.token);
      const heldId = expectProblemOver(await start(), 403, 'link-held-for-review').link_request_id as string;
      expectOk(await third.koza.request('POST', `/v1/admin/links/${heldId}/release`, {
        token: analyst, body: { reason: 'customer called, documents checked' },
      }), 200);
      const started = expectOk(await start(), 201);
      const otp = await world.sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code);
      const link = expectOk(await third.koza.post(`/v1/links/${started.link_request_id}/complete`, { otp }, wallet.token), 201);
      assert.equal(link.status, 'active');
      const used = await db().query<{ release_used_by: string | null }>('SELECT release_used_by FROM link_requests WHERE id = $1', [heldId]);
      assert.equal(used.rows[0]!.release_used_by, started.link_request_id);
      // Spent: another start is held again.
      expectProblemOver(await start(), 403, 'link-held-for-review');
    } finally {
      await third.app.close();
    }
  });
});
