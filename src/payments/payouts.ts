// Owns merchant payouts: the merchant's available balance to its owner's koza wallet, one ledger transfer (the owner
// then withdraws through the normal, limited, stepped-up withdrawal). Must never pay out held money, more than is
// available, or to anyone but the merchant's verified owner.
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';
import { createError } from '../errors.js';
import { createTransfer, getBalance, postedCreditBalance } from '../ledger/ledger.js';
import type { Yen } from '../money.js';
import { sendMessage } from '../identity/outbox.js';
import { assertBalanceWithinLimit, type Limits } from '../wallets/limits.js';
import { assertCanMoveMoney, getWallet, normalizeEmail } from '../wallets/wallets.js';
import { availableBalance, nextRelease } from './merchant-holds.js';
import { getMerchant, type Merchant } from './merchants.js';
import { MerchantFundsTooLow } from './payments.js';
import { formatJst, formatYen } from '../display.js';

export const MerchantHasNoOwner = createError('merchant-has-no-owner', 409, 'This merchant has no verified owner to pay out to');

export interface Payout {
  id: string;
  merchantId: string;
  walletId: string;
  amount: Yen;
  transferId: string;
  createdAt: Date;
}

export async function payOut(q: Queryable, merchantRef: Merchant, limits: Limits, amount: Yen): Promise<Payout> {
  // The merchant row lock orders payouts and refunds from the available balance: its account is sharded, not limited.
  const merchant = await getMerchant(q, merchantRef.id, true);
  if (merchant.ownerWalletId === null) {
    throw new MerchantHasNoOwner('This merchant was opened before business checks and has no verified owner. Its owner '
      + 'opens a new merchant (POST /v1/merchants, signed in, with the business check); contact koza support to move the balance.');
  }
  const available = await availableBalance(q, merchant);
  if (amount > available) {
    const next = await nextRelease(q, merchant.id);
    throw new MerchantFundsTooLow(`At most ${formatYen(available)} is available to pay out now. `
      + (next ? `Held payments become available from ${formatJst(next)}.` : 'Nothing more is held.'),
    { available_yen: available, next_release_at: next?.toISOString() ?? null });
  }
  const owner = await getWallet(q, merchant.ownerWalletId, true);
  assertCanMoveMoney(owner);
  assertBalanceWithinLimit(limits[owner.assuranceLevel], postedCreditBalance(await getBalance(q, owner.ledgerAccountId)), amount);
  const id = newId('pyo');
  const transferId = newId('xfr');
  await createTransfer(q, {
    id: transferId, kind: 'single', debitAccountId: merchant.ledgerAccountId, creditAccountId: owner.ledgerAccountId,
    amount, code: 'payout', reference: id,
  });
  const res = await q.query<{ created_at: Date }>(
    'INSERT INTO merchant_payouts (id, merchant_id, wallet_id, amount, transfer_id) VALUES ($1, $2, $3, $4, $5) RETURNING created_at',
    [id, merchant.id, owner.id, amount, transferId]);
  await sendMessage(q, { channel: 'email', recipient: normalizeEmail(owner.email), subject: 'A merchant payout reached your wallet',
    body: `${formatYen(amount)} from your merchant "${merchant.name}" was paid into your koza wallet. If you did not ask for it, contact koza support.` });
  return { id, merchantId: merchant.id, walletId: owner.id, amount, transferId, createdAt: new Date(res.rows[0]!.created_at) };
}
