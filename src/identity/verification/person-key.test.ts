// The keys behind "one verified person → one wallet": every spelling of a kana name is one person, and
// the keys mean nothing without the server key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { documentKey, personKey } from './person-key.js';

describe('person and document keys', () => {
  const key = Buffer.alloc(32, 7);

  it('are one key for every way of writing the same kana name', () => {
    const expected = personKey(key, 'サトウ キョウコ', '1980-01-02');
    for (const spelling of ['さとう きょうこ', 'サトウ　キョウコ', 'ｻﾄｳ ｷｮｳｺ', 'サトウキョウコ', 'サトウ・キヨウコ']) {
      assert.equal(personKey(key, spelling, '1980-01-02'), expected, spelling);
    }
    assert.notEqual(personKey(key, 'サトウ キョウコ', '1980-01-03'), expected);
    assert.notEqual(personKey(key, 'サイトウ キョウコ', '1980-01-02'), expected);
    assert.notEqual(personKey(Buffer.alloc(32, 8), 'サトウ キョウコ', '1980-01-02'), expected, 'keyed by the server key');
  });

  it('separate document types and ignore how the number is spaced', () => {
    assert.equal(documentKey(key, 'drivers_licence', '3012 3456 7890'), documentKey(key, 'drivers_licence', '301234567890'));
    assert.equal(documentKey(key, 'drivers_licence', '３０１２３４５６７８９０'), documentKey(key, 'drivers_licence', '301234567890'));
    assert.notEqual(documentKey(key, 'my_number_card', '301234567890'), documentKey(key, 'drivers_licence', '301234567890'));
  });
});
