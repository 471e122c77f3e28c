// What a password must be: long enough, not common, not guessable (zxcvbn score ≥ 3), with the e-mail as a known word.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KozaError } from '../errors.js';
import { assertAcceptablePassword, MIN_PASSWORD_SCORE, passwordScore } from './passwords.js';

function refusal(password: string, context: string[] = []): KozaError {
  try {
    assertAcceptablePassword(password, context);
  } catch (err) {
    assert.ok(err instanceof KozaError);
    return err;
  }
  assert.fail(`${password} was accepted`);
}

describe('password strength', () => {
  it('refuses a word, a year and a symbol (not on any list), saying why and what to do', () => {
    const err = refusal('Password2024!');
    assert.equal(err.code, 'weak-password');
    assert.equal(err.status, 422);
    assert.equal(err.extensions.reason, 'guessable');
    assert.match(err.detail, /passphrase/);
    assert.ok(!err.detail.includes('Password2024!'), 'the refusal does not echo the password');
  });

  it('refuses what a sprayer tries first, and the e-mail or the service name dressed up', () => {
    for (const password of ['Summer2024!', 'Koza2024!', 'qwertyuiop12', 'hanako1990!']) {
      assert.equal(refusal(password, ['hanako@example.jp', 'hanako']).code, 'weak-password', password);
    }
    assert.equal(refusal('password').extensions.reason, 'common');
  });

  it('accepts ordinary passphrases, with no composition rule', () => {
    for (const password of ['correct horse battery staple', 'tsukimi dango on the veranda', 'kettle maple ferry 38', 'a long passphrase']) {
      assert.doesNotThrow(() => assertAcceptablePassword(password, ['user@example.jp', 'user']), password);
      assert.ok(passwordScore(password, ['koza']) >= MIN_PASSWORD_SCORE, password);
    }
  });

  it('keeps the length rule', () => {
    assert.equal(refusal('short').code, 'invalid-request');
    assert.equal(refusal('x'.repeat(257)).code, 'invalid-request');
  });
});
