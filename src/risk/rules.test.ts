// The rule engine's semantics (precedence, score, shadow mode, missing features) and every refusal of a bad rule file.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { featuresFromEvent, parseWindowedFeature, type FeatureVector } from './rule-features.js';
import { evaluate, parseRuleSet, RuleFileError, type RuleSet } from './rules.js';
import { windowedFeaturesOf } from './engine.js';

/** A one-rule-per-entry file; `extra` is spliced into the rule's mapping as YAML. */
function ruleYaml(id: string, extra: string, base = { events: '[charge]', action: 'review', score: '50' }): string {
  return [
    `  - id: ${id}`,
    `    description: ${id} fired`,
    `    rationale: because ${id}`,
    `    events: ${base.events}`,
    `    action: ${base.action}`,
    `    score: ${base.score}`,
    ...extra.split('\n').filter((l) => l !== '').map((l) => `    ${l}`),
  ].join('\n');
}

function set(...rules: string[]): RuleSet {
  return parseRuleSet(['version: 1', 'lists:', '  bad_domains:', '    values: [Evil.example, spam.example]', 'rules:', ...rules].join('\n'),
    { source: 'test.yaml' });
}

describe('evaluate', () => {
  const rules = set(
    ruleYaml('big-charge', 'when: { feature: amount, op: ">=", value: 100 }', { events: '[charge]', action: 'challenge', score: '40' }),
    ruleYaml('huge-charge', 'when: { feature: amount, op: ">=", value: 1000 }', { events: '[charge]', action: 'review', score: '30' }),
    ruleYaml('farm', 'when: { feature: wallets_per_device_24h, op: ">=", value: 3 }', { events: '[charge, signup]', action: 'deny', score: '90' }),
    ruleYaml('shadow-deny', 'when: { feature: amount, op: ">", value: 10 }\nmode: shadow', { events: '[charge]', action: 'deny', score: '99' }),
    ruleYaml('noted', 'when: { feature: link_method, op: in, value: [redirect] }', { events: '[charge]', action: 'allow', score: '5' }),
  );

  it('allows with score 0 and no reasons when nothing fires', () => {
    assert.deepEqual(evaluate(rules, { kind: 'charge' }, { amount: 5, wallets_per_device_24h: 1 }),
      { action: 'allow', score: 0, reasons: [], hits: [], shadowHits: [] });
  });

  it('takes the strongest action and the highest score (not a sum) among enforced hits', () => {
    const result = evaluate(rules, { kind: 'charge' }, { amount: 5000, wallets_per_device_24h: 1 });
    assert.equal(result.action, 'review');
    assert.equal(result.score, 40); // challenge 40 and review 30: the action is review, the score the highest
    assert.deepEqual(result.reasons, [{ rule: 'big-charge', text: 'big-charge fired' }, { rule: 'huge-charge', text: 'huge-charge fired' }]);
    assert.equal(evaluate(rules, { kind: 'charge' }, { amount: 5000, wallets_per_device_24h: 4 }).action, 'deny');
  });

  it('an allow rule adds a reason but never weakens a stronger action', () => {
    const result = evaluate(rules, { kind: 'charge' }, { amount: 500, link_method: 'redirect' });
    assert.equal(result.action, 'challenge');
    assert.deepEqual(result.hits.map((h) => h.rule), ['big-charge', 'noted']);
  });

  it('shadow rules are reported as shadowHits and never change action, score or reasons', () => {
    const result = evaluate(rules, { kind: 'charge' }, { amount: 50 });
    assert.deepEqual(result.shadowHits, [{ rule: 'shadow-deny', text: 'shadow-deny fired', action: 'deny', score: 99, mode: 'shadow' }]);
    assert.equal(result.action, 'allow');
    assert.equal(result.score, 0);
    assert.deepEqual(result.reasons, []);
  });

  it('applies a rule only to its event kinds', () => {
    assert.deepEqual(evaluate(rules, { kind: 'signup' }, { amount: 5000, wallets_per_device_24h: 9 }).hits.map((h) => h.rule), ['farm']);
    assert.equal(evaluate(rules, { kind: 'login' }, { amount: 5000, wallets_per_device_24h: 9 }).action, 'allow');
  });

  it('a missing, null or mistyped feature makes a comparison not true and never throws — not even under `not`', () => {
    const guarded = set(
      ruleYaml('plain', 'when: { feature: amount, op: "<", value: 10 }'),
      ruleYaml('negated', 'when: { not: { feature: amount, op: ">=", value: 10 } }'),
      ruleYaml('not-in', 'when: { feature: link_method, op: not_in, value: [redirect] }'),
      ruleYaml('not-listed', 'when: { feature: email_domain, not_in_list: bad_domains }'),
      ruleYaml('any-known', 'when: { any: [ { feature: amount, op: "<", value: 10 }, { feature: account_age_hours, op: "<", value: 1 } ] }'),
    );
    const vectors: FeatureVector[] = [{}, { amount: null, link_method: null, email_domain: null }, { amount: 'five' as unknown as number }, { amount: Number.NaN }];
    for (const features of vectors) {
      assert.deepEqual(evaluate(guarded, { kind: 'charge' }, features).hits, [], JSON.stringify(features));
    }
    // `any` is true as soon as one known branch is true, whatever the unknown ones.
    assert.deepEqual(evaluate(guarded, { kind: 'charge' }, { account_age_hours: 0.5 }).hits.map((h) => h.rule), ['any-known']);
    // and `not` of a known false is true.
    assert.deepEqual(evaluate(guarded, { kind: 'charge' }, { amount: 5 }).hits.map((h) => h.rule), ['plain', 'negated', 'any-known']);
  });

  it('all / any / not and every comparison op decide as written', () => {
    const ops = set(
      ruleYaml('eq', 'when: { feature: dob_matches, op: "==", value: false }'),
      ruleYaml('ne', 'when: { feature: link_method, op: "!=", value: redirect }'),
      ruleYaml('gt', 'when: { feature: amount, op: ">", value: 10 }'),
      ruleYaml('le', 'when: { feature: amount, op: "<=", value: 10 }'),
      ruleYaml('in', 'when: { feature: amount, op: in, value: [7, 10] }'),
      ruleYaml('all', 'when: { all: [ { feature: amount, op: ">=", value: 10 }, { not: { feature: dob_matches, op: "==", value: true } } ] }'),
      ruleYaml('listed', 'when: { feature: email_domain, in_list: bad_domains }'),
    );
    const fired = (features: Record<string, string | number | boolean | null>) => evaluate(ops, { kind: 'charge' }, features).hits.map((h) => h.rule);
    assert.deepEqual(fired({ amount: 10, dob_matches: false, link_method: 'pin_only' }), ['eq', 'ne', 'le', 'in', 'all']);
    assert.deepEqual(fired({ amount: 11, dob_matches: true, link_method: 'redirect' }), ['gt']);
    assert.deepEqual(fired({ email_domain: ' EVIL.example ' }), ['listed']); // lists match trimmed and case-insensitively
    assert.deepEqual(fired({ email_domain: 'sub.evil.example' }), []); // exact domains only
  });

  it('features carried by the event map onto registry names', () => {
    assert.deepEqual(featuresFromEvent({
      kind: 'link_complete', walletId: 'wal_1', amount: 3000,
      attributes: { method: 'pin_only', name_match_score: 72, dob_matches: true, policy: 'secure' },
    }), { amount: 3000, name_match_score: 72, dob_matches: true, link_method: 'pin_only', link_age_hours: null,
      link_holder_confirmed: null, link_phone_matches: null, account_link_age_hours: null, first_large_charge: null, new_destination: null,
      minutes_since_charge: null, login_failed: null });
  });
});

