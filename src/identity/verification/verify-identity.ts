// Owns the eKYC flow (SPEC §5.2): L1 required → record the submission → ask the provider → apply the outcome
// (verified identity + L2, or failure, or fraud flags). Must never keep what the customer typed as their
// identity, let one person verify two wallets, or let a verified wallet become somebody else.
import type { Queryable } from '../../store/db.js';
import { createError, InvalidRequest, retryIn } from '../../errors.js';
import { assertLevel, raiseAssuranceLevel, type AssuranceLevel } from '../assurance.js';
import { sendMessage } from '../outbox.js';
import { isPlausibleKanaName } from '../kana.js';
import { recordRiskSignal } from '../../risk/signals.js';
import { getWallet, normalizeEmail, WalletFrozen } from '../../wallets/wallets.js';
import { documentKey, personKey } from './person-key.js';
import {
  completeVerification, findOtherHolder, findVerification, getVerifiedIdentity, insertVerification,
  lockWalletForVerification, recentVerificationAttempts, setProviderReference, storeVerifiedIdentity,
  type IdentityVerification, type VerifiedIdentity,
} from './store.js';
import type { ClaimedIdentity, DocumentType, IdentityVerifier, VerificationOutcome } from './verifier.js';

/**
 * Five submissions per wallet per rolling 24 hours: enough for a person who mistypes or takes a blurry
 * photo, too few for an attacker cycling stolen documents through one wallet (each costs a provider fee too).
 */
export const VERIFICATION_ATTEMPTS_PER_DAY = 5;
const ATTEMPT_WINDOW_HOURS = 24;

export const VerificationAttemptsExhausted = createError<{ retry_after_s: number }>(
  'verification-attempts-exhausted', 429, 'Too many identity verification attempts', { retryable: true });
export const DuplicateIdentity = createError(
  'duplicate-identity', 409, 'This person is already verified for another wallet', { keepWrites: true });
export const IdentityPersonChanged = createError(
  'identity-person-changed', 409, 'A verified wallet cannot be re-verified as a different person', { keepWrites: true });
export const IdentityProviderUnavailable = createError(
  'identity-provider-unavailable', 503, 'Identity verification is not available');

export interface VerifyIdentityDeps {
  secretKey: Buffer;
  verifier: IdentityVerifier;
  attemptsPerDay?: number;
}

export interface VerifyIdentityInput {
  walletId: string;
  documentType: DocumentType;
  documentNumber: string;
  claimed: ClaimedIdentity;
  selfieToken: string;
}

export interface VerificationResult {
  verification: IdentityVerification;
  /** The wallet's live identity after this outcome (the previous one if this submission did not pass). */
  identity: VerifiedIdentity | null;
  assuranceLevel: AssuranceLevel;
}

/** A real calendar date, not in the future: 1990-02-30 is a typo, not a person. */
export function assertDateOfBirth(value: string): void {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
  if (!date || date.toISOString().slice(0, 10) !== value || date.getTime() > Date.now() || date.getUTCFullYear() < 1900) {
    throw new InvalidRequest('date_of_birth must be a real date (YYYY-MM-DD) between 1900 and today.');
  }
}

/** The synchronous path: the customer submits over the API; the provider may answer at once or later. */
export async function submitIdentityVerification(
  q: Queryable, deps: VerifyIdentityDeps, input: VerifyIdentityInput,
): Promise<VerificationResult> {
  assertDateOfBirth(input.claimed.dateOfBirth);
  if (!isPlausibleKanaName(input.claimed.nameKana)) {
    throw new InvalidRequest('name_kana must be the reading of the name in kana, family and given name separated by a space.');
  }
  await lockWalletForVerification(q, input.walletId);
  const wallet = await getWallet(q, input.walletId);
  assertLevel(wallet.assuranceLevel, 'L1');
  if (wallet.status !== 'active') throw new WalletFrozen('This wallet cannot verify an identity now. Contact support.');

  const limit = deps.attemptsPerDay ?? VERIFICATION_ATTEMPTS_PER_DAY;
  const recent = await recentVerificationAttempts(q, wallet.id, ATTEMPT_WINDOW_HOURS);
  if (recent.count >= limit) {
    const retryAfter = Math.max(1, Math.ceil((recent.oldestAt!.getTime() + ATTEMPT_WINDOW_HOURS * 3_600_000 - Date.now()) / 1000));
    throw new VerificationAttemptsExhausted(
      `At most ${limit} identity verifications a day. Check the details against your card, or contact support.`, retryIn(retryAfter));
  }

  const verification = await insertVerification(q, {
    walletId: wallet.id, provider: deps.verifier.name, documentType: input.documentType,
    documentNumber: input.documentNumber, documentKey: documentKey(deps.secretKey, input.documentType, input.documentNumber),
    claimed: input.claimed,
  });
  const answer = await deps.verifier.submit({
    submissionId: verification.id, documentType: input.documentType, documentNumber: input.documentNumber,
    claimed: input.claimed, selfieToken: input.selfieToken,
  });
  await setProviderReference(q, verification.id, answer.providerReference);
  const result = await recordProviderOutcome(q, deps.secretKey, verification.id, answer.outcome);

  if (result.verification.reason === 'duplicate_identity') {
    // Says that the person has a wallet, never which: the other wallet's owner is told separately.
    throw new DuplicateIdentity('This identity is already verified for another koza wallet. One person may hold one '
      + 'wallet; if you did not open another one, contact support.');
  }
  if (result.verification.reason === 'different_person') {
    throw new IdentityPersonChanged('This wallet is verified as another person. A verified identity can be '
      + 're-verified with a newer document of the same person only.');
  }
  return result;
}

