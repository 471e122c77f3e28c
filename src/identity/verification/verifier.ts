// Owns the contract with identity-verification providers (eKYC, SPEC §3): what koza submits, what comes back.
// Must never let koza trust what the customer typed: on a pass, the provider's own record is what is kept.

export type DocumentType = 'drivers_licence' | 'my_number_card';
export const DOCUMENT_TYPES: readonly DocumentType[] = ['drivers_licence', 'my_number_card'];

export interface PersonAddress {
  prefecture: string;
  city: string;
  street: string;
}

/** What the applicant says about themselves; the provider checks it against the document. */
export interface ClaimedIdentity {
  nameKanji: string;
  nameKana: string;
  /** YYYY-MM-DD. */
  dateOfBirth: string;
  address: PersonAddress;
}

export interface VerificationSubmission {
  /** koza's id for the submission (kyc_…); a provider echoes it in an asynchronous callback. */
  submissionId: string;
  documentType: DocumentType;
  documentNumber: string;
  claimed: ClaimedIdentity;
  /** The token the provider's capture SDK issued for the selfie and liveness check. */
  selfieToken: string;
}

/** The person as the provider verified them from the document: the only identity koza stores. */
export interface VerifiedPerson {
  nameKanji: string;
  nameKana: string;
  dateOfBirth: string;
  address: PersonAddress;
  documentType: DocumentType;
  documentNumber: string;
}

/** Why a provider did not verify, in words the customer can act on. */
export type VerificationFailure = 'document_unknown' | 'claimed_data_mismatch' | 'declined';
/** What a provider suspects: fraud, not a typo. */
export type VerificationFlag = 'forged_document' | 'selfie_mismatch';

export type VerificationOutcome =
  | { status: 'verified'; person: VerifiedPerson }
  | { status: 'failed'; reason: VerificationFailure }
  | { status: 'flagged'; flag: VerificationFlag }
  /** An asynchronous provider answers later, naming providerReference in its callback. */
  | { status: 'pending' };

export interface ProviderAnswer {
  /** The provider's own id for this submission, unique per provider. */
  providerReference: string;
  outcome: VerificationOutcome;
}

export interface IdentityVerifier {
  /** Stable name stored with every submission and identity (sandbox, or a vendor's name). */
  readonly name: string;
  /**
   * Submits one verification. A synchronous provider answers with the outcome; an asynchronous one
   * answers `pending` and later delivers the outcome for the same providerReference (a webhook that calls
   * recordProviderOutcome). Must not be retried by koza with a different submissionId for the same request.
   */
  submit(submission: VerificationSubmission): Promise<ProviderAnswer>;
  /**
   * Checks a business against the register: it exists, the name is its name, and the representative (the owner's
   * verified identity) is its representative; a sole proprietor is the representative's own verified person.
   */
  verifyBusiness(submission: BusinessSubmission): Promise<BusinessAnswer>;
}

// ── Business verification (merchants are businesses, SPEC §5.5) ──────────────────────────────────────────────

export type BusinessKind = 'corporation' | 'sole_proprietor';

/** The representative as koza knows them: the owner's verified identity, never names the owner typed. */
export interface BusinessRepresentative {
  nameKanji: string;
  nameKana: string;
  /** YYYY-MM-DD. */
  dateOfBirth: string;
}

export interface BusinessSubmission {
  /** koza's id for the check (bzv_…). */
  submissionId: string;
  kind: BusinessKind;
  /** The 13-digit corporate number (法人番号, check digit first); null for a sole proprietor. */
  corporateNumber: string | null;
  /** The registered name of a corporation, or a sole proprietor's trade name (屋号). */
  name: string;
  representative: BusinessRepresentative;
}

/** The business as the provider's register holds it: the only record koza keeps on a pass. */
export interface VerifiedBusiness {
  kind: BusinessKind;
  corporateNumber: string | null;
  /** The register's spelling of the corporation's name, or the trade name a sole proprietor trades under. */
  registeredName: string;
  representative: BusinessRepresentative;
}

/** Why a business was not verified, in words the owner can act on. */
export type BusinessFailure = 'business_unknown' | 'name_mismatch' | 'not_representative' | 'declined';

export type BusinessOutcome =
  | { status: 'verified'; business: VerifiedBusiness }
  | { status: 'failed'; reason: BusinessFailure }
  /** A person at the provider looks at it; the owner asks again later. */
  | { status: 'pending_review' };

export interface BusinessAnswer {
  providerReference: string;
  outcome: BusinessOutcome;
}

/** A provider that also checks businesses against the commercial register (the eKYC vendors' KYB products). */
export interface BusinessVerifier {
  readonly name: string;
  verifyBusiness(submission: BusinessSubmission): Promise<BusinessAnswer>;
}

/** The published check digit of a corporate number (法人番号), from its 12-digit base: 9 − (Σ Pn·Qn mod 9). */
export function corporateNumberCheckDigit(base12: string): string {
  let sum = 0;
  for (let n = 1; n <= 12; n++) sum += Number(base12[12 - n]) * (n % 2 === 1 ? 1 : 2);
  return String(9 - (sum % 9));
}

/** 13 digits whose first is the check digit of the other twelve. */
export function isCorporateNumber(value: string): boolean {
  return /^[1-9][0-9]{12}$/.test(value) && corporateNumberCheckDigit(value.slice(1)) === value[0];
}
