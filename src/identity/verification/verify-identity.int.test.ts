// eKYC as a customer, a fraudster and a developer meet it over the API, on both storage backends: a pass
// stores the provider's record and reaches L2; failures and fraud flags leave L1; one person → one wallet;
// a verified identity can be re-verified but never edited or handed to someone else.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { forEachBackend } from '../../../test-support/backends.js';
import {
  expectJson, expectProblem, get, outbox, post, signUpVerified, testApp, type ApiResponse, type SignedUp,
} from '../../../test-support/api-client.js';
import type { App } from '../../http/context.js';
import { listRiskSignals } from '../../risk/signals.js';
import { getVerifiedIdentity, insertVerification, listIdentityHistory, storeVerifiedIdentity } from './store.js';
import { documentKey, personKey } from './person-key.js';

interface SandboxPerson {
  index: number; name_kanji: string; name_kana: string; date_of_birth: string;
  address: { prefecture: string; city: string; street: string };
  document_type: 'drivers_licence' | 'my_number_card'; document_number: string; phone: string; behaviour: string;
}

interface Customer extends SignedUp {
  person: SandboxPerson;
}

function submissionOf(person: SandboxPerson, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    document_type: person.document_type, document_number: person.document_number, name_kanji: person.name_kanji,
    name_kana: person.name_kana, date_of_birth: person.date_of_birth, address: { ...person.address },
    selfie_token: 'live-selfie-ok', ...overrides,
  };
}

