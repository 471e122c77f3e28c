// The bank sandbox's seeded world: the same seed is the same banks, holders and PINs; 11 of 35 banks take a PIN alone,
// as in 2020; every holder is a person of the eKYC population, so a verified wallet's person has bank accounts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generatePopulation } from '../population.js';
import { isBankKana, toBankKana } from '../../identity/kana.js';
import { holderEmail, MAX_OPENING_BALANCE, MIN_OPENING_BALANCE, seedBankSandbox } from './seed.js';

describe('bank sandbox seed', () => {
  const world = seedBankSandbox({ seed: 2020 });

  it('is the same for the same seed and different for another', () => {
    assert.deepEqual(seedBankSandbox({ seed: 2020 }), world);
    const other = seedBankSandbox({ seed: 2021 });
    assert.notDeepEqual(other.banks.map((b) => b.code), world.banks.map((b) => b.code));
    assert.notDeepEqual(other.accounts.slice(0, 20).map((a) => a.pin), world.accounts.slice(0, 20).map((a) => a.pin));
  });

  it('has 35 banks with distinct 4-digit codes, Japanese names and half-width kana, each with branches', () => {
    assert.equal(world.banks.length, 35);
    assert.equal(new Set(world.banks.map((b) => b.code)).size, 35);
    assert.deepEqual(world.banks.map((b) => b.code), [...world.banks.map((b) => b.code)].sort());
    for (const bank of world.banks) {
      assert.match(bank.code, /^\d{4}$/);
      assert.match(bank.name, /(銀行|信用金庫|信用組合)$/);
      assert.ok(isBankKana(bank.nameKana), bank.nameKana);
      assert.ok(bank.branches.length >= 2 && bank.branches.length <= 4, bank.code);
      assert.equal(new Set(bank.branches.map((br) => br.code)).size, bank.branches.length);
      for (const branch of bank.branches) assert.match(branch.code, /^\d{3}$/);
      assert.ok(bank.linkMethods.length >= 1);
    }
  });

  it('lets 11 of 35 banks take a PIN alone (5 of them nothing else), and most offer redirect', () => {
    const pinOnly = world.banks.filter((b) => b.linkMethods.includes('pin_only'));
    assert.equal(pinOnly.length, 11);
    assert.equal(pinOnly.filter((b) => b.linkMethods.length === 1).length, 5);
    assert.equal(world.banks.filter((b) => b.linkMethods.includes('redirect')).length, 24);
    assert.equal(world.banks.filter((b) => b.linkMethods.includes('pin_otp')).length, 15);
    // Preference order: redirect before pin_otp before pin_only wherever a bank offers several.
    const rank = { redirect: 0, pin_otp: 1, pin_only: 2 } as const;
    for (const bank of world.banks) {
      assert.deepEqual(bank.linkMethods, [...bank.linkMethods].sort((a, b) => rank[a] - rank[b]));
    }
  });

  it('makes every holder a person of the population, with the person\'s name, date of birth and phone', () => {
    const people = generatePopulation({ seed: 2020, size: 1000 });
    const halfWidthBanks = new Set(world.banks.filter((b) => b.storesHalfWidthNames).map((b) => b.code));
    assert.ok(halfWidthBanks.size > 0 && halfWidthBanks.size < 35);
    for (const account of world.accounts) {
      const person = people[account.personIndex]!;
      assert.equal(account.phone, person.phone);
      assert.equal(account.dateOfBirth, person.dateOfBirth);
      assert.equal(account.nameKanji, person.nameKanji);
      assert.equal(account.nameKana, halfWidthBanks.has(account.bankCode) ? toBankKana(person.nameKana) : person.nameKana);
    }
  });

  it('gives most persons one account, about a quarter two at different banks, and a few none', () => {
    const byPerson = new Map<number, string[]>();
    for (const a of world.accounts) byPerson.set(a.personIndex, [...(byPerson.get(a.personIndex) ?? []), a.bankCode]);
    const counts = [0, 0, 0];
    for (let i = 0; i < 1000; i++) counts[byPerson.get(i)?.length ?? 0]! += 1;
    assert.equal(counts[0], world.unbankedPersons.length);
    assert.ok(counts[0]! > 5 && counts[0]! < 60, `unbanked ${counts[0]}`);
    assert.ok(counts[1]! > 600, `one account ${counts[1]}`);
    assert.ok(counts[2]! > 150, `two accounts ${counts[2]}`);
    for (const banks of byPerson.values()) assert.equal(new Set(banks).size, banks.length);
    // Every bank has holders to link.
    for (const bank of world.banks) assert.ok(world.accounts.some((a) => a.bankCode === bank.code), bank.code);
  });

  it('gives every account its own number, credentials, ref and an opening balance in range', () => {
    const keys = new Set(world.accounts.map((a) => `${a.bankCode}/${a.accountNumber}`));
    assert.equal(keys.size, world.accounts.length);
    assert.equal(new Set(world.accounts.map((a) => a.onlineId)).size, world.accounts.length);
    assert.equal(new Set(world.accounts.map((a) => a.accountRef)).size, world.accounts.length);
    for (const a of world.accounts) {
      assert.match(a.accountNumber, /^\d{7}$/);
      assert.match(a.pin, /^\d{4}$/);
      assert.match(a.password, /^[A-Za-z0-9]{12}$/);
      assert.match(a.accountRef, /^acr_[A-Za-z0-9_-]{22}$/);
      assert.ok(!a.accountRef.includes(a.accountNumber));
      assert.ok(a.openingBalance >= MIN_OPENING_BALANCE && a.openingBalance <= MAX_OPENING_BALANCE);
      const bank = world.banks.find((b) => b.code === a.bankCode)!;
      assert.ok(bank.branches.some((br) => br.code === a.branchCode));
    }
  });

  it('scales the link-method plan to another bank count and refuses an impossible one', () => {
    const small = seedBankSandbox({ seed: 1, bankCount: 7, populationSize: 50 });
    assert.equal(small.banks.length, 7);
    assert.ok(small.banks.some((b) => b.linkMethods.includes('pin_only')));
    assert.ok(small.banks.some((b) => b.linkMethods.includes('redirect')));
    assert.throws(() => seedBankSandbox({ bankCount: 0 }), RangeError);
    assert.throws(() => seedBankSandbox({ bankCount: 1000 }), RangeError);
  });
});

describe('holderEmail (protocol v2: the contact besides the phone)', () => {
  it('is the same for the same seed and person, and about 1 in 10 holders have none', () => {
    assert.equal(holderEmail(2020, 7), holderEmail(2020, 7));
    const emails = Array.from({ length: 2000 }, (_, i) => holderEmail(2020, i));
    const none = emails.filter((e) => e === null).length;
    assert.ok(none > 140 && none < 260, `${none} of 2000 have no e-mail`);
    for (const e of emails) if (e !== null) assert.match(e, /^holder\d+\.[0-9a-f]{6}@mail\.example\.jp$/);
    assert.equal(new Set(emails.filter((e) => e !== null)).size, 2000 - none, 'one address per person');
  });
});
