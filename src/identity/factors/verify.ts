// Owns checking a second factor the customer presents (TOTP code, passkey assertion, recovery code), with lockout.
// Must never check a locked factor, never say which part of a check failed, and always count a wrong try.
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { Queryable } from '../../store/db.js';
import { createError } from '../../errors.js';
import { recordRiskSignal } from '../../risk/signals.js';
import { unseal } from '../secrets.js';
import { afterFailure, afterSuccess, isLocked, type LockoutState } from './lockout.js';
import { checkTotpCode } from './totp.js';
import { verifyPasskeyAssertion, type RelyingParty } from './passkeys.js';
import { hashRecoveryCode, normalizeRecoveryCode } from './recovery-codes.js';
import { cancelResetOnFactorUse } from './reset-cancel.js';
import {
  findActivePasskey, listActiveFactors, liveRecoveryBatch, recordFactorUse, saveBatchLockout, saveLockout,
  spendRecoveryCode, updateSignCount, type Factor,
} from './store.js';

export const SecondFactorLocked = createError<{ locked_until: string }>(
  'second-factor-locked', 429, 'This second factor is locked after too many wrong tries');
/** One refusal for every factor and every reason (SPEC §3: an error never says which factor was wrong); the count is kept. */
export const SecondFactorRejected = createError<{ attempts_left?: number }>(
  'second-factor-rejected', 422, 'The second factor was not accepted', { keepWrites: true });
export const SecondFactorNotEnrolled = createError('second-factor-not-enrolled', 409, 'This kind of second factor is not enrolled');

export type FactorMethod = 'totp' | 'passkey' | 'recovery_code';

export type Presentation =
  | { method: 'totp'; code: string }
  | { method: 'passkey'; credential: AuthenticationResponseJSON }
  | { method: 'recovery_code'; code: string };

export interface VerifyEnv {
  secretKey: Buffer;
  rp: RelyingParty;
  now: Date;
}

/** ok: the factor that answered (null for a recovery code). Not ok: the try was counted. */
export type Verdict = { ok: true; factorId: string | null } | { ok: false };

function assertUnlocked(lockout: LockoutState, now: Date): void {
  if (isLocked(lockout, now)) {
    throw new SecondFactorLocked('Too many wrong tries. Wait until the lock ends, or use another factor.',
      { locked_until: lockout.lockedUntil!.toISOString() });
  }
}

/** Counts a wrong try; the fifth in a row locks and raises a risk signal (SPEC §3: lockouts alert). */
async function countFailure(
  q: Queryable, walletId: string, subject: { kind: string; id: string; lockout: LockoutState }, now: Date,
  save: (state: LockoutState) => Promise<void>,
): Promise<void> {
  const { state, lockedNow } = afterFailure(subject.lockout, now);
  await save(state);
  if (lockedNow) {
    await recordRiskSignal(q, { walletId, kind: 'second_factor_locked', detail: {
      factor_kind: subject.kind, factor_id: subject.id, lockouts: state.lockouts, locked_until: state.lockedUntil!.toISOString(),
    } });
  }
}

/** Checks a TOTP code against one factor (pending at enrolment, active afterwards). */
export async function checkTotpFactor(q: Queryable, env: VerifyEnv, factor: Factor, code: string): Promise<boolean> {
  assertUnlocked(factor.lockout, env.now);
  const result = checkTotpCode({
    secretBase32: unseal(env.secretKey, factor.totpSecretSealed!), code, nowMs: env.now.getTime(), lastUsedStep: factor.totpLastStep,
  });
  if (!result.ok) {
    await countFailure(q, factor.walletId, factor, env.now, (s) => saveLockout(q, factor.id, s));
    return false;
  }
  await recordFactorUse(q, factor.id, env.now, result.step);
  return true;
}

/**
 * Checks what the customer presented as a second factor. expectedWebauthnChallenge is the challenge a
 * passkey must have signed (for step-up, derived from what is being approved).
 */
export async function verifyPresentation(
  q: Queryable, env: VerifyEnv, input: { walletId: string; presentation: Presentation; expectedWebauthnChallenge: string },
): Promise<Verdict> {
  const verdict = await checkPresentation(q, env, input);
  // Whoever holds a factor needs no factor reset: its use stops one in progress (a thief's, or one no longer needed).
  if (verdict.ok) await cancelResetOnFactorUse(q, input.walletId, env.now);
  return verdict;
}

async function checkPresentation(
  q: Queryable, env: VerifyEnv, input: { walletId: string; presentation: Presentation; expectedWebauthnChallenge: string },
): Promise<Verdict> {
  const { walletId, presentation } = input;
  switch (presentation.method) {
    case 'totp': {
      const [factor] = await listActiveFactors(q, walletId, { kind: 'totp', lock: true });
      if (!factor) throw new SecondFactorNotEnrolled('This wallet has no authenticator app enrolled; use another factor.');
      return (await checkTotpFactor(q, env, factor, presentation.code)) ? { ok: true, factorId: factor.id } : { ok: false };
    }
    case 'passkey': {
      const passkeys = await listActiveFactors(q, walletId, { kind: 'passkey', lock: true });
      if (passkeys.length === 0) throw new SecondFactorNotEnrolled('This wallet has no passkey enrolled; use another factor.');
      // An unknown credential id is a wrong answer, not a different error: ids of other wallets' keys stay unconfirmed.
      const passkey = await findActivePasskey(q, walletId, presentation.credential.id);
      const factor = passkey && passkeys.find((f) => f.id === passkey.factorId);
      if (!passkey || !factor) return { ok: false };
      assertUnlocked(factor.lockout, env.now);
      const verified = await verifyPasskeyAssertion(env.rp, {
        response: presentation.credential, expectedChallenge: input.expectedWebauthnChallenge, passkey,
      });
      if (!verified) {
        await countFailure(q, walletId, factor, env.now, (s) => saveLockout(q, factor.id, s));
        return { ok: false };
      }
      await updateSignCount(q, factor.id, verified.newSignCount);
      await recordFactorUse(q, factor.id, env.now);
      return { ok: true, factorId: factor.id };
    }
    case 'recovery_code': {
      const batch = await liveRecoveryBatch(q, walletId, true);
      if (!batch) throw new SecondFactorNotEnrolled('This wallet has no recovery codes; use another factor.');
      assertUnlocked(batch.lockout, env.now);
      const code = normalizeRecoveryCode(presentation.code);
      const spent = code !== null && await spendRecoveryCode(q, batch.id, hashRecoveryCode(env.secretKey, batch.id, code), env.now);
      if (!spent) {
        await countFailure(q, walletId, { kind: 'recovery_code', id: batch.id, lockout: batch.lockout }, env.now,
          (s) => saveBatchLockout(q, batch.id, s));
        return { ok: false };
      }
      await saveBatchLockout(q, batch.id, afterSuccess());
      await recordRiskSignal(q, { walletId, kind: 'recovery_code_used', detail: { remaining: batch.remaining - 1 } });
      return { ok: true, factorId: null };
    }
  }
}
