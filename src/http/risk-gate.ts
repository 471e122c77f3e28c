// Owns how a route without money of its own (sign-up, sign-in, factor and profile changes, identity submissions,
// payments) asks the risk hook and acts on the answer (SPEC §7): deny refuses with a problem that says what to do
// and never which rule; review goes on and leaves the alert the engine opened for an analyst; challenge is left
// to the caller, which knows what a step-up would bind to.
// Must never let a refusal roll back the decision and counters that caused it (a refused attempt is what the next
// decision must count), nor tell the customer a rule's name.
import type { FastifyRequest } from 'fastify';
import type { Queryable } from '../store/db.js';
import { createError, type KozaError } from '../errors.js';
import type { RiskDecision, RiskEvent } from '../risk/hook.js';
import { riskDeviceKey } from '../risk/device-key.js';
import { clientInfo, type Ctx } from './context.js';

const REFUSALS = {
  signup: createError('signup-refused', 403, 'A wallet cannot be opened this way', { keepWrites: true }),
  login: createError('login-refused', 403, 'Signing in is not possible right now', { keepWrites: true }),
  factor_change: createError('factor-change-refused', 403, 'This security change cannot be made now', { keepWrites: true }),
  kyc_submit: createError('identity-submission-refused', 403, 'This identity submission cannot be accepted', { keepWrites: true }),
  profile_change: createError('profile-change-refused', 403, 'This change cannot be made now', { keepWrites: true }),
  payment: createError('payment-refused', 403, 'This payment cannot be made', { keepWrites: true }),
} as const;

export type GatedEventKind = keyof typeof REFUSALS;

export const PaymentRefused = REFUSALS.payment;

/** What the customer reads: what to do next, nothing about why. */
const ADVICE: Record<GatedEventKind, string> = {
  signup: 'Use an e-mail address you keep, on your own device; if this keeps happening, contact koza support.',
  login: 'Contact koza support to get back into your wallet.',
  factor_change: 'Contact koza support; your existing sign-in and security settings are unchanged.',
  kyc_submit: 'Contact koza support to finish verifying your identity.',
  profile_change: 'Contact koza support to change your details.',
  payment: 'Nothing was paid. If you think this is a mistake, contact koza support.',
};

/** The network address and the client's device id (never the user agent alone: see docs/device-signal.md). */
export function riskClient(request: FastifyRequest): Pick<RiskEvent, 'ip' | 'deviceKey'> {
  const device = riskDeviceKey(clientInfo(request));
  return { ip: request.ip, ...(device ? { deviceKey: device } : {}) };
}

/**
 * Asks the risk hook inside the caller's transaction and refuses on deny. Returns the decision: review and challenge
 * come back to the caller (review: go on, the engine's alert is open; challenge: the caller's step-up, if any).
 */
export async function gateOnRisk(
  ctx: Ctx, request: FastifyRequest, tx: Queryable, event: Omit<RiskEvent, 'ip' | 'deviceKey'> & { kind: GatedEventKind },
): Promise<RiskDecision> {
  const decision = await ctx.risk({ ...riskClient(request), ...event }, tx);
  if (decision.action === 'deny') {
    const refusal: KozaError = new REFUSALS[event.kind](ADVICE[event.kind]);
    throw refusal;
  }
  return decision;
}
