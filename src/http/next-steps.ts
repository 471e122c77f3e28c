// Owns what a person reads when koza refuses: for every problem code, a short sentence and the next step, in Japanese and
// English, filled from the problem's own facts (times in JST, amounts in yen). Must never name a risk rule, a factor that
// was wrong, another wallet, or anything secret: it only rephrases what the problem's extensions already say.
import type { Problem } from './problem.js';
import { formatJst, formatYen } from '../display.js';

/** Who meets the code: the customer (wallet owner), a bank-account holder, a merchant, an API client's developer, an operator. */
export type Audience = 'customer' | 'holder' | 'merchant' | 'client' | 'operator';

/** What the problem body carries: `message` (what happened) and `next_step` (what to do, and when), in both languages. */
export interface NextStep {
  ja: string;
  en: string;
}

type Said = readonly [message: string, next: string];
type Text = Said | ((p: Problem) => Said);

export interface CatalogueEntry {
  /** Who can meet it. `operator` marks an operator-only code explicitly (still worded, for the admin console). */
  audience: Audience;
  ja: Text;
  en: Text;
}

/** A time as a person in Japan reads it on a phone: `12月6日 15:00 (JST)`, rounded up to the minute (never early). */
export function jaJstTime(at: Date): string {
  const up = new Date(Math.ceil(at.getTime() / 60_000) * 60_000 + 9 * 3_600_000);
  const hh = String(up.getUTCHours()).padStart(2, '0');
  const mm = String(up.getUTCMinutes()).padStart(2, '0');
  return `${up.getUTCMonth() + 1}月${up.getUTCDate()}日 ${hh}:${mm} (JST)`;
}

/** The English twin: `2026-12-06 15:00 JST`, the same rounding (retry-after.ts and the refusals' details use it). */
function enJstTime(at: Date): string {
  return formatJst(new Date(Math.ceil(at.getTime() / 60_000) * 60_000));
}

function dateOf(p: Problem, ...members: string[]): Date | null {
  for (const m of members) {
    const v = p[m];
    if (typeof v === 'string') {
      const t = Date.parse(v);
      if (Number.isFinite(t)) return new Date(t);
    }
  }
  return null;
}

function yenOf(p: Problem, member: string): string | null {
  const v = p[member];
  return typeof v === 'number' && Number.isSafeInteger(v) ? formatYen(v) : null;
}

/** What is left, when something is: "use at most ¥0" is no next step. */
function leftOf(p: Problem): string | null {
  return typeof p.remaining_yen === 'number' && p.remaining_yen > 0 ? yenOf(p, 'remaining_yen') : null;
}

/** "after <time>" for a 429 (retry_at) or a lock with an end; "a little later" when the problem names none. */
const retryJa = (p: Problem) => {
  const at = dateOf(p, 'retry_at', 'locked_until');
  return at ? `${jaJstTime(at)}以降にもう一度お試しください。` : 'しばらく時間をおいてから、もう一度お試しください。';
};
const retryEn = (p: Problem) => {
  const at = dateOf(p, 'retry_at', 'locked_until');
  return at ? `Try again after ${enJstTime(at)}.` : 'Wait a little, then try again.';
};

const METHOD_JA: Record<string, string> = {
  totp: '認証アプリのコード', passkey: 'パスキー', recovery_code: 'リカバリーコード', email_code: 'メールで届くコード',
};
const METHOD_EN: Record<string, string> = {
  totp: 'a code from your authenticator app', passkey: 'your passkey', recovery_code: 'a recovery code',
  email_code: 'a code we e-mail to you',
};

function methodsOf(p: Problem): string[] {
  return Array.isArray(p.methods) ? p.methods.filter((m): m is string => typeof m === 'string' && m in METHOD_EN) : [];
}

/** The next step of a challenge: the ways this wallet can meet it (a step-up refusal, a sign-in's 202). */
export function approveWith(methods: readonly string[]): NextStep {
  const ja = methods.filter((m) => m in METHOD_JA).map((m) => METHOD_JA[m]!);
  const en = methods.filter((m) => m in METHOD_EN).map((m) => METHOD_EN[m]!);
  if (ja.length === 0) {
    return { ja: 'パスキーまたは認証アプリを登録してから承認してください。', en: 'Enrol a passkey or an authenticator app, then approve it.' };
  }
  return {
    ja: `${ja.length > 1 ? `${ja.join('、')}のいずれか` : ja[0]}で承認すると、続けて操作できます。`,
    en: `Approve it with ${en.join(' or ')}, then the action goes ahead.`,
  };
}

const SUPPORT_JA = 'お困りの場合はkozaサポートまでご連絡ください。';
const SUPPORT_EN = 'If you need help, contact koza support.';

