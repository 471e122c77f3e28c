// The rule decider merges the event's own facts with stored features and reads the current rule set each time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ruleDecider } from './rule-decider.js';
import { parseRuleSet } from './rules.js';

const rulesWith = (threshold: number) => parseRuleSet(`version: 1
rules:
  - id: big-young-link-charge
    description: Big charge on a young link
    rationale: test
    events: [charge]
    when: { all: [ { feature: amount, op: '>=', value: ${threshold} }, { feature: wallets_per_device_24h, op: '>=', value: 1 } ] }
    action: challenge
    score: 40
`);

describe('ruleDecider', () => {
  it('decides from event facts plus stored features, and follows a reloaded rule set', async () => {
    let current = rulesWith(10000);
    const decide = ruleDecider(() => current, async () => ({ wallets_per_device_24h: 1, amount: null }));
    const event = { kind: 'charge' as const, walletId: 'wal_1', amount: 20000 };
    const first = await decide(event);
    assert.equal(first.action, 'challenge'); // amount came from the event although the store said null
    assert.deepEqual(first.reasons, [{ rule: 'big-young-link-charge', text: 'Big charge on a young link' }]);
    current = rulesWith(50000);
    assert.equal((await decide(event)).action, 'allow');
  });
});
