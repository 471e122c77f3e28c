// Graduated trust (issue 10): the new-link cap in rolling windows, an unconfirmed PIN+text link stuck at it for life,
// the ramp with age and clean history, refusals that name the next step, and none of it under legacy-2020.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkTrust, DEFAULT_TRUST_RAMP, parseTrustRamp, trustLimitFor, trustRefusalDetail, type AccountTrustFacts } from './link-trust.js';

const HOUR = 3_600_000;
const first = new Date('2026-03-01T00:00:00Z');
const at = (hours: number) => new Date(first.getTime() + hours * HOUR);
const config = {
  policy: 'secure' as const, coolingOffHours: 72, coolingOffDailyCap: 10_000, newLinkTotalCap: 30_000, trustRamp: DEFAULT_TRUST_RAMP,
};
const facts = (over: Partial<AccountTrustFacts> = {}): AccountTrustFacts => ({
  firstLinkedAt: first, method: 'redirect', holderConfirmed: true, clean: true, last24h: [], totalSinceFirstLink: 0, ...over,
});

describe('trustLimitFor', () => {
  it('new-link cap for 72 h: ¥10,000 per rolling 24 h and ¥30,000 in all', () => {
    assert.deepEqual(trustLimitFor(facts(), at(71.9), config), { stage: 'new_link', per24hYen: 10_000, totalYen: 30_000, nextStageAt: at(72) });
  });

  it('ramps a confirmed or redirect link with clean history: week 1, week 2, weeks 3-4, then full', () => {
    assert.equal(trustLimitFor(facts(), at(72), config)?.per24hYen, 50_000);
    assert.equal(trustLimitFor(facts({ method: 'pin_otp', holderConfirmed: true }), at(7 * 24 + 1), config)?.per24hYen, 100_000);
    assert.equal(trustLimitFor(facts(), at(20 * 24), config)?.per24hYen, 200_000);
    assert.deepEqual(trustLimitFor(facts(), at(28 * 24), config), { stage: 'full', per24hYen: null, totalYen: null, nextStageAt: null });
  });

  it('keeps an unconfirmed PIN+text link, or one with a holder dispute, at the new-link cap for life', () => {
    for (const f of [facts({ method: 'pin_otp', holderConfirmed: false }), facts({ method: 'pin_only', holderConfirmed: false }), facts({ clean: false })]) {
      const limit = trustLimitFor(f, at(24 * 365), config);
      assert.deepEqual(limit, { stage: 'unconfirmed', per24hYen: 10_000, totalYen: 30_000, nextStageAt: null });
    }
  });

  it('has none under legacy-2020', () => {
    assert.equal(trustLimitFor(facts(), at(0), { ...config, policy: 'legacy-2020' }), null);
  });
});

describe('checkTrust', () => {
  it('rolling windows: three ¥10,000 days fill the ¥30,000 new-link cap, a fourth charge inside 72 h is refused', () => {
    const used = facts({ totalSinceFirstLink: 30_000, last24h: [] });
    const verdict = checkTrust(used, 1, at(70), config);
    assert.equal(verdict.allowed, false);
    assert.equal(verdict.remainingYen, 0);
    assert.deepEqual(verdict.growsAt, at(72));
    assert.match(trustRefusalDetail(verdict), /¥10,000 per 24 hours and ¥30,000 in total until 2026-03-04 09:00 JST.*¥0 is left now; more from 2026-03-04 09:00 JST/);
  });

  it('the 24 h cap binds: room returns when the oldest charge leaves the window', () => {
    const verdict = checkTrust(facts({ last24h: [{ at: at(10), amount: 8_000 }], totalSinceFirstLink: 8_000 }), 3_000, at(20), config);
    assert.deepEqual([verdict.allowed, verdict.remainingYen, verdict.growsAt], [false, 2_000, at(34)]);
    assert.equal(checkTrust(facts({ last24h: [{ at: at(10), amount: 8_000 }], totalSinceFirstLink: 8_000 }), 2_000, at(20), config).allowed, true);
  });

  it('an unconfirmed link is refused with the next step: confirm at the bank', () => {
    const verdict = checkTrust(facts({ method: 'pin_otp', holderConfirmed: false, totalSinceFirstLink: 30_000 }), 5_000, at(100), config);
    assert.equal(verdict.allowed, false);
    assert.equal(verdict.growsAt, null);
    assert.match(trustRefusalDetail(verdict), /confirm the link in the e-mail your bank sent, or sign in to your bank.*¥0 is left now\./);
  });

  it('full trust leaves the level\'s limits alone', () => {
    assert.deepEqual(checkTrust(facts(), 500_000, at(24 * 60), config).allowed, true);
  });
});

describe('parseTrustRamp', () => {
  it('reads hours:yen steps in ascending order and refuses anything else', () => {
    assert.deepEqual(parseTrustRamp('24:20000,100:40000'), [{ untilHours: 24, per24hYen: 20_000 }, { untilHours: 100, per24hYen: 40_000 }]);
    assert.equal(parseTrustRamp(undefined), DEFAULT_TRUST_RAMP);
    assert.equal(typeof parseTrustRamp('100:1,50:2'), 'string');
    assert.equal(typeof parseTrustRamp('a week'), 'string');
  });
});
