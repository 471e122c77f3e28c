// Owns the rule for removing a second factor: a wallet with linked bank accounts keeps at least one (SPEC §5.3).
// Must never be bypassed by removing factors one by one; no SQL, no HTTP.
import { createError } from '../../errors.js';

export const LastFactorRequired = createError('last-factor-required', 409, 'The last second factor cannot be removed');

export interface RemovalContext {
  /** Active factors (TOTP, passkeys) left once this one is gone; recovery codes do not count. */
  remainingFactors: number;
  linkedBankAccounts: number;
}

/**
 * A bank link needs a second factor (SPEC §3), so the last one stays while any link exists. Later rules
 * (an open charge awaiting step-up, a frozen wallet) belong here too.
 */
export function assertFactorRemovable(context: RemovalContext): void {
  if (context.remainingFactors <= 0 && context.linkedBankAccounts > 0) {
    throw new LastFactorRequired('Your wallet has linked bank accounts, which need a second factor. To move your '
      + 'authenticator app to a new phone, replace it instead (POST /v1/factors/totp with replaces); or add a passkey first, or unlink the accounts.');
  }
}
