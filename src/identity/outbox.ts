// Owns the development outbox: the e-mails and SMS koza would send, kept in a table (SPEC §3).
// Must never write a message body (it may hold a one-time code) to a log.
import type { Queryable } from '../store/db.js';
import { newId } from '../ids.js';

export type Channel = 'email' | 'sms';

export interface OutboxMessage {
  id: string;
  seq: number;
  channel: Channel;
  recipient: string;
  subject: string;
  body: string;
  createdAt: Date;
}

export async function sendMessage(
  q: Queryable, message: { channel: Channel; recipient: string; subject: string; body: string },
): Promise<string> {
  const id = newId('msg');
  await q.query(
    'INSERT INTO dev_outbox (id, channel, recipient, subject, body) VALUES ($1, $2, $3, $4, $5)',
    [id, message.channel, message.recipient, message.subject, message.body],
  );
  return id;
}

export async function readOutbox(
  q: Queryable, filter: { recipient?: string; beforeSeq?: number; limit: number },
): Promise<OutboxMessage[]> {
  const res = await q.query<{
    id: string; seq: number; channel: Channel; recipient: string; subject: string; body: string; created_at: Date;
  }>(
    `SELECT id, seq, channel, recipient, subject, body, created_at FROM dev_outbox
      WHERE ($1::text IS NULL OR recipient = $1) AND ($2::bigint IS NULL OR seq < $2::bigint)
      ORDER BY seq DESC LIMIT $3`,
    [filter.recipient ?? null, filter.beforeSeq ?? null, filter.limit],
  );
  return res.rows.map((r) => ({
    id: r.id, seq: r.seq, channel: r.channel, recipient: r.recipient, subject: r.subject, body: r.body,
    createdAt: new Date(r.created_at),
  }));
}
