// Owns the tables of bank linking: link requests in flight and live bank links, with their tokens sealed.
// Must never return a link token except through linkTokenOf, nor hand one wallet's link to another; decisions live in the flow.
import type { Queryable } from '../store/db.js';
import { isDbError } from '../store/db.js';
import type { PolicyName } from '../config.js';
import { newId } from '../ids.js';
import { seal, unseal } from '../identity/secrets.js';
import type { LinkMethod } from './protocol.js';

export type LinkRequestState = 'pushing' | 'awaiting_customer' | 'completing' | 'linked' | 'refused' | 'failed'
  /** Held for an analyst's review before the bank was asked (link-review.ts), and how the review ended. */
  | 'held' | 'released' | 'rejected';
export type LinkStatus = 'notifying' | 'active' | 'revoked';

export interface LinkRequest {
  id: string;
  walletId: string;
  bankCode: string;
  method: LinkMethod;
  policy: PolicyName;
  state: LinkRequestState;
  bankLinkRequestId: string | null;
  codeVerifierSealed: string | null;
  redirectUri: string | null;
  claimedNameKana: string | null;
  typedAccountKey: string | null;
  failureCode: string | null;
  failureProblem: Record<string, unknown> | null;
  linkId: string | null;
  expiresAt: Date;
  createdAt: Date;
  completedAt: Date | null;
  /** Completions of this request the bank refused (PIN or code: v2 does not say which). */
  credentialFailures: number;
  /** Started on an analyst's release of a held request (that request's id): its completion is not held again. */
  releasedFrom: string | null;
}

interface LinkRequestRow {
  id: string; wallet_id: string; bank_code: string; method: LinkMethod; policy: PolicyName; state: LinkRequestState;
  bank_link_request_id: string | null; code_verifier_sealed: string | null;
  redirect_uri: string | null; claimed_name_kana: string | null; typed_account_key: string | null; failure_code: string | null;
  failure_problem: Record<string, unknown> | null; link_id: string | null; expires_at: Date; created_at: Date;
  completed_at: Date | null; credential_failures: number; released_from: string | null;
}

function toLinkRequest(r: LinkRequestRow): LinkRequest {
  return {
    id: r.id, walletId: r.wallet_id, bankCode: r.bank_code, method: r.method, policy: r.policy, state: r.state,
    bankLinkRequestId: r.bank_link_request_id, codeVerifierSealed: r.code_verifier_sealed,
    redirectUri: r.redirect_uri, claimedNameKana: r.claimed_name_kana, typedAccountKey: r.typed_account_key,
    failureCode: r.failure_code, failureProblem: r.failure_problem, linkId: r.link_id, expiresAt: new Date(r.expires_at),
    createdAt: new Date(r.created_at), completedAt: r.completed_at === null ? null : new Date(r.completed_at),
    credentialFailures: r.credential_failures, releasedFrom: r.released_from,
  };
}

const LINK_REQUEST_COLUMNS = `id, wallet_id, bank_code, method, policy, state, bank_link_request_id,
  code_verifier_sealed, redirect_uri, claimed_name_kana, typed_account_key, failure_code, failure_problem, link_id,
  expires_at, created_at, completed_at, credential_failures, released_from`;

export async function insertLinkRequest(q: Queryable, input: {
  walletId: string; bankCode: string; method: LinkMethod; policy: PolicyName; expiresAt: Date;
  oauthStateHash?: string; codeVerifierSealed?: string; redirectUri?: string; claimedNameKana?: string | null;
  typedAccountKey?: string | null;
}): Promise<LinkRequest> {
  const res = await q.query<LinkRequestRow>(
    `INSERT INTO link_requests (id, wallet_id, bank_code, method, policy, state, oauth_state_hash, code_verifier_sealed,
       redirect_uri, claimed_name_kana, typed_account_key, expires_at)
     VALUES ($1, $2, $3, $4, $5, 'pushing', $6, $7, $8, $9, $10, $11) RETURNING ${LINK_REQUEST_COLUMNS}`,
    [newId('lrq'), input.walletId, input.bankCode, input.method, input.policy, input.oauthStateHash ?? null,
      input.codeVerifierSealed ?? null, input.redirectUri ?? null, input.claimedNameKana ?? null, input.typedAccountKey ?? null,
      input.expiresAt]);
  return toLinkRequest(res.rows[0]!);
}

