// Owns the analyst's end of a link the risk engine held for review (issue 11, SPEC §3 "every review can be released"):
// release (the customer is told and links again, past that review once; the names reviewed on the device are cleared)
// or reject (the customer is told; nothing was sent to the bank). Must never release or reject a request that is not
// held, nor clear a name first seen on the device after the hold.
import type { Queryable } from '../store/db.js';
import { createError, NotFound } from '../errors.js';
import { appendAudit } from '../operations/audit.js';
import { resolveDecisionAlert } from '../risk/decisions.js';
import type { Operator } from '../operations/operators.js';
import { sendMessage } from '../identity/outbox.js';
import { DIMENSIONS } from '../risk/features.js';
import { newId } from '../ids.js';
import { formatJst } from '../display.js';

/** What the customer is promised: an analyst looks at a held link within this many hours. */
export const LINK_REVIEW_HOURS = 24;

/** A release lets the wallet link the bank past a review decision for this long (once). */
export const RELEASE_VALID_DAYS = 7;

export const LinkNotHeld = createError<{ link_request_id: string; state: string }>(
  'link-not-held', 409, 'The link request is not held for review');

export interface HeldLink {
  id: string;
  walletId: string;
  bankCode: string;
  method: string;
  state: string;
  riskDecisionId: string | null;
  deviceKey: string | null;
  createdAt: Date;
  reviewedBy: string | null;
  reviewedAt: Date | null;
  reviewReason: string | null;
  /** Held after the bank vouched for the account (link_complete): a release makes the link, a reject revokes it at the bank. */
  bankSide: boolean;
}

interface HeldRow {
  id: string; wallet_id: string; bank_code: string; method: string; state: string; risk_decision_id: string | null;
  device_key: string | null; created_at: Date; reviewed_by: string | null; reviewed_at: Date | null; review_reason: string | null;
  bank_side: boolean;
}

const COLUMNS = `id, wallet_id, bank_code, method, state, risk_decision_id, device_key, created_at, reviewed_by, reviewed_at,
  review_reason, held_completion IS NOT NULL AS bank_side`;

function toHeld(r: HeldRow): HeldLink {
  return {
    id: r.id, walletId: r.wallet_id, bankCode: r.bank_code, method: r.method, state: r.state, riskDecisionId: r.risk_decision_id,
    deviceKey: r.device_key, createdAt: new Date(r.created_at), reviewedBy: r.reviewed_by,
    reviewedAt: r.reviewed_at === null ? null : new Date(r.reviewed_at), reviewReason: r.review_reason, bankSide: r.bank_side,
  };
}

/** When the customer may expect the analyst's answer. */
export function reviewDueAt(heldAt: Date): Date {
  return new Date(heldAt.getTime() + LINK_REVIEW_HOURS * 3_600_000);
}

/** The words of a link-held-for-review answer: what happens next, and by when (JST). */
export function heldLinkNextStep(heldAt: Date): string {
  return `An analyst reviews held links within ${LINK_REVIEW_HOURS} hours (by ${formatJst(reviewDueAt(heldAt))}); you will get an `
    + 'e-mail either way. If it is released, start the link again in the app: it will not be held a second time. Nothing was '
    + 'sent to your bank and your PIN was not kept. / このリンクは確認のため保留中です。'
    + `${formatJst(reviewDueAt(heldAt))}までに担当者が確認し、結果をメールでお知らせします。`;
}

/** The words when the bank has already vouched for the account: a release makes the link, nothing more to do. */
export function heldCompletionNextStep(heldAt: Date): string {
  return `Your bank confirmed the account; koza reviews new links like this one within ${LINK_REVIEW_HOURS} hours (by `
    + `${formatJst(reviewDueAt(heldAt))}) and you will get an e-mail either way. If it is released the link becomes active with `
    + 'nothing more to do; if not, koza removes it at your bank. / 銀行での確認は完了しました。'
    + `${formatJst(reviewDueAt(heldAt))}までに担当者が確認し、結果をメールでお知らせします。`;
}

/**
 * A link held after the bank vouched keeps a live link at the bank: one no analyst answered in this many days is
 * rejected by koza (revoked at the bank, the customer told to start again) rather than left live and unknown to the holder.
 */
export const HELD_COMPLETION_EXPIRY_DAYS = 7;

