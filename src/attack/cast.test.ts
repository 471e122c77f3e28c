// The customer groups' sizes and the analyst's household rule, without a server.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeHousehold } from './analyst.js';
import { CUSTOMER_GROUPS, groupSizes } from './cast.js';

describe('customer groups', () => {
  it('add up to the cast at every size, with about 40 % behind carrier NAT at the default size', () => {
    for (const n of [1, 2, 5, 8, 12, 20, 40, 60, 200, 1000]) {
      const sizes = groupSizes(n);
      assert.equal(CUSTOMER_GROUPS.reduce((s, g) => s + sizes[g], 0), n, `n=${n}: ${JSON.stringify(sizes)}`);
      for (const g of CUSTOMER_GROUPS) assert.ok(sizes[g] >= 0, `${g} at ${n}`);
    }
    assert.deepEqual(groupSizes(2), { ...groupSizes(0), 'own-line': 2 });
    const d = groupSizes(200);
    assert.equal(d['carrier-nat'] + d.reinstall + d['pin-typo'], 80);
    assert.ok(d.cafe >= 10 && d.cafe <= 15);
    assert.equal(d.family, 7);
  });

  it('the analyst releases one household (one family name, all verified) and rejects anything else', () => {
    const names = ['佐藤 太郎', '佐藤 花子', '佐藤 一郎'];
    assert.equal(judgeHousehold(['device-many-names'], names).release, true);
    assert.equal(judgeHousehold(['device-many-names', 'device-wallet-farm-24h'], names).release, true);
    // Held by another rule as well (typed accounts, PIN failures): not a household's review.
    assert.equal(judgeHousehold(['device-many-names', 'wallet-many-typed-accounts-24h'], names).release, false);
    assert.equal(judgeHousehold(['bank-account-auth-failures'], ['佐藤 太郎']).release, false);
    assert.equal(judgeHousehold(['device-many-names'], ['佐藤 太郎']).release, false);
    assert.equal(judgeHousehold(['device-many-names'], ['佐藤 太郎', '鈴木 花子', '佐藤 一郎']).release, false);
    assert.equal(judgeHousehold(['device-many-names'], ['佐藤 太郎', null]).release, false);
    assert.equal(judgeHousehold(['device-many-names'], Array.from({ length: 6 }, () => '佐藤 太郎')).release, false);
  });
});