describe('parseRuleSet refuses a bad file, naming the rule and the reason', () => {
  const refusal = (text: string): RuleFileError => {
    try {
      parseRuleSet(text, { source: 'bad.yaml' });
    } catch (err) {
      assert.ok(err instanceof RuleFileError, `a RuleFileError, got ${String(err)}`);
      return err;
    }
    assert.fail('the file was accepted');
  };
  const oneRule = (extra: string, base?: Parameters<typeof ruleYaml>[2]) =>
    ['version: 1', 'rules:', ruleYaml('ok-rule', 'when: { feature: amount, op: ">", value: 1 }'), ruleYaml('bad-rule', extra, base)].join('\n');

  const cases: Array<{ name: string; text: string; rule: string | null; reason: RegExp; line?: number }> = [
    { name: 'unknown feature', text: oneRule('when: { feature: amonut, op: ">", value: 1 }'), rule: "'bad-rule' (rules[1])", reason: /when: unknown feature 'amonut'/ },
    { name: 'unknown feature deep in a condition', text: oneRule('when: { all: [ { feature: amount, op: ">", value: 1 }, { not: { feature: nope, op: "==", value: 1 } } ] }'), rule: "'bad-rule' (rules[1])", reason: /when\.all\[1\]\.not: unknown feature 'nope'/ },
    { name: 'windowed count over an unknown base', text: oneRule('when: { feature: signup_per_ip_6h, op: ">", value: 1 }'), rule: "'bad-rule' (rules[1])", reason: /unknown feature 'signup_per_ip_6h'/ },
    { name: 'windowed count longer than 90 days', text: oneRule('when: { feature: signups_per_ip_91d, op: ">", value: 1 }'), rule: "'bad-rule' (rules[1])", reason: /unknown feature 'signups_per_ip_91d'/ },
    { name: 'windowed count of zero length', text: oneRule('when: { feature: signups_per_ip_0h, op: ">", value: 1 }'), rule: "'bad-rule' (rules[1])", reason: /unknown feature 'signups_per_ip_0h'/ },
    { name: 'windowed count compared with a string', text: oneRule('when: { feature: charges_per_wallet_7d, op: "==", value: many }'), rule: "'bad-rule' (rules[1])", reason: /'charges_per_wallet_7d' is a number/ },
    { name: 'unknown op', text: oneRule('when: { feature: amount, op: "=>", value: 1 }'), rule: "'bad-rule' (rules[1])", reason: /unknown op "=>"/ },
    { name: 'op that does not fit the type', text: oneRule('when: { feature: email_domain, op: ">", value: a }'), rule: "'bad-rule' (rules[1])", reason: /op > does not apply to the string feature 'email_domain'/ },
    { name: 'wrong value type', text: oneRule('when: { feature: amount, op: ">=", value: "1000" }'), rule: "'bad-rule' (rules[1])", reason: /wrong value type: 'amount' is a number but value is string "1000"/ },
    { name: 'wrong value type in a list', text: oneRule('when: { feature: link_method, op: in, value: [redirect, 3] }'), rule: "'bad-rule' (rules[1])", reason: /wrong value type: 'link_method' is a string but the list holds number 3/ },
    { name: 'unknown list', text: oneRule('when: { feature: email_domain, in_list: nowhere }'), rule: "'bad-rule' (rules[1])", reason: /unknown list "nowhere"/ },
    { name: 'list match on a number feature', text: ['version: 1', 'lists: { l: { values: [a] } }', 'rules:', ruleYaml('bad-rule', 'when: { feature: amount, in_list: l }')].join('\n'), rule: "'bad-rule' (rules[0])", reason: /amount' is a number; list matches need a string feature/ },
    { name: 'duplicate id', text: ['version: 1', 'rules:', ruleYaml('same', 'when: { feature: amount, op: ">", value: 1 }'), ruleYaml('same', 'when: { feature: amount, op: ">", value: 2 }')].join('\n'), rule: "'same' (rules[1])", reason: /duplicate id 'same' \(first used by rules\[0\]\)/, line: 10 },
    { name: 'unknown event kind', text: oneRule('when: { feature: amount, op: ">", value: 1 }', { events: '[charge, topup]', action: 'review', score: '1' }), rule: "'bad-rule' (rules[1])", reason: /unknown event kind "topup"/ },
    { name: 'score above 100', text: oneRule('when: { feature: amount, op: ">", value: 1 }', { events: '[charge]', action: 'review', score: '101' }), rule: "'bad-rule' (rules[1])", reason: /score 101 is out of range/ },
    { name: 'negative score', text: oneRule('when: { feature: amount, op: ">", value: 1 }', { events: '[charge]', action: 'review', score: '-1' }), rule: "'bad-rule' (rules[1])", reason: /score -1 is out of range/ },
    { name: 'unknown action', text: oneRule('when: { feature: amount, op: ">", value: 1 }', { events: '[charge]', action: 'block', score: '1' }), rule: "'bad-rule' (rules[1])", reason: /unknown action "block"/ },
    { name: 'unknown mode', text: oneRule('when: { feature: amount, op: ">", value: 1 }\nmode: dry-run'), rule: "'bad-rule' (rules[1])", reason: /unknown mode "dry-run"/ },
    { name: 'misspelt key', text: oneRule('when: { feature: amount, op: ">", value: 1 }\nrational: x'), rule: "'bad-rule' (rules[1])", reason: /unknown key `rational`/ },
    { name: 'missing when', text: oneRule(''), rule: "'bad-rule' (rules[1])", reason: /`when` is required/ },
    { name: 'id not kebab-case', text: ['version: 1', 'rules:', ruleYaml('Bad_Rule', 'when: { feature: amount, op: ">", value: 1 }')].join('\n'), rule: "'Bad_Rule' (rules[0])", reason: /`id` must be kebab-case/ },
    { name: 'wrong version', text: 'version: 2\nrules: []', rule: null, reason: /unsupported version 2/, line: 1 },
    { name: 'malformed YAML', text: 'version: 1\nrules:\n  - id: a\n    when: { feature: amount\n  - id: b', rule: null, reason: /malformed YAML/, line: 5 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const err = refusal(c.text);
      assert.equal(err.rule, c.rule);
      assert.match(err.reason, c.reason);
      assert.match(err.message, /^bad\.yaml:\d+: /, 'names the file and a line');
      if (c.line !== undefined) assert.equal(err.line, c.line);
      if (c.rule) assert.ok(err.message.includes(`rule ${c.rule}`));
    });
  }

  it('points at the line of the bad rule', () => {
    const err = refusal(oneRule('when: { feature: amonut, op: ">", value: 1 }'));
    assert.equal(err.line, 16); // the `when:` line of the second rule
  });
});

