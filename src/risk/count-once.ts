// Owns "count each action once" (issue 11): an attempt refused for a step-up and the retry its approved proof answers
// are one event in every risk counter. Must never let a request without a genuine proof skip the counters, nor store a proof.
import { createHash } from 'node:crypto';
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { lockPresentedProof } from '../identity/step-up.js';
import type { RiskAction, RiskEvent, StepUpEventBinding } from './hook.js';

/**
 * How long a refused attempt waits for its approved retry: a challenge lives 5 minutes and its proof 5 more, and a
 * customer may look for the phone first. An identical action after that is counted anew.
 */
export const STEP_UP_RETRY_WINDOW_MINUTES = 30;

/** What a step-up binds, as one key per wallet: the same action, amount and destination are the same action. */
export function actionKey(binding: Pick<StepUpEventBinding, 'action' | 'amount' | 'destination'>): string {
  return createHash('sha256').update(JSON.stringify(['koza-action/1', binding.action, binding.amount, binding.destination]))
    .digest('base64url').slice(0, 32);
}

export interface CountOnce {
  /** Move the event's counters: false for a retry of an action already counted. */
  count: boolean;
  /**
   * The request carries a proof already spent: it repeats the approved action if it is asked for the step-up again
   * (and is refused as used), else it is a new action the proof was not needed for. Known only after the decision:
   * the engine counts it then (countsAfter).
   */
  unlessStepUp: boolean;
  /** Set when the event can be answered by a step-up (finishCountOnce needs it). */
  key: string | null;
  /** The genuine proof the request carries, when it claimed nothing (a proof asked for up front). */
  proofId: string | null;
}

const COUNT: CountOnce = { count: true, unlessStepUp: false, key: null, proofId: null };

/**
 * Step 1, before the counters move. A request that carries a proof the wallet's factor approved for exactly this
 * action, amount and destination is the retry of an action: it is counted already when its proof answered an earlier
 * request (a second retry with one proof), or when it claims the oldest open attempt refused for a step-up. Anything
 * else is a new action and is counted. The proof's row lock (lockPresentedProof) queues retries that carry one proof,
 * in any process, so the second reads what the first committed; retries with different proofs are different
 * approvals (two charges, both counted). A claimed row whose proof expired unused can be claimed by the next proof.
 */
export async function beginCountOnce(q: Queryable, event: RiskEvent, now: Date): Promise<CountOnce> {
  if (!event.stepUp || !event.walletId) return COUNT;
  const key = actionKey(event.stepUp);
  const proof = await lockPresentedProof(q, {
    walletId: event.walletId, proof: event.stepUp.proof, now,
    binding: { action: event.stepUp.action, amount: event.stepUp.amount as never, destination: event.stepUp.destination },
  });
  if (!proof) return { count: true, unlessStepUp: false, key, proofId: null };
  if (proof.used) return { count: false, unlessStepUp: true, key, proofId: null };
  // A proof whose request was refused for something else (a deny, a limit, an expired proof) answers its retry too.
  const answered = await q.query('SELECT 1 FROM risk_counted_actions WHERE proof_id = $1', [proof.id]);
  if (answered.rows.length > 0) return { count: false, unlessStepUp: false, key, proofId: null };
  const claimable = `(proof_id IS NULL OR proof_id IN (SELECT p.id FROM step_up_proofs p WHERE p.used_at IS NULL AND p.expires_at <= $4))`;
  const claimed = await q.query(
    `UPDATE risk_counted_actions SET proof_id = $3
      WHERE id = (SELECT id FROM risk_counted_actions WHERE wallet_id = $1 AND action_key = $2 AND open_until > $4 AND ${claimable}
                  ORDER BY counted_at, id LIMIT 1)
        AND ${claimable}
      RETURNING id`,
    [event.walletId, key, proof.id, now]);
  if (claimed.rows.length > 0) return { count: false, unlessStepUp: false, key, proofId: null };
  return { count: true, unlessStepUp: false, key, proofId: proof.id };
}

/** Whether a step-up is asked of this event: the decision challenges it, or the caller asks at this amount or destination. */
export function stepUpAsked(event: RiskEvent, action: RiskAction): boolean {
  return action === 'challenge' || event.stepUp?.required === true;
}

/**
 * After the decision, for a request with a spent proof: it counts unless it is asked for the step-up again (then the
 * spent proof refuses it, and it was only the approved action, sent twice).
 */
export function countsAfter(begun: CountOnce, event: RiskEvent, action: RiskAction): boolean {
  return begun.unlessStepUp && !stepUpAsked(event, action);
}

/**
 * Step 2, after the decision: a counted action that is asked for a step-up (the decision challenges, or the caller
 * always asks at this amount or destination) is left open for its retry; with a proof already in hand, the row is
 * that proof's, so a second request with it is not counted again. Nothing is left when no step-up is asked: that
 * action is done, and an identical one later is a new action.
 */
export async function finishCountOnce(q: Queryable, event: RiskEvent, begun: CountOnce, action: RiskAction, now: Date): Promise<void> {
  if (!begun.count || begun.key === null || !event.stepUp || !event.walletId) return;
  if (!stepUpAsked(event, action)) return;
  await q.query(
    `INSERT INTO risk_counted_actions (id, wallet_id, action_key, counted_at, open_until, proof_id)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [newId('rca'), event.walletId, begun.key, now, new Date(now.getTime() + STEP_UP_RETRY_WINDOW_MINUTES * 60_000), begun.proofId]);
}
