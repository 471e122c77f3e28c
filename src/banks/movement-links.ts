// Owns what a money movement needs to know about a bank link: the active link and its token, the bank's
// clearing account, and the level charges run at under the policy.
// Must never hand out a revoked link for a new movement (the reconciler may still read one to settle).
import type { Queryable } from '../store/db.js';
import type { Config } from '../config.js';
import { NotFound } from '../errors.js';
import type { AssuranceLevel } from '../identity/assurance.js';
import { getBankLink, linkTokenOf, type BankLink } from './link-store.js';

export interface LinkForMovement extends BankLink {
  linkToken: string;
}

/** Each partner bank's clearing account in the ledger (16 shards: charges to one bank do not queue). */
export function clearingAccountId(bankCode: string): string {
  return `acc_bank_${bankCode}`;
}

export async function loadLinkForMovement(
  q: Queryable, config: Config, walletId: string, linkId: string, options: { includeRevoked?: boolean } = {},
): Promise<LinkForMovement> {
  const link = await getBankLink(q, walletId, linkId);
  if (!link || (!options.includeRevoked && link.status !== 'active')) {
    throw new NotFound('The bank link does not exist or is no longer active.');
  }
  return { ...link, linkToken: linkTokenOf(link, config.secretKey) };
}

export interface ChargePolicy {
  /** The level whose limits a wallet's charges run at. */
  chargeLevel(level: AssuranceLevel): AssuranceLevel;
}

/**
 * Under `secure` a wallet charges at its own level (L2 needed). Under `legacy-2020` any wallet charged with
 * full limits, as the 2020 wallet let a name-and-e-mail account do: it runs at L2's limits.
 */
export function policyFor(config: Config): ChargePolicy {
  return config.policy === 'legacy-2020' ? { chargeLevel: () => 'L2' } : { chargeLevel: (level) => level };
}
