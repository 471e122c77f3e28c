// Owns kana name handling for bank-account linking (SPEC §5.3): width and script folds, the Zengin bank form, match scores.
// Must never do I/O, keep state or decide a link: it returns a score and a band, and the link policy decides what passes.

const VOICED_MARK = '\u3099'; // combining ゙
const SEMI_VOICED_MARK = '\u309A'; // combining ゚
const SPACING_VOICED_MARK = '\u309B'; // ゛
const SPACING_SEMI_VOICED_MARK = '\u309C'; // ゜
const LONG_VOWEL_MARK = 'ー'; // U+30FC

/** Small kana and obsolete letters, written as the large letter banks print (キョウコ → ｷﾖｳｺ). */
const LARGE_FORM: ReadonlyMap<string, string> = new Map([
  ...pairs('ァィゥェォッャュョヮヵヶ', 'アイウエオツヤユヨワカケ'),
  // Katakana Phonetic Extensions (small letters used for Ainu names).
  ...pairs('ㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ', 'クシストヌハヒフヘホムラリルレロ'),
  // ヰ ヱ ヲ are read イ エ オ in names; the Zengin set has no ヰ ヱ, and banks register ヲ as ｵ (カヲル → ｶｵﾙ).
  ...pairs('ヰヱヲ', 'イエオ'),
]);

/** Every way people, keyboards and banks write the long vowel mark (after NFKC: ｰ → ー, － → -, ～ → ~). */
const LONG_VOWEL_VARIANTS: ReadonlySet<string> = new Set([
  LONG_VOWEL_MARK, '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\u2500', '\u2501',
  '~', '\u301C', '\u223C',
]);

/** Middle dots (・ ･ · ‧ ∙ ⋅ •) and ゠ separate the parts of a name, like a space. */
const NAME_SEPARATORS: ReadonlySet<string> = new Set([
  '\u30FB', '\uFF65', '\u00B7', '\u2027', '\u2219', '\u22C5', '\u2022', '\u30A0',
]);

/** Full-width katakana letter → half-width letter, the inverse of NFKC over ｦ..ﾝ (U+FF66–FF9D). */
const HALF_WIDTH_LETTER: ReadonlyMap<string, string> = new Map(
  range(0xff66, 0xff9d).map((half) => [half.normalize('NFKC'), half] as const),
);

function range(first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, i) => String.fromCodePoint(first + i));
}

function pairs(from: string, to: string): [string, string][] {
  const targets = Array.from(to);
  return Array.from(from, (ch, i) => [ch, targets[i] ?? ch]);
}

/** Half-width ﾞﾟ and spacing ゛゜ become combining marks, so that NFC/NFKC can join them to the letter before. */
function toCombiningMarks(s: string): string {
  return s.replace(/[\uFF9E\u309B]/gu, VOICED_MARK).replace(/[\uFF9F\u309C]/gu, SEMI_VOICED_MARK);
}

/** Joins a combining mark to the letter before it where a composed letter exists (カ+゙ → ガ, ウ+゙ → ヴ). */
function composeSoundMarks(s: string): string {
  return s.replace(/(\P{M})([\u3099\u309A])/gu, (both: string, base: string, mark: string) => {
    const composed = (base + mark).normalize('NFC');
    return composed.length === 1 ? composed : both;
  });
}

/** A mark that joined nothing (ｱﾞ) stays visible as ゛゜ rather than silently attaching to whatever comes before. */
function spaceLeftoverMarks(s: string): string {
  return s.replaceAll(VOICED_MARK, SPACING_VOICED_MARK).replaceAll(SEMI_VOICED_MARK, SPACING_SEMI_VOICED_MARK);
}

/** Hiragana → katakana: ぁ..ゖ (U+3041–3096) and ゝゞ, one code point each (ゔ → ヴ, ゐ → ヰ, っ → ッ, ゎ → ヮ). */
export function toKatakana(s: string): string {
  return s.replace(/[\u3041-\u3096\u309D\u309E]/gu, (ch) => String.fromCodePoint((ch.codePointAt(0) ?? 0) + 0x60));
}

