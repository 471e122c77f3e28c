// Owns the record of risk decisions (SPEC §7, issue 5 item 4): every decision with its inputs and rule hits, read
// back by wallet, device, IP or bank account, and the alert queue review and deny decisions feed.
// Must never drop a decision's inputs, nor open an alert for a decision that allowed or challenged unless a rule with
// `alert: true` fired (allow but alert).
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import type { RiskAction, RiskDecision, RiskEvent, RiskEventKind } from './hook.js';
import type { Features } from './features.js';

/** One rule that matched: its id, the reason for analysts, and what it asked for. */
export interface RuleHit {
  rule: string;
  text: string;
  action?: RiskAction;
  score?: number;
  /** The rule opens an alert when it fires (`alert: true`). */
  alert?: true;
}

export interface DecisionToStore {
  event: RiskEvent;
  features: Features;
  decision: RiskDecision;
  /** Rules that hit and were enforced (or would have been, when `enforced` is false). */
  hits: RuleHit[];
  /** Rules in shadow mode that hit: recorded, never enforced. */
  shadowHits: RuleHit[];
  /** false: the decision was recorded only and the flow went on as if allowed. */
  enforced: boolean;
  /** For tests and replays; the database clock otherwise. */
  at?: Date;
}

export interface StoredDecision {
  id: string;
  seq: number;
  eventKind: RiskEventKind;
  walletId: string | null;
  deviceKey: string | null;
  ip: string | null;
  bankCode: string | null;
  accountRef: string | null;
  action: RiskAction;
  score: number;
  enforced: boolean;
  ruleHits: RuleHit[];
  shadowHits: RuleHit[];
  features: Features;
  createdAt: Date;
}

export type AlertStatus = 'open' | 'acknowledged';

export interface RiskAlert {
  id: string;
  seq: number;
  decisionId: string;
  /** review/deny: the decision's action; alert: allowed, but a rule with `alert: true` fired. */
  kind: 'review' | 'deny' | 'alert';
  status: AlertStatus;
  createdAt: Date;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  /** How an analyst closed an alert that held money (released or rejected); null otherwise. */
  resolution: 'released' | 'rejected' | null;
  /** The analyst's note, when one was left. */
  note: string | null;
  decision: StoredDecision;
}

/** Exactly one key to read decisions by; a bank account is its reference, optionally narrowed to one bank. */
export type DecisionFilter =
  | { walletId: string }
  | { deviceKey: string }
  | { ip: string }
  | { accountRef: string; bankCode?: string };

/** Newest first; `before` is the `seq` of the last row of the previous page. */
export interface Page {
  limit?: number;
  before?: number;
}

export interface PageOf<T> {
  items: T[];
  /** The cursor for the next page (`before` for decisions, `after` for alerts); null when this page was the last. */
  next: number | null;
}

const MAX_PAGE = 200;

/** Stores a decision and, for review and deny, opens an alert in the same statement batch. Returns the decision id. */
export async function storeDecision(q: Queryable, input: DecisionToStore): Promise<string> {
  const id = newId('rsk');
  const { event, decision } = input;
  await q.query(
    `INSERT INTO risk_decisions (id, event_kind, wallet_id, device_key, ip, bank_code, account_ref, action, score, enforced,
       rule_hits, shadow_hits, features, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, coalesce($14::timestamptz, now()))`,
    [id, event.kind, event.walletId, event.deviceKey ?? null, event.ip ?? null, event.bankCode ?? null, event.accountRef ?? null,
      decision.action, Math.round(decision.score), input.enforced, JSON.stringify(input.hits), JSON.stringify(input.shadowHits),
      JSON.stringify(input.features), input.at ?? null],
  );
  // Unenforced review/deny decisions open alerts too: an analyst watching a rule set in shadow mode needs to see them.
  // An allowed (or challenged) decision opens one of kind 'alert' when a rule with `alert: true` fired.
  const alertKind = decision.action === 'review' || decision.action === 'deny' ? decision.action : decision.alert ? 'alert' : null;
  if (alertKind !== null) {
    await q.query(
      `INSERT INTO risk_alerts (id, decision_id, kind, created_at) VALUES ($1, $2, $3, coalesce($4::timestamptz, now()))`,
      [newId('alr'), id, alertKind, input.at ?? null],
    );
  }
  return id;
}

interface DecisionRow {
  id: string;
  seq: number | string;
  event_kind: RiskEventKind;
  wallet_id: string | null;
  device_key: string | null;
  ip: string | null;
  bank_code: string | null;
  account_ref: string | null;
  action: RiskAction;
  score: number;
  enforced: boolean;
  rule_hits: RuleHit[] | string;
  shadow_hits: RuleHit[] | string;
  features: Features | string;
  created_at: Date;
}

const DECISION_COLUMNS = `d.id, d.seq, d.event_kind, d.wallet_id, d.device_key, d.ip, d.bank_code, d.account_ref, d.action,
  d.score, d.enforced, d.rule_hits, d.shadow_hits, d.features, d.created_at`;

function json<T>(value: T | string): T {
  return typeof value === 'string' ? JSON.parse(value) as T : value;
}

function decisionOf(r: DecisionRow): StoredDecision {
  return {
    id: r.id, seq: Number(r.seq), eventKind: r.event_kind, walletId: r.wallet_id, deviceKey: r.device_key, ip: r.ip,
    bankCode: r.bank_code, accountRef: r.account_ref, action: r.action, score: r.score, enforced: r.enforced,
    ruleHits: json(r.rule_hits), shadowHits: json(r.shadow_hits), features: json(r.features), createdAt: new Date(r.created_at),
  };
}

