// Owns merchant onboarding (SPEC §5.5, issue 10): a signed-in owner at L2 → a business check by the identity provider,
// with the owner's verified identity as the representative → one merchant per business, its key shown once.
// Must never trust a name the owner typed for the representative, open a merchant on a check that did not pass, nor
// give one business (or one sole proprietor) two merchants.
import type { Queryable } from '../store/db.js';
import { createError, InvalidRequest } from '../errors.js';
import { assertLevel } from '../identity/assurance.js';
import { sendMessage } from '../identity/outbox.js';
import { personKey } from '../identity/verification/person-key.js';
import { getVerifiedIdentity } from '../identity/verification/store.js';
import {
  isCorporateNumber, type BusinessFailure, type BusinessKind, type BusinessVerifier, type VerifiedBusiness,
} from '../identity/verification/verifier.js';
import { getWallet, normalizeEmail, WalletFrozen } from '../wallets/wallets.js';
import { BusinessAlreadyOnboarded, createMerchant, merchantWithBusinessKey, type Merchant } from './merchants.js';
import {
  completeBusinessVerification, insertBusinessVerification, type BusinessVerification, type BusinessVerificationStatus,
} from './business-verification-store.js';

export type { BusinessVerification } from './business-verification-store.js';

export const BusinessCheckFailed = createError<{ reason: BusinessFailure | 'not_representative' }>(
  'business-check-failed', 422, 'The business could not be verified', { keepWrites: true });

export interface OnboardInput {
  walletId: string;
  /** The name customers see. */
  name: string;
  /** The merchant's contact address; the owner's wallet address when absent. */
  email?: string | undefined;
  business: { kind: 'corporation'; corporateNumber: string; registeredName: string } | { kind: 'sole_proprietor'; tradeName: string };
}

export type OnboardResult =
  | { status: 'created'; merchant: Merchant; apiKey: string; verification: BusinessVerification }
  | { status: 'pending_review'; verification: BusinessVerification };

const FAILURE_ADVICE: Record<BusinessFailure | 'not_representative', string> = {
  business_unknown: 'The register holds no business with this corporate number. Check the 13 digits on your 登記事項証明書 '
    + 'or at the National Tax Agency\'s corporate number site, and try again.',
  name_mismatch: 'The registered name does not match the register. Enter the name exactly as registered (商号), '
    + 'including 株式会社 or 合同会社, and try again.',
  not_representative: 'Your verified identity is not this business\'s representative. Only the representative '
    + '(代表者) may open its merchant: ask them to open it from their own verified wallet.',
  declined: 'The provider declined this business check. Contact koza support with your corporate number.',
};

async function tell(q: Queryable, recipient: string, subject: string, body: string): Promise<void> {
  await sendMessage(q, { channel: 'email', recipient, subject, body });
}

export async function onboardMerchant(
  q: Queryable, deps: { secretKey: Buffer; verifier: BusinessVerifier }, input: OnboardInput,
): Promise<OnboardResult> {
  const { business } = input;
  if (business.kind === 'corporation' && !isCorporateNumber(business.corporateNumber)) {
    throw new InvalidRequest('corporate_number must be the 13-digit corporate number (法人番号) with its check digit first; '
      + 'check it against your registration and try again.');
  }
  const claimedName = (business.kind === 'corporation' ? business.registeredName : business.tradeName).trim();
  if (claimedName.length === 0) throw new InvalidRequest('The registered or trade name must not be blank.');
  // One onboarding at a time per owner: two concurrent ones for one business must not both reach the provider.
  const wallet = await getWallet(q, input.walletId, true);
  if (wallet.status !== 'active') throw new WalletFrozen('This wallet cannot open a merchant now. Contact koza support.');
  assertLevel(wallet.assuranceLevel, 'L2');
  const identity = await getVerifiedIdentity(q, wallet.id);
  if (!identity) assertLevel('L1', 'L2');
  const owner = identity!;
  const ownerEmail = normalizeEmail(wallet.email);

  const businessKey = business.kind === 'corporation' ? `corp:${business.corporateNumber}` : `sole:${owner.personKey}`;
  // Asked before the provider: a second merchant for a business is refused without a paid check.
  if (await merchantWithBusinessKey(q, businessKey)) {
    throw new BusinessAlreadyOnboarded(business.kind === 'corporation'
      ? 'This business already has a koza merchant: one business, one merchant. Use its API key, or contact koza support if you did not open it.'
      : 'You already trade as a sole proprietor on koza: one sole proprietorship, one merchant. Use its API key, or contact koza support.');
  }
  const corporateNumber = business.kind === 'corporation' ? business.corporateNumber : null;
  const pending = await insertBusinessVerification(q, {
    walletId: wallet.id, provider: deps.verifier.name, kind: business.kind, corporateNumber, claimedName,
  });
  const answer = await deps.verifier.verifyBusiness({
    submissionId: pending.id, kind: business.kind, corporateNumber, name: claimedName,
    // The representative is who koza verified, never a name typed here: a stolen session cannot name someone else.
    representative: { nameKanji: owner.nameKanji, nameKana: owner.nameKana, dateOfBirth: owner.dateOfBirth },
  });
  const complete = (status: Exclude<BusinessVerificationStatus, 'pending'>, reason: string | null, verified?: VerifiedBusiness) =>
    completeBusinessVerification(q, pending.id, {
      status, reason, providerReference: answer.providerReference,
      registeredName: verified?.registeredName ?? null, businessKey: verified ? businessKey : null,
    });

  const { outcome } = answer;
  if (outcome.status === 'pending_review') {
    const verification = await complete('pending_review', null);
    await tell(q, ownerEmail, 'Your business check is being reviewed',
      `The identity provider is reviewing "${claimedName}" by hand. Nothing was opened yet. Submit the same request again `
      + 'after one business day (with a new Idempotency-Key) to see the result; if it still waits, contact koza support.');
    return { status: 'pending_review', verification };
  }
  let failure: BusinessFailure | 'not_representative' | null = outcome.status === 'failed' ? outcome.reason : null;
  if (outcome.status === 'verified') {
    // The provider's representative must be the owner's verified person: koza checks it too, whatever the provider says.
    const rep = outcome.business.representative;
    if (personKey(deps.secretKey, rep.nameKana, rep.dateOfBirth) !== owner.personKey) failure = 'not_representative';
  }
  if (failure !== null || outcome.status !== 'verified') {
    const reason = failure ?? 'declined';
    await complete(outcome.status === 'verified' ? 'refused' : 'failed', reason);
    await tell(q, ownerEmail, 'We could not verify your business', `Your merchant "${input.name.trim()}" was not opened. ${FAILURE_ADVICE[reason]}`);
    throw new BusinessCheckFailed(FAILURE_ADVICE[reason], { reason });
  }
  const verified = outcome.business;
  const verification = await complete('verified', null, verified);
  const { merchant, apiKey } = await createMerchant(q, {
    name: input.name, email: input.email ?? ownerEmail, ownerWalletId: wallet.id, businessVerificationId: verification.id,
    business: { kind: verified.kind, registeredName: verified.registeredName, corporateNumber: verified.corporateNumber },
    businessKey,
  });
  // The owner hears of it out of band: a merchant opened from a stolen session is noticed at once.
  await tell(q, ownerEmail, 'Your koza merchant is open',
    `Your merchant "${merchant.name}" (${verified.registeredName}, ${merchant.id}) was opened from your wallet. Its API key was `
    + 'shown once and is stored only hashed. Payments to a new merchant are held before payout. If you did not open it, '
    + 'contact koza support at once.');
  return { status: 'created', merchant, apiKey, verification };
}
