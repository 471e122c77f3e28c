// Owns koza's side of the partner-bank protocol v2 (SPEC §6): signed, idempotent, time-limited HTTP calls to a bank.
// Must never put a link token, PIN, OTP, code or body into an error or a log, nor turn "no answer" into "refused".
import {
  IDEMPOTENCY_HEADER, SIGNATURE_HEADER, type BankErrorCode, type BankProblem, type DirectoryEntry, type HolderNotificationBody,
  type HolderNotified, type LinkCompleteBody, type LinkCompleted, type LinkRequestBody, type LinkRequestCreated, type LinkRevoked,
  type LinkState, type ReturnBody, type ReturnResult, type Statement,
  type TransferBody, type TransferResult,
} from './protocol.js';
import { deriveBankKeyPair, signRequest, type BankKeyPair } from './signing.js';

/** Loopback sandbox answers in milliseconds; a real bank within a few seconds. Past this, koza stops waiting. */
export const DEFAULT_BANK_TIMEOUT_MS = 5_000;

/**
 * What came of one call. `answered` and `refused` are the bank's word; `unknown` means koza cannot tell whether
 * the bank acted (time-out, network error, 5xx, an unreadable answer): a money flow must then ask the bank
 * (getTransfer) or retry with the same Idempotency-Key, never assume either way.
 */
export type BankOutcome<T> =
  | { kind: 'answered'; status: number; value: T }
  | { kind: 'refused'; status: number; problem: BankProblem }
  | { kind: 'unknown'; reason: UnknownReason; status?: number };

export type UnknownReason = 'timeout' | 'network' | 'server_error' | 'invalid_response';

export interface CallOptions {
  /** Overrides the client's time-out for this call. */
  timeoutMs?: number;
  /** Aborts the call from outside (process shutdown); it then ends as unknown/timeout. */
  signal?: AbortSignal;
}

export interface BankClientOptions {
  /** The sandbox (or bank gateway) URL; each bank lives under {baseUrl}/banks/{bank_code}. */
  baseUrl: string;
  /** koza's key for a bank. Sandbox: derived from KOZA_BANK_KEY_SEED (see keysFromSeed). */
  keyFor: (bankCode: string) => BankKeyPair;
  timeoutMs?: number;
  /** Injected in tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

const BANK_CODE = /^\d{4}$/;

/** koza's per-bank keys derived from one seed, as the sandbox derives them (signing.ts); cached per bank. */
export function keysFromSeed(seed: string): (bankCode: string) => BankKeyPair {
  const cache = new Map<string, BankKeyPair>();
  return (bankCode) => {
    let key = cache.get(bankCode);
    if (!key) {
      key = deriveBankKeyPair(seed, bankCode);
      cache.set(bankCode, key);
    }
    return key;
  };
}

/** Refused answers that carry no problem body still get a stable code, from the status. */
function fallbackCode(status: number): BankErrorCode {
  if (status === 401 || status === 403) return 'unauthorized_signature';
  if (status === 404) return 'link_not_found';
  if (status === 409) return 'idempotency_conflict';
  return 'invalid_request';
}

function asProblem(status: number, body: unknown): BankProblem {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Partial<BankProblem>;
  return {
    type: typeof b.type === 'string' ? b.type : 'about:blank',
    title: typeof b.title === 'string' ? b.title.slice(0, 200) : 'Refused by the bank',
    status,
    code: typeof b.code === 'string' ? b.code : fallbackCode(status),
    ...(typeof b.detail === 'string' ? { detail: b.detail.slice(0, 500) } : {}),
  };
}

export class BankClient {
  private readonly baseUrl: string;
  private readonly keyFor: (bankCode: string) => BankKeyPair;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: BankClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.keyFor = options.keyFor;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_BANK_TIMEOUT_MS;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** The bank's base URL: also its OAuth issuer identifier (RFC 9207), which koza checks on every redirect link. */
  bankUrl(bankCode: string): string {
    return `${this.baseUrl}/banks/${bankCode}`;
  }

  /** Every bank of the sandbox or gateway: GET {baseUrl}/directory (unsigned: it names no bank to sign for). */
  directory(options: CallOptions = {}): Promise<BankOutcome<DirectoryEntry[]>> {
    return this.call<DirectoryEntry[]>(null, 'GET', `${this.baseUrl}/directory`, undefined, null, options);
  }

  createLinkRequest(bankCode: string, body: LinkRequestBody, idempotencyKey: string, options?: CallOptions)
    : Promise<BankOutcome<LinkRequestCreated>> {
    return this.bankCall(bankCode, 'POST', '/v2/link-requests', body, idempotencyKey, options);
  }

  completeLinkRequest(bankCode: string, linkRequestId: string, body: LinkCompleteBody, idempotencyKey: string, options?: CallOptions)
    : Promise<BankOutcome<LinkCompleted>> {
    return this.bankCall(bankCode, 'POST', `/v2/link-requests/${encodeURIComponent(linkRequestId)}/complete`, body, idempotencyKey, options);
  }

