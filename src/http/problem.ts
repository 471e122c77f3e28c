// Owns the translation of errors into RFC 9457 problem+json bodies.
// Must never put a stack trace, a SQL text or a secret into a body; unknown errors become a bare 500.
import { KozaError } from '../errors.js';
import { withRetryAfter } from './retry-after.js';
import { withNextStep } from './next-steps.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export function problemType(code: string): string {
  return `urn:koza:problem:${code}`;
}

/** The problem a koza error becomes, with `message` and `next_step` in Japanese and English (next-steps.ts). */
export function problemFromKozaError(err: KozaError, instance: string): Problem {
  return withNextStep({
    ...err.extensions,
    type: problemType(err.code),
    title: err.title,
    status: err.status,
    detail: err.detail,
    instance,
  });
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: Array<{ instancePath?: string; message?: string; params?: Record<string, unknown> }>;
  validationContext?: string;
}

/**
 * Turns any error into a problem and the status to send; every 429 says when to come back (retry-after.ts), and every
 * problem what to do next in Japanese and English, worded after the 429's time is known (next-steps.ts).
 */
export function toProblem(err: unknown, instance: string, now: Date = new Date()): Problem {
  return withNextStep(withRetryAfter(problemOf(err, instance), now));
}

function problemOf(err: unknown, instance: string): Problem {
  if (err instanceof KozaError) return problemFromKozaError(err, instance);
  const e = err as FastifyLikeError;
  if (Array.isArray(e.validation)) {
    const where = e.validationContext ?? 'body';
    return {
      type: problemType('invalid-request'),
      title: 'The request is not valid',
      status: 400,
      detail: `The ${where} does not match the schema.`,
      instance,
      errors: e.validation.map((v) => ({
        location: where,
        pointer: v.instancePath || '/',
        message: v.params && 'additionalProperty' in v.params
          ? `unknown field ${JSON.stringify(v.params.additionalProperty)}`
          : v.message ?? 'is not valid',
      })),
    };
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { type: problemType('payload-too-large'), title: 'The request body is too large', status: 413, instance };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { type: problemType('unsupported-media-type'), title: 'The request body must be application/json', status: 415, instance };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { type: problemType('invalid-request'), title: 'The request is not valid', status: 400, detail: 'The JSON body is empty.', instance };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { type: problemType('invalid-request'), title: 'The request is not valid', status: 400, detail: 'The body is not valid JSON.', instance };
    default:
      break;
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // JSON syntax errors, prototype poisoning and the like: Fastify's message names no secret.
    return {
      type: problemType(e.statusCode === 429 ? 'rate-limited' : 'invalid-request'),
      title: e.statusCode === 429 ? 'Too many requests' : 'The request is not valid',
      status: e.statusCode,
      // Never echo the parser's message: Node's JSON errors quote the body, which may hold a password.
      detail: e.statusCode === 400 ? 'The body could not be parsed as JSON.' : 'The request was refused.',
      instance,
    };
  }
  return { type: problemType('internal'), title: 'Internal error', status: 500, instance };
}
