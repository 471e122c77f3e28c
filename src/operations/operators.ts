// Owns operator identities (SPEC §2): staff with a role, authenticated by an API key shown once.
// Must never store a key in clear, nor let a disabled operator act.
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { hashToken, newToken } from '../identity/secrets.js';
import { Forbidden } from '../errors.js';

export type OperatorRole = 'support' | 'fraud_analyst' | 'compliance' | 'admin';
export const OPERATOR_ROLES: OperatorRole[] = ['support', 'fraud_analyst', 'compliance', 'admin'];

export interface Operator {
  id: string;
  name: string;
  role: OperatorRole;
}

export async function createOperator(q: Queryable, input: { name: string; role: OperatorRole }): Promise<{ operator: Operator; apiKey: string }> {
  const id = newId('opr');
  const apiKey = newToken('kzo');
  await q.query('INSERT INTO operators (id, name, role, api_key_hash) VALUES ($1, $2, $3, $4)',
    [id, input.name, input.role, hashToken(apiKey)]);
  return { operator: { id, name: input.name, role: input.role }, apiKey };
}

export async function findOperatorByKey(q: Queryable, apiKey: string): Promise<Operator | null> {
  const res = await q.query<{ id: string; name: string; role: OperatorRole }>(
    'SELECT id, name, role FROM operators WHERE api_key_hash = $1 AND disabled_at IS NULL', [hashToken(apiKey)]);
  return res.rows[0] ?? null;
}

export function assertRole(operator: Operator, allowed: OperatorRole[]): void {
  if (!allowed.includes(operator.role)) {
    throw new Forbidden(`This needs one of the roles ${allowed.join(', ')}; you are ${operator.role}.`);
  }
}
