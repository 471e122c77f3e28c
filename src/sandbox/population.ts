// Owns the sandbox population: fictitious Japanese persons drawn deterministically from a seed, shared by
// the identity provider sandbox and the bank sandbox so a bank holder and an eKYC record can be one person.
// Must never depend on time, on Math.random or on anything but the seed: the same seed is the same people.
import type { DocumentType } from '../identity/verification/verifier.js';
import { FEMALE_GIVEN_NAMES, MALE_GIVEN_NAMES, PREFECTURES, SURNAMES, TOWNS, type NameEntry } from './names.js';

export const DEFAULT_POPULATION_SEED = 2020;
export const DEFAULT_POPULATION_SIZE = 1000;

export type Sex = 'female' | 'male';

export interface Address {
  prefecture: string;
  city: string;
  street: string;
}

export interface Person {
  /** Position in the population: person i of seed s is always the same person. */
  index: number;
  sex: Sex;
  familyName: NameEntry;
  givenName: NameEntry;
  /** Family name, a space, given name: 佐藤 翔太. */
  nameKanji: string;
  /** Full-width katakana, family and given name separated by one space: サトウ ショウタ. */
  nameKana: string;
  /** YYYY-MM-DD. */
  dateOfBirth: string;
  address: Address;
  document: { type: DocumentType; number: string };
  /** E.164, a Japanese mobile number: +819012345678. */
  phone: string;
}

export type Random = () => number;

/** mulberry32: a tiny 32-bit PRNG, good enough for test data and identical on every platform. */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A whole number from min to max, both included. */
export function intBetween(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** A copy of items in a random order (Fisher–Yates). */
export function shuffled<T>(random: Random, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** `length` characters drawn from `alphabet`. */
export function randomString(random: Random, alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(random() * alphabet.length)];
  return out;
}

function digits(random: Random, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) out += String(Math.floor(random() * 10));
  return out;
}

/** The check digit of a 12-digit individual number (My Number), from its first 11 digits (the published rule). */
export function myNumberCheckDigit(first11: string): string {
  let sum = 0;
  for (let n = 1; n <= 11; n++) {
    const digit = Number(first11[11 - n]);
    sum += digit * (n <= 6 ? n + 1 : n - 5);
  }
  const remainder = sum % 11;
  return String(remainder <= 1 ? 0 : 11 - remainder);
}

function dateOfBirth(random: Random): string {
  // Adults of every generation; fixed years, never "now", so the population does not age between runs.
  const year = intBetween(random, 1945, 2005);
  const month = intBetween(random, 1, 12);
  const day = intBetween(random, 1, new Date(Date.UTC(year, month, 0)).getUTCDate());
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

function drawPerson(random: Random, index: number): Person {
  const sex: Sex = random() < 0.5 ? 'female' : 'male';
  const familyName = pick(random, SURNAMES);
  const givenName = pick(random, sex === 'female' ? FEMALE_GIVEN_NAMES : MALE_GIVEN_NAMES);
  const birth = dateOfBirth(random);
  const prefecture = pick(random, PREFECTURES);
  const street = `${pick(random, TOWNS)}${intBetween(random, 1, 5)}丁目${intBetween(random, 1, 30)}番${intBetween(random, 1, 20)}号`;
  let document: Person['document'];
  if (random() < 0.5) {
    const first11 = String(intBetween(random, 1, 9)) + digits(random, 10);
    document = { type: 'my_number_card', number: first11 + myNumberCheckDigit(first11) };
  } else {
    // Licence-style: issuer code, the year first licensed (at 18 to 30), a serial, the reissue count.
    const licensedYear = Math.min(Number(birth.slice(0, 4)) + intBetween(random, 18, 30), 2024);
    document = {
      type: 'drivers_licence',
      number: `${prefecture.licenceCode}${String(licensedYear % 100).padStart(2, '0')}${digits(random, 7)}0`,
    };
  }
  return {
    index, sex, familyName, givenName,
    nameKanji: `${familyName.kanji} ${givenName.kanji}`,
    nameKana: `${familyName.kana} ${givenName.kana}`,
    dateOfBirth: birth,
    address: { prefecture: prefecture.name, city: pick(random, prefecture.cities), street },
    document,
    phone: `+81${pick(random, ['70', '80', '90'])}${digits(random, 8)}`,
  };
}

/**
 * `size` persons for `seed`. Within a population no two persons share a kana name and date of birth, a
 * document number or a phone, so each is one person to every matcher; a redraw on a clash keeps it
 * deterministic.
 */
export function generatePopulation(options: { seed: number; size: number }): Person[] {
  if (!Number.isSafeInteger(options.size) || options.size < 0 || options.size > 100_000) {
    throw new RangeError('population size must be a whole number from 0 to 100000');
  }
  const random = mulberry32(options.seed);
  const seen = new Set<string>();
  const people: Person[] = [];
  while (people.length < options.size) {
    const person = drawPerson(random, people.length);
    const keys = [`p:${person.nameKana}|${person.dateOfBirth}`, `d:${person.document.number}`, `t:${person.phone}`];
    if (keys.some((k) => seen.has(k))) continue;
    for (const k of keys) seen.add(k);
    people.push(person);
  }
  return people;
}
