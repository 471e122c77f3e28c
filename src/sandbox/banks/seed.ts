// Owns the bank sandbox's seeded world: banks (codes, names, link methods, branches) and the holders' accounts,
// drawn from the same population as the eKYC sandbox. Must never depend on anything but the seed: same seed, same banks.
import { createHash } from 'node:crypto';
import type { LinkMethod } from '../../banks/protocol.js';
import { toBankKana } from '../../identity/kana.js';
import {
  DEFAULT_POPULATION_SEED, DEFAULT_POPULATION_SIZE, generatePopulation, intBetween, mulberry32, randomString, shuffled, type Random,
} from '../population.js';

export const DEFAULT_BANK_COUNT = 35;
export const MIN_OPENING_BALANCE = 50_000;
export const MAX_OPENING_BALANCE = 3_000_000;

export interface SeededBranch {
  code: string;
  name: string;
  /** Half-width, as transfer files write it. */
  nameKana: string;
}

export interface SeededBank {
  code: string;
  name: string;
  /** Half-width, as transfer files write it: ｼﾉﾉﾒｷﾞﾝｺｳ. */
  nameKana: string;
  /** In the bank's order of preference. */
  linkMethods: LinkMethod[];
  /** Legacy core systems keep holder names in the half-width bank form (ｻﾄｳ ｼﾖｳﾀ), and answer with it. */
  storesHalfWidthNames: boolean;
  branches: SeededBranch[];
}

export interface SeededAccount {
  bankCode: string;
  branchCode: string;
  accountNumber: string;
  /** Stable per account, opaque: what koza keys "already linked to another wallet" on. */
  accountRef: string;
  pin: string;
  onlineId: string;
  password: string;
  /** The phone the bank has on file: the holder's own (population) phone, never one a wallet supplies. */
  phone: string;
  /**
   * The contact the bank holds besides the phone (protocol v2): where it e-mails the holder, e.g. the one-tap link
   * confirmation a SIM swap cannot intercept. Per person (holderEmail); about 1 in 10 holders have none.
   */
  email: string | null;
  personIndex: number;
  /** As the bank stores it: full-width katakana, or half-width at banks with storesHalfWidthNames. */
  nameKana: string;
  nameKanji: string;
  dateOfBirth: string;
  openingBalance: number;
}

export interface BankSandboxSeed {
  seed: number;
  banks: SeededBank[];
  accounts: SeededAccount[];
  /** Persons of the population who hold no account at any sandbox bank. */
  unbankedPersons: number[];
}

/** Fictional bank names (none is a real bank's), with readings. */
const BANK_NAME_STEMS: ReadonlyArray<readonly [string, string]> = [
  ['東雲', 'シノノメ'], ['若葉', 'ワカバ'], ['白浜', 'シラハマ'], ['桜川', 'サクラガワ'], ['青海', 'アオミ'],
  ['翠山', 'ミドリヤマ'], ['朝霧', 'アサギリ'], ['星野', 'ホシノ'], ['月見', 'ツキミ'], ['花園', 'ハナゾノ'],
  ['北斗', 'ホクト'], ['南風', 'ミナカゼ'], ['潮見', 'シオミ'], ['紅葉', 'モミジ'], ['雪国', 'ユキグニ'],
  ['銀河', 'ギンガ'], ['雲雀', 'ヒバリ'], ['大樹', 'タイジュ'], ['光風', 'コウフウ'], ['碧水', 'ヘキスイ'],
  ['千鳥', 'チドリ'], ['稲穂', 'イナホ'], ['日向', 'ヒナタ'], ['松風', 'マツカゼ'], ['浜風', 'ハマカゼ'],
  ['山吹', 'ヤマブキ'], ['若竹', 'ワカタケ'], ['常盤', 'トキワ'], ['菜の花', 'ナノハナ'], ['桔梗', 'キキョウ'],
  ['椿', 'ツバキ'], ['藤波', 'フジナミ'], ['橘', 'タチバナ'], ['白樺', 'シラカバ'], ['黒潮', 'クロシオ'],
  ['飛鳥', 'アスカ'], ['楓', 'カエデ'], ['蛍', 'ホタル'], ['虹', 'ニジ'], ['富士見', 'フジミ'],
];