/**
 * Width fold in the direction NFKC takes: half-width katakana and its punctuation (U+FF61–FF9F) become full-width,
 * with ﾞﾟ joined to the letter (ｶﾞ → ガ, ﾊﾟ → パ, ｳﾞ → ヴ); full-width Latin, digits and ASCII punctuation
 * (U+FF01–FF5E) and the ideographic space become ASCII. Only the Halfwidth and Fullwidth Forms block and U+3000 are
 * touched (not ㈱ or ①, which full NFKC would also rewrite), except ￣ whose NFKC form is a space plus a macron.
 * Chosen because it is the form people type and the one normalizeName builds on; ASCII space is left as it is.
 */
export function toFullWidth(s: string): string {
  let out = '';
  for (const ch of toCombiningMarks(s)) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === 0x3000) out += ' ';
    else if (cp >= 0xff01 && cp <= 0xffee && cp !== 0xffe3) out += ch.normalize('NFKC');
    else out += ch;
  }
  return spaceLeftoverMarks(composeSoundMarks(out));
}

/**
 * The form bank transfer (Zengin) files carry: half-width katakana with separate ﾞﾟ, small kana written large
 * (ｷﾖｳｺ), ヰヱヲ as ｲｴｵ (the Zengin name set has no ｦ although JIS X 0201 does), upper-case A–Z, digits,
 * ( ) . - / , and single spaces. The long vowel mark is written '-': banks' Zengin rules refuse ー/ｰ in names and
 * ask for the hyphen. Middle dots become a space. A character with no Zengin form (kanji, ヽ, 「) is left as it
 * is, so that isBankKana can refuse the result instead of this function guessing.
 */
export function toBankKana(s: string): string {
  let out = '';
  for (const ch of toKatakana(toFullWidth(s))) out += bankFormOf(ch);
  return out.trim().replace(/ {2,}/gu, ' ');
}

function bankFormOf(ch: string): string {
  if (LONG_VOWEL_VARIANTS.has(ch)) return '-';
  if (NAME_SEPARATORS.has(ch) || /\s/u.test(ch)) return ' ';
  if (ch === SPACING_VOICED_MARK) return 'ﾞ';
  if (ch === SPACING_SEMI_VOICED_MARK) return 'ﾟ';
  const cp = ch.codePointAt(0) ?? 0;
  if (cp >= 0x30a1 && cp <= 0x30fa) {
    const [base = ch, mark] = Array.from(ch.normalize('NFD'));
    const half = HALF_WIDTH_LETTER.get(LARGE_FORM.get(base) ?? base);
    if (half === undefined) return ch;
    return half + (mark === VOICED_MARK ? 'ﾞ' : mark === SEMI_VOICED_MARK ? 'ﾟ' : '');
  }
  if (/^[0-9A-Z().\/,]$/u.test(ch)) return ch;
  // Latin letters, accented ones included (JOSÉ → JOSE): Zengin has upper-case A–Z only.
  const latin = ch.normalize('NFD').replace(/\p{M}/gu, '');
  if (/^[a-zA-Z]$/u.test(latin)) return latin.toUpperCase();
  return ch;
}

/** Whether every character is in the Zengin name set: 0–9, A–Z, ｱ–ﾝ, ﾞ, ﾟ, space and ( ) . - / , */
export function isBankKana(s: string): boolean {
  return /^[0-9A-Z\uFF71-\uFF9D\uFF9E\uFF9F ().\-\/,]*$/u.test(s);
}

/**
 * The canonical comparison key: NFKC (widths, ｶﾞ → ガ), hiragana → katakana, small kana large, ヰヱヲ → イエオ,
 * long vowel variants (ー ｰ - ‐ − ― ～ …) → ー, Latin upper-case, invisible format characters removed, and any run
 * of spaces (ASCII, ideographic, NBSP, tabs…) or middle dots → one ASCII space between parts, trimmed.
 * ヴ is kept: it is lossless in the bank form (ｳﾞ), so folding it into ブ here would score a real spelling
 * difference as exact; matchNames treats ヴァ/バ as a near-miss instead. Brackets such as (カ) are kept.
 */
export function normalizeName(s: string): string {
  const cleaned = s.replace(/\p{Cf}/gu, '').replace(/\p{Cc}/gu, ' ');
  let out = '';
  for (const ch of toKatakana(spaceLeftoverMarks(toCombiningMarks(cleaned).normalize('NFKC')))) {
    if (LONG_VOWEL_VARIANTS.has(ch)) out += LONG_VOWEL_MARK;
    else if (NAME_SEPARATORS.has(ch)) out += ' ';
    else out += LARGE_FORM.get(ch) ?? ch;
  }
  return out.toUpperCase().split(/\s+/u).filter((part) => part !== '').join(' ');
}

