// Owns an analyst acknowledging a risk alert (SPEC §7, §8.5): the alert leaves the open queue, the audit log says
// who, when and why. Must never take an alert over from another analyst, nor acknowledge without an audit entry.
import type { Queryable } from '../store/db.js';
import { createError, NotFound } from '../errors.js';
import { appendAudit } from '../operations/audit.js';
import type { Operator } from '../operations/operators.js';
import { acknowledgeAlert, getAlert, type RiskAlert } from './decisions.js';
import { formatJst } from '../display.js';

export const AlertAlreadyAcknowledged = createError<{ alert_id: string; acknowledged_by: string | null; acknowledged_at: string | null }>(
  'alert-already-acknowledged', 409, 'Another analyst has acknowledged this alert');

/**
 * Acknowledges an open alert as `operator`, in the caller's transaction. Acknowledging again as the same operator
 * is a no-op that returns the alert; another operator's acknowledgement is a conflict (they own it now).
 */
export async function acknowledgeAlertAs(q: Queryable, operator: Operator, alertId: string, note?: string): Promise<RiskAlert> {
  const acknowledged = await acknowledgeAlert(q, alertId, operator.id, note);
  const alert = await getAlert(q, alertId);
  if (!alert) throw new NotFound('No such risk alert.');
  if (!acknowledged) {
    if (alert.acknowledgedBy === operator.id) return alert;
    throw new AlertAlreadyAcknowledged(
      `Alert ${alert.id} was acknowledged by ${alert.acknowledgedBy ?? 'someone else'} at ${alert.acknowledgedAt ? formatJst(alert.acknowledgedAt) : 'an unknown time'}.`,
      { alert_id: alert.id, acknowledged_by: alert.acknowledgedBy, acknowledged_at: alert.acknowledgedAt?.toISOString() ?? null });
  }
  await appendAudit(q, {
    actor: operator.id, action: 'risk_alert.acknowledge', target: alert.id, reason: note ?? 'acknowledged',
    detail: { operator_name: operator.name, role: operator.role, decision_id: alert.decisionId, kind: alert.kind },
  });
  return alert;
}