describe('windowed counts: a rule picks its own window with no code change', () => {
  it('parses base, number and unit, from a minute to 90 days', () => {
    assert.deepEqual(parseWindowedFeature('signups_per_ip_6h'), { base: 'signups_per_ip', windowSeconds: 6 * 3600 });
    assert.deepEqual(parseWindowedFeature('pin_failures_per_ip_15m'), { base: 'pin_failures_per_ip', windowSeconds: 900 });
    assert.deepEqual(parseWindowedFeature('wallets_per_device_90d'), { base: 'wallets_per_device', windowSeconds: 90 * 86_400 });
    for (const bad of ['signups_per_ip', 'signups_per_ip_6', 'signups_per_ip_06h', 'signups_per_ip_6w', 'amount_6h', 'signups_per_ip_2161h']) {
      assert.equal(parseWindowedFeature(bad), null, bad);
    }
  });

  it('loads a rule over a new window and fires on it', () => {
    const rules = set(ruleYaml('burst-6h', 'when: { feature: signups_per_ip_6h, op: ">=", value: 8 }', { events: '[signup]', action: 'review', score: '50' }));
    assert.equal(evaluate(rules, { kind: 'signup' }, { signups_per_ip_6h: 8 }).action, 'review');
    assert.equal(evaluate(rules, { kind: 'signup' }, { signups_per_ip_6h: 7 }).action, 'allow');
    assert.equal(evaluate(rules, { kind: 'signup' }, {}).action, 'allow', 'not computed: unknown, never fires');
  });

  it('tells the engine which windowed counts the loaded rules read (the fixed vocabulary is computed anyway)', () => {
    const rules = set(
      ruleYaml('burst-6h', 'when: { all: [ { feature: signups_per_ip_6h, op: ">=", value: 8 }, { feature: signups_per_ip_24h, op: ">=", value: 1 } ] }', { events: '[signup]', action: 'review', score: '50' }),
      ruleYaml('spray-2h', 'when: { not: { feature: pin_failures_per_ip_2h, op: "<", value: 3 } }', { events: '[login]', action: 'deny', score: '90' }),
    );
    assert.deepEqual(windowedFeaturesOf(rules).sort(), ['pin_failures_per_ip_2h', 'signups_per_ip_6h']);
  });
});
