// Owns the problems a bank link can end in: each a stable code and status the customer's app can act on.
// Must never carry the holder's name, date of birth or the other wallet: a refusal tells an attacker nothing.
import { createError } from '../errors.js';
import type { LinkMethod } from './protocol.js';

export const BankNotFound = createError('bank-not-found', 404, 'koza does not know this bank');
export const BanksNotConfigured = createError('banks-unavailable', 503, 'No partner bank can be reached', { retryable: true });
/** The bank did not answer, or not in time: whether it acted is unknown, so the same step may be retried. */
export const BankUnavailable = createError<{ bank_code: string }>('bank-unavailable', 503, 'The bank is not answering', { retryable: true });
export const BankRequestRefused = createError<{ bank_code: string; bank_error: string }>(
  'bank-request-refused', 422, 'The bank refused the request');

/** The next step a refusal names, in English and Japanese, and the route that takes it. */
export const LinkMethodNotAllowed = createError<{ method: LinkMethod; allowed_methods: LinkMethod[]; fund_by_transfer?: string }>(
  'link-method-not-allowed', 403, 'koza does not allow this way of linking');
export const LinkMethodNotOffered = createError<{ method: LinkMethod; offered_methods: LinkMethod[]; fund_by_transfer?: string }>(
  'link-method-not-offered', 422, 'This bank does not offer this way of linking');
export const LinkRefused = createError('link-refused', 403, 'The bank account cannot be linked to this wallet');
/** keepWrites: the held request it answers for is kept, for an analyst to release or reject. */
export const LinkHeldForReview = createError<{ link_request_id: string; review_due_at: string; review_due_at_jst: string }>(
  'link-held-for-review', 403, 'This link needs a review before it can go ahead', { keepWrites: true });

/** Wrong PIN or wrong OTP: never says which (SPEC §3). */
export const BankCredentialsRejected = createError('bank-credentials-rejected', 422, 'The bank did not accept the details');
export const BankCredentialsLocked = createError('bank-credentials-locked', 423, 'The bank has locked these credentials');

/**
 * koza's try budget on a typed account is spent (link-try-budget.ts): koza does not ask the bank, so a thief cannot
 * lock the holder out there. Says when tries come back and the way that needs no PIN.
 */
export const LinkTriesExhausted = createError<{ tries_again_at: string; redirect_offered: boolean | null }>(
  'link-tries-exhausted', 403, 'Too many recent tries to link this bank account with its PIN');
/** Other tries on the same account are at the bank now; the answer depends on the moment. */
export const LinkAccountBusy = createError('link-account-busy', 409, 'Another try on this bank account is in progress', { retryable: true });

export const LinkRequestNotFound = createError('link-request-not-found', 404, 'The link request does not exist');
export const LinkRequestExpired = createError('link-request-expired', 409, 'The link request has expired; start again');
export const LinkRequestClosed = createError<{ state: string }>('link-request-closed', 409, 'The link request is already finished');
export const LinkRequestWrongStep = createError('link-request-wrong-step', 409, 'The link request does not complete this way');
export const LinkDeclinedAtBank = createError('link-declined', 422, 'The link was not approved at the bank');
/** OAuth mix-up defence (RFC 9207): the code came back from another issuer than the bank koza asked. */
export const LinkIssuerMismatch = createError('link-issuer-mismatch', 422, 'The answer did not come from the bank that was asked');

/** The holder the bank knows is not the person verified for this wallet (SPEC §5.3; the 2020 attack). */
export const LinkHolderMismatch = createError('link-holder-mismatch', 422,
  'The bank account holder does not match the identity verified for this wallet');
/** One bank account, one wallet. Never names or hints at the other wallet. */
export const BankAccountAlreadyLinked = createError('bank-account-already-linked', 409, 'This bank account is already linked');
