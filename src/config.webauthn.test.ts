import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './config.js';

const base = { KOZA_DATA: 'memory://', LOG_LEVEL: 'silent' };

describe('configuration: the WebAuthn relying party', () => {
  it('defaults to localhost and the local web app', () => {
    const config = loadConfig(base);
    assert.equal(config.webauthnRpId, 'localhost');
    assert.equal(config.webauthnRpName, 'koza');
    assert.deepEqual(config.webauthnOrigins, ['http://localhost:8080']);
  });

  it('takes a domain and its https origins, subdomains included', () => {
    const config = loadConfig({
      ...base, KOZA_WEBAUTHN_RP_ID: 'koza.example.jp', KOZA_WEBAUTHN_RP_NAME: 'koza wallet',
      KOZA_WEBAUTHN_ORIGINS: 'https://koza.example.jp, https://app.koza.example.jp:8443',
    });
    assert.equal(config.webauthnRpId, 'koza.example.jp');
    assert.equal(config.webauthnRpName, 'koza wallet');
    assert.deepEqual(config.webauthnOrigins, ['https://koza.example.jp', 'https://app.koza.example.jp:8443']);
  });

  it('stops the start on a value browsers would refuse, naming the variable', () => {
    const bad: Array<[Record<string, string>, string]> = [
      [{ KOZA_WEBAUTHN_RP_ID: 'https://koza.example.jp' }, 'KOZA_WEBAUTHN_RP_ID'],
      [{ KOZA_WEBAUTHN_RP_ID: 'Koza.Example.JP' }, 'KOZA_WEBAUTHN_RP_ID'],
      [{ KOZA_WEBAUTHN_RP_ID: 'koza.example.jp' }, 'KOZA_WEBAUTHN_ORIGINS'], // the default origin is not on it
      [{ KOZA_WEBAUTHN_RP_ID: 'koza.example.jp', KOZA_WEBAUTHN_ORIGINS: 'http://koza.example.jp' }, 'KOZA_WEBAUTHN_ORIGINS'],
      [{ KOZA_WEBAUTHN_RP_ID: 'koza.example.jp', KOZA_WEBAUTHN_ORIGINS: 'https://evil.example' }, 'KOZA_WEBAUTHN_ORIGINS'],
      [{ KOZA_WEBAUTHN_RP_ID: 'koza.example.jp', KOZA_WEBAUTHN_ORIGINS: 'https://notkoza.example.jp' }, 'KOZA_WEBAUTHN_ORIGINS'],
      [{ KOZA_WEBAUTHN_ORIGINS: 'http://localhost:8080/app' }, 'KOZA_WEBAUTHN_ORIGINS'],
      [{ KOZA_WEBAUTHN_ORIGINS: 'not a url' }, 'KOZA_WEBAUTHN_ORIGINS'],
    ];
    for (const [env, variable] of bad) {
      assert.throws(() => loadConfig({ ...base, ...env }), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${variable}:`),
        JSON.stringify(env));
    }
  });
});
