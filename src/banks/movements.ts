// Owns money between a wallet and its linked bank accounts: charges (bank → wallet) and withdrawals
// (wallet → own bank), as explicit steps (SPEC §5.4–§5.5): reserve (pending transfer) → signed bank call
// → post or void. Every step is idempotent and the reconciler can finish any step a crash interrupted.
// Must never void a movement the bank may have booked: no answer means ask the bank, not guess.
import type { Db, Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { createTransfer, getBalance, postedCreditBalance } from '../ledger/ledger.js';
import { createError, keepingWrites, NotFound } from '../errors.js';
import type { Yen } from '../money.js';
import type { Config } from '../config.js';
import { assertCanMoveMoney, getWallet, type Wallet } from '../wallets/wallets.js';
import { assertLevel } from '../identity/assurance.js';
import { assertBalanceWithinLimit, assertMovementWithinLimits, LimitExceeded } from '../wallets/limits.js';
import { assertChargesAllowed } from '../operations/controls.js';
import { consumeStepUpProof } from '../identity/step-up.js';
import { recordRiskSignal } from '../risk/signals.js';
import { sendMessage } from '../identity/outbox.js';
import type { RiskDecider, RiskDecision } from '../risk/hook.js';
import type { BankClient, BankOutcome } from './client.js';
import type { TransferResult } from './protocol.js';
import { clearingAccountId, loadLinkForMovement, policyFor, type LinkForMovement } from './movement-links.js';
import { linkPolicy } from './policy.js';
import { checkTrust, trustRefusalDetail } from './link-trust.js';
import { accountTrustFacts } from './account-trust-facts.js';
import { formatYen } from '../display.js';

export type MovementKind = 'charge' | 'withdrawal';
/** held: a risk review holds it (pending transfer made, bank not asked) until an analyst releases or rejects it. */
export type MovementStatus = 'held' | 'requested' | 'unknown' | 'posted' | 'voided';

export interface Movement {
  id: string;
  kind: MovementKind;
  walletId: string;
  linkId: string;
  bankCode: string;
  amount: Yen;
  descriptor: string;
  pendingTransferId: string;
  status: MovementStatus;
  failureReason: string | null;
  idempotencyScope: string;
  idempotencyKey: string;
  createdAt: Date;
  settledAt: Date | null;
  /** The risk decision that held it for review; null when none did. */
  riskDecisionId: string | null;
}

/** Why a movement an analyst rejected after review was voided (also what its idempotency key answers). */
export const REVIEW_REJECTED = 'risk_review_rejected';

// keepWrites: the risk decision, its counters and signals are kept although the movement is refused —
// refused attempts are exactly what the next decision must count.
export const ChargeRefused = createError('charge-refused', 403, 'This charge cannot be made', { keepWrites: true });
export const MovementDeclined = createError<{ movement_id: string; reason: string }>(
  'bank-declined', 422, 'The bank declined this transfer');

export interface MovementDeps {
  db: Db;
  config: Config;
  client: BankClient;
  risk: RiskDecider;
}

interface MovementRow {
  id: string; kind: MovementKind; wallet_id: string; link_id: string; bank_code: string; amount: number; descriptor: string;
  pending_transfer_id: string; status: MovementStatus; failure_reason: string | null; idempotency_scope: string;
  idempotency_key: string; created_at: Date; settled_at: Date | null; risk_decision_id: string | null;
}

function toMovement(r: MovementRow): Movement {
  return {
    id: r.id, kind: r.kind, walletId: r.wallet_id, linkId: r.link_id, bankCode: r.bank_code, amount: r.amount as Yen,
    descriptor: r.descriptor, pendingTransferId: r.pending_transfer_id, status: r.status, failureReason: r.failure_reason,
    idempotencyScope: r.idempotency_scope, idempotencyKey: r.idempotency_key, createdAt: new Date(r.created_at),
    settledAt: r.settled_at === null ? null : new Date(r.settled_at), riskDecisionId: r.risk_decision_id ?? null,
  };
}

export async function getMovement(q: Queryable, id: string, lock = false): Promise<Movement> {
  const res = await q.query<MovementRow>(`SELECT * FROM bank_movements WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  if (!res.rows[0]) throw new NotFound('The movement does not exist.');
  return toMovement(res.rows[0]);
}

export async function listWalletMovements(q: Queryable, walletId: string, limit: number): Promise<Movement[]> {
  const res = await q.query<MovementRow>(
    'SELECT * FROM bank_movements WHERE wallet_id = $1 ORDER BY created_at DESC LIMIT $2', [walletId, limit]);
  return res.rows.map(toMovement);
}

/** What the holder reads in the passbook: the wallet's name and a reference they can look up (SPEC §5.6). */
export function descriptorFor(movementId: string): string {
  return `KOZA ${movementId}`;
}

/** A request to move money between a wallet and one of its links (charge or withdrawal). */
export interface MovementRequest {
  walletId: string;
  linkId: string;
  amount: Yen;
  stepUpProof?: string | undefined;
  idempotencyScope: string;
  idempotencyKey: string;
  ip?: string | undefined;
}

/**
 * Step 1 of a charge, inside the transaction that claims the Idempotency-Key: limits → risk (may demand a
 * step-up proof bound to amount and link) → pending transfer clearing → wallet. Nothing is spendable yet.
 */
/** The wallet (locked, able to move money, at a level that may) and its active link. */
async function walletAndLink(deps: MovementDeps, tx: Queryable, input: MovementRequest) {
  const wallet = await getWallet(tx, input.walletId, true);
  assertCanMoveMoney(wallet);
  const level = policyFor(deps.config).chargeLevel(wallet.assuranceLevel);
  assertLevel(level, 'L2');
  const link = await loadLinkForMovement(tx, deps.config, wallet.id, input.linkId);
  return { wallet, level, link };
}

export async function reserveCharge(deps: MovementDeps, tx: Queryable, input: MovementRequest): Promise<Movement> {
  const { wallet, level, link } = await walletAndLink(deps, tx, input);
  await assertChargesAllowed(tx, link.bankCode);
  const limits = deps.config.limits[level];
  await assertMovementWithinLimits(tx, limits, 'charge', wallet.id, input.amount);
  const balance = await getBalance(tx, wallet.ledgerAccountId);
  assertBalanceWithinLimit(limits, postedCreditBalance(balance) + balance.creditsPending, input.amount);
  const trust = await assertWithinTrust(tx, deps.config, wallet.id, link, input.amount);

  const decision = await deps.risk({
    kind: 'charge', walletId: wallet.id, bankCode: link.bankCode, accountRef: link.accountRef, amount: input.amount,
    ...(input.ip ? { ip: input.ip } : {}),
    // Only a challenge asks for a step-up here; its approved retry is the same charge and is counted once.
    stepUp: { action: 'charge', amount: input.amount, destination: link.id, proof: input.stepUpProof, required: false },
    attributes: {
      link_age_hours: hoursSince(link.createdAt), method: link.method,
      link_holder_confirmed: link.method === 'redirect' || link.holderConfirmedAt !== null,
      link_phone_matches: link.phoneMatches,
      account_link_age_hours: hoursSince(trust.firstLinkedAt),
      first_large_charge: input.amount >= deps.config.largeChargeNoticeFrom && !(await hadLargeCharge(tx, link, deps.config.largeChargeNoticeFrom)),
    },
  }, tx);
  if (decision.action === 'deny') {
    await recordRiskSignal(tx, { walletId: wallet.id, kind: 'charge_denied', detail: { reasons: decision.reasons } });
    throw new ChargeRefused('This charge cannot be made. If you think this is a mistake, contact support.');
  }
  if (decision.action === 'challenge') {
    // Dynamic linking: the proof names this amount and this link, so an approval cannot be reused for more.
    await keepingWrites(consumeStepUpProof(tx, { walletId: wallet.id, proof: input.stepUpProof, action: 'charge', amount: input.amount, destination: link.id }));
  }

  const id = newId('chg');
  const movement = await insertMovement(tx, {
    id, kind: 'charge', wallet, link, amount: input.amount, scope: input.idempotencyScope, key: input.idempotencyKey,
    debit: clearingAccountId(link.bankCode), credit: wallet.ledgerAccountId, ...holdFor(decision),
  });
  // The holder hears of the first charge and of every large one through the bank's inbox and e-mail, once it posts.
  const noticeKind = !(await chargedBefore(tx, link, movement.id)) ? 'first_charge'
    : input.amount >= deps.config.largeChargeNoticeFrom ? 'large_charge' : null;
  if (noticeKind !== null && linkPolicy(link.policy).notifyHolder) {
    await tx.query('UPDATE bank_movements SET holder_notice_kind = $2 WHERE id = $1', [movement.id, noticeKind]);
  }
  return noticeIfHeld(tx, movement, wallet);
}

/** Step 1 of a withdrawal: the amount is held (pending debit on the wallet) before the bank is asked to pay. */
export async function reserveWithdrawal(deps: MovementDeps, tx: Queryable, input: MovementRequest): Promise<Movement> {
  const { wallet, level, link } = await walletAndLink(deps, tx, input);
  await assertMovementWithinLimits(tx, deps.config.limits[level], 'withdrawal', wallet.id, input.amount);
  const newDestination = !(await withdrewTo(tx, wallet.id, link));
  const destinationStepUp = newDestination && input.amount >= deps.config.stepUpNewDestinationFrom && deps.config.policy === 'secure';
  const decision = await deps.risk({
    kind: 'withdrawal', walletId: wallet.id, bankCode: link.bankCode, accountRef: link.accountRef, amount: input.amount,
    ...(input.ip ? { ip: input.ip } : {}),
    stepUp: { action: 'withdrawal', amount: input.amount, destination: link.id, proof: input.stepUpProof, required: destinationStepUp },
    attributes: {
      link_age_hours: hoursSince(link.createdAt), method: link.method, new_destination: newDestination,
      minutes_since_charge: await minutesSinceCharge(tx, wallet.id),
    },
  }, tx);
  // Money to an account never withdrawn to before (a takeover's cash-out) needs the wallet's second factor, bound to
  // this amount and this link; small amounts pass, so a first test withdrawal stays easy.
  if (destinationStepUp && decision.action !== 'deny' && decision.action !== 'challenge') {
    await keepingWrites(consumeStepUpProof(tx, {
      walletId: wallet.id, proof: input.stepUpProof, action: 'withdrawal', amount: input.amount, destination: link.id,
    }));
  }
  if (decision.action === 'deny') {
    await recordRiskSignal(tx, { walletId: wallet.id, kind: 'charge_denied', detail: { kind: 'withdrawal', reasons: decision.reasons } });
    throw new ChargeRefused('This withdrawal cannot be made. If you think this is a mistake, contact support.');
  }
  if (decision.action === 'challenge') {
    await keepingWrites(consumeStepUpProof(tx, { walletId: wallet.id, proof: input.stepUpProof, action: 'withdrawal', amount: input.amount, destination: link.id }));
  }
  const movement = await insertMovement(tx, {
    id: newId('wdl'), kind: 'withdrawal', wallet, link, amount: input.amount, scope: input.idempotencyScope, key: input.idempotencyKey,
    debit: wallet.ledgerAccountId, credit: clearingAccountId(link.bankCode), ...holdFor(decision),
  });
  return noticeIfHeld(tx, movement, wallet);
}

/** Hours (fractional, 2 decimals) since a moment: what the link-age rules compare. */
function hoursSince(at: Date): number {
  return Math.round(((Date.now() - at.getTime()) / 3_600_000) * 100) / 100;
}

/** A review decision holds the movement (bank not asked) under the decision's alert; anything else goes ahead. */
function holdFor(decision: RiskDecision): { held: boolean; riskDecisionId: string | null } {
  return { held: decision.action === 'review', riskDecisionId: decision.decisionId ?? null };
}

/** A held movement: a signal for analysts and a word to the customer that it waits for a check (not which one). */
async function noticeIfHeld(tx: Queryable, m: Movement, wallet: Wallet): Promise<Movement> {
  if (m.status !== 'held') return m;
  await recordRiskSignal(tx, { walletId: wallet.id, kind: 'charge_review', detail: { movement_id: m.id, kind: m.kind, amount: m.amount } });
  await sendMessage(tx, {
    channel: 'email', recipient: wallet.email.toLowerCase(), subject: `koza: your ${m.kind} is being checked`,
    body: `Your ${m.kind} of ${formatYen(m.amount)} (reference ${m.id}) is held for a routine check before it goes ahead; `
      + 'nothing more is needed from you now. We will e-mail you when it is done.',
  });
  return m;
}

/**
 * Graduated trust (link-trust.ts), counted per bank account and person: a refusal names the next step (confirm the link
 * at the bank), how much is left and when it grows. Returns the account's facts for the risk event.
 */
async function assertWithinTrust(q: Queryable, config: Config, walletId: string, link: LinkForMovement, amount: number) {
  const now = new Date();
  const facts = await accountTrustFacts(q, walletId, link, now);
  const verdict = checkTrust(facts, amount, now, config);
  if (!verdict.allowed) {
    const limit = verdict.limit!;
    throw new LimitExceeded(trustRefusalDetail(verdict), {
      limit: limit.stage === 'unconfirmed' ? 'unconfirmed_link' : limit.stage === 'new_link' ? 'cooling_off' : 'link_trust',
      limit_yen: limit.totalYen !== null && limit.stage === 'unconfirmed' ? limit.totalYen : (limit.per24hYen ?? 0),
      remaining_yen: verdict.remainingYen ?? 0,
      ...(verdict.growsAt ? { grows_at: verdict.growsAt.toISOString() } : {}),
      ...(limit.stage === 'unconfirmed' ? { next_action: 'confirm_link_at_bank' } : {}),
    } as { limit: string; limit_yen: number; remaining_yen: number });
  }
  return facts;
}

/** Whether the bank account had a charge (not voided) other than this one, through any wallet's link. */
async function chargedBefore(q: Queryable, link: LinkForMovement, movementId: string): Promise<boolean> {
  const res = await q.query(
    `SELECT 1 FROM bank_movements m JOIN bank_links l ON l.id = m.link_id
      WHERE l.bank_code = $1 AND l.account_ref = $2 AND m.kind = 'charge' AND m.status <> 'voided' AND m.id <> $3 LIMIT 1`,
    [link.bankCode, link.accountRef, movementId]);
  return res.rows.length > 0;
}

/** Whether the account had a charge (not voided) of `from` yen or more before: the first large one is an alert. */
async function hadLargeCharge(q: Queryable, link: LinkForMovement, from: number): Promise<boolean> {
  const res = await q.query(
    `SELECT 1 FROM bank_movements m JOIN bank_links l ON l.id = m.link_id
      WHERE l.bank_code = $1 AND l.account_ref = $2 AND m.kind = 'charge' AND m.status <> 'voided' AND m.amount >= $3 LIMIT 1`,
    [link.bankCode, link.accountRef, from]);
  return res.rows.length > 0;
}

/** Whether the wallet ever withdrew (not voided) to this bank account, through any of its links to it. */
async function withdrewTo(q: Queryable, walletId: string, link: LinkForMovement): Promise<boolean> {
  const res = await q.query(
    `SELECT 1 FROM bank_movements m JOIN bank_links l ON l.id = m.link_id
      WHERE m.wallet_id = $1 AND l.bank_code = $2 AND l.account_ref = $3 AND m.kind = 'withdrawal' AND m.status <> 'voided' LIMIT 1`,
    [walletId, link.bankCode, link.accountRef]);
  return res.rows.length > 0;
}

/** Minutes since the wallet's latest charge that was not voided (cash-out: charge, then at once out); null if none in 30 days. */
async function minutesSinceCharge(q: Queryable, walletId: string): Promise<number | null> {
  const res = await q.query<{ minutes: number | string | null }>(
    `SELECT extract(epoch FROM now() - max(created_at)) / 60 AS minutes FROM bank_movements
      WHERE wallet_id = $1 AND kind = 'charge' AND status <> 'voided' AND created_at > now() - interval '30 days'`, [walletId]);
  const minutes = res.rows[0]?.minutes;
  return minutes === null || minutes === undefined ? null : Math.round(Number(minutes) * 100) / 100;
}

async function insertMovement(tx: Queryable, m: {
  id: string; kind: MovementKind; wallet: Wallet; link: LinkForMovement; amount: Yen; scope: string; key: string; debit: string; credit: string;
  held?: boolean; riskDecisionId?: string | null;
}): Promise<Movement> {
  const pendingTransferId = newId('xfr');
  await createTransfer(tx, {
    id: pendingTransferId, kind: 'pending', debitAccountId: m.debit, creditAccountId: m.credit, amount: m.amount,
    code: m.kind, reference: m.id,
  });
  const res = await tx.query<MovementRow>(
    `INSERT INTO bank_movements (id, kind, wallet_id, link_id, bank_code, amount, descriptor, pending_transfer_id, status,
                                 idempotency_scope, idempotency_key, risk_decision_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
    [m.id, m.kind, m.wallet.id, m.link.id, m.link.bankCode, m.amount, descriptorFor(m.id), pendingTransferId,
      m.held ? 'held' : 'requested', m.scope, m.key, m.riskDecisionId ?? null]);
  return toMovement(res.rows[0]!);
}

/**
 * Step 2: the signed bank call. The movement id is both the bank's Idempotency-Key and the reference, so a
 * repeated call (a retry, the reconciler) can never book twice at the bank.
 */
export async function callBank(deps: MovementDeps, movement: Movement): Promise<BankOutcome<TransferResult>> {
  const link = await loadLinkForMovement(deps.db, deps.config, movement.walletId, movement.linkId, { includeRevoked: true });
  const body = { link_token: link.linkToken, amount: movement.amount, descriptor: movement.descriptor, reference: movement.id };
  return movement.kind === 'charge'
    ? deps.client.debit(movement.bankCode, body, movement.id)
    : deps.client.credit(movement.bankCode, body, movement.id);
}

/**
 * Step 3: settle from what the bank said. completed → post; rejected → void; no answer → 'unknown', left
 * pending for the reconciler. Idempotent: settling a settled movement changes nothing.
 */
export async function settleMovement(
  db: Db, movementId: string, outcome: { kind: 'completed'; bankTransferId: string } | { kind: 'rejected'; reason: string } | { kind: 'unknown' },
): Promise<Movement> {
  return db.transaction(async (tx) => {
    const movement = await getMovement(tx, movementId, true);
    // Held: the bank was never asked; only an analyst's release or rejection moves it on (movement-review.ts).
    if (movement.status === 'posted' || movement.status === 'voided' || movement.status === 'held') return movement;
    if (outcome.kind === 'unknown') {
      const res = await tx.query<MovementRow>(
        `UPDATE bank_movements SET status = 'unknown', attempts = attempts + 1 WHERE id = $1 RETURNING *`, [movementId]);
      return toMovement(res.rows[0]!);
    }
    const post = outcome.kind === 'completed';
    await createTransfer(tx, {
      id: `${movement.pendingTransferId}_${post ? 'post' : 'void'}`, kind: post ? 'post_pending' : 'void_pending',
      pendingId: movement.pendingTransferId, code: movement.kind, reference: movement.id,
    });
    const res = await tx.query<MovementRow>(
      `UPDATE bank_movements SET status = $2, failure_reason = $3, bank_transfer_id = $4, settled_at = now(), attempts = attempts + 1
        WHERE id = $1 RETURNING *`,
      [movementId, post ? 'posted' : 'voided', post ? null : outcome.reason, post ? outcome.bankTransferId : null]);
    const settled = toMovement(res.rows[0]!);
    if (post) await notifyCustomer(tx, settled);
    return settled;
  });
}

async function notifyCustomer(q: Queryable, m: Movement): Promise<void> {
  const wallet = await q.query<{ email: string }>('SELECT email FROM wallets WHERE id = $1', [m.walletId]);
  const what = m.kind === 'charge' ? `${formatYen(m.amount)} was charged to your wallet from your bank account` : `${formatYen(m.amount)} was sent to your bank account`;
  await sendMessage(q, {
    channel: 'email', recipient: wallet.rows[0]!.email.toLowerCase(), subject: m.kind === 'charge' ? 'koza: wallet charged' : 'koza: withdrawal sent',
    body: `${what} (${m.bankCode}, reference ${m.id}). Your bank statement shows "${m.descriptor}". If this was not you, contact koza support now.`,
  });
}

/** Turns the bank's answer to a debit/credit or a transfer query into the settle outcome. */
export function outcomeOf(answer: BankOutcome<TransferResult>):
  { kind: 'completed'; bankTransferId: string } | { kind: 'rejected'; reason: string } | { kind: 'unknown' } {
  if (answer.kind === 'answered') {
    return answer.value.status === 'completed'
      ? { kind: 'completed', bankTransferId: answer.value.bank_transfer_id }
      : { kind: 'rejected', reason: answer.value.reason ?? 'rejected' };
  }
  if (answer.kind === 'refused') {
    // The bank refused the request itself (a revoked link, bad input): nothing was booked.
    if (answer.problem.code === 'unauthorized_signature' || answer.problem.code === 'idempotency_conflict') return { kind: 'unknown' };
    return { kind: 'rejected', reason: answer.problem.code };
  }
  return { kind: 'unknown' };
}

export function movementJson(m: Movement) {
  return {
    id: m.id, kind: m.kind, wallet_id: m.walletId, link_id: m.linkId, bank_code: m.bankCode, amount: m.amount,
    status: m.status === 'posted' || m.status === 'voided' || m.status === 'held' ? m.status : 'pending' as const,
    failure_reason: m.failureReason, descriptor: m.descriptor, created_at: m.createdAt.toISOString(),
    settled_at: m.settledAt === null ? null : m.settledAt.toISOString(),
  };
}