forEachBackend('eKYC', (db, backend) => {
  let app: App;
  let people: SandboxPerson[];
  let nextPerson = 0;
  before(async () => {
    app = await testApp(db());
    people = expectJson<{ data: SandboxPerson[] }>(await get(app, '/v1/sandbox/identities?limit=100'), 200).data;
  });
  after(async () => { await app.close(); });

  /** A seeded person no other test in this file has used. */
  const freshPerson = (): SandboxPerson => people[nextPerson++]!;

  /** Takes a signed-up wallet to L1 with the person's own phone (the number the bank sandbox registers too). */
  async function verifyPhone(user: SignedUp, phone: string): Promise<string> {
    expectJson(await post(app, '/v1/phone', { phone }, { token: user.token }), 202);
    const sms = (await outbox(app, phone))[0]?.body ?? '';
    const code = /koza code: (\d{6})/.exec(sms)?.[1];
    assert.ok(code, `no SMS code was sent to ${phone}`);
    return expectJson<{ session: { token: string } }>(await post(app, '/v1/phone/verify', { code }, { token: user.token }), 200).session.token;
  }

  /** A wallet at L1 that will claim to be `person` (a fresh one unless given). */
  async function customerAtL1(person = freshPerson(), phone = person.phone): Promise<Customer> {
    const user = await signUpVerified(app);
    return { ...user, token: await verifyPhone(user, phone), person };
  }

  function submit(customer: Customer, body: Record<string, unknown> = submissionOf(customer.person), key?: string): Promise<ApiResponse> {
    return post(app, '/v1/identity/verifications', body, { token: customer.token, ...(key ? { key } : {}) });
  }

  /** Submits and, on a pass, carries on with the rotated token as a client would. */
  async function verify(customer: Customer, body?: Record<string, unknown>): Promise<Record<string, any>> {
    const result = expectJson(await submit(customer, body), 201);
    assert.equal(result.verification.status, 'verified', JSON.stringify(result));
    customer.token = result.session.token;
    return result;
  }

  async function level(token: string): Promise<string> {
    return expectJson<{ wallet: { assurance_level: string } }>(await get(app, '/v1/wallet', token), 200).wallet.assurance_level;
  }

  async function signalKinds(walletId: string): Promise<string[]> {
    return (await listRiskSignals(db(), walletId)).map((s) => s.kind);
  }

  it('verifies a seeded person: L2, the provider\'s record stored (not what was typed), the session rotated', async () => {
    const customer = await customerAtL1();
    const { person } = customer;
    const oldToken = customer.token;
    // The customer types hiragana and another street spelling; koza keeps the provider's record.
    const typedKana = person.name_kana.replace(/[\u30A1-\u30F6]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0x60));
    const result = expectJson(await submit(customer, submissionOf(person, {
      name_kana: typedKana, address: { ...person.address, street: '1-1-1' },
    })), 201);
    assert.equal(result.verification.status, 'verified');
    assert.equal(result.verification.reason, null);
    assert.deepEqual(result.verification.document, { type: person.document_type, last4: person.document_number.slice(-4) });
    assert.equal(result.assurance_level, 'L2');
    assert.equal(result.identity.name_kana, person.name_kana);
    assert.equal(result.identity.name_kanji, person.name_kanji);
    assert.equal(result.identity.date_of_birth, person.date_of_birth);
    assert.equal(result.identity.address.prefecture, person.address.prefecture);
    assert.doesNotMatch(result.identity.address.street, /\d/, 'house numbers are masked');

    // Rotation: the token from before the privilege change is dead, the new one works.
    expectProblem(await get(app, '/v1/identity', oldToken), 401, 'unauthenticated');
    const newToken = result.session.token as string;
    assert.notEqual(newToken, oldToken);
    const shown = expectJson(await get(app, '/v1/identity', newToken), 200);
    assert.equal(shown.status, 'verified');
    assert.deepEqual(shown.identity, result.identity);
    assert.equal(await level(newToken), 'L2');

    // What other code (bank matching, issue 4) reads: the provider's kana and the full address.
    const stored = await getVerifiedIdentity(db(), customer.walletId);
    assert.equal(stored?.nameKana, person.name_kana);
    assert.deepEqual(stored?.address, person.address);
    assert.equal(stored?.dateOfBirth, person.date_of_birth);
    const claimed = await db().query<{ claimed: { nameKana: string }; document_key: string }>(
      'SELECT claimed, document_key FROM identity_verifications WHERE id = $1', [result.verification.id]);
    assert.equal(claimed.rows[0]?.claimed.nameKana, typedKana, 'the submission keeps what was claimed, as the record of it');
    assert.ok(!claimed.rows[0]?.document_key.includes(person.document_number), 'the document number is not stored in clear');

    const mail = (await outbox(app, customer.email)).find((m) => m.subject === 'Your identity is verified');
    assert.ok(mail?.body.includes(person.name_kana));
    const listed = expectJson(await get(app, '/v1/identity/verifications', newToken), 200);
    assert.deepEqual(listed.data.map((v: { id: string }) => v.id), [result.verification.id]);
  });

  it('leaves the wallet at L1 when the provider fails the document', async () => {
    const customer = await customerAtL1();
    expectJson(await app.inject({
      method: 'PUT', url: `/v1/sandbox/identities/${customer.person.document_number}/behaviour`, payload: { outcome: 'fail' },
    }), 200);
    const result = expectJson(await submit(customer), 201);
    assert.deepEqual([result.verification.status, result.verification.reason, result.identity, result.session],
      ['failed', 'declined', null, undefined]);
    assert.equal(result.assurance_level, 'L1');
    assert.equal(await level(customer.token), 'L1', 'no rotation: the same token still works');
    assert.deepEqual(expectJson(await get(app, '/v1/identity', customer.token), 200), { status: 'unverified', identity: null });
    assert.deepEqual(await signalKinds(customer.walletId), [], 'a failure is not fraud');
    assert.ok((await outbox(app, customer.email)).some((m) => m.subject === 'We could not verify your identity'));
  });

  it('flags a forged document: a risk signal for analysts, L1, and no hint to the customer of what was seen', async () => {
    const customer = await customerAtL1();
    expectJson(await app.inject({
      method: 'PUT', url: `/v1/sandbox/identities/${customer.person.document_number}/behaviour`,
      payload: { outcome: 'forged_document' },
    }), 200);
    const result = expectJson(await submit(customer), 201);
    assert.equal(result.verification.status, 'flagged');
    assert.equal(result.verification.reason, null);
    assert.equal(result.assurance_level, 'L1');
    assert.deepEqual(await signalKinds(customer.walletId), ['kyc_forged_document']);
    const signal = (await listRiskSignals(db(), customer.walletId))[0];
    assert.equal(signal?.detail.verification_id, result.verification.id);
    assert.equal(await getVerifiedIdentity(db(), customer.walletId), null);
  });

  it('flags a mismatched selfie through the documented sandbox selfie token', async () => {
    const customer = await customerAtL1();
    const result = expectJson(await submit(customer, submissionOf(customer.person, { selfie_token: 'sandbox-selfie-mismatch' })), 201);
    assert.equal(result.verification.status, 'flagged');
    assert.deepEqual(await signalKinds(customer.walletId), ['kyc_selfie_mismatch']);
    assert.equal(await level(customer.token), 'L1');
    // The flag was for that submission only: the same person with a live selfie passes.
    await verify(customer);
    assert.equal(await level(customer.token), 'L2');
  });

  it('refuses an L0 wallet (phone not verified) without recording a submission', async () => {
    const user = await signUpVerified(app);
    const problem = expectProblem(await post(app, '/v1/identity/verifications', submissionOf(freshPerson()), { token: user.token }),
      403, 'assurance-level-too-low');
    assert.equal(problem.required_level, 'L1');
    assert.equal(problem.current_level, 'L0');
    const rows = await db().query('SELECT 1 FROM identity_verifications WHERE wallet_id = $1', [user.walletId]);
    assert.equal(rows.rows.length, 0);
  });

  it('refuses a frozen wallet', async () => {
    const customer = await customerAtL1();
    await db().query(`UPDATE wallets SET status = 'frozen' WHERE id = $1`, [customer.walletId]);
    expectProblem(await submit(customer), 403, 'wallet-frozen');
    assert.equal(await getVerifiedIdentity(db(), customer.walletId), null);
  });

  it('fails details that are not the document holder\'s, and documents the provider does not know', async () => {
    const customer = await customerAtL1();
    const { person } = customer;
    const other = freshPerson();
    const cases: Array<[Record<string, unknown>, string]> = [
      [submissionOf(person, { date_of_birth: '2001-01-01' }), 'claimed_data_mismatch'],
      [submissionOf(person, { name_kana: other.name_kana, name_kanji: other.name_kanji }), 'claimed_data_mismatch'],
      [submissionOf(person, { document_number: '999999999999' }), 'document_unknown'],
      [submissionOf(person, { document_type: person.document_type === 'my_number_card' ? 'drivers_licence' : 'my_number_card' }), 'document_unknown'],
    ];
    for (const [body, reason] of cases) {
      const result = expectJson(await submit(customer, body), 201);
      assert.deepEqual([result.verification.status, result.verification.reason], ['failed', reason]);
    }
    assert.equal(await level(customer.token), 'L1');
  });

  it('refuses a second wallet for the same person (signals on both, no other wallet named); another person verifies', async () => {
    const first = await customerAtL1();
    await verify(first);
    const second = await customerAtL1(first.person, freshPerson().phone);
    const problem = expectProblem(await submit(second), 409, 'duplicate-identity');
    assert.ok(!JSON.stringify(problem).includes(first.walletId), 'the other wallet is not revealed');
    assert.ok(!JSON.stringify(problem).includes(first.email));
    assert.equal(await level(second.token), 'L1');
    assert.deepEqual(await signalKinds(second.walletId), ['duplicate_identity']);
    assert.deepEqual(await signalKinds(first.walletId), ['duplicate_identity']);
    assert.equal((await listRiskSignals(db(), first.walletId))[0]?.detail.other_wallet_id, second.walletId);
    assert.ok((await outbox(app, first.email)).some((m) => m.subject === 'Someone tried to use your identity'));
    const refused = expectJson(await get(app, '/v1/identity/verifications', second.token), 200).data[0];
    assert.deepEqual([refused.status, refused.reason], ['refused', 'duplicate_identity']);
    // The first wallet keeps its identity; the second can still verify as who it really is.
    assert.equal((await getVerifiedIdentity(db(), first.walletId))?.nameKana, first.person.name_kana);
    second.person = freshPerson();
    await verify(second);
    assert.equal(await level(second.token), 'L2');
  });

  it('lets two wallets race for one person and lets exactly one win (the unique index decides)', async () => {
    const person = freshPerson();
    const a = await customerAtL1(person);
    const b = await customerAtL1(person, freshPerson().phone);
    const answers = await Promise.all([submit(a), submit(b)]);
    assert.deepEqual(answers.map((r) => r.statusCode).sort(), [201, 409]);
    const winners = await db().query<{ wallet_id: string }>(
      'SELECT wallet_id FROM verified_identities WHERE wallet_id IN ($1, $2)', [a.walletId, b.walletId]);
    assert.equal(winners.rows.length, 1);
    const loser = winners.rows[0]!.wallet_id === a.walletId ? b : a;
    assert.deepEqual(await signalKinds(loser.walletId), ['duplicate_identity']);
  });

  it('refuses the loser of two interleaved transactions at the unique index, without aborting its transaction', {
    skip: backend.name === 'pglite' ? 'PGlite is one connection: transactions cannot interleave' : false,
  }, async () => {
    const person = freshPerson();
    const key = Buffer.alloc(32, 1);
    const verifiedPerson = {
      nameKanji: person.name_kanji, nameKana: person.name_kana, dateOfBirth: person.date_of_birth, address: person.address,
      documentType: person.document_type, documentNumber: person.document_number,
    };
    const keys = {
      personKey: personKey(key, person.name_kana, person.date_of_birth),
      documentKey: documentKey(key, person.document_type, person.document_number),
    };
    const [a, b] = [await signUpVerified(app), await signUpVerified(app)];
    const submitted = await Promise.all([a, b].map((w) => insertVerification(db(), {
      walletId: w.walletId, provider: 'sandbox', documentType: person.document_type, documentNumber: person.document_number,
      documentKey: keys.documentKey, claimed: { nameKanji: '', nameKana: '', dateOfBirth: '', address: person.address },
    })));
    const store = (tx: Parameters<typeof storeVerifiedIdentity>[0], i: 0 | 1) => storeVerifiedIdentity(tx, {
      walletId: [a, b][i]!.walletId, verificationId: submitted[i]!.id, provider: 'sandbox', person: verifiedPerson, ...keys,
    });
    let stored!: () => void;
    let release!: () => void;
    const firstStored = new Promise<void>((resolve) => { stored = resolve; });
    const hold = new Promise<void>((resolve) => { release = resolve; });
    const first = db().transaction(async (tx) => {
      const identity = await store(tx, 0);
      stored();
      await hold;
      return identity;
    });
    await firstStored;
    // The second waits on the first's uncommitted index entry, then loses to it once it commits.
    const second = db().transaction(async (tx) => {
      const identity = await store(tx, 1);
      await tx.query('SELECT 1'); // the transaction is still usable: the savepoint absorbed the violation
      return identity;
    });
    setTimeout(release, 100);
    const [won, lost] = await Promise.all([first, second]);
    assert.equal(won?.walletId, a.walletId);
    assert.equal(lost, null);
  });

  it('re-verifies the same person as a new row, keeping history; a different person is refused and flagged', async () => {
    const customer = await customerAtL1();
    const firstPass = await verify(customer);
    const secondPass = await verify(customer);
    assert.notEqual(secondPass.identity.id, firstPass.identity.id);
    const history = await listIdentityHistory(db(), customer.walletId);
    assert.deepEqual(history.map((i) => [i.id, i.supersededAt === null]), [[firstPass.identity.id, false], [secondPass.identity.id, true]]);

    const stranger = freshPerson();
    const problem = expectProblem(await submit(customer, submissionOf(stranger)), 409, 'identity-person-changed');
    assert.ok(problem.detail);
    assert.deepEqual(await signalKinds(customer.walletId), ['kyc_identity_changed']);
    assert.equal((await getVerifiedIdentity(db(), customer.walletId))?.id, secondPass.identity.id, 'the identity is unchanged');
    assert.equal(await level(customer.token), 'L2');
    assert.ok((await outbox(app, customer.email)).some((m) => m.subject === 'Your identity was not changed'));
    // The stranger is still free: nothing of theirs was stored.
    const strangerWallet = await customerAtL1(stranger);
    await verify(strangerWallet);
  });

  it('never edits a verified identity: no API for it, and the database refuses it too', async () => {
    const customer = await customerAtL1();
    const { identity } = await verify(customer);
    for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
      const res = await app.inject({
        method, url: '/v1/identity', headers: { authorization: `Bearer ${customer.token}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ name_kana: 'ヤマダ タロウ' }),
      });
      expectProblem(res, 405, 'identity-immutable');
      assert.equal(res.headers.allow, 'GET');
    }
    await assert.rejects(db().query(`UPDATE verified_identities SET name_kana = 'ヤマダ タロウ' WHERE id = $1`, [identity.id]),
      /immutable/);
    await assert.rejects(db().query('DELETE FROM verified_identities WHERE id = $1', [identity.id]), /immutable/);
    // One live wallet per person is the database's rule, not only the code's.
    const other = await signUpVerified(app);
    await assert.rejects(db().transaction(async (tx) => {
      await tx.query(`INSERT INTO identity_verifications (id, wallet_id, provider, document_type, document_key, document_last4, claimed, status)
        VALUES ('kyc_manual', $1, 'sandbox', 'drivers_licence', 'x', '0000', '{}', 'pending')`, [other.walletId]);
      await tx.query(`INSERT INTO verified_identities (id, wallet_id, verification_id, provider, name_kanji, name_kana, date_of_birth,
          prefecture, city, street, document_type, document_last4, person_key, document_key)
        SELECT 'idn_manual', $1, 'kyc_manual', provider, name_kanji, name_kana, date_of_birth, prefecture, city, street,
          document_type, document_last4, person_key, 'another-document' FROM verified_identities WHERE id = $2`, [other.walletId, identity.id]);
    }), /verified_identities_one_wallet_per_person/);
  });

  it('allows 5 submissions a day per wallet, then refuses with when to retry; a retry under one key runs once', async () => {
    const customer = await customerAtL1();
    const wrong = submissionOf(customer.person, { date_of_birth: '2000-02-29' });
    const first = await submit(customer, wrong, 'kyc-attempt-1');
    const replay = await submit(customer, wrong, 'kyc-attempt-1');
    assert.equal(replay.body, first.body);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    for (let i = 2; i <= 5; i++) expectJson(await submit(customer, wrong), 201);
    const limited = expectProblem(await submit(customer, submissionOf(customer.person)), 429, 'verification-attempts-exhausted');
    assert.ok(limited.retry_after_seconds > 0 && limited.retry_after_seconds <= 24 * 3600);
    const count = await db().query('SELECT 1 FROM identity_verifications WHERE wallet_id = $1', [customer.walletId]);
    assert.equal(count.rows.length, 5);
    // A day later the wallet may try again.
    await db().query(`UPDATE identity_verifications SET created_at = created_at - interval '25 hours' WHERE wallet_id = $1`, [customer.walletId]);
    await verify(customer);
  });

  it('answers every bad input with a 4xx problem', async () => {
    const customer = await customerAtL1();
    const good = submissionOf(customer.person);
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ ...good, extra: 1 }, 'unknown field'],
      [{ ...good, document_number: '12345' }, 'short number'],
      [{ ...good, document_number: 123456789012 }, 'number as a number'],
      [{ ...good, document_type: 'passport' }, 'unknown document type'],
      [{ ...good, date_of_birth: '1990-02-30' }, 'no such date'],
      [{ ...good, date_of_birth: '2999-01-01' }, 'in the future'],
      [{ ...good, date_of_birth: '01/02/1990' }, 'not ISO'],
      [{ ...good, name_kana: 'Sato Shota' }, 'not kana'],
      [{ ...good, name_kana: '' }, 'empty kana'],
      [{ ...good, address: { prefecture: '東京都' } }, 'partial address'],
      [{ ...good, selfie_token: '' }, 'no selfie'],
      [{ ...good, selfie_token: 'has space' }, 'selfie token with a space'],
    ];
    for (const [body, label] of bad) {
      const res = await submit(customer, body);
      assert.equal(res.statusCode, 400, `${label}: ${res.body}`);
      expectProblem(res, 400);
    }
    expectProblem(await post(app, '/v1/identity/verifications', good, { token: customer.token, key: null }), 400);
    expectProblem(await post(app, '/v1/identity/verifications', good), 401, 'unauthenticated');
    expectProblem(await get(app, '/v1/identity'), 401, 'unauthenticated');
    expectProblem(await get(app, '/v1/identity/verifications?limit=0', customer.token), 400);
    expectProblem(await get(app, '/v1/sandbox/identities?limit=1000'), 400);
    expectProblem(await get(app, '/v1/sandbox/identities?offset=-1'), 400);
    expectProblem(await get(app, '/v1/sandbox/identities?color=red'), 400);
    const behaviour = (number: string, payload: unknown) => app.inject({
      method: 'PUT', url: `/v1/sandbox/identities/${number}/behaviour`, payload: payload as Record<string, unknown>,
    });
    expectProblem(await behaviour(customer.person.document_number, { outcome: 'explode' }), 400);
    expectProblem(await behaviour(customer.person.document_number, {}), 400);
    expectProblem(await behaviour('12ab', { outcome: 'pass' }), 400);
    expectProblem(await behaviour('000000000000', { outcome: 'pass' }), 404, 'not-found');
    assert.equal(await level(customer.token), 'L1');
  });

  it('pages through the seeded persons deterministically', async () => {
    const page = expectJson(await get(app, '/v1/sandbox/identities?limit=3&offset=2'), 200);
    assert.deepEqual(page.data.map((p: SandboxPerson) => p.index), [2, 3, 4]);
    assert.deepEqual(page.data.map((p: SandboxPerson) => p.document_number), people.slice(2, 5).map((p) => p.document_number));
    assert.equal(page.next_offset, 5);
    const last = expectJson(await get(app, '/v1/sandbox/identities?limit=5&offset=998'), 200);
    assert.equal(last.data.length, 2);
    assert.equal(last.next_offset, null);
  });

  it('refuses the sandbox controls and has no provider outside sandbox mode', async () => {
    const customer = await customerAtL1();
    const live = await testApp(db(), { KOZA_SANDBOX: 'false' });
    try {
      expectProblem(await post(live, '/v1/identity/verifications', submissionOf(customer.person), { token: customer.token }),
        503, 'identity-provider-unavailable');
      expectProblem(await get(live, '/v1/sandbox/identities'), 403, 'sandbox-only');
      expectProblem(await live.inject({
        method: 'PUT', url: `/v1/sandbox/identities/${people[0]!.document_number}/behaviour`, payload: { outcome: 'fail' },
      }), 403, 'sandbox-only');
    } finally {
      await live.close();
    }
  });

  it('documents every identity route in OpenAPI', async () => {
    const doc = expectJson<{ paths: Record<string, Record<string, unknown>> }>(await get(app, '/openapi.json'), 200);
    assert.ok(doc.paths['/v1/identity/verifications']?.post);
    assert.ok(doc.paths['/v1/identity/verifications']?.get);
    for (const method of ['get', 'put', 'patch', 'delete']) assert.ok(doc.paths['/v1/identity']?.[method], method);
    assert.ok(doc.paths['/v1/sandbox/identities']?.get);
    assert.ok(doc.paths['/v1/sandbox/identities/{document_number}/behaviour']?.put);
  });
});