/** Who rejects an expired hold in the audit log and on the alert. */
export const EXPIRY_REVIEWER: Operator = { id: 'koza:hold-expiry', name: 'koza (held link not reviewed in time)', role: 'admin' };

/** Bank-side holds older than HELD_COMPLETION_EXPIRY_DAYS, oldest first (settleLinks rejects them). */
export async function listExpiredHeldCompletions(q: Queryable, limit: number): Promise<string[]> {
  const res = await q.query<{ id: string }>(
    `SELECT id FROM link_requests WHERE state = 'held' AND held_completion IS NOT NULL
        AND created_at < now() - make_interval(days => $1) ORDER BY created_at LIMIT $2`, [HELD_COMPLETION_EXPIRY_DAYS, limit]);
  return res.rows.map((r) => r.id);
}

/** The held link requests, oldest first: the order an analyst works them. */
export async function listHeldLinks(q: Queryable, limit: number): Promise<HeldLink[]> {
  const res = await q.query<HeldRow>(
    `SELECT ${COLUMNS} FROM link_requests WHERE state = 'held' ORDER BY created_at, id LIMIT $1`, [limit]);
  return res.rows.map(toHeld);
}

export async function getHeldLink(q: Queryable, id: string): Promise<HeldLink | null> {
  const res = await q.query<HeldRow>(`SELECT ${COLUMNS} FROM link_requests WHERE id = $1`, [id]);
  return res.rows[0] ? toHeld(res.rows[0]) : null;
}

async function lockHeld(tx: Queryable, id: string): Promise<HeldLink> {
  const res = await tx.query<HeldRow>(`SELECT ${COLUMNS} FROM link_requests WHERE id = $1 FOR UPDATE`, [id]);
  if (!res.rows[0]) throw new NotFound('No such link request.');
  const held = toHeld(res.rows[0]);
  if (held.state !== 'held') {
    throw new LinkNotHeld(`${held.id} is ${held.state}; only a held link request can be released or rejected.`,
      { link_request_id: held.id, state: held.state });
  }
  return held;
}

async function markReviewed(tx: Queryable, held: HeldLink, state: 'released' | 'rejected', operator: Operator, reason: string): Promise<HeldLink> {
  const res = await tx.query<HeldRow>(
    `UPDATE link_requests SET state = $2, reviewed_by = $3, reviewed_at = now(), review_reason = $4, completed_at = now()
      WHERE id = $1 RETURNING ${COLUMNS}`, [held.id, state, operator.id, reason]);
  return toHeld(res.rows[0]!);
}

async function walletEmail(tx: Queryable, walletId: string): Promise<string> {
  const res = await tx.query<{ email: string }>('SELECT email FROM wallets WHERE id = $1', [walletId]);
  return res.rows[0]!.email.toLowerCase();
}

/**
 * The names the analyst reviewed: every name seen with the device up to the holding decision (the count that decision
 * was made on). Cleared names stop counting towards uncleared_names_per_device_30d; one first seen later still counts.
 */
async function clearDeviceNames(tx: Queryable, held: HeldLink, operator: Operator): Promise<number> {
  if (held.deviceKey === null) return 0;
  const res = await tx.query(
    `INSERT INTO device_name_clearances (device_key, member, cleared_by, link_request_id)
     SELECT d.key, d.member, $3, $4 FROM risk_distinct d
      WHERE d.dimension = $1 AND d.key = $2
        AND d.first_seen <= coalesce((SELECT created_at FROM risk_decisions WHERE id = $5), $6)
     ON CONFLICT (device_key, member) DO NOTHING`,
    [DIMENSIONS.namesPerDevice, held.deviceKey, operator.id, held.id, held.riskDecisionId, held.createdAt]);
  return res.rowCount;
}

export interface LinkReviewInput {
  linkRequestId: string;
  operator: Operator;
  /** Why: kept in the audit log and on the alert. */
  reason: string;
  /**
   * Release only: the analyst found one household on the device (a family on one tablet) and clears the device as that
   * household for HOUSEHOLD_CLEARANCE_DAYS, so a member who links later is not held again (features.ts caps its size).
   */
  household?: boolean;
}

/** How long a household clearance lasts: the window names_per_device_30d counts over. */
export const HOUSEHOLD_CLEARANCE_DAYS = 30;

