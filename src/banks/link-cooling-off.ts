// Owns the cooling-off rule of new bank links (SPEC §5.3): a low daily charge cap until the link is old enough.
// Must never let a link charge its full limits on its first day under the secure policy; no SQL, no HTTP.
import type { Config } from '../config.js';
import { linkPolicy } from './policy.js';

export interface CoolingOffLimit {
  /** Most the link may charge per JST calendar day while cooling off. */
  dailyCapYen: number;
  /** When the cooling-off ends and the wallet's own limits apply alone. */
  endsAt: Date;
}

/**
 * The cooling-off limit a link is under at `now`, or null when none applies (the window is over, or the
 * policy has no cooling-off, as in legacy-2020). Read at charge time from the configuration, so a change
 * of hours or cap by operators applies to existing links too. The link stolen in 2020 took ¥600,000 on
 * day one; with the defaults (72 h, ¥10,000 a day) a stolen link takes at most ¥30,000 before its holder,
 * told of the link through the bank on day one, can report it.
 */
export function coolingOffLimitFor(
  link: { createdAt: Date }, now: Date, config: Pick<Config, 'policy' | 'coolingOffHours' | 'coolingOffDailyCap'>,
): CoolingOffLimit | null {
  if (!linkPolicy(config.policy).coolingOff) return null;
  const endsAt = new Date(link.createdAt.getTime() + config.coolingOffHours * 3_600_000);
  if (now.getTime() >= endsAt.getTime()) return null;
  return { dailyCapYen: config.coolingOffDailyCap, endsAt };
}
