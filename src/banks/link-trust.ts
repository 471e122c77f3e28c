// Owns graduated trust of bank accounts linked for charging (SPEC §5.3, issue 10): a new-link cap for the first hours,
// a cap for life on a link only a PIN and a text proved until its holder confirms it, then a ramp with age and clean
// history to the level's full limits. Must never count per link (re-linking resets nothing); no SQL, no HTTP.
import type { Config } from '../config.js';
import { linkPolicy } from './policy.js';
import type { LinkMethod } from './protocol.js';
import { formatJst, formatYen } from '../display.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** One step of the ramp: until `untilHours` of age, at most `per24hYen` per rolling 24 h. */
export interface TrustStep {
  untilHours: number;
  per24hYen: number;
}

/** What koza knows of one bank account as this person linked it, and what was charged from it (any wallet). */
export interface AccountTrustFacts {
  /** The first link of this bank account by this person (any of their wallets, revoked ones too): its age is the account's. */
  firstLinkedAt: Date;
  /** The link the charge uses. */
  method: LinkMethod;
  holderConfirmed: boolean;
  /** A holder revoke or report on the account, or a charge on it an analyst held or rejected: no ramp. */
  clean: boolean;
  /** Charges (not voided) from this bank account in the rolling 24 h before now, oldest first. */
  last24h: Array<{ at: Date; amount: number }>;
  /** Charges (not voided) from this bank account since firstLinkedAt, by this person. */
  totalSinceFirstLink: number;
}

export type TrustStage = 'new_link' | 'unconfirmed' | 'ramp' | 'full';

export interface TrustLimit {
  stage: TrustStage;
  /** Most per rolling 24 h; null: the level's limits alone. */
  per24hYen: number | null;
  /** Most in total since the first link (new-link window, or an unconfirmed link for life); null: no such cap. */
  totalYen: number | null;
  /** When the stage ends by age alone (null: it does not, e.g. unconfirmed, or full). */
  nextStageAt: Date | null;
}

export type TrustConfig = Pick<Config, 'policy' | 'coolingOffHours' | 'coolingOffDailyCap' | 'newLinkTotalCap' | 'trustRamp'>;

/**
 * The trust stage of a bank account at `now`, or null when the policy has none (legacy-2020). Defaults (README):
 * first 72 h ¥10,000 per 24 h and ¥30,000 in all (3 × the 24 h cap, so rolling windows cannot give a fourth); a
 * pin_otp/pin_only link its holder has not confirmed stays at ¥30,000 in all for life; confirmed or redirect links
 * with a clean history ¥50,000/24 h in week 1, ¥100,000 in week 2, ¥200,000 in weeks 3-4, then the level's limits.
 */
export function trustLimitFor(facts: Pick<AccountTrustFacts, 'firstLinkedAt' | 'method' | 'holderConfirmed' | 'clean'>, now: Date, config: TrustConfig): TrustLimit | null {
  if (!linkPolicy(config.policy).coolingOff) return null;
  const ageMs = now.getTime() - facts.firstLinkedAt.getTime();
  const newLinkEnds = new Date(facts.firstLinkedAt.getTime() + config.coolingOffHours * HOUR_MS);
  if (ageMs < config.coolingOffHours * HOUR_MS) {
    return { stage: 'new_link', per24hYen: config.coolingOffDailyCap, totalYen: config.newLinkTotalCap, nextStageAt: newLinkEnds };
  }
  // A PIN and a text prove only the phone, which a SIM swap hands over: nothing more until the holder's own word.
  const confirmedEnough = facts.method === 'redirect' || facts.holderConfirmed;
  if (!confirmedEnough || !facts.clean) {
    return { stage: 'unconfirmed', per24hYen: config.coolingOffDailyCap, totalYen: config.newLinkTotalCap, nextStageAt: null };
  }
  for (const step of config.trustRamp) {
    if (ageMs < step.untilHours * HOUR_MS) {
      return { stage: 'ramp', per24hYen: step.per24hYen, totalYen: null, nextStageAt: new Date(facts.firstLinkedAt.getTime() + step.untilHours * HOUR_MS) };
    }
  }
  return { stage: 'full', per24hYen: null, totalYen: null, nextStageAt: null };
}

