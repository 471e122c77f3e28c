// Table tests for kana name handling: every kana in every width, the Zengin bank form, and name-match bands.
// Must never derive an expected value from the code under test: tables are literal or built from Unicode ranges.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bandForScore, isBankKana, isPlausibleKanaName, matchNames, normalizeName, toBankKana, toFullWidth, toKatakana,
  type NameMatchBand,
} from './kana.js';

function range(first: number, last: number): string {
  return Array.from({ length: last - first + 1 }, (_, i) => String.fromCodePoint(first + i)).join('');
}

function zip(from: string, to: string): [string, string][] {
  const a = Array.from(from);
  const b = Array.from(to);
  assert.equal(a.length, b.length, `table sizes differ: ${from} / ${to}`);
  return a.map((ch, i) => [ch, b[i]!]);
}

const cp = (s: string) => Array.from(s, (ch) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase()}`).join(' ');

// U+3041–3096, written out: the oracle for toKatakana, checked against the Unicode range below.
const HIRAGANA =
  'ぁあぃいぅうぇえぉおかがきぎくぐけげこごさざしじすずせぜそぞただちぢっつづてでとどなにぬねのはばぱひびぴふぶぷへべぺほぼぽ' +
  'まみむめもゃやゅゆょよらりるれろゎわゐゑをんゔゕゖ';
const KATAKANA =
  'ァアィイゥウェエォオカガキギクグケゲコゴサザシジスズセゼソゾタダチヂッツヅテデトドナニヌネノハバパヒビピフブプヘベペホボポ' +
  'マミムメモャヤュユョヨラリルレロヮワヰヱヲンヴヵヶ';

// U+FF61–FF9F and their full-width forms, written out.
const HALF_WIDTH_BLOCK = '｡｢｣､･ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝﾞﾟ';
const FULL_WIDTH_OF_BLOCK = '。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜';

// Every voiced / semi-voiced katakana that half-width kana can spell (ヸヹ cannot: there is no half-width ヰヱ).
const VOICED_HALF_TO_FULL: [string, string][] = [
  ['ｶﾞ', 'ガ'], ['ｷﾞ', 'ギ'], ['ｸﾞ', 'グ'], ['ｹﾞ', 'ゲ'], ['ｺﾞ', 'ゴ'],
  ['ｻﾞ', 'ザ'], ['ｼﾞ', 'ジ'], ['ｽﾞ', 'ズ'], ['ｾﾞ', 'ゼ'], ['ｿﾞ', 'ゾ'],
  ['ﾀﾞ', 'ダ'], ['ﾁﾞ', 'ヂ'], ['ﾂﾞ', 'ヅ'], ['ﾃﾞ', 'デ'], ['ﾄﾞ', 'ド'],
  ['ﾊﾞ', 'バ'], ['ﾋﾞ', 'ビ'], ['ﾌﾞ', 'ブ'], ['ﾍﾞ', 'ベ'], ['ﾎﾞ', 'ボ'],
  ['ﾊﾟ', 'パ'], ['ﾋﾟ', 'ピ'], ['ﾌﾟ', 'プ'], ['ﾍﾟ', 'ペ'], ['ﾎﾟ', 'ポ'],
  ['ｳﾞ', 'ヴ'], ['ﾜﾞ', 'ヷ'], ['ｦﾞ', 'ヺ'],
];

// The large full-width letters and their Zengin form, written out.
const LARGE_KATAKANA = 'アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン';
const LARGE_BANK_KANA = 'ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ';

/** Letters whose bank form is lossy, with the letter it comes back as. */
const LOSSY_IN_BANK_FORM: [string, string, string][] = [
  ['ァ', 'ｱ', 'ア'], ['ィ', 'ｲ', 'イ'], ['ゥ', 'ｳ', 'ウ'], ['ェ', 'ｴ', 'エ'], ['ォ', 'ｵ', 'オ'],
  ['ッ', 'ﾂ', 'ツ'], ['ャ', 'ﾔ', 'ヤ'], ['ュ', 'ﾕ', 'ユ'], ['ョ', 'ﾖ', 'ヨ'], ['ヮ', 'ﾜ', 'ワ'],
  ['ヵ', 'ｶ', 'カ'], ['ヶ', 'ｹ', 'ケ'], ['ヰ', 'ｲ', 'イ'], ['ヱ', 'ｴ', 'エ'], ['ヲ', 'ｵ', 'オ'],
  ['ヸ', 'ｲﾞ', 'イ゛'], ['ヹ', 'ｴﾞ', 'エ゛'], ['ヺ', 'ｵﾞ', 'オ゛'],
];

describe('toKatakana', () => {
  it('the literal hiragana table is exactly U+3041–U+3096', () => {
    assert.equal(HIRAGANA, range(0x3041, 0x3096));
    assert.equal(KATAKANA, range(0x30a1, 0x30f6));
  });

  it('maps every hiragana to its katakana (86 pairs, from the literal tables)', () => {
    for (const [hiragana, katakana] of zip(HIRAGANA, KATAKANA)) {
      assert.equal(toKatakana(hiragana), katakana, `${hiragana} ${cp(hiragana)}`);
    }
  });

  it('maps every code point of U+3041–3096 to the one 0x60 above, and ゝゞ to ヽヾ', () => {
    for (let code = 0x3041; code <= 0x3096; code++) {
      assert.equal(toKatakana(String.fromCodePoint(code)), String.fromCodePoint(code + 0x60), `U+${code.toString(16)}`);
    }
    assert.equal(toKatakana('ゝゞ'), 'ヽヾ');
  });

  for (const [hiragana, katakana] of [
    ['あ', 'ア'], ['ん', 'ン'], ['ゔ', 'ヴ'], ['ゐ', 'ヰ'], ['ゑ', 'ヱ'], ['を', 'ヲ'], ['ぁ', 'ァ'], ['ぃ', 'ィ'],
    ['ぅ', 'ゥ'], ['ぇ', 'ェ'], ['ぉ', 'ォ'], ['ゃ', 'ャ'], ['ゅ', 'ュ'], ['ょ', 'ョ'], ['っ', 'ッ'], ['ゎ', 'ヮ'],
    ['ゕ', 'ヵ'], ['ゖ', 'ヶ'], ['が', 'ガ'], ['ぱ', 'パ'], ['ぢ', 'ヂ'], ['づ', 'ヅ'],
    ['やまだ たろう', 'ヤマダ タロウ'], ['きょうこ', 'キョウコ'], ['はっとり', 'ハットリ'],
  ] as const) {
    it(`spot check: ${hiragana} → ${katakana}`, () => assert.equal(toKatakana(hiragana), katakana));
  }

  it('leaves katakana, ー, ・, Latin, digits, kanji, half-width kana and ゟ alone', () => {
    const others = `${KATAKANA}ー・ヽヾ ABCabc019山田ﾔﾏﾀﾞゟ`;
    assert.equal(toKatakana(others), others);
  });

  it('converts a hiragana followed by a combining mark without touching the mark', () => {
    assert.equal(toKatakana('か\u3099'), 'カ\u3099');
  });
});

describe('toFullWidth', () => {
  it('the literal half-width table is exactly U+FF61–U+FF9F', () => {
    assert.equal(HALF_WIDTH_BLOCK, range(0xff61, 0xff9f));
  });

  it('maps every half-width katakana character (U+FF61–FF9F) to its full-width form', () => {
    for (const [half, full] of zip(HALF_WIDTH_BLOCK, FULL_WIDTH_OF_BLOCK)) {
      assert.equal(toFullWidth(half), full, `${half} ${cp(half)}`);
    }
  });

  it('agrees with NFKC on every half-width letter U+FF66–FF9D', () => {
    for (const half of range(0xff66, 0xff9d)) assert.equal(toFullWidth(half), half.normalize('NFKC'), cp(half));
  });

  for (const [half, full] of VOICED_HALF_TO_FULL) {
    it(`joins the mark: ${half} → ${full}`, () => assert.equal(toFullWidth(half), full));
  }

  it('covers every composed voiced letter whose base has a half-width form', () => {
    const voiced = Array.from(range(0x30a1, 0x30fa)).filter((ch) => /[\u3099\u309A]/u.test(ch.normalize('NFD')));
    const covered = new Set(VOICED_HALF_TO_FULL.map(([, full]) => full));
    assert.deepEqual(voiced.filter((ch) => !covered.has(ch)), ['ヸ', 'ヹ']);
  });

  for (const [input, expected] of [
    ['ﾔﾏﾀﾞ ﾀﾛｳ', 'ヤマダ タロウ'],
    ['ｷﾖｳｺ', 'キヨウコ'],
    ['ｳﾞｧｲｵﾘﾝ', 'ヴァイオリン'],
    ['ｶ)ｺｻﾞ', 'カ)コザ'],
    ['ｱﾞ', 'ア゛'], // no composed letter: the mark stays visible, spacing
    ['ｶﾟ', 'カ゜'],
    ['ﾞ', '゛'],
    ['ﾟﾟ', '゜゜'],
    ['カ゛', 'ガ'], // a spacing mark typed after the letter joins it too
    ['ハ゜', 'パ'],
    ['ｙａｍａｄａ', 'yamada'], // full-width Latin goes to ASCII (NFKC direction); case is kept
    ['ＹＡＭＡＤＡ　ＴＡＲＯ', 'YAMADA TARO'],
    ['０１２３４５６７８９', '0123456789'],
    ['（カ）．－／，', '(カ).-/,'],
    ['ヤマダ　タロウ', 'ヤマダ タロウ'],
    ['￨￩￪￫￬￭￮', '│←↑→↓■○'],
    ['￥', '¥'],
    ['ガギグ やまだ 山田 ㈱', 'ガギグ やまだ 山田 ㈱'],
  ] as const) {
    it(`${input} → ${expected}`, () => assert.equal(toFullWidth(input), expected));
  }
});

describe('toBankKana', () => {
  for (const [full, bank] of zip(LARGE_KATAKANA, LARGE_BANK_KANA)) {
    it(`${full} → ${bank}`, () => assert.equal(toBankKana(full), bank));
  }

  for (const [half, full] of VOICED_HALF_TO_FULL.filter(([, full]) => full !== 'ヺ')) {
    it(`${full} → ${half} (separate mark)`, () => assert.equal(toBankKana(full), half));
  }

  for (const [letter, bank] of LOSSY_IN_BANK_FORM.map(([letter, bank]) => [letter, bank] as const)) {
    it(`writes ${letter} as ${bank}`, () => assert.equal(toBankKana(letter), bank));
  }

  for (const [input, expected] of [
    ['キョウコ', 'ｷﾖｳｺ'],
    ['ハットリ ジョウ', 'ﾊﾂﾄﾘ ｼﾞﾖｳ'],
    ['カヲル', 'ｶｵﾙ'],
    ['ヴァイオリン', 'ｳﾞｱｲｵﾘﾝ'],
    ['やまだ たろう', 'ﾔﾏﾀﾞ ﾀﾛｳ'],
    ['ｷｮｳｺ', 'ｷﾖｳｺ'], // half-width small kana are not Zengin either
    ['オータ', 'ｵ-ﾀ'], // ー is refused in Zengin names; banks ask for the hyphen
    ['オｰタ', 'ｵ-ﾀ'],
    ['オ－タ', 'ｵ-ﾀ'],
    ['スミス・ジョン', 'ｽﾐｽ ｼﾞﾖﾝ'],
    ['ヤマダ　　タロウ ', 'ﾔﾏﾀﾞ ﾀﾛｳ'],
    ['\tヤマダ\u00A0タロウ\n', 'ﾔﾏﾀﾞ ﾀﾛｳ'],
    ['ｙａｍａｄａ taro', 'YAMADA TARO'],
    ['José Smith-Jones', 'JOSE SMITH-JONES'],
    ['０１２３', '0123'],
    ['カブシキガイシャ（カ）．－／，', 'ｶﾌﾞｼｷｶﾞｲｼﾔ(ｶ).-/,'],
    ['カ)コザ', 'ｶ)ｺｻﾞ'],
    ['ア゛', 'ｱﾞ'],
    ['山田タロウ', '山田ﾀﾛｳ'], // no Zengin form: left for isBankKana to refuse
    ['', ''],
  ] as const) {
    it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(toBankKana(input), expected));
  }

  it('round-trips every katakana letter whose bank form is lossless (toBankKana then toFullWidth)', () => {
    const lossy = new Set(LOSSY_IN_BANK_FORM.map(([letter]) => letter));
    const letters = Array.from(range(0x30a1, 0x30fa)).filter((ch) => !lossy.has(ch));
    assert.equal(letters.length, 90 - lossy.size);
    for (const letter of letters) {
      const bank = toBankKana(letter);
      assert.ok(isBankKana(bank), `${letter} → ${bank} is not Zengin`);
      assert.equal(toFullWidth(bank), letter, `${letter} → ${bank}`);
    }
  });

  it('brings lossy letters back as the large letter', () => {
    for (const [letter, bank, back] of LOSSY_IN_BANK_FORM) {
      assert.equal(toFullWidth(toBankKana(letter)), back, `${letter} → ${bank}`);
    }
  });

  it('round-trips whole names', () => {
    for (const name of ['ヤマダ タロウ', 'スズキ ハナコ', 'ワタナベ ケンジ', 'ヴアレリ ポポフ', 'カ)コザ']) {
      assert.equal(toFullWidth(toBankKana(name)), name);
    }
  });

  it('is idempotent and only emits the Zengin set for kana, Latin and digit input', () => {
    const inputs = [HIRAGANA, KATAKANA, FULL_WIDTH_OF_BLOCK, HALF_WIDTH_BLOCK, 'Ｙａｍａｄａ ー・（）', 'abcXYZ 0123'];
    for (const input of inputs) {
      const bank = toBankKana(input);
      assert.equal(toBankKana(bank), bank, input);
      assert.ok(isBankKana(bank.replace(/[。「」、]/gu, '')), `${input} → ${bank}`);
    }
  });
});

describe('isBankKana', () => {
  for (const [input, expected] of [
    ['ﾔﾏﾀﾞ ﾀﾛｳ', true], ['ｶ)ｺｻﾞ', true], ['(ｶ).-/,', true], ['ABC 0123', true], ['', true],
    ['ヤマダ', false], ['ｷｮｳｺ', false], ['ｵｰﾀ', false], ['ｦ', false], ['abc', false], ['ﾔﾏﾀﾞ･ﾀﾛｳ', false],
    ['ﾔﾏﾀﾞ\u3000ﾀﾛｳ', false], ['山田', false], ['¥', false],
  ] as const) {
    it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(isBankKana(input), expected));
  }
});

describe('normalizeName', () => {
  it('folds every hiragana and every full- and half-width katakana to large full-width katakana', () => {
    const small = 'ァィゥェォッャュョヮヵヶ';
    const large = 'アイウエオツヤユヨワカケ';
    const expected = KATAKANA.replace(/./gu, (ch) => {
      const i = small.indexOf(ch);
      return i >= 0 ? large[i]! : ({ ヰ: 'イ', ヱ: 'エ', ヲ: 'オ' } as Record<string, string>)[ch] ?? ch;
    });
    assert.equal(normalizeName(HIRAGANA), expected);
    assert.equal(normalizeName(KATAKANA), expected);
  });

  it('maps every half-width letter U+FF66–FF9D to the large full-width letter', () => {
    for (const [half, full] of zip(HALF_WIDTH_BLOCK.slice(5, -2), FULL_WIDTH_OF_BLOCK.slice(5, -2))) {
      const large: Record<string, string> = { ヲ: 'オ', ァ: 'ア', ィ: 'イ', ゥ: 'ウ', ェ: 'エ', ォ: 'オ', ャ: 'ヤ', ュ: 'ユ', ョ: 'ヨ', ッ: 'ツ' };
      const expected = large[full] ?? full;
      assert.equal(normalizeName(half), expected, `${half} ${cp(half)}`);
    }
  });

  it('joins every half-width voiced letter', () => {
    for (const [half, full] of VOICED_HALF_TO_FULL) {
      assert.equal(normalizeName(half), full, half);
    }
  });

  for (const [small, large] of zip('ァィゥェォッャュョヮヵヶぁぃぅぇぉっゃゅょゎゕゖｧｨｩｪｫｯｬｭｮ', 'アイウエオツヤユヨワカケアイウエオツヤユヨワカケアイウエオツヤユヨ')) {
    it(`small kana ${small} → ${large}`, () => assert.equal(normalizeName(small), large));
  }

  for (const [input, expected] of [['ヰ', 'イ'], ['ヱ', 'エ'], ['ヲ', 'オ'], ['ゐ', 'イ'], ['を', 'オ'], ['ｦ', 'オ'], ['ヴ', 'ヴ'], ['ゔ', 'ヴ'], ['ｳﾞ', 'ヴ']] as const) {
    it(`${input} → ${expected}`, () => assert.equal(normalizeName(input), expected));
  }

  for (const mark of ['ー', 'ｰ', '-', '‐', '‑', '‒', '–', '—', '―', '−', '－', '─', '━', '～', '~', '〜', '∼']) {
    it(`long vowel variant ${mark} ${cp(mark)} → ー`, () => assert.equal(normalizeName(`オ${mark}タ`), 'オータ'));
  }

  for (const dot of ['・', '･', '·', '‧', '∙', '⋅', '•', '゠']) {
    it(`middle dot ${dot} ${cp(dot)} separates parts`, () => {
      assert.equal(normalizeName(`スミス${dot}ジョン`), 'スミス ジヨン');
      assert.equal(normalizeName(`スミス ${dot} ジョン`), 'スミス ジヨン');
    });
  }

  for (const [name, space] of [
    ['U+0020', ' '], ['U+3000 ideographic', '\u3000'], ['U+00A0 no-break', '\u00A0'], ['U+2002 en', '\u2002'],
    ['U+2003 em', '\u2003'], ['U+2009 thin', '\u2009'], ['U+202F narrow no-break', '\u202F'], ['tab', '\t'],
    ['newline', '\n'], ['three spaces', '   '], ['mixed run', ' \u3000\t\u00A0 '],
  ] as const) {
    it(`space ${name} → one ASCII space, trimmed`, () => {
      assert.equal(normalizeName(`${space}ヤマダ${space}タロウ${space}`), 'ヤマダ タロウ');
    });
  }

  for (const [input, expected] of [
    ['ｙａｍａｄａ', 'YAMADA'],
    ['Ｙａｍａｄａ　Ｔａｒｏ', 'YAMADA TARO'],
    ['yamada taro', 'YAMADA TARO'],
    ['やまだ　たろう', 'ヤマダ タロウ'],
    ['ﾔﾏﾀﾞ ﾀﾛｳ', 'ヤマダ タロウ'],
    ['ｷｮｳｺ', 'キヨウコ'],
    ['きょうこ', 'キヨウコ'],
    ['カ゛ン', 'ガン'],
    ['ヤマ\u200Bダ', 'ヤマダ'], // zero-width space is invisible, not a separator
    ['ﾔﾏﾀ\u200Bﾞ', 'ヤマダ'],
    ['\uFEFFヤマダ', 'ヤマダ'],
    ['ヤマダ\u00ADタロウ', 'ヤマダタロウ'], // soft hyphen
    ['コザ（カ）', 'コザ(カ)'], // corporate brackets kept, in ASCII
    ['ｶ)ｺｻﾞ', 'カ)コザ'],
    ['ヴァイオリン', 'ヴアイオリン'],
    ['ｱﾞ', 'ア゛'],
    ['', ''],
    ['   \u3000 ', ''],
    ['・', ''],
  ] as const) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => assert.equal(normalizeName(input), expected));
  }

  it('is idempotent', () => {
    for (const input of [HIRAGANA, KATAKANA, HALF_WIDTH_BLOCK, 'ｙａｍａｄａ・ｔａｒｏ', ' ｵｰﾀ  ﾕｳｺ ', 'コザ（カ）']) {
      const once = normalizeName(input);
      assert.equal(normalizeName(once), once, input);
    }
  });
});

describe('matchNames', () => {
  // [eKYC name, bank holder name, band, score]
  const cases: [string, string, NameMatchBand, number][] = [
    // exact: the same name in another width, script or spacing
    ['ヤマダ タロウ', 'ヤマダ タロウ', 'exact', 100],
    ['ヤマダ タロウ', 'ﾔﾏﾀﾞ ﾀﾛｳ', 'exact', 100],
    ['ヤマダ タロウ', 'やまだ たろう', 'exact', 100],
    ['ヤマダ タロウ', 'ヤマダ　タロウ', 'exact', 100],
    ['ヤマダ タロウ', 'ﾔﾏﾀﾞﾀﾛｳ', 'exact', 100], // bank dropped the space
    ['スズキ ハナコ', 'ｽｽﾞｷ ﾊﾅｺ', 'exact', 100],
    ['キョウコ', 'ｷﾖｳｺ', 'exact', 100], // small kana printed large: the bank form cannot say otherwise
    ['ハットリ ジョウジ', 'ﾊﾂﾄﾘ ｼﾞﾖｳｼﾞ', 'exact', 100],
    ['カヲル', 'ｶｵﾙ', 'exact', 100],
    ['スミス・ジョン', 'ｽﾐｽ ｼﾞﾖﾝ', 'exact', 100],
    ['ヤマダ タロウ', '  ヤマダ \t タロウ ', 'exact', 100],
    ['ｙａｍａｄａ ｔａｒｏ', 'YAMADA TARO', 'exact', 100],
    ['ヴィクトル', 'ｳﾞｲｸﾄﾙ', 'exact', 100],
    // strong: near-miss spellings of the same pronunciation, or the same parts in another order
    ['ヤマダ タロウ', 'ヤマダタ ロウ', 'strong', 97],
    ['オオタ', 'ｵｰﾀ', 'strong', 95],
    ['ユウコ', 'ユーコ', 'strong', 95],
    ['ユウコ', 'ﾕｰｺ', 'strong', 95],
    ['キョウコ', 'ｷﾖｰｺ', 'strong', 95],
    ['サイトウ ケイコ', 'ｻｲﾄｰ ｹｰｺ', 'strong', 95],
    ['サトウ タロウ', 'ｻﾄｳ ﾀﾛｵ', 'strong', 95],
    ['ツヅキ ミキ', 'ﾂｽﾞｷ ﾐｷ', 'strong', 95],
    ['チヂワ ケン', 'ﾁｼﾞﾜ ｹﾝ', 'strong', 95],
    ['ヴィクトル', 'ﾋﾞｸﾄﾙ', 'strong', 95],
    ['ヴァレリ ポポフ', 'ﾊﾞﾚﾘ ﾎﾟﾎﾟﾌ', 'strong', 95],
    ['ワタナベ ユウタ', 'ﾜﾀﾅﾍ ﾕｳﾀ', 'strong', 90], // a system that drops every mark
    ['ヤマダ タロウ', 'タロウ ヤマダ', 'strong', 88],
    ['ヤマダ タロウ', 'ﾀﾛｳﾔﾏﾀﾞ', 'strong', 88],
    ['ヤマダ タロウ', 'ﾀﾛｵ ﾔﾏﾀﾞ', 'strong', 88],
    // partial: one typo in a long name, for a person to review
    ['ナカムラ ケンタロウ', 'ﾅｶﾑﾗ ｹﾝﾀﾛ', 'partial', 80],
    ['ナカムラ ケンタロウ', 'ﾅｶﾑﾗ ｹｿﾀﾛｳ', 'partial', 80],
    ['サトウ ミツヒロ', 'ｻﾄｳ ﾐﾂﾋｺ', 'partial', 75],
    ['タカハシ ミツヒロ', 'ﾀｶﾊｼﾐﾂﾋｺ', 'partial', 75],
    ['ヤマダ ダイスケ', 'ﾔﾏﾀﾞ ﾀｲｽｹ', 'partial', 75], // a dakuten difference where both carry marks is a typo at best
    ['クリストファー ジョンソン', 'ｸﾘｽﾄﾌｱ ｼﾞﾖﾝｿﾝ', 'partial', 84],
    // mismatch: another person
    ['ヤマダ タロウ', 'ｽｽﾞｷ ﾊﾅｺ', 'mismatch', 0],
    ['ヤマダ タロウ', 'ﾔﾏﾀﾞ ﾊﾅｺ', 'mismatch', 0], // same family, different given name
    ['ヤマダ タロウ', 'ﾔﾏﾀﾞﾊﾅｺ', 'mismatch', 0],
    ['ヤマダ タロウ', 'ﾔﾏﾀﾞ ｼﾞﾛｳ', 'mismatch', 66],
    ['イトウ ヒロシ', 'ｲﾄｳ ﾋﾛﾐ', 'mismatch', 66],
    ['タカハシ ミホ', 'ﾀｶﾊｼ ﾐﾎｺ', 'mismatch', 66],
    ['ヤマダ タロウ', 'ｽｽﾞｷ ﾀﾛｳ', 'mismatch', 0], // same given, different family
    ['ヤマダ タロウ', 'ﾔﾏﾀﾞ', 'mismatch', 0],
    ['ヤマダ タロウ', '', 'mismatch', 0],
    ['', 'ﾔﾏﾀﾞ ﾀﾛｳ', 'mismatch', 0],
    ['', '', 'mismatch', 0],
    ['ヤマダ タロウ', ' \u3000 ', 'mismatch', 0],
    ['ヤマダ タロウ', 'YAMADA TARO', 'mismatch', 0], // no romaji transliteration
  ];

  for (const [ekycName, bankName, band, score] of cases) {
    it(`${ekycName} vs ${JSON.stringify(bankName)}: ${band} (${score})`, () => {
      const result = matchNames(ekycName, bankName);
      assert.equal(result.score, score);
      assert.equal(result.band, band);
      assert.equal(result.normalizedA, normalizeName(ekycName));
      assert.equal(result.normalizedB, normalizeName(bankName));
      assert.equal(matchNames(bankName, ekycName).score, score, 'symmetric');
    });
  }

  it('returns the normalised keys it compared', () => {
    assert.deepEqual(matchNames('やまだ　たろう', 'ﾔﾏﾀﾞﾀﾛｳ'), {
      score: 100, band: 'exact', normalizedA: 'ヤマダ タロウ', normalizedB: 'ヤマダタロウ',
    });
  });

  it('gives no fuzzy score to very long strings', () => {
    const long = 'ア'.repeat(150);
    assert.equal(matchNames(long, long).score, 100);
    assert.equal(matchNames(long, `${long}イ`).score, 0);
  });
});

describe('bandForScore', () => {
  for (const [score, band] of [
    [100, 'exact'], [99, 'strong'], [85, 'strong'], [84, 'partial'], [70, 'partial'], [69, 'mismatch'], [0, 'mismatch'],
  ] as const) {
    it(`${score} → ${band}`, () => assert.equal(bandForScore(score), band));
  }
});

describe('isPlausibleKanaName', () => {
  for (const [input, expected] of [
    ['ヤマダ タロウ', true], ['やまだ たろう', true], ['ﾔﾏﾀﾞ ﾀﾛｳ', true], ['スミス・ジョン', true], ['オータ', true],
    ['ヴィクトル', true], ['ンゴマ', true], ['キョウコ', true], ['ヤマ', true], ['オオオカ', true],
    ['ア', false], ['', false], ['   ', false], ['アイウエオカキクケコ'.repeat(4), true], ['アイウエオカキクケコ'.repeat(4) + 'サ', false],
    ['ウィリアムズ ジョナサン アレキサンダー', true],
    ['山田 太郎', false], ['YAMADA TARO', false], ['ヤマダ1', false], ['ヤマダ(カ)', false], ['ー ヤマダ', false],
    ['アアアア', false], ['ヤマダ ーーーー', false], ['ヤマダ ﾀﾛｳ!', false], ['ヤマダ@example.com', false],
  ] as const) {
    it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(isPlausibleKanaName(input), expected));
  }
});
