// Owns the sandbox commercial register: corporations drawn from the population seed, most of them represented by a
// population person (so an owner can pass eKYC and then the business check), a few by people the sandbox does not know.
// Must never depend on anything but the seed and the population: the same seed is the same register.
import { corporateNumberCheckDigit } from '../identity/verification/verifier.js';
import { FEMALE_GIVEN_NAMES, MALE_GIVEN_NAMES, SURNAMES } from './names.js';
import { intBetween, mulberry32, pick, type Person, type Random } from './population.js';

export interface RegisteredCorporation {
  corporateNumber: string;
  registeredName: string;
  representative: { nameKanji: string; nameKana: string; dateOfBirth: string };
  /** The population person who represents it; null for a representative the sandbox's eKYC does not know. */
  representativeIndex: number | null;
}

/** About one person in five represents a corporation; twenty more corporations are represented by strangers. */
const SHARE_OF_REPRESENTATIVES = 0.2;
const STRANGER_CORPORATIONS = 20;
const FORMS = ['株式会社', '合同会社', '有限会社'] as const;
const TRADES = ['商店', '食品', '製作所', '物産', '書店', '珈琲', '工務店', '薬局', '青果', '電機'] as const;

function corporateNumber(random: Random): string {
  let base = String(intBetween(random, 1, 9));
  for (let i = 0; i < 11; i++) base += String(intBetween(random, 0, 9));
  return corporateNumberCheckDigit(base) + base;
}

function corporationName(random: Random, familyKanji: string): string {
  const form = pick(random, FORMS);
  const trade = `${familyKanji}${pick(random, TRADES)}`;
  // 株式会社 goes before or after the name (前株・後株), as in the real register.
  return random() < 0.5 ? `${form}${trade}` : `${trade}${form}`;
}

/** The register for a population (the same seed it was drawn with). */
export function generateBusinessRegistry(people: readonly Person[], seed: number): RegisteredCorporation[] {
  const random = mulberry32((seed ^ 0x6b6f7a61) >>> 0);
  const numbers = new Set<string>();
  const unique = (): string => {
    for (;;) {
      const n = corporateNumber(random);
      if (!numbers.has(n)) { numbers.add(n); return n; }
    }
  };
  const corporations: RegisteredCorporation[] = [];
  for (const person of people) {
    if (random() >= SHARE_OF_REPRESENTATIVES) continue;
    corporations.push({
      corporateNumber: unique(), registeredName: corporationName(random, person.familyName.kanji),
      representative: { nameKanji: person.nameKanji, nameKana: person.nameKana, dateOfBirth: person.dateOfBirth },
      representativeIndex: person.index,
    });
  }
  for (let i = 0; i < STRANGER_CORPORATIONS; i++) {
    const family = pick(random, SURNAMES);
    const given = pick(random, random() < 0.5 ? FEMALE_GIVEN_NAMES : MALE_GIVEN_NAMES);
    const year = intBetween(random, 1940, 1990);
    corporations.push({
      corporateNumber: unique(), registeredName: corporationName(random, family.kanji),
      representative: {
        nameKanji: `${family.kanji} ${given.kanji}`, nameKana: `${family.kana} ${given.kana}`,
        dateOfBirth: `${year}-${String(intBetween(random, 1, 12)).padStart(2, '0')}-${String(intBetween(random, 1, 28)).padStart(2, '0')}`,
      },
      representativeIndex: null,
    });
  }
  return corporations;
}
