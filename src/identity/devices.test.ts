// The device signal read from a request: X-Device-Id, else the koza_device cookie; the key formats rows are stored
// under; the network an address belongs to; and the request fingerprint.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientInfoFrom, deviceIdFromCookie, deviceKeyOf, ipNetworkOf, requestFingerprint, type ClientInfo } from './devices.js';

const ID = 'f3b1c2d4e5a60718293a4b5c6d7e8f90';
const OTHER = 'AbCdEfGhIjKlMnOpQrStUvWxYz012345';
const UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15';

describe('deviceIdFromCookie', () => {
  it('finds koza_device among other cookies, with or without spaces and quotes', () => {
    assert.equal(deviceIdFromCookie(`koza_device=${ID}`), ID);
    assert.equal(deviceIdFromCookie(`theme=dark; koza_device=${ID}; lang=ja`), ID);
    assert.equal(deviceIdFromCookie(`theme=dark;koza_device=${ID}`), ID);
    assert.equal(deviceIdFromCookie(`koza_device="${ID}"`), ID);
    assert.equal(deviceIdFromCookie(`  koza_device = ${ID} `), ID);
  });

  it('ignores other names, look-alike names and malformed values', () => {
    assert.equal(deviceIdFromCookie(undefined), undefined);
    assert.equal(deviceIdFromCookie(''), undefined);
    assert.equal(deviceIdFromCookie(`xkoza_device=${ID}`), undefined);
    assert.equal(deviceIdFromCookie(`koza_device_old=${ID}`), undefined);
    assert.equal(deviceIdFromCookie('koza_device=short'), undefined);
    assert.equal(deviceIdFromCookie(`koza_device=${'a'.repeat(129)}`), undefined);
    assert.equal(deviceIdFromCookie(`koza_device=${ID.slice(0, 20)}%20${ID.slice(20)}`), undefined);
    assert.equal(deviceIdFromCookie('koza_device'), undefined);
    assert.equal(deviceIdFromCookie(`koza_device=; other=${ID}`), undefined);
  });

  it('takes the first koza_device cookie; a malformed first one is not replaced by a later one', () => {
    assert.equal(deviceIdFromCookie(`koza_device=${ID}; koza_device=${OTHER}`), ID);
    assert.equal(deviceIdFromCookie(`koza_device=bad!; koza_device=${OTHER}`), undefined);
  });
});

describe('clientInfoFrom', () => {
  it('prefers a well-formed X-Device-Id, then the cookie, then nothing', () => {
    assert.equal(clientInfoFrom('192.0.2.1', { 'x-device-id': ID, cookie: `koza_device=${OTHER}` }).deviceId, ID);
    assert.equal(clientInfoFrom('192.0.2.1', { cookie: `koza_device=${OTHER}` }).deviceId, OTHER);
    assert.equal(clientInfoFrom('192.0.2.1', { 'x-device-id': 'too-short', cookie: `koza_device=${OTHER}` }).deviceId, OTHER);
    assert.equal(clientInfoFrom('192.0.2.1', { 'x-device-id': 'too-short' }).deviceId, undefined);
    assert.equal(clientInfoFrom('192.0.2.1', {}).deviceId, undefined);
  });

  it('reads the user agent and Accept-Language, and the first of a repeated header', () => {
    const info = clientInfoFrom('192.0.2.1', { 'user-agent': UA, 'accept-language': 'ja-JP,ja;q=0.9', 'x-device-id': [ID, OTHER] });
    assert.deepEqual(info, { ip: '192.0.2.1', userAgent: UA, deviceId: ID, acceptLanguage: 'ja-JP,ja;q=0.9' });
  });
});

