import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { afterFailure, afterSuccess, isLocked, lockMinutes, type LockoutState } from './lockout.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

function fail(state: LockoutState, times: number, now = T0): { state: LockoutState; locks: number } {
  let locks = 0;
  for (let i = 0; i < times; i++) {
    const next = afterFailure(state, now);
    state = next.state;
    if (next.lockedNow) locks += 1;
  }
  return { state, locks };
}

describe('second-factor lockout', () => {
  it('locks on the fifth wrong try in a row, for 15 minutes', () => {
    const four = fail(afterSuccess(), 4);
    assert.equal(four.locks, 0);
    assert.equal(isLocked(four.state, T0), false);
    const five = fail(four.state, 1);
    assert.equal(five.locks, 1);
    assert.equal(isLocked(five.state, minutes(14.9)), true);
    assert.equal(isLocked(five.state, minutes(15)), false);
  });

  it('a success in between starts the count over', () => {
    const { state } = fail(afterSuccess(), 4);
    assert.equal(state.consecutiveFailures, 4);
    assert.equal(fail(afterSuccess(), 4).locks, 0);
  });

  it('repeated locks last longer: 15 min, 1 h, 4 h, 16 h, then a day at most', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 9].map(lockMinutes), [15, 60, 240, 960, 1440, 1440]);
    const { state, locks } = fail(afterSuccess(), 10);
    assert.equal(locks, 2);
    assert.equal(state.lockouts, 2);
    assert.deepEqual(state.lockedUntil, minutes(60));
  });
});