/** A bank koza cannot link (PIN alone): the holder still funds the wallet by a transfer they send themselves. */
const FUND_BY_TRANSFER_JA = 'この銀行の口座からkozaの振込先口座へお振込みいただくと入金できます。振込先は GET /v1/wallet/pay-in でご確認ください（ご本人名義の口座からお振込みください）。';
const FUND_BY_TRANSFER_EN = 'Fund your wallet by bank transfer from this account instead: GET /v1/wallet/pay-in shows your koza account to send it to (from an account in your own name).';

/** A problem whose `waits_until` names when it can go on: the next step with that time, or without one when it has none. */
type Waits = readonly [message: string, withTime: (at: string) => string, withoutTime: string];
const waitsUntil = (audience: Audience, ja: Waits, en: Waits): CatalogueEntry => {
  const said = (w: Waits, time: (at: Date) => string) => (p: Problem): Said => {
    const at = dateOf(p, 'waits_until');
    return [w[0], at ? w[1](time(at)) : w[2]];
  };
  return { audience, ja: said(ja, jaJstTime), en: said(en, enJstTime) };
};

const generic = (audience: Audience, ja: Said, en: Said): CatalogueEntry => ({ audience, ja, en });
const retry = (audience: Audience, jaMessage: string, enMessage: string): CatalogueEntry => ({
  audience, ja: (p) => [jaMessage, retryJa(p)], en: (p) => [enMessage, retryEn(p)],
});

/**
 * Every code createError makes (src/errors.ts registers them; next-steps.test.ts fails on a missing one), plus the
 * `internal` 500 problem.ts answers for anything unexpected.
 */