/** The wallet's link request (the same null for an unknown id and another wallet's), optionally locked. */
export async function getLinkRequest(q: Queryable, walletId: string, id: string, lock = false): Promise<LinkRequest | null> {
  const res = await q.query<LinkRequestRow>(
    `SELECT ${LINK_REQUEST_COLUMNS} FROM link_requests WHERE id = $1 AND wallet_id = $2${lock ? ' FOR UPDATE' : ''}`, [id, walletId]);
  return res.rows[0] ? toLinkRequest(res.rows[0]) : null;
}

export async function getLinkRequestById(q: Queryable, id: string, lock = false): Promise<LinkRequest | null> {
  const res = await q.query<LinkRequestRow>(
    `SELECT ${LINK_REQUEST_COLUMNS} FROM link_requests WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return res.rows[0] ? toLinkRequest(res.rows[0]) : null;
}

/** The redirect link request an OAuth state belongs to (the state is looked up by its hash). */
export async function findLinkRequestByStateHash(q: Queryable, stateHash: string, lock = false): Promise<LinkRequest | null> {
  const res = await q.query<LinkRequestRow>(
    `SELECT ${LINK_REQUEST_COLUMNS} FROM link_requests WHERE oauth_state_hash = $1${lock ? ' FOR UPDATE' : ''}`, [stateHash]);
  return res.rows[0] ? toLinkRequest(res.rows[0]) : null;
}

/** The bank accepted the push: the customer now approves at the bank or types the OTP. */
export async function markAwaitingCustomer(q: Queryable, id: string, bank: {
  bankLinkRequestId: string; expiresAt: Date;
}): Promise<LinkRequest> {
  const res = await q.query<LinkRequestRow>(
    `UPDATE link_requests SET state = 'awaiting_customer', bank_link_request_id = $2, expires_at = least(expires_at, $3)
      WHERE id = $1 AND state IN ('pushing', 'awaiting_customer') RETURNING ${LINK_REQUEST_COLUMNS}`,
    [id, bank.bankLinkRequestId, bank.expiresAt]);
  if (!res.rows[0]) return (await getLinkRequestById(q, id))!;
  return toLinkRequest(res.rows[0]);
}

export async function setLinkRequestState(q: Queryable, id: string, state: 'awaiting_customer' | 'completing'): Promise<void> {
  await q.query('UPDATE link_requests SET state = $2 WHERE id = $1', [id, state]);
}

/** The bank refused this completion's PIN or code (v2 does not say which): the request stays open for another try. */
export async function recordRequestCredentialFailure(q: Queryable, id: string): Promise<void> {
  await q.query(
    `UPDATE link_requests SET state = 'awaiting_customer', credential_failures = credential_failures + 1,
            last_credential_failure_at = now()
      WHERE id = $1`, [id]);
}

/** The bank accepted the PIN and the code (it answered with a link), whatever koza then decides. */
export async function markCredentialsAccepted(q: Queryable, id: string): Promise<void> {
  await q.query('UPDATE link_requests SET credentials_accepted_at = coalesce(credentials_accepted_at, now()) WHERE id = $1', [id]);
}

/**
 * Serialises the try checks of one typed account (every wallet): a check and the try it lets through commit
 * together, so concurrent completions cannot all pass on the same count.
 */
export async function lockTypedAccount(q: Queryable, typedAccountKey: string): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock(hashtext('koza:typed-account:' || $1))`, [typedAccountKey]);
}

/** What koza knows of the tries on one typed account since the bank last accepted its PIN and code, within the window. */
export interface TypedAccountTries {
  /** When each request that the bank refused at least once last failed, oldest first. */
  failedAt: Date[];
  /** Other requests being redeemed at the bank now, with no failure yet: each may become one. */
  inFlight: number;
}

