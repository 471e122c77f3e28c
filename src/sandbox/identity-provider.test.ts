// The sandbox identity provider: knows only seeded documents, answers with its own record of the person,
// and can be told per identity or per submission to fail or to flag fraud.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SandboxIdentityProvider } from './identity-provider.js';
import type { Person } from './population.js';
import type { VerificationSubmission } from '../identity/verification/verifier.js';

function submissionFor(person: Person, overrides: Partial<VerificationSubmission> = {}): VerificationSubmission {
  return {
    submissionId: 'kyc_test', documentType: person.document.type, documentNumber: person.document.number,
    claimed: {
      nameKanji: person.nameKanji, nameKana: person.nameKana, dateOfBirth: person.dateOfBirth, address: { ...person.address },
    },
    selfieToken: 'live-selfie',
    ...overrides,
  };
}

describe('sandbox identity provider', () => {
  const provider = new SandboxIdentityProvider({ seed: 11, size: 50 });
  const people = provider.list(0, 50).map((i) => i.person);
  const at = (i: number): Person => people[i]!;

  it('verifies a seeded person and answers with its own record, not the claimed spelling', async () => {
    const person = at(0);
    const answer = await provider.submit(submissionFor(person, {
      claimed: {
        // Hiragana, an ideographic space, a different street spelling: a person's typing, the same person.
        nameKanji: person.nameKanji.replace(' ', '　'), nameKana: person.nameKana.replace(/[\u30A1-\u30F6]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0x60)),
        dateOfBirth: person.dateOfBirth, address: { ...person.address, street: '1-2-3' },
      },
    }));
    assert.match(answer.providerReference, /^sbxidv_/);
    assert.deepEqual(answer.outcome, {
      status: 'verified',
      person: {
        nameKanji: person.nameKanji, nameKana: person.nameKana, dateOfBirth: person.dateOfBirth, address: person.address,
        documentType: person.document.type, documentNumber: person.document.number,
      },
    });
    const again = await provider.submit(submissionFor(person));
    assert.notEqual(again.providerReference, answer.providerReference, 'one reference per submission');
  });

  it('fails unknown documents, a document of another type, and details that are not the document\'s', async () => {
    const person = at(1);
    assert.deepEqual((await provider.submit(submissionFor(person, { documentNumber: '000000000000' }))).outcome,
      { status: 'failed', reason: 'document_unknown' });
    const otherType = person.document.type === 'my_number_card' ? 'drivers_licence' : 'my_number_card';
    assert.deepEqual((await provider.submit(submissionFor(person, { documentType: otherType }))).outcome,
      { status: 'failed', reason: 'document_unknown' });
    const base = submissionFor(person).claimed;
    for (const claimed of [
      { ...base, dateOfBirth: '1999-12-31' },
      { ...base, nameKana: 'ヤマダ タロウ' },
      { ...base, nameKanji: '山田 太郎' },
      { ...base, address: { ...base.address, city: '別の市' } },
    ]) {
      assert.deepEqual((await provider.submit(submissionFor(person, { claimed }))).outcome,
        { status: 'failed', reason: 'claimed_data_mismatch' });
    }
  });

  it('does what it is told per identity, and a sandbox selfie token overrides it for one submission', async () => {
    const person = at(2);
    const number = person.document.number;
    assert.equal(provider.setBehaviour(number, 'forged_document'), true);
    assert.equal(provider.find(number)?.behaviour, 'forged_document');
    assert.deepEqual((await provider.submit(submissionFor(person))).outcome, { status: 'flagged', flag: 'forged_document' });
    assert.deepEqual((await provider.submit(submissionFor(person, { selfieToken: 'sandbox-selfie-mismatch' }))).outcome,
      { status: 'flagged', flag: 'selfie_mismatch' });
    provider.setBehaviour(number, 'fail');
    assert.deepEqual((await provider.submit(submissionFor(person))).outcome, { status: 'failed', reason: 'declined' });
    provider.setBehaviour(number, 'pass');
    assert.equal(provider.find(number)?.behaviour, 'pass');
    assert.equal((await provider.submit(submissionFor(person))).outcome.status, 'verified');
    assert.deepEqual((await provider.submit(submissionFor(person, { selfieToken: 'sandbox-forged-document' }))).outcome,
      { status: 'flagged', flag: 'forged_document' });
    assert.deepEqual((await provider.submit(submissionFor(person, { selfieToken: 'sandbox-fail' }))).outcome,
      { status: 'failed', reason: 'declined' });
    // Only the documented tokens steer; anything else (even an Object.prototype name) is a live selfie.
    assert.equal((await provider.submit(submissionFor(person, { selfieToken: 'constructor' }))).outcome.status, 'verified');
    assert.equal(provider.setBehaviour('000000000000', 'fail'), false);
    assert.equal(provider.find('000000000000'), null);
  });
});
