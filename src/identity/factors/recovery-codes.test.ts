import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode, RECOVERY_CODE_COUNT } from './recovery-codes.js';

describe('recovery codes', () => {
  it('are ten distinct codes of ten unambiguous characters', () => {
    const codes = newRecoveryCodes();
    assert.equal(codes.length, RECOVERY_CODE_COUNT);
    assert.equal(new Set(codes).size, RECOVERY_CODE_COUNT);
    for (const code of codes) assert.match(code, /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
  });

  it('read what people type: case, dashes, spaces, O for 0 and I or L for 1', () => {
    assert.equal(normalizeRecoveryCode('7K2M9-X4Q8D'), '7k2m9x4q8d');
    assert.equal(normalizeRecoveryCode(' 7k2m9 x4q8d '), '7k2m9x4q8d');
    assert.equal(normalizeRecoveryCode('Oa1bc-dIeLf'), '0a1bcd1e1f');
    for (const bad of ['', '7k2m9-x4q8', '7k2m9-x4q8dd', '7k2m9-x4q8u', '7k2m9_x4q8d']) assert.equal(normalizeRecoveryCode(bad), null, bad);
  });

  it('are stored as keyed hashes that differ per server key and per batch', () => {
    const key = randomBytes(32);
    const h = hashRecoveryCode(key, 'rcb_1', '7k2m9x4q8d');
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(hashRecoveryCode(key, 'rcb_1', '7k2m9x4q8d'), h);
    assert.notEqual(hashRecoveryCode(key, 'rcb_2', '7k2m9x4q8d'), h);
    assert.notEqual(hashRecoveryCode(randomBytes(32), 'rcb_1', '7k2m9x4q8d'), h);
  });
});