function pageLimit(page: Page): number {
  const limit = page.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, not ${limit}`);
  return Math.min(limit, MAX_PAGE);
}

function filterClause(filter: DecisionFilter, params: unknown[]): string {
  const add = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if ('walletId' in filter) return `d.wallet_id = ${add(filter.walletId)}`;
  if ('deviceKey' in filter) return `d.device_key = ${add(filter.deviceKey)}`;
  if ('ip' in filter) return `d.ip = ${add(filter.ip)}`;
  const byAccount = `d.account_ref = ${add(filter.accountRef)}`;
  return filter.bankCode === undefined ? byAccount : `${byAccount} AND d.bank_code = ${add(filter.bankCode)}`;
}

/** Decisions for one wallet, device, IP or bank account, newest first. */
export async function listDecisions(q: Queryable, filter: DecisionFilter, page: Page = {}): Promise<PageOf<StoredDecision>> {
  const limit = pageLimit(page);
  const params: unknown[] = [];
  const where = [filterClause(filter, params)];
  if (page.before !== undefined) {
    params.push(page.before);
    where.push(`d.seq < $${params.length}`);
  }
  params.push(limit + 1);
  const res = await q.query<DecisionRow>(
    `SELECT ${DECISION_COLUMNS} FROM risk_decisions d WHERE ${where.join(' AND ')} ORDER BY d.seq DESC LIMIT $${params.length}`,
    params,
  );
  const items = res.rows.slice(0, limit).map(decisionOf);
  return { items, next: res.rows.length > limit ? items[items.length - 1]!.seq : null };
}

export async function getDecision(q: Queryable, id: string): Promise<StoredDecision | null> {
  const res = await q.query<DecisionRow>(`SELECT ${DECISION_COLUMNS} FROM risk_decisions d WHERE d.id = $1`, [id]);
  return res.rows[0] ? decisionOf(res.rows[0]) : null;
}

type AlertRow = DecisionRow & {
  alert_id: string; alert_seq: number | string; kind: 'review' | 'deny' | 'alert'; status: AlertStatus; alert_created_at: Date;
  acknowledged_at: Date | null; acknowledged_by: string | null; resolution: 'released' | 'rejected' | null; note: string | null;
};

const ALERT_COLUMNS = `a.id AS alert_id, a.seq AS alert_seq, a.kind, a.status, a.created_at AS alert_created_at, a.acknowledged_at,
  a.acknowledged_by, a.resolution, a.note, ${DECISION_COLUMNS}`;

function alertOf(r: AlertRow): RiskAlert {
  return {
    id: r.alert_id, seq: Number(r.alert_seq), decisionId: r.id, kind: r.kind, status: r.status,
    createdAt: new Date(r.alert_created_at), acknowledgedAt: r.acknowledged_at && new Date(r.acknowledged_at),
    acknowledgedBy: r.acknowledged_by, resolution: r.resolution, note: r.note, decision: decisionOf(r),
  };
}

/** The alert queue: alerts in one status, oldest first (the order an analyst works them), each with its decision. */
export async function listAlerts(q: Queryable, status: AlertStatus, page: { limit?: number; after?: number } = {}): Promise<PageOf<RiskAlert>> {
  const limit = pageLimit(page);
  const res = await q.query<AlertRow>(
    `SELECT ${ALERT_COLUMNS}
     FROM risk_alerts a JOIN risk_decisions d ON d.id = a.decision_id
     WHERE a.status = $1 AND ($2::bigint IS NULL OR a.seq > $2) ORDER BY a.seq LIMIT $3`,
    [status, page.after ?? null, limit + 1],
  );
  const items = res.rows.slice(0, limit).map(alertOf);
  return { items, next: res.rows.length > limit ? items[items.length - 1]!.seq : null };
}

export async function getAlert(q: Queryable, alertId: string): Promise<RiskAlert | null> {
  const res = await q.query<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM risk_alerts a JOIN risk_decisions d ON d.id = a.decision_id WHERE a.id = $1`, [alertId]);
  return res.rows[0] ? alertOf(res.rows[0]) : null;
}

/** Marks an open alert acknowledged by an analyst; false when it was not open (already acknowledged, or unknown). */
export async function acknowledgeAlert(q: Queryable, alertId: string, analyst: string, note?: string): Promise<boolean> {
  const res = await q.query(
    `UPDATE risk_alerts SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2, note = coalesce($3, note)
     WHERE id = $1 AND status = 'open'`, [alertId, analyst, note ?? null]);
  return res.rowCount === 1;
}

/**
 * Closes the alert a holding decision opened (when the engine stored one) with an analyst's resolution of what it held
 * (a movement or a link): acknowledged by them, with the resolution and their reason as the note.
 */
export async function resolveDecisionAlert(
  q: Queryable, decisionId: string | null, operatorId: string, resolution: 'released' | 'rejected', note: string,
): Promise<void> {
  if (decisionId === null) return;
  await q.query(
    `UPDATE risk_alerts SET status = 'acknowledged', acknowledged_at = coalesce(acknowledged_at, now()),
       acknowledged_by = coalesce(acknowledged_by, $2), resolution = $3, note = $4
     WHERE decision_id = $1`, [decisionId, operatorId, resolution, note]);
}
