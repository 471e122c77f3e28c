// Owns what a step-up challenge binds (PSD2 RTS Art. 5, dynamic linking): an action, an amount and a destination.
// Must never let a binding be approximate: a proof for one amount or destination matches no other; no SQL, no HTTP.
import { createHash } from 'node:crypto';
import { InvalidRequest } from '../errors.js';
import type { Yen } from '../money.js';
import { formatYen } from '../display.js';

export const STEP_UP_ACTIONS = [
  'charge', 'payment', 'withdrawal', 'link', 'factor_enrollment', 'factor_removal', 'recovery_codes',
  'phone_change', 'email_change', 'factor_replacement',
] as const;
export type StepUpAction = (typeof STEP_UP_ACTIONS)[number];

export interface StepUpBinding {
  action: StepUpAction;
  amount: Yen | null;
  destination: string | null;
}

type Need = 'required' | 'forbidden';

/** Money actions bind amount and destination; the others bind what they change, or nothing. */
const RULES: Record<StepUpAction, { amount: Need; destination: Need; describe: (b: StepUpBinding) => string }> = {
  charge: { amount: 'required', destination: 'required', describe: (b) => `Charge ${yen(b.amount)} into your wallet from ${b.destination}` },
  payment: { amount: 'required', destination: 'required', describe: (b) => `Pay ${yen(b.amount)} to ${b.destination}` },
  withdrawal: { amount: 'required', destination: 'required', describe: (b) => `Withdraw ${yen(b.amount)} to ${b.destination}` },
  link: { amount: 'forbidden', destination: 'required', describe: (b) => `Link the bank account ${b.destination}` },
  factor_enrollment: { amount: 'forbidden', destination: 'forbidden', describe: () => 'Add a second factor to your wallet' },
  factor_removal: { amount: 'forbidden', destination: 'required', describe: (b) => `Remove the second factor ${b.destination}` },
  recovery_codes: { amount: 'forbidden', destination: 'forbidden', describe: () => 'Replace your recovery codes' },
  phone_change: { amount: 'forbidden', destination: 'forbidden', describe: () => 'Change the phone number of your wallet' },
  email_change: { amount: 'forbidden', destination: 'forbidden', describe: () => 'Change the e-mail address of your wallet' },
  // Moving the authenticator app to a new phone: bound to the app it retires, so the proof replaces that one only.
  factor_replacement: { amount: 'forbidden', destination: 'required', describe: (b) => `Replace the authenticator app ${b.destination}` },
};

function yen(amount: Yen | null): string {
  return formatYen(amount ?? 0);
}

/** Checks that the fields an action needs are there and no others; the amount is already a parsed Yen. */
export function stepUpBinding(input: { action: StepUpAction; amount?: Yen | undefined; destination?: string | undefined }): StepUpBinding {
  const rule = RULES[input.action];
  const amount = input.amount ?? null;
  const destination = input.destination ?? null;
  if ((rule.amount === 'required') !== (amount !== null)) {
    throw new InvalidRequest(`A ${input.action} step-up ${rule.amount === 'required' ? 'needs' : 'takes no'} amount.`);
  }
  if ((rule.destination === 'required') !== (destination !== null)) {
    throw new InvalidRequest(`A ${input.action} step-up ${rule.destination === 'required' ? 'needs' : 'takes no'} destination.`);
  }
  return { action: input.action, amount, destination };
}

/** What the customer is asked to approve, in words an authenticator prompt or the app can show. */
export function describeBinding(binding: StepUpBinding): string {
  return RULES[binding.action].describe(binding);
}

export function sameBinding(a: StepUpBinding, b: StepUpBinding): boolean {
  return a.action === b.action && a.amount === b.amount && a.destination === b.destination;
}

/**
 * The WebAuthn challenge for a step-up: a hash over the challenge id (128 random bits, so unpredictable)
 * and the binding. The authenticator signs it, so the signature covers this exact amount and destination.
 */
export function webauthnChallengeFor(challengeId: string, binding: StepUpBinding): string {
  const canonical = JSON.stringify(['koza-step-up/1', challengeId, binding.action, binding.amount, binding.destination]);
  return createHash('sha256').update(canonical).digest('base64url');
}