/**
 * Applies a provider's outcome to a pending submission: the synchronous answer above, or an asynchronous
 * provider's callback. Applying an outcome to a submission that is no longer pending changes nothing.
 */
export async function recordProviderOutcome(
  q: Queryable, secretKey: Buffer, verificationId: string, outcome: VerificationOutcome,
): Promise<VerificationResult> {
  const submitted = await findVerification(q, { id: verificationId }, true);
  if (!submitted) throw new Error(`identity verification ${verificationId} does not exist`);
  const wallet = await getWallet(q, submitted.walletId);
  const current = await getVerifiedIdentity(q, wallet.id);
  const unchanged = { identity: current, assuranceLevel: wallet.assuranceLevel };
  if (submitted.status !== 'pending' || outcome.status === 'pending') return { verification: submitted, ...unchanged };

  const email = normalizeEmail(wallet.email);
  if (outcome.status === 'failed') {
    const verification = await completeVerification(q, submitted.id, { status: 'failed', reason: outcome.reason });
    await tell(q, email, 'We could not verify your identity',
      'Your identity verification did not pass: the document or the details you entered did not match. '
      + 'Check your details against your document and try again.');
    return { verification, ...unchanged };
  }
  if (outcome.status === 'flagged') {
    const verification = await completeVerification(q, submitted.id, { status: 'flagged', reason: outcome.flag });
    await recordRiskSignal(q, {
      walletId: wallet.id, kind: outcome.flag === 'forged_document' ? 'kyc_forged_document' : 'kyc_selfie_mismatch',
      detail: { verification_id: submitted.id, provider: submitted.provider },
    });
    // The customer is not told what the provider suspected: that would teach a forger what to fix.
    await tell(q, email, 'We could not verify your identity',
      'Your identity verification did not pass. If you believe this is a mistake, contact koza support.');
    return { verification, ...unchanged };
  }

  const keys = {
    personKey: personKey(secretKey, outcome.person.nameKana, outcome.person.dateOfBirth),
    documentKey: documentKey(secretKey, outcome.person.documentType, outcome.person.documentNumber),
  };
  if (current && current.personKey !== keys.personKey) {
    // Re-verifying as someone else is how a bought, already-verified wallet would be handed to a new name.
    const verification = await completeVerification(q, submitted.id, { status: 'refused', reason: 'different_person' });
    await recordRiskSignal(q, { walletId: wallet.id, kind: 'kyc_identity_changed', detail: { verification_id: submitted.id } });
    await tell(q, email, 'Your identity was not changed',
      'Someone tried to re-verify your koza wallet as a different person. Your verified identity is unchanged. '
      + 'If this was not you, change your password and contact koza support.');
    return { verification, ...unchanged };
  }
  const otherBefore = await findOtherHolder(q, keys, wallet.id);
  const stored = otherBefore === null ? await storeVerifiedIdentity(q, {
    walletId: wallet.id, verificationId: submitted.id, provider: submitted.provider, person: outcome.person, ...keys,
  }) : null;
  if (!stored) {
    // Lost the race on the unique index to a concurrent verification: that wallet is visible now.
    const other = otherBefore ?? await findOtherHolder(q, keys, wallet.id);
    const verification = await completeVerification(q, submitted.id, { status: 'refused', reason: 'duplicate_identity' });
    await flagDuplicate(q, wallet.id, other, submitted.id);
    return { verification, ...unchanged };
  }
  const verification = await completeVerification(q, submitted.id, { status: 'verified', reason: null, identityId: stored.id });
  const assuranceLevel = await raiseAssuranceLevel(q, wallet.id, 'L2');
  await tell(q, email, 'Your identity is verified',
    `Your identity was verified as ${stored.nameKanji} (${stored.nameKana}). Only this name can be used to link `
    + 'bank accounts to your wallet. If this was not you, contact koza support at once.');
  return { verification, identity: stored, assuranceLevel };
}

async function flagDuplicate(q: Queryable, walletId: string, otherWalletId: string | null, verificationId: string): Promise<void> {
  await recordRiskSignal(q, {
    walletId, kind: 'duplicate_identity', detail: { verification_id: verificationId, other_wallet_id: otherWalletId },
  });
  if (otherWalletId === null) return;
  await recordRiskSignal(q, {
    walletId: otherWalletId, kind: 'duplicate_identity', detail: { verification_id: verificationId, other_wallet_id: walletId },
  });
  // The verified holder hears of it out of band: if they are the real person, someone is using their identity.
  const other = await getWallet(q, otherWalletId);
  await tell(q, normalizeEmail(other.email), 'Someone tried to use your identity',
    'Someone tried to verify another koza wallet with your identity. It was refused and your wallet is unchanged. '
    + 'If this was not you, contact koza support.');
}

async function tell(q: Queryable, recipient: string, subject: string, body: string): Promise<void> {
  await sendMessage(q, { channel: 'email', recipient, subject, body });
}
