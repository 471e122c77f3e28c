import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Yen } from '../money.js';
import { describeBinding, sameBinding, stepUpBinding, webauthnChallengeFor } from './step-up-binding.js';
import { KozaError } from '../errors.js';

const yen = (n: number) => n as Yen;

describe('step-up bindings (dynamic linking)', () => {
  it('money actions need an amount and a destination; others take what they change, or nothing', () => {
    assert.deepEqual(stepUpBinding({ action: 'payment', amount: yen(10_000), destination: 'mer_A' }),
      { action: 'payment', amount: 10_000, destination: 'mer_A' });
    assert.deepEqual(stepUpBinding({ action: 'recovery_codes' }), { action: 'recovery_codes', amount: null, destination: null });
    const refused = [
      { action: 'payment', destination: 'mer_A' }, { action: 'withdrawal', amount: yen(1) }, { action: 'charge' },
      { action: 'link', amount: yen(1), destination: 'lnk_1' }, { action: 'factor_removal' },
      { action: 'factor_enrollment', destination: 'fac_1' }, { action: 'recovery_codes', amount: yen(5) },
    ] as const;
    for (const input of refused) {
      assert.throws(() => stepUpBinding(input), (err: unknown) => err instanceof KozaError && err.status === 400, JSON.stringify(input));
    }
  });

  it('says what is approved in words', () => {
    assert.equal(describeBinding({ action: 'payment', amount: yen(600_000), destination: 'mer_B' }), 'Pay ¥600,000 to mer_B');
    assert.equal(describeBinding({ action: 'factor_removal', amount: null, destination: 'fac_1' }), 'Remove the second factor fac_1');
  });

  it('matches only the exact action, amount and destination', () => {
    const a = { action: 'payment', amount: yen(10_000), destination: 'mer_A' } as const;
    assert.equal(sameBinding(a, { ...a }), true);
    assert.equal(sameBinding(a, { ...a, amount: yen(600_000) }), false);
    assert.equal(sameBinding(a, { ...a, destination: 'mer_B' }), false);
    assert.equal(sameBinding(a, { ...a, action: 'withdrawal' }), false);
  });

  it('derives a WebAuthn challenge that changes with every bound field', () => {
    const base = { action: 'payment', amount: yen(10_000), destination: 'mer_A' } as const;
    const challenge = webauthnChallengeFor('stp_1', base);
    assert.match(challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(webauthnChallengeFor('stp_1', { ...base }), challenge);
    const variants = [
      webauthnChallengeFor('stp_2', base), webauthnChallengeFor('stp_1', { ...base, amount: yen(600_000) }),
      webauthnChallengeFor('stp_1', { ...base, destination: 'mer_B' }), webauthnChallengeFor('stp_1', { ...base, action: 'withdrawal' }),
      // No field can bleed into the next: "mer_A" + 10000 is not "mer_A1" + 0000.
      webauthnChallengeFor('stp_1', { action: 'payment', amount: yen(1_000), destination: 'mer_A0' }),
    ];
    assert.equal(new Set([challenge, ...variants]).size, variants.length + 1);
  });
});
