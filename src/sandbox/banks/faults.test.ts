// Fault injection decides from a seeded PRNG: the same settings give the same sequence of outcomes, so a test that
// meets a time-out can replay it; bad settings are refused by name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FaultBook, NO_FAULTS, mergeFaults } from './faults.js';

function outcomes(book: FaultBook, bankCode: string, n: number): string[] {
  return Array.from({ length: n }, () => {
    const { outcome } = book.plan(bankCode);
    return outcome.kind === 'timeout' ? `timeout:${outcome.apply}` : outcome.kind;
  });
}

describe('bank sandbox faults', () => {
  it('meets nothing without faults, and reports the bank operational', () => {
    const book = new FaultBook(2020);
    assert.deepEqual(new Set(outcomes(book, '0001', 50)), new Set(['none']));
    assert.equal(book.status('0001'), 'operational');
    assert.deepEqual(book.get('0001'), NO_FAULTS);
  });

  it('replays the same outcomes after the same settings, per bank', () => {
    const settings = { error_rate: 0.3, timeout_rate: 0.3, apply_before_timeout: 0.5 };
    const a = new FaultBook(2020);
    a.set('0001', settings);
    const first = outcomes(a, '0001', 40);
    a.set('0001', settings);
    assert.deepEqual(outcomes(a, '0001', 40), first);
    const b = new FaultBook(2020);
    b.set('0001', settings);
    assert.deepEqual(outcomes(b, '0001', 40), first);
    b.set('0005', settings);
    assert.notDeepEqual(outcomes(b, '0005', 40), first);
    const kinds = new Set(first);
    for (const kind of ['none', 'unavailable', 'timeout:true', 'timeout:false']) assert.ok(kinds.has(kind), `${kind} in ${[...kinds]}`);
    assert.equal(a.status('0001'), 'degraded');
  });

  it('answers every call unavailable in an outage or at error rate 1, and holds every call at timeout rate 1', () => {
    const book = new FaultBook(7);
    book.set('0001', { outage: true });
    assert.equal(book.status('0001'), 'outage');
    assert.deepEqual(new Set(outcomes(book, '0001', 20)), new Set(['unavailable']));
    book.set('0001', { outage: false, error_rate: 1 });
    assert.deepEqual(new Set(outcomes(book, '0001', 20)), new Set(['unavailable']));
    book.set('0001', { error_rate: 0, timeout_rate: 1, apply_before_timeout: 1, timeout_ms: 250, latency_ms: 5 });
    assert.deepEqual(book.plan('0001'), { latencyMs: 5, outcome: { kind: 'timeout', apply: true, holdMs: 250 } });
    book.clear('0001');
    assert.deepEqual(book.get('0001'), NO_FAULTS);
  });

  it('refuses rates outside 0..1 and times that are not whole milliseconds', () => {
    assert.throws(() => mergeFaults(NO_FAULTS, { error_rate: 1.5 }), /error_rate/);
    assert.throws(() => mergeFaults(NO_FAULTS, { timeout_rate: -0.1 }), /timeout_rate/);
    assert.throws(() => mergeFaults(NO_FAULTS, { latency_ms: 1.5 }), /latency_ms/);
    assert.throws(() => mergeFaults(NO_FAULTS, { timeout_ms: Number.NaN }), /timeout_ms/);
    assert.deepEqual(mergeFaults(NO_FAULTS, { latency_ms: 20 }), { ...NO_FAULTS, latency_ms: 20 });
  });
});