export async function typedAccountTries(
  q: Queryable, typedAccountKey: string, since: Date, now: Date, exceptRequestId: string | null,
): Promise<TypedAccountTries> {
  const res = await q.query<{ failed_at: Date[] | null; in_flight: number | string }>(
    `WITH accepted AS (
       SELECT coalesce(max(credentials_accepted_at), '-infinity'::timestamptz) AS at FROM link_requests WHERE typed_account_key = $1)
     SELECT
       (SELECT array_agg(r.last_credential_failure_at ORDER BY r.last_credential_failure_at) FROM link_requests r, accepted a
         WHERE r.typed_account_key = $1 AND r.credential_failures > 0 AND r.last_credential_failure_at > greatest($2, a.at)) AS failed_at,
       (SELECT count(*) FROM link_requests r WHERE r.typed_account_key = $1 AND r.state = 'completing'
         AND r.credential_failures = 0 AND r.expires_at > $3 AND r.id IS DISTINCT FROM $4) AS in_flight`,
    [typedAccountKey, since, now, exceptRequestId]);
  const row = res.rows[0]!;
  return { failedAt: (row.failed_at ?? []).map((d) => new Date(d)), inFlight: Number(row.in_flight) };
}

/** A final refusal or failure, with the problem the customer was shown (replayed to a repeated callback). */
export async function markLinkRequestEnded(q: Queryable, id: string, ending: {
  state: 'refused' | 'failed'; failureCode: string; failureProblem: Record<string, unknown>; refusedLinkTokenSealed?: string;
}): Promise<void> {
  await q.query(
    `UPDATE link_requests SET state = $2, failure_code = $3, failure_problem = $4, refused_link_token_sealed = $5,
            completed_at = now()
      WHERE id = $1`,
    [id, ending.state, ending.failureCode, JSON.stringify(ending.failureProblem), ending.refusedLinkTokenSealed ?? null]);
}

export async function markLinkRequestLinked(q: Queryable, id: string, linkId: string): Promise<void> {
  await q.query(`UPDATE link_requests SET state = 'linked', link_id = $2, completed_at = now() WHERE id = $1`, [id, linkId]);
}

/** Refused completions whose bank-side link is not yet confirmed revoked (for the revocation sweeper). */
export async function listUnrevokedRefusals(q: Queryable, limit: number): Promise<Array<{ id: string; bankCode: string; tokenSealed: string }>> {
  const res = await q.query<{ id: string; bank_code: string; refused_link_token_sealed: string }>(
    `SELECT id, bank_code, refused_link_token_sealed FROM link_requests
      WHERE refused_link_token_sealed IS NOT NULL AND bank_revoked_at IS NULL ORDER BY created_at LIMIT $1`, [limit]);
  return res.rows.map((r) => ({ id: r.id, bankCode: r.bank_code, tokenSealed: r.refused_link_token_sealed }));
}

export async function markRefusalRevokedAtBank(q: Queryable, id: string): Promise<void> {
  await q.query('UPDATE link_requests SET bank_revoked_at = now(), refused_link_token_sealed = NULL WHERE id = $1', [id]);
}

// Links

export interface BankLink {
  id: string;
  seq: number;
  walletId: string;
  bankCode: string;
  accountRef: string;
  branchCode: string;
  accountNumberMasked: string;
  method: LinkMethod;
  policy: PolicyName;
  status: LinkStatus;
  exclusive: boolean;
  holderNameKana: string;
  nameMatchScore: number | null;
  linkRequestId: string;
  createdAt: Date;
  holderNotifiedAt: Date | null;
  revokedAt: Date | null;
  revokedReason: string | null;
  /** Sealed; read it with linkTokenOf. */
  linkTokenSealed: string;
  /** The holder confirmed the link at the bank (sign-in, or the one tap the bank e-mailed); redirect links at creation. */
  holderConfirmedAt: Date | null;
  holderConfirmedVia: 'bank_sign_in' | 'email' | null;
  /** The wallet's verified phone is the one the bank holds for the account; null when not compared. */
  phoneMatches: boolean | null;
  /** When koza last asked the bank for the link's state. */
  bankStateCheckedAt: Date | null;
  /** The channels the bank used for the link_created notice. */
  holderNoticeChannels: string[] | null;
}

