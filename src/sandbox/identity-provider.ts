// Owns the sandbox identity-verification provider: the seeded population as the documents it knows, and
// knobs that make an identity or a single submission pass, fail, or be flagged. Answers synchronously.
// Must never be used outside sandbox mode, and never verify a document it does not hold.
import { randomBytes } from 'node:crypto';
import { canonicalKana } from '../identity/verification/person-key.js';
import type {
  BusinessAnswer, BusinessOutcome, BusinessSubmission, ClaimedIdentity, IdentityVerifier, ProviderAnswer,
  VerificationOutcome, VerificationSubmission,
} from '../identity/verification/verifier.js';
import { DEFAULT_POPULATION_SEED, DEFAULT_POPULATION_SIZE, generatePopulation, type Person } from './population.js';
import { generateBusinessRegistry, type RegisteredCorporation } from './business-registry.js';

/** What the sandbox answers to a business check: `pass` still checks the name and the representative. */
export type SandboxBusinessBehaviour = 'pass' | 'fail' | 'pending_review';

export interface SandboxBusiness {
  corporation: RegisteredCorporation;
  behaviour: SandboxBusinessBehaviour;
}

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

function personOf(nameKana: string, dateOfBirth: string): string {
  return `${canonicalKana(nameKana)}|${dateOfBirth}`;
}

export class SandboxIdentityProvider implements IdentityVerifier {
  readonly name = SANDBOX_PROVIDER_NAME;
  private readonly people: Person[];
  private readonly byDocument = new Map<string, Person>();
  // Held by this process: behaviours are test set-up, not records; a restart resets every identity to pass.
  private readonly behaviours = new Map<string, SandboxBehaviour>();

  private readonly corporations: RegisteredCorporation[];
  private readonly byCorporateNumber = new Map<string, RegisteredCorporation>();
  private readonly byPersonKey = new Map<string, Person>();
  // Keyed by corporate number (a corporation) or the owner's document number (a sole proprietorship).
  private readonly businessBehaviours = new Map<string, SandboxBusinessBehaviour>();

  constructor(options: { seed?: number; size?: number } = {}) {
    const seed = options.seed ?? DEFAULT_POPULATION_SEED;
    this.people = generatePopulation({ seed, size: options.size ?? DEFAULT_POPULATION_SIZE });
    for (const person of this.people) {
      this.byDocument.set(person.document.number, person);
      this.byPersonKey.set(personOf(person.nameKana, person.dateOfBirth), person);
    }
    this.corporations = generateBusinessRegistry(this.people, seed);
    for (const c of this.corporations) this.byCorporateNumber.set(c.corporateNumber, c);
  }

  get businessCount(): number {
    return this.corporations.length;
  }

  listBusinesses(offset: number, limit: number): SandboxBusiness[] {
    return this.corporations.slice(offset, offset + limit).map((corporation) => ({
      corporation, behaviour: this.businessBehaviours.get(corporation.corporateNumber) ?? 'pass',
    }));
  }

  findBusiness(corporateNumber: string): SandboxBusiness | null {
    const corporation = this.byCorporateNumber.get(corporateNumber);
    return corporation ? { corporation, behaviour: this.businessBehaviours.get(corporateNumber) ?? 'pass' } : null;
  }

  /**
   * A corporate number (13 digits) or a person's document number (12 digits: that person's sole proprietorship).
   * Returns false for a number the sandbox does not hold.
   */
  setBusinessBehaviour(number: string, behaviour: SandboxBusinessBehaviour): boolean {
    if (!this.byCorporateNumber.has(number) && !this.byDocument.has(number)) return false;
    if (behaviour === 'pass') this.businessBehaviours.delete(number);
    else this.businessBehaviours.set(number, behaviour);
    return true;
  }

  businessBehaviourOf(number: string): SandboxBusinessBehaviour {
    return this.businessBehaviours.get(number) ?? 'pass';
  }

  async verifyBusiness(submission: BusinessSubmission): Promise<BusinessAnswer> {
    return { providerReference: `sbxkyb_${randomBytes(12).toString('base64url')}`, outcome: this.decideBusiness(submission) };
  }

  private decideBusiness(submission: BusinessSubmission): BusinessOutcome {
    const rep = submission.representative;
    const representative = this.byPersonKey.get(personOf(rep.nameKana, rep.dateOfBirth));
    if (submission.kind === 'sole_proprietor') {
      // A sole proprietor is a person trading under a name: the person must be one the sandbox knows.
      if (!representative) return { status: 'failed', reason: 'business_unknown' };
      const behaviour = this.businessBehaviourOf(representative.document.number);
      if (behaviour === 'fail') return { status: 'failed', reason: 'declined' };
      if (behaviour === 'pending_review') return { status: 'pending_review' };
      return {
        status: 'verified',
        business: {
          kind: 'sole_proprietor', corporateNumber: null, registeredName: submission.name.trim(),
          representative: { nameKanji: representative.nameKanji, nameKana: representative.nameKana, dateOfBirth: representative.dateOfBirth },
        },
      };
    }
    const corporation = submission.corporateNumber === null ? undefined : this.byCorporateNumber.get(submission.corporateNumber);
    if (!corporation) return { status: 'failed', reason: 'business_unknown' };
    const behaviour = this.businessBehaviourOf(corporation.corporateNumber);
    if (behaviour === 'fail') return { status: 'failed', reason: 'declined' };
    if (behaviour === 'pending_review') return { status: 'pending_review' };
    if (loose(submission.name) !== loose(corporation.registeredName)) return { status: 'failed', reason: 'name_mismatch' };
    const registered = corporation.representative;
    if (personOf(registered.nameKana, registered.dateOfBirth) !== personOf(rep.nameKana, rep.dateOfBirth)) {
      return { status: 'failed', reason: 'not_representative' };
    }
    return {
      status: 'verified',
      business: {
        kind: 'corporation', corporateNumber: corporation.corporateNumber, registeredName: corporation.registeredName,
        representative: { ...registered },
      },
    };
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
