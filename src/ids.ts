// Owns public identifiers: a readable prefix and 128 bits of randomness (wal_…, pay_…).
// Must never derive an id from a secret or from anything a client can predict.
import { randomBytes } from 'node:crypto';

export type IdPrefix =
  | 'wal' | 'mer' | 'pay' | 'rfd' | 'top' | 'xfr' | 'ses' | 'otc' | 'msg' | 'req' | 'acc' | 'dev'
  | 'fac' | 'wac' | 'rcb' | 'stp' | 'prf'
  | 'kyc' | 'idn'
  | 'opr' | 'chg' | 'wdl'
  | 'rsk' | 'alr' | 'rca'
  | 'lnk' | 'lrq'
  | 'bzv' | 'pyo' | 'lgc'
  | 'frs' | 'pin';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

