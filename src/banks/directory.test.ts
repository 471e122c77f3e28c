// Directory entries are taken only when well formed: a bank code of four digits, known methods and status.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDirectory } from './directory.js';

describe('parseDirectory', () => {
  const good = { bank_code: '0001', name: 'さくら銀行', name_kana: 'ｻｸﾗ', link_methods: ['redirect', 'pin_otp'], status: 'operational' };

  it('keeps good entries, from a list or from { data } / { banks }', () => {
    assert.deepEqual(parseDirectory([good]), [good]);
    assert.deepEqual(parseDirectory({ data: [good] }), [good]);
    assert.deepEqual(parseDirectory({ banks: [good] }), [good]);
  });

  it('drops entries it cannot trust and nothing else', () => {
    const entries = parseDirectory([
      good,
      { ...good, bank_code: '01' },
      { ...good, bank_code: '0002', link_methods: ['telepathy'] },
      { ...good, bank_code: '0003', status: 'on fire' },
      { ...good, bank_code: '0004', name: '' },
      null, 'x',
      { ...good, bank_code: '0005', link_methods: ['pin_only', 'pin_only'] },
    ]);
    assert.deepEqual(entries.map((e) => e.bank_code), ['0001', '0005']);
    assert.deepEqual(entries[1]!.link_methods, ['pin_only']);
    assert.deepEqual(parseDirectory('nope'), []);
  });
});
