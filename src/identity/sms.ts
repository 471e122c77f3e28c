// Owns sending SMS: an interface, and the sandbox sender that delivers into the development outbox.
// Must never log a message body: SMS carry one-time codes.
import type { Queryable } from '../store/db.js';
import { sendMessage } from './outbox.js';

export interface SmsSender {
  /** Sends within the caller's transaction where the sender can (the outbox can; a gateway sends after commit). */
  send(q: Queryable, message: { to: string; body: string }): Promise<void>;
}

export const sandboxSmsSender: SmsSender = {
  async send(q, message) {
    await sendMessage(q, { channel: 'sms', recipient: message.to, subject: 'SMS', body: message.body });
  },
};
