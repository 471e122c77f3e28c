// Owns linking a bank account (SPEC §5.3) as explicit steps: check and reserve (one transaction) → ask the bank
// (no transaction open) → decide and record. Must never link without the policy's checks, nor tell a refused
// customer whose account it was; bank calls carry idempotency keys derived from the step, so a retry resumes.
import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import type { Db, Queryable } from '../store/db.js';
import { InvalidRequest, KozaError, NotFound } from '../errors.js';
import { assertLevel, AssuranceLevelTooLow } from '../identity/assurance.js';
import { listActiveFactors } from '../identity/factors/store.js';
import { sendMessage } from '../identity/outbox.js';
import { hashToken, keyedHash, seal, unseal } from '../identity/secrets.js';
import { consumeStepUpProof, SecondFactorRequired } from '../identity/step-up.js';
import { getVerifiedIdentity } from '../identity/verification/store.js';
import { recordRiskSignal } from '../risk/signals.js';
import type { RiskDecider, RiskDecision } from '../risk/hook.js';
import { getWallet, WalletFrozen } from '../wallets/wallets.js';
import type { BankClient } from './client.js';
import type { Bank } from './directory.js';
import { assertLinkingAllowed } from './link-guards.js';
import { assertTriesLeft, judgeTries, tryWindowStart } from './link-try-budget.js';
import { assessHolder, type HolderAssessment } from './link-holder-match.js';
import {
  BankAccountAlreadyLinked, BankCredentialsLocked, BankCredentialsRejected, BankRequestRefused, BankUnavailable,
  LinkDeclinedAtBank, LinkHeldForReview, LinkHolderMismatch, LinkIssuerMismatch, LinkMethodNotAllowed, LinkMethodNotOffered,
  LinkRefused, LinkRequestClosed, LinkRequestExpired, LinkRequestNotFound, LinkRequestWrongStep,
} from './link-errors.js';
import {
  findLinkRequestByStateHash, getBankLinkById, getLinkRequest, getLinkRequestById, insertBankLink, insertLinkRequest,
  linkTokenOf, listLinksAwaitingNotice, listLinksUnrevokedAtBank, listUnrevokedRefusals, liveLinksOfAccount,
  lockTypedAccount, markAwaitingCustomer, markCredentialsAccepted, markLinkActive, markLinkRequestEnded,
  markLinkRequestLinked, markLinkRevoked, markLinkRevokedAtBank, markRefusalRevokedAtBank,
  recordRequestCredentialFailure, sealLinkToken, setLinkRequestState, typedAccountTries, getBankLink, type BankLink,
  type LinkRequest, listLinksAwaitingConfirmation, markUnconfirmedAlerted, lockUnconfirmedReview,
} from './link-store.js';
import { linkPolicy, usableMethods, type LinkPolicy } from './policy.js';
import { accountTrustFacts } from './account-trust-facts.js';
import { syncLinkState } from './link-state-sync.js';
import {
  closePassedAlert, EXPIRY_REVIEWER, findUsableRelease, HELD_COMPLETION_EXPIRY_DAYS, heldCompletionNextStep, heldLinkNextStep,
  insertHeldLinkRequest, listExpiredHeldCompletions, markReleaseUsed, rejectHeldLink, reviewDueAt,
} from './link-review.js';
import type { BankProblem, LinkCompleteBody, LinkCompleted, LinkMethod, LinkRequestBody } from './protocol.js';
import { formatJst } from '../display.js';

/** A link request the bank does not bound sooner lives this long: time to find the phone and read the OTP. */
export const LINK_REQUEST_MINUTES = 15;

export interface LinkEnv {
  db: Db;
  config: Config;
  client: BankClient;
  risk: RiskDecider;
}

export interface Requester {
  walletId: string;
  ip?: string;
  deviceKey?: string;
  /** The wallet's verified person key: failures count per person as well as per wallet. */
  personKey?: string;
}

/** The wallet as the bank sees it: opaque and stable (never the e-mail, never koza's internal id). */
export function walletRef(secretKey: Buffer, walletId: string): string {
  return `kw_${keyedHash(secretKey, 'wallet-ref', walletId).slice(0, 24)}`;
}

/** Branch and account number as typed, keyed: PIN failures on one account can be counted across wallets. */
function typedAccountKey(secretKey: Buffer, bankCode: string, account: { branch_code: string; account_number: string }): string {
  return keyedHash(secretKey, 'typed-account', bankCode, account.branch_code, account.account_number).slice(0, 32);
}

/**
 * The bank account as the risk engine counts it before the bank has vouched for it (link_start, PIN and OTP
 * failures): the keyed typed account, so failures on one account from many wallets and one address failing on
 * many accounts add up. After the bank vouches (link_complete, charges) the bank's own account_ref is used.
 */
export function typedAccountRiskRef(secretKey: Buffer, bankCode: string, account: { branch_code: string; account_number: string }): string {
  return `typed:${typedAccountKey(secretKey, bankCode, account)}`;
}

/**
 * The bank Idempotency-Key of a completion: the request and what redeems it (OTP, code), keyed so the header
 * never carries a guessable hash of a 6-digit OTP. The same answer redeems under the same key: a retry after a
 * lost answer gets the bank's first answer instead of a second try.
 */
function completionKey(secretKey: Buffer, linkRequestId: string, step: 'complete' | 'redeem', secret: string): string {
  return `${linkRequestId}:${step}:${keyedHash(secretKey, 'bank-completion', linkRequestId, secret).slice(0, 22)}`;
}

function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** deny stops the link (a challenge is met by the step-up proof the start has already taken; review holds it). */
function assertNotDenied(decision: RiskDecision): void {
  if (decision.action === 'deny') throw new LinkRefused('This bank account cannot be linked now. Contact support if you think this is wrong.');
}

/**
 * A review decision holds the link before the bank is asked: the request is kept as `held` (no account, no PIN) for an
 * analyst to release or reject, and the customer is told when to expect the answer. An analyst's earlier release of a
 * held link of this wallet at this bank is the way through, once.
 */
