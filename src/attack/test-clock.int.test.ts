// The replay's test clock on each backend, in a real world (koza and the bank sandbox over HTTP): a customer charges a
// new link up to its cooling-off cap for the day; 24 simulated hours later the link is one day older and the day's cap
// is fresh again. Every stored instant moved (the ledger journal and the banks' books through their triggers), risk
// counter buckets moved by whole hours, and the hash-chained audit log did not.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backends, testDatabaseUrl } from '../../test-support/backends.js';
import { castFor } from './cast.js';
import { problemCode, RequestMeter, type Answer } from './client.js';
import { CustomerCrowd } from './customers.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import { tallySignals } from './tally.js';
import { postAs, type SandboxPerson } from './wallet-app.js';
import { startWorld, type AttackWorld } from './world.js';

const DAY_MS = 86_400_000;

async function data<T>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return ((await res.json()) as { data: T }).data;
}

for (const backend of backends()) {
  describe(`test clock [${backend.name}]`, () => {
    let world: AttackWorld;
    before(async () => {
      world = await startWorld({
        policy: 'secure', databaseUrl: backend.name === 'postgres' ? testDatabaseUrl() : undefined,
        env: { KOZA_SANDBOX_SEED: '2020', KOZA_COOLING_OFF_DAILY_CAP: '10000', KOZA_COOLING_OFF_HOURS: '72' },
      });
    });
    after(async () => world?.close());

    it('a 24 h advance makes a link a day older for the cooling-off and gives it a fresh day\'s cap', async () => {
      const persons: SandboxPerson[] = [];
      for (let offset: number | null = 0; offset !== null;) {
        const page = await (await fetch(`${world.kozaUrl}/v1/sandbox/identities?limit=100&offset=${offset}`)).json() as
          { data: SandboxPerson[]; next_offset: number | null };
        persons.push(...page.data);
        offset = page.next_offset;
      }
      const holders = await data<SandboxHolderAccount[]>(`${world.banksUrl}/sandbox/holders`);
      const [customer] = castFor(11, { victims: 1, victimBanks: 1, customers: 1, attackers: 1 }, persons, holders).customers;
      customer!.charges = [];
      customer!.payments = [];
      const crowd = new CustomerCrowd(world.kozaUrl, world.banksUrl, [], new RequestMeter());
      await crowd.run([customer!], 1);
      const app = crowd.apps.get(customer!.person.index);
      assert.ok(app?.linkId, JSON.stringify(crowd.log));
      const { wallet, linkId } = app!;
      const charge = (amount: number): Promise<Answer> => postAs(wallet, '/v1/charges', { link_id: linkId, amount }, customer!.password);

      assert.equal((await charge(10_000)).status, 201);
      const capped = await charge(1_000);
      assert.equal(problemCode(capped), 'limit-exceeded', capped.text);

      const linkAt = async () => (await world.db.query<{ t: Date }>('SELECT created_at AS t FROM bank_links WHERE id = $1', [linkId])).rows[0]!.t;
      const journalAt = async () => (await world.db.query<{ t: Date }>('SELECT max(created_at) AS t FROM ledger_transfers')).rows[0]!.t;
      const auditAt = async () => (await world.db.query<{ t: Date | null }>('SELECT max(at) AS t FROM audit_log')).rows[0]!.t;
      const newestBucket = async () => (await world.db.query<{ b: number }>('SELECT max(bucket_start)::int8 AS b FROM risk_counters')).rows[0]!.b;
      const bankBooked = async () => (await world.banksDb.query<{ t: Date }>('SELECT max(booked_at) AS t FROM transfers')).rows[0]!.t;
      const before = { link: await linkAt(), journal: await journalAt(), audit: await auditAt(), bucket: await newestBucket(), bank: await bankBooked() };

      await world.clock.advance(24);
      assert.equal(world.clock.elapsedMs, DAY_MS);
      assert.equal(before.link.getTime() - (await linkAt()).getTime(), DAY_MS);
      assert.equal(before.journal.getTime() - (await journalAt()).getTime(), DAY_MS, 'the append-only journal moved with the clock');
      assert.equal(before.bank.getTime() - (await bankBooked()).getTime(), DAY_MS, 'the banks\' books moved too');
      assert.equal(before.bucket - await newestBucket(), 86_400, 'counter buckets moved by whole hours');
      assert.deepEqual(await auditAt(), before.audit, 'the hash-chained audit log stays as written');
      // Mapped back through the clock, the link was made when it was made.
      assert.equal(world.clock.simulatedAt(await linkAt()), before.link.getTime());

      // A new JST day: the cooling-off cap is fresh; the link is still cooling off (one day of three), so still capped.
      assert.equal((await charge(10_000)).status, 201);
      assert.equal(problemCode(await charge(1_000)), 'limit-exceeded');
      // The money: two days' caps, once each, in koza's records and at the bank.
      const posted = await world.db.query<{ yen: number }>(
        `SELECT coalesce(sum(amount), 0)::int8 AS yen FROM bank_movements WHERE link_id = $1 AND kind = 'charge' AND status = 'posted'`, [linkId]);
      assert.equal(posted.rows[0]!.yen, 20_000);
      const { account } = customer!;
      const passbook = await data<Array<{ descriptor: string; withdrawal: number }>>(
        `${world.banksUrl}/sandbox/banks/${account.bank_code}/accounts/${account.branch_code}/${account.account_number}/passbook`);
      assert.equal(passbook.filter((l) => l.descriptor.startsWith('KOZA')).reduce((s, l) => s + l.withdrawal, 0), 20_000);

      // Past the 72 h cooling-off the wallet's own limits apply alone: more than the cap goes through.
      await world.clock.advance(49);
      const large = await charge(30_000);
      assert.ok(large.status === 201 || problemCode(large) === 'step-up-required', large.text);
    });

    it('the replay\'s signals come from the books: a believed PIN counts only when the bank holds it', async () => {
      const holders = await data<SandboxHolderAccount[]>(`${world.banksUrl}/sandbox/holders`);
      const [right, wrong] = holders.filter((h) => h.link_methods.includes('pin_otp') && !h.pin_locked).slice(-2);
      const key = (h: SandboxHolderAccount) => ({ bank_code: h.bank_code, branch_code: h.branch_code, account_number: h.account_number });
      const otherPin = String((Number(wrong!.pin) + 1) % 10_000).padStart(4, '0');
      const signals = await tallySignals(world.db, world.banksUrl, world.secretKey, world.clock, {
        walletIds: ['wal_nobody'], deviceIds: ['nobody'], addresses: ['192.0.2.250'], targets: [key(right!), key(wrong!)],
        believedPins: [{ ...key(right!), pin: right!.pin }, { ...key(wrong!), pin: otherPin }],
      }, world.clock.now());
      assert.deepEqual(signals, { pins_confirmed: 1, bank_accounts_locked: 0, alerts: 0, first_alert_after_s: null });
    });
  });
}
