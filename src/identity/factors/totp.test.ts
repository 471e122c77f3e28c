import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTotpCode, newTotpSecret, qrCodeSvg, totpCodeAt, totpProvisioningUri, totpStep } from './totp.js';

// RFC 6238 Appendix B: the SHA-1 secret "12345678901234567890", codes truncated to 6 digits.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const RFC_VECTORS: Array<[seconds: number, code: string]> = [
  [59, '287082'], [1111111109, '081804'], [1111111111, '050471'], [1234567890, '005924'], [2000000000, '279037'],
];

// A fixed clock: 2026-01-01T00:00:10Z, ten seconds into its 30-second step.
const NOW = Date.UTC(2026, 0, 1, 0, 0, 10);
const STEP = 30_000;

describe('TOTP (RFC 6238) with a fixed clock', () => {
  it('computes the RFC 6238 test vectors', () => {
    for (const [seconds, code] of RFC_VECTORS) assert.equal(totpCodeAt(RFC_SECRET, seconds * 1000), code, `T=${seconds}`);
  });

  it('accepts the current code and the codes one step either side, nothing further', () => {
    const secret = newTotpSecret();
    for (const offset of [-1, 0, 1]) {
      const result = checkTotpCode({ secretBase32: secret, code: totpCodeAt(secret, NOW + offset * STEP), nowMs: NOW, lastUsedStep: null });
      assert.deepEqual(result, { ok: true, step: totpStep(NOW) + offset }, `offset ${offset}`);
    }
    for (const offset of [-3, -2, 2, 3]) {
      const code = totpCodeAt(secret, NOW + offset * STEP);
      // A code of a far step can collide with a near one (1 in 10^6); skip that draw rather than flake.
      if ([-1, 0, 1].some((near) => totpCodeAt(secret, NOW + near * STEP) === code)) continue;
      assert.deepEqual(checkTotpCode({ secretBase32: secret, code, nowMs: NOW, lastUsedStep: null }), { ok: false, reason: 'wrong' });
    }
  });

  it('refuses a used step and any older step, but takes a newer one', () => {
    const secret = newTotpSecret();
    const current = totpStep(NOW);
    const now = totpCodeAt(secret, NOW);
    assert.deepEqual(checkTotpCode({ secretBase32: secret, code: now, nowMs: NOW, lastUsedStep: current }), { ok: false, reason: 'replayed' });
    const older = totpCodeAt(secret, NOW - STEP);
    assert.deepEqual(checkTotpCode({ secretBase32: secret, code: older, nowMs: NOW, lastUsedStep: current }), { ok: false, reason: 'replayed' });
    const newer = totpCodeAt(secret, NOW + STEP);
    assert.deepEqual(checkTotpCode({ secretBase32: secret, code: newer, nowMs: NOW, lastUsedStep: current }), { ok: true, step: current + 1 });
  });

  it('refuses anything that is not six digits without looking further', () => {
    const secret = newTotpSecret();
    const code = totpCodeAt(secret, NOW);
    for (const bad of ['', '12345', '1234567', `${code} `, code.replace(/./, 'a'), '１２３４５６']) {
      assert.deepEqual(checkTotpCode({ secretBase32: secret, code: bad, nowMs: NOW, lastUsedStep: null }), { ok: false, reason: 'wrong' }, bad);
    }
  });

  it('makes 160-bit base32 secrets, a new one each time', () => {
    const a = newTotpSecret();
    assert.match(a, /^[A-Z2-7]{32}$/);
    assert.notEqual(a, newTotpSecret());
  });

  it('provisions authenticator apps with issuer koza and the e-mail as account, as an offline SVG QR code', async () => {
    const uri = totpProvisioningUri(RFC_SECRET, 'hanako@example.jp');
    const parsed = new URL(uri);
    assert.equal(parsed.protocol, 'otpauth:');
    assert.equal(parsed.host, 'totp');
    assert.equal(decodeURIComponent(parsed.pathname), '/koza:hanako@example.jp');
    assert.equal(parsed.searchParams.get('issuer'), 'koza');
    assert.equal(parsed.searchParams.get('secret'), RFC_SECRET);
    assert.equal(parsed.searchParams.get('digits'), '6');
    assert.equal(parsed.searchParams.get('period'), '30');
    const svg = await qrCodeSvg(uri);
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<path /);
  });
});