async function holdOrPass(q: Queryable, requester: Requester, bank: Bank, method: LinkMethod, policy: LinkPolicy, risk: RiskDecision)
  : Promise<string | null> {
  if (risk.action !== 'review') return null;
  const release = await findUsableRelease(q, requester.walletId, bank.code);
  if (release !== null) return release;
  const held = await insertHeldLinkRequest(q, {
    walletId: requester.walletId, bankCode: bank.code, method, policy: policy.name, riskDecisionId: risk.decisionId ?? null,
    deviceKey: requester.deviceKey ?? null,
    // The column's rule ties redirect to a state; this one is never handed out, so no callback can ever find the request.
    oauthStateHash: method === 'redirect' ? hashToken(randomBytes(32).toString('base64url')) : null,
  });
  const due = reviewDueAt(held.createdAt);
  throw new LinkHeldForReview(heldLinkNextStep(held.createdAt), {
    link_request_id: held.id, review_due_at: due.toISOString(), review_due_at_jst: formatJst(due),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------------------------

export interface StartInput {
  bank: Bank;
  method?: LinkMethod | undefined;
  account?: { branch_code: string; account_number: string } | undefined;
  pin?: string | undefined;
  stepUpProof?: string | undefined;
  /** legacy-2020 only: the name the customer typed as the account holder's. */
  nameKana?: string | undefined;
  /** Where the bank sends the customer back (redirect): koza's /v1/links/callback. */
  redirectUri: string;
  /** Asked before the transaction opens (a decider may read the database itself). */
  risk: RiskDecision;
}

export interface PreparedStart {
  request: LinkRequest;
  bankBody: LinkRequestBody;
  requester: Requester;
}

/**
 * Step 1, in the caller's transaction: every precondition in the order §5.3 lists them, then the link request.
 * The PIN only travels in the returned body to the bank call; it is never stored.
 */
export async function prepareLinkStart(q: Queryable, env: LinkEnv, requester: Requester, input: StartInput): Promise<PreparedStart> {
  const policy = linkPolicy(env.config.policy);
  const wallet = await getWallet(q, requester.walletId);
  if (wallet.status !== 'active') throw new WalletFrozen('This wallet cannot link bank accounts. Contact support.');
  assertLevel(wallet.assuranceLevel, policy.minLevel);
  if (policy.secondFactor && (await listActiveFactors(q, wallet.id)).length === 0) {
    throw new SecondFactorRequired('Enrol an authenticator app or a passkey before linking a bank account (the first one is confirmed '
      + 'with a code from your e-mail).', { methods: [] });
  }
  const stepUp = () => consumeStepUpProof(q, {
    walletId: wallet.id, proof: input.stepUpProof, action: 'link', amount: null, destination: input.bank.code,
  });
  if (policy.stepUp) await stepUp();
  await assertLinkingAllowed(q, input.bank.code);
  // A challenge asks for the step-up even where the policy does not (legacy-2020).
  if (input.risk.action === 'challenge' && !policy.stepUp) await stepUp();
  if (policy.tryBudget && input.account !== undefined) {
    // Before the risk decision: the budget's refusal tells an honest holder when, and the way without a PIN.
    const now = new Date();
    const tries = await typedAccountTries(q, typedAccountKey(env.config.secretKey, input.bank.code, input.account), tryWindowStart(now), now, null);
    assertTriesLeft(judgeTries(tries, 'start'), input.bank.linkMethods.includes('redirect'));
  }
  assertNotDenied(input.risk);

  const method = chooseMethod(policy, input.bank, input.method);
  const release = await holdOrPass(q, requester, input.bank, method, policy, input.risk);
  if (input.bank.status === 'outage') throw new BankUnavailable('The bank is out of service; try again later.', { bank_code: input.bank.code });
  const claims = await claimsFor(q, policy, wallet.id, input.nameKana);

  const expiresAt = new Date(Date.now() + LINK_REQUEST_MINUTES * 60_000);
  const bankBody: LinkRequestBody = { method, wallet_ref: walletRef(env.config.secretKey, wallet.id), claims: claims.claims };
  let request: LinkRequest;
  if (method === 'redirect') {
    if (input.account !== undefined || input.pin !== undefined) {
      throw new InvalidRequest('A redirect link takes no account or PIN: the customer signs in at the bank itself.');
    }
    const state = randomBytes(32).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    request = await insertLinkRequest(q, {
      walletId: wallet.id, bankCode: input.bank.code, method, policy: policy.name, expiresAt, claimedNameKana: claims.typedName,
      oauthStateHash: hashToken(state), codeVerifierSealed: seal(env.config.secretKey, verifier), redirectUri: input.redirectUri,
    });
    Object.assign(bankBody, { redirect_uri: input.redirectUri, code_challenge: pkceChallenge(verifier), code_challenge_method: 'S256', state });
  } else {
    if (input.account === undefined || input.pin === undefined) {
      throw new InvalidRequest(`A ${method} link needs the account (branch_code, account_number) and its 4-digit PIN.`);
    }
    const accountKey = typedAccountKey(env.config.secretKey, input.bank.code, input.account);
    request = await insertLinkRequest(q, {
      walletId: wallet.id, bankCode: input.bank.code, method, policy: policy.name, expiresAt, claimedNameKana: claims.typedName,
      typedAccountKey: accountKey,
    });
    Object.assign(bankBody, { account: { ...input.account }, pin: input.pin });
  }
  if (release !== null) await markReleaseUsed(q, release, request.id, input.risk.decisionId ?? null);
  return { request: release === null ? request : { ...request, releasedFrom: release }, bankBody, requester };
}

/**
 * The way through for a holder whose bank offers only PIN links (5 of the 35 sandbox banks): a bank transfer they send
 * themselves to the wallet's own virtual account (issue 11) — nobody can pull money from anybody.
 */
export const FUND_BY_TRANSFER = {
  en: 'You can still fund your wallet: fund by bank transfer to your koza account: GET /v1/wallet/pay-in shows the account to send '
    + 'a transfer to from this bank, in your own name.',
  ja: '銀行振込で入金できます：GET /v1/wallet/pay-in に表示されるkozaの振込先口座へ、ご本人名義のこの銀行の口座からお振込みください。',
  href: '/v1/wallet/pay-in',
} as const;

/** The method asked for, or the policy's preferred one the bank offers; allowed by the policy and offered by the bank. */
function chooseMethod(policy: LinkPolicy, bank: Bank, asked: LinkMethod | undefined): LinkMethod {
  const usable = usableMethods(policy, bank.linkMethods);
  const method = asked ?? usable[0];
  if (method === undefined) {
    throw new LinkMethodNotOffered(`This bank offers no way of linking that koza allows (an account number and PIN alone are `
      + `not enough). ${FUND_BY_TRANSFER.en} ${FUND_BY_TRANSFER.ja}`,
    { method: policy.methods[0]!, offered_methods: bank.linkMethods, fund_by_transfer: FUND_BY_TRANSFER.href });
  }
  if (!policy.methods.includes(method)) {
    throw new LinkMethodNotAllowed(method === 'pin_only'
      ? 'An account number and PIN alone cannot link an account: use redirect (sign in at the bank) or pin_otp where the bank '
        + `offers them. ${FUND_BY_TRANSFER.en} ${FUND_BY_TRANSFER.ja}`
      : `koza does not allow ${method} links.`,
    { method, allowed_methods: [...policy.methods], ...(method === 'pin_only' ? { fund_by_transfer: FUND_BY_TRANSFER.href } : {}) });
  }
  if (!bank.linkMethods.includes(method)) {
    throw new LinkMethodNotOffered(`This bank does not offer ${method} links.`, { method, offered_methods: bank.linkMethods });
  }
  return method;
}

/**
 * What koza tells the bank about the wallet's owner. secure: the eKYC identity, the only name the wallet can
 * use. legacy-2020: whatever the customer typed, taken as the holder's name without a check.
 */
async function claimsFor(q: Queryable, policy: LinkPolicy, walletId: string, typed: string | undefined)
  : Promise<{ claims: LinkRequestBody['claims']; typedName: string | null }> {
  const identity = await getVerifiedIdentity(q, walletId);
  if (policy.nameSource === 'verified_identity') {
    if (typed !== undefined) throw new InvalidRequest('name_kana is not taken: the bank is told the name verified for this wallet.');
    // L2 without a live identity cannot happen; refuse rather than link on no name at all.
    if (!identity) throw new AssuranceLevelTooLow('Verify your identity first.', { required_level: 'L2', current_level: 'L1' });
    // v2: the wallet's verified phone, so the bank can say whether it is the one it holds (never which one it holds).
    const wallet = await getWallet(q, walletId);
    const phone = wallet.phoneVerified && wallet.phone !== null ? { phone: wallet.phone } : {};
    return { claims: { name_kana: identity.nameKana, date_of_birth: identity.dateOfBirth, ...phone }, typedName: null };
  }
  if (typed === undefined && !identity) throw new InvalidRequest('name_kana is required: the name of the account holder, in kana.');
  return {
    claims: identity ? { name_kana: identity.nameKana, date_of_birth: identity.dateOfBirth } : null,
    typedName: typed ?? null,
  };
}

export interface StartedLink {
  request: LinkRequest;
  authorizationUrl: string | null;
}

/** Step 2, with no transaction open: push the request to the bank, then record its answer. */
export async function executeLinkStart(env: LinkEnv, prepared: PreparedStart): Promise<StartedLink> {
  const { request } = prepared;
  const outcome = await env.client.createLinkRequest(request.bankCode, prepared.bankBody, `${request.id}:start`);
  if (outcome.kind === 'unknown') throw new BankUnavailable('The bank did not answer. Try again.', { bank_code: request.bankCode });
  if (outcome.kind === 'refused') {
    // v2: a start is never refused for the account or the PIN (they are judged at completion), so whatever the bank
    // says here is about the request (method, outage…) and is not a credential failure.
    const err = isCredentialProblem(outcome.problem)
      ? new BankRequestRefused('The bank refused the request.', { bank_code: request.bankCode, bank_error: outcome.problem.code })
      : errorForBankRefusal(request, outcome.problem);
    await endRequest(env.db, request, 'failed', err);
    throw err;
  }
  const created = outcome.value;
  const authorizationUrl = typeof created.authorization_url === 'string' && /^https?:\/\//.test(created.authorization_url)
    ? created.authorization_url : null;
  if (typeof created.link_request_id !== 'string' || (request.method === 'redirect' && authorizationUrl === null)) {
    throw new BankUnavailable('The bank answered in a way koza cannot use. Try again later.', { bank_code: request.bankCode });
  }
  const bankExpiry = new Date(created.expires_at);
  // v2: nothing in the answer tells whether the PIN was right or where the code went, and koza keeps nothing of it.
  const updated = await markAwaitingCustomer(env.db, request.id, {
    bankLinkRequestId: created.link_request_id, expiresAt: Number.isNaN(bankExpiry.getTime()) ? request.expiresAt : bankExpiry,
  });
  return { request: updated, authorizationUrl };
}

// ---------------------------------------------------------------------------------------------------------------
// Complete
// ---------------------------------------------------------------------------------------------------------------

export type Completion =
  | { kind: 'redeem'; request: LinkRequest; bankBody: LinkCompleteBody; bankKey: string }
  /** Already linked (a retry, a reloaded callback): the answer is the link. */
  | { kind: 'linked'; request: LinkRequest }
  /** Ended before the bank was asked (declined, wrong issuer, expired): recorded, then thrown by the caller. */
  | { kind: 'ended'; error: KozaError };

/** A kept problem, thrown again for a repeated callback. */
function storedError(request: LinkRequest): KozaError {
  const p = request.failureProblem ?? {};
  const { type: _type, title, status, detail, instance: _instance, ...extensions } = p as Record<string, unknown>;
  return new KozaError(request.failureCode ?? 'link-refused', typeof status === 'number' ? status : 409,
    typeof title === 'string' ? title : 'The link request is already finished', typeof detail === 'string' ? detail : undefined, extensions);
}

function assertOpen(request: LinkRequest, now: Date): void {
  // Held for an analyst: the same next step again, not "start a new one" (a second request would only be held too).
  if (request.state === 'held') {
    const due = reviewDueAt(request.createdAt);
    throw new LinkHeldForReview(heldCompletionNextStep(request.createdAt), {
      link_request_id: request.id, review_due_at: due.toISOString(), review_due_at_jst: formatJst(due),
    });
  }
  if (request.state === 'pushing') throw new LinkRequestClosed('The bank has not answered this link request yet; start again.', { state: request.state });
  if (request.state !== 'awaiting_customer' && request.state !== 'completing') {
    throw new LinkRequestClosed('This link request is finished; start a new one.', { state: request.state });
  }
  if (request.expiresAt.getTime() <= now.getTime()) throw new LinkRequestExpired('Start the link again.');
}

/** Step 1 of pin_otp and pin_only completion, in the caller's transaction. */
export async function prepareOtpCompletion(
  q: Queryable, env: Pick<LinkEnv, 'config'>, walletId: string, linkRequestId: string, otp: string | undefined,
): Promise<Completion> {
  const request = await getLinkRequest(q, walletId, linkRequestId, true);
  if (!request) throw new LinkRequestNotFound('Start a link first (POST /v1/links).');
  if (request.state === 'linked') return { kind: 'linked', request };
  if (request.method === 'redirect') throw new LinkRequestWrongStep('A redirect link completes when the bank sends the customer back.');
  assertOpen(request, new Date());
  if (request.method === 'pin_otp' && otp === undefined) throw new InvalidRequest('Send the one-time code the bank sent to the phone it has on file.');
  if (request.method === 'pin_only' && otp !== undefined) throw new InvalidRequest('A pin_only link takes no one-time code.');
  if (linkPolicy(request.policy).tryBudget && request.typedAccountKey !== null) {
    // Checked and marked in flight under one lock per typed account: concurrent tries cannot pass on one count.
    await lockTypedAccount(q, request.typedAccountKey);
    const now = new Date();
    const tries = await typedAccountTries(q, request.typedAccountKey, tryWindowStart(now), now, request.id);
    assertTriesLeft(judgeTries(tries, 'complete', request.credentialFailures > 0), null);
  }
  await setLinkRequestState(q, request.id, 'completing');
  return {
    kind: 'redeem', request, bankBody: otp === undefined ? {} : { otp },
    bankKey: completionKey(env.config.secretKey, request.id, 'complete', otp ?? ''),
  };
}

export interface CallbackInput {
  state: string;
  code?: string | undefined;
  iss?: string | undefined;
  error?: string | undefined;
}

/**
 * Step 1 of a redirect completion, in the caller's transaction. The state (256 random bits, stored hashed) is
 * what ties the browser's return to the link request; iss must be the bank that was asked (RFC 9207).
 */
export async function prepareCallback(q: Queryable, env: LinkEnv, input: CallbackInput): Promise<Completion> {
  const request = await findLinkRequestByStateHash(q, hashToken(input.state), true);
  if (!request) throw new LinkRequestNotFound('This link request does not exist.');
  if (request.state === 'linked') return { kind: 'linked', request };
  if (request.state === 'refused' || request.state === 'failed' || request.state === 'rejected') throw storedError(request);
  assertOpen(request, new Date());
  const end = async (err: KozaError): Promise<Completion> => {
    await endRequest(q, request, 'failed', err);
    return { kind: 'ended', error: err };
  };
  if (input.iss !== env.client.bankUrl(request.bankCode)) {
    return end(new LinkIssuerMismatch('The link was answered by another issuer than the bank koza asked; nothing was linked.'));
  }
  if (input.error !== undefined || input.code === undefined) {
    return end(new LinkDeclinedAtBank('The link was not approved at the bank. Start again to retry.'));
  }
  await setLinkRequestState(q, request.id, 'completing');
  const verifier = unseal(env.config.secretKey, request.codeVerifierSealed!);
  return {
    kind: 'redeem', request, bankBody: { code: input.code, code_verifier: verifier },
    bankKey: completionKey(env.config.secretKey, request.id, 'redeem', input.code),
  };
}

/** Step 2 of every completion, with no transaction open: redeem at the bank, decide, record, tell the holder. */
export async function executeCompletion(env: LinkEnv, completion: Completion, requester: Requester): Promise<BankLink> {
  if (completion.kind === 'ended') throw completion.error;
  if (completion.kind === 'linked') return ensureHolderNotified(env, completion.request.linkId!);
  const { request } = completion;
  const outcome = await env.client.completeLinkRequest(request.bankCode, request.bankLinkRequestId!, completion.bankBody, completion.bankKey);
  if (outcome.kind === 'unknown') throw new BankUnavailable('The bank did not answer. Try again.', { bank_code: request.bankCode });
  if (outcome.kind === 'refused') {
    const err = errorForBankRefusal(request, outcome.problem);
    await env.db.transaction(async (tx) => {
      if (err.code === BankCredentialsRejected.code) {
        // v2: the PIN or the code, the bank does not say which; the request stays open for another try (the bank
        // ends it after five). Counted per request (the try budget) and per account, wallet and person (risk rules).
        await recordRequestCredentialFailure(tx, request.id);
        await recordCredentialFailure(tx, env, request, outcome.problem, requester, request.method === 'pin_only' ? 'pin' : 'credentials');
      } else {
        await endRequest(tx, request, 'failed', err);
      }
    });
    throw err;
  }
  const completed = outcome.value;
  if (!isLinkCompleted(completed)) throw new BankUnavailable('The bank answered in a way koza cannot use.', { bank_code: request.bankCode });
  // The bank accepted the PIN and the code, as it forgets the account's failures so does the try budget.
  if (request.typedAccountKey !== null) await markCredentialsAccepted(env.db, request.id);
  return decideLink(env, request, completed, requester);
}

function isLinkCompleted(c: LinkCompleted): boolean {
  return typeof c.link_token === 'string' && c.link_token !== '' && typeof c.iss === 'string'
    && typeof c.account?.account_ref === 'string' && c.account.account_ref !== '' && typeof c.account.branch_code === 'string'
    && typeof c.account.account_number_masked === 'string'
    && typeof c.holder?.name_kana === 'string' && typeof c.holder.date_of_birth === 'string';
}

interface Refusal {
  error: KozaError;
  /** A review, not a refusal: the completion is kept for an analyst (the bank-side link stays until then). */
  hold?: true;
  /** Wallets that already hold this account: their owners are alerted. */
  alertWallets: string[];
}

/**
 * The decision after the bank vouched for the account: the issuer, the holder against the eKYC identity,
 * the risk hook, one account one wallet. A refused link is revoked at the bank; an accepted one is told to
 * the holder through the bank before money can move (status notifying → active).
 */
async function decideLink(env: LinkEnv, request: LinkRequest, completed: LinkCompleted, requester: Requester): Promise<BankLink> {
  const policy = linkPolicy(request.policy);
  const identity = await getVerifiedIdentity(env.db, request.walletId);
  const expected = policy.nameSource === 'verified_identity' || request.claimedNameKana === null
    ? identity && { nameKana: identity.nameKana, dateOfBirth: identity.dateOfBirth }
    : { nameKana: request.claimedNameKana, dateOfBirth: identity?.dateOfBirth ?? null };
  const holder = assessHolder(expected, completed.holder);
  const issuerOk = completed.iss === env.client.bankUrl(request.bankCode);
  const risk = await env.risk({
    kind: 'link_complete', walletId: request.walletId, ...(requester.ip ? { ip: requester.ip } : {}),
    ...(requester.deviceKey ? { deviceKey: requester.deviceKey } : {}), bankCode: request.bankCode,
    accountRef: completed.account.account_ref,
    attributes: {
      method: request.method, policy: policy.name, name_match_score: holder.match?.score ?? null, dob_matches: holder.dobMatches,
      phone_matches: typeof completed.phone_matches === 'boolean' ? completed.phone_matches : null,
      link_holder_confirmed: request.method === 'redirect' || completed.holder_confirmed === true,
    },
  });

  const decided = await env.db.transaction(async (tx): Promise<{ link: BankLink } | { refusal: Refusal } | { ended: KozaError } | { held: KozaError }> => {
    const locked = (await getLinkRequestById(tx, request.id, true))!;
    if (locked.state === 'linked') return { link: (await getBankLinkById(tx, locked.linkId!))! };
    if (locked.state !== 'completing') return { ended: storedError(locked) };
    const refusal = issuerOk
      ? await refusalFor(tx, policy, locked, completed, holder, risk)
      : { error: new LinkIssuerMismatch('The link was answered by another issuer than the bank koza asked; nothing was linked.'), alertWallets: [] };
    if (refusal?.hold) {
      await holdCompletion(tx, env, locked, completed, holder.match?.score ?? null, risk.decisionId ?? null, requester.deviceKey ?? null);
      return { held: refusal.error };
    }
    if (!refusal) {
      const link = await makeLink(tx, env, policy, locked, completed, holder.match?.score ?? null);
      if (link && risk.action === 'review' && locked.releasedFrom !== null) await closePassedAlert(tx, risk.decisionId ?? null, locked.releasedFrom);
      if (link) return { link };
    }
    // Refused, or another wallet won the race for the account on the unique index.
    const final = refusal ?? await linkedElsewhere(tx, locked, completed.account.account_ref);
    await recordRefusal(tx, env, locked, completed, final);
    return { refusal: final };
  });

  if ('ended' in decided) throw decided.ended;
  // Held with the bank-side link kept: an analyst's release makes it (linkReleasedCompletion), a reject revokes it.
  if ('held' in decided) throw decided.held;
  if ('refusal' in decided) {
    await revokeRefusedAtBank(env, request.id, request.bankCode, completed.link_token);
    throw decided.refusal.error;
  }
  return ensureHolderNotified(env, decided.link.id);
}

/**
 * Why the account may not be linked, or null. An account live-linked to another wallet is refused first,
 * whoever the holder turns out to be, so that its wallet's owner is alerted of every attempt on it.
 */
async function refusalFor(
  q: Queryable, policy: LinkPolicy, request: LinkRequest, completed: LinkCompleted, holder: HolderAssessment, risk: RiskDecision,
): Promise<Refusal | null> {
  // Frozen since the link started (an operator acting on a case): nothing new is linked to it.
  if ((await getWallet(q, request.walletId)).status !== 'active') {
    return { error: new WalletFrozen('This wallet cannot link bank accounts. Contact support.'), alertWallets: [] };
  }
  const live = await liveLinksOfAccount(q, request.bankCode, completed.account.account_ref);
  if (live.some((l) => l.walletId === request.walletId)) {
    return { error: new BankAccountAlreadyLinked('This bank account is already linked to your wallet.'), alertWallets: [] };
  }
  if (policy.oneAccountOneWallet && live.length > 0) return linkedElsewhere(q, request, completed.account.account_ref, live);
  if (policy.nameMatching && !holder.accepted) {
    await recordRiskSignal(q, { walletId: request.walletId, kind: 'link_name_mismatch', detail: {
      link_request_id: request.id, bank_code: request.bankCode, method: request.method,
      name_match_score: holder.match?.score ?? null, name_match_band: holder.match?.band ?? null, dob_matches: holder.dobMatches,
    } });
    return {
      error: new LinkHolderMismatch('Only an account in your own name can be linked: the name and date of birth the bank holds '
        + 'must match your verified identity. Nothing was linked.'),
      alertWallets: [],
    };
  }
  // A link started on an analyst's release is not held a second time for the same kind of doubt (a deny still refuses).
  if (risk.action === 'review' && request.releasedFrom === null && policy.name === 'secure') {
    return { error: new LinkHeldForReview(heldCompletionNextStep(new Date()), {
      link_request_id: request.id, review_due_at: reviewDueAt(new Date()).toISOString(), review_due_at_jst: formatJst(reviewDueAt(new Date())),
    }), alertWallets: [], hold: true };
  }
  if (risk.action !== 'allow' && !(risk.action === 'review' && request.releasedFrom !== null)) {
    await recordRiskSignal(q, { walletId: request.walletId, kind: 'link_refused_by_risk', detail: {
      link_request_id: request.id, bank_code: request.bankCode, action: risk.action, reasons: risk.reasons.map((r) => r.rule),
    } });
    return { error: new LinkRefused('This bank account cannot be linked now. Contact support if you think this is wrong.'), alertWallets: [] };
  }
  return null;
}

/** The bank_links row, its signals and the request marked linked: what a completion (or an analyst's release of one) makes. */
async function makeLink(
  tx: Queryable, env: Pick<LinkEnv, 'config'>, policy: LinkPolicy, request: LinkRequest, completed: LinkCompleted, nameMatchScore: number | null,
): Promise<BankLink | null> {
  const link = await insertBankLink(tx, {
    walletId: request.walletId, bankCode: request.bankCode, accountRef: completed.account.account_ref,
    branchCode: completed.account.branch_code.slice(0, 8), accountNumberMasked: completed.account.account_number_masked.slice(0, 16),
    linkTokenSealed: sealLinkToken(env.config.secretKey, completed.link_token), method: request.method, policy: policy.name,
    status: policy.notifyHolder ? 'notifying' : 'active', exclusive: policy.oneAccountOneWallet,
    holderNameKana: completed.holder.name_kana.slice(0, 100), nameMatchScore, linkRequestId: request.id,
    // A redirect link is the holder's own sign-in at the bank, whatever a bank answers.
    holderConfirmed: request.method === 'redirect' || completed.holder_confirmed === true,
    phoneMatches: typeof completed.phone_matches === 'boolean' ? completed.phone_matches : null,
  });
  if (!link) return null;
  await markLinkRequestLinked(tx, request.id, link.id);
  await recordRiskSignal(tx, { walletId: request.walletId, kind: 'link_created', detail: {
    link_id: link.id, bank_code: link.bankCode, method: link.method, policy: policy.name, name_match_score: link.nameMatchScore,
    holder_confirmed: link.holderConfirmedAt !== null, phone_matches: link.phoneMatches,
  } });
  // The bank holds another phone for the account than the wallet verified: a SIM swap or a borrowed account. A
  // signal and a rule's alert, not a refusal: people change phones and banks lag behind.
  if (link.phoneMatches === false) {
    await recordRiskSignal(tx, { walletId: request.walletId, kind: 'link_phone_mismatch', detail: { link_id: link.id, bank_code: link.bankCode } });
  }
  return link;
}

/**
 * A review at completion: the request is held with what the bank answered (the token sealed apart), no link is made and
 * the holder is not yet told; the analyst's release makes the link, a reject revokes the bank's.
 */
async function holdCompletion(
  tx: Queryable, env: Pick<LinkEnv, 'config'>, request: LinkRequest, completed: LinkCompleted, nameMatchScore: number | null,
  riskDecisionId: string | null, deviceKey: string | null,
): Promise<void> {
  const { link_token: token, ...answer } = completed;
  await tx.query(
    `UPDATE link_requests SET state = 'held', held_completion = $2, held_link_token_sealed = $3, risk_decision_id = $4,
            device_key = coalesce(device_key, $5)
      WHERE id = $1`,
    [request.id, JSON.stringify({ ...answer, name_match_score: nameMatchScore }), sealLinkToken(env.config.secretKey, token),
      riskDecisionId, deviceKey]);
  // No signal of its own: the holding decision opened the alert the analyst works from.
}

/**
 * An analyst released a request held at completion (link-review.ts releaseHeldLink, same transaction): the link is made
 * from what the bank answered, after the checks that do not depend on the review (wallet active, the account not linked
 * to another wallet meanwhile). The caller tells the holder through the bank (ensureHolderNotified) after commit.
 */
export async function linkReleasedCompletion(tx: Queryable, env: Pick<LinkEnv, 'config'>, linkRequestId: string): Promise<BankLink> {
  const request = (await getLinkRequestById(tx, linkRequestId, true))!;
  const row = await tx.query<{ held_completion: Record<string, unknown> | string; held_link_token_sealed: string }>(
    'SELECT held_completion, held_link_token_sealed FROM link_requests WHERE id = $1', [linkRequestId]);
  const raw = row.rows[0]!.held_completion;
  const answer = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Omit<LinkCompleted, 'link_token'> & { name_match_score: number | null };
  const completed = { ...answer, link_token: unseal(env.config.secretKey, row.rows[0]!.held_link_token_sealed) } as LinkCompleted;
  if ((await getWallet(tx, request.walletId)).status !== 'active') throw new WalletFrozen('This wallet cannot link bank accounts now.');
  const link = await makeLink(tx, env, linkPolicy(request.policy), request, completed, answer.name_match_score);
  if (!link) {
    throw new BankAccountAlreadyLinked('The bank account was linked to another koza wallet while this link was held: reject it instead.');
  }
  await tx.query('UPDATE link_requests SET held_link_token_sealed = NULL WHERE id = $1', [linkRequestId]);
  return link;
}

/** After a reject of a request held at completion commits: revoke the bank's link now (settleLinks retries a silent bank). */
export async function revokeRejectedAtBank(env: LinkEnv, linkRequestId: string): Promise<boolean> {
  const res = await env.db.query<{ bank_code: string; refused_link_token_sealed: string | null }>(
    'SELECT bank_code, refused_link_token_sealed FROM link_requests WHERE id = $1', [linkRequestId]);
  const row = res.rows[0];
  if (!row?.refused_link_token_sealed) return false;
  return revokeRefusedAtBank(env, linkRequestId, row.bank_code, unseal(env.config.secretKey, row.refused_link_token_sealed));
}

async function linkedElsewhere(q: Queryable, request: LinkRequest, accountRef: string, live?: BankLink[]): Promise<Refusal> {
  const holders = (live ?? await liveLinksOfAccount(q, request.bankCode, accountRef)).map((l) => l.walletId);
  return {
    // The same words whoever holds it: the refused wallet learns nothing about the other one.
    error: new BankAccountAlreadyLinked('This bank account is linked to another koza wallet and cannot be linked again. '
      + 'If it is yours, contact support.'),
    alertWallets: [...new Set(holders.filter((w) => w !== request.walletId))],
  };
}

/** The refusal, its signals, and the alert to every wallet that already holds the account (SPEC §5.3). */
async function recordRefusal(q: Queryable, env: LinkEnv, request: LinkRequest, completed: LinkCompleted, refusal: Refusal): Promise<void> {
  await endRequest(q, request, 'refused', refusal.error, sealLinkToken(env.config.secretKey, completed.link_token));
  if (refusal.alertWallets.length === 0) return;
  await recordRiskSignal(q, { walletId: request.walletId, kind: 'link_account_linked_elsewhere', detail: {
    link_request_id: request.id, bank_code: request.bankCode,
  } });
  for (const walletId of refusal.alertWallets) {
    const first = await getWallet(q, walletId);
    await recordRiskSignal(q, { walletId, kind: 'link_attempt_on_linked_account', detail: {
      bank_code: request.bankCode, account_number_masked: completed.account.account_number_masked, link_request_id: request.id,
    } });
    await sendMessage(q, {
      channel: 'email', recipient: first.email.toLowerCase(),
      subject: 'Someone tried to link your bank account to another koza wallet',
      body: `Someone tried to link the bank account ${completed.account.account_number_masked} (bank ${request.bankCode}, `
        + `branch ${completed.account.branch_code}), which is linked to your koza wallet, to another koza wallet. koza refused it. `
        + 'If this was not you, your account number and PIN may be known to someone else: contact your bank to change your PIN, '
        + 'and tell koza support.',
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Bank refusals, holder notices, revocations
// ---------------------------------------------------------------------------------------------------------------

function errorForBankRefusal(request: LinkRequest, problem: BankProblem): KozaError {
  switch (problem.code) {
    case 'invalid_credentials':
      // v2: the PIN given at the start and the code are judged together; the bank never says which was wrong.
      return new BankCredentialsRejected(request.method === 'pin_otp'
        ? 'The bank did not accept the account number, the PIN or the one-time code. Check the code and try again; if no code '
          + 'came, the account number or PIN may be wrong: start again, or link through your bank\'s own sign-in if it offers it.'
        : 'The bank did not accept the account details or the PIN.');
    case 'credentials_locked':
      return new BankCredentialsLocked('Too many wrong tries: the bank has locked these credentials. Contact your bank.');
    case 'method_not_supported':
      return new LinkMethodNotOffered(`This bank does not offer ${request.method} links.`, { method: request.method, offered_methods: [] });
    case 'link_request_expired':
    case 'invalid_grant':
      return new LinkRequestExpired('The bank no longer accepts this link request. Start again.');
    default:
      return new BankRequestRefused('The bank refused the request.', { bank_code: request.bankCode, bank_error: problem.code });
  }
}

function isCredentialProblem(problem: BankProblem): boolean {
  return problem.code === 'invalid_credentials' || problem.code === 'credentials_locked';
}

/**
 * A completion the bank refused (v2: the PIN and the code judged together; pin_only: the PIN): a signal, and an event
 * for the risk engine's failure counters (per typed account across every wallet, per wallet, per person, per address
 * across every account: PIN spraying). The decision on it is recorded; the attempt has already failed, so nothing is
 * enforced here — the next attempt is decided on these counts.
 */
async function recordCredentialFailure(
  q: Queryable, env: Pick<LinkEnv, 'risk'>, request: LinkRequest, problem: BankProblem, requester: Requester,
  failure: 'pin' | 'credentials',
): Promise<void> {
  await recordRiskSignal(q, { walletId: request.walletId, kind: 'link_credentials_rejected', detail: {
    link_request_id: request.id, bank_code: request.bankCode, method: request.method, bank_error: problem.code,
    ...(request.typedAccountKey ? { account_key: request.typedAccountKey } : {}),
  } });
  if (!request.typedAccountKey) return;
  const personKey = requester.personKey ?? (await getVerifiedIdentity(q, request.walletId))?.personKey;
  await env.risk({
    kind: 'link_complete', walletId: request.walletId,
    ...(requester.ip ? { ip: requester.ip } : {}), ...(requester.deviceKey ? { deviceKey: requester.deviceKey } : {}),
    ...(personKey ? { personKey } : {}), bankCode: request.bankCode, accountRef: `typed:${request.typedAccountKey}`,
    attributes: { failure, method: request.method, bank_error: problem.code },
  }, q);
}

async function endRequest(q: Queryable, request: LinkRequest, state: 'refused' | 'failed', err: KozaError, tokenSealed?: string): Promise<void> {
  await markLinkRequestEnded(q, request.id, {
    state, failureCode: err.code, refusedLinkTokenSealed: tokenSealed,
    failureProblem: { ...err.extensions, title: err.title, status: err.status, detail: err.detail },
  });
}

/** A refused completion left a live token at the bank: revoke it now, or leave it for settleLinks. */
async function revokeRefusedAtBank(env: LinkEnv, linkRequestId: string, bankCode: string, linkToken: string): Promise<boolean> {
  const outcome = await env.client.revokeLink(bankCode, linkToken, `${linkRequestId}:revoke`);
  if (outcome.kind === 'answered' || (outcome.kind === 'refused' && outcome.problem.code === 'link_not_found')) {
    await markRefusalRevokedAtBank(env.db, linkRequestId);
    return true;
  }
  return false;
}

function jst(date: Date): string {
  return `${new Date(date.getTime() + 9 * 3_600_000).toISOString().slice(0, 16).replace('T', ' ')} JST`;
}

/**
 * The holder hears of the link from their own bank (SPEC §5.3), before the link can move money: the message
 * that would have told the 2020 victims on day one.
 */
export async function ensureHolderNotified(env: LinkEnv, linkId: string): Promise<BankLink> {
  const link = (await getBankLinkById(env.db, linkId))!;
  if (link.status !== 'notifying') return link;
  const outcome = await env.client.notifyHolder(link.bankCode, {
    link_token: linkTokenOf(link, env.config.secretKey), kind: 'link_created',
    message: `Your account ${link.accountNumberMasked} (branch ${link.branchCode}) was linked to a koza wallet on `
      + `${jst(link.createdAt)}. koza can now take money from this account when the wallet is charged; each debit shows as KOZA `
      + 'with a reference. If you did not do this, contact your bank or koza at once: the link will be stopped and, under '
      + "koza's published compensation policy, any money taken is paid back.",
    // The inbox and the contact the bank holds besides the phone: a SIM-swapper holds the phone, not these.
    channels: ['inbox', 'email'],
  }, `${link.id}:notify:link_created`);
  if (outcome.kind === 'unknown') throw new BankUnavailable('The bank did not confirm the notice to the account holder. Try again.', { bank_code: link.bankCode });
  if (outcome.kind === 'refused') {
    // A link the holder cannot be told of is not a link: it is revoked in koza and at the bank.
    await env.db.transaction(async (tx) => {
      await markLinkRevoked(tx, link.id, 'holder_notice_refused');
      await recordRiskSignal(tx, { walletId: link.walletId, kind: 'link_revoked', detail: { link_id: link.id, reason: 'holder_notice_refused' } });
    });
    await revokeAtBank(env, link);
    throw new BankRequestRefused('The bank could not tell the account holder of the link, so it was not made.',
      { bank_code: link.bankCode, bank_error: outcome.problem.code });
  }
  const channels = Array.isArray(outcome.value.channels) ? outcome.value.channels.filter((c) => typeof c === 'string').slice(0, 3) : ['inbox'];
  return (await markLinkActive(env.db, link.id, true, channels)) ?? (await getBankLinkById(env.db, link.id))!;
}

async function revokeAtBank(env: LinkEnv, link: BankLink): Promise<boolean> {
  const outcome = await env.client.revokeLink(link.bankCode, linkTokenOf(link, env.config.secretKey), `${link.id}:revoke`);
  if (outcome.kind === 'answered' || (outcome.kind === 'refused' && outcome.problem.code === 'link_not_found')) {
    await markLinkRevokedAtBank(env.db, link.id);
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// Revoke
// ---------------------------------------------------------------------------------------------------------------

/** Step 1, in the caller's transaction: the link stops in koza at once (charges check status). Repeats are no-ops. */
export async function prepareRevoke(q: Queryable, walletId: string, linkId: string, reason = 'customer'): Promise<BankLink> {
  const link = await getBankLink(q, walletId, linkId, true);
  if (!link) throw new NotFound('The bank link does not exist.');
  if (link.status === 'revoked') return link;
  const revoked = (await markLinkRevoked(q, link.id, reason))!;
  await recordRiskSignal(q, { walletId, kind: 'link_revoked', detail: { link_id: link.id, bank_code: link.bankCode, reason } });
  return revoked;
}

/** Step 2, no transaction open: tell the holder (secure) and the bank; a bank that does not answer is retried by settleLinks. */
export async function executeRevoke(env: LinkEnv, link: BankLink): Promise<BankLink> {
  if (linkPolicy(link.policy).notifyHolder && link.holderNotifiedAt !== null) {
    // Before the revocation: afterwards the bank may no longer take the token.
    await env.client.notifyHolder(link.bankCode, {
      link_token: linkTokenOf(link, env.config.secretKey), kind: 'link_revoked',
      message: `The link between your account ${link.accountNumberMasked} and a koza wallet was removed on ${jst(new Date())}.`,
    }, `${link.id}:notify:link_revoked`);
  }
  await revokeAtBank(env, link);
  return (await getBankLinkById(env.db, link.id))!;
}

/**
 * The follow-up steps a crash or a silent bank can leave undone: holder notices not yet confirmed, and links
 * revoked in koza (or refused) that the bank still holds. For a worker or the CLI; returns what it settled.
 */
export async function settleLinks(
  env: LinkEnv, options: { limit?: number; noticeAfterSeconds?: number; confirmationCheckSeconds?: number } = {},
): Promise<{ notified: number; revoked: number; confirmed: number }> {
  const limit = options.limit ?? 100;
  let notified = 0;
  let revoked = 0;
  let confirmed = 0;
  // A younger notice is most likely still in the hands of the request that made the link.
  for (const link of await listLinksAwaitingNotice(env.db, options.noticeAfterSeconds ?? 60, limit)) {
    try {
      if ((await ensureHolderNotified(env, link.id)).status === 'active') notified++;
    } catch (err) {
      if (!(err instanceof KozaError)) throw err;
    }
  }
  for (const link of await listLinksUnrevokedAtBank(env.db, limit)) {
    if (await revokeAtBank(env, link)) revoked++;
  }
  for (const refusal of await listUnrevokedRefusals(env.db, limit)) {
    if (await revokeRefusedAtBank(env, refusal.id, refusal.bankCode, unseal(env.config.secretKey, refusal.tokenSealed))) revoked++;
  }
  // Links held after the bank vouched that no analyst answered in time: rejected and revoked at the bank, customer told.
  for (const id of await listExpiredHeldCompletions(env.db, limit)) {
    const rejected = await env.db.transaction((tx) => rejectHeldLink(tx, {
      linkRequestId: id, operator: EXPIRY_REVIEWER, reason: `not reviewed within ${HELD_COMPLETION_EXPIRY_DAYS} days`,
    })).catch((err: unknown) => {
      if (err instanceof KozaError) return null; // reviewed meanwhile
      throw err;
    });
    if (rejected && await revokeRejectedAtBank(env, id)) revoked++;
  }
  // Unconfirmed PIN+text links: the holder's tap (or stop) at the bank is learnt at least hourly, not only at a charge.
  for (const link of await listLinksAwaitingConfirmation(env.db, options.confirmationCheckSeconds ?? 3600, limit)) {
    // One link that cannot be asked about (a token sealed under another key) must not stop the sweep for the rest.
    const state = await syncLinkState(env, link).catch(() => 'unknown' as const);
    if (state === 'confirmed') confirmed++;
    if (state === 'revoked') revoked++;
    if (state === 'unconfirmed') await reviewUnconfirmedLink(env, link);
  }
  return { notified, revoked, confirmed };
}

/**
 * A PIN+text link the bank still says its holder has not confirmed, on a bank account that has already moved money: the
 * risk engine is asked (event link_unconfirmed) at each sweep until a rule opens an alert, so that a SIM swap reaches an
 * analyst while the new-link cap holds the money, before the next day's charge — not only at that charge. The rules
 * decide when (default: 12 h after the person first linked the account). Counted per bank account as graduated trust
 * counts (accountTrustFacts): a revoke and re-link neither resets the age nor hides the earlier charges.
 */
async function reviewUnconfirmedLink(env: LinkEnv, link: BankLink): Promise<void> {
  await env.db.transaction(async (tx) => {
    if ((await lockUnconfirmedReview(tx, link.id)).alerted) return;
    const now = new Date();
    const account = await accountTrustFacts(tx, link.walletId, link, now);
    if (account.totalSinceFirstLink === 0) return;
    const hours = (since: Date) => Math.round(((now.getTime() - since.getTime()) / 3_600_000) * 100) / 100;
    const decision = await env.risk({
      kind: 'link_unconfirmed', walletId: link.walletId, bankCode: link.bankCode, accountRef: link.accountRef,
      amount: account.totalSinceFirstLink,
      attributes: {
        method: link.method, link_holder_confirmed: false, link_age_hours: hours(link.createdAt),
        account_link_age_hours: hours(account.firstLinkedAt),
      },
    }, tx);
    if (decision.alert || decision.action === 'review' || decision.action === 'deny') await markUnconfirmedAlerted(tx, link.id);
  });
}
