// The sandbox population: the same seed is the same people (the bank sandbox seeds holders from them),
// every person has a kana reading, and no two persons collide on what matchers key on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generatePopulation, mulberry32, myNumberCheckDigit } from './population.js';
import { FEMALE_GIVEN_NAMES, MALE_GIVEN_NAMES, SURNAMES } from './names.js';

const KATAKANA_WORD = /^[\u30A1-\u30FA\u30FC]+$/u;

describe('sandbox population', () => {
  it('is the same for the same seed and different for another seed', () => {
    const a = generatePopulation({ seed: 7, size: 300 });
    const b = generatePopulation({ seed: 7, size: 300 });
    const c = generatePopulation({ seed: 8, size: 300 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.map((p) => p.document.number), c.map((p) => p.document.number));
    // A longer population starts with the shorter one: person i of a seed never changes.
    assert.deepEqual(generatePopulation({ seed: 7, size: 500 }).slice(0, 300), a);
  });

  it('pins the first person of the default seed, so an accidental change to the generator is seen', () => {
    const [first] = generatePopulation({ seed: 2020, size: 1 });
    assert.deepEqual(
      { kanji: first?.nameKanji, kana: first?.nameKana, dob: first?.dateOfBirth, document: first?.document, phone: first?.phone },
      { kanji: '中山 徹', kana: 'ナカヤマ トオル', dob: '1968-05-14', document: { type: 'my_number_card', number: '893712143600' },
        phone: '+817077166350' },
    );
    assert.equal(mulberry32(2020)(), 0.8437384956050664);
  });

  it('gives every person a kanji name and a full-width katakana reading, family and given name apart', () => {
    for (const person of generatePopulation({ seed: 2020, size: 1000 })) {
      const [family, given, ...rest] = person.nameKana.split(' ');
      assert.equal(rest.length, 0, person.nameKana);
      assert.match(family!, KATAKANA_WORD);
      assert.match(given!, KATAKANA_WORD);
      assert.equal(person.nameKanji, `${person.familyName.kanji} ${person.givenName.kanji}`);
      assert.equal(person.nameKana, `${person.familyName.kana} ${person.givenName.kana}`);
      assert.match(person.dateOfBirth, /^(19[4-9]\d|200[0-5])-\d{2}-\d{2}$/);
      assert.equal(new Date(`${person.dateOfBirth}T00:00:00Z`).toISOString().slice(0, 10), person.dateOfBirth);
      assert.match(person.document.number, /^\d{12}$/);
      assert.match(person.phone, /^\+81[789]0\d{8}$/);
      assert.ok(person.address.prefecture && person.address.city && person.address.street);
      if (person.document.type === 'my_number_card') {
        assert.equal(person.document.number[11], myNumberCheckDigit(person.document.number.slice(0, 11)));
      }
    }
  });

  it('never repeats a kana name with a birthday, a document number or a phone', () => {
    const people = generatePopulation({ seed: 99, size: 3000 });
    assert.equal(new Set(people.map((p) => `${p.nameKana}|${p.dateOfBirth}`)).size, people.length);
    assert.equal(new Set(people.map((p) => p.document.number)).size, people.length);
    assert.equal(new Set(people.map((p) => p.phone)).size, people.length);
    assert.ok(people.some((p) => p.sex === 'female') && people.some((p) => p.sex === 'male'));
    assert.ok(people.some((p) => p.document.type === 'drivers_licence') && people.some((p) => p.document.type === 'my_number_card'));
  });

  it('draws from real common names with readings, at least 60 surnames and 60 given names', () => {
    assert.ok(SURNAMES.length >= 60);
    assert.ok(MALE_GIVEN_NAMES.length + FEMALE_GIVEN_NAMES.length >= 60);
    for (const name of [...SURNAMES, ...MALE_GIVEN_NAMES, ...FEMALE_GIVEN_NAMES]) {
      assert.match(name.kana, KATAKANA_WORD, name.kanji);
    }
    assert.deepEqual(SURNAMES.find((n) => n.kanji === '佐藤'), { kanji: '佐藤', kana: 'サトウ' });
  });

  it('computes My Number check digits by the published rule', () => {
    // Worked example: 12345678901 → weights 6 5 4 3 2 7 6 5 4 3 2 from the left → check digit 8.
    assert.equal(myNumberCheckDigit('12345678901'), '8');
    assert.equal(myNumberCheckDigit('00000000000'), '0');
  });

  it('refuses a size it cannot make', () => {
    assert.throws(() => generatePopulation({ seed: 1, size: -1 }), RangeError);
    assert.throws(() => generatePopulation({ seed: 1, size: 1.5 }), RangeError);
  });
});
