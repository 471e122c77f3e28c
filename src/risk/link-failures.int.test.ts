// Credential testing and PIN spraying through the real link flow (koza → bank sandbox over 127.0.0.1): the bank's
// refusals of wrong PINs become failure events; two wallets failing on one account make the next link to it refused,
// and one address failing on three accounts makes its next link refused, before the bank is asked at all.
// Every request in this file comes from 127.0.0.1, so the file holds attacks only; ordinary links are elsewhere.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../test-support/backends.js';
import {
  accountOf, enrolTotp, expectProblemOver, HolderPicker, linkProof, personAt, startLinkWorld, walletOf,
  type Authenticator, type LinkWorld, type PersonWallet,
} from '../../test-support/links-for-tests.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import { listDecisions } from './decisions.js';

forEachBackend('risk engine on bank credential failures', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  before(async () => {
    world = await startLinkWorld(backend, db());
    picker = new HolderPicker(world.sandbox);
  });
  after(async () => { await world?.close(); });

  /** A thief's own verified wallet (its own identity, as after eKYC) with an authenticator app. */
  const thief = async (): Promise<{ wallet: PersonWallet; totp: Authenticator }> => {
    const own = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    const wallet = await walletOf(world.app, await personAt(world.app, own.person_index));
    return { wallet, totp: await enrolTotp(world.app, wallet) };
  };
  const tryLink = async (who: { wallet: PersonWallet; totp: Authenticator }, victim: SandboxHolderAccount, pin: string) =>
    world.koza.post('/v1/links', {
      bank_code: victim.bank_code, method: 'pin_otp', account: accountOf(victim), pin,
      step_up_proof: await linkProof(world.app, who.wallet, who.totp, victim.bank_code),
    }, who.wallet.token);
  const wrongPin = (h: SandboxHolderAccount) => (h.pin === '0000' ? '1111' : '0000');

  it('refuses the next link to an account that wrong PINs from two wallets were tried on, even with the right PIN', async () => {
    const a = await thief();
    const b = await thief();
    const victim = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    expectProblemOver(await tryLink(a, victim, wrongPin(victim)), 422, 'bank-credentials-rejected');
    expectProblemOver(await tryLink(b, victim, wrongPin(victim)), 422, 'bank-credentials-rejected');
    const refused = expectProblemOver(await tryLink(a, victim, victim.pin), 403, 'link-refused');
    assert.doesNotMatch(JSON.stringify(refused), /credential|rule|wallets/i);
    assert.equal(await world.sandbox.admin.lastOtp(victim.registered_phone, victim.bank_code), null, 'the bank never sent the holder a code');

    const decisions = (await listDecisions(db(), { walletId: a.wallet.walletId }, { limit: 50 })).items;
    const failure = decisions.find((d) => d.eventKind === 'link_start' && d.features.pin_failures_per_account_24h === 1)!;
    assert.ok(failure, 'the failure itself is an event');
    const denied = decisions.find((d) => d.eventKind === 'link_start' && d.action === 'deny')!;
    assert.ok(denied.ruleHits.some((h) => h.rule === 'bank-account-credential-testing'), JSON.stringify(denied.ruleHits));
    assert.equal(denied.features.wallets_failing_per_bank_account_24h, 2);
    assert.match(denied.accountRef ?? '', /^typed:/, 'the account is the keyed typed account, never the number');
  });

  it('refuses every further link from an address that failed PINs on three accounts (PIN spraying)', async () => {
    const sprayer = await thief();
    const victims = [await picker.pick((h) => h.link_methods.includes('pin_otp')), await picker.pick((h) => h.link_methods.includes('pin_otp'))];
    for (const v of victims) expectProblemOver(await tryLink(sprayer, v, wrongPin(v)), 422, 'bank-credentials-rejected');
    // The first test's account makes three accounts failed from 127.0.0.1.
    const next = await picker.pick((h) => h.link_methods.includes('pin_otp'));
    expectProblemOver(await tryLink(sprayer, next, next.pin), 403, 'link-refused');
    const denied = (await listDecisions(db(), { walletId: sprayer.wallet.walletId }, { limit: 50 })).items
      .find((d) => d.action === 'deny')!;
    assert.ok(denied.ruleHits.some((h) => h.rule === 'ip-pin-spraying'), JSON.stringify(denied.ruleHits));
    assert.equal(denied.features.accounts_with_failures_per_ip_24h, 3);
  });
});