const PLAUSIBLE_PART = /^[\u30A1-\u30FA][\u30A1-\u30FA\u30FC\u30FD\u30FE]*$/u;

/**
 * Whether a string looks like a personal name in kana: after normalizeName, 2..40 characters of kana, long vowel
 * marks and separators, each part starting with a letter, and no character four times in a row (アアアア, ーーーー).
 */
export function isPlausibleKanaName(s: string): boolean {
  const name = normalizeName(s);
  const length = Array.from(name).length;
  if (length < 2 || length > 40) return false;
  if (!name.split(' ').every((part) => PLAUSIBLE_PART.test(part))) return false;
  return !/(.)\1{3}/u.test(name.replaceAll(' ', ''));
}

export type NameMatchBand = 'exact' | 'strong' | 'partial' | 'mismatch';

export interface NameMatch {
  score: number;
  band: NameMatchBand;
  normalizedA: string;
  normalizedB: string;
}

/** SPEC §5.3: 100 exact, 85–99 strong, 70–84 partial, below 70 mismatch. */
export function bandForScore(score: number): NameMatchBand {
  if (score >= 100) return 'exact';
  if (score >= 85) return 'strong';
  if (score >= 70) return 'partial';
  return 'mismatch';
}

/** Fuzzy similarity is quadratic in the length; longer "names" only get the exact and folded rules. */
const MAX_COMPARED_LENGTH = 100;

/**
 * Scores a bank's holder name against the eKYC name. Rules, first that applies wins:
 *
 * | score | band     | when (on normalizeName keys)                                                          |
 * |-------|----------|----------------------------------------------------------------------------------------|
 * | 0     | mismatch | either name is empty                                                                   |
 * | 100   | exact    | keys equal; or equal without spaces when one side has none (bank files drop the space) |
 * | 97    | strong   | equal without spaces, but both sides split the name at different places                |
 * | 95    | strong   | equal after the spelling fold: ー vs a vowel that lengthens (オオタ/オータ, ユウコ/ユーコ, |
 * |       |          | ケイコ/ケーコ), ヂ→ジ, ヅ→ズ, ヴァ ヴィ ヴ ヴェ ヴォ / ヷ ヸ ヹ ヺ → バ ビ ブ ベ ボ            |
 * | 90    | strong   | one side has no ﾞﾟ at all (a system that strips marks) and they are equal without marks |
 * | 88    | strong   | family and given names swapped (also after the spelling fold)                          |
 * | ≤ 84  | partial  | otherwise floor(100 × (1 − Levenshtein / longer length)) on spelling-folded names,      |
 * | < 70  | mismatch | capped at 84; with family and given names on both sides (an unspaced side is split at   |
 * |       |          | its best point) each part is scored and the lower one counts, so ヤマダ タロウ vs       |
 * |       |          | ヤマダ ハナコ is 0 and one typo in a 4-letter given name is 75                          |
 *
 * A dakuten difference between two names that both carry marks (ダイスケ/タイスケ, ジュン/シュン) is a
 * different name, not a near-miss, so it only gets the similarity score.
 */
export function matchNames(a: string, b: string): NameMatch {
  const normalizedA = normalizeName(a);
  const normalizedB = normalizeName(b);
  const score = scoreNormalizedNames(normalizedA, normalizedB);
  return { score, band: bandForScore(score), normalizedA, normalizedB };
}

function scoreNormalizedNames(a: string, b: string): number {
  if (a === '' || b === '') return 0;
  if (a === b) return 100;
  const partsA = a.split(' ');
  const partsB = b.split(' ');
  const compactA = partsA.join('');
  const compactB = partsB.join('');
  if (compactA === compactB) return partsA.length === 1 || partsB.length === 1 ? 100 : 97;
  const foldedA = spellingFold(compactA);
  const foldedB = spellingFold(compactB);
  if (foldedA === foldedB) return 95;
  if (hasSoundMarks(foldedA) !== hasSoundMarks(foldedB) && dropSoundMarks(foldedA) === dropSoundMarks(foldedB)) {
    return 90;
  }
  if (isSwapped(partsA, foldedB) || isSwapped(partsB, foldedA)) return 88;
  if (Array.from(compactA).length > MAX_COMPARED_LENGTH || Array.from(compactB).length > MAX_COMPARED_LENGTH) return 0;
  return Math.min(84, similarityPercent(partsA, partsB));
}

