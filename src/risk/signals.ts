// Owns risk signals: facts identity and money events raise for the risk engine and analysts to act on.
// Must never put a secret (a code, a password, a document image) into a signal's detail.
import type { Queryable } from '../store/db.js';

export type RiskSignalKind =
  | 'otp_code_locked'
  | 'phone_factor_locked'
  | 'duplicate_identity'
  | 'duplicate_phone'
  | 'kyc_forged_document'
  | 'kyc_selfie_mismatch'
  | 'kyc_identity_changed'
  | 'second_factor_locked'
  | 'second_factor_added'
  | 'second_factor_removed'
  | 'second_factor_replaced'
  | 'factor_reset_started'
  | 'factor_reset_waiting'
  | 'factor_reset_cancelled'
  | 'factor_reset_completed'
  | 'recovery_code_used'
  | 'step_up_challenge_locked'
  | 'login_throttled'
  | 'phone_codes_address_surge'
  | 'new_device_login'
  | 'login_challenge_locked'
  | 'first_factor_enrollment_code_sent'
  | 'phone_changed'
  | 'email_changed'
  | 'contact_change_money_out_capped'
  | 'link_created'
  | 'link_revoked'
  | 'link_credentials_rejected'
  | 'link_name_mismatch'
  | 'link_phone_mismatch'
  | 'link_revoked_by_holder'
  | 'holder_notice_sent'
  | 'link_account_linked_elsewhere'
  | 'link_attempt_on_linked_account'
  | 'link_refused_by_risk'
  | 'charge_denied'
  | 'charge_review'
  | 'pay_in_returned';

export async function recordRiskSignal(
  q: Queryable, signal: { walletId: string | null; kind: RiskSignalKind; detail?: Record<string, unknown> },
): Promise<void> {
  await q.query('INSERT INTO risk_signals (wallet_id, kind, detail) VALUES ($1, $2, $3)',
    [signal.walletId, signal.kind, JSON.stringify(signal.detail ?? {})]);
}

export interface RiskSignal {
  id: number;
  walletId: string | null;
  kind: RiskSignalKind;
  detail: Record<string, unknown>;
  createdAt: Date;
}

export async function listRiskSignals(q: Queryable, walletId: string): Promise<RiskSignal[]> {
  const res = await q.query<{ id: number; wallet_id: string | null; kind: RiskSignalKind; detail: Record<string, unknown>; created_at: Date }>(
    'SELECT id, wallet_id, kind, detail, created_at FROM risk_signals WHERE wallet_id = $1 ORDER BY id', [walletId]);
  return res.rows.map((r) => ({ id: r.id, walletId: r.wallet_id, kind: r.kind, detail: r.detail, createdAt: new Date(r.created_at) }));
}
