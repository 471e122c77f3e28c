// X-Forwarded-For counts only from a peer KOZA_TRUST_PROXY trusts: otherwise any client could pick the address the
// rules (sign-ups, PIN spraying) count by. Over real HTTP on 127.0.0.1, on PGlite (no storage behaviour at stake).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { buildApp } from './app.js';
import type { App } from './context.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { ConfigError, loadConfig } from '../config.js';
import { signUpVerified, testConfig } from '../../test-support/api-client.js';

describe('KOZA_TRUST_PROXY', () => {
  let db: Db;
  before(async () => {
    db = await openDb({ dataDir: 'memory://' });
    await migrate(db);
  });
  after(async () => { await db?.close(); });

  /** Signs in over HTTP with X-Forwarded-For, and answers the address koza recorded for the device. */
  async function recordedAddress(app: App, forwardedFor: string): Promise<string | null> {
    const user = await signUpVerified(app);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const deviceId = `trust-proxy-test-${randomUUID()}`;
    const headers = { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor, 'x-device-id': deviceId };
    const signIn = await fetch(`${url}/v1/sessions`, {
      method: 'POST', headers: { ...headers, 'idempotency-key': randomUUID() },
      body: JSON.stringify({ email: user.email, password: 'correct horse battery staple' }),
    });
    assert.equal(signIn.status, 201, await signIn.clone().text());
    const { token } = await signIn.json() as { token: string };
    const devices = await (await fetch(`${url}/v1/devices`, { headers: { authorization: `Bearer ${token}` } })).json() as {
      data: Array<{ last_ip: string | null; user_agent: string | null }>;
    };
    return devices.data.map((d) => d.last_ip).find((ip) => ip !== null && ip !== '127.0.0.1' && !ip.endsWith(':127.0.0.1'))
      ?? devices.data[0]?.last_ip ?? null;
  }

  it('ignores X-Forwarded-For by default: the peer is the client', async () => {
    const app = await buildApp({ db, config: testConfig() });
    try {
      assert.match(await recordedAddress(app, '203.0.113.7') ?? '', /127\.0\.0\.1$/);
    } finally {
      await app.close();
    }
  });

  it('ignores it from a peer the setting does not name', async () => {
    const app = await buildApp({ db, config: testConfig({ KOZA_TRUST_PROXY: '10.0.0.0/8' }) });
    try {
      assert.match(await recordedAddress(app, '203.0.113.8') ?? '', /127\.0\.0\.1$/);
    } finally {
      await app.close();
    }
  });

  it('takes the client address from a trusted proxy', async () => {
    const app = await buildApp({ db, config: testConfig({ KOZA_TRUST_PROXY: '127.0.0.1' }) });
    try {
      assert.equal(await recordedAddress(app, '198.51.100.23'), '198.51.100.23');
    } finally {
      await app.close();
    }
  });

  it('parses the setting: off by default, true, addresses and CIDRs; anything else names the variable', () => {
    const base = { KOZA_DATA: 'memory://', LOG_LEVEL: 'silent' };
    assert.equal(loadConfig(base).trustProxy, false);
    assert.equal(loadConfig({ ...base, KOZA_TRUST_PROXY: 'false' }).trustProxy, false);
    assert.equal(loadConfig({ ...base, KOZA_TRUST_PROXY: 'true' }).trustProxy, true);
    assert.deepEqual(loadConfig({ ...base, KOZA_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1' }).trustProxy, ['127.0.0.1', '10.0.0.0/8', '::1']);
    for (const bad of ['2', 'proxy.example', '10.0.0.0/33', '127.0.0.1/8/1']) {
      assert.throws(() => loadConfig({ ...base, KOZA_TRUST_PROXY: bad }), (err: unknown) =>
        err instanceof ConfigError && err.message.startsWith('KOZA_TRUST_PROXY'), bad);
    }
  });
});
