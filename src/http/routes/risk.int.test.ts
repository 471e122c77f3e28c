// The analyst's view of the risk engine over HTTP, on PGlite and PostgreSQL: decisions by one key a page at a time,
// the alert queue and its acknowledgement (audited, never taken over), the rules in force, and a dry run of a
// candidate rule file whose mistakes come back as problems naming the rule.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../../test-support/backends.js';
import { expectJson, expectProblem, get, post, testApp } from '../../../test-support/api-client.js';
import type { App } from '../context.js';
import { createOperator } from '../../operations/operators.js';
import { storeDecision } from '../../risk/decisions.js';
import { DEFAULT_RULE_FILE } from '../../risk/rule-file.js';
import type { RiskAction, RiskEvent } from '../../risk/hook.js';

let n = 0;
const unique = (label: string) => `${label}-${++n}-${Math.random().toString(36).slice(2, 8)}`;
const DEFAULT_RULES = readFileSync(DEFAULT_RULE_FILE, 'utf8');

forEachBackend('risk analyst routes', (db) => {
  let app: App;
  let analyst: string;
  let compliance: string;
  let support: string;

  async function decide(event: RiskEvent, action: RiskAction, features: Record<string, number | string | boolean | null> = {}, at?: Date) {
    return storeDecision(db(), {
      event, features, decision: { action, score: action === 'allow' ? 0 : 60, reasons: [] },
      hits: action === 'allow' ? [] : [{ rule: 'device-wallet-farm-24h', text: 'farm', action, score: 60 }],
      shadowHits: [{ rule: 'ip-signup-burst-24h', text: 'burst', action: 'review', score: 40 }], enforced: true, ...(at ? { at } : {}),
    });
  }

  before(async () => {
    app = await testApp(db());
    analyst = (await createOperator(db(), { name: 'Mei (fraud)', role: 'fraud_analyst' })).apiKey;
    compliance = (await createOperator(db(), { name: 'Jun (compliance)', role: 'compliance' })).apiKey;
    support = (await createOperator(db(), { name: 'Ken (support)', role: 'support' })).apiKey;
  });
  after(async () => { await app.close(); });

  it('lists one key\'s decisions newest first, a page at a time, with features and hits', async () => {
    const walletId = unique('wal');
    const accountRef = unique('acct');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(await decide({ kind: 'charge', walletId, bankCode: '0001', accountRef, ip: '203.0.113.7', amount: 1000 * (i + 1) }, i === 2 ? 'review' : 'allow', { amount: 1000 * (i + 1) }));
    }
    type Page = { data: Array<Record<string, any>>; next_before: number | null };
    const first = expectJson<Page>(await get(app, `/v1/admin/risk/decisions?wallet_id=${walletId}&limit=2`, analyst), 200);
    assert.deepEqual(first.data.map((d) => d.id), [ids[2], ids[1]]);
    assert.equal(first.data[0]!.action, 'review');
    assert.equal(first.data[0]!.event_kind, 'charge');
    assert.deepEqual(first.data[0]!.features, { amount: 3000 });
    assert.deepEqual(first.data[0]!.rule_hits, [{ rule: 'device-wallet-farm-24h', text: 'farm', action: 'review', score: 60 }]);
    assert.equal(first.data[0]!.shadow_hits[0].rule, 'ip-signup-burst-24h');
    assert.equal(typeof first.next_before, 'number');
    const second = expectJson<Page>(await get(app, `/v1/admin/risk/decisions?wallet_id=${walletId}&limit=2&before=${first.next_before}`, compliance), 200);
    assert.deepEqual(second.data.map((d) => d.id), [ids[0]]);
    assert.equal(second.next_before, null);

    const byAccount = expectJson<Page>(await get(app, `/v1/admin/risk/decisions?account_ref=${accountRef}&bank_code=0001`, analyst), 200);
    assert.equal(byAccount.data.length, 3);
    assert.equal(expectJson<Page>(await get(app, `/v1/admin/risk/decisions?account_ref=${accountRef}&bank_code=0002`, analyst), 200).data.length, 0);

    const one = expectJson<Record<string, any>>(await get(app, `/v1/admin/risk/decisions/${ids[1]}`, analyst), 200);
    assert.equal(one.id, ids[1]);
    assert.equal(one.wallet_id, walletId);
    expectProblem(await get(app, '/v1/admin/risk/decisions/rsk_nothing', analyst), 404, 'not-found');
    expectProblem(await get(app, '/v1/admin/risk/decisions/wal_wrong', analyst), 400);
  });

  it('refuses a decision query without exactly one key, an unknown field, a bad cursor, and anyone but an analyst', async () => {
    for (const query of ['', '?limit=5', '?wallet_id=a&ip=b', '?ip=a&bank_code=0001', '?wallet_id=a&limit=201', '?wallet_id=a&before=abc',
      '?wallet_id=a&wallet=b', '?wallet_id=']) {
      const problem = expectProblem(await get(app, `/v1/admin/risk/decisions${query}`, analyst), 400, 'invalid-request');
      assert.equal(typeof problem.detail, 'string', query);
    }
    assert.match(expectProblem(await get(app, '/v1/admin/risk/decisions?wallet_id=a&ip=b', analyst), 400).detail, /exactly one of/);
    expectProblem(await get(app, '/v1/admin/risk/decisions?wallet_id=a', support), 403, 'forbidden');
    expectProblem(await get(app, '/v1/admin/risk/decisions?wallet_id=a'), 401);
    expectProblem(await get(app, '/v1/admin/risk/alerts', support), 403, 'forbidden');
    expectProblem(await get(app, '/v1/admin/risk/rules', support), 403, 'forbidden');
  });

  it('queues review and deny decisions as alerts; an analyst acknowledges one, audited, and no one else can take it over', async () => {
    const walletId = unique('wal');
    const reviewed = await decide({ kind: 'link_complete', walletId, bankCode: '0001', accountRef: unique('acct') }, 'review');
    await decide({ kind: 'login', walletId }, 'allow');
    type Alerts = { data: Array<Record<string, any>>; next_after: number | null };
    const open = expectJson<Alerts>(await get(app, '/v1/admin/risk/alerts?limit=200', analyst), 200);
    const alert = open.data.find((a) => a.decision.id === reviewed);
    assert.ok(alert, 'the review decision opened an alert');
    assert.equal(alert.status, 'open');
    assert.equal(alert.kind, 'review');
    assert.equal(alert.acknowledged_by, null);
    assert.equal(open.data.filter((a) => a.decision.wallet_id === walletId).length, 1, 'allow opens no alert');

    const url = `/v1/admin/risk/alerts/${alert.id}/acknowledge`;
    expectProblem(await post(app, url, {}, { token: analyst, key: null }), 400);
    const acked = expectJson<Record<string, any>>(await post(app, url, { note: 'same household, cleared by phone' }, { token: analyst, key: `ack-${alert.id}` }), 200);
    assert.equal(acked.status, 'acknowledged');
    assert.match(acked.acknowledged_by, /^opr_/);
    assert.equal(acked.note, 'same household, cleared by phone');
    assert.ok(acked.acknowledged_at);
    const replayed = await post(app, url, { note: 'same household, cleared by phone' }, { token: analyst, key: `ack-${alert.id}` });
    assert.equal(replayed.headers['idempotent-replayed'], 'true');
    assert.deepEqual(replayed.json(), acked);
    // The same analyst again (a new key): nothing to do, the alert comes back.
    assert.equal(expectJson<Record<string, any>>(await post(app, url, {}, { token: analyst }), 200).acknowledged_by, acked.acknowledged_by);
    const taken = expectProblem(await post(app, url, { note: 'mine now' }, { token: compliance }), 409, 'alert-already-acknowledged');
    assert.equal(taken.acknowledged_by, acked.acknowledged_by);

    const stillOpen = expectJson<Alerts>(await get(app, '/v1/admin/risk/alerts?status=open&limit=200', analyst), 200);
    assert.ok(!stillOpen.data.some((a) => a.id === alert.id));
    const done = expectJson<Alerts>(await get(app, '/v1/admin/risk/alerts?status=acknowledged&limit=200', compliance), 200);
    assert.ok(done.data.some((a) => a.id === alert.id));

    const audit = await db().query<{ action: string; reason: string; actor: string }>(
      'SELECT action, reason, actor FROM audit_log WHERE target = $1', [alert.id]);
    assert.deepEqual(audit.rows.map((r) => [r.action, r.reason, r.actor]), [['risk_alert.acknowledge', 'same household, cleared by phone', acked.acknowledged_by]]);

    expectProblem(await post(app, '/v1/admin/risk/alerts/alr_nothing/acknowledge', {}, { token: analyst }), 404, 'not-found');
    expectProblem(await post(app, url, { note: '' }, { token: analyst }), 400);
    expectProblem(await post(app, url, { reason: 'x' }, { token: analyst }), 400);
    expectProblem(await get(app, '/v1/admin/risk/alerts?status=closed', analyst), 400);
  });

  it('pages the alert queue oldest first', async () => {
    const walletId = unique('wal');
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await decide({ kind: 'charge', walletId }, 'deny'));
    type Alerts = { data: Array<Record<string, any>>; next_after: number | null };
    const seen: string[] = [];
    let after: number | null = null;
    do {
      const page: Alerts = expectJson<Alerts>(await get(app, `/v1/admin/risk/alerts?limit=2${after === null ? '' : `&after=${after}`}`, analyst), 200);
      seen.push(...page.data.filter((a) => a.decision.wallet_id === walletId).map((a) => a.decision.id as string));
      after = page.next_after;
    } while (after !== null);
    assert.deepEqual(seen, made);
  });

  it('shows the rules in force with their conditions, or says the engine is off', async () => {
    const rules = expectJson<Record<string, any>>(await get(app, '/v1/admin/risk/rules', compliance), 200);
    assert.equal(rules.engine, 'on');
    assert.equal(rules.version, 1);
    assert.equal(rules.description, 'koza default rule set');
    assert.equal(rules.source, DEFAULT_RULE_FILE);
    const farm = rules.rules.find((r: any) => r.id === 'device-wallet-farm-24h');
    assert.deepEqual(farm, {
      id: 'device-wallet-farm-24h', description: farm.description, events: ['signup'],
      when: { feature: 'wallets_per_device_24h', op: '>=', value: 3 }, features: ['wallets_per_device_24h'],
      action: 'review', score: 70, mode: 'enforce', rationale: farm.rationale,
    });
    assert.ok(rules.rules.some((r: any) => r.mode === 'shadow'));
    assert.ok(rules.lists.find((l: any) => l.name === 'disposable_email_domains').entries > 0);

    const off = await testApp(db(), { KOZA_RISK_ENGINE: 'false' });
    try {
      const body = expectJson<Record<string, any>>(await get(off, '/v1/admin/risk/rules', analyst), 200);
      assert.equal(body.engine, 'off');
      assert.match(body.detail, /off/);
    } finally {
      await off.close();
    }
  });

  it('dry-runs a candidate rule file over the recorded decisions in a window and changes nothing', async () => {
    const at = (minute: number) => new Date(Date.UTC(2150, 5, 1, 0, minute));
    const walletId = unique('wal');
    const device = unique('dev');
    // Recorded under the current rules: a third wallet on a device was sent to review, a second one allowed.
    const third = await decide({ kind: 'signup', walletId, deviceKey: device }, 'review', { wallets_per_device_24h: 3 }, at(1));
    const second = await decide({ kind: 'signup', walletId, deviceKey: device }, 'allow', { wallets_per_device_24h: 2 }, at(2));
    // The candidate denies from two wallets on.
    const candidate = DEFAULT_RULES.replace(
      /(- id: device-wallet-farm-24h[\s\S]*?value: )3( }\n\s+action: )review/, '$12$2deny');
    assert.notEqual(candidate, DEFAULT_RULES);
    const body = { rules: candidate, since: at(0).toISOString(), until: at(10).toISOString() };
    const alertsBefore = (await db().query('SELECT count(*)::int AS n FROM risk_alerts')).rows;

    const s = expectJson<Record<string, any>>(await post(app, '/v1/admin/risk/rules/dry-run', body, { token: analyst }), 200);
    assert.equal(s.replayed, 2);
    assert.equal(s.truncated, false);
    assert.deepEqual(s.before, { allow: 1, challenge: 0, review: 1, deny: 0 });
    assert.deepEqual(s.after, { allow: 0, challenge: 0, review: 0, deny: 2 });
    assert.equal(s.changes.review.deny, 1);
    assert.equal(s.changes.allow.deny, 1);
    assert.equal(s.changed, 2);
    const farm = s.rules.find((r: any) => r.rule === 'device-wallet-farm-24h');
    assert.deepEqual(farm, { rule: 'device-wallet-farm-24h', mode: 'enforce', action: 'deny', enforced_hits: 2, shadow_hits: 0, recorded_hits: 1, not_recorded: 0, missing_features: [] });
    assert.deepEqual(s.samples.map((x: any) => [x.id, x.event_kind, x.before, x.after]), [[second, 'signup', 'allow', 'deny'], [third, 'signup', 'review', 'deny']]);
    assert.ok(s.samples[0].rules_after.includes('device-wallet-farm-24h'));
    assert.equal(s.first, at(1).toISOString());

    const unchanged = expectJson<Record<string, any>>(await post(app, '/v1/admin/risk/rules/dry-run',
      { ...body, rules: DEFAULT_RULES, event_kinds: ['signup'] }, { token: compliance }), 200);
    assert.equal(unchanged.changed, 0);
    const none = expectJson<Record<string, any>>(await post(app, '/v1/admin/risk/rules/dry-run',
      { ...body, event_kinds: ['charge'] }, { token: analyst }), 200);
    assert.equal(none.replayed, 0);
    assert.deepEqual((await db().query('SELECT count(*)::int AS n FROM risk_alerts')).rows, alertsBefore);
    assert.deepEqual(expectJson<Record<string, any>>(await get(app, `/v1/admin/risk/decisions/${second}`, analyst), 200).action, 'allow');
  });

  it('answers a malformed candidate with a 422 naming the rule and the reason, and a bad window with a 400', async () => {
    const dryRun = (body: Record<string, unknown>, token = analyst) => post(app, '/v1/admin/risk/rules/dry-run', body, { token });
    const badAction = DEFAULT_RULES.replace(/(- id: device-wallet-farm-30d[\s\S]*?action: )deny/, '$1block');
    let problem = expectProblem(await dryRun({ rules: badAction }), 422, 'risk-rule-file-invalid');
    assert.match(problem.detail, /^candidate:\d+: rule 'device-wallet-farm-30d' \(rules\[1\]\): unknown action "block"/);
    assert.equal(problem.rule, "'device-wallet-farm-30d' (rules[1])");
    assert.equal(typeof problem.line, 'number');

    problem = expectProblem(await dryRun({ rules: DEFAULT_RULES.replace('feature: wallets_per_device_24h', 'feature: walets_per_device') }), 422, 'risk-rule-file-invalid');
    assert.match(problem.detail, /rule 'device-wallet-farm-24h'.*unknown feature 'walets_per_device'/);
    problem = expectProblem(await dryRun({ rules: 'version: 1\nrules: [\n' }), 422, 'risk-rule-file-invalid');
    assert.match(problem.detail, /malformed YAML/);
    problem = expectProblem(await dryRun({ rules: DEFAULT_RULES.replace('lists/disposable-email-domains.txt', '../../../package.json') }), 422);
    assert.match(problem.detail, /list files must be inside/);
    problem = expectProblem(await dryRun({ rules: '{"version": 2, "rules": []}' }), 422);
    assert.match(problem.detail, /unsupported version 2/);

    expectProblem(await dryRun({ rules: DEFAULT_RULES, since: '2026-02-01T00:00:00Z', until: '2026-01-01T00:00:00Z' }), 400, 'invalid-request');
    expectProblem(await dryRun({ rules: DEFAULT_RULES, since: 'yesterday' }), 400);
    expectProblem(await dryRun({ rules: DEFAULT_RULES, limit: 100_001 }), 400);
    expectProblem(await dryRun({ rules: DEFAULT_RULES, limit: '10' }), 400);
    expectProblem(await dryRun({ rules: DEFAULT_RULES, event_kinds: ['lunch'] }), 400);
    expectProblem(await dryRun({ rules: '' }), 400);
    expectProblem(await dryRun({ rules: DEFAULT_RULES, extra: true }), 400);
    expectProblem(await post(app, '/v1/admin/risk/rules/dry-run', { rules: DEFAULT_RULES }, { token: analyst, key: null }), 400);
    expectProblem(await dryRun({ rules: DEFAULT_RULES }, support), 403, 'forbidden');
  });
});
