// Owns the risk hook: the one place every risky event asks "allow, challenge, review or deny?" (SPEC §7).
// Must never be skipped by a money or link flow; the full rule engine (issue 5) plugs in behind it.

import type { Queryable } from '../store/db.js';

export type RiskEventKind =
  | 'signup' | 'login' | 'factor_change' | 'kyc_submit' | 'link_start' | 'link_complete'
  | 'charge' | 'payment' | 'withdrawal' | 'profile_change'
  /** The link sweep: a PIN+text link its holder has not confirmed, that has moved money (SIM swap). */
  | 'link_unconfirmed';

export interface RiskEvent {
  kind: RiskEventKind;
  walletId: string | null;
  ip?: string;
  deviceKey?: string;
  bankCode?: string;
  accountRef?: string;
  /** The wallet's verified person (identity/verification/person-key.ts, keyed), when the caller knows it. */
  personKey?: string;
  amount?: number;
  /**
   * An action a step-up can answer (charge, payment, withdrawal): what a step-up for it binds, the proof the request
   * carries (never stored, never in a decision), and whether the caller demands a step-up whatever the rules say
   * (a payment above the threshold, money to a new destination). The engine counts such an action once across a
   * refused attempt and its approved retry (count-once.ts).
   */
  stepUp?: StepUpEventBinding;
  /** Anything else the rules may read (link age, name-match score, method, …). */
  attributes?: Record<string, string | number | boolean | null>;
}

export interface StepUpEventBinding {
  action: 'charge' | 'payment' | 'withdrawal';
  amount: number;
  destination: string;
  proof?: string | undefined;
  /** The caller asks for a step-up at this event whatever the decision is. */
  required: boolean;
}

export type RiskAction = 'allow' | 'challenge' | 'review' | 'deny';

export interface RiskDecision {
  action: RiskAction;
  score: number;
  /** Rule ids and human-readable reasons, for analysts; never shown to the customer. */
  reasons: Array<{ rule: string; text: string }>;
  /** The stored decision (risk_decisions.id) when the engine recorded one: a held movement points at it. */
  decisionId?: string;
  /** An enforced rule with `alert: true` fired: an alert is opened for analysts even though the action may be allow. */
  alert?: boolean;
}

/**
 * A decision function. It reads features, it does not move money. `q` is the caller's transaction when there
 * is one: a decider must read through it (on PGlite a second reader would wait on the open transaction).
 */
export type RiskDecider = (event: RiskEvent, q?: Queryable) => Promise<RiskDecision>;

export const ALLOW: RiskDecision = { action: 'allow', score: 0, reasons: [] };

/**
 * Until the rule engine lands (issue 5) koza allows by default; the hook, its callers and the challenge
 * and deny paths are real and tested with deciders that say otherwise.
 */
export const allowAll: RiskDecider = async () => ALLOW;
