// Owns Idempotency-Key at a sandbox bank: per bank, the first answer to a key is kept and replayed; the same key with
// another request is idempotency_conflict. Must never carry out one key twice: key row and work commit together.
import type { Db, Queryable } from '../../store/db.js';
import { keyedHash, seal, unseal } from '../../identity/secrets.js';
import { BankError, bankProblem } from './errors.js';

export interface Answer {
  status: number;
  body: unknown;
}

interface StoredAnswer {
  request_hash: string;
  status_code: number;
  response: unknown;
}

/** Keyed, so a stored fingerprint of a body with a 4-digit PIN in it is no offline oracle for the PIN. */
export function requestHash(secretKey: Buffer, method: string, path: string, rawBody: string | undefined): string {
  return keyedHash(secretKey, method, path, rawBody ?? '');
}

/**
 * Runs op once per (bank, key). Concurrent duplicates queue on the key's insert and then replay the winner's answer.
 * A refusal that is itself state (a wrong PIN counted) is committed and replayed like a success; any other refusal
 * rolls back and keeps nothing, so the same retry is carried out again. An answer carrying a secret (a link token) is
 * kept sealed (`sealWith`), never in clear beside the token's hash.
 */
export async function runIdempotent(
  db: Db, scope: { bankCode: string; key: string; requestHash: string; now: Date }, op: (tx: Queryable) => Promise<Answer>,
  options: { sealWith?: Buffer } = {},
): Promise<Answer> {
  return db.transaction(async (tx) => {
    const claimed = await tx.query(
      `INSERT INTO idempotent_requests (bank_code, idempotency_key, request_hash, status_code, response, created_at)
       VALUES ($1, $2, $3, 0, NULL, $4) ON CONFLICT DO NOTHING`,
      [scope.bankCode, scope.key, scope.requestHash, scope.now]);
    if (claimed.rowCount === 0) {
      const stored = (await tx.query<StoredAnswer>(
        'SELECT request_hash, status_code, response FROM idempotent_requests WHERE bank_code = $1 AND idempotency_key = $2',
        [scope.bankCode, scope.key])).rows[0]!;
      if (stored.request_hash !== scope.requestHash) {
        throw new BankError('idempotency_conflict', 'This Idempotency-Key was used for a different request.');
      }
      const sealed = (stored.response as { sealed?: unknown } | null)?.sealed;
      const body = typeof sealed === 'string' && options.sealWith ? JSON.parse(unseal(options.sealWith, sealed)) as unknown : stored.response;
      return { status: stored.status_code, body };
    }
    let answer: Answer;
    try {
      answer = await op(tx);
    } catch (err) {
      if (!(err instanceof BankError && err.keepWrites)) throw err;
      answer = { status: err.status, body: bankProblem(err) };
    }
    await tx.query(
      'UPDATE idempotent_requests SET status_code = $3, response = $4 WHERE bank_code = $1 AND idempotency_key = $2',
      [scope.bankCode, scope.key, answer.status,
        JSON.stringify(options.sealWith ? { sealed: seal(options.sealWith, JSON.stringify(answer.body)) } : answer.body)]);
    return answer;
  });
}
