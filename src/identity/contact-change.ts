// Owns what a phone or e-mail change costs (SPEC §3): a step-up once the wallet has a factor, a word to the OLD
// channels, a risk signal, and a money-out cap for a while after it (a takeover moves the contacts, then the money).
// Must never let a change through on a session alone once a factor exists, nor tell only the new channel.
import type { Queryable } from '../store/db.js';
import { sendMessage } from './outbox.js';
import type { SmsSender } from './sms.js';
import { consumeStepUpProof } from './step-up.js';
import { listActiveFactors } from './factors/store.js';
import { recordRiskSignal } from '../risk/signals.js';
import { formatJst, formatYen } from '../display.js';

export type ContactChange = 'phone' | 'email';

/** The configured hold: money-out per rolling 24 h and for how long after a change (KOZA_CONTACT_CHANGE_*). */
export interface ContactChangeHold {
  capYen: number;
  holdHours: number;
}

/** Once the wallet has a second factor, a contact change needs a fresh step-up proof for its action (phone_change, email_change). */
export async function assertContactChangeAuthorized(
  q: Queryable, input: { walletId: string; change: ContactChange; stepUpProof: string | undefined; now?: Date },
): Promise<void> {
  if ((await listActiveFactors(q, input.walletId)).length === 0) return;
  await consumeStepUpProof(q, {
    walletId: input.walletId, proof: input.stepUpProof, action: input.change === 'phone' ? 'phone_change' : 'email_change',
    amount: null, destination: null, ...(input.now ? { now: input.now } : {}),
  });
}

function maskPhone(e164: string): string {
  return `${e164.slice(0, 3)}…${e164.slice(-4)}`;
}

function maskEmail(email: string): string {
  const at = email.indexOf('@');
  return at <= 1 ? `…${email.slice(at)}` : `${email[0]}…${email.slice(at)}`;
}

/**
 * After a contact changed: the old e-mail and the old phone hear of it (the attacker holds the new ones), a hold caps
 * money-out, and analysts get a signal. `old` is what the wallet had before; `to` the new value.
 */
export async function afterContactChange(
  q: Queryable, sms: SmsSender, hold: ContactChangeHold,
  input: { walletId: string; change: ContactChange; oldEmail: string; oldPhone: string | null; to: string; now?: Date },
): Promise<{ holdEndsAt: Date | null }> {
  const now = input.now ?? new Date();
  const holdEndsAt = hold.holdHours > 0 ? new Date(now.getTime() + hold.holdHours * 3_600_000) : null;
  if (holdEndsAt) {
    await q.query(
      'INSERT INTO contact_change_holds (wallet_id, change, cap_per_24h, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5)',
      [input.walletId, input.change, hold.capYen, now, holdEndsAt]);
  }
  const what = input.change === 'phone' ? `phone number was changed to ${maskPhone(input.to)}` : `e-mail address was changed to ${maskEmail(input.to)}`;
  const capText = holdEndsAt
    ? ` Until ${formatJst(holdEndsAt)}, payments and withdrawals are limited to ${formatYen(hold.capYen)} a day.` : '';
  await sendMessage(q, {
    channel: 'email', recipient: input.oldEmail, subject: `Your koza ${input.change === 'phone' ? 'phone number' : 'e-mail address'} was changed`,
    body: `Your koza wallet's ${what} at ${formatJst(now)}.${capText} If this was not you, contact koza support at once: `
      + 'we will freeze the wallet and put your details back.',
  });
  if (input.oldPhone) {
    await sms.send(q, {
      to: input.oldPhone,
      body: `koza: your wallet's ${input.change === 'phone' ? 'phone number' : 'e-mail address'} was changed. Not you? Contact koza support now.`,
    });
  }
  await recordRiskSignal(q, { walletId: input.walletId, kind: input.change === 'phone' ? 'phone_changed' : 'email_changed', detail: {
    hold_ends_at: holdEndsAt?.toISOString() ?? null, cap_per_24h: hold.capYen, had_old_phone: input.oldPhone !== null,
  } });
  return { holdEndsAt };
}
