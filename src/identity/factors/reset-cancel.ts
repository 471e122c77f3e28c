// Owns cancelling a factor reset: by any use of an existing factor (verify.ts calls it), and the owner's notice.
// Must never cancel a reset silently: the owner hears of it; kept apart from reset.ts so verify.ts needs nothing else.
import type { Queryable } from '../../store/db.js';
import { recordRiskSignal } from '../../risk/signals.js';
import { sendMessage } from '../outbox.js';
import { lockWalletFactors } from './store.js';
import { closeReset, endResetHold, openResetOf, type FactorReset } from './reset-store.js';

/**
 * Any use of an existing factor (a step-up, a sign-in) cancels an open reset: whoever holds a factor needs no reset,
 * and a thief's reset dies the moment the owner next uses their app. The owner holds a factor: the cap ends too.
 */
export async function cancelResetOnFactorUse(q: Queryable, walletId: string, now: Date): Promise<void> {
  const open = await openResetOf(q, walletId);
  if (!open) return;
  await closeReset(q, open.id, { status: 'cancelled', via: 'factor', now });
  await endResetHold(q, walletId, now);
  await afterCancel(q, open, 'factor');
}

export async function afterCancel(q: Queryable, reset: FactorReset, via: 'factor' | 'not_me'): Promise<void> {
  const { email } = await lockWalletFactors(q, reset.walletId);
  await recordRiskSignal(q, { walletId: reset.walletId, kind: 'factor_reset_cancelled', detail: { reset_id: reset.id, via } });
  await sendMessage(q, {
    channel: 'email', recipient: email, subject: 'The reset of your koza second factors was cancelled',
    body: via === 'factor'
      ? 'One of your second factors was just used, so the reset of your factors was cancelled; they all keep working.'
      : 'You said the reset was not you, so it was cancelled and your factors keep working. Change your password now, and contact '
        + 'koza support: whoever asked knew your password.',
  });
}