interface LinkRow {
  id: string; seq: number; wallet_id: string; bank_code: string; account_ref: string; branch_code: string;
  account_number_masked: string; method: LinkMethod; policy: PolicyName; status: LinkStatus; exclusive: boolean;
  holder_name_kana: string; name_match_score: number | null; link_request_id: string; created_at: Date;
  holder_notified_at: Date | null; revoked_at: Date | null; revoked_reason: string | null; link_token_sealed: string;
  holder_confirmed_at: Date | null; holder_confirmed_via: 'bank_sign_in' | 'email' | null; phone_matches: boolean | null;
  bank_state_checked_at: Date | null; holder_notice_channels: string[] | null;
}

const date = (d: Date | null): Date | null => (d === null ? null : new Date(d));

function toLink(r: LinkRow): BankLink {
  return {
    id: r.id, seq: r.seq, walletId: r.wallet_id, bankCode: r.bank_code, accountRef: r.account_ref, branchCode: r.branch_code,
    accountNumberMasked: r.account_number_masked, method: r.method, policy: r.policy, status: r.status, exclusive: r.exclusive,
    holderNameKana: r.holder_name_kana, nameMatchScore: r.name_match_score, linkRequestId: r.link_request_id,
    createdAt: new Date(r.created_at), holderNotifiedAt: date(r.holder_notified_at), revokedAt: date(r.revoked_at),
    revokedReason: r.revoked_reason, linkTokenSealed: r.link_token_sealed, holderConfirmedAt: date(r.holder_confirmed_at),
    holderConfirmedVia: r.holder_confirmed_via, phoneMatches: r.phone_matches, bankStateCheckedAt: date(r.bank_state_checked_at),
    holderNoticeChannels: r.holder_notice_channels,
  };
}

const LINK_COLUMNS = `id, seq, wallet_id, bank_code, account_ref, branch_code, account_number_masked, method, policy, status,
  exclusive, holder_name_kana, name_match_score, link_request_id, created_at, holder_notified_at, revoked_at, revoked_reason,
  link_token_sealed, holder_confirmed_at, holder_confirmed_via, phone_matches, bank_state_checked_at, holder_notice_channels`;

/** The link token koza presents to the bank for this link (debit, credit, notify, revoke). */
export function linkTokenOf(link: Pick<BankLink, 'linkTokenSealed'>, secretKey: Buffer): string {
  return unseal(secretKey, link.linkTokenSealed);
}

export function sealLinkToken(secretKey: Buffer, token: string): string {
  return seal(secretKey, token);
}

/**
 * Inserts a link; null when the account is already live-linked exclusively to a wallet (the unique index
 * decides, so two wallets completing at once cannot both win).
 */
export async function insertBankLink(q: Queryable, input: {
  walletId: string; bankCode: string; accountRef: string; branchCode: string; accountNumberMasked: string;
  linkTokenSealed: string; method: LinkMethod; policy: PolicyName; status: 'notifying' | 'active'; exclusive: boolean;
  holderNameKana: string; nameMatchScore: number | null; linkRequestId: string;
  holderConfirmed: boolean; phoneMatches: boolean | null;
}): Promise<BankLink | null> {
  await q.query('SAVEPOINT insert_bank_link');
  try {
    const res = await q.query<LinkRow>(
      `INSERT INTO bank_links (id, wallet_id, bank_code, account_ref, branch_code, account_number_masked, link_token_sealed,
         method, policy, status, exclusive, holder_name_kana, name_match_score, link_request_id, holder_confirmed_at,
         holder_confirmed_via, phone_matches)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, CASE WHEN $15 THEN now() END,
         CASE WHEN $15 THEN 'bank_sign_in' END, $16) RETURNING ${LINK_COLUMNS}`,
      [newId('lnk'), input.walletId, input.bankCode, input.accountRef, input.branchCode, input.accountNumberMasked,
        input.linkTokenSealed, input.method, input.policy, input.status, input.exclusive, input.holderNameKana,
        input.nameMatchScore, input.linkRequestId, input.holderConfirmed, input.phoneMatches]);
    await q.query('RELEASE SAVEPOINT insert_bank_link');
    return toLink(res.rows[0]!);
  } catch (err) {
    if (isDbError(err) && err.code === '23505' && err.constraint === 'bank_links_one_wallet_per_account') {
      await q.query('ROLLBACK TO SAVEPOINT insert_bank_link');
      return null;
    }
    throw err;
  }
}

