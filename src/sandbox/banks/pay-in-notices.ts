// Owns the receiving bank's report of a pay-in to koza (docs/bank-protocol.md §10): a signed POST of each transfer booked
// into koza's collection account, at most once acknowledged. Must never sign with koza's key, nor block a holder's transfer
// on koza: a notice that does not arrive is left for koza to find in the statement.
import { BANK_SIGNATURE_HEADER, IDEMPOTENCY_HEADER } from '../../banks/protocol.js';
import { deriveBankNoticeKeyPair, signRequest, type BankKeyPair } from '../../banks/signing.js';
import type { SandboxContext } from './context.js';
import { markNotified, noticeOf, type FurikomiRow } from './furikomi.js';

const NOTICE_TIMEOUT_MS = 5_000;

/** Where the banks report pay-ins, and the test knob that loses every notice (a network fault) while set. */
export class PayInNotices {
  private kozaUrl: string | null = null;
  private lost = false;
  private readonly keys = new Map<string, BankKeyPair>();

  constructor(private readonly keySeed: string) {}

  /** koza's base URL (null: nobody to tell; transfers are still booked and listed in statements). */
  deliverTo(url: string | null): void {
    this.kozaUrl = url === null ? null : url.replace(/\/+$/, '');
  }

  /** While on, every notice is lost on the way (koza hears nothing and must reconcile from the statement). */
  lose(on: boolean): void {
    this.lost = on;
  }

  private keyFor(bankCode: string): BankKeyPair {
    let key = this.keys.get(bankCode);
    if (!key) {
      key = deriveBankNoticeKeyPair(this.keySeed, bankCode);
      this.keys.set(bankCode, key);
    }
    return key;
  }

  /** Reports one incoming transfer; true when koza acknowledged it (and it is marked notified). */
  async deliver(ctx: SandboxContext, row: FurikomiRow): Promise<boolean> {
    if (this.kozaUrl === null || this.lost || !row.to_virtual) return false;
    const path = `/v1/banks/${row.to_bank_code}/incoming-transfers`;
    const body = JSON.stringify(noticeOf(row));
    const url = new URL(path, `${this.kozaUrl}/`);
    const signature = await signRequest(this.keyFor(row.to_bank_code), {
      method: 'POST', path: url.pathname, body, idempotencyKey: row.id,
    });
    try {
      const res = await fetch(url, {
        method: 'POST', body, redirect: 'error', signal: AbortSignal.any([AbortSignal.timeout(NOTICE_TIMEOUT_MS), ctx.closing]),
        headers: { 'content-type': 'application/json', [IDEMPOTENCY_HEADER]: row.id, [BANK_SIGNATURE_HEADER]: signature },
      });
      await res.text();
      if (res.status !== 200) return false;
    } catch {
      return false;
    }
    await markNotified(ctx.db, row.id, ctx.now());
    return true;
  }
}
