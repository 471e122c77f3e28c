// Owns the rows of account linking at a sandbox bank: link requests, links (tokens stored hashed), authorization
// codes and the bank's one-time codes. Must never store a link token, a code or an OTP in clear.
import type { LinkMethod } from '../../banks/protocol.js';
import type { Queryable } from '../../store/db.js';
import { sandboxId } from './store.js';

export type LinkRequestStatus = 'pending' | 'otp_sent' | 'authorized' | 'completed' | 'denied' | 'failed';

export interface LinkRequestRow {
  id: string;
  bank_code: string;
  method: LinkMethod;
  wallet_ref: string;
  claims: { name_kana: string; date_of_birth: string; phone?: string } | null;
  redirect_uri: string | null;
  code_challenge: string | null;
  state: string | null;
  account_id: string | null;
  status: LinkRequestStatus;
  created_at: Date;
  expires_at: Date;
  completed_at: Date | null;
  /** pin methods (v2): the PIN's verdict at the start, never told to the caller; null for redirect. */
  pin_verdict: PinVerdict | null;
  /** Completion tries so far, whatever was wrong (5 fail the request). */
  tries: number;
  /** The wrong PIN of this request has been counted against the account (once per request). */
  pin_failure_counted: boolean;
}

export type PinVerdict = 'right' | 'wrong' | 'no_account';

