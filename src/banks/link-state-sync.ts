// Owns asking the bank what became of a link (protocol v2 GET /links/{token}): the holder's confirmation, which lifts
// the unconfirmed cap, and a revocation on the bank's page, which stops the link in koza too.
// Must never run inside a transaction (it waits on the bank), nor take "no answer" as either.
import type { Db } from '../store/db.js';
import type { Config } from '../config.js';
import type { BankClient } from './client.js';
import { accountTrustFacts } from './account-trust-facts.js';
import { checkTrust } from './link-trust.js';
import { findActiveLink, linkTokenOf, markLinkRevoked, markLinkRevokedAtBank, recordBankLinkState, type BankLink } from './link-store.js';
import { recordRiskSignal } from '../risk/signals.js';

export interface LinkSyncDeps {
  db: Db;
  config: Config;
  client: BankClient;
}

/** Asks the bank once and records its word. 'unknown' when it did not answer. */
export async function syncLinkState(deps: LinkSyncDeps, link: BankLink): Promise<'confirmed' | 'unconfirmed' | 'revoked' | 'unknown'> {
  const outcome = await deps.client.getLinkState(link.bankCode, linkTokenOf(link, deps.config.secretKey));
  if (outcome.kind !== 'answered') return 'unknown';
  const state = outcome.value;
  const confirmedAt = typeof state.holder_confirmed_at === 'string' ? new Date(state.holder_confirmed_at) : null;
  const via = state.holder_confirmed_via === 'email' || state.holder_confirmed_via === 'bank_sign_in' ? state.holder_confirmed_via : null;
  return deps.db.transaction(async (tx) => {
    await recordBankLinkState(tx, link.id, {
      confirmedAt: confirmedAt && !Number.isNaN(confirmedAt.getTime()) && via ? confirmedAt : null, confirmedVia: confirmedAt ? via : null,
    });
    if (state.status === 'revoked') {
      // The holder (or the bank) stopped it at the bank: no money moves through it in koza either.
      const reason = state.revoked_by === 'holder' ? 'holder_revoked_at_bank' : 'revoked_at_bank';
      if (await markLinkRevoked(tx, link.id, reason)) {
        await markLinkRevokedAtBank(tx, link.id);
        await recordRiskSignal(tx, { walletId: link.walletId, kind: state.revoked_by === 'holder' ? 'link_revoked_by_holder' : 'link_revoked',
          detail: { link_id: link.id, bank_code: link.bankCode, reason } });
      }
      return 'revoked';
    }
    return confirmedAt && via ? 'confirmed' : 'unconfirmed';
  });
}

/**
 * Before a charge (no transaction open): when the charge would not fit the cap of a link the holder has not confirmed,
 * ask the bank once whether the holder has confirmed it since (or stopped it), so the one tap takes effect at once.
 */
export async function refreshUnconfirmedLink(deps: LinkSyncDeps, walletId: string, linkId: string, amount: number): Promise<void> {
  const link = await findActiveLink(deps.db, walletId, linkId);
  if (!link || link.method === 'redirect' || link.holderConfirmedAt !== null) return;
  const now = new Date();
  const verdict = checkTrust(await accountTrustFacts(deps.db, walletId, link, now), amount, now, deps.config);
  if (verdict.allowed) return;
  await syncLinkState(deps, link);
}
