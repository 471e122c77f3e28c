// Every 429 says when: seconds, the instant and the JST minute (rounded up), whatever the throttle put in it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_RETRY_AFTER_SECONDS, withRetryAfter } from './retry-after.js';
import type { Problem } from './problem.js';

const now = new Date('2026-12-06T05:04:10Z'); // 14:04:10 JST
const base: Problem = { type: 'urn:koza:problem:phone-code-rate-limited', title: 'Too many codes sent', status: 429 };

describe('withRetryAfter', () => {
  it('names the instant and the JST minute, rounded up so it is never before the limit lifts', () => {
    const p = withRetryAfter({ ...base, detail: 'At most 3 codes to one number in 15 minutes.', retry_after_s: 30 }, now);
    assert.equal(p.retry_after_s, 30);
    assert.equal(p.retry_after_seconds, 30);
    assert.equal(p.retry_at, '2026-12-06T05:04:40.000Z');
    assert.equal(p.retry_at_jst, '2026-12-06 14:05 JST');
    assert.equal(p.detail, 'At most 3 codes to one number in 15 minutes. Try again after 2026-12-06 14:05 JST.');
  });

  it('reads the older retry_after_seconds and a lock\'s locked_until; a bare 429 gets a minute', () => {
    assert.equal(withRetryAfter({ ...base, retry_after_seconds: 90 }, now).retry_after_s, 90);
    const locked = withRetryAfter({ ...base, detail: 'Locked.', locked_until: '2026-12-06T05:19:10Z' }, now);
    assert.equal(locked.retry_after_s, 15 * 60);
    assert.equal(locked.retry_at_jst, '2026-12-06 14:20 JST');
    const bare = withRetryAfter({ ...base }, now);
    assert.equal(bare.retry_after_s, DEFAULT_RETRY_AFTER_SECONDS);
    assert.equal(bare.detail, 'Too many codes sent. Try again after 2026-12-06 14:06 JST.');
  });

  it('replaces a vague "Try again later." and leaves a detail that already names a JST time alone', () => {
    assert.equal(withRetryAfter({ ...base, detail: 'Too many. Try again later.', retry_after_s: 60 }, now).detail,
      'Too many. Try again after 2026-12-06 14:06 JST.');
    const named = 'Wait until 2026-12-06 15:00 JST.';
    assert.equal(withRetryAfter({ ...base, detail: named, retry_after_s: 60 }, now).detail, named);
  });

  it('leaves other statuses untouched', () => {
    const p: Problem = { type: 'urn:koza:problem:forbidden', title: 'No', status: 403, detail: 'No.' };
    assert.deepEqual(withRetryAfter(p, now), p);
  });
});
