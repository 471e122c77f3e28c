// Owns reconciliation (SPEC §6.5): settling every movement a crash or a bank time-out left pending, from
// the bank's own record, and comparing each bank's daily statement with the ledger to the yen.
// Must never settle from a guess: no answer from the bank leaves the movement pending for the next round.
import type { Db } from '../store/db.js';
import type { Config } from '../config.js';
import { startPeriodic } from '../jobs/periodic.js';
import { sendDueHolderChargeNotices } from './holder-charge-notices.js';
import { completeIdempotentKey } from '../http/idempotency.js';
import { reconcilePayIns, settleReturningPayIns, type PayInReconciliation } from './pay-ins.js';
import {
  callBank, getMovement, movementJson, outcomeOf, REVIEW_REJECTED, settleMovement, type Movement, type MovementDeps,
} from './movements.js';

/** A movement younger than this may still have its first bank call in flight: leave it to that request. */
export const DEFAULT_GRACE_SECONDS = 15;
const LEASE_SECONDS = 60;

interface LeasedRow { id: string }

/**
 * Leases up to `batch` open movements (FOR UPDATE SKIP LOCKED: several workers take different ones) and
 * settles each from the bank. Returns how many it settled and how many are still open after asking.
 */
export async function reconcileOnce(
  deps: MovementDeps, options: { graceSeconds?: number; batch?: number } = {},
): Promise<{ settled: number; stillOpen: number }> {
  const leased = await deps.db.transaction(async (tx) => {
    const res = await tx.query<LeasedRow>(
      `UPDATE bank_movements SET leased_until = now() + make_interval(secs => $3)
        WHERE id IN (
          SELECT id FROM bank_movements
           WHERE status IN ('requested', 'unknown')
             AND created_at < now() - make_interval(secs => $1)
             AND (leased_until IS NULL OR leased_until < now())
           ORDER BY created_at
           LIMIT $2
           FOR UPDATE SKIP LOCKED)
        RETURNING id`,
      [options.graceSeconds ?? DEFAULT_GRACE_SECONDS, options.batch ?? 100, LEASE_SECONDS]);
    return res.rows.map((r) => r.id);
  });
  let settled = 0;
  let stillOpen = 0;
  for (const id of leased) {
    const movement = await settleFromBank(deps, id);
    if (movement.status === 'posted' || movement.status === 'voided') settled += 1; else stillOpen += 1;
  }
  // The holders' charge notices the bank did not confirm when the charge posted (or posted here): sent again, same key.
  await sendDueHolderChargeNotices(deps).catch(() => 0);
  // Pay-ins koza decided to send back while the bank could not be reached: asked again, same key (pay-ins.ts).
  await settleReturningPayIns(deps).catch(() => 0);
  return { settled, stillOpen };
}

/**
 * Asks the bank what became of the movement. Booked → post; rejected → void; never booked (not found) →
 * send it again under the same Idempotency-Key and reference, which the bank books at most once, and
 * settle from that answer; no answer → leave it open.
 */
export async function settleFromBank(deps: MovementDeps, movementId: string): Promise<Movement> {
  const movement = await getMovement(deps.db, movementId);
  if (movement.status === 'posted' || movement.status === 'voided' || movement.status === 'held') return movement;
  const query = await deps.client.getTransfer(movement.bankCode, movement.id);
  let outcome = outcomeOf(query);
  if (query.kind === 'refused' && query.problem.code === 'transfer_not_found') {
    outcome = outcomeOf(await callBank(deps, movement));
  }
  const result = await settleMovement(deps.db, movement.id, outcome);
  await deps.db.query('UPDATE bank_movements SET leased_until = NULL WHERE id = $1', [movement.id]);
  if (result.status === 'posted' || result.status === 'voided') await answerIdempotentRequest(deps.db, deps.config, result);
  return result;
}


/** The request that made the movement may have died before answering, or answered 202: its key now answers the outcome. */
export async function answerIdempotentRequest(db: Db, config: Config, movement: Movement): Promise<void> {
  await completeIdempotentKey(db, config.secretKey, { scope: movement.idempotencyScope, key: movement.idempotencyKey, replaceAccepted: true },
    ...answerFor(movement));
}

