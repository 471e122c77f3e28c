// Owns Idempotency-Key handling for state-changing POSTs (SPEC §4): the first answer is kept and replayed.
// Must never run an operation twice for one key: the key row and the operation commit in one transaction.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db, Queryable } from '../store/db.js';
import { IdempotencyKeyInProgress, IdempotencyKeyRequired, IdempotencyKeyReused, InvalidRequest, KozaError } from '../errors.js';
import { keyedHash, seal, unseal } from '../identity/secrets.js';
import { PROBLEM_CONTENT_TYPE, problemFromKozaError } from './problem.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export interface IdempotentResult {
  status: number;
  body: unknown;
}

export interface IdempotencyOptions {
  /** Whose key space this is: a wallet or merchant id, or a public route name for anonymous calls. */
  scope: string;
  /** The response carries a secret (a session token, an API key): it is stored sealed, never in clear. */
  sensitive?: boolean;
}

interface StoredRow {
  request_fingerprint: string;
  response_status: number;
  response_body: string;
  response_encrypted: boolean;
}

export function idempotencyKeyOf(request: FastifyRequest): string {
  const raw = request.headers[IDEMPOTENCY_HEADER];
  if (raw === undefined) throw new IdempotencyKeyRequired('Send an Idempotency-Key header (for example a UUID) with every POST that changes state.');
  const key = Array.isArray(raw) ? raw[0] ?? '' : raw;
  if (!KEY_PATTERN.test(key)) throw new InvalidRequest('The Idempotency-Key must be 1 to 255 printable ASCII characters.');
  return key;
}

/** Keyed, so the stored fingerprint of a login body is no offline oracle for the password in it. */
function requestFingerprint(secretKey: Buffer, request: FastifyRequest): string {
  return keyedHash(secretKey, request.method, request.routeOptions.url ?? request.url,
    JSON.stringify(request.params ?? {}), JSON.stringify(request.body ?? null));
}

/**
 * Claims (scope, key) in tx. Concurrent duplicates queue on this insert; the loser sees the winner's
 * committed row, which it returns for replay.
 */
async function claimKey(tx: Queryable, scope: string, key: string, fingerprint: string): Promise<StoredRow | null> {
  const claimed = await tx.query(
    `INSERT INTO idempotency_keys (scope, key, request_fingerprint, response_status, response_body, response_encrypted)
     VALUES ($1, $2, $3, 0, '', false) ON CONFLICT DO NOTHING`,
    [scope, key, fingerprint]);
  if (claimed.rowCount > 0) return null;
  const stored = await tx.query<StoredRow>(
    'SELECT request_fingerprint, response_status, response_body, response_encrypted FROM idempotency_keys WHERE scope = $1 AND key = $2',
    [scope, key]);
  return stored.rows[0]!;
}

/** A kept 4xx answer for err, after undoing what the operation wrote unless the failure is itself state. */
async function answerFromError(tx: Queryable, err: unknown, instance: string): Promise<{ status: number; body: string }> {
  if (!(err instanceof KozaError) || err.status >= 500 || err.retryable) throw err;
  if (!err.keepWrites) await tx.query('ROLLBACK TO SAVEPOINT idempotent_operation');
  return { status: err.status, body: JSON.stringify(problemFromKozaError(err, instance)) };
}

/**
 * Runs operation once per (scope, key). A retry with the same request gets the first status and body
 * byte for byte; a different request under the same key is refused. Client errors (4xx KozaError) are
 * answers too and are kept; anything else, and throttling, rolls back, so the retry runs afresh.
 */
export async function runIdempotent(
  db: Db, secretKey: Buffer, request: FastifyRequest, reply: FastifyReply, options: IdempotencyOptions,
  operation: (tx: Queryable) => Promise<IdempotentResult>,
): Promise<FastifyReply> {
  const key = idempotencyKeyOf(request);
  const fingerprint = requestFingerprint(secretKey, request);
  const outcome = await db.transaction(async (tx) => {
    const stored = await claimKey(tx, options.scope, key, fingerprint);
    if (stored) return { replayed: true as const, row: stored };
    await tx.query('SAVEPOINT idempotent_operation');
    let answer: { status: number; body: string };
    try {
      const result = await operation(tx);
      answer = { status: result.status, body: JSON.stringify(result.body) };
    } catch (err) {
      answer = await answerFromError(tx, err, request.url);
    }
    await storeAnswer(tx, secretKey, { ...options, key }, answer.status, answer.body);
    return { replayed: false as const, ...answer };
  });
  if (outcome.replayed) return replay(reply, secretKey, outcome.row, fingerprint);
  return sendRaw(reply, outcome.status, outcome.body);
}

