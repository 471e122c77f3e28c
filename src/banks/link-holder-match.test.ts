// The holder check that would have stopped 2020: the same person written the way banks write names passes;
// another person, or the same name born on another day, does not.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assessHolder } from './link-holder-match.js';

const wallet = { nameKana: 'ヤマダ タロウ', dateOfBirth: '1980-04-01' };
const holder = (name_kana: string, date_of_birth = '1980-04-01') => ({ name_kana, date_of_birth });

describe('assessHolder', () => {
  it('accepts the same person however the bank writes the name', () => {
    for (const name of ['ヤマダ タロウ', 'ﾔﾏﾀﾞ ﾀﾛｳ', 'ﾔﾏﾀﾞﾀﾛｳ', 'やまだ たろう', 'ヤマダ　タロウ', 'ヤマダ タロー', 'ﾔﾏﾀﾞ ﾀﾛ-']) {
      const result = assessHolder(wallet, holder(name));
      assert.equal(result.accepted, true, `${name}: ${JSON.stringify(result.match)}`);
    }
  });

  it('accepts small kana the bank prints large', () => {
    const kyoko = { nameKana: 'サトウ キョウコ', dateOfBirth: '1975-12-24' };
    assert.equal(assessHolder(kyoko, holder('ｻﾄｳ ｷﾖｳｺ', '1975-12-24')).accepted, true);
    const shota = { nameKana: 'イトウ ショウタ', dateOfBirth: '1990-01-02' };
    assert.equal(assessHolder(shota, holder('ｲﾄｳ ｼﾖｳﾀ', '1990-01-02')).accepted, true);
    const jun = { nameKana: 'ハットリ ジュン', dateOfBirth: '1990-01-02' };
    assert.equal(assessHolder(jun, holder('ﾊﾂﾄﾘ ｼﾞﾕﾝ', '1990-01-02')).accepted, true);
  });

  it('refuses another person: the 2020 attack, a victim\'s account in an attacker\'s wallet', () => {
    for (const name of ['ヤマダ ハナコ', 'スズキ タロウ', 'ﾀﾅｶ ｲﾁﾛｳ', 'ヤマモト タロウ', 'ヤマダ ジロウ']) {
      const result = assessHolder(wallet, holder(name));
      assert.equal(result.accepted, false, name);
      assert.notEqual(result.match!.band, 'exact', name);
    }
  });

  it('refuses the same name born on another day', () => {
    const result = assessHolder(wallet, holder('ﾔﾏﾀﾞ ﾀﾛｳ', '1980-04-02'));
    assert.equal(result.match!.band, 'exact');
    assert.equal(result.dobMatches, false);
    assert.equal(result.accepted, false);
  });

  it('accepts nothing without a name or a date of birth to compare', () => {
    assert.deepEqual(assessHolder(null, holder('ﾔﾏﾀﾞ ﾀﾛｳ')), { match: null, dobMatches: null, accepted: false });
    const typed = assessHolder({ nameKana: 'ヤマダ タロウ', dateOfBirth: null }, holder('ﾔﾏﾀﾞ ﾀﾛｳ'));
    assert.equal(typed.match!.band, 'exact');
    assert.equal(typed.accepted, false);
  });
});