export const NEXT_STEPS: Record<string, CatalogueEntry> = {
  // ── Requests an app sends (a developer's mistake more than a person's; still worded for the screen) ──
  'invalid-request': generic('client',
    ['入力内容に誤りがあります。', '表示された項目を確認し、修正してからもう一度お試しください。'],
    ['Something in the request is not valid.', 'Check the fields named in the details, correct them and try again.']),
  'unauthenticated': generic('customer',
    ['ログインが必要です。', 'もう一度ログインしてから操作してください。'],
    ['You need to be signed in.', 'Sign in again, then repeat what you were doing.']),
  'forbidden': generic('customer',
    ['この操作は許可されていません。', `ご利用中のアカウントで行える操作かご確認ください。${SUPPORT_JA}`],
    ['This action is not allowed.', `Check that this account may do it. ${SUPPORT_EN}`]),
  'not-found': generic('customer',
    ['お探しのものが見つかりません。', '番号や画面を確認して、最初からやり直してください。'],
    ['What you asked for was not found.', 'Check the reference or go back and start again.']),
  'conflict': generic('customer',
    ['現在の状態ではこの操作を行えません。', '画面を更新して最新の状態を確認してから、もう一度お試しください。'],
    ['This cannot be done in the current state.', 'Refresh to see the latest state, then try again.']),
  'payload-too-large': generic('client',
    ['送信されたデータが大きすぎます。', '内容を短くしてからもう一度送信してください。'],
    ['The request is too large.', 'Send less data and try again.']),
  'unsupported-media-type': generic('client',
    ['送信されたデータの形式に対応していません。', 'アプリを最新版に更新してからもう一度お試しください。'],
    ['The request is not in a format koza reads (JSON).', 'Update the app, or send the body as application/json.']),
  'unprocessable': generic('customer',
    ['この内容では処理できません。', `表示された理由を確認し、内容を見直してからもう一度お試しください。${SUPPORT_JA}`],
    ['This request cannot be carried out.', `Read the reason shown, change what it names and try again. ${SUPPORT_EN}`]),
  'rate-limited': retry('customer', '短時間に操作が集中しています。', 'Too many requests in a short time.'),
  'idempotency-key-required': generic('client',
    ['アプリからの送信に必要な情報が不足しています。', 'アプリを最新版に更新してからもう一度お試しください。'],
    ['The app did not send an Idempotency-Key.', 'Update the app; it must send an Idempotency-Key with every change.']),
  'idempotency-key-reused': generic('client',
    ['同じ操作番号で別の内容が送信されました。', '新しい操作としてもう一度お試しください。'],
    ['This Idempotency-Key was already used for a different request.', 'Start the action again as a new one (a new key).']),
  'idempotency-key-in-progress': generic('customer',
    ['同じ操作をただいま処理中です。', '数秒待ってから結果をご確認ください。二重に処理されることはありません。'],
    ['The same request is still being processed.', 'Wait a few seconds and check the result; it will not be carried out twice.']),
  'insufficient-funds': generic('customer',
    ['ウォレットの残高が足りません。', '金額を減らすか、銀行口座からチャージしてからもう一度お試しください。'],
    ['The wallet balance is too low.', 'Use a smaller amount, or charge the wallet from your bank account first.']),
  'sandbox-only': generic('client',
    ['この機能はテスト環境専用です。', '本番環境では利用できません。'],
    ['This exists only in the sandbox.', 'Use it against a sandbox server, not a live one.']),
  'internal': generic('customer',
    ['システムで問題が発生しました。', `お手数ですが、しばらくしてからもう一度お試しください。${SUPPORT_JA}`],
    ['Something went wrong on our side.', `Try again in a little while. ${SUPPORT_EN}`]),
  'not-ready': generic('operator',
    ['サービスの準備がまだ整っていません。', 'しばらくしてからもう一度お試しください。'],
    ['The service is not ready yet.', 'Wait until it is ready (the readiness check passes), then try again.']),

  // ── Banks and bank links ──
  'bank-not-found': generic('customer',
    ['この銀行はkozaでは利用できません。', '一覧にある銀行を選ぶか、お持ちの銀行から振込でチャージしてください。'],
    ['koza does not work with this bank.', 'Choose a bank from the list, or add money by bank transfer from your bank.']),
  'banks-unavailable': generic('customer',
    ['現在、銀行に接続できません。', 'しばらくしてからもう一度お試しください。お客さまの口座からお金が動くことはありません。'],
    ['No bank can be reached right now.', 'Try again in a little while; nothing was taken from your account.']),
  'bank-unavailable': generic('customer',
    ['銀行から応答がありません。', 'しばらくしてから同じ操作をもう一度お試しください。二重に処理されることはありません。'],
    ['The bank is not answering.', 'Try the same step again in a little while; it will not be carried out twice.']),
  'bank-request-refused': generic('customer',
    ['銀行がこの手続きを受け付けませんでした。', `内容を確認してもう一度お試しください。続く場合はお取引の銀行にお問い合わせください。`],
    ['The bank refused the request.', 'Check the details and try again; if it keeps happening, ask your bank.']),
  'link-method-not-allowed': {
    audience: 'customer',
    ja: (p) => ['この方法では口座を登録できません。', typeof p.fund_by_transfer === 'string' ? FUND_BY_TRANSFER_JA
      : Array.isArray(p.allowed_methods) && p.allowed_methods.length > 0 ? '銀行のページで手続きする方法をお選びください。'
        : '口座の登録はできませんが、お持ちの銀行から振込でチャージできます。'],
    en: (p) => ['koza does not allow this way of linking.', typeof p.fund_by_transfer === 'string' ? FUND_BY_TRANSFER_EN
      : Array.isArray(p.allowed_methods) && p.allowed_methods.length > 0
        ? `Link with one of: ${(p.allowed_methods as string[]).join(', ')} (at your bank's own page).`
        : 'This bank account cannot be linked, but you can add money by bank transfer from it.'],
  },
  'link-method-not-offered': {
    audience: 'customer',
    ja: (p) => typeof p.fund_by_transfer === 'string'
      ? ['この銀行は、kozaが認める口座登録の方法に対応していません。', FUND_BY_TRANSFER_JA]
      : ['この銀行はこの方法に対応していません。', '銀行が対応している別の方法をお選びください。'],
    en: (p) => typeof p.fund_by_transfer === 'string'
      ? ['This bank offers no way of linking that koza allows.', FUND_BY_TRANSFER_EN]
      : ['This bank does not offer this way of linking.', 'Choose one of the ways the bank offers.'],
  },
  'link-refused': generic('customer',
    ['この口座はこのウォレットに登録できません。', `お持ちの銀行から振込でチャージすることはできます。${SUPPORT_JA}`],
    ['This bank account cannot be linked to this wallet.', `You can still add money by bank transfer from it. ${SUPPORT_EN}`]),
  'link-held-for-review': {
    audience: 'customer',
    ja: (p) => {
      const due = dateOf(p, 'review_due_at');
      return ['口座の登録は確認のため保留中です。', `担当者が${due ? `${jaJstTime(due)}までに` : ''}確認し、結果をメールでお知らせします。もう一度申し込む必要はありません。`];
    },
    en: (p) => {
      const due = dateOf(p, 'review_due_at');
      return ['This link is held for a check.', `An analyst decides${due ? ` by ${enJstTime(due)}` : ''} and we e-mail you the result; you need not start again.`];
    },
  },
  'bank-credentials-rejected': generic('customer',
    ['銀行がご入力内容を受け付けませんでした。', '口座番号と暗証番号などをお確かめのうえ、もう一度お試しください。'],
    ['The bank did not accept the details.', 'Check the account number and the PIN or code, then try again.']),
  'bank-credentials-locked': generic('holder',
    ['銀行がこの口座の認証をロックしました。', 'ロックの解除はお取引の銀行にお問い合わせください。'],
    ['The bank has locked these credentials.', 'Ask your bank to unlock them.']),
  'link-tries-exhausted': {
    audience: 'customer',
    ja: (p) => {
      const at = dateOf(p, 'tries_again_at');
      return ['この口座の暗証番号での登録が続けて失敗しました。', `${at ? `${jaJstTime(at)}以降に再度お試しいただけます。` : ''}`
        + (p.redirect_offered ? '今すぐ登録する場合は、銀行のページで手続きする方法をお選びください。' : '暗証番号と銀行に届けている電話番号を銀行でご確認ください。')];
    },
    en: (p) => {
      const at = dateOf(p, 'tries_again_at');
      return ['Several recent tries to link this bank account with its PIN failed.', `${at ? `You can try again after ${enJstTime(at)}. ` : ''}`
        + (p.redirect_offered ? 'To link now, choose the way at your bank\'s own page (no PIN to koza).' : 'Ask your bank to check the PIN and the phone number it holds.')];
    },
  },
  'link-account-busy': generic('customer',
    ['この口座の別の手続きが進行中です。', '1分ほど待ってからもう一度お試しください。'],
    ['Another try on this bank account is in progress.', 'Wait a minute, then try again.']),
  'link-request-not-found': generic('customer',
    ['口座登録の手続きが見つかりません。', '最初から口座登録をやり直してください。'],
    ['The link request does not exist.', 'Start linking the bank account again.']),
  'link-request-expired': generic('customer',
    ['口座登録の有効期限が切れました。', '最初から口座登録をやり直してください。'],
    ['The link request has expired.', 'Start linking the bank account again.']),
  'link-request-closed': generic('customer',
    ['この口座登録の手続きはすでに終了しています。', 'ウォレットの口座一覧で結果をご確認ください。'],
    ['This link request is already finished.', 'See your linked bank accounts for the result.']),
  'link-request-wrong-step': generic('client',
    ['この手続きはこの方法では完了できません。', '最初から口座登録をやり直してください。'],
    ['The link request does not complete this way.', 'Start linking again and follow the steps shown.']),
  'link-declined': generic('customer',
    ['銀行で口座登録が承認されませんでした。', '承認する場合は、もう一度口座登録を始めて銀行のページで承認してください。'],
    ['The link was not approved at the bank.', 'To link it, start again and approve at your bank\'s page.']),
  'link-issuer-mismatch': generic('customer',
    ['銀行からの応答を確認できませんでした。', '安全のため中止しました。最初から口座登録をやり直してください。'],
    ['The answer did not come from the bank that was asked.', 'It was stopped for your safety; start linking again.']),
  'link-holder-mismatch': generic('customer',
    ['口座の名義が、ご本人確認の情報と一致しません。', 'ご本人名義の口座を登録してください。名義が正しい場合はkozaサポートまでご連絡ください。'],
    ['The bank account holder does not match your verified identity.', 'Link an account in your own name; if it is yours, contact koza support.']),
  'bank-account-already-linked': generic('customer',
    ['この口座はすでに登録されています。', `心当たりがない場合は、お取引の銀行とkozaサポートにご連絡ください。`],
    ['This bank account is already linked.', 'If you did not link it, contact your bank and koza support.']),
  'link-not-held': generic('operator',
    ['この口座登録は確認待ちではありません。', '一覧を更新して現在の状態をご確認ください。'],
    ['The link request is not held for review.', 'Refresh the queue; someone may have decided it already.']),
  'linking-halted': generic('customer',
    ['現在、新しい口座の登録を一時停止しています。', 'しばらくしてからもう一度お試しください。登録済みの口座はそのままご利用いただけます。'],
    ['New bank links are paused.', 'Try again later; accounts already linked keep working.']),
  'charges-halted': generic('customer',
    ['現在、この銀行からのチャージを一時停止しています。', 'しばらくしてからもう一度お試しいただくか、振込でチャージしてください。'],
    ['Charges from this bank are paused.', 'Try again later, or add money by bank transfer.']),
  'charge-refused': generic('customer',
    ['この操作は行えませんでした。お金は動いていません。', `お心当たりがない場合や誤りと思われる場合は、kozaサポートまでご連絡ください。`],
    ['This could not be done; no money moved.', 'If you think this is a mistake, contact koza support.']),
  'bank-declined': generic('customer',
    ['銀行がこの取引をお断りしました。お金は動いていません。', '口座の残高や状態をご確認のうえ、もう一度お試しください。'],
    ['The bank declined this transfer; no money moved.', 'Check the account\'s balance and status at your bank, then try again.']),
  'statement-unavailable': generic('customer',
    ['銀行から明細を取得できませんでした。', 'しばらくしてからもう一度お試しください。'],
    ['The bank did not answer.', 'Try again in a little while.']),
  'movement-not-held': generic('operator',
    ['この取引は確認待ちではありません。', '一覧を更新して現在の状態をご確認ください。'],
    ['The movement is not held for review.', 'Refresh the queue; someone may have decided it already.']),

  // ── Sign-up, sign-in, second factors and step-up ──
  'weak-password': generic('customer',
    ['このパスワードは推測されやすいため使えません。', '他で使っていない、より長いパスワードを設定してください。'],
    ['Choose a different password.', 'Use a longer password that you do not use anywhere else.']),
  'verification-failed': generic('customer',
    ['確認コードが正しくありません。', 'コードをお確かめのうえ入力し直すか、新しいコードを送信してください。'],
    ['The verification code is not valid.', 'Check the code and enter it again, or ask for a new one.']),
  'assurance-level-too-low': {
    audience: 'customer',
    ja: (p) => ['この操作には追加の確認が必要です。', ({
      L0: 'メールアドレスの確認を完了してください。', L1: '電話番号の確認を完了してください。',
      L2: '本人確認（運転免許証またはマイナンバーカード）を完了してください。',
    } as Record<string, string>)[String(p.required_level)] ?? '画面の案内に沿って確認を完了してください。'],
    en: (p) => ['This needs more verification.', ({
      L0: 'Verify your e-mail address.', L1: 'Verify your phone number.',
      L2: 'Verify your identity (driver\'s licence or My Number card).',
    } as Record<string, string>)[String(p.required_level)] ?? 'Complete the verification shown.'],
  },
  'second-factor-locked': retry('customer', '誤った入力が続いたため、この認証方法は一時的にロックされています。',
    'This second factor is locked after too many wrong tries.'),
  'second-factor-rejected': {
    audience: 'customer',
    ja: (p) => ['認証できませんでした。', typeof p.attempts_left === 'number' && p.attempts_left <= 0
      ? '最初からやり直してください。' : 'お確かめのうえ、もう一度入力してください。ほかに登録している認証方法があれば、それでも承認できます。'],
    en: (p) => ['The second factor was not accepted.', typeof p.attempts_left === 'number' && p.attempts_left <= 0
      ? 'Start again.' : 'Check it and try again, or use another way you have set up (a passkey, a recovery code).'],
  },
  'second-factor-not-enrolled': generic('customer',
    ['この認証方法は登録されていません。', '登録済みの認証方法をお使いください。'],
    ['This kind of second factor is not enrolled.', 'Use one of the factors you enrolled.']),
  'second-factor-required': generic('customer',
    ['この操作には2段階認証の登録が必要です。', 'パスキーまたは認証アプリを登録してから（メールで届くコードで確認します）、もう一度お試しください。'],
    ['This needs a second factor.', 'Enrol a passkey or an authenticator app (confirmed with a code we e-mail you), then try again.']),
  'step-up-challenge-closed': generic('customer',
    ['この確認はもう使えません。', '操作をもう一度行い、新しい確認を承認してください。'],
    ['This approval can no longer be used.', 'Start the action again and approve the new request.']),
  'step-up-required': {
    audience: 'customer',
    ja: (p) => ['この操作にはご本人による確認が必要です。', approveWith(methodsOf(p)).ja],
    en: (p) => ['This action needs your approval.', approveWith(methodsOf(p)).en],
  },
  'step-up-code-rate-limited': retry('customer', '承認コードを短時間に何度も送信しています。最後に届いたメールのコードをお使いください。',
    'Several approval codes were sent a moment ago; use the newest one in your e-mail.'),
  'step-up-proof-invalid': generic('customer',
    ['承認の有効期限が切れたか、別の操作のための承認です。', '操作をもう一度行い、新しく承認してください。'],
    ['The approval does not cover this action (used, expired or for another one).', 'Start the action again and approve it anew.']),
  'login-failed': generic('customer',
    ['メールアドレスまたはパスワードが正しくありません。', '入力内容をお確かめください。お忘れの場合はパスワードを再設定してください。'],
    ['The e-mail or the password is wrong.', 'Check them and try again, or reset your password.']),
  'login-throttled': retry('customer', 'ログインの失敗が続いたため、一時的にログインを止めています。',
    'Too many failed sign-ins.'),
  'login-challenge-closed': generic('customer',
    ['このログイン手続きはもう完了できません。', 'メールアドレスとパスワードで、もう一度ログインしてください。'],
    ['This sign-in can no longer be completed.', 'Sign in again with your e-mail and password.']),
  'login-refused': generic('customer',
    ['現在、このアカウントにはログインできません。', 'kozaサポートにご連絡ください。ご本人確認のうえ、ログインできるようにします。'],
    ['Signing in is not possible right now.', 'Contact koza support; once we confirm it is you, you can sign in again.']),
  'email-not-verified': generic('customer',
    ['メールアドレスの確認がまだ完了していません。', 'お送りしたメールのコードを入力してください。届いていない場合は再送してください。'],
    ['The e-mail address is not verified yet.', 'Enter the code from the e-mail we sent, or ask for a new one.']),
  'wallet-frozen': generic('customer',
    ['このウォレットは現在ご利用いただけません。', 'kozaサポートにご連絡ください。'],
    ['This wallet is frozen.', 'Contact koza support.']),
  'signup-refused': generic('customer',
    ['この方法ではウォレットを開設できません。', `ご自身のメールアドレスで、ご自身の端末からお申し込みください。${SUPPORT_JA}`],
    ['A wallet cannot be opened this way.', `Sign up with an e-mail address you keep, on your own device. ${SUPPORT_EN}`]),
  'factor-change-refused': generic('customer',
    ['現在、このセキュリティ設定は変更できません。', '現在の設定はそのままです。変更が必要な場合はkozaサポートにご連絡ください。'],
    ['This security change cannot be made now.', 'Your settings are unchanged; contact koza support to make the change.']),
  'identity-submission-refused': generic('customer',
    ['この本人確認の申請は受け付けられませんでした。', '本人確認を完了するため、kozaサポートにご連絡ください。'],
    ['This identity submission cannot be accepted.', 'Contact koza support to finish verifying your identity.']),
  'profile-change-refused': generic('customer',
    ['現在、この登録情報は変更できません。', '変更が必要な場合はkozaサポートにご連絡ください。'],
    ['This change cannot be made now.', 'Contact koza support to change your details.']),
  'payment-refused': generic('customer',
    ['この支払いは行えませんでした。お金は支払われていません。', `誤りと思われる場合はkozaサポートにご連絡ください。`],
    ['This payment cannot be made; nothing was paid.', 'If you think this is a mistake, contact koza support.']),
  'last-factor-required': generic('customer',
    ['最後の2段階認証は削除できません。', '機種変更の場合は、古い認証アプリを新しい端末の認証アプリに置き換えてください。登録のときに replaces を指定します。'],
    ['The last second factor cannot be removed.', 'Changing phones: replace the old authenticator app with the new one (enrol with replaces).']),
  'totp-already-enrolled': generic('customer',
    ['認証アプリはすでに登録されています。', '機種変更の場合は、古いアプリかパスキー、またはリカバリーコードで承認して、新しい端末の認証アプリに置き換えてください。'],
    ['An authenticator app is already enrolled.', 'Changing phones: approve with the old app, a passkey or a recovery code, then replace it with the new phone\'s app.']),
  'nothing-to-replace': generic('customer',
    ['置き換える認証アプリが見つかりません。', '登録済みの認証方法を確認し、replaces を付けずに登録してください。'],
    ['There is no such authenticator app to replace.', 'Check your factors (GET /v1/factors) and enrol without replaces.']),
  'enrollment-expired': generic('customer',
    ['登録の有効期限が切れました。', '最初から登録をやり直してください。'],
    ['This enrolment can no longer be completed.', 'Start the enrolment again.']),
  'email-code-required': generic('customer',
    ['メールによる確認が必要です。', 'メールで確認コードを受け取り、入力してからもう一度お試しください。'],
    ['Confirm with a code from your e-mail first.', 'Ask for the code, then send it with this request.']),
  'factor-code-rate-limited': retry('customer', '確認コードを短時間に何度も送信しています。', 'Too many codes were sent.'),
  'pay-in-unavailable': generic('customer',
    ['振込先の銀行に接続できません。', '数分後にもう一度お試しください。'],
    ['koza\'s transfer bank cannot be reached.', 'Try again in a few minutes.']),
  'bank-signature-refused': generic('client',
    ['銀行からの通知の署名を確認できませんでした。', '銀行の鍵で署名し（Bank-Signature）、前後60秒以内の時刻と新しい nonce で送ってください。'],
    ['The bank\'s signature on this notice was refused.', 'Sign the call with the bank\'s own key (Bank-Signature), within 60 s of now and with a fresh nonce.']),
  'factor-reset-code-rate-limited': retry('customer', '確認コードを短時間に何度も送信しています。メールをご確認ください。',
    'Too many codes were sent; check your e-mail for the last one.'),
  'factor-reset-not-needed': generic('customer',
    ['このウォレットにはリセットする2段階認証がありません。', 'メールに届くコードでログインし、2段階認証を登録してください。'],
    ['This wallet has no second factor to reset.', 'Sign in with the code we e-mail you, then enrol a second factor.']),
  'factor-reset-needs-identity': generic('customer',
    ['本人確認が済んでいないため、2段階認証をリセットできません。', '別の方法でご本人確認をしますので、サポートへご連絡ください。'],
    ['A factor reset needs a verified identity on file.', 'Contact koza support, who will verify you another way.']),
  'factor-reset-open': waitsUntil('customer',
    ['2段階認証のリセットはすでに進行中です。', (at) => `${at}以降に完了するか、心当たりがなければ取り消してください。`,
      '続きを進めるか、心当たりがなければ取り消してください。'],
    ['A factor reset is already under way.', (at) => `Complete it after ${at}, or cancel it if it was not you.`,
      'Go on with it, or cancel it if it was not you.']),
  'factor-reset-closed': generic('customer',
    ['この2段階認証のリセットは終了しています。', '必要であれば、新しくリセットを始めてください。'],
    ['This factor reset can no longer go on.', 'Start a new reset if you still need one.']),
  'factor-reset-identity-not-confirmed': generic('customer',
    ['登録されているご本人と確認できませんでした。', 'ご本人の本人確認書類と自撮りでもう一度お試しいただくか、サポートへご連絡ください。'],
    ['We could not confirm you are the person on file.', 'Try again with your own identity document and selfie, or contact koza support.']),
  'factor-reset-waiting': waitsUntil('customer',
    ['2段階認証のリセットは待機期間中です。', (at) => `${at}以降にもう一度お試しください。`, '先にご本人確認とメールの確認を済ませてください。'],
    ['The factor reset is still in its waiting period.', (at) => `Come back after ${at}.`, 'Confirm your identity and your e-mail first.']),

  // ── Contact details, identity and limits ──
  'email-change-rate-limited': retry('customer', '確認コードを短時間に何度も送信しています。', 'Too many codes were sent.'),
  'email-in-use': generic('customer',
    ['このメールアドレスは別のウォレットで使われています。', '別のメールアドレスをお使いください。'],
    ['This e-mail address belongs to another wallet.', 'Use another e-mail address.']),
  'phone-code-rate-limited': retry('customer', 'SMSの確認コードを短時間に何度も送信しています。最後に届いたコードもお使いいただけます。',
    'Too many codes were sent; the last code you received still works for a few minutes.'),
  'phone-factor-locked': {
    audience: 'customer',
    ja: (p) => ['誤ったコードの入力が続いたため、電話番号の確認をロックしました。',
      `${retryJa(p)}お心当たりがない場合は、すぐにkozaサポートにご連絡ください。`],
    en: (p) => ['Phone verification is locked after too many wrong codes.', `${retryEn(p)} If it was not you, contact koza support at once.`],
  },
  'phone-in-use': generic('customer',
    ['この電話番号は別のウォレットで確認済みです。', `ご自身の電話番号をお使いください。${SUPPORT_JA}`],
    ['This phone number is verified on another wallet.', `Use your own phone number. ${SUPPORT_EN}`]),
  'verification-attempts-exhausted': retry('customer', '本人確認の試行回数が上限に達しました。お手元の証明書と入力内容をご確認ください。',
    'Too many identity verification attempts; check the details against your card.'),
  'duplicate-identity': generic('customer',
    ['この方はすでに別のウォレットで本人確認済みです。', 'お一人さま1つのウォレットです。お心当たりがない場合はkozaサポートにご連絡ください。'],
    ['This person is already verified for another wallet.', 'One person has one wallet; if it is not yours, contact koza support.']),
  'identity-person-changed': generic('customer',
    ['本人確認済みのウォレットを別の方の情報で確認し直すことはできません。', 'ご本人の証明書をお使いください。'],
    ['A verified wallet cannot be re-verified as a different person.', 'Use your own identity document.']),
  'identity-provider-unavailable': generic('customer',
    ['現在、本人確認を行えません。', 'しばらくしてからもう一度お試しください。'],
    ['Identity verification is not available right now.', 'Try again in a little while.']),
  'identity-immutable': generic('customer',
    ['確認済みの本人情報は変更できません。', '変更が必要な場合はkozaサポートにご連絡ください。'],
    ['A verified identity cannot be edited.', 'Contact koza support if it needs to change.']),
  'limit-exceeded': {
    audience: 'customer',
    ja: (p) => {
      const left = leftOf(p);
      const when = dateOf(p, 'resets_at', 'grows_at');
      if (p.next_action === 'confirm_link_at_bank') {
        return ['この口座は銀行での確認がまだのため、チャージできる金額に上限があります。', '銀行のページで口座登録を確認すると、上限が広がります。'];
      }
      if (p.limit === 'max_balance' && p.limit_yen === 0) return ['このウォレットはまだお金を保有できません。', '本人確認を完了してください。'];
      return ['ウォレットの上限を超えるため、この金額では行えません。', `${left ? `${left}以下の金額でお試しください。` : ''}`
        + `${when ? `${jaJstTime(when)}以降は上限が回復します。` : ''}` || '金額を減らしてもう一度お試しください。'];
    },
    en: (p) => {
      const left = leftOf(p);
      const when = dateOf(p, 'resets_at', 'grows_at');
      if (p.next_action === 'confirm_link_at_bank') {
        return ['This bank account is not confirmed at the bank yet, so charges from it are capped.', 'Confirm the link at your bank\'s page to raise the cap.'];
      }
      if (p.limit === 'max_balance' && p.limit_yen === 0) return ['This wallet cannot hold money yet.', 'Verify your identity first.'];
      return ['This would exceed a wallet limit.', [left ? `Use at most ${left} now.` : '', when ? `The limit is back after ${enJstTime(when)}.` : '']
        .filter(Boolean).join(' ') || 'Use a smaller amount and try again.'];
    },
  },
  'money-out-limited-after-contact-change': {
    audience: 'customer',
    ja: (p) => {
      const until = dateOf(p, 'until');
      const left = leftOf(p);
      return ['電話番号またはメールアドレスの変更直後のため、支払いと出金の金額を制限しています。',
        `${left ? `現在は${left}までご利用いただけます。` : ''}${until ? `${jaJstTime(until)}以降は通常どおりご利用いただけます。` : ''}`
        + 'ご自身で変更していない場合は、すぐにkozaサポートにご連絡ください。'];
    },
    en: (p) => {
      const until = dateOf(p, 'until');
      const left = leftOf(p);
      return ['Payments and withdrawals are limited just after a phone or e-mail change.',
        `${left ? `Up to ${left} is available now. ` : ''}${until ? `The limit ends at ${enJstTime(until)}. ` : ''}`
        + 'If you did not make the change, contact koza support at once.'];
    },
  },

  // ── Merchants ──
  'business-already-onboarded': generic('merchant',
    ['この事業者はすでにkozaの加盟店として登録されています。', '登録済みの加盟店アカウントをお使いください。'],
    ['This business already has a koza merchant.', 'Use the existing merchant account.']),
  'business-check-failed': generic('merchant',
    ['事業者情報を確認できませんでした。', '法人番号や登録内容をお確かめのうえ、もう一度お申し込みください。'],
    ['The business could not be verified.', 'Check the corporate number and the registered details, then apply again.']),
  'refund-exceeds-payment': {
    audience: 'merchant',
    ja: (p) => ['返金額が、返金可能な支払額を超えています。', `${yenOf(p, 'refundable') ?? '返金可能な残額'}以内で返金してください。`],
    en: (p) => ['The refund is larger than what remains of the payment.', `Refund at most ${yenOf(p, 'refundable') ?? 'what remains of it'}.`],
  },
  'merchant-funds-too-low': {
    audience: 'merchant',
    ja: (p) => {
      const available = yenOf(p, 'available_yen');
      const next = dateOf(p, 'next_release_at');
      return [`加盟店の利用可能残高${available ? `（${available}）` : ''}が足りません。`,
        next ? `保留中の売上は${jaJstTime(next)}以降に利用可能になります。その後にもう一度お試しください。` : '売上の入金後にもう一度お試しください。'];
    },
    en: (p) => {
      const available = yenOf(p, 'available_yen');
      const next = dateOf(p, 'next_release_at');
      return [`The merchant's available balance${available ? ` (${available})` : ''} is too low.`,
        next ? `Held payments become available from ${enJstTime(next)}; try again then.` : 'Receive payments first, then try again.'];
    },
  },
  'merchant-has-no-owner': generic('merchant',
    ['この加盟店には出金先となる確認済みの代表者がいません。', 'kozaサポートにご連絡ください。'],
    ['This merchant has no verified owner to pay out to.', 'Contact koza support.']),

  // ── Operators (the admin console) ──
  'alert-already-acknowledged': generic('operator',
    ['このアラートは別の担当者が対応済みです。', '一覧を更新して現在の状態をご確認ください。'],
    ['Another analyst has acknowledged this alert.', 'Refresh the queue.']),
  'risk-rule-file-invalid': generic('operator',
    ['ルールファイルに誤りがあります。', '表示された箇所を修正してから読み込み直してください。'],
    ['The rule file is not valid.', 'Fix the places named in the details, then load it again.']),
};

/** The sentence and the next step for a problem, in both languages; a code with no entry gets a plain "contact support". */
export function nextStepFor(problem: Problem): { message: NextStep; next_step: NextStep } {
  const code = problem.type.startsWith('urn:koza:problem:') ? problem.type.slice('urn:koza:problem:'.length) : problem.type;
  const entry = NEXT_STEPS[code];
  if (!entry) {
    return {
      message: { ja: 'この操作は完了できませんでした。', en: problem.title },
      next_step: { ja: SUPPORT_JA, en: SUPPORT_EN },
    };
  }
  const ja = typeof entry.ja === 'function' ? entry.ja(problem) : entry.ja;
  const en = typeof entry.en === 'function' ? entry.en(problem) : entry.en;
  return { message: { ja: ja[0], en: en[0] }, next_step: { ja: ja[1], en: en[1] } };
}

/** The problem with `message` and `next_step` ({ ja, en }) filled in from its code and extensions. */
export function withNextStep(problem: Problem): Problem {
  return { ...problem, ...nextStepFor(problem) };
}
