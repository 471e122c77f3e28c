// The sandbox business check: the register is the seed's, corporate numbers carry the published check digit, and the
// provider verifies a corporation only for its representative under its registered name; a sole proprietor is a
// population person trading under a name; behaviours make a business fail or wait for review.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SandboxIdentityProvider } from './identity-provider.js';
import { corporateNumberCheckDigit, isCorporateNumber, type BusinessSubmission } from '../identity/verification/verifier.js';

describe('corporate numbers (法人番号)', () => {
  it('checks the published check digit: the National Tax Agency\'s own number passes, a changed digit fails', () => {
    assert.equal(corporateNumberCheckDigit('000012050002'), '7');
    assert.ok(isCorporateNumber('7000012050002'));
    assert.ok(!isCorporateNumber('8000012050002'));
    assert.ok(!isCorporateNumber('7000012050003'));
    assert.ok(!isCorporateNumber('700001205000'));
  });
});

describe('sandbox business register', () => {
  const provider = new SandboxIdentityProvider({ seed: 11, size: 200 });
  const people = provider.list(0, 200).map((i) => i.person);
  const register = provider.listBusinesses(0, 1000).map((b) => b.corporation);

  it('is drawn from the seed: the same seed, the same register; represented mostly by population persons', () => {
    const again = new SandboxIdentityProvider({ seed: 11, size: 200 }).listBusinesses(0, 1000).map((b) => b.corporation);
    assert.deepEqual(again, register);
    assert.ok(register.every((c) => isCorporateNumber(c.corporateNumber)));
    assert.equal(new Set(register.map((c) => c.corporateNumber)).size, register.length);
    assert.equal(register.filter((c) => c.representativeIndex === null).length, 20);
    assert.ok(register.filter((c) => c.representativeIndex !== null).length > 20);
  });

  const corp = register.find((c) => c.representativeIndex !== null)!;
  const rep = people[corp.representativeIndex!]!;
  const other = people.find((p) => !register.some((c) => c.representativeIndex === p.index))!;
  const submission = (overrides: Partial<BusinessSubmission> = {}): BusinessSubmission => ({
    submissionId: 'bzv_test', kind: 'corporation', corporateNumber: corp.corporateNumber, name: corp.registeredName,
    representative: { nameKanji: rep.nameKanji, nameKana: rep.nameKana, dateOfBirth: rep.dateOfBirth }, ...overrides,
  });

  it('verifies a corporation for its representative, with the register\'s record', async () => {
    const answer = await provider.verifyBusiness(submission({ name: corp.registeredName.replace('株式会社', '株式会社 ') }));
    assert.match(answer.providerReference, /^sbxkyb_/);
    assert.deepEqual(answer.outcome, {
      status: 'verified',
      business: { kind: 'corporation', corporateNumber: corp.corporateNumber, registeredName: corp.registeredName, representative: corp.representative },
    });
  });

  it('fails an unknown number, a wrong name and a representative who is not this business\'s', async () => {
    assert.deepEqual((await provider.verifyBusiness(submission({ corporateNumber: '7000012050002' }))).outcome, { status: 'failed', reason: 'business_unknown' });
    assert.deepEqual((await provider.verifyBusiness(submission({ name: '合同会社まちがい' }))).outcome, { status: 'failed', reason: 'name_mismatch' });
    const stranger = { nameKanji: other.nameKanji, nameKana: other.nameKana, dateOfBirth: other.dateOfBirth };
    assert.deepEqual((await provider.verifyBusiness(submission({ representative: stranger }))).outcome, { status: 'failed', reason: 'not_representative' });
  });

  it('verifies a sole proprietor who is a population person, under the trade name', async () => {
    const answer = await provider.verifyBusiness({
      submissionId: 'bzv_sole', kind: 'sole_proprietor', corporateNumber: null, name: ' 喫茶こざ ',
      representative: { nameKanji: other.nameKanji, nameKana: other.nameKana, dateOfBirth: other.dateOfBirth },
    });
    assert.deepEqual(answer.outcome, {
      status: 'verified',
      business: { kind: 'sole_proprietor', corporateNumber: null, registeredName: '喫茶こざ',
        representative: { nameKanji: other.nameKanji, nameKana: other.nameKana, dateOfBirth: other.dateOfBirth } },
    });
    const unknown = await provider.verifyBusiness({
      submissionId: 'bzv_sole2', kind: 'sole_proprietor', corporateNumber: null, name: '屋号',
      representative: { nameKanji: '存在 しない', nameKana: 'ソンザイ シナイ', dateOfBirth: '1970-01-01' },
    });
    assert.deepEqual(unknown.outcome, { status: 'failed', reason: 'business_unknown' });
  });

  it('answers fail or pending review when told to, for a corporation or a person\'s sole proprietorship', async () => {
    const local = new SandboxIdentityProvider({ seed: 11, size: 200 });
    assert.ok(local.setBusinessBehaviour(corp.corporateNumber, 'pending_review'));
    assert.deepEqual((await local.verifyBusiness(submission())).outcome, { status: 'pending_review' });
    assert.ok(local.setBusinessBehaviour(corp.corporateNumber, 'fail'));
    assert.deepEqual((await local.verifyBusiness(submission())).outcome, { status: 'failed', reason: 'declined' });
    assert.ok(local.setBusinessBehaviour(corp.corporateNumber, 'pass'));
    assert.equal((await local.verifyBusiness(submission())).outcome.status, 'verified');
    assert.ok(local.setBusinessBehaviour(other.document.number, 'fail'));
    const sole = await local.verifyBusiness({
      submissionId: 'bzv_s', kind: 'sole_proprietor', corporateNumber: null, name: '屋号',
      representative: { nameKanji: other.nameKanji, nameKana: other.nameKana, dateOfBirth: other.dateOfBirth },
    });
    assert.deepEqual(sole.outcome, { status: 'failed', reason: 'declined' });
    assert.ok(!local.setBusinessBehaviour('1234567890123', 'fail'), 'an unknown number is refused');
  });
});
