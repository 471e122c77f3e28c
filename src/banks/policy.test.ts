// The two policy profiles (SPEC §9) as data: secure is everything §5.3 asks; legacy-2020 is the 2020 wallet.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LEGACY_2020, linkPolicy, SECURE, usableMethods } from './policy.js';

describe('link policy profiles', () => {
  it('secure: L2, a second factor, a step-up, name matching, cooling-off, holder notice, one account one wallet; never PIN only', () => {
    assert.equal(linkPolicy('secure'), SECURE);
    assert.deepEqual(SECURE.methods, ['redirect', 'pin_otp']);
    assert.equal(SECURE.minLevel, 'L2');
    for (const rule of ['secondFactor', 'stepUp', 'nameMatching', 'coolingOff', 'notifyHolder', 'oneAccountOneWallet'] as const) {
      assert.equal(SECURE[rule], true, rule);
    }
    assert.equal(SECURE.nameSource, 'verified_identity');
  });

  it('legacy-2020: name and e-mail are enough, PIN only preferred, and none of the checks', () => {
    assert.equal(linkPolicy('legacy-2020'), LEGACY_2020);
    assert.equal(LEGACY_2020.methods[0], 'pin_only');
    assert.equal(LEGACY_2020.minLevel, 'L0');
    for (const rule of ['secondFactor', 'stepUp', 'nameMatching', 'coolingOff', 'notifyHolder', 'oneAccountOneWallet'] as const) {
      assert.equal(LEGACY_2020[rule], false, rule);
    }
    assert.equal(LEGACY_2020.nameSource, 'typed');
  });

  it('usable methods are the policy\'s, offered by the bank, in the policy\'s order', () => {
    assert.deepEqual(usableMethods(SECURE, ['pin_only', 'pin_otp', 'redirect']), ['redirect', 'pin_otp']);
    assert.deepEqual(usableMethods(SECURE, ['pin_only']), []);
    assert.deepEqual(usableMethods(LEGACY_2020, ['redirect', 'pin_only']), ['pin_only', 'redirect']);
  });
});
