// The dry run's arithmetic over recorded decisions held in memory: the before/after matrix, per-rule counts,
// samples of changed decisions; and candidate text parsed with its list files confined to the rules directory.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replayDecisions, dryRunLimit, type RecordedDecision } from './dry-run.js';
import { parseRuleSet, RuleFileError } from './rules.js';
import { parseRuleText } from './rule-file.js';
import type { RiskAction } from './hook.js';

const candidate = parseRuleSet(`
version: 1
rules:
  - id: big-charge
    description: A big charge
    rationale: testing
    events: [charge]
    when: { feature: amount, op: '>=', value: 10000 }
    action: review
    score: 60
  - id: farm
    description: A device farm
    rationale: testing
    events: [signup]
    when: { feature: wallets_per_device_24h, op: '>=', value: 3 }
    action: deny
    score: 90
  - id: watch-small
    description: Small charges watched
    rationale: testing
    events: [charge]
    when: { feature: amount, op: '<', value: 100 }
    action: challenge
    score: 10
    mode: shadow
`, { source: 'candidate.yaml' });

let seq = 0;
function recorded(kind: RecordedDecision['eventKind'], action: RiskAction, features: RecordedDecision['features'], rules: string[] = []): RecordedDecision {
  seq += 1;
  return {
    id: `rsk_${seq}`, seq, eventKind: kind, walletId: `wal_${seq}`, action, features, createdAt: new Date(Date.UTC(2026, 0, 1, 0, seq)),
    ruleHits: rules.map((rule) => ({ rule, text: rule, action, score: 50 })), shadowHits: [],
  };
}

describe('replayDecisions', () => {
  it('counts actions before and after, the change matrix, per-rule hits and samples of what changed', () => {
    const decisions = [
      recorded('charge', 'allow', { amount: 50_000 }),                    // allow → review (big-charge)
      recorded('charge', 'challenge', { amount: 20_000 }, ['old-rule']), // challenge → review
      recorded('charge', 'allow', { amount: 500 }),                       // allow → allow
      recorded('charge', 'allow', { amount: 50 }),                        // allow → allow, shadow watch-small
      recorded('signup', 'deny', { wallets_per_device_24h: 1 }, ['farm']), // deny → allow: the recorded farm hit is gone
      recorded('signup', 'review', { wallets_per_device_24h: 5 }, ['farm']), // review → deny
      recorded('login', 'allow', { wallets_per_device_24h: 9 }),          // farm does not apply to login
    ];
    const s = replayDecisions(candidate, decisions);
    assert.equal(s.replayed, 7);
    assert.equal(s.truncated, false);
    assert.deepEqual(s.before, { allow: 4, challenge: 1, review: 1, deny: 1 });
    assert.deepEqual(s.after, { allow: 4, challenge: 0, review: 2, deny: 1 });
    assert.equal(s.changes.allow.review, 1);
    assert.equal(s.changes.challenge.review, 1);
    assert.equal(s.changes.deny.allow, 1);
    assert.equal(s.changes.review.deny, 1);
    assert.equal(s.changes.allow.allow, 3);
    assert.equal(s.changed, 4);
    assert.deepEqual(s.rules, [
      { rule: 'big-charge', mode: 'enforce', action: 'review', enforcedHits: 2, shadowHits: 0, recordedHits: 0, notRecorded: 0, missingFeatures: [] },
      { rule: 'farm', mode: 'enforce', action: 'deny', enforcedHits: 1, shadowHits: 0, recordedHits: 2, notRecorded: 0, missingFeatures: [] },
      { rule: 'watch-small', mode: 'shadow', action: 'challenge', enforcedHits: 0, shadowHits: 1, recordedHits: 0, notRecorded: 0, missingFeatures: [] },
    ]);
    assert.deepEqual(s.samples.map((x) => [x.eventKind, x.before, x.after, x.rulesBefore, x.rulesAfter]), [
      ['charge', 'allow', 'review', [], ['big-charge']],
      ['charge', 'challenge', 'review', ['old-rule'], ['big-charge']],
      ['signup', 'deny', 'allow', ['farm'], []],
      ['signup', 'review', 'deny', ['farm'], ['farm']],
    ]);
    assert.deepEqual(s.first, decisions[0]!.createdAt);
    assert.deepEqual(s.last, decisions[6]!.createdAt);
  });

  it('keeps at most 20 samples while counting every change', () => {
    const decisions = Array.from({ length: 45 }, () => recorded('charge', 'allow', { amount: 99_999 }));
    const s = replayDecisions(candidate, decisions);
    assert.equal(s.changed, 45);
    assert.equal(s.samples.length, 20);
    assert.equal(s.samples[0]!.id, decisions[0]!.id);
  });

  it('replays nothing into an empty summary', () => {
    const s = replayDecisions(candidate, []);
    assert.equal(s.replayed, 0);
    assert.equal(s.first, null);
    assert.deepEqual(s.after, { allow: 0, challenge: 0, review: 0, deny: 0 });
  });

  it('a missing or null feature never fires a candidate rule (the recorded features are all there is)', () => {
    const s = replayDecisions(candidate, [recorded('charge', 'review', { amount: null }), recorded('charge', 'review', {})]);
    assert.deepEqual(s.after, { allow: 2, challenge: 0, review: 0, deny: 0 });
  });

  it('counts, per rule, the decisions recorded without a feature it reads (null was recorded; absent was never computed)', () => {
    const windowed = parseRuleSet(`
version: 1
rules:
  - id: ip-burst-6h
    description: Many sign-ups from one IP in six hours
    rationale: testing
    events: [signup]
    when: { all: [{ feature: signups_per_ip_6h, op: '>=', value: 10 }, { feature: account_age_hours, op: '<', value: 1 }] }
    action: review
    score: 50
`);
    const s = replayDecisions(windowed, [
      recorded('signup', 'allow', { signups_per_ip_6h: 12, account_age_hours: 0 }),
      recorded('signup', 'allow', { signups_per_ip_6h: null, account_age_hours: 0 }),
      recorded('signup', 'allow', { signups_per_ip_1h: 12, account_age_hours: 0 }),
      recorded('signup', 'allow', {}),
      recorded('charge', 'allow', {}),
    ]);
    assert.deepEqual(s.rules.map((r) => [r.enforcedHits, r.notRecorded, r.missingFeatures]), [[1, 2, ['signups_per_ip_6h', 'account_age_hours']]]);
  });
});

