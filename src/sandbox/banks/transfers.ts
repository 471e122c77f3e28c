// Owns debits and credits at a sandbox bank (SPEC §6.3, §6.5): by link token, unique by reference, booked double entry,
// queried by reference and listed per JST day. Must never book a debit on a revoked link or beyond the holder's balance.
import type { Statement, TransferBody, TransferResult } from '../../banks/protocol.js';
import type { Queryable } from '../../store/db.js';
import type { BankEnv } from './context.js';
import { BankError } from './errors.js';
import { findLink } from './link-flows.js';
import { listIncoming, listReturns } from './furikomi.js';
import { bookTransfer, findTransfer, getAccount, listBookedTransfers, type TransferRow } from './store.js';

/** The bank's own ceiling for one debit through a wallet link. */
export const MAX_DEBIT_AMOUNT = 10_000_000;
const JST_OFFSET_MS = 9 * 3_600_000;

export function transferResult(row: TransferRow): TransferResult {
  return {
    bank_transfer_id: row.id, reference: row.reference, kind: row.kind, amount: row.amount, status: row.status,
    ...(row.reason === null ? {} : { reason: row.reason }), booked_at: row.booked_at.toISOString(),
  };
}

function sameTransfer(row: TransferRow, kind: 'debit' | 'credit', linkId: string, body: TransferBody): boolean {
  return row.kind === kind && row.link_id === linkId && row.amount === body.amount && row.descriptor === body.descriptor;
}

/** A reference already booked answers with its first result when the request is the same, else it is a conflict. */
function replayOf(existing: TransferRow, kind: 'debit' | 'credit', linkId: string, body: TransferBody): TransferResult {
  if (!sameTransfer(existing, kind, linkId, body)) {
    throw new BankError('idempotency_conflict', `Reference ${body.reference} is already booked with other details.`);
  }
  return transferResult(existing);
}

/**
 * Debit: the holder's money to koza's settlement account. Credit: the reverse; a credit is accepted on a revoked link,
 * so that a victim can be paid back after the fraudulent link was cut (SPEC §8.3).
 */
export async function moveMoney(
  tx: Queryable, env: BankEnv, kind: 'debit' | 'credit', body: TransferBody,
): Promise<TransferResult> {
  const link = await findLink(tx, env, body.link_token);
  // The account row is locked first: debits of one account queue here, and the reference check below sees theirs.
  const account = (await getAccount(tx, link.account_id, true))!;
  const existing = await findTransfer(tx, env.bank.code, body.reference);
  if (existing) return replayOf(existing, kind, link.id, body);
  let reason: string | null = null;
  if (account.closed_at !== null) reason = 'account_closed';
  else if (kind === 'debit' && link.revoked_at !== null) reason = 'link_revoked';
  else if (kind === 'debit' && body.amount > MAX_DEBIT_AMOUNT) reason = 'limit_exceeded';
  else if (kind === 'debit' && account.balance < body.amount) reason = 'insufficient_funds';
  const booked = await bookTransfer(tx, {
    bank_code: env.bank.code, reference: body.reference, kind, amount: body.amount, link_id: link.id, account_id: account.id,
    descriptor: body.descriptor, status: reason === null ? 'completed' : 'rejected', reason, booked_at: env.now,
  });
  if (!booked) {
    // Another account's transfer took this reference at the same moment.
    return replayOf((await findTransfer(tx, env.bank.code, body.reference))!, kind, link.id, body);
  }
  return transferResult(booked);
}

export async function getTransfer(tx: Queryable, env: BankEnv, reference: string): Promise<TransferResult> {
  const row = await findTransfer(tx, env.bank.code, reference);
  if (!row) throw new BankError('transfer_not_found');
  return transferResult(row);
}

/** The instants a JST calendar day starts and ends; null for a date that does not exist. */
export function jstDay(date: string): { from: Date; to: Date } | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const utcMidnight = Date.UTC(year, month - 1, day);
  if (new Date(utcMidnight).toISOString().slice(0, 10) !== date) return null;
  return { from: new Date(utcMidnight - JST_OFFSET_MS), to: new Date(utcMidnight - JST_OFFSET_MS + 86_400_000) };
}

/** The JST calendar date of an instant. */
export function jstDate(at: Date): string {
  return new Date(at.getTime() + JST_OFFSET_MS).toISOString().slice(0, 10);
}

export async function statementOf(tx: Queryable, env: BankEnv, date: string): Promise<Statement> {
  const day = jstDay(date);
  if (!day) throw new BankError('invalid_request', 'The statement date must be a real yyyy-mm-dd date.');
  const rows = await listBookedTransfers(tx, env.bank.code, day.from, day.to);
  const total = (kind: 'debit' | 'credit') => rows.filter((r) => r.kind === kind).reduce((sum, r) => sum + r.amount, 0);
  // §10: the pay-ins into koza's collection account and koza's returns of them, so a lost notice is found here.
  const incoming = await listIncoming(tx, env.bank.code, day.from, day.to);
  const returns = await listReturns(tx, env.bank.code, day.from, day.to);
  return {
    bank_code: env.bank.code, date,
    entries: rows.map((r) => ({ reference: r.reference, kind: r.kind, amount: r.amount, booked_at: r.booked_at.toISOString() })),
    total_debits: total('debit'), total_credits: total('credit'),
    incoming, returns,
    total_incoming: incoming.reduce((sum, r) => sum + r.amount, 0), total_returns: returns.reduce((sum, r) => sum + r.amount, 0),
  };
}
