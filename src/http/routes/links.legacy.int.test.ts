// The legacy-2020 policy reproduces the 2020 wallet (SPEC §9), end to end over HTTP against the bank sandbox on both
// storage backends: a name and an e-mail open a wallet that links a stranger's account with its number and PIN alone,
// nobody compares the holder, nobody tells the holder, the first day has no cooling-off, and a second wallet can do it too.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachBackend } from '../../../test-support/backends.js';
import { signUpVerified } from '../../../test-support/api-client.js';
import {
  accountOf, expectOk, expectProblemOver, HolderPicker, startLinkWorld, type LinkWorld,
} from '../../../test-support/links-for-tests.js';
import { listRiskSignals } from '../../risk/signals.js';
import type { SandboxHolderAccount } from '../../sandbox/banks/admin.js';

forEachBackend('bank links (legacy-2020)', (db, backend) => {
  let world: LinkWorld;
  let picker: HolderPicker;
  before(async () => {
    world = await startLinkWorld(backend, db(), { env: { KOZA_POLICY: 'legacy-2020' } });
    picker = new HolderPicker(world.sandbox);
  });
  after(async () => { await world?.close(); });

  const koza = () => world.koza;
  const admin = () => world.sandbox.admin;

  /** What the 2020 thieves did: a wallet in the victim's name, then the victim's account number and PIN. */
  async function linkAsThief(victim: SandboxHolderAccount, method?: 'pin_only') {
    const thief = await signUpVerified(world.app);
    const started = expectOk(await koza().post('/v1/links', {
      bank_code: victim.bank_code, ...(method ? { method } : {}), account: accountOf(victim), pin: victim.pin, name_kana: victim.name_kana,
    }, thief.token), 201);
    const link = expectOk(await koza().post(`/v1/links/${started.link_request_id}/complete`, {}, thief.token), 201);
    return { thief, started, link };
  }

  it('offers PIN only first wherever the bank takes it, as the 2020 wallet did', async () => {
    const banks = expectOk(await koza().get('/v1/banks'), 200);
    assert.equal(banks.policy, 'legacy-2020');
    const pinOnlyBanks = (banks.data as Array<{ link_methods: string[] }>).filter((b) => b.link_methods.includes('pin_only'));
    assert.equal(pinOnlyBanks.length, 11, 'the 11 of 35 banks where a PIN was enough');
    assert.ok(pinOnlyBanks.every((b) => b.link_methods[0] === 'pin_only'));
  });

  it('replays 2020: an L0 wallet links a stranger\'s account with number and PIN, unchecked, unannounced, uncapped', async () => {
    const victim = await picker.pick((h) => h.link_methods.includes('pin_only') && h.link_methods.includes('pin_otp'));
    const { thief, started, link } = await linkAsThief(victim);
    assert.equal(started.method, 'pin_only', 'PIN only is preferred even where the bank offers an OTP');
    assert.equal('otp_sent_to' in started, false, 'bank protocol v2: nothing of the holder\'s phone');
    assert.equal(link.status, 'active');
    assert.equal(link.cooling_off, null, 'no cooling-off: the full limits from the first minute');
    assert.equal(link.holder_notified_at, null);
    assert.ok(!(await admin().inbox(victim)).some((m) => m.sender === 'koza'), 'the holder is told nothing');
    assert.equal(await admin().lastOtp(victim.registered_phone, victim.bank_code), null, 'no code ever reached the holder\'s phone');
    const created = (await listRiskSignals(db(), thief.walletId)).find((s) => s.kind === 'link_created');
    assert.equal(created?.detail.policy, 'legacy-2020');

    // And nothing stops a second wallet from linking the same account.
    const second = await linkAsThief(victim, 'pin_only');
    assert.equal(second.link.status, 'active');
    assert.equal((await admin().links(victim)).filter((l) => l.revoked_at === null).length, 2);
  });

  it('still needs the right PIN, and a name to take on trust', async () => {
    const victim = await picker.pick((h) => h.link_methods.includes('pin_only'));
    const thief = await signUpVerified(world.app);
    const wrongPin = victim.pin === '0000' ? '1111' : '0000';
    // Bank protocol v2: the start answers the same for any PIN; pin_only judges the PIN at completion.
    const started = expectOk(await koza().post('/v1/links', {
      bank_code: victim.bank_code, account: accountOf(victim), pin: wrongPin, name_kana: victim.name_kana,
    }, thief.token), 201);
    expectProblemOver(await koza().post(`/v1/links/${started.link_request_id}/complete`, {}, thief.token), 422, 'bank-credentials-rejected');
    assert.deepEqual(await admin().links(victim), []);
    const failure = (await listRiskSignals(db(), thief.walletId)).find((s) => s.kind === 'link_credentials_rejected');
    assert.ok(failure && typeof failure.detail.account_key === 'string' && !JSON.stringify(failure.detail).includes(victim.account_number));
    expectProblemOver(await koza().post('/v1/links', {
      bank_code: victim.bank_code, account: accountOf(victim), pin: victim.pin,
    }, thief.token), 400, 'invalid-request');
    expectProblemOver(await koza().post('/v1/links', {
      bank_code: victim.bank_code, method: 'pin_only', name_kana: victim.name_kana,
    }, thief.token), 400, 'invalid-request');
  });
});