export async function insertLinkRequest(
  q: Queryable, request: Omit<LinkRequestRow, 'id' | 'completed_at' | 'tries' | 'pin_failure_counted'>,
): Promise<LinkRequestRow> {
  const res = await q.query<LinkRequestRow>(
    `INSERT INTO link_requests (id, bank_code, method, wallet_ref, claims, redirect_uri, code_challenge, state, account_id,
       status, created_at, expires_at, pin_verdict)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
    [sandboxId('lrq'), request.bank_code, request.method, request.wallet_ref,
      request.claims === null ? null : JSON.stringify(request.claims), request.redirect_uri, request.code_challenge,
      request.state, request.account_id, request.status, request.created_at, request.expires_at, request.pin_verdict]);
  return res.rows[0]!;
}

/** One more completion try on a pin request; returns the tries so far. */
export async function recordLinkRequestTry(q: Queryable, id: string): Promise<number> {
  const res = await q.query<{ tries: number }>(
    'UPDATE link_requests SET tries = least(tries + 1, 5) WHERE id = $1 RETURNING tries', [id]);
  return res.rows[0]?.tries ?? 5;
}

export async function markPinFailureCounted(q: Queryable, id: string): Promise<void> {
  await q.query('UPDATE link_requests SET pin_failure_counted = true WHERE id = $1', [id]);
}

export async function getLinkRequest(q: Queryable, bankCode: string, id: string): Promise<LinkRequestRow | null> {
  const res = await q.query<LinkRequestRow>(
    'SELECT * FROM link_requests WHERE bank_code = $1 AND id = $2 FOR UPDATE', [bankCode, id]);
  return res.rows[0] ?? null;
}

export async function updateLinkRequest(
  q: Queryable, id: string, change: { status: LinkRequestStatus; accountId?: string; completedAt?: Date },
): Promise<void> {
  await q.query(
    `UPDATE link_requests SET status = $2, account_id = coalesce($3, account_id), completed_at = coalesce($4, completed_at)
     WHERE id = $1`, [id, change.status, change.accountId ?? null, change.completedAt ?? null]);
}

export interface LinkRow {
  id: string;
  bank_code: string;
  account_id: string;
  wallet_ref: string;
  method: LinkMethod;
  link_request_id: string;
  created_at: Date;
  revoked_at: Date | null;
  /** v2: when and how the holder confirmed the link on a channel the phone alone cannot reach. */
  holder_confirmed_at: Date | null;
  holder_confirmed_via: 'bank_sign_in' | 'email' | null;
  revoked_by: 'holder' | 'koza' | 'bank' | null;
}

const LINK_COLUMNS = `id, bank_code, account_id, wallet_ref, method, link_request_id, created_at, revoked_at, holder_confirmed_at,
  holder_confirmed_via, revoked_by`;

export async function insertLink(
  q: Queryable, link: Omit<LinkRow, 'id' | 'revoked_at' | 'revoked_by'> & { token_hash: string },
): Promise<LinkRow> {
  const res = await q.query<LinkRow>(
    `INSERT INTO links (id, bank_code, token_hash, account_id, wallet_ref, method, link_request_id, created_at,
       holder_confirmed_at, holder_confirmed_via)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     RETURNING ${LINK_COLUMNS}`,
    [sandboxId('blk'), link.bank_code, link.token_hash, link.account_id, link.wallet_ref, link.method, link.link_request_id,
      link.created_at, link.holder_confirmed_at, link.holder_confirmed_via]);
  return res.rows[0]!;
}

export async function findLinkByTokenHash(q: Queryable, bankCode: string, tokenHash: string): Promise<LinkRow | null> {
  const res = await q.query<LinkRow>(
    `SELECT ${LINK_COLUMNS} FROM links WHERE bank_code = $1 AND token_hash = $2`, [bankCode, tokenHash]);
  return res.rows[0] ?? null;
}

export async function listLinks(q: Queryable, filter: { accountId?: string; bankCode?: string }): Promise<LinkRow[]> {
  const res = await q.query<LinkRow>(
    `SELECT ${LINK_COLUMNS} FROM links
     WHERE ($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR bank_code = $2) ORDER BY created_at, id`,
    [filter.accountId ?? null, filter.bankCode ?? null]);
  return res.rows;
}

/** Revokes once: the first revocation's time and author stand. */
export async function revokeLink(q: Queryable, linkId: string, now: Date, by: 'holder' | 'koza' | 'bank'): Promise<void> {
  await q.query(
    `UPDATE links SET revoked_at = coalesce(revoked_at, $2), revoked_by = coalesce(revoked_by, CASE WHEN revoked_at IS NULL THEN $3 END)
     WHERE id = $1`, [linkId, now, by]);
}

export async function getLinkById(q: Queryable, bankCode: string, linkId: string): Promise<LinkRow | null> {
  const res = await q.query<LinkRow>(`SELECT ${LINK_COLUMNS} FROM links WHERE bank_code = $1 AND id = $2 FOR UPDATE`, [bankCode, linkId]);
  return res.rows[0] ?? null;
}

/** The holder confirmed the link (a no-op on a confirmed or revoked one: the first word stands). */
export async function confirmLink(q: Queryable, linkId: string, now: Date, via: 'bank_sign_in' | 'email'): Promise<boolean> {
  const res = await q.query(
    `UPDATE links SET holder_confirmed_at = $2, holder_confirmed_via = $3
     WHERE id = $1 AND holder_confirmed_at IS NULL AND revoked_at IS NULL RETURNING id`, [linkId, now, via]);
  return res.rows.length > 0;
}

export interface LinkConfirmationRow {
  token_hash: string;
  link_id: string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  outcome: 'confirmed' | 'revoked' | null;
}

export async function insertLinkConfirmation(
  q: Queryable, row: { tokenHash: string; linkId: string; now: Date; expiresAt: Date },
): Promise<void> {
  await q.query('INSERT INTO link_confirmations (token_hash, link_id, created_at, expires_at) VALUES ($1, $2, $3, $4)',
    [row.tokenHash, row.linkId, row.now, row.expiresAt]);
}

export async function findLinkConfirmation(q: Queryable, tokenHash: string, lock = false): Promise<LinkConfirmationRow | null> {
  const res = await q.query<LinkConfirmationRow>(
    `SELECT * FROM link_confirmations WHERE token_hash = $1${lock ? ' FOR UPDATE' : ''}`, [tokenHash]);
  return res.rows[0] ?? null;
}

export async function useLinkConfirmation(q: Queryable, tokenHash: string, now: Date, outcome: 'confirmed' | 'revoked'): Promise<void> {
  await q.query('UPDATE link_confirmations SET used_at = $2, outcome = $3 WHERE token_hash = $1 AND used_at IS NULL', [tokenHash, now, outcome]);
}

export interface AuthorizationCodeRow {
  code_hash: string;
  link_request_id: string;
  expires_at: Date;
  used_at: Date | null;
  link_id: string | null;
}

export async function insertAuthorizationCode(
  q: Queryable, code: { codeHash: string; linkRequestId: string; expiresAt: Date },
): Promise<void> {
  await q.query('INSERT INTO authorization_codes (code_hash, link_request_id, expires_at) VALUES ($1, $2, $3)',
    [code.codeHash, code.linkRequestId, code.expiresAt]);
}

export async function findAuthorizationCode(q: Queryable, codeHash: string): Promise<AuthorizationCodeRow | null> {
  const res = await q.query<AuthorizationCodeRow>(
    'SELECT * FROM authorization_codes WHERE code_hash = $1 FOR UPDATE', [codeHash]);
  return res.rows[0] ?? null;
}

export async function markAuthorizationCodeUsed(q: Queryable, codeHash: string, now: Date, linkId: string | null): Promise<void> {
  await q.query('UPDATE authorization_codes SET used_at = coalesce(used_at, $2), link_id = coalesce(link_id, $3) WHERE code_hash = $1',
    [codeHash, now, linkId]);
}

export interface OtpRow {
  id: string;
  bank_code: string;
  account_id: string;
  purpose: 'link' | 'sign_in';
  subject_id: string;
  code_hash: string;
  attempts: number;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
}

export async function insertOtp(q: Queryable, otp: Omit<OtpRow, 'attempts' | 'used_at'>): Promise<void> {
  await q.query(
    `INSERT INTO otps (id, bank_code, account_id, purpose, subject_id, code_hash, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [otp.id, otp.bank_code, otp.account_id, otp.purpose, otp.subject_id, otp.code_hash, otp.created_at, otp.expires_at]);
}

/** The newest code sent for a link request or a sign-in: only it is valid. */
export async function latestOtp(q: Queryable, subjectId: string): Promise<OtpRow | null> {
  const res = await q.query<OtpRow>(
    'SELECT * FROM otps WHERE subject_id = $1 ORDER BY created_at DESC, id LIMIT 1 FOR UPDATE', [subjectId]);
  return res.rows[0] ?? null;
}

export async function recordOtpAttempt(q: Queryable, otpId: string, right: boolean, now: Date): Promise<number> {
  const res = await q.query<{ attempts: number }>(
    `UPDATE otps SET attempts = attempts + CASE WHEN $2 THEN 0 ELSE 1 END, used_at = CASE WHEN $2 THEN $3 ELSE used_at END
     WHERE id = $1 RETURNING attempts`, [otpId, right, now]);
  return res.rows[0]?.attempts ?? 0;
}
