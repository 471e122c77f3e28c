// Owns the sandbox identity-verification provider: the seeded population as the documents it knows, and
// knobs that make an identity or a single submission pass, fail, or be flagged. Answers synchronously.
// Must never be used outside sandbox mode, and never verify a document it does not hold.
import { randomBytes } from 'node:crypto';
import { canonicalKana } from '../identity/verification/person-key.js';
import type {
  ClaimedIdentity, IdentityVerifier, ProviderAnswer, VerificationOutcome, VerificationSubmission,
} from '../identity/verification/verifier.js';
import { DEFAULT_POPULATION_SEED, DEFAULT_POPULATION_SIZE, generatePopulation, type Person } from './population.js';

/** What the sandbox does with a submission for an identity: `pass` still checks the claimed details. */
export type SandboxBehaviour = 'pass' | 'fail' | 'forged_document' | 'selfie_mismatch';

/**
 * Selfie tokens that force one submission's outcome, whatever the identity's behaviour. Any other
 * non-empty token is a live, matching selfie.
 */
export const SANDBOX_SELFIE_TOKENS: ReadonlyMap<string, Exclude<SandboxBehaviour, 'pass'>> = new Map([
  ['sandbox-fail', 'fail'],
  ['sandbox-forged-document', 'forged_document'],
  ['sandbox-selfie-mismatch', 'selfie_mismatch'],
]);

export const SANDBOX_PROVIDER_NAME = 'sandbox';

export interface SandboxIdentity {
  person: Person;
  behaviour: SandboxBehaviour;
}

/** Compares as a person reads: full/half width, spaces and hiragana/katakana do not matter. */
function loose(text: string): string {
  return text.normalize('NFKC').replace(/\s/g, '');
}

function claimsMatch(person: Person, claimed: ClaimedIdentity): boolean {
  // The street is not compared: people write it a dozen ways (1-2-3, 一丁目2番3号); koza keeps the
  // provider's spelling anyway, never the customer's.
  return loose(claimed.nameKanji) === loose(person.nameKanji)
    && canonicalKana(claimed.nameKana) === canonicalKana(person.nameKana)
    && claimed.dateOfBirth === person.dateOfBirth
    && loose(claimed.address.prefecture) === loose(person.address.prefecture)
    && loose(claimed.address.city) === loose(person.address.city);
}

export class SandboxIdentityProvider implements IdentityVerifier {
  readonly name = SANDBOX_PROVIDER_NAME;
  private readonly people: Person[];
  private readonly byDocument = new Map<string, Person>();
  // Held by this process: behaviours are test set-up, not records; a restart resets every identity to pass.
  private readonly behaviours = new Map<string, SandboxBehaviour>();

  constructor(options: { seed?: number; size?: number } = {}) {
    this.people = generatePopulation({
      seed: options.seed ?? DEFAULT_POPULATION_SEED, size: options.size ?? DEFAULT_POPULATION_SIZE,
    });
    for (const person of this.people) this.byDocument.set(person.document.number, person);
  }

  get size(): number {
    return this.people.length;
  }

  list(offset: number, limit: number): SandboxIdentity[] {
    return this.people.slice(offset, offset + limit).map((person) => this.identityOf(person));
  }

  find(documentNumber: string): SandboxIdentity | null {
    const person = this.byDocument.get(documentNumber);
    return person ? this.identityOf(person) : null;
  }

  /** Returns false for a document the sandbox does not hold. */
  setBehaviour(documentNumber: string, behaviour: SandboxBehaviour): boolean {
    if (!this.byDocument.has(documentNumber)) return false;
    if (behaviour === 'pass') this.behaviours.delete(documentNumber);
    else this.behaviours.set(documentNumber, behaviour);
    return true;
  }

  async submit(submission: VerificationSubmission): Promise<ProviderAnswer> {
    return { providerReference: `sbxidv_${randomBytes(12).toString('base64url')}`, outcome: this.decide(submission) };
  }

  private decide(submission: VerificationSubmission): VerificationOutcome {
    const person = this.byDocument.get(submission.documentNumber);
    if (!person || person.document.type !== submission.documentType) return { status: 'failed', reason: 'document_unknown' };
    const behaviour = SANDBOX_SELFIE_TOKENS.get(submission.selfieToken) ?? this.behaviours.get(person.document.number) ?? 'pass';
    if (behaviour === 'forged_document' || behaviour === 'selfie_mismatch') return { status: 'flagged', flag: behaviour };
    if (behaviour === 'fail') return { status: 'failed', reason: 'declined' };
    if (!claimsMatch(person, submission.claimed)) return { status: 'failed', reason: 'claimed_data_mismatch' };
    return {
      status: 'verified',
      person: {
        nameKanji: person.nameKanji, nameKana: person.nameKana, dateOfBirth: person.dateOfBirth,
        address: { ...person.address }, documentType: person.document.type, documentNumber: person.document.number,
      },
    };
  }

  private identityOf(person: Person): SandboxIdentity {
    return { person, behaviour: this.behaviours.get(person.document.number) ?? 'pass' };
  }
}