function sendRaw(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).type(status >= 400 ? PROBLEM_CONTENT_TYPE : JSON_CONTENT_TYPE).send(body);
}

/**
 * For flows that call a bank between transactions (charges, withdrawals). `prepare` runs in the same
 * transaction that claims the key and commits with it, the key still marked in progress (status 0);
 * `execute` then runs outside any transaction and its answer is stored under the key. A concurrent
 * duplicate meanwhile gets 409 in-progress. If the process dies in between, the key stays in progress
 * until the reconciler settles the movement and stores the answer (completeIdempotentKey).
 */
export async function runIdempotentFlow<S>(
  db: Db, secretKey: Buffer, request: FastifyRequest, reply: FastifyReply, options: IdempotencyOptions & { key?: string },
  flow: {
    prepare(tx: Queryable, key: string): Promise<S>;
    execute(state: S): Promise<IdempotentResult>;
    /** execute left nothing behind that another process will finish: on a failure, free the key for a retry. */
    releaseKeyOnFailure?: boolean;
  },
): Promise<FastifyReply> {
  const key = options.key ?? idempotencyKeyOf(request);
  const fingerprint = requestFingerprint(secretKey, request);
  const prepared = await db.transaction(async (tx) => {
    const stored = await claimKey(tx, options.scope, key, fingerprint);
    if (stored) return { kind: 'replay' as const, row: stored };
    await tx.query('SAVEPOINT idempotent_operation');
    try {
      return { kind: 'prepared' as const, state: await flow.prepare(tx, key) };
    } catch (err) {
      const answer = await answerFromError(tx, err, request.url);
      await storeAnswer(tx, secretKey, { ...options, key }, answer.status, answer.body);
      return { kind: 'answered' as const, ...answer };
    }
  });
  if (prepared.kind === 'replay') return replay(reply, secretKey, prepared.row, fingerprint);
  if (prepared.kind === 'answered') return sendRaw(reply, prepared.status, prepared.body);

  let status: number;
  let body: string;
  try {
    const result = await flow.execute(prepared.state);
    status = result.status;
    body = JSON.stringify(result.body);
  } catch (err) {
    if (!(err instanceof KozaError) || err.status >= 500 || err.retryable) {
      if (flow.releaseKeyOnFailure) {
        await db.query('DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND response_status = 0', [options.scope, key]);
      }
      throw err;
    }
    status = err.status;
    body = JSON.stringify(problemFromKozaError(err, request.url));
  }
  await completeIdempotentKey(db, secretKey, { ...options, key }, status, body);
  return sendRaw(reply, status, body);
}

/**
 * Stores the answer of an in-progress key (once: a key already answered keeps its first answer). With
 * `replaceAccepted`, a key that answered 202 (accepted, outcome pending) takes the final answer too: a retry of a
 * charge that was pending or held then learns how it ended instead of "still pending" forever.
 */
export async function completeIdempotentKey(
  q: Queryable, secretKey: Buffer, target: { scope: string; key: string; sensitive?: boolean; replaceAccepted?: boolean },
  status: number, body: string,
): Promise<void> {
  const sealed = target.sensitive === true;
  await q.query(
    `UPDATE idempotency_keys SET response_status = $3, response_body = $4, response_encrypted = $5
      WHERE scope = $1 AND key = $2 AND (response_status = 0 OR ($6 AND response_status = 202))`,
    [target.scope, target.key, status, sealed ? seal(secretKey, body) : body, sealed, target.replaceAccepted === true]);
}

async function storeAnswer(
  q: Queryable, secretKey: Buffer, target: { scope: string; key: string; sensitive?: boolean }, status: number, body: string,
): Promise<void> {
  const sealed = target.sensitive === true;
  await q.query(
    `UPDATE idempotency_keys SET response_status = $3, response_body = $4, response_encrypted = $5 WHERE scope = $1 AND key = $2`,
    [target.scope, target.key, status, sealed ? seal(secretKey, body) : body, sealed]);
}

function replay(reply: FastifyReply, secretKey: Buffer, row: StoredRow, fingerprint: string): FastifyReply {
  if (row.request_fingerprint !== fingerprint) {
    throw new IdempotencyKeyReused('Use a new Idempotency-Key for a new request; a key names one request only.');
  }
  if (row.response_status === 0) throw new IdempotencyKeyInProgress('Retry after the first request has finished.');
  const body = row.response_encrypted ? unseal(secretKey, row.response_body) : row.response_body;
  return sendRaw(reply.header('idempotent-replayed', 'true'), row.response_status, body);
}
