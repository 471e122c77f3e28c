// Owns the kill switches (SPEC §8.1): new links halted (global or per bank) while existing links keep
// charging, charges halted per bank, wallet freeze — each change audited with who, when and why.
// Must never change a switch without an audit entry in the same transaction.
import type { Queryable } from '../store/db.js';
import { createError, NotFound } from '../errors.js';
import { appendAudit } from './audit.js';
import type { Operator } from './operators.js';

export type ControlKind = 'links_halted' | 'charges_halted';

export const LinkingHalted = createError('linking-halted', 503, 'New bank links are paused');
export const ChargesHalted = createError('charges-halted', 503, 'Charges from this bank are paused');

export interface ControlState {
  kind: ControlKind;
  scope: string;
  active: boolean;
  reason: string;
  changedBy: string;
  changedAt: Date;
}

function bankScope(bankCode: string): string {
  return `bank:${bankCode}`;
}

async function activeScopes(q: Queryable, kind: ControlKind, scopes: string[]): Promise<string[]> {
  const res = await q.query<{ scope: string }>(
    'SELECT scope FROM controls WHERE kind = $1 AND active AND scope = ANY($2::text[])', [kind, scopes]);
  return res.rows.map((r) => r.scope);
}

/** New links to this bank are refused while linking is halted globally or for the bank. */
export async function assertLinkingAllowed(q: Queryable, bankCode: string): Promise<void> {
  const halted = await activeScopes(q, 'links_halted', ['global', bankScope(bankCode)]);
  if (halted.length > 0) {
    throw new LinkingHalted('Linking new bank accounts is paused for now. Accounts already linked keep working.');
  }
}

/** Charges from this bank are refused while they are halted for it. */
export async function assertChargesAllowed(q: Queryable, bankCode: string): Promise<void> {
  const halted = await activeScopes(q, 'charges_halted', [bankScope(bankCode)]);
  if (halted.length > 0) throw new ChargesHalted('Charges from this bank are paused for now. Try again later.');
}

export async function setControl(
  q: Queryable, operator: Operator, input: { kind: ControlKind; bankCode: string | null; active: boolean; reason: string },
): Promise<ControlState> {
  const scope = input.bankCode === null ? 'global' : bankScope(input.bankCode);
  const res = await q.query<{ changed_at: Date }>(
    `INSERT INTO controls (kind, scope, active, reason, changed_by) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (kind, scope) DO UPDATE SET active = EXCLUDED.active, reason = EXCLUDED.reason,
       changed_by = EXCLUDED.changed_by, changed_at = now()
     RETURNING changed_at`,
    [input.kind, scope, input.active, input.reason, operator.id]);
  await appendAudit(q, {
    actor: operator.id, action: `${input.kind}.${input.active ? 'on' : 'off'}`, target: scope, reason: input.reason,
    detail: { operator_name: operator.name, role: operator.role },
  });
  return { kind: input.kind, scope, active: input.active, reason: input.reason, changedBy: operator.id, changedAt: new Date(res.rows[0]!.changed_at) };
}

export async function listControls(q: Queryable): Promise<ControlState[]> {
  const res = await q.query<{ kind: ControlKind; scope: string; active: boolean; reason: string; changed_by: string; changed_at: Date }>(
    'SELECT kind, scope, active, reason, changed_by, changed_at FROM controls ORDER BY kind, scope');
  return res.rows.map((r) => ({ kind: r.kind, scope: r.scope, active: r.active, reason: r.reason, changedBy: r.changed_by, changedAt: new Date(r.changed_at) }));
}

/** Freezes or unfreezes a wallet: a frozen wallet moves no money (assertCanMoveMoney) until unfrozen. */
export async function setWalletFrozen(
  q: Queryable, operator: Operator, input: { walletId: string; frozen: boolean; reason: string },
): Promise<{ walletId: string; status: string }> {
  const res = await q.query<{ status: string }>(
    `UPDATE wallets SET status = CASE WHEN $2 THEN 'frozen' ELSE 'active' END
      WHERE id = $1 AND status <> 'closed' RETURNING status`, [input.walletId, input.frozen]);
  if (!res.rows[0]) throw new NotFound('The wallet does not exist or is closed.');
  await appendAudit(q, {
    actor: operator.id, action: input.frozen ? 'wallet.freeze' : 'wallet.unfreeze', target: input.walletId,
    reason: input.reason, detail: { operator_name: operator.name, role: operator.role },
  });
  return { walletId: input.walletId, status: res.rows[0].status };
}