/** Family and given name of a two-part name, read given-first, equal the other name (both spelling-folded). */
function isSwapped(parts: string[], otherFolded: string): boolean {
  const [family, given] = parts;
  return parts.length === 2 && spellingFold(`${given}${family}`) === otherFolded;
}

function similarityPercent(partsA: string[], partsB: string[]): number {
  const [familyA = '', givenA = ''] = partsA;
  const [familyB = '', givenB = ''] = partsB;
  if (partsA.length === 2 && partsB.length === 2) {
    return Math.min(percent(familyA, familyB), percent(givenA, givenB));
  }
  if (partsA.length === 2 && partsB.length === 1) return bestSplitPercent(familyB, familyA, givenA);
  if (partsA.length === 1 && partsB.length === 2) return bestSplitPercent(familyA, familyB, givenB);
  return percent(partsA.join(''), partsB.join(''));
}

/** An unspaced name compared with family + given: split it where it fits best, then the weaker part counts. */
function bestSplitPercent(unspaced: string, family: string, given: string): number {
  const chars = Array.from(unspaced);
  let best = 0;
  for (let k = 1; k < chars.length; k++) {
    const splitFamily = chars.slice(0, k).join('');
    const splitGiven = chars.slice(k).join('');
    best = Math.max(best, Math.min(percent(splitFamily, family), percent(splitGiven, given)));
  }
  return best;
}

function percent(a: string, b: string): number {
  const x = Array.from(spellingFold(a));
  const y = Array.from(spellingFold(b));
  const longer = Math.max(x.length, y.length);
  if (longer === 0) return 100;
  return Math.floor((100 * (longer - levenshtein(x, y))) / longer);
}

function levenshtein(x: string[], y: string[]): number {
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      const substitution = previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[y.length]!;
}

const SPELLING_VARIANTS: readonly [RegExp, string][] = [
  [/ヴア|ヷ/gu, 'バ'], [/ヴイ|ヸ/gu, 'ビ'], [/ヴエ|ヹ/gu, 'ベ'], [/ヴオ|ヺ/gu, 'ボ'], [/ヴ/gu, 'ブ'],
  [/ヂ/gu, 'ジ'], [/ヅ/gu, 'ズ'],
];

const VOWEL_OF: ReadonlyMap<string, string> = new Map([
  ...Array.from('アカガサザタダナハバパマヤラワ', (ch) => [ch, 'a'] as const),
  ...Array.from('イキギシジチヂニヒビピミリ', (ch) => [ch, 'i'] as const),
  ...Array.from('ウクグスズツヅヌフブプムユル', (ch) => [ch, 'u'] as const),
  ...Array.from('エケゲセゼテデネヘベペメレ', (ch) => [ch, 'e'] as const),
  ...Array.from('オコゴソゾトドノホボポモヨロ', (ch) => [ch, 'o'] as const),
]);

/** The kana that lengthen each vowel: o-row + ウ (ユウコ, サトウ), e-row + イ (ケイコ), and the vowel itself. */
const LENGTHENERS: Readonly<Record<string, string>> = { a: 'ア', i: 'イ', u: 'ウ', e: 'エイ', o: 'オウ' };

/**
 * Near-miss spellings of one pronunciation, folded to one form: the ヴ line to the バ line, ヂヅ to ジズ, and a
 * vowel that lengthens the kana before it to ー. A ー is never itself lengthened, so オオオカ folds to オーオカ.
 */
function spellingFold(s: string): string {
  let folded = s;
  for (const [pattern, replacement] of SPELLING_VARIANTS) folded = folded.replace(pattern, replacement);
  let out = '';
  let previousVowel: string | undefined;
  for (const ch of folded) {
    if (previousVowel !== undefined && (ch === LONG_VOWEL_MARK || LENGTHENERS[previousVowel]?.includes(ch))) {
      out += LONG_VOWEL_MARK;
      previousVowel = undefined;
    } else {
      out += ch;
      previousVowel = VOWEL_OF.get(ch);
    }
  }
  return out;
}

function hasSoundMarks(s: string): boolean {
  return /[\u3099\u309A]/u.test(s.normalize('NFD'));
}

function dropSoundMarks(s: string): string {
  return s.normalize('NFD').replace(/[\u3099\u309A]/gu, '').normalize('NFC');
}
