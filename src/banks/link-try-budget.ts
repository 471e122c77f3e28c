// Owns koza's budget of PIN tries on one typed bank account across every wallet (issue 10, "no oracles"): tries stop
// well before the bank's lock. Must never ask the bank again once the budget is spent, nor tell which PIN was wrong.
import type { TypedAccountTries } from './link-store.js';
import { LinkAccountBusy, LinkTriesExhausted } from './link-errors.js';

/**
 * Requests with a refused completion, per typed account, that koza lets reach the bank. The bank counts a wrong PIN
 * once per request and locks at 5 (docs/bank-protocol.md, v2); koza counts every refused request (a wrong code too),
 * so the bank sees at most 3 wrong PINs through koza. An honest holder who mistypes once or twice stays below it.
 */
export const LINK_TRY_LIMIT = 3;
/**
 * How long a failure counts, unless the bank accepts the account's PIN and code before (the bank forgets its
 * failures then too). Long, because the bank does not forget otherwise: a patient attacker must wait 90 days for
 * each further try.
 */
export const LINK_TRY_WINDOW_DAYS = 90;

const DAY_MS = 86_400_000;

export type TryVerdict =
  | { kind: 'allow' }
  /** The budget is spent: no try before `triesAgainAt`. */
  | { kind: 'exhausted'; triesAgainAt: Date }
  /** Other tries on the account are at the bank now and may spend the budget: try again in a minute. */
  | { kind: 'busy' };

export function tryWindowStart(now: Date): Date {
  return new Date(now.getTime() - LINK_TRY_WINDOW_DAYS * DAY_MS);
}

/**
 * start: refused once the budget is spent (nothing is sent that the bank counts, but the customer would be asked
 * for a code that can never be redeemed). complete: a request that already failed once costs the bank nothing more
 * (one wrong PIN per request); any other counts as a failure in advance, with the others in flight.
 */
export function judgeTries(tries: TypedAccountTries, phase: 'start' | 'complete', requestFailedBefore = false): TryVerdict {
  if (phase === 'complete' && requestFailedBefore) return { kind: 'allow' };
  const failed = tries.failedAt.length;
  if (failed >= LINK_TRY_LIMIT) {
    // The budget comes back when enough of the counted failures leave the window.
    const freeing = tries.failedAt[failed - LINK_TRY_LIMIT]!;
    return { kind: 'exhausted', triesAgainAt: new Date(freeing.getTime() + LINK_TRY_WINDOW_DAYS * DAY_MS) };
  }
  if (phase === 'complete' && failed + tries.inFlight >= LINK_TRY_LIMIT) return { kind: 'busy' };
  return { kind: 'allow' };
}

function jst(date: Date): string {
  return `${new Date(date.getTime() + 9 * 3_600_000).toISOString().slice(0, 16).replace('T', ' ')} JST`;
}

/** The refusal an honest holder can act on: the bank's own sign-in, or the bank itself; never which PIN was wrong. */
export function assertTriesLeft(verdict: TryVerdict, redirectOffered: boolean | null): void {
  if (verdict.kind === 'allow') return;
  if (verdict.kind === 'busy') {
    throw new LinkAccountBusy('Another try to link this bank account is being checked by the bank. Try again in a minute.');
  }
  const other = redirectOffered === false
    ? 'Your bank does not offer linking through its own sign-in: ask your bank to check the PIN and the phone it holds for this account'
    : redirectOffered === true
      ? 'If the account is yours, link it through your bank\'s own sign-in instead (method "redirect"), or ask your bank to check the '
        + 'PIN and the phone it holds for this account'
      : 'If the account is yours, link it through your bank\'s own sign-in (method "redirect") if your bank offers it (GET /v1/banks), '
        + 'or ask your bank to check the PIN and the phone it holds for this account';
  throw new LinkTriesExhausted(`Several recent tries to link this bank account with its PIN failed, so koza will not ask the bank `
    + `again before ${jst(verdict.triesAgainAt)}: one more wrong PIN could get the account locked at the bank. ${other}; `
    + 'koza support can help.', { tries_again_at: verdict.triesAgainAt.toISOString(), redirect_offered: redirectOffered });
}
