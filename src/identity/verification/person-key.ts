// Owns the keys that say "same person" and "same document" across wallets (one verified person → one wallet).
// Must never be a plain hash: a kana name and a birthday are few enough to enumerate, so keys are keyed.
import { keyedHash } from '../secrets.js';
import { normalizeName } from '../kana.js';
import type { DocumentType } from './verifier.js';

/**
 * The kana name as one comparable string: the kana normaliser's key (widths, hiragana, small kana, long vowel
 * marks, separators) without spaces, so that サトウ ショウタ, さとう　しょうた and ｻﾄｳｼﾖｳﾀ are one person.
 */
export function canonicalKana(kana: string): string {
  return normalizeName(kana).replace(/ /g, '');
}

/** Same kana name and date of birth → same key, whichever document or wallet it came through. */
export function personKey(secretKey: Buffer, nameKana: string, dateOfBirth: string): string {
  return keyedHash(secretKey, 'person-v1', canonicalKana(nameKana), dateOfBirth);
}

/** Same document → same key; the number is never stored in clear. */
export function documentKey(secretKey: Buffer, documentType: DocumentType, documentNumber: string): string {
  return keyedHash(secretKey, 'document-v1', documentType, documentNumber.normalize('NFKC').replace(/\D/g, ''));
}