  /** Idempotent at the bank: revoking a revoked link answers { revoked: true } again. */
  revokeLink(bankCode: string, linkToken: string, idempotencyKey: string, options?: CallOptions): Promise<BankOutcome<LinkRevoked>> {
    return this.bankCall(bankCode, 'POST', `/v2/links/${encodeURIComponent(linkToken)}/revoke`, {}, idempotencyKey, options);
  }

  /**
   * A message to the holder through the bank's own channels (SPEC §5.3: the out-of-band message of day one); v2 answers
   * which channels carried it (a holder without an e-mail on file gets no e-mail).
   */
  notifyHolder(bankCode: string, body: HolderNotificationBody, idempotencyKey: string, options?: CallOptions)
    : Promise<BankOutcome<HolderNotified>> {
    return this.bankCall(bankCode, 'POST', '/v2/notifications', body, idempotencyKey, options);
  }

  /** v2: the link as the bank sees it now: the holder's confirmation, or a revocation (by the holder on the bank's page). */
  getLinkState(bankCode: string, linkToken: string, options?: CallOptions): Promise<BankOutcome<LinkState>> {
    return this.bankCall(bankCode, 'GET', `/v2/links/${encodeURIComponent(linkToken)}`, undefined, null, options);
  }

  /** Charge: takes money from the holder's account. A 200 with status 'rejected' is an answer, not a refusal. */
  debit(bankCode: string, body: TransferBody, idempotencyKey: string, options?: CallOptions): Promise<BankOutcome<TransferResult>> {
    return this.bankCall(bankCode, 'POST', '/v2/debits', body, idempotencyKey, options);
  }

  /** Withdrawal or compensation: pays money into the holder's account. */
  credit(bankCode: string, body: TransferBody, idempotencyKey: string, options?: CallOptions): Promise<BankOutcome<TransferResult>> {
    return this.bankCall(bankCode, 'POST', '/v2/credits', body, idempotencyKey, options);
  }

  /** §10: sends a pay-in received into koza's account back to its sender, once per transfer (the same reference replays). */
  returnTransfer(bankCode: string, body: ReturnBody, idempotencyKey: string, options?: CallOptions): Promise<BankOutcome<ReturnResult>> {
    return this.bankCall(bankCode, 'POST', '/v2/returns', body, idempotencyKey, options);
  }

  /** The bank's record of a movement; refused with code transfer_not_found when the bank never booked it. */
  getTransfer(bankCode: string, reference: string, options?: CallOptions): Promise<BankOutcome<TransferResult>> {
    return this.bankCall(bankCode, 'GET', `/v2/transfers/${encodeURIComponent(reference)}`, undefined, null, options);
  }

  /** Every koza debit and credit the bank booked on a JST day (yyyy-mm-dd). */
  async statement(bankCode: string, date: string, options?: CallOptions): Promise<BankOutcome<Statement>> {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError('statement date must be yyyy-mm-dd');
    return this.bankCall(bankCode, 'GET', `/v2/statements/${date}`, undefined, null, options);
  }

  private async bankCall<T>(
    bankCode: string, method: 'GET' | 'POST', path: string, body: unknown, idempotencyKey: string | null, options?: CallOptions,
  ): Promise<BankOutcome<T>> {
    // A code that is not four digits would let a caller point a signed request at another path.
    if (!BANK_CODE.test(bankCode)) throw new RangeError('bank code must be 4 digits');
    return this.call<T>(bankCode, method, `${this.bankUrl(bankCode)}${path}`, body, idempotencyKey, options ?? {});
  }

  private async call<T>(
    bankCode: string | null, method: 'GET' | 'POST', url: string, body: unknown, idempotencyKey: string | null, options: CallOptions,
  ): Promise<BankOutcome<T>> {
    const raw = body === undefined ? undefined : JSON.stringify(body);
    const parsedUrl = new URL(url);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (raw !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== null) headers[IDEMPOTENCY_HEADER] = idempotencyKey;
    if (bankCode !== null) {
      headers[SIGNATURE_HEADER] = await signRequest(this.keyFor(bankCode), {
        method, path: parsedUrl.pathname + parsedUrl.search, body: raw, idempotencyKey,
      });
    }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(parsedUrl, { method, headers, ...(raw === undefined ? {} : { body: raw }), signal, redirect: 'error' });
      text = await response.text();
    } catch (err) {
      // The error names no secret, but it is not passed on either: only which kind of failure it was.
      const aborted = (err as { name?: string }).name === 'TimeoutError' || (err as { name?: string }).name === 'AbortError' || signal.aborted;
      return { kind: 'unknown', reason: aborted ? 'timeout' : 'network' };
    }
    if (response.status >= 500) return { kind: 'unknown', reason: 'server_error', status: response.status };
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
      if (response.ok) return { kind: 'unknown', reason: 'invalid_response', status: response.status };
    }
    if (response.ok) {
      if (typeof parsed !== 'object' || parsed === null) return { kind: 'unknown', reason: 'invalid_response', status: response.status };
      return { kind: 'answered', status: response.status, value: parsed as T };
    }
    return { kind: 'refused', status: response.status, problem: asProblem(response.status, parsed) };
  }
}