describe('dryRunLimit', () => {
  it('defaults to 10 000 and refuses 0, fractions, more than 100 000 and an empty or reversed window', () => {
    assert.equal(dryRunLimit({}), 10_000);
    assert.equal(dryRunLimit({ limit: 100_000 }), 100_000);
    for (const limit of [0, 1.5, 100_001]) assert.throws(() => dryRunLimit({ limit }), RangeError);
    assert.throws(() => dryRunLimit({ since: new Date('nope') }), /since is not a valid time/);
    assert.throws(() => dryRunLimit({ since: new Date('2026-01-02'), until: new Date('2026-01-01') }), /since must be before until/);
  });
});

describe('parseRuleText', () => {
  const withList = (file: string) => `
version: 1
lists:
  domains:
    file: ${file}
rules:
  - id: bad-domain
    description: A bad domain
    rationale: testing
    events: [signup]
    when: { feature: email_domain, in_list: domains }
    action: deny
    score: 80
`;

  it('reads list files relative to the rules directory (the shipped lists by default)', () => {
    const set = parseRuleText(withList('lists/disposable-email-domains.txt'));
    assert.equal(set.source, '<candidate>');
    assert.ok(set.lists.get('domains')!.size > 0);
  });

  it('refuses a list file outside the rules directory, naming the list', () => {
    for (const file of ['../../package.json', '/etc/passwd']) {
      assert.throws(() => parseRuleText(withList(file)), (err: unknown) => {
        assert.ok(err instanceof RuleFileError);
        assert.match(err.message, /list 'domains': cannot read .*: list files must be inside/);
        return true;
      });
    }
  });

  it('names the bad rule and the reason', () => {
    assert.throws(() => parseRuleText(withList('lists/disposable-email-domains.txt').replace('action: deny', 'action: block'), { source: 'mine' }),
      (err: unknown) => err instanceof RuleFileError && err.rule === "'bad-domain' (rules[0])" && /unknown action "block"/.test(err.message)
        && err.message.startsWith('mine:'));
  });
});
