// Kill switches as operators use them: halt new links globally or per bank while charges go on, halt a
// bank's charges, freeze a wallet — each audited with who, when and why, in a chain that shows tampering.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import { expectJson, expectProblem, get, newMerchant, post, signUpPaying, testApp, topUp } from '../../test-support/api-client.js';
import type { App } from '../http/context.js';
import { createOperator } from './operators.js';
import { assertChargesAllowed, assertLinkingAllowed } from './controls.js';
import { verifyAuditChain } from './audit.js';
import { KozaError } from '../errors.js';

async function refusedWith(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof KozaError) return err.code;
    throw err;
  }
  return 'allowed';
}

forEachBackend('kill switches and audit', (db) => {
  let app: App;
  let admin: string;
  let support: string;
  let analyst: string;
  before(async () => {
    app = await testApp(db());
    admin = (await createOperator(db(), { name: 'Aiko (admin)', role: 'admin' })).apiKey;
    support = (await createOperator(db(), { name: 'Ken (support)', role: 'support' })).apiKey;
    analyst = (await createOperator(db(), { name: 'Mei (fraud)', role: 'fraud_analyst' })).apiKey;
  });
  after(async () => { await app.close(); });

  it('halts new links globally and per bank, and charges per bank, and lifts them again', async () => {
    assert.equal(await refusedWith(assertLinkingAllowed(db(), '0001')), 'allowed');
    expectJson(await post(app, '/v1/admin/controls', { kind: 'links_halted', bank_code: '0001', active: true, reason: 'PIN spraying at 0001' }, { token: admin }), 200);
    assert.equal(await refusedWith(assertLinkingAllowed(db(), '0001')), 'linking-halted');
    assert.equal(await refusedWith(assertLinkingAllowed(db(), '0005')), 'allowed');
    assert.equal(await refusedWith(assertChargesAllowed(db(), '0001')), 'allowed', 'existing links keep charging');

    expectJson(await post(app, '/v1/admin/controls', { kind: 'links_halted', bank_code: null, active: true, reason: 'incident 2020-09' }, { token: admin }), 200);
    assert.equal(await refusedWith(assertLinkingAllowed(db(), '0005')), 'linking-halted');
    expectJson(await post(app, '/v1/admin/controls', { kind: 'charges_halted', bank_code: '0005', active: true, reason: 'bank asked' }, { token: admin }), 200);
    assert.equal(await refusedWith(assertChargesAllowed(db(), '0005')), 'charges-halted');

    for (const [bank, kind] of [[null, 'links_halted'], ['0001', 'links_halted'], ['0005', 'charges_halted']] as const) {
      expectJson(await post(app, '/v1/admin/controls', { kind, bank_code: bank, active: false, reason: 'resolved' }, { token: admin }), 200);
    }
    assert.equal(await refusedWith(assertLinkingAllowed(db(), '0001')), 'allowed');
    assert.equal(await refusedWith(assertChargesAllowed(db(), '0005')), 'allowed');
    const controls = expectJson<{ data: Array<{ kind: string; scope: string; active: boolean }> }>(await get(app, '/v1/admin/controls', support), 200).data;
    assert.ok(controls.every((c) => !c.active));
    assert.equal(controls.length, 3);
  });

  it('refuses switches without a reason, a global charge halt, and the wrong role or no key', async () => {
    expectProblem(await post(app, '/v1/admin/controls', { kind: 'links_halted', bank_code: null, active: true, reason: '' }, { token: admin }), 400);
    expectProblem(await post(app, '/v1/admin/controls', { kind: 'charges_halted', bank_code: null, active: true, reason: 'all of them' }, { token: admin }), 400);
    expectProblem(await post(app, '/v1/admin/controls', { kind: 'links_halted', bank_code: null, active: true, reason: 'not mine to do' }, { token: support }), 403, 'forbidden');
    expectProblem(await post(app, '/v1/admin/controls', { kind: 'links_halted', bank_code: null, active: true, reason: 'who am I' }), 401);
    expectProblem(await get(app, '/v1/admin/audit', support), 403, 'forbidden');
    const controls = await db().query('SELECT 1 FROM controls WHERE active');
    assert.equal(controls.rows.length, 0, 'nothing was switched on');
  });

  it('freezes a wallet so it moves no money, and unfreezes it', async () => {
    const user = await signUpPaying(app);
    await topUp(app, user.token, 10_000);
    const shop = await newMerchant(app);
    expectJson(await post(app, `/v1/admin/wallets/${user.walletId}/freeze`, { frozen: true, reason: 'case cas_1: account takeover' }, { token: analyst }), 200);
    expectProblem(await post(app, '/v1/payments', { merchant_id: shop.merchantId, amount: 1000 }, { token: user.token }), 403, 'wallet-frozen');
    expectJson(await post(app, `/v1/admin/wallets/${user.walletId}/freeze`, { frozen: false, reason: 'owner re-verified' }, { token: analyst }), 200);
    expectJson(await post(app, '/v1/payments', { merchant_id: shop.merchantId, amount: 1000 }, { token: user.token }), 201);
    expectProblem(await post(app, '/v1/admin/wallets/wal_nobody/freeze', { frozen: true, reason: 'typo' }, { token: analyst }), 404);
  });

  it('audits every change with who, when and why, in a chain whose first broken row is named', async () => {
    const audit = expectJson<{ data: Array<{ actor: string; action: string; target: string; reason: string }> }>(
      await get(app, '/v1/admin/audit?limit=100', admin), 200).data;
    const actions = audit.map((e) => `${e.action} ${e.target} — ${e.reason}`);
    assert.ok(actions.includes('links_halted.on bank:0001 — PIN spraying at 0001'));
    assert.ok(actions.includes('links_halted.on global — incident 2020-09'));
    assert.ok(actions.includes('charges_halted.off bank:0005 — resolved'));
    assert.ok(audit.some((e) => e.action === 'wallet.freeze' && e.reason === 'case cas_1: account takeover'));
    assert.ok(audit.every((e) => e.actor.startsWith('opr_')));
    const verified = expectJson<{ intact: boolean; checked: number }>(await get(app, '/v1/admin/audit/verify', admin), 200);
    assert.equal(verified.intact, true);
    assert.equal(verified.checked, audit.length);

    await assert.rejects(db().query(`UPDATE audit_log SET reason = 'nothing happened'`), /append-only/);
    await assert.rejects(db().query('DELETE FROM audit_log'), /append-only/);
    // A row forged straight into the table (past the application) does not chain: the verifier names it.
    const head = await db().query<{ hash: string; seq: number }>('SELECT hash, seq FROM audit_log ORDER BY seq DESC LIMIT 1');
    await db().query(`INSERT INTO audit_log (actor, action, target, reason, prev_hash, hash) VALUES ('opr_x', 'links_halted.off', 'global', 'forged', $1, 'f00d')`, [head.rows[0]!.hash]);
    const broken = await verifyAuditChain(db());
    assert.equal(broken.firstBroken, head.rows[0]!.seq + 1);
  });
});