/** The HTTP answer for a movement: 201 posted, 202 still pending, 422 problem when the bank declined. */
export function answerFor(m: Movement): [number, string] {
  if (m.status === 'voided' && m.failureReason === REVIEW_REJECTED) {
    return [403, JSON.stringify({
      type: 'urn:koza:problem:charge-refused', title: 'This charge cannot be made', status: 403,
      detail: `This ${m.kind} was not made after a check; nothing was moved. If you think this is a mistake, contact support.`,
    })];
  }
  if (m.status === 'voided') {
    return [422, JSON.stringify({
      type: 'urn:koza:problem:bank-declined', title: 'The bank declined this transfer', status: 422,
      detail: `The bank did not make this ${m.kind} (${m.failureReason ?? 'declined'}). Nothing was moved.`,
      movement_id: m.id, reason: m.failureReason ?? 'declined',
    })];
  }
  return [m.status === 'posted' ? 201 : 202, JSON.stringify(movementJson(m))];
}

export interface StatementDifference {
  reference: string;
  kind: 'missing_in_ledger' | 'missing_at_bank' | 'amount_mismatch' | 'not_posted_in_ledger';
  bank_amount: number | null;
  ledger_amount: number | null;
}

export interface StatementReport {
  bankCode: string;
  date: string;
  bankDebits: number;
  bankCredits: number;
  ledgerDebits: number;
  ledgerCredits: number;
  differences: StatementDifference[];
  /** §10: the statement's incoming transfers and returns against koza's pay-ins (a lost notice is credited or returned here). */
  payIns: PayInReconciliation;
}

/**
 * Compares a bank's statement for a JST day with koza's movements booked that day, reference by reference,
 * and stores the report. An empty `differences` means bank and ledger agree to the yen.
 */
export async function reconcileStatement(deps: MovementDeps, bankCode: string, date: string): Promise<StatementReport | null> {
  const answer = await deps.client.statement(bankCode, date);
  if (answer.kind !== 'answered') return null;
  const statement = answer.value;
  const ledger = await deps.db.query<{ id: string; kind: 'charge' | 'withdrawal'; amount: number; status: string }>(
    `SELECT id, kind, amount, status FROM bank_movements
      WHERE bank_code = $1
        AND (id = ANY($3::text[])
             OR (status = 'posted' AND (settled_at + interval '9 hours')::date = $2::date))`,
    [bankCode, date, statement.entries.map((e) => e.reference)]);
  const byRef = new Map(ledger.rows.map((r) => [r.id, r]));
  const differences: StatementDifference[] = [];
  const seen = new Set<string>();
  for (const entry of statement.entries) {
    seen.add(entry.reference);
    const mine = byRef.get(entry.reference);
    if (!mine) differences.push({ reference: entry.reference, kind: 'missing_in_ledger', bank_amount: entry.amount, ledger_amount: null });
    else if (mine.amount !== entry.amount) differences.push({ reference: entry.reference, kind: 'amount_mismatch', bank_amount: entry.amount, ledger_amount: mine.amount });
    else if (mine.status !== 'posted') differences.push({ reference: entry.reference, kind: 'not_posted_in_ledger', bank_amount: entry.amount, ledger_amount: mine.amount });
  }
  for (const mine of ledger.rows) {
    if (!seen.has(mine.id) && mine.status === 'posted') {
      differences.push({ reference: mine.id, kind: 'missing_at_bank', bank_amount: null, ledger_amount: mine.amount });
    }
  }
  const posted = ledger.rows.filter((r) => r.status === 'posted' && seen.has(r.id));
  // A pay-in whose notice was lost is taken here, exactly once (receivePayIn is keyed by the bank's transfer id).
  const payIns = await reconcilePayIns(deps, statement);
  const report: StatementReport = {
    bankCode, date,
    bankDebits: statement.total_debits, bankCredits: statement.total_credits,
    ledgerDebits: posted.filter((r) => r.kind === 'charge').reduce((s, r) => s + r.amount, 0),
    ledgerCredits: posted.filter((r) => r.kind === 'withdrawal').reduce((s, r) => s + r.amount, 0),
    differences,
    payIns,
  };
  await deps.db.query(
    `INSERT INTO reconciliation_reports (bank_code, statement_date, bank_debits, bank_credits, ledger_debits, ledger_credits, differences)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [bankCode, date, report.bankDebits, report.bankCredits, report.ledgerDebits, report.ledgerCredits, JSON.stringify(differences)]);
  return report;
}

/**
 * Runs reconcileOnce (and any other settling work, such as unconfirmed holder notices) every intervalMs
 * until stopped; one failed round does not stop the next.
 */
export function startReconciler(
  deps: MovementDeps, intervalMs: number, onError: (err: unknown) => void, alsoEachRound: Array<() => Promise<unknown>> = [],
): { stop(): Promise<void> } {
  return startPeriodic(async () => {
    await reconcileOnce(deps);
    for (const work of alsoEachRound) await work();
  }, { everyMs: intervalMs, onError });
}
