// Owns the decision on one reported pay-in (issue 11): credit the wallet, or return the transfer to its sender and why,
// in Japanese and English. Must never credit a transfer whose sender is not the wallet's verified owner; no SQL, no HTTP.
import type { ReturnReason } from './protocol.js';
import type { LevelLimits } from '../wallets/limits.js';
import { assessSender } from './link-holder-match.js';
import { formatYen } from '../display.js';

export interface PayInFacts {
  amount: number;
  senderNameKana: string;
  /** Null when the virtual account number is no wallet's. */
  wallet: null | {
    status: 'active' | 'frozen' | 'closed';
    emailVerified: boolean;
    /** Whether the wallet is at the level allowed to charge (L2: identity verified). */
    mayCharge: boolean;
    /** The verified kana name; null without a live identity. */
    identityNameKana: string | null;
    /** Posted balance plus pending credits: what the wallet would hold once everything in flight lands. */
    balance: number;
    /** Money in today and this month (Japan time): charges not voided plus credited pay-ins. */
    moneyInToday: number;
    moneyInMonth: number;
  };
  /** The limits of the level the wallet charges at. */
  limits: LevelLimits;
}

export type PayInDecision =
  | { action: 'credit'; nameScore: number }
  | { action: 'return'; reason: ReturnReason; nameScore: number | null; en: string; ja: string };

const RETURN_TIME = 'The bank books the return to the sending account at once; it shows in the passbook as 振込返却.';
const RETURN_TIME_JA = '返金はただちに振込元の口座へ記帳され、通帳には「振込返却」と表示されます。';

/**
 * Unknown account → return; a wallet that cannot take money → return; a sender who is not the owner → return (a pay-in
 * from someone else's account would make koza a way to move third parties' money); a limit → return, saying how much fits.
 */
export function decidePayIn(f: PayInFacts): PayInDecision {
  const w = f.wallet;
  if (w === null) {
    return {
      action: 'return', reason: 'unknown_account', nameScore: null,
      en: `No koza wallet has this account number; the ${formatYen(f.amount)} is sent back to you. Check the number the app shows under "Fund by bank transfer" (GET /v1/wallet/pay-in).`,
      ja: `この口座番号のkozaウォレットはありません。${formatYen(f.amount)}をお返しします。アプリの「銀行振込で入金」に表示される口座番号をご確認ください。`,
    };
  }
  if (w.status !== 'active' || !w.emailVerified || !w.mayCharge || w.identityNameKana === null) {
    return {
      action: 'return', reason: 'wallet_unavailable', nameScore: null,
      en: w.status !== 'active'
        ? `Your wallet cannot take money now (it is ${w.status}); the ${formatYen(f.amount)} transfer is being returned. ${RETURN_TIME} Contact koza support to find out why.`
        : `Your wallet needs a verified identity before it can take a bank transfer; the ${formatYen(f.amount)} transfer is being returned. ${RETURN_TIME} Verify your identity (POST /v1/identity/verifications), then send it again.`,
      ja: w.status !== 'active'
        ? `現在このウォレットは入金を受け付けられません（${w.status === 'frozen' ? '凍結中' : '解約済み'}）。${formatYen(f.amount)}の振込をお返しします。${RETURN_TIME_JA}理由はkozaサポートにお問い合わせください。`
        : `銀行振込での入金には本人確認が必要です。${formatYen(f.amount)}の振込をお返しします。${RETURN_TIME_JA}本人確認（POST /v1/identity/verifications）の後、もう一度お振込みください。`,
    };
  }
  const sender = assessSender(w.identityNameKana, f.senderNameKana);
  const nameScore = sender.match?.score ?? 0;
  if (!sender.accepted) {
    return {
      action: 'return', reason: 'name_mismatch', nameScore,
      en: `A transfer of ${formatYen(f.amount)} came from an account in another name (${f.senderNameKana}); koza takes bank transfers only from `
        + `accounts in your own name, so it is being returned. ${RETURN_TIME} Send it from an account in your name.`,
      ja: `${f.senderNameKana} 名義の口座から${formatYen(f.amount)}の振込がありました。kozaはご本人名義の口座からの振込のみ受け付けるため、お返しします。`
        + `${RETURN_TIME_JA}ご本人名義の口座からお振込みください。`,
    };
  }
  const room = roomsOf(f.limits, w);
  const broken = room.find((r) => f.amount > r.left);
  if (broken) {
    const fits = Math.max(0, Math.min(...room.map((r) => r.left)));
    return {
      action: 'return', reason: 'limit_exceeded', nameScore,
      en: `The ${formatYen(f.amount)} transfer would pass ${broken.what} (${formatYen(broken.cap)}); it is being returned. ${RETURN_TIME} `
        + (fits > 0 ? `Send at most ${formatYen(fits)} now` : 'Nothing more fits now: send again') + ' after paying or withdrawing, or the next day.',
      ja: `${formatYen(f.amount)}の振込は${broken.whatJa}（${formatYen(broken.cap)}）を超えるため、お返しします。${RETURN_TIME_JA}`
        + (fits > 0 ? `現在は${formatYen(fits)}までお振込みいただけます。` : '現在は入金できません。お支払い・出金の後、または翌日以降にお振込みください。'),
    };
  }
  return { action: 'credit', nameScore };
}

/** The most one transfer can bring in now without being returned for a limit (0: none fits). */
export function payInRoom(limits: LevelLimits, wallet: NonNullable<PayInFacts['wallet']>): number {
  return Math.max(0, Math.min(...roomsOf(limits, wallet).map((r) => r.left)));
}

/** Each limit a pay-in must fit, with how much room it leaves. */
function roomsOf(limits: LevelLimits, w: NonNullable<PayInFacts['wallet']>) {
  return [
    { left: limits.maxBalance - w.balance, what: 'the wallet balance limit', whatJa: 'ウォレット残高の上限', cap: limits.maxBalance },
    { left: limits.maxCharge, what: 'the most that can be added at once', whatJa: '1回の入金上限', cap: limits.maxCharge },
    { left: limits.dailyCharges - w.moneyInToday, what: 'today\'s money-in limit (Japan time)', whatJa: '本日の入金上限', cap: limits.dailyCharges },
    { left: limits.monthlyCharges - w.moneyInMonth, what: 'this month\'s money-in limit', whatJa: '今月の入金上限', cap: limits.monthlyCharges },
  ];
}
