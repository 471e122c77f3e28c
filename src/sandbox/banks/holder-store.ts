// Owns the holder's side of a sandbox bank in SQL: web sessions, the SMS and e-mail the bank sends, the inbox and the
// reports of unrecognised debits. Must never store a session token in clear.
import type { Queryable } from '../../store/db.js';
import { sandboxId } from './store.js';

export type HolderSessionStage = 'anonymous' | 'otp' | 'signed_in';

export interface HolderSessionRow {
  id: string;
  bank_code: string;
  stage: HolderSessionStage;
  account_id: string | null;
  csrf_token: string;
  created_at: Date;
  expires_at: Date;
}

export async function insertHolderSession(
  q: Queryable, session: { tokenHash: string; bankCode: string; csrfToken: string; now: Date; expiresAt: Date },
): Promise<HolderSessionRow> {
  const res = await q.query<HolderSessionRow>(
    `INSERT INTO holder_sessions (id, token_hash, bank_code, stage, csrf_token, created_at, expires_at)
     VALUES ($1, $2, $3, 'anonymous', $4, $5, $6) RETURNING id, bank_code, stage, account_id, csrf_token, created_at, expires_at`,
    [sandboxId('hss'), session.tokenHash, session.bankCode, session.csrfToken, session.now, session.expiresAt]);
  return res.rows[0]!;
}

export async function findHolderSession(q: Queryable, bankCode: string, tokenHash: string, now: Date): Promise<HolderSessionRow | null> {
  const res = await q.query<HolderSessionRow>(
    `SELECT id, bank_code, stage, account_id, csrf_token, created_at, expires_at FROM holder_sessions
     WHERE bank_code = $1 AND token_hash = $2 AND expires_at > $3`, [bankCode, tokenHash, now]);
  return res.rows[0] ?? null;
}

/** Moves a session to a stage; a new token and CSRF token when given (rotation on privilege change). */
export async function updateHolderSession(
  q: Queryable, id: string,
  change: { stage: HolderSessionStage; accountId: string | null; tokenHash?: string; csrfToken?: string; expiresAt?: Date },
): Promise<void> {
  await q.query(
    `UPDATE holder_sessions SET stage = $2, account_id = $3, token_hash = coalesce($4, token_hash),
       csrf_token = coalesce($5, csrf_token), expires_at = coalesce($6, expires_at) WHERE id = $1`,
    [id, change.stage, change.accountId, change.tokenHash ?? null, change.csrfToken ?? null, change.expiresAt ?? null]);
}

export interface SmsRow {
  seq: number;
  bank_code: string;
  phone: string;
  body: string;
  created_at: Date;
}

export async function sendSms(q: Queryable, sms: { bankCode: string; phone: string; body: string; now: Date }): Promise<void> {
  await q.query('INSERT INTO sms_messages (bank_code, phone, body, created_at) VALUES ($1, $2, $3, $4)',
    [sms.bankCode, sms.phone, sms.body, sms.now]);
}

/** Newest first. */
export async function listSms(q: Queryable, filter: { phone?: string; bankCode?: string; limit?: number }): Promise<SmsRow[]> {
  const res = await q.query<SmsRow>(
    `SELECT seq, bank_code, phone, body, created_at FROM sms_messages
     WHERE ($1::text IS NULL OR phone = $1) AND ($2::text IS NULL OR bank_code = $2) ORDER BY seq DESC LIMIT $3`,
    [filter.phone ?? null, filter.bankCode ?? null, filter.limit ?? 100]);
  return res.rows;
}

export interface EmailRow {
  seq: number;
  bank_code: string;
  account_id: string;
  address: string;
  subject: string;
  body: string;
  created_at: Date;
}

/** An e-mail to the address the bank holds for the account (the sandbox's mailbox keeps it). */
export async function sendEmail(
  q: Queryable, mail: { bankCode: string; accountId: string; address: string; subject: string; body: string; now: Date },
): Promise<void> {
  await q.query('INSERT INTO email_messages (bank_code, account_id, address, subject, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
    [mail.bankCode, mail.accountId, mail.address, mail.subject, mail.body, mail.now]);
}

/** Newest first. */
export async function listEmails(q: Queryable, filter: { address?: string; bankCode?: string; limit?: number }): Promise<EmailRow[]> {
  const res = await q.query<EmailRow>(
    `SELECT seq, bank_code, account_id, address, subject, body, created_at FROM email_messages
     WHERE ($1::text IS NULL OR address = $1) AND ($2::text IS NULL OR bank_code = $2) ORDER BY seq DESC LIMIT $3`,
    [filter.address ?? null, filter.bankCode ?? null, filter.limit ?? 100]);
  return res.rows;
}

export interface HolderNotificationRow {
  seq: number;
  bank_code: string;
  account_id: string;
  sender: 'bank' | 'koza';
  kind: string;
  message: string;
  channels: string[];
  created_at: Date;
}

export async function notifyHolder(
  q: Queryable, n: {
    bankCode: string; accountId: string; sender: 'bank' | 'koza'; kind: string; message: string; now: Date; channels?: string[];
  },
): Promise<void> {
  await q.query(
    `INSERT INTO holder_notifications (bank_code, account_id, sender, kind, message, created_at, channels)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [n.bankCode, n.accountId, n.sender, n.kind, n.message, n.now, n.channels ?? ['inbox']]);
}

/** Newest first. */
export async function listNotifications(q: Queryable, accountId: string): Promise<HolderNotificationRow[]> {
  const res = await q.query<HolderNotificationRow>(
    `SELECT seq, bank_code, account_id, sender, kind, message, channels, created_at FROM holder_notifications
     WHERE account_id = $1 ORDER BY seq DESC`,
    [accountId]);
  return res.rows;
}

export interface HolderReportRow {
  id: string;
  bank_code: string;
  account_id: string;
  passbook_seq: number;
  reference: string | null;
  note: string;
  created_at: Date;
}

export async function insertHolderReport(
  q: Queryable, report: Omit<HolderReportRow, 'id'>,
): Promise<HolderReportRow> {
  const res = await q.query<HolderReportRow>(
    `INSERT INTO holder_reports (id, bank_code, account_id, passbook_seq, reference, note, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [sandboxId('hrp'), report.bank_code, report.account_id, report.passbook_seq, report.reference, report.note, report.created_at]);
  return res.rows[0]!;
}

export async function listHolderReports(q: Queryable, filter: { bankCode?: string }): Promise<HolderReportRow[]> {
  const res = await q.query<HolderReportRow>(
    'SELECT * FROM holder_reports WHERE ($1::text IS NULL OR bank_code = $1) ORDER BY created_at, id', [filter.bankCode ?? null]);
  return res.rows;
}
