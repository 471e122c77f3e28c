// `koza risk` as an analyst runs it: list and check rule files (a bad one named in one line, exit 1), usage mistakes
// (one line, exit 2), and dry-run, decisions and alerts over decisions recorded in the configured database — the
// embedded one in a data directory and the PostgreSQL server.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backends, freshSchemaName, testDatabaseUrl } from '../../test-support/backends.js';
import { KOZA_BIN } from '../../test-support/koza-process.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { storeDecision } from '../risk/decisions.js';
import { DEFAULT_RULE_FILE } from '../risk/rule-file.js';
import type { RiskAction } from '../risk/hook.js';

const SECRET = 'ef'.repeat(32);

function koza(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [KOZA_BIN, ...args], {
    encoding: 'utf8', env: { ...process.env, DATABASE_URL: '', KOZA_RISK_RULES: '', LOG_LEVEL: 'silent', ...env }, timeout: 60_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'koza-risk-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function rule(id: string, action: string, when: string, extra = ''): string {
  return `  - id: ${id}
    description: ${id} fired
    rationale: testing the command line
    events: [signup, login]
    when: ${when}
    action: ${action}
    score: 50
${extra}`;
}

/** A candidate that denies from two wallets on one device, and watches one in shadow mode. */
const CANDIDATE = join(dir, 'candidate.yaml');
writeFileSync(CANDIDATE, `version: 1
description: stricter farms
rules:
${rule('farm-two', 'deny', "{ feature: wallets_per_device_24h, op: '>=', value: 2 }")}
${rule('watch-one', 'review', "{ feature: wallets_per_device_24h, op: '==', value: 1 }", '    mode: shadow\n')}`);
const WINDOWED = join(dir, 'windowed.yaml');
writeFileSync(WINDOWED, `version: 1
rules:
${rule('ip-burst-6h', 'review', "{ feature: signups_per_ip_6h, op: '>=', value: 10 }")}`);
const BAD = join(dir, 'bad.yaml');
writeFileSync(BAD, `version: 1
rules:
${rule('farm-two', 'deny', "{ feature: wallets_per_device_24h, op: '>=', value: 2 }")}
${rule('typo-rule', 'deny', "{ feature: walets_per_device, op: '>=', value: 2 }")}`);

describe('koza risk rules and check', () => {
  it('prints help for the command, listing every subcommand', () => {
    const help = koza(['risk', '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: koza risk <rules\|check\|dry-run\|decisions\|alerts>/);
    for (const sub of ['rules', 'check', 'dry-run', 'decisions', 'alerts']) assert.match(help.stdout, new RegExp(`\\n  ${sub} `));
    assert.equal(koza(['risk', 'dry-run', '--help']).status, 0);
    assert.match(koza(['--help']).stdout, /\n  risk +Risk analysts/);
  });

  it('lists the shipped rules as a table, or as the API\'s JSON', () => {
    const table = koza(['risk', 'rules']);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /default-rules\.yaml: version 1, \d+ rules \(\d+ enforced, \d+ shadow\)/);
    assert.match(table.stdout, /\nID +EVENTS +ACTION +SCORE +MODE +DESCRIPTION\n/);
    assert.match(table.stdout, /\ndevice-wallet-farm-24h +signup +review +70 +enforce +Three or more wallets/);
    const json = koza(['risk', 'rules', '--file', CANDIDATE, '--json']);
    assert.equal(json.status, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.description, 'stricter farms');
    assert.deepEqual(parsed.rules.map((r: { id: string; mode: string }) => [r.id, r.mode]), [['farm-two', 'enforce'], ['watch-one', 'shadow']]);
    // KOZA_RISK_RULES is the configured file, as for koza start.
    assert.match(koza(['risk', 'rules'], { KOZA_RISK_RULES: CANDIDATE }).stdout, /candidate\.yaml: version 1, 2 rules \(1 enforced, 1 shadow\)/);
  });

  it('checks a file: ok with counts, or one line naming the bad rule and exit 1', () => {
    const ok = koza(['risk', 'check', '--file', DEFAULT_RULE_FILE]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^ok: .*default-rules\.yaml: \d+ rules/);
    for (const sub of [['check'], ['rules'], ['dry-run']]) {
      const bad = koza(['risk', ...sub, '--file', BAD]);
      assert.equal(bad.status, 1, sub[0]);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
      assert.match(bad.stderr, /^koza: .*bad\.yaml:\d+: rule 'typo-rule' \(rules\[1\]\): when: unknown feature 'walets_per_device'/);
    }
    const missing = koza(['risk', 'check', '--file', join(dir, 'nope.yaml')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^koza: .*nope\.yaml: cannot read the rule file/);
  });

  it('answers usage mistakes with one line and exit 2, before touching any database', () => {
    const cases: Array<[string[], RegExp]> = [
      [['risk'], /name a subcommand: rules, check, dry-run, decisions, alerts/],
      [['risk', 'explain'], /unknown subcommand 'explain'/],
      [['risk', 'rules', 'extra'], /unexpected argument 'extra'/],
      [['risk', 'rules', '--wallet', 'w'], /--wallet does not apply to 'koza risk rules'/],
      [['risk', 'rules', '--bogus'], /Unknown option '--bogus'/],
      [['risk', 'dry-run'], /--file is required/],
      [['risk', 'dry-run', '--file', CANDIDATE, '--since', 'yesterday'], /--since must be an ISO 8601 time/],
      [['risk', 'dry-run', '--file', CANDIDATE, '--since', '2026-02-01', '--until', '2026-01-01'], /--since must be before --until/],
      [['risk', 'dry-run', '--file', CANDIDATE, '--limit', '100001'], /--limit must be a whole number from 1 to 100000/],
      [['risk', 'dry-run', '--file', CANDIDATE, '--event', 'lunch'], /unknown event kind 'lunch'/],
      [['risk', 'decisions'], /name exactly one of --wallet, --device, --ip or --account/],
      [['risk', 'decisions', '--wallet', 'w', '--ip', 'i'], /not --wallet and --ip/],
      [['risk', 'decisions', '--ip', 'i', '--bank', '0001'], /--bank narrows --account/],
      [['risk', 'decisions', '--account', 'a', '--bank', '1'], /--bank must be a 4-digit bank code/],
      [['risk', 'alerts', '--status', 'closed'], /--status must be open or acknowledged/],
      [['risk', 'alerts', '--limit', '0'], /--limit must be a whole number from 1 to 200/],
    ];
    for (const [args, message] of cases) {
      const res = koza(args, { KOZA_DATA: join(dir, 'never-opened') });
      assert.equal(res.status, 2, `koza ${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message, `koza ${args.join(' ')}`);
      assert.match(res.stderr, /^koza: /);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.doesNotMatch(res.stderr, /\n\s+at /);
    }
    assert.equal(existsSync(join(dir, 'never-opened')), false, 'no database was opened');
  });
});

for (const backend of backends()) {
  describe(`koza risk over recorded decisions [${backend.name}]`, () => {
    const env: Record<string, string> = backend.name === 'pglite'
      ? { KOZA_DATA: join(dir, `data-${backend.name}`), KOZA_SECRET_KEY: SECRET }
      : { DATABASE_URL: testDatabaseUrl(), KOZA_DB_SCHEMA: freshSchemaName(), KOZA_SECRET_KEY: SECRET };
    const ids: Record<string, string> = {};

    before(async () => {
      // The embedded database is one process's at a time: seed, close, then run the command.
      const db: Db = backend.name === 'pglite'
        ? await openDb({ dataDir: env.KOZA_DATA! })
        : await openDb({ databaseUrl: env.DATABASE_URL!, schema: env.KOZA_DB_SCHEMA! });
      try {
        await migrate(db);
        const seed = (name: string, wallets: number, action: RiskAction, minute: number) => storeDecision(db, {
          event: { kind: 'signup', walletId: `wal_cli_${name}`, deviceKey: 'dev_cli_farm', ip: '198.51.100.9' },
          features: { wallets_per_device_24h: wallets }, decision: { action, score: action === 'allow' ? 0 : 70, reasons: [] },
          hits: action === 'allow' ? [] : [{ rule: 'device-wallet-farm-24h', text: 'farm', action, score: 70 }], shadowHits: [],
          enforced: true, at: new Date(Date.UTC(2030, 0, 1, 0, minute)),
        }).then((id) => { ids[name] = id; });
        await seed('first', 1, 'allow', 1);
        await seed('second', 2, 'allow', 2);
        await seed('third', 3, 'review', 3);
      } finally {
        await db.close();
      }
    });

    it('dry-runs a candidate over the window: the action matrix, per-rule hits and the changed decisions', () => {
      const json = koza(['risk', 'dry-run', '--file', CANDIDATE, '--since', '2030-01-01', '--until', '2030-01-02', '--json'], env);
      assert.equal(json.status, 0, json.stderr);
      const s = JSON.parse(json.stdout);
      assert.equal(s.replayed, 3);
      assert.deepEqual(s.before, { allow: 2, challenge: 0, review: 1, deny: 0 });
      assert.deepEqual(s.after, { allow: 1, challenge: 0, review: 0, deny: 2 });
      assert.equal(s.changes.allow.deny, 1);
      assert.equal(s.changes.review.deny, 1);
      assert.deepEqual(s.rules.map((r: any) => [r.rule, r.enforced_hits, r.shadow_hits]), [['farm-two', 2, 0], ['watch-one', 0, 1]]);
      assert.deepEqual(s.samples.map((x: any) => x.id), [ids.third, ids.second]);

      const human = koza(['risk', 'dry-run', '--file', CANDIDATE, '--since', '2030-01-01T00:00:00Z', '--until', '2030-01-02', '--event', 'signup,login'], env);
      assert.equal(human.status, 0, human.stderr);
      assert.match(human.stdout, /^dry run of .*candidate\.yaml: 3 decisions replayed \(2030-01-01T00:01:00Z to 2030-01-01T00:03:00Z\); 2 would change\n/);
      assert.match(human.stdout, /features are those recorded with each decision/);
      assert.match(human.stdout, /\nallow +2 +1 +-1\n/);
      assert.match(human.stdout, /\ndeny +0 +2 +\+2\n/);
      assert.match(human.stdout, /\nallow -> deny +1\n/);
      assert.match(human.stdout, /\nfarm-two +enforce +deny +2 +0 +0 +0\n/);
      assert.doesNotMatch(human.stdout, /could not fire/);
      assert.match(human.stdout, new RegExp(`\\n${ids.third} +2030-01-01T00:03:00Z +signup +review +deny +farm-two\\n`));
      const empty = koza(['risk', 'dry-run', '--file', CANDIDATE, '--until', '2029-01-01'], env);
      assert.match(empty.stdout, /: 0 decisions replayed; 0 would change/);
      // A rule over a window no rule read at the time: the decisions lack it, and the output says so.
      const blind = koza(['risk', 'dry-run', '--file', WINDOWED, '--since', '2030-01-01', '--until', '2030-01-02'], env);
      assert.equal(blind.status, 0, blind.stderr);
      assert.match(blind.stdout, /\nip-burst-6h +enforce +review +0 +0 +0 +3\n/);
      assert.match(blind.stdout, /so it could not fire on them:\n  ip-burst-6h: 3 decisions without signups_per_ip_6h\n/);
    });

    it('lists decisions for one key and the open alert queue', () => {
      const json = koza(['risk', 'decisions', '--device', 'dev_cli_farm', '--json'], env);
      assert.equal(json.status, 0, json.stderr);
      const page = JSON.parse(json.stdout);
      assert.deepEqual(page.data.map((d: any) => d.id), [ids.third, ids.second, ids.first]);
      assert.deepEqual(page.data[0].features, { wallets_per_device_24h: 3 });
      assert.equal(page.next_before, null);

      const table = koza(['risk', 'decisions', '--wallet', 'wal_cli_third'], env);
      assert.equal(table.status, 0, table.stderr);
      assert.match(table.stdout, /^AT +DECISION +EVENT +ACTION +SCORE +WALLET +RULES \(shadow\)\n/);
      assert.match(table.stdout, new RegExp(`2030-01-01T00:03:00Z +${ids.third} +signup +review +70 +wal_cli_third +device-wallet-farm-24h`));
      assert.equal(koza(['risk', 'decisions', '--ip', '203.0.113.250'], env).stdout, 'no decisions\n');

      const alerts = koza(['risk', 'alerts', '--json'], env);
      assert.equal(alerts.status, 0, alerts.stderr);
      const open = JSON.parse(alerts.stdout);
      assert.deepEqual(open.data.map((a: any) => [a.kind, a.decision.id, a.status]), [['review', ids.third, 'open']]);
      const human = koza(['risk', 'alerts', '--status', 'open'], env);
      assert.match(human.stdout, /^OPENED +ALERT +KIND +EVENT +WALLET +RULES +ACKNOWLEDGED BY\n.*alr_\S+ +review +signup +wal_cli_third +device-wallet-farm-24h +-\n$/);
      assert.equal(koza(['risk', 'alerts', '--status', 'acknowledged'], env).stdout, 'no alerts\n');
    });
  });
}
