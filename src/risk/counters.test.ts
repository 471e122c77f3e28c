// Tests the counter store's bucket math: which minute and hour buckets a sliding window sums.
// Must never need a database: the ranges are pure arithmetic.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bucketStart, bucketsFor, HOUR, MINUTE, windowRanges, type BucketRange } from './counters.js';

/** Is an event at `t` (epoch seconds) inside the ranges? Its minute or its hour bucket must be summed, not both. */
function covered(ranges: BucketRange[], t: number): number {
  let n = 0;
  for (const r of ranges) {
    const start = bucketStart(t, r.granularity);
    if (start >= r.from && start < r.to) n += 1;
  }
  return n;
}

describe('bucket math', () => {
  it('aligns buckets to the minute and the hour', () => {
    assert.equal(bucketStart(3_725, MINUTE), 3_720);
    assert.equal(bucketStart(3_725, HOUR), 3_600);
    assert.deepEqual(bucketsFor(new Date(3_725_000)), [{ granularity: 60, start: 3_720 }, { granularity: 3600, start: 3_600 }]);
  });

  it('reads a short window from minute buckets only', () => {
    const now = 10 * HOUR + 30 * MINUTE + 15;
    assert.deepEqual(windowRanges(now, 10 * MINUTE), [{ granularity: 60, from: now - 15 - 10 * MINUTE, to: now - 15 + MINUTE }]);
  });

  it('reads a day as ragged minute ends around whole hours', () => {
    const now = 100 * HOUR + 30 * MINUTE + 15;
    assert.deepEqual(windowRanges(now, 24 * HOUR), [
      { granularity: 60, from: 76 * HOUR + 30 * MINUTE, to: 77 * HOUR },
      { granularity: 3600, from: 77 * HOUR, to: 100 * HOUR },
      { granularity: 60, from: 100 * HOUR, to: 100 * HOUR + 31 * MINUTE },
    ]);
  });

  it('starts windows over 48 h at an hour boundary, where minute buckets may already be pruned', () => {
    const now = 1000 * HOUR + 30 * MINUTE + 15;
    const ranges = windowRanges(now, 30 * 24 * HOUR);
    assert.deepEqual(ranges[0], { granularity: 3600, from: 280 * HOUR, to: 1000 * HOUR });
    assert.equal(ranges.length, 2);
  });

  it('refuses a window that is not a positive whole number of seconds', () => {
    assert.throws(() => windowRanges(0, 0), RangeError);
    assert.throws(() => windowRanges(0, 1.5), RangeError);
  });

  it('counts every event once if it is within the window, and never one older than the widened start', () => {
    fc.assert(fc.property(
      fc.integer({ min: 100 * 24 * HOUR, max: 200 * 24 * HOUR }),
      fc.integer({ min: 1, max: 40 * 24 * HOUR }),
      fc.integer({ min: 0, max: 45 * 24 * HOUR }),
      (now, window, age) => {
        const ranges = windowRanges(now, window);
        const t = now - age;
        const slack = window > 48 * HOUR ? HOUR : MINUTE;
        const n = covered(ranges, t);
        assert.ok(n <= 1, 'an event is summed at most once');
        if (age <= window) assert.equal(n, 1, `event ${age}s old is inside a ${window}s window`);
        if (age >= window + slack) assert.equal(n, 0, `event ${age}s old is outside a ${window}s window`);
        const minuteRows = ranges.filter((r) => r.granularity === MINUTE).reduce((s, r) => s + (r.to - r.from) / MINUTE, 0);
        assert.ok(minuteRows <= 121, 'a window reads at most ~2 hours of minute buckets');
      },
    ), { numRuns: 2000 });
  });
});
