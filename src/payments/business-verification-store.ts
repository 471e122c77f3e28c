// Owns the business_verifications table: every business check koza asked a provider for, with its outcome.
// Must never rewrite a completed check (a pending one is completed once) nor keep anything but the register's record on a pass.
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import type { BusinessKind } from '../identity/verification/verifier.js';

export type BusinessVerificationStatus = 'pending' | 'verified' | 'failed' | 'pending_review' | 'refused';

export interface BusinessVerification {
  id: string;
  kind: BusinessKind;
  corporateNumber: string | null;
  status: BusinessVerificationStatus;
  reason: string | null;
  registeredName: string | null;
  createdAt: Date;
  completedAt: Date | null;
}

interface VerificationRow {
  id: string; kind: BusinessKind; corporate_number: string | null; status: BusinessVerificationStatus; reason: string | null;
  registered_name: string | null; created_at: Date; completed_at: Date | null;
}

function toVerification(r: VerificationRow): BusinessVerification {
  return {
    id: r.id, kind: r.kind, corporateNumber: r.corporate_number, status: r.status, reason: r.reason,
    registeredName: r.registered_name, createdAt: new Date(r.created_at), completedAt: r.completed_at && new Date(r.completed_at),
  };
}

const RETURNING = 'RETURNING id, kind, corporate_number, status, reason, registered_name, created_at, completed_at';

export async function insertBusinessVerification(q: Queryable, input: {
  walletId: string; provider: string; kind: BusinessKind; corporateNumber: string | null; claimedName: string;
}): Promise<BusinessVerification> {
  const res = await q.query<VerificationRow>(
    `INSERT INTO business_verifications (id, wallet_id, provider, kind, corporate_number, claimed_name, status)
     VALUES ($1, $2, $3, $4, $5, $6, 'pending') ${RETURNING}`,
    [newId('bzv'), input.walletId, input.provider, input.kind, input.corporateNumber, input.claimedName]);
  return toVerification(res.rows[0]!);
}

/** Records the provider's answer; a check under review stays open (no completed_at) for the owner's next try. */
export async function completeBusinessVerification(q: Queryable, id: string, outcome: {
  status: Exclude<BusinessVerificationStatus, 'pending'>; reason: string | null; providerReference: string;
  registeredName?: string | null; businessKey?: string | null;
}): Promise<BusinessVerification> {
  const res = await q.query<VerificationRow>(
    `UPDATE business_verifications SET status = $2, reason = $3, provider_reference = $4, registered_name = $5,
       business_key = $6, completed_at = CASE WHEN $2 = 'pending_review' THEN NULL ELSE now() END
     WHERE id = $1 AND status = 'pending' ${RETURNING}`,
    [id, outcome.status, outcome.reason, outcome.providerReference, outcome.registeredName ?? null, outcome.businessKey ?? null]);
  return toVerification(res.rows[0]!);
}
