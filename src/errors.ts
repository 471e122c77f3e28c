// Owns koza's error vocabulary: every error a client can cause is a class with a stable code and status.
// Must never carry a secret in its message or extensions; the HTTP layer prints both to clients.

export interface ProblemExtensions {
  [key: string]: unknown;
}

export class KozaError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly extensions: ProblemExtensions;
  /**
   * The failure is itself state to keep (a wrong one-time code counts against its attempt limit), so
   * what the operation wrote before failing is committed, not rolled back.
   */
  keepWrites = false;
  /**
   * The answer depends on the moment, not on the request (throttling): it is not kept under the
   * Idempotency-Key, so the same retry later is carried out.
   */
  retryable = false;

  constructor(code: string, status: number, title: string, detail?: string, extensions: ProblemExtensions = {}) {
    super(detail ?? title);
    this.name = 'KozaError';
    this.code = code;
    this.status = status;
    this.title = title;
    this.extensions = extensions;
  }

  get detail(): string {
    return this.message;
  }
}

export interface KozaErrorClass<E extends ProblemExtensions> {
  new (detail?: string, extensions?: E): KozaError;
  readonly code: string;
  readonly status: number;
}

/** What createError knows of each code: the next-step catalogue (src/http/next-steps.ts) must cover every one. */
export interface RegisteredProblem {
  code: string;
  status: number;
  title: string;
}

const REGISTERED = new Map<string, RegisteredProblem>();

/** Every code a createError made so far (the modules that define them must have been imported). */
export function registeredProblems(): RegisteredProblem[] {
  return [...REGISTERED.values()];
}

/** Makes an error class with a stable code (the problem type), an HTTP status and a title (Directus createError). */
export function createError<E extends ProblemExtensions = ProblemExtensions>(
  code: string,
  status: number,
  title: string,
  options: { keepWrites?: boolean; retryable?: boolean } = {},
): KozaErrorClass<E> {
  // One code, one meaning: a second definition (the same code in two modules) shares the first's entry.
  if (!REGISTERED.has(code)) REGISTERED.set(code, { code, status, title });
  const cls = class extends KozaError {
    static readonly code = code;
    static readonly status = status;
    constructor(detail?: string, extensions?: E) {
      super(code, status, title, detail, extensions ?? {});
      this.keepWrites = options.keepWrites ?? false;
      // A 429 is always about the moment (a throttle, a lock with an end): never kept under the key, and always
      // through the one error handler that adds Retry-After and the JST time (src/http/retry-after.ts).
      this.retryable = options.retryable ?? status === 429;
    }
  };
  Object.defineProperty(cls, 'name', { value: `${code.replace(/(^|-)(\w)/g, (_, __, c: string) => c.toUpperCase())}Error` });
  return cls;
}

/**
 * What every throttle (a 429) puts in its extensions: how long until it lifts. The HTTP layer adds the instant, the JST
 * time and the Retry-After header from it (src/http/retry-after.ts); at least one second (0 invites a hot loop).
 */
export function retryIn(seconds: number): { retry_after_s: number } {
  return { retry_after_s: Math.max(1, Math.ceil(seconds)) };
}

/** Seconds from now until `at`, for retryIn. */
export function secondsUntil(at: Date, now: Date = new Date()): number {
  return Math.max(1, Math.ceil((at.getTime() - now.getTime()) / 1000));
}

export const InvalidRequest = createError('invalid-request', 400, 'The request is not valid');
export const Unauthenticated = createError('unauthenticated', 401, 'Authentication is required');
export const Forbidden = createError('forbidden', 403, 'This action is not allowed');
export const NotFound = createError('not-found', 404, 'Not found');
export const Conflict = createError('conflict', 409, 'The request conflicts with the current state');
export const PayloadTooLarge = createError('payload-too-large', 413, 'The request body is too large');
export const UnsupportedMediaType = createError('unsupported-media-type', 415, 'The request body must be application/json');
export const Unprocessable = createError('unprocessable', 422, 'The request cannot be carried out');
export const RateLimited = createError('rate-limited', 429, 'Too many requests');
export const IdempotencyKeyRequired = createError('idempotency-key-required', 400, 'An Idempotency-Key header is required');
export const IdempotencyKeyReused = createError('idempotency-key-reused', 422, 'This Idempotency-Key was used for a different request');
export const IdempotencyKeyInProgress = createError('idempotency-key-in-progress', 409, 'A request with this Idempotency-Key is still being processed');
export const InsufficientFunds = createError('insufficient-funds', 422, 'The wallet balance is too low');
export const SandboxOnly = createError('sandbox-only', 403, 'This endpoint exists only in sandbox mode');

/**
 * Runs a check whose koza refusal must keep what the operation wrote before it: a missing or wrong step-up proof
 * refuses the movement but keeps the risk decision (and counters) that asked for it, so its retry counts with it.
 */
export async function keepingWrites(check: Promise<void>): Promise<void> {
  try {
    await check;
  } catch (err) {
    if (err instanceof KozaError) err.keepWrites = true;
    throw err;
  }
}
