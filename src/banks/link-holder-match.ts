// Owns the comparison of the holder a bank vouches for with the person verified for the wallet (SPEC §5.3).
// Must never accept less than a strong kana match with an equal date of birth; no SQL, no HTTP.
import { matchNames, type NameMatch } from '../identity/kana.js';

export interface HolderAssessment {
  /** Null when the wallet has no name to compare (legacy-2020 with nothing typed). */
  match: NameMatch | null;
  /** Null when the wallet has no date of birth (legacy-2020: a name and an e-mail only). */
  dobMatches: boolean | null;
  /** What the secure policy links on: strong (85–99) or exact (100), and the same date of birth. */
  accepted: boolean;
}

/**
 * Scores the bank's holder against the wallet's person after kana normalisation (width, script, small kana
 * as banks print them, spaces, long vowels: kana.ts). A near-miss spelling of the same name passes; another
 * person's name, or the same name with another birthday, does not.
 */
export function assessHolder(
  expected: { nameKana: string; dateOfBirth: string | null } | null, holder: { name_kana: string; date_of_birth: string },
): HolderAssessment {
  if (!expected) return { match: null, dobMatches: null, accepted: false };
  const match = matchNames(expected.nameKana, holder.name_kana);
  const dobMatches = expected.dateOfBirth === null ? null : expected.dateOfBirth === holder.date_of_birth;
  return { match, dobMatches, accepted: (match.band === 'exact' || match.band === 'strong') && dobMatches === true };
}

/**
 * A bank transfer's sender against the wallet's person (pay-in, issue 11): a transfer carries the sender's name as the
 * sending bank holds it and no date of birth, so the name alone decides, on the same scale as links (strong or exact).
 */
export function assessSender(expectedNameKana: string | null, senderNameKana: string): { match: NameMatch | null; accepted: boolean } {
  if (expectedNameKana === null) return { match: null, accepted: false };
  const match = matchNames(expectedNameKana, senderNameKana);
  return { match, accepted: match.band === 'exact' || match.band === 'strong' };
}
