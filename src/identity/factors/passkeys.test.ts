import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SoftAuthenticator } from '../../../test-support/soft-authenticator.js';
import {
  newCeremonyChallenge, passkeyRegistrationOptions, passkeyRequestOptions, verifyPasskeyAssertion, verifyPasskeyRegistration,
  type RegisteredPasskey, type RelyingParty,
} from './passkeys.js';

const RP: RelyingParty = { id: 'localhost', name: 'koza', origins: ['http://localhost:8080'] };

async function registered(authenticator: SoftAuthenticator): Promise<RegisteredPasskey> {
  const challenge = newCeremonyChallenge();
  const options = await passkeyRegistrationOptions(RP, { walletId: 'wal_test', account: 'hanako@example.jp', challenge, existing: [] });
  const passkey = await verifyPasskeyRegistration(RP, { response: authenticator.register(options), expectedChallenge: challenge });
  assert.ok(passkey, 'registration verifies');
  return passkey;
}

describe('passkeys (WebAuthn) against a software authenticator', () => {
  it('registration options name the relying party, the account and the wallet as user handle, and require user verification', async () => {
    const challenge = newCeremonyChallenge();
    const options = await passkeyRegistrationOptions(RP, { walletId: 'wal_test', account: 'hanako@example.jp', challenge, existing: [] });
    assert.deepEqual(options.rp, { name: 'koza', id: 'localhost' });
    assert.equal(options.challenge, challenge);
    assert.equal(options.user.name, 'hanako@example.jp');
    assert.equal(Buffer.from(options.user.id, 'base64url').toString(), 'wal_test');
    assert.equal(options.authenticatorSelection?.userVerification, 'required');
    assert.equal(options.attestation, 'none');
  });

  it('a full ceremony: register, then authenticate with a growing counter', async () => {
    const authenticator = new SoftAuthenticator();
    const passkey = await registered(authenticator);
    assert.equal(passkey.signCount, 0);
    let stored = { ...passkey };
    for (const expected of [1, 2]) {
      const challenge = newCeremonyChallenge();
      const options = await passkeyRequestOptions(RP, { challenge, allowed: [stored] });
      assert.deepEqual(options.allowCredentials?.map((c) => c.id), [passkey.credentialId]);
      const result = await verifyPasskeyAssertion(RP, { response: authenticator.assert(options), expectedChallenge: challenge, passkey: stored });
      assert.deepEqual(result, { newSignCount: expected });
      stored = { ...stored, signCount: expected };
    }
  });

  it('refuses a registration for another challenge, origin or relying party, or without user verification', async () => {
    const authenticator = new SoftAuthenticator();
    const challenge = newCeremonyChallenge();
    const options = await passkeyRegistrationOptions(RP, { walletId: 'wal_test', account: 'a@example.jp', challenge, existing: [] });
    const cases = [
      { response: authenticator.register(options), expectedChallenge: newCeremonyChallenge() },
      { response: authenticator.register(options, { origin: 'https://evil.example' }), expectedChallenge: challenge },
      { response: authenticator.register({ ...options, rp: { ...options.rp, id: 'evil.example' } }), expectedChallenge: challenge },
      { response: authenticator.register(options, { withoutUserVerification: true }), expectedChallenge: challenge },
    ];
    for (const [i, input] of cases.entries()) assert.equal(await verifyPasskeyRegistration(RP, input), null, `case ${i}`);
  });

  it('refuses an assertion for another challenge, origin, key, or with a counter that went back (a clone)', async () => {
    const authenticator = new SoftAuthenticator();
    const passkey = await registered(authenticator);
    const other = await registered(new SoftAuthenticator());
    const challenge = newCeremonyChallenge();
    const options = await passkeyRequestOptions(RP, { challenge, allowed: [passkey] });
    const verify = (response: ReturnType<SoftAuthenticator['assert']>, overrides: Partial<Parameters<typeof verifyPasskeyAssertion>[1]> = {}) =>
      verifyPasskeyAssertion(RP, { response, expectedChallenge: challenge, passkey, ...overrides });
    assert.equal(await verify(authenticator.assert(options), { expectedChallenge: newCeremonyChallenge() }), null);
    assert.equal(await verify(authenticator.assert(options, { origin: 'https://evil.example' })), null);
    assert.equal(await verify(authenticator.assert(options, { withoutUserVerification: true })), null);
    assert.equal(await verify(authenticator.assert(options), { passkey: { ...other, credentialId: passkey.credentialId } }), null);
    authenticator.setSignCount(passkey.credentialId, 4);
    assert.equal(await verify(authenticator.assert(options), { passkey: { ...passkey, signCount: 9 } }), null);
    assert.deepEqual(await verify(authenticator.assert(options), { passkey: { ...passkey, signCount: 5 } }), { newSignCount: 6 });
  });
});
