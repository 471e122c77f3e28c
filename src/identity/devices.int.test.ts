// Device records on both backends: an id from X-Device-Id and the same id from the koza_device cookie are one device;
// rows stored before the fingerprint existed keep matching; the fingerprint follows the device's latest request.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import { DEFAULT_PASSWORD, expectJson, get, outbox, post, signUpVerified, testApp } from '../../test-support/api-client.js';
import type { App } from '../http/context.js';
import { seedDevice, seedWallet } from '../risk/fixtures.js';
import { deviceKeyOf, listDevices, requestFingerprint, touchDevice, type ClientInfo } from './devices.js';

const UA = 'Mozilla/5.0 (Linux; Android 14) Chrome/131.0';
const uniqueId = () => `dev${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`.padEnd(20, '0');

forEachBackend('devices', (db) => {
  let app: App;
  before(async () => { app = await testApp(db()); });
  after(async () => { await app.close(); });

  it('stores the request fingerprint and keeps the device across header and cookie', async () => {
    const walletId = await seedWallet(db(), { createdAt: new Date() });
    const id = uniqueId();
    const app1: ClientInfo = { ip: '203.0.113.10', userAgent: UA, deviceId: id, acceptLanguage: 'ja-JP' };
    const first = await touchDevice(db(), walletId, app1);
    assert.equal(first.isNew, true);
    const web: ClientInfo = { ip: '198.51.100.20', userAgent: 'Safari/19', deviceId: id, acceptLanguage: 'en' };
    const again = await touchDevice(db(), walletId, web);
    assert.equal(again.isNew, false);
    assert.equal(again.deviceId, first.deviceId);
    const [device] = await listDevices(db(), walletId);
    assert.equal(device!.requestFingerprint, requestFingerprint(web), 'the latest request’s attributes');
    assert.equal(device!.lastIp, '198.51.100.20');
  });

  it('matches rows stored before the fingerprint existed, by id and by user-agent hash, and fills it in', async () => {
    const walletId = await seedWallet(db(), { createdAt: new Date(Date.now() - 86_400_000) });
    const id = uniqueId();
    const byId: ClientInfo = { ip: '203.0.113.10', userAgent: UA, deviceId: id };
    const byAgent: ClientInfo = { ip: '203.0.113.11', userAgent: 'Old Browser/1.0', deviceId: undefined };
    await seedDevice(db(), { walletId, deviceKey: `id:${id}`, firstSeenAt: new Date(Date.now() - 86_400_000) });
    await seedDevice(db(), { walletId, deviceKey: deviceKeyOf(byAgent), firstSeenAt: new Date(Date.now() - 86_400_000) });
    assert.deepEqual((await listDevices(db(), walletId)).map((d) => d.requestFingerprint), [null, null]);
    assert.equal((await touchDevice(db(), walletId, byId)).isNew, false);
    assert.equal((await touchDevice(db(), walletId, byAgent)).isNew, false);
    const stored = await db().query<{ device_key: string; request_fingerprint: string }>(
      'SELECT device_key, request_fingerprint FROM devices WHERE wallet_id = $1 ORDER BY device_key', [walletId]);
    assert.deepEqual(stored.rows, [
      { device_key: `id:${id}`, request_fingerprint: requestFingerprint(byId) },
      { device_key: deviceKeyOf(byAgent), request_fingerprint: requestFingerprint(byAgent) },
    ].sort((a, b) => a.device_key.localeCompare(b.device_key)));
  });

  it('over HTTP, a sign-in with the koza_device cookie is the device that sent X-Device-Id: no new-device notice', async () => {
    const user = await signUpVerified(app);
    const id = uniqueId();
    const login = (headers: Record<string, string>) =>
      post(app, '/v1/sessions', { email: user.email, password: DEFAULT_PASSWORD }, { headers });
    expectJson(await login({ 'x-device-id': id, 'user-agent': UA }), 201);
    const notices = async () => (await outbox(app, user.email)).filter((m) => m.subject === 'New sign-in to your koza wallet').length;
    const before = await notices();
    const session = expectJson<{ token: string }>(
      await login({ cookie: `theme=dark; koza_device=${id}`, 'user-agent': UA, 'accept-language': 'ja' }), 201);
    assert.equal(await notices(), before, 'a known device');
    const devices = expectJson<{ data: Array<{ id: string }> }>(await get(app, '/v1/devices', session.token), 200).data;
    const ids = await db().query<{ id: string }>('SELECT id FROM devices WHERE wallet_id = $1 AND device_key = $2', [user.walletId, `id:${id}`]);
    assert.ok(devices.some((d) => d.id === ids.rows[0]!.id));
    // A cookie with another id is another device, and its owner hears of it.
    expectJson(await login({ cookie: `koza_device=${uniqueId()}`, 'user-agent': UA }), 201);
    assert.equal(await notices(), before + 1);
  });
});
