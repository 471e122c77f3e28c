// Owns the JSON schemas shared by routes; they validate requests and produce the OpenAPI document.
// Must never let an unknown field, a string number or a fractional amount through (no coercion).
import { Type, type TSchema } from 'typebox';
import { MAX_AMOUNT } from '../money.js';
import { InvalidRequest } from '../errors.js';

export const Amount = Type.Integer({
  minimum: 1, maximum: MAX_AMOUNT, description: 'Whole yen, at least 1.', examples: [1200],
});

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.String({
    minLength: 1, maxLength: 255, description: 'Unique per request; a retry with the same key and body gets the first answer.',
  }),
}, { additionalProperties: true });

/** Japanese and English, for the customer's screen (src/http/next-steps.ts). */
export const Bilingual = Type.Object({
  ja: Type.String({ examples: ['12月7日 00:00 (JST)以降は上限が回復します。'] }),
  en: Type.String({ examples: ['The limit is back after 2026-12-07 00:00 JST.'] }),
});

const NextStepMembers = {
  message: Type.Optional(Type.Object(Bilingual.properties, { description: 'What happened, in a sentence a customer reads.' })),
  next_step: Type.Optional(Type.Object(Bilingual.properties, {
    description: 'What to do next, and when: times in JST, amounts in yen (¥500,000). Every koza problem carries it.',
  })),
};

export const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.Optional(Type.String()),
  instance: Type.Optional(Type.String()),
  ...NextStepMembers,
}, { additionalProperties: true, description: 'RFC 9457 problem details (application/problem+json), with message and next_step in Japanese and English.' });

/** A 429: every one says when to come back (src/http/retry-after.ts), also in the Retry-After header. */
export const ThrottledProblem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Literal(429),
  detail: Type.String({ examples: ['At most 3 codes can be sent to one number in 15 minutes. Try again after 2026-12-06 14:05 JST.'] }),
  instance: Type.Optional(Type.String()),
  retry_after_s: Type.Integer({ minimum: 1, description: 'Seconds until the limit lets the next try in (the Retry-After header).' }),
  retry_after_seconds: Type.Integer({ minimum: 1, description: 'The same as retry_after_s (its older name).' }),
  retry_at: Type.String({ format: 'date-time', description: 'The instant, UTC.' }),
  retry_at_jst: Type.String({ examples: ['2026-12-06 14:05 JST'], description: 'The same instant in Japan time, rounded up to the minute.' }),
  ...NextStepMembers,
}, { additionalProperties: true, description: 'RFC 9457 problem details for a throttled request.' });

export function problems(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of statuses) out[s] = s === 429 ? ThrottledProblem : Problem;
  return out;
}

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1 to 100; default 20.' })),
  cursor: Type.Optional(Type.String({ maxLength: 64, description: 'next_cursor from the previous page.' })),
}, { additionalProperties: false });

export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({ data: Type.Array(item), next_cursor: Type.Union([Type.String(), Type.Null()]) });
}

export interface Page {
  limit: number;
  beforeSeq?: number;
}

/** Cursors are opaque to clients: base64url of the last row's sequence number. */
export function parsePage(query: { limit?: string; cursor?: string }): Page {
  const limit = query.limit === undefined ? 20 : Number(query.limit);
  if (limit < 1 || limit > 100) throw new InvalidRequest('limit must be between 1 and 100.');
  if (query.cursor === undefined) return { limit };
  const decoded = Buffer.from(query.cursor, 'base64url').toString('utf8');
  const match = /^s:([1-9][0-9]{0,15})$/.exec(decoded);
  if (!match) throw new InvalidRequest('The cursor is not valid; use next_cursor from the previous page.');
  return { limit, beforeSeq: Number(match[1]) };
}

export function nextCursor(rows: Array<{ seq: number }>, limit: number): string | null {
  if (rows.length < limit) return null;
  return Buffer.from(`s:${rows[rows.length - 1]!.seq}`).toString('base64url');
}

export const Timestamp = Type.String({ format: 'date-time' });

export const RotatedSession = Type.Object({
  session_id: Type.String(), token: Type.String(), expires_at: Timestamp,
}, { description: 'The session was rotated (privilege change): use this token; the old one no longer works.' });
