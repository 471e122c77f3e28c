// Cooling-off of new links (SPEC §5.3): a low daily cap for the first hours under secure, none under legacy-2020.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coolingOffLimitFor } from './link-cooling-off.js';

const HOUR = 3_600_000;
const created = new Date('2026-03-01T00:00:00Z');
const secure = { policy: 'secure' as const, coolingOffHours: 72, coolingOffDailyCap: 10_000 };

describe('coolingOffLimitFor', () => {
  it('caps a secure link until its 72nd hour, then lifts', () => {
    assert.deepEqual(coolingOffLimitFor({ createdAt: created }, created, secure),
      { dailyCapYen: 10_000, endsAt: new Date(created.getTime() + 72 * HOUR) });
    assert.equal(coolingOffLimitFor({ createdAt: created }, new Date(created.getTime() + 72 * HOUR - 1), secure)?.dailyCapYen, 10_000);
    assert.equal(coolingOffLimitFor({ createdAt: created }, new Date(created.getTime() + 72 * HOUR), secure), null);
  });

  it('reads hours and cap from the configuration at charge time', () => {
    const limit = coolingOffLimitFor({ createdAt: created }, new Date(created.getTime() + 30 * HOUR),
      { ...secure, coolingOffHours: 24, coolingOffDailyCap: 5_000 });
    assert.equal(limit, null);
    assert.equal(coolingOffLimitFor({ createdAt: created }, created, { ...secure, coolingOffDailyCap: 5_000 })?.dailyCapYen, 5_000);
  });

  it('has none under legacy-2020, as the 2020 wallet had none', () => {
    assert.equal(coolingOffLimitFor({ createdAt: created }, created, { ...secure, policy: 'legacy-2020' }), null);
  });
});
