// Owns the lockout rule for second factors (SPEC §3): 5 wrong tries in a row lock the factor, repeated locks last longer.
// Must never unlock early, nor let a lock be reached by anything but counted failures; no SQL, no HTTP.

export interface LockoutState {
  consecutiveFailures: number;
  lockedUntil: Date | null;
  /** Locks since the last success; each one lasts longer than the one before. */
  lockouts: number;
}

/** Five tries, as PSD2's RTS (Art. 4(3)(b)) allows for authentication codes before blocking. */
export const FACTOR_MAX_FAILURES = 5;
/** The first lock: long enough to make guessing slow, short enough for a customer who mistyped. */
export const FIRST_LOCK_MINUTES = 15;
/** Each further lock is four times the previous one (15 min, 1 h, 4 h, 16 h), up to a day. */
export const LOCK_GROWTH = 4;
export const MAX_LOCK_MINUTES = 24 * 60;

export function lockMinutes(lockoutNumber: number): number {
  return Math.min(FIRST_LOCK_MINUTES * LOCK_GROWTH ** Math.max(0, lockoutNumber - 1), MAX_LOCK_MINUTES);
}

export function isLocked(state: LockoutState, now: Date): boolean {
  return state.lockedUntil !== null && state.lockedUntil.getTime() > now.getTime();
}

/** One more wrong try; the fifth in a row locks, and the count starts again once the lock ends. */
export function afterFailure(state: LockoutState, now: Date): { state: LockoutState; lockedNow: boolean } {
  const failures = state.consecutiveFailures + 1;
  if (failures < FACTOR_MAX_FAILURES) return { state: { ...state, consecutiveFailures: failures }, lockedNow: false };
  const lockouts = state.lockouts + 1;
  return {
    state: { consecutiveFailures: 0, lockouts, lockedUntil: new Date(now.getTime() + lockMinutes(lockouts) * 60_000) },
    lockedNow: true,
  };
}

/** A success proves the holder: the count and the escalation start over. */
export function afterSuccess(): LockoutState {
  return { consecutiveFailures: 0, lockedUntil: null, lockouts: 0 };
}
