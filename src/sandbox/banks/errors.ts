// Owns the bank sandbox's refusals: each a protocol error code (banks/protocol.ts BankErrorCode) with its HTTP status,
// turned into RFC 9457 problems. Must never say which of PIN or OTP was wrong, nor echo a secret in a detail.
import type { BankErrorCode, BankProblem } from '../../banks/protocol.js';

const TITLES: Record<BankErrorCode, { status: number; title: string }> = {
  unauthorized_signature: { status: 401, title: 'The request is not signed with koza\'s key for this bank' },
  invalid_request: { status: 400, title: 'The request is not valid' },
  invalid_credentials: { status: 401, title: 'The account credentials or the one-time code are not right' },
  credentials_locked: { status: 423, title: 'Too many wrong PINs: the account is locked for linking' },
  method_not_supported: { status: 400, title: 'This bank does not offer this link method' },
  link_request_expired: { status: 410, title: 'The link request has expired or was already used' },
  invalid_grant: { status: 400, title: 'The authorization code is not valid' },
  link_not_found: { status: 404, title: 'No such link' },
  transfer_not_found: { status: 404, title: 'No transfer with this reference' },
  idempotency_conflict: { status: 409, title: 'This Idempotency-Key or reference was used for a different request' },
  unavailable: { status: 503, title: 'The bank is unavailable' },
};

export class BankError extends Error {
  readonly code: BankErrorCode;
  readonly status: number;
  readonly title: string;
  /** The refusal is itself state to keep (a wrong PIN counts towards the lock), so writes before it commit. */
  readonly keepWrites: boolean;

  constructor(code: BankErrorCode, detail?: string, options: { keepWrites?: boolean; status?: number } = {}) {
    const known = TITLES[code];
    super(detail ?? known.title);
    this.name = 'BankError';
    this.code = code;
    this.status = options.status ?? known.status;
    this.title = known.title;
    this.keepWrites = options.keepWrites ?? false;
  }
}

export function bankProblem(err: BankError): BankProblem {
  return { type: `urn:koza:bank-problem:${err.code}`, title: err.title, status: err.status, code: err.code, detail: err.message };
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  validation?: unknown[];
  validationContext?: string;
}

/** Any error as a bank problem: schema failures are invalid_request; anything unexpected a bare 500. */
export function toBankProblem(err: unknown): BankProblem {
  if (err instanceof BankError) return bankProblem(err);
  const e = err as FastifyLikeError;
  if (Array.isArray(e.validation)) {
    return bankProblem(new BankError('invalid_request', `The ${e.validationContext ?? 'body'} does not match the schema.`));
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return bankProblem(new BankError('invalid_request', 'The body must be application/json.', { status: 415 }));
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Never the parser's own message: Node's JSON errors quote the body, which may hold a PIN.
    return bankProblem(new BankError('invalid_request', 'The request was refused.', { status: e.statusCode }));
  }
  return { type: 'urn:koza:bank-problem:internal', title: 'Internal error', status: 500, code: 'unavailable' };
}