/** The device cleared as one household (input.household): a later member's name there does not hold their link. */
async function clearHousehold(tx: Queryable, held: HeldLink, operator: Operator): Promise<boolean> {
  if (held.deviceKey === null) return false;
  await tx.query(
    `INSERT INTO device_household_clearances (device_key, cleared_by, link_request_id, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(days => $4))
     ON CONFLICT (device_key) DO UPDATE SET cleared_by = EXCLUDED.cleared_by, link_request_id = EXCLUDED.link_request_id,
       created_at = now(), expires_at = EXCLUDED.expires_at`,
    [held.deviceKey, operator.id, held.id, HOUSEHOLD_CLEARANCE_DAYS]);
  return true;
}

/**
 * Release, in the caller's transaction: the request becomes `released` (the wallet's next link to this bank goes past a
 * review decision once, within RELEASE_VALID_DAYS), the names on the device are cleared, the alert is closed as
 * released, the audit log says who and why, and the customer is e-mailed what to do next.
 */
export async function releaseHeldLink(tx: Queryable, input: LinkReviewInput): Promise<HeldLink> {
  const held = await lockHeld(tx, input.linkRequestId);
  const released = await markReviewed(tx, held, 'released', input.operator, input.reason);
  const cleared = await clearDeviceNames(tx, held, input.operator);
  const household = input.household === true && await clearHousehold(tx, held, input.operator);
  await resolveDecisionAlert(tx, held.riskDecisionId, input.operator.id, 'released', input.reason);
  await appendAudit(tx, {
    actor: input.operator.id, action: 'link.release', target: held.id, reason: input.reason,
    detail: {
      wallet_id: held.walletId, bank_code: held.bankCode, risk_decision_id: held.riskDecisionId, names_cleared: cleared,
      household_cleared: household,
    },
  });
  const until = new Date(Date.now() + RELEASE_VALID_DAYS * 86_400_000);
  if (held.bankSide) {
    // The caller makes the link in this transaction (link-flow.ts linkReleasedCompletion) and tells the holder's bank.
    await sendMessage(tx, {
      channel: 'email', recipient: await walletEmail(tx, held.walletId), subject: 'koza: your bank link is approved',
      body: `We checked the bank link you made on ${formatJst(held.createdAt)} (bank ${held.bankCode}, reference ${held.id}): it `
        + 'is approved and becomes active as soon as your bank has told the account holder. There is nothing more to do. '
        + `/ ${formatJst(held.createdAt)}の銀行口座の登録（参照 ${held.id}）は承認されました。`,
    });
    return released;
  }
  await sendMessage(tx, {
    channel: 'email', recipient: await walletEmail(tx, held.walletId), subject: 'koza: you can link your bank account now',
    body: `We checked the bank link you started on ${formatJst(held.createdAt)} (bank ${held.bankCode}, reference ${held.id}) and `
      + `it can go ahead. Open the app and link the account again by ${formatJst(until)}: it will not be held for this check again. `
      + `/ ${formatJst(held.createdAt)}に保留された銀行口座の登録（参照 ${held.id}）を確認しました。${formatJst(until)}までにアプリから`
      + 'もう一度登録してください。',
  });
  return released;
}

