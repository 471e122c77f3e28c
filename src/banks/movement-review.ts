// Owns the analyst's end of a risk review (SPEC §7, issue 5): a charge or withdrawal the engine held is released
// (the bank is asked, exactly as for any charge) or rejected (its pending transfer voided, nothing moved).
// Must never ask the bank inside the transaction that releases, nor settle a movement that is not held.
import type { Queryable } from '../store/db.js';
import { createError, NotFound } from '../errors.js';
import { createTransfer } from '../ledger/ledger.js';
import { appendAudit } from '../operations/audit.js';
import { resolveDecisionAlert } from '../risk/decisions.js';
import type { Operator } from '../operations/operators.js';
import { sendMessage } from '../identity/outbox.js';
import {
  callBank, getMovement, outcomeOf, REVIEW_REJECTED, settleMovement, type Movement, type MovementDeps,
} from './movements.js';
import { answerFor, answerIdempotentRequest } from './reconciler.js';
import { completeIdempotentKey } from '../http/idempotency.js';
import type { Config } from '../config.js';
import { formatYen } from '../display.js';

export const NotHeld = createError<{ movement_id: string; status: string }>(
  'movement-not-held', 409, 'The movement is not held for review');

export interface ReviewInput {
  movementId: string;
  operator: Operator;
  /** Why: kept in the audit log and on the alert. */
  reason: string;
}

/** The held movements, oldest first: the order an analyst works them. */
export async function listHeldMovements(q: Queryable, limit: number): Promise<Movement[]> {
  const res = await q.query<{ id: string }>(
    "SELECT id FROM bank_movements WHERE status = 'held' ORDER BY created_at, id LIMIT $1", [limit]);
  const out: Movement[] = [];
  for (const row of res.rows) out.push(await getMovement(q, row.id));
  return out;
}

async function lockHeld(tx: Queryable, movementId: string): Promise<Movement> {
  const movement = await getMovement(tx, movementId, true).catch((err: unknown) => {
    if (err instanceof NotFound) throw new NotFound('No such charge or withdrawal.');
    throw err;
  });
  if (movement.status !== 'held') {
    throw new NotHeld(`${movement.id} is ${movement.status === 'voided' || movement.status === 'posted' ? movement.status : 'already released'}; only a held movement can be released or rejected.`,
      { movement_id: movement.id, status: movement.status });
  }
  return movement;
}

/**
 * Release, step 1 (in the caller's transaction): the movement becomes `requested` (the reconciler may now finish it
 * too), the alert is resolved and the audit log says who and why. Step 2 (finishRelease) asks the bank outside it.
 */
export async function markReleased(tx: Queryable, input: ReviewInput): Promise<Movement> {
  const m = await lockHeld(tx, input.movementId);
  await tx.query("UPDATE bank_movements SET status = 'requested' WHERE id = $1", [m.id]);
  await resolveDecisionAlert(tx, m.riskDecisionId, input.operator.id, 'released', input.reason);
  await appendAudit(tx, {
    actor: input.operator.id, action: 'movement.release', target: m.id, reason: input.reason,
    detail: { kind: m.kind, amount: m.amount, wallet_id: m.walletId, risk_decision_id: m.riskDecisionId },
  });
  return { ...m, status: 'requested' };
}

/** Release, step 2: the signed bank call and the settlement, as for any charge; the customer's key learns the end. */
export async function finishRelease(deps: MovementDeps, released: Movement): Promise<Movement> {
  const settled = await settleMovement(deps.db, released.id, outcomeOf(await callBank(deps, released)));
  if (settled.status === 'posted' || settled.status === 'voided') await answerIdempotentRequest(deps.db, deps.config, settled);
  return settled;
}

export async function releaseHeldMovement(deps: MovementDeps, input: ReviewInput): Promise<Movement> {
  return finishRelease(deps, await deps.db.transaction((tx) => markReleased(tx, input)));
}

/**
 * Reject, in the caller's transaction: the pending transfer is voided (a charge's money never arrives, a
 * withdrawal's is given back), the customer is told, and the request that made it now answers 403.
 */
export async function rejectHeld(tx: Queryable, config: Config, input: ReviewInput): Promise<Movement> {
  const m = await lockHeld(tx, input.movementId);
  await createTransfer(tx, {
    id: `${m.pendingTransferId}_void`, kind: 'void_pending', pendingId: m.pendingTransferId, code: m.kind, reference: m.id,
  });
  await tx.query(
    `UPDATE bank_movements SET status = 'voided', failure_reason = $2, settled_at = now() WHERE id = $1`, [m.id, REVIEW_REJECTED]);
  await resolveDecisionAlert(tx, m.riskDecisionId, input.operator.id, 'rejected', input.reason);
  await appendAudit(tx, {
    actor: input.operator.id, action: 'movement.reject', target: m.id, reason: input.reason,
    detail: { kind: m.kind, amount: m.amount, wallet_id: m.walletId, risk_decision_id: m.riskDecisionId },
  });
  const wallet = await tx.query<{ email: string }>('SELECT email FROM wallets WHERE id = $1', [m.walletId]);
  await sendMessage(tx, {
    channel: 'email', recipient: wallet.rows[0]!.email.toLowerCase(), subject: `koza: your ${m.kind} was not made`,
    body: `Your ${m.kind} of ${formatYen(m.amount)} (reference ${m.id}) was not made after our check; nothing was moved. `
      + 'If you think this is a mistake, contact koza support.',
  });
  const rejected = await getMovement(tx, m.id);
  await completeIdempotentKey(tx, config.secretKey, { scope: rejected.idempotencyScope, key: rejected.idempotencyKey, replaceAccepted: true }, ...answerFor(rejected));
  return rejected;
}

export async function rejectHeldMovement(deps: MovementDeps, input: ReviewInput): Promise<Movement> {
  return deps.db.transaction((tx) => rejectHeld(tx, deps.config, input));
}