/** Kinds of deposit-taking institution and the Zengin code ranges they use. */
const INSTITUTIONS = [
  { suffix: '銀行', kana: 'ギンコウ', first: 1, last: 599 },
  { suffix: '信用金庫', kana: 'シンヨウキンコ', first: 1001, last: 1999 },
  { suffix: '信用組合', kana: 'シンヨウクミアイ', first: 2001, last: 2999 },
] as const;

const BRANCH_STEMS: ReadonlyArray<readonly [string, string]> = [
  ['駅前', 'エキマエ'], ['中央', 'チュウオウ'], ['東口', 'ヒガシグチ'], ['西口', 'ニシグチ'], ['北', 'キタ'],
  ['南', 'ミナミ'], ['港', 'ミナト'], ['新町', 'シンマチ'], ['本町', 'ホンマチ'], ['大通', 'オオドオリ'],
  ['桜台', 'サクラダイ'], ['緑町', 'ミドリチョウ'], ['公園前', 'コウエンマエ'], ['市役所前', 'シヤクショマエ'],
];

/**
 * Link methods by a bank's place in the seeded order, as shares of all banks. With 35 banks: 5 accept only
 * account + PIN, 3 prefer PIN + OTP but still take PIN alone, 3 offer all three — the 11 of 35 where a PIN
 * was enough in 2020 — then 6 redirect + PIN/OTP, 3 PIN/OTP only and 15 redirect only.
 */
const METHOD_PLAN: ReadonlyArray<{ upTo: number; methods: LinkMethod[] }> = [
  { upTo: 5, methods: ['pin_only'] },
  { upTo: 8, methods: ['pin_otp', 'pin_only'] },
  { upTo: 11, methods: ['redirect', 'pin_otp', 'pin_only'] },
  { upTo: 17, methods: ['redirect', 'pin_otp'] },
  { upTo: 20, methods: ['pin_otp'] },
  { upTo: 35, methods: ['redirect'] },
];


function methodsFor(position: number, bankCount: number): LinkMethod[] {
  const share = (position * DEFAULT_BANK_COUNT) / bankCount;
  return [...(METHOD_PLAN.find((p) => share < p.upTo) ?? METHOD_PLAN[METHOD_PLAN.length - 1]!).methods];
}

function drawBanks(random: Random, bankCount: number): SeededBank[] {
  const stems = shuffled(random, BANK_NAME_STEMS).slice(0, bankCount);
  const usedCodes = new Set<string>();
  const banks = stems.map(([stemKanji, stemKana], position): SeededBank => {
    const roll = random();
    const institution = INSTITUTIONS[roll < 0.7 ? 0 : roll < 0.9 ? 1 : 2];
    let code: string;
    do code = String(intBetween(random, institution.first, institution.last)).padStart(4, '0');
    while (usedCodes.has(code));
    usedCodes.add(code);
    const linkMethods = methodsFor(position, bankCount);
    const legacy = linkMethods.includes('pin_only');
    const storesHalfWidthNames = legacy || random() < 0.3;
    const branchCodes = new Set<string>(['001']);
    const branches: SeededBranch[] = [{ code: '001', name: '本店', nameKana: toBankKana('ホンテン') }];
    const branchStems = shuffled(random, BRANCH_STEMS).slice(0, intBetween(random, 1, 3));
    for (const [branchKanji, branchKana] of branchStems) {
      let branchCode: string;
      do branchCode = String(intBetween(random, 100, 899));
      while (branchCodes.has(branchCode));
      branchCodes.add(branchCode);
      branches.push({ code: branchCode, name: `${branchKanji}支店`, nameKana: toBankKana(`${branchKana}シテン`) });
    }
    return {
      code,
      name: `${stemKanji}${institution.suffix}`,
      nameKana: toBankKana(`${stemKana}${institution.kana}`),
      linkMethods,
      storesHalfWidthNames,
      branches,
    };
  });
  return banks.sort((a, b) => a.code.localeCompare(b.code));
}

