// When a day or month limit starts afresh: Japan midnight (UTC+9, no daylight saving), whatever the server's zone.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { nextJstDayStart, nextJstMonthStart } from './limits.js';
import { formatJst } from '../display.js';

it('a day limit starts afresh at the next 00:00 JST, which is 15:00 UTC', () => {
  // 23:59 JST on 6 December is 14:59 UTC: the limit starts again one minute later.
  assert.equal(nextJstDayStart(new Date('2026-12-06T14:59:00Z')).toISOString(), '2026-12-06T15:00:00.000Z');
  // 00:00 JST exactly belongs to the new day: the next start is a day later.
  assert.equal(nextJstDayStart(new Date('2026-12-06T15:00:00Z')).toISOString(), '2026-12-07T15:00:00.000Z');
  assert.equal(formatJst(nextJstDayStart(new Date('2026-12-06T02:00:00Z'))), '2026-12-07 00:00 JST');
});

it('a month limit starts afresh at 00:00 JST on the 1st, across a year end', () => {
  assert.equal(nextJstMonthStart(new Date('2026-12-06T02:00:00Z')).toISOString(), '2026-12-31T15:00:00.000Z');
  assert.equal(formatJst(nextJstMonthStart(new Date('2026-12-06T02:00:00Z'))), '2027-01-01 00:00 JST');
  // 31 January 20:00 UTC is already 1 February in Japan: the next start is 1 March.
  assert.equal(formatJst(nextJstMonthStart(new Date('2027-01-31T20:00:00Z'))), '2027-03-01 00:00 JST');
});