export interface TrustVerdict {
  allowed: boolean;
  limit: TrustLimit | null;
  /** Yen that may still be charged now. */
  remainingYen: number | null;
  /** When more can be charged (a 24 h charge leaves the window, or the next stage): null when only the holder can lift it. */
  growsAt: Date | null;
}

/** Whether `amount` fits the account's trust now, how much is left, and when it grows. */
export function checkTrust(facts: AccountTrustFacts, amount: number, now: Date, config: TrustConfig): TrustVerdict {
  const limit = trustLimitFor(facts, now, config);
  if (limit === null || limit.stage === 'full') return { allowed: true, limit, remainingYen: null, growsAt: null };
  const used24h = facts.last24h.reduce((sum, c) => sum + c.amount, 0);
  const left24h = limit.per24hYen === null ? Infinity : Math.max(0, limit.per24hYen - used24h);
  const leftTotal = limit.totalYen === null ? Infinity : Math.max(0, limit.totalYen - facts.totalSinceFirstLink);
  const remaining = Math.min(left24h, leftTotal);
  let growsAt: Date | null = null;
  if (leftTotal <= left24h || leftTotal < amount) {
    // The total cap binds: it lifts only with the next stage (never for an unconfirmed link: the holder must confirm).
    growsAt = limit.nextStageAt;
  } else {
    // The 24 h cap binds: room comes back as the oldest charge in the window leaves it.
    const oldest = facts.last24h[0];
    growsAt = oldest ? new Date(oldest.at.getTime() + DAY_MS) : limit.nextStageAt;
  }
  return { allowed: amount <= remaining, limit, remainingYen: remaining === Infinity ? null : remaining, growsAt };
}

/** What the customer reads when a charge does not fit: the next step, how much is left, and when it grows. */
export function trustRefusalDetail(verdict: TrustVerdict): string {
  const limit = verdict.limit!;
  const left = formatYen(verdict.remainingYen ?? 0);
  if (limit.stage === 'unconfirmed') {
    return `This bank account was linked with a PIN and a text message only, so at most ${formatYen(limit.totalYen ?? 0)} in total `
      + `can be charged from it until the account holder confirms the link: confirm the link in the e-mail your bank sent, or `
      + `sign in to your bank (its "Wallet links" page). ${left} is left now`
      + (verdict.growsAt && verdict.remainingYen !== 0 ? `; more from ${formatJst(verdict.growsAt)}.` : '.');
  }
  const caps = [limit.per24hYen !== null ? `${formatYen(limit.per24hYen)} per 24 hours` : null,
    limit.totalYen !== null ? `${formatYen(limit.totalYen)} in total until ${limit.nextStageAt ? formatJst(limit.nextStageAt) : 'later'}` : null]
    .filter((c) => c !== null).join(' and ');
  return `This bank account was linked recently: at most ${caps} can be charged from it. ${left} is left now`
    + (verdict.growsAt ? `; more from ${formatJst(verdict.growsAt)}.` : '.');
}

/** KOZA_TRUST_RAMP: "168:50000,336:100000,672:200000" (hours of age : yen per rolling 24 h), ascending; an error text or the steps. */
export function parseTrustRamp(raw: string | undefined): TrustStep[] | string {
  if (raw === undefined || raw === '') return DEFAULT_TRUST_RAMP;
  const steps: TrustStep[] = [];
  for (const part of raw.split(',')) {
    const match = /^\s*(\d{1,5}):(\d{1,12})\s*$/.exec(part);
    if (!match) return 'comma-separated hours:yen steps such as 168:50000,336:100000,672:200000';
    const step = { untilHours: Number(match[1]), per24hYen: Number(match[2]) };
    if (steps.length > 0 && step.untilHours <= steps[steps.length - 1]!.untilHours) return 'steps in ascending hours';
    steps.push(step);
  }
  return steps;
}

/**
 * The default ramp after the new-link window: week 1 ¥50,000 per 24 h, week 2 ¥100,000, weeks 3-4 ¥200,000, then the
 * level's limits (¥500,000 a day at L2). A stolen link that slipped through has four weeks in which the holder reads
 * the bank's notices and passbook (monthly statements at the latest) before the full limit is reachable.
 */
export const DEFAULT_TRUST_RAMP: TrustStep[] = [
  { untilHours: 7 * 24, per24hYen: 50_000 },
  { untilHours: 14 * 24, per24hYen: 100_000 },
  { untilHours: 28 * 24, per24hYen: 200_000 },
];