/** The wallet's link (null for an unknown id and for another wallet's), optionally locked. */
export async function getBankLink(q: Queryable, walletId: string, linkId: string, lock = false): Promise<BankLink | null> {
  const res = await q.query<LinkRow>(
    `SELECT ${LINK_COLUMNS} FROM bank_links WHERE id = $1 AND wallet_id = $2${lock ? ' FOR UPDATE' : ''}`, [linkId, walletId]);
  return res.rows[0] ? toLink(res.rows[0]) : null;
}

/**
 * The link a charge or withdrawal may use: the wallet's, and active (not still notifying the holder, not
 * revoked). Null otherwise. lock: FOR SHARE, so a revocation waits for the movement that read it.
 */
export async function findActiveLink(q: Queryable, walletId: string, linkId: string, lock = false): Promise<BankLink | null> {
  const res = await q.query<LinkRow>(
    `SELECT ${LINK_COLUMNS} FROM bank_links WHERE id = $1 AND wallet_id = $2 AND status = 'active'${lock ? ' FOR SHARE' : ''}`,
    [linkId, walletId]);
  return res.rows[0] ? toLink(res.rows[0]) : null;
}

export async function listBankLinks(q: Queryable, walletId: string, page: { limit: number; beforeSeq?: number }): Promise<BankLink[]> {
  const res = await q.query<LinkRow>(
    `SELECT ${LINK_COLUMNS} FROM bank_links WHERE wallet_id = $1 AND ($2::bigint IS NULL OR seq < $2::bigint)
      ORDER BY seq DESC LIMIT $3`,
    [walletId, page.beforeSeq ?? null, page.limit]);
  return res.rows.map(toLink);
}

/** Live (notifying or active) links of one bank account, every wallet's. */
export async function liveLinksOfAccount(q: Queryable, bankCode: string, accountRef: string): Promise<BankLink[]> {
  const res = await q.query<LinkRow>(
    `SELECT ${LINK_COLUMNS} FROM bank_links WHERE bank_code = $1 AND account_ref = $2 AND status <> 'revoked' ORDER BY seq`,
    [bankCode, accountRef]);
  return res.rows.map(toLink);
}

export async function markLinkActive(
  q: Queryable, linkId: string, holderNotified: boolean, channels: string[] | null = null,
): Promise<BankLink | null> {
  const res = await q.query<LinkRow>(
    `UPDATE bank_links SET status = 'active', holder_notified_at = CASE WHEN $2 THEN coalesce(holder_notified_at, now()) END,
            holder_notice_channels = $3
      WHERE id = $1 AND status = 'notifying' RETURNING ${LINK_COLUMNS}`, [linkId, holderNotified, channels]);
  return res.rows[0] ? toLink(res.rows[0]) : null;
}

/** What the bank said of the link just now (GET /links/{token}): a holder confirmation is recorded once. */
export async function recordBankLinkState(
  q: Queryable, linkId: string, state: { confirmedAt: Date | null; confirmedVia: 'bank_sign_in' | 'email' | null },
): Promise<BankLink | null> {
  const res = await q.query<LinkRow>(
    `UPDATE bank_links SET bank_state_checked_at = now(),
            holder_confirmed_at = coalesce(holder_confirmed_at, $2), holder_confirmed_via = coalesce(holder_confirmed_via, $3)
      WHERE id = $1 RETURNING ${LINK_COLUMNS}`, [linkId, state.confirmedAt, state.confirmedVia]);
  return res.rows[0] ? toLink(res.rows[0]) : null;
}

