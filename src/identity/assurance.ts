// Owns assurance levels (SPEC §3): L0 e-mail verified, L1 + phone, L2 + eKYC; what each may do is gated here.
// Must never let a level be raised except by the verification that earns it, nor lowered silently.
import type { Queryable } from '../store/db.js';
import { createError } from '../errors.js';

export type AssuranceLevel = 'L0' | 'L1' | 'L2';

const RANK: Record<AssuranceLevel, number> = { L0: 0, L1: 1, L2: 2 };

export const AssuranceLevelTooLow = createError<{ required_level: AssuranceLevel; current_level: AssuranceLevel }>(
  'assurance-level-too-low', 403, 'This needs a higher identity assurance level');

const HOW_TO_REACH: Record<AssuranceLevel, string> = {
  L0: 'Verify your e-mail address.',
  L1: 'Verify your phone number (POST /v1/phone).',
  L2: 'Verify your identity (POST /v1/identity/verifications).',
};

export function meetsLevel(current: AssuranceLevel, required: AssuranceLevel): boolean {
  return RANK[current] >= RANK[required];
}

export function assertLevel(current: AssuranceLevel, required: AssuranceLevel): void {
  if (!meetsLevel(current, required)) {
    throw new AssuranceLevelTooLow(`This needs level ${required}. ${HOW_TO_REACH[required]}`,
      { required_level: required, current_level: current });
  }
}

/**
 * Raises the wallet to `level` once the verification for it has passed; never lowers it. L2 presupposes
 * L1, so eKYC on an L0 wallet is refused by the caller, not papered over here.
 */
export async function raiseAssuranceLevel(q: Queryable, walletId: string, level: AssuranceLevel): Promise<AssuranceLevel> {
  const res = await q.query<{ assurance_level: AssuranceLevel }>(
    `UPDATE wallets SET assurance_level = CASE
        WHEN $2 = 'L2' OR (assurance_level = 'L0' AND $2 = 'L1') THEN $2 ELSE assurance_level END
      WHERE id = $1 RETURNING assurance_level`,
    [walletId, level],
  );
  return res.rows[0]!.assurance_level;
}