/** Reject, in the caller's transaction: the request ends `rejected`, the alert is closed, audited, the customer told. */
export async function rejectHeldLink(tx: Queryable, input: LinkReviewInput): Promise<HeldLink> {
  const held = await lockHeld(tx, input.linkRequestId);
  const rejected = await markReviewed(tx, held, 'rejected', input.operator, input.reason);
  // Held after the bank vouched: its token goes to the revocation sweep (link-flow.ts revokes it at once after commit).
  await tx.query(
    `UPDATE link_requests SET failure_code = 'link-refused', failure_problem = $2,
            refused_link_token_sealed = held_link_token_sealed, held_link_token_sealed = NULL
      WHERE id = $1`,
    [held.id, JSON.stringify({ title: 'The bank account cannot be linked to this wallet', status: 403,
      detail: 'This link was not approved after review. Contact koza support if you think this is wrong.' })]);
  await resolveDecisionAlert(tx, held.riskDecisionId, input.operator.id, 'rejected', input.reason);
  await appendAudit(tx, {
    actor: input.operator.id, action: 'link.reject', target: held.id, reason: input.reason,
    detail: { wallet_id: held.walletId, bank_code: held.bankCode, risk_decision_id: held.riskDecisionId },
  });
  if (input.operator.id === EXPIRY_REVIEWER.id) {
    await sendMessage(tx, {
      channel: 'email', recipient: await walletEmail(tx, held.walletId), subject: 'koza: please link your bank account again',
      body: `We could not finish checking the bank link you made on ${formatJst(held.createdAt)} (bank ${held.bankCode}, reference `
        + `${held.id}) in time, so koza removed it at your bank; nothing was taken. Link the account again in the app, or contact `
        + 'koza support with the reference. / 確認が期限内に完了しなかったため、この登録を取り消しました。アプリからもう一度登録してください。',
    });
    return rejected;
  }
  await sendMessage(tx, {
    channel: 'email', recipient: await walletEmail(tx, held.walletId), subject: 'koza: your bank link was not approved',
    body: `The bank link you started on ${formatJst(held.createdAt)} (bank ${held.bankCode}, reference ${held.id}) was not approved `
      + `after our check; nothing was linked${held.bankSide ? ' and koza removes it at your bank' : ' and nothing was sent to your bank'}. `
      + 'If you think this is a mistake, reply to this e-mail or contact koza support with the reference: support answers within 2 business days. / 確認の結果、この銀行口座の'
      + `登録（参照 ${held.id}）は承認されませんでした。お心当たりのない場合はサポートまでご連絡ください。`,
  });
  return rejected;
}

/**
 * The release a new link start may use: a released, unused request of the wallet for the bank, within its validity,
 * locked until the caller's transaction ends. markReleaseUsed spends it, so one release lets one link through.
 */
export async function findUsableRelease(tx: Queryable, walletId: string, bankCode: string): Promise<string | null> {
  const res = await tx.query<{ id: string }>(
    `SELECT id FROM link_requests
      WHERE wallet_id = $1 AND bank_code = $2 AND state = 'released' AND release_used_by IS NULL
        AND reviewed_at > now() - make_interval(days => $3)
      ORDER BY reviewed_at LIMIT 1 FOR UPDATE`, [walletId, bankCode, RELEASE_VALID_DAYS]);
  return res.rows[0]?.id ?? null;
}

export async function markReleaseUsed(tx: Queryable, releaseId: string, linkRequestId: string, decisionId: string | null): Promise<void> {
  await tx.query('UPDATE link_requests SET release_used_by = $2 WHERE id = $1', [releaseId, linkRequestId]);
  await tx.query('UPDATE link_requests SET released_from = $2 WHERE id = $1', [linkRequestId, releaseId]);
  await closePassedAlert(tx, decisionId, releaseId);
}

/**
 * A review decision that went through on an analyst's release: its alert is closed as released by that analyst, so the
 * queue does not ask twice about what was already decided (the decision itself stays recorded as it was).
 */
export async function closePassedAlert(tx: Queryable, decisionId: string | null, releaseId: string): Promise<void> {
  if (decisionId === null) return;
  await tx.query(
    `UPDATE risk_alerts a SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = r.reviewed_by,
            resolution = 'released', note = 'went through on the release of ' || r.id
       FROM link_requests r
      WHERE a.decision_id = $1 AND a.status = 'open' AND r.id = $2`, [decisionId, releaseId]);
}

/** A request held before the bank was asked: nothing of the account or PIN is kept, only who, which bank and why. */
export async function insertHeldLinkRequest(tx: Queryable, input: {
  walletId: string; bankCode: string; method: string; policy: string; riskDecisionId: string | null; deviceKey: string | null;
  oauthStateHash: string | null;
}): Promise<HeldLink> {
  const res = await tx.query<HeldRow>(
    `INSERT INTO link_requests (id, wallet_id, bank_code, method, policy, state, oauth_state_hash, risk_decision_id, device_key, expires_at)
     VALUES ($1, $2, $3, $4, $5, 'held', $6, $7, $8, now()) RETURNING ${COLUMNS}`,
    [newId('lrq'), input.walletId, input.bankCode, input.method, input.policy, input.oauthStateHash, input.riskDecisionId, input.deviceKey]);
  return toHeld(res.rows[0]!);
}