/** Opaque and stable: the same account always has the same ref, and the ref does not spell the account number. */
export function accountRefOf(seed: number, bankCode: string, branchCode: string, accountNumber: string): string {
  const digest = createHash('sha256').update(`koza-bank-sandbox:${seed}:${bankCode}:${branchCode}:${accountNumber}`).digest('base64url');
  return `acr_${digest.slice(0, 22)}`;
}

/**
 * The seeded world. Each person of the population holds an account at one bank (most) or two (about a
 * quarter); about 3% hold none, so "a verified person with no bank" exists too.
 */
export function seedBankSandbox(options: { seed?: number; bankCount?: number; populationSize?: number } = {}): BankSandboxSeed {
  const seed = options.seed ?? DEFAULT_POPULATION_SEED;
  const bankCount = options.bankCount ?? DEFAULT_BANK_COUNT;
  if (!Number.isSafeInteger(bankCount) || bankCount < 1 || bankCount > BANK_NAME_STEMS.length) {
    throw new RangeError(`bank count must be a whole number from 1 to ${BANK_NAME_STEMS.length}`);
  }
  // A stream of its own, so that the population (shared with eKYC) is the same whatever the banks draw.
  const random = mulberry32((seed ^ 0x62616e6b) >>> 0);
  const banks = drawBanks(random, bankCount);
  const people = generatePopulation({ seed, size: options.populationSize ?? DEFAULT_POPULATION_SIZE });
  const usedNumbers = new Map(banks.map((b) => [b.code, new Set<string>()]));
  const usedOnlineIds = new Set<string>();
  const accounts: SeededAccount[] = [];
  const unbankedPersons: number[] = [];
  for (const person of people) {
    const roll = random();
    const accountCount = roll < 0.03 ? 0 : roll < 0.75 ? 1 : Math.min(2, banks.length);
    if (accountCount === 0) unbankedPersons.push(person.index);
    const holdingBanks = shuffled(random, banks).slice(0, accountCount);
    for (const bank of holdingBanks) {
      const branch = bank.branches[Math.floor(random() * bank.branches.length)]!;
      const numbers = usedNumbers.get(bank.code)!;
      let accountNumber: string;
      do accountNumber = String(intBetween(random, 0, 9_999_999)).padStart(7, '0');
      while (numbers.has(accountNumber));
      numbers.add(accountNumber);
      let onlineId: string;
      do onlineId = randomString(random, 'abcdefghijkmnpqrstuvwxyz23456789', 8);
      while (usedOnlineIds.has(onlineId));
      usedOnlineIds.add(onlineId);
      accounts.push({
        bankCode: bank.code,
        branchCode: branch.code,
        accountNumber,
        accountRef: accountRefOf(seed, bank.code, branch.code, accountNumber),
        pin: String(intBetween(random, 0, 9999)).padStart(4, '0'),
        onlineId,
        password: randomString(random, 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789', 12),
        phone: person.phone,
        email: holderEmail(seed, person.index),
        personIndex: person.index,
        nameKana: bank.storesHalfWidthNames ? toBankKana(person.nameKana) : person.nameKana,
        nameKanji: person.nameKanji,
        dateOfBirth: person.dateOfBirth,
        openingBalance: intBetween(random, MIN_OPENING_BALANCE, MAX_OPENING_BALANCE),
      });
    }
  }
  return { seed, banks, accounts, unbankedPersons };
}

/**
 * The e-mail a holder registered at their banks, from the seed and the person alone (not the seeded PRNG, so adding it
 * moved no other seeded value). Migration 0003 computes the same for a database seeded before it.
 */
export function holderEmail(seed: number, personIndex: number): string | null {
  const digest = createHash('sha256').update(`koza-sandbox-email:${seed}:${personIndex}`).digest();
  if (digest[0]! % 10 === 0) return null;
  return `holder${personIndex}.${digest.toString('hex').slice(2, 8)}@mail.example.jp`;
}