/** Revokes in koza (money stops at once); the bank is told afterwards, and markLinkRevokedAtBank records it. */
export async function markLinkRevoked(q: Queryable, linkId: string, reason: string): Promise<BankLink | null> {
  const res = await q.query<LinkRow>(
    `UPDATE bank_links SET status = 'revoked', revoked_at = now(), revoked_reason = $2
      WHERE id = $1 AND status <> 'revoked' RETURNING ${LINK_COLUMNS}`, [linkId, reason]);
  return res.rows[0] ? toLink(res.rows[0]) : null;
}

export async function markLinkRevokedAtBank(q: Queryable, linkId: string): Promise<void> {
  await q.query('UPDATE bank_links SET bank_revoked_at = coalesce(bank_revoked_at, now()) WHERE id = $1', [linkId]);
}

/** Revoked links the bank has not yet confirmed (for the revocation sweeper). */
export async function listLinksUnrevokedAtBank(q: Queryable, limit: number): Promise<BankLink[]> {
  const res = await q.query<LinkRow>(
    `SELECT ${LINK_COLUMNS} FROM bank_links WHERE status = 'revoked' AND bank_revoked_at IS NULL ORDER BY revoked_at LIMIT $1`, [limit]);
  return res.rows.map(toLink);
}

/** Any wallet's link by id: for the flow's own follow-up steps (holder notice, revocation at the bank), never for a route. */
export async function getBankLinkById(q: Queryable, linkId: string, lock = false): Promise<BankLink | null> {
  const res = await q.query<LinkRow>(`SELECT ${LINK_COLUMNS} FROM bank_links WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [linkId]);
  return res.rows[0] ? toLink(res.rows[0]) : null;
}

/** Links created but whose holder notice the bank has not confirmed, oldest first (for the sweeper). */
export async function listLinksAwaitingNotice(q: Queryable, olderThanSeconds: number, limit: number): Promise<BankLink[]> {
  const res = await q.query<LinkRow>(
    `SELECT ${LINK_COLUMNS} FROM bank_links WHERE status = 'notifying' AND created_at < now() - make_interval(secs => $1)
      ORDER BY seq LIMIT $2`, [olderThanSeconds, limit]);
  return res.rows.map(toLink);
}

/**
 * Live PIN+text links whose holder has not confirmed them, not asked about within `everySeconds`, oldest check first:
 * the sweeper asks the bank, so a confirmation (or a holder's stop at the bank) reaches koza without a charge.
 */
export async function listLinksAwaitingConfirmation(q: Queryable, everySeconds: number, limit: number): Promise<BankLink[]> {
  const res = await q.query<LinkRow>(
    `SELECT ${LINK_COLUMNS} FROM bank_links
      WHERE status = 'active' AND method <> 'redirect' AND holder_confirmed_at IS NULL AND policy = 'secure'
        AND (bank_state_checked_at IS NULL OR bank_state_checked_at < now() - make_interval(secs => $1))
      ORDER BY bank_state_checked_at NULLS FIRST, seq LIMIT $2`, [everySeconds, limit]);
  return res.rows.map(toLink);
}

/**
 * Whether the link sweep has already opened the alert for an unconfirmed PIN+text link; the row is locked, so two
 * sweeps never both ask the risk engine about it.
 */
export async function lockUnconfirmedReview(q: Queryable, linkId: string): Promise<{ alerted: boolean }> {
  const res = await q.query<{ alerted: boolean }>(
    'SELECT unconfirmed_alerted_at IS NOT NULL AS alerted FROM bank_links WHERE id = $1 FOR UPDATE', [linkId]);
  return { alerted: res.rows[0]?.alerted ?? true };
}

export async function markUnconfirmedAlerted(q: Queryable, linkId: string): Promise<void> {
  await q.query('UPDATE bank_links SET unconfirmed_alerted_at = now() WHERE id = $1 AND unconfirmed_alerted_at IS NULL', [linkId]);
}
