// Owns what every route needs: the database, the configuration, and who is calling.
// Must never accept a token from anywhere but the Authorization header.
import type { FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Db } from '../store/db.js';
import type { Config } from '../config.js';
import { Unauthenticated } from '../errors.js';
import { findActiveSession, type ActiveSession, type SessionPolicy } from '../identity/sessions.js';
import { clientInfoFrom, type ClientInfo } from '../identity/devices.js';
import { findMerchantByApiKey, type Merchant } from '../payments/merchants.js';
import type { Metrics } from './metrics.js';
import type { RiskDecider } from '../risk/hook.js';
import type { RuleSet } from '../risk/rules.js';
import type { BankClient } from '../banks/client.js';
import { assertRole, findOperatorByKey, type Operator, type OperatorRole } from '../operations/operators.js';

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

declare module 'fastify' {
  interface FastifyInstance {
    /** What the routes share (database, configuration, risk hook, bank client), for the process around the app. */
    koza: Ctx;
  }
}

export interface Ctx {
  db: Db;
  config: Config;
  metrics: Metrics;
  /** The risk hook every risky flow asks (src/risk/hook.ts). */
  risk: RiskDecider;
  /** The partner-bank client; null when no bank gateway or sandbox is configured. */
  banks: BankClient | null;
  /** The rule set in force (hot-reloaded under koza start); absent when the rule engine is off. */
  rules?: () => RuleSet;
}

function bearerToken(request: FastifyRequest, prefix: 'kzs' | 'kzm' | 'kzo'): string {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(header);
  if (!match || !match[1]!.startsWith(`${prefix}_`)) {
    throw new Unauthenticated({
      kzs: 'Send Authorization: Bearer <session token> from POST /v1/sessions.',
      kzm: 'Send Authorization: Bearer <merchant API key>.',
      kzo: 'Send Authorization: Bearer <operator API key> (koza operator create).',
    }[prefix]);
  }
  return match[1]!;
}

export function sessionPolicy(ctx: Ctx): SessionPolicy {
  return { idleMinutes: ctx.config.sessionIdleMinutes, absoluteHours: ctx.config.sessionAbsoluteHours };
}

/** The client's address and device signal: X-Device-Id or the koza_device cookie (docs/device-signal.md). */
export function clientInfo(request: FastifyRequest): ClientInfo {
  return clientInfoFrom(request.ip, request.headers);
}

export async function requireSession(ctx: Ctx, request: FastifyRequest): Promise<ActiveSession> {
  const session = await findActiveSession(ctx.db, sessionPolicy(ctx), bearerToken(request, 'kzs'));
  if (!session) throw new Unauthenticated('The session has expired or was signed out. Sign in again.');
  return session;
}

export async function requireMerchant(ctx: Ctx, request: FastifyRequest): Promise<Merchant> {
  const merchant = await findMerchantByApiKey(ctx.db, bearerToken(request, 'kzm'));
  if (!merchant) throw new Unauthenticated('The merchant API key is not valid.');
  return merchant;
}

/** An operator with one of the roles; 401 without a valid key, 403 with the wrong role. */
export async function requireOperator(ctx: Ctx, request: FastifyRequest, roles: OperatorRole[]): Promise<Operator> {
  const operator = await findOperatorByKey(ctx.db, bearerToken(request, 'kzo'));
  if (!operator) throw new Unauthenticated('The operator API key is not valid.');
  assertRole(operator, roles);
  return operator;
}
