// Loading rule files from disk and hot reload: a good edit takes effect, a bad edit is reported and the last good set stays.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadRuleFile, watchRuleFile } from './rule-file.js';
import { evaluate, RuleFileError, type RuleSet } from './rules.js';

const root = mkdtempSync(join(tmpdir(), 'koza-rules-'));
after(() => rmSync(root, { recursive: true, force: true }));

function ruleFile(threshold: number | string, action = 'review'): string {
  return `version: 1
lists:
  blocked:
    file: lists/blocked.txt
rules:
  - id: big-charge
    description: A big charge
    rationale: Testing hot reload.
    events: [charge]
    when: { feature: amount, op: '>=', value: ${typeof threshold === 'number' ? threshold : JSON.stringify(threshold)} }
    action: ${action}
    score: 50
  - id: blocked-domain
    description: A blocked domain
    rationale: Testing list reload.
    events: [signup]
    when: { feature: email_domain, in_list: blocked }
    action: deny
    score: 60
`;
}

/** A fresh directory with a rule file and its list; returns the rule file's path. */
function fixture(name: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'lists'), { recursive: true });
  writeFileSync(join(dir, 'lists', 'blocked.txt'), '# blocked\nevil.example\n');
  writeFileSync(join(dir, 'rules.yaml'), ruleFile(1000));
  return join(dir, 'rules.yaml');
}

/** Starts a watcher whose callbacks resolve promises in order, so a test awaits the reload instead of sleeping. */
function watched(path: string) {
  type Outcome = { ok: RuleSet } | { error: RuleFileError };
  const outcomes: Outcome[] = [];
  const waiting: Array<(o: Outcome) => void> = [];
  const push = (o: Outcome) => {
    const next = waiting.shift();
    if (next) next(o); else outcomes.push(o);
  };
  const watcher = watchRuleFile(path, (ok) => push({ ok }), (error) => push({ error }), { debounceMs: 25, persistent: true });
  const next = (): Promise<Outcome> => {
    const ready = outcomes.shift();
    return ready ? Promise.resolve(ready) : new Promise((resolveOutcome) => waiting.push(resolveOutcome));
  };
  return { watcher, next };
}

const decide = (rules: RuleSet, amount: number) => evaluate(rules, { kind: 'charge' }, { amount }).action;

describe('rule files on disk', () => {
  it('loadRuleFile reads the lists relative to the rule file', () => {
    const rules = loadRuleFile(fixture('load'));
    assert.equal(evaluate(rules, { kind: 'signup' }, { email_domain: 'evil.example' }).action, 'deny');
    assert.deepEqual(rules.listFiles, ['lists/blocked.txt']);
  });

  it('a missing list file or rule file is a RuleFileError naming it', () => {
    const path = fixture('missing');
    rmSync(join(path, '..', 'lists', 'blocked.txt'));
    assert.throws(() => loadRuleFile(path), (err: unknown) => err instanceof RuleFileError && /list 'blocked': cannot read lists\/blocked\.txt/.test(err.message));
    assert.throws(() => loadRuleFile(join(root, 'nope.yaml')), (err: unknown) => err instanceof RuleFileError && /cannot read the rule file/.test(err.message));
  });

  it('a bad file at start refuses to start the watcher', () => {
    const path = fixture('bad-start');
    writeFileSync(path, ruleFile('"1000"'));
    assert.throws(() => watchRuleFile(path, () => {}, () => {}), RuleFileError);
  });

  it('hot reload: a good edit takes effect, a bad edit keeps the last good set and is reported, a fix recovers', async () => {
    const path = fixture('reload');
    const { watcher, next } = watched(path);
    try {
      assert.equal(decide(watcher.current(), 500), 'allow');

      writeFileSync(path, ruleFile(100));
      const good = await next();
      assert.ok('ok' in good, 'the good edit loaded');
      assert.equal(decide(good.ok, 500), 'review');
      assert.equal(watcher.current(), good.ok);

      writeFileSync(path, ruleFile(100, 'block'));
      const bad = await next();
      assert.ok('error' in bad, 'the bad edit is reported');
      assert.equal(bad.error.rule, "'big-charge' (rules[0])");
      assert.match(bad.error.reason, /unknown action "block"/);
      assert.equal(watcher.current(), good.ok, 'the last good rule set stays in force');
      assert.equal(decide(watcher.current(), 500), 'review');

      // Saved the way editors do: a new file renamed over the old one.
      writeFileSync(`${path}.tmp`, ruleFile(100, 'deny'));
      renameSync(`${path}.tmp`, path);
      const fixed = await next();
      assert.ok('ok' in fixed, 'the fix loaded');
      assert.equal(decide(watcher.current(), 500), 'deny');
    } finally {
      watcher.close();
    }
  });

  it('hot reload: editing a list file reloads the rule set', async () => {
    const path = fixture('list-reload');
    const { watcher, next } = watched(path);
    try {
      const signup = (rules: RuleSet) => evaluate(rules, { kind: 'signup' }, { email_domain: 'new-spam.example' }).action;
      assert.equal(signup(watcher.current()), 'allow');
      writeFileSync(join(path, '..', 'lists', 'blocked.txt'), 'evil.example\nnew-spam.example\n');
      const reloaded = await next();
      assert.ok('ok' in reloaded);
      assert.equal(signup(watcher.current()), 'deny');
    } finally {
      watcher.close();
    }
  });
});
