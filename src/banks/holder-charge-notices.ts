// Owns telling the bank-account holder of charges (issue 10): the first charge and every large one, through the
// bank's inbox and the contact it holds besides the phone, after the charge posts. Must never fail or undo a charge:
// a notice the bank did not confirm stays due and the reconciler's round sends it again under the same key.
import type { Queryable } from '../store/db.js';
import { recordRiskSignal } from '../risk/signals.js';
import type { MovementDeps } from './movements.js';
import { getBankLinkById, linkTokenOf } from './link-store.js';
import { formatJst, formatYen } from '../display.js';

interface DueNotice {
  id: string; wallet_id: string; link_id: string; amount: number; descriptor: string; created_at: Date;
  holder_notice_kind: 'first_charge' | 'large_charge';
}

/** Sends one movement's notice if it is due (posted, not yet confirmed by the bank); true when the bank confirmed it. */
export async function sendHolderChargeNotice(deps: MovementDeps, movementId: string): Promise<boolean> {
  const res = await deps.db.query<DueNotice>(
    `SELECT id, wallet_id, link_id, amount, descriptor, created_at, holder_notice_kind FROM bank_movements
      WHERE id = $1 AND status = 'posted' AND holder_notice_kind IS NOT NULL AND holder_notice_sent_at IS NULL`, [movementId]);
  const due = res.rows[0];
  if (!due) return false;
  const link = await getBankLinkById(deps.db, due.link_id);
  if (!link) return false;
  const amount = formatYen(Number(due.amount));
  const what = due.holder_notice_kind === 'first_charge'
    ? `初めての引き落とし: ${amount}（${due.descriptor}）。 The first charge from your account to a koza wallet: ${amount}`
    : `高額の引き落とし: ${amount}（${due.descriptor}）。 A large charge from your account to a koza wallet: ${amount}`;
  const outcome = await deps.client.notifyHolder(link.bankCode, {
    link_token: linkTokenOf(link, deps.config.secretKey), kind: due.holder_notice_kind,
    message: `${what} (${formatJst(new Date(due.created_at))}, statement "${due.descriptor}"). If this was not you, stop the link `
      + 'at your bank (Wallet links) and contact koza: under its published compensation policy, money taken is paid back.',
    channels: ['inbox', 'email'],
  }, `${due.id}:notify:${due.holder_notice_kind}`);
  if (outcome.kind !== 'answered') return false;
  const channels = Array.isArray(outcome.value.channels) ? outcome.value.channels.filter((c) => typeof c === 'string').slice(0, 3) : ['inbox'];
  await deps.db.transaction(async (tx) => {
    await markNoticeSent(tx, due.id, channels);
    await recordRiskSignal(tx, { walletId: due.wallet_id, kind: 'holder_notice_sent', detail: {
      movement_id: due.id, kind: due.holder_notice_kind, channels,
    } });
  });
  return true;
}

async function markNoticeSent(q: Queryable, movementId: string, channels: string[]): Promise<void> {
  await q.query('UPDATE bank_movements SET holder_notice_sent_at = now(), holder_notice_channels = $2 WHERE id = $1 AND holder_notice_sent_at IS NULL',
    [movementId, channels]);
}

/** Every due notice (posted charges whose notice the bank has not confirmed), oldest first: the reconciler's step. */
export async function sendDueHolderChargeNotices(deps: MovementDeps, limit = 100): Promise<number> {
  const res = await deps.db.query<{ id: string }>(
    `SELECT id FROM bank_movements WHERE holder_notice_kind IS NOT NULL AND holder_notice_sent_at IS NULL AND status = 'posted'
      ORDER BY created_at LIMIT $1`, [limit]);
  let sent = 0;
  for (const row of res.rows) if (await sendHolderChargeNotice(deps, row.id)) sent += 1;
  return sent;
}