describe('deviceKeyOf keeps the stored key formats', () => {
  it('keys the same id the same way whether it came in the header or the cookie', () => {
    const viaHeader = deviceKeyOf(clientInfoFrom('192.0.2.1', { 'x-device-id': ID, 'user-agent': UA }));
    const viaCookie = deviceKeyOf(clientInfoFrom('198.51.100.7', { cookie: `koza_device=${ID}`, 'user-agent': 'another browser' }));
    assert.equal(viaHeader, `id:${ID}`);
    assert.equal(viaCookie, viaHeader);
  });

  it('falls back to the user-agent hash exactly as before', () => {
    const key = deviceKeyOf({ ip: '192.0.2.1', userAgent: UA, deviceId: undefined });
    assert.match(key, /^ua:[0-9a-f]{32}$/);
    assert.equal(deviceKeyOf(clientInfoFrom('203.0.113.9', { 'user-agent': UA, 'accept-language': 'en' })), key);
    // A hand-made ClientInfo with a raw (unvalidated) id still gets the old treatment.
    assert.equal(deviceKeyOf({ ip: '192.0.2.1', userAgent: UA, deviceId: 'bad id' }), key);
  });
});

describe('ipNetworkOf', () => {
  it('takes an IPv4 address to its /24, and an IPv4-mapped IPv6 address too', () => {
    assert.equal(ipNetworkOf('203.0.113.77'), '203.0.113.0/24');
    assert.equal(ipNetworkOf('::ffff:203.0.113.77'), '203.0.113.0/24');
    assert.equal(ipNetworkOf('::FFFF:203.0.113.5'), '203.0.113.0/24');
  });

  it('takes an IPv6 address to its /48, however it is written', () => {
    assert.equal(ipNetworkOf('2001:db8:abcd:12::1'), '2001:db8:abcd::/48');
    assert.equal(ipNetworkOf('2001:0db8:abcd:0012:0000:0000:0000:0001'), '2001:db8:abcd::/48');
    assert.equal(ipNetworkOf('2001:DB8:ABCD:ffff::'), '2001:db8:abcd::/48');
    assert.equal(ipNetworkOf('2001:db8::1'), '2001:db8:0::/48');
    assert.equal(ipNetworkOf('::1'), '0:0:0::/48');
    assert.equal(ipNetworkOf('fe80::1%eth0'), 'fe80:0:0::/48');
    assert.equal(ipNetworkOf('64:ff9b::192.0.2.1'), '64:ff9b:0::/48');
  });

  it('answers unknown for what is not an address', () => {
    assert.equal(ipNetworkOf(''), 'unknown');
    assert.equal(ipNetworkOf('localhost'), 'unknown');
    assert.equal(ipNetworkOf('300.1.2.3'), 'unknown');
  });
});

describe('requestFingerprint', () => {
  const base: ClientInfo = { ip: '203.0.113.77', userAgent: UA, deviceId: ID, acceptLanguage: 'ja-JP,ja;q=0.9' };

  it('is a short hash, the same for one network, language and agent whatever the device id', () => {
    const fp = requestFingerprint(base);
    assert.match(fp, /^rf1:[0-9a-f]{32}$/);
    assert.equal(requestFingerprint({ ...base, ip: '203.0.113.200', deviceId: OTHER }), fp, 'same /24, another id');
    assert.equal(requestFingerprint({ ...base, acceptLanguage: 'JA-jp, ja;q=0.9' }), fp, 'case and spaces do not matter');
  });

  it('changes with the agent, the language or the network', () => {
    const fp = requestFingerprint(base);
    assert.notEqual(requestFingerprint({ ...base, userAgent: `${UA} Edge` }), fp);
    assert.notEqual(requestFingerprint({ ...base, acceptLanguage: 'en-US' }), fp);
    assert.notEqual(requestFingerprint({ ...base, ip: '203.0.114.77' }), fp);
    assert.notEqual(requestFingerprint({ ...base, acceptLanguage: undefined }), fp);
  });

  it('groups an IPv6 household by its /48', () => {
    const v6 = { ...base, ip: '2001:db8:abcd:1::10' };
    assert.equal(requestFingerprint({ ...v6, ip: '2001:db8:abcd:2::20' }), requestFingerprint(v6));
    assert.notEqual(requestFingerprint({ ...v6, ip: '2001:db8:abce:1::10' }), requestFingerprint(v6));
  });
});
