// The pay-in decision without a database: the owner's transfer is credited, everything else goes back with a reason a
// person can act on (in Japanese and English), and the virtual account number's check digit catches a mistyped digit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../wallets/limits.js';
import { decidePayIn, payInRoom, type PayInFacts } from './pay-in-decision.js';
import { hasValidCheckDigit, virtualAccountNumber } from './pay-ins.js';

const owner: NonNullable<PayInFacts['wallet']> = {
  status: 'active', emailVerified: true, mayCharge: true, identityNameKana: 'ヤマダ タロウ', balance: 0, moneyInToday: 0, moneyInMonth: 0,
};
const facts = (over: Partial<PayInFacts> = {}, wallet: Partial<typeof owner> = {}): PayInFacts => ({
  amount: 30_000, senderNameKana: 'ﾔﾏﾀﾞ ﾀﾛｳ', wallet: { ...owner, ...wallet }, limits: DEFAULT_LIMITS.L2, ...over,
});

describe('decidePayIn', () => {
  it('credits the owner\'s own transfer, the bank\'s half-width form of the verified name', () => {
    assert.deepEqual(decidePayIn(facts()), { action: 'credit', nameScore: 100 });
  });

  it('returns another person\'s transfer, an unknown account and a wallet that cannot take money, each saying why', () => {
    const other = decidePayIn(facts({ senderNameKana: 'ｽｽﾞｷ ﾊﾅｺ' }));
    assert.equal(other.action === 'return' && other.reason, 'name_mismatch');
    assert.match(other.action === 'return' ? other.ja : '', /ご本人名義/);
    assert.equal((decidePayIn(facts({ wallet: null })) as { reason: string }).reason, 'unknown_account');
    assert.equal((decidePayIn(facts({}, { status: 'frozen' })) as { reason: string }).reason, 'wallet_unavailable');
    const unverified = decidePayIn(facts({}, { identityNameKana: null, mayCharge: false }));
    assert.match(unverified.action === 'return' ? unverified.en : '', /POST \/v1\/identity\/verifications/);
  });

  it('returns what would pass a limit and says how much fits now, in yen', () => {
    const over = decidePayIn(facts({ amount: 200_000 }, { balance: 900_000 }));
    assert.equal(over.action === 'return' && over.reason, 'limit_exceeded');
    assert.match(over.action === 'return' ? over.en : '', /Send at most ¥100,000 now/);
    assert.equal(payInRoom(DEFAULT_LIMITS.L2, { ...owner, moneyInToday: 450_000 }), 50_000);
    assert.equal(decidePayIn(facts({ amount: 50_000 }, { moneyInToday: 450_000 })).action, 'credit');
  });
});

describe('virtual account numbers', () => {
  it('carry a check digit that any one mistyped digit breaks', () => {
    for (const seed of [0, 1, 123_456, 999_999]) {
      const number = virtualAccountNumber(() => seed);
      assert.ok(hasValidCheckDigit(number), number);
      for (let i = 0; i < 7; i++) {
        const typo = number.slice(0, i) + String((Number(number[i]) + 1) % 10) + number.slice(i + 1);
        assert.ok(!hasValidCheckDigit(typo), `${number} → ${typo}`);
      }
    }
  });
});
