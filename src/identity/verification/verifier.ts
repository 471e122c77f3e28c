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
}
