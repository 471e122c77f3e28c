// Configuration of banks and linking: the policy profile, where the banks are, the key seed, cooling-off.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, SANDBOX_BANK_KEY_SEED } from './config.js';

const base = { KOZA_DATA: 'memory://', LOG_LEVEL: 'silent' };

describe('configuration: banks and linking', () => {
  it('defaults to the secure policy, no bank, the development key seed in sandbox mode, 72 h and ¥10,000 a day', () => {
    const config = loadConfig(base);
    assert.equal(config.policy, 'secure');
    assert.equal(config.bankSandboxUrl, undefined);
    assert.equal(config.bankKeySeed, SANDBOX_BANK_KEY_SEED);
    assert.equal(config.bankTimeoutMs, 5_000);
    assert.equal(config.publicUrl, undefined);
    assert.equal(config.coolingOffHours, 72);
    assert.equal(config.coolingOffDailyCap, 10_000);
  });

  it('takes the legacy-2020 profile, a bank URL, a key seed, a public URL and cooling-off values', () => {
    const config = loadConfig({
      ...base, KOZA_POLICY: 'legacy-2020', KOZA_BANK_SANDBOX_URL: 'http://127.0.0.1:8090/', KOZA_BANK_KEY_SEED: 'a-long-enough-seed',
      KOZA_PUBLIC_URL: 'https://wallet.example.jp', KOZA_COOLING_OFF_HOURS: '24', KOZA_COOLING_OFF_DAILY_CAP: '5000',
      KOZA_BANK_TIMEOUT_MS: '2000',
    });
    assert.equal(config.policy, 'legacy-2020');
    assert.equal(config.bankSandboxUrl, 'http://127.0.0.1:8090');
    assert.equal(config.bankKeySeed, 'a-long-enough-seed');
    assert.equal(config.publicUrl, 'https://wallet.example.jp');
    assert.deepEqual([config.coolingOffHours, config.coolingOffDailyCap, config.bankTimeoutMs], [24, 5_000, 2_000]);
  });

  it('stops the start on a value it does not understand, naming the variable', () => {
    const bad: Array<[Record<string, string>, string]> = [
      [{ KOZA_POLICY: 'lenient' }, 'KOZA_POLICY'],
      [{ KOZA_BANK_SANDBOX_URL: 'ftp://banks' }, 'KOZA_BANK_SANDBOX_URL'],
      [{ KOZA_PUBLIC_URL: 'not a url' }, 'KOZA_PUBLIC_URL'],
      [{ KOZA_BANK_KEY_SEED: 'short' }, 'KOZA_BANK_KEY_SEED'],
      // Outside sandbox mode the published development seed would let anyone sign as koza.
      [{ KOZA_SANDBOX: 'false', KOZA_BANK_SANDBOX_URL: 'https://gateway.example.jp' }, 'KOZA_BANK_KEY_SEED'],
      [{ KOZA_COOLING_OFF_DAILY_CAP: '-1' }, 'KOZA_COOLING_OFF_DAILY_CAP'],
      [{ KOZA_COOLING_OFF_HOURS: '1.5' }, 'KOZA_COOLING_OFF_HOURS'],
      [{ KOZA_BANK_TIMEOUT_MS: '10' }, 'KOZA_BANK_TIMEOUT_MS'],
    ];
    for (const [env, variable] of bad) {
      assert.throws(() => loadConfig({ ...base, ...env }), (err: unknown) => err instanceof ConfigError && err.message.startsWith(variable),
        JSON.stringify(env));
    }
  });
});
