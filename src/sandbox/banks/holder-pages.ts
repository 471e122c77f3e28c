// Owns the holder-facing pages of every sandbox bank (SPEC §6.4): sign-in with the bank's own OTP, the consent page
// of a redirect link, the passbook, the inbox, "report a debit I don't recognise", the holder's wallet links (confirm or
// stop in one click, also from the e-mailed one-tap page), plus the sandbox's phone and mailbox.
// Must never accept a form without the session's CSRF token, nor redirect anywhere but the link request's redirect_uri.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { constantTimeEqual, hashToken } from '../../identity/secrets.js';
import type { Queryable } from '../../store/db.js';
import { bankEnv, type BankEnv, type SandboxApp, type SandboxContext } from './context.js';
import { maskAccountNumber, maskPhone, newBankSecret, newCsrfToken } from './credentials.js';
import { hidden, html, page, yen, type Html } from './html.js';
import {
  findHolderSession, insertHolderReport, insertHolderSession, listEmails, listNotifications, listSms, notifyHolder, updateHolderSession,
  type HolderSessionRow,
} from './holder-store.js';
import { REQUEST_URI_PREFIX, authorizeLinkRequest, checkCredential, checkOtp, holderDecides, sendBankOtp } from './link-flows.js';
import {
  findLinkConfirmation, getLinkById, getLinkRequest, listLinks, updateLinkRequest, useLinkConfirmation, type LinkRequestRow, type LinkRow,
} from './link-store.js';
import { BankCode } from './schemas.js';
import { FURIKOMI_REFUSAL_TEXT, KOZA_PAY_IN_BRANCH, sendFurikomi } from './furikomi.js';
import { findAccountByOnlineId, getAccount, getPassbookLine, listPassbook, type AccountRow } from './store.js';
import type { SeededBank } from './seed.js';

const COOKIE = 'bank_session';
const SESSION_TTL_MS = 30 * 60_000;
const HTML_TYPE = 'text/html; charset=utf-8';

/** A refusal shown to the holder as a page. */
export class HolderPageError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function readCookie(request: FastifyRequest, name: string): string | null {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return null;
}

function setSessionCookie(ctx: SandboxContext, reply: FastifyReply, bankCode: string, token: string): void {
  const secure = ctx.publicUrl().startsWith('https:') ? '; Secure' : '';
  void reply.header('set-cookie', `${COOKIE}=${token}; Path=/banks/${bankCode}; HttpOnly; SameSite=Lax${secure}`);
}

async function currentSession(ctx: SandboxContext, request: FastifyRequest, env: BankEnv): Promise<HolderSessionRow | null> {
  const token = readCookie(request, COOKIE);
  return token ? findHolderSession(ctx.db, env.bank.code, hashToken(token), env.now) : null;
}

async function ensureSession(
  ctx: SandboxContext, request: FastifyRequest, reply: FastifyReply, env: BankEnv,
): Promise<HolderSessionRow> {
  const existing = await currentSession(ctx, request, env);
  if (existing) return existing;
  const token = newBankSecret('hst');
  const session = await insertHolderSession(ctx.db, {
    tokenHash: hashToken(token), bankCode: env.bank.code, csrfToken: newCsrfToken(), now: env.now,
    expiresAt: new Date(env.now.getTime() + SESSION_TTL_MS),
  });
  setSessionCookie(ctx, reply, env.bank.code, token);
  return session;
}

/** The session a form was posted from, when its CSRF token is the session's own. */
async function postedSession(
  ctx: SandboxContext, request: FastifyRequest, env: BankEnv, csrf: string,
): Promise<HolderSessionRow> {
  const session = await currentSession(ctx, request, env);
  if (!session || !constantTimeEqual(session.csrf_token, csrf)) {
    throw new HolderPageError(403, 'このフォームは期限切れです。もう一度お試しください。 This form has expired; please start again.');
  }
  return session;
}

/** The signed-in holder's account a form was posted for (CSRF checked). */
async function postedAccountId(ctx: SandboxContext, request: FastifyRequest, env: BankEnv, csrf: string): Promise<string> {
  const session = await postedSession(ctx, request, env, csrf);
  if (session.stage !== 'signed_in' || !session.account_id) throw new HolderPageError(403, 'ログインしてください。 Please sign in.');
  return session.account_id;
}

/** A new token and CSRF token at every privilege change, so a planted session id is worth nothing. */
async function promote(
  ctx: SandboxContext, reply: FastifyReply, env: BankEnv, session: HolderSessionRow, stage: 'otp' | 'signed_in', accountId: string,
): Promise<void> {
  const token = newBankSecret('hst');
  await updateHolderSession(ctx.db, session.id, {
    stage, accountId, tokenHash: hashToken(token), csrfToken: newCsrfToken(), expiresAt: new Date(env.now.getTime() + SESSION_TTL_MS),
  });
  setSessionCookie(ctx, reply, env.bank.code, token);
}

/** Only a path of this bank's pages: never an open redirect. */
function safeNext(bankCode: string, next: string | undefined): string {
  const base = `/banks/${bankCode}/`;
  if (next && next.startsWith(base) && !next.includes('//') && !next.includes('\\') && /^[\x21-\x7e]+$/.test(next)) return next;
  return `${base}passbook`;
}

/** No framing (a consent page in a hidden frame is clickjacking), no scripts, no caching of a passbook. */
const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export function sendPage(reply: FastifyReply, markup: string, status = 200): FastifyReply {
  return reply.code(status).type(HTML_TYPE).headers(PAGE_HEADERS).send(markup);
}

async function signedInAccount(
  ctx: SandboxContext, request: FastifyRequest, reply: FastifyReply, env: BankEnv,
): Promise<{ session: HolderSessionRow; account: AccountRow } | null> {
  const session = await currentSession(ctx, request, env);
  if (session?.stage === 'signed_in' && session.account_id) {
    return { session, account: (await getAccount(ctx.db, session.account_id))! };
  }
  void reply.redirect(`/banks/${env.bank.code}/sign-in?next=${encodeURIComponent(request.url)}`, 303);
  return null;
}

function signInForm(bank: SeededBank, session: HolderSessionRow, next: string, error?: string): string {
  return page(bank, 'ログイン Sign in', html`
    ${error ? html`<p class="error">${error}</p>` : ''}
    <form method="post" action="/banks/${bank.code}/sign-in">
      ${hidden({ csrf: session.csrf_token, next })}
      <label for="online_id">ログインID Online-banking ID</label><input id="online_id" name="online_id" autocomplete="username" required>
      <label for="password">パスワード Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
      <button type="submit">ログイン Sign in</button>
    </form>`);
}

function otpForm(bank: SeededBank, session: HolderSessionRow, account: AccountRow, next: string, error?: string): string {
  return page(bank, '確認コード One-time code', html`
    ${error ? html`<p class="error">${error}</p>` : ''}
    <p>ご登録の電話番号 ${maskPhone(account.registered_phone)} に確認コードを送りました。
      We sent a code to the phone registered with us.</p>
    <p class="note">サンドボックス: <a href="/banks/${bank.code}/sms?phone=${encodeURIComponent(account.registered_phone)}">この電話の SMS を見る
      (sandbox phone)</a></p>
    <form method="post" action="/banks/${bank.code}/otp">
      ${hidden({ csrf: session.csrf_token, next })}
      <label for="otp">確認コード Code</label><input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" required>
      <button type="submit">確認 Verify</button>
    </form>`);
}

function consentPage(bank: SeededBank, session: HolderSessionRow, account: AccountRow, request: LinkRequestRow): string {
  return page(bank, '口座連携の確認 Link your account?', html`
    <p>ウォレット <strong>${request.wallet_ref}</strong>（koza）が、次の口座との連携を求めています。<br>
      The wallet <strong>${request.wallet_ref}</strong> (koza) asks to link this account.</p>
    <p>口座 Account: ${bank.name} 支店 ${account.branch_code} 普通 ${maskAccountNumber(account.account_number)}</p>
    <p>連携すると、このウォレットは次のことができます。 If you approve, this wallet may:</p>
    <ul class="scopes">
      <li>口座からの引き落とし（チャージ） — take money from this account (charges), shown in your passbook as KOZA</li>
      <li>口座への入金（出金・補償） — pay money into this account (withdrawals, compensation)</li>
      <li>お名前（カナ）と生年月日の確認 — read your name (kana) and date of birth</li>
    </ul>
    <p class="note">ご自身で始めた手続きでなければ「拒否」を押してください。 If you did not start this yourself, choose Deny.</p>
    <form method="post" action="/banks/${bank.code}/consent">
      ${hidden({ csrf: session.csrf_token, request_uri: REQUEST_URI_PREFIX + request.id })}
      <button type="submit" name="decision" value="approve">承認 Approve</button>
      <button type="submit" name="decision" value="deny" class="secondary">拒否 Deny</button>
    </form>`, { signedIn: true });
}

function dateTime(at: Date): string {
  return new Date(at.getTime() + 9 * 3_600_000).toISOString().slice(0, 16).replace('T', ' ');
}

/** The link an e-mailed confirmation token is for, with its account; a page that says so otherwise. */
async function confirmationOf(
  q: Queryable, env: BankEnv, token: string, lock = false,
): Promise<{ link: LinkRow; account: AccountRow }> {
  const confirmation = await findLinkConfirmation(q, hashToken(token), lock);
  const link = confirmation && await getLinkById(q, env.bank.code, confirmation.link_id);
  if (!confirmation || !link || (confirmation.expires_at <= env.now && confirmation.used_at === null)) {
    throw new HolderPageError(404, 'このリンクは無効か期限切れです。当行にログインして「ウォレット連携」から確認できます。 '
      + 'This link is not valid or has expired; sign in to the bank and use Wallet links instead.');
  }
  return { link, account: (await getAccount(q, link.account_id))! };
}

/** A redirect link request the holder may still act on; anything else is a page that says so. */
async function openRedirectRequest(q: Queryable, env: BankEnv, requestUri: string): Promise<LinkRequestRow> {
  const id = requestUri.startsWith(REQUEST_URI_PREFIX) ? requestUri.slice(REQUEST_URI_PREFIX.length) : '';
  const request = id ? await getLinkRequest(q, env.bank.code, id) : null;
  if (!request || request.method !== 'redirect' || request.status !== 'pending' || request.expires_at <= env.now) {
    throw new HolderPageError(400, 'この連携リクエストは無効か期限切れです。 This link request is not valid or has expired.');
  }
  return request;
}

/** Where the holder goes back to the wallet: the registered redirect_uri with the answer (RFC 6749 §4.1.2, RFC 9207 iss). */
function redirectBack(request: LinkRequestRow, env: BankEnv, answer: Record<string, string>): string {
  const target = new URL(request.redirect_uri!);
  for (const [key, value] of Object.entries({ ...answer, ...(request.state ? { state: request.state } : {}), iss: env.issuer })) {
    target.searchParams.set(key, value);
  }
  return target.toString();
}

const METHOD_LABEL: Record<string, string> = {
  redirect: '当行ログイン bank sign-in', pin_otp: '暗証番号＋SMS PIN and text', pin_only: '暗証番号のみ PIN only',
};

function linkStatus(link: LinkRow): string {
  if (link.revoked_at !== null) return `停止済み Stopped ${dateTime(link.revoked_at)}${link.revoked_by === 'holder' ? '（お客さま you）' : ''}`;
  if (link.holder_confirmed_at !== null) return `確認済み Confirmed ${dateTime(link.holder_confirmed_at)}`;
  return '未確認 Not confirmed';
}

/** The e-mailed one-tap page: what was linked, and two buttons (GET only shows it; the POST acts). */
function confirmationPage(bank: SeededBank, account: AccountRow, link: LinkRow, token: string): string {
  const open = link.revoked_at === null;
  return page(bank, '口座連携のご確認 Confirm a wallet link', html`
    <p>口座 Account: ${bank.name} 支店 ${account.branch_code} 普通 ${maskAccountNumber(account.account_number)}</p>
    <p>ウォレット Wallet: <strong>${link.wallet_ref}</strong>（koza）— ${METHOD_LABEL[link.method] ?? link.method} — ${dateTime(link.created_at)}</p>
    <p>状態 Status: <strong>${linkStatus(link)}</strong></p>
    ${open ? html`
    <p>ご自身で連携した場合は「確認」を押してください。確認するまで、このウォレットが引き落とせる金額は小さく制限されます。<br>
      If you linked it yourself, tap Confirm: until you do, the wallet can take only a small amount.</p>
    <p>お心当たりがない場合は「自分ではない — 停止する」を押してください。直ちに引き落としが止まります。<br>
      If this was not you, tap "This was not me — stop it": debits stop at once.</p>
    <form method="post" action="/banks/${bank.code}/confirm-link">
      ${hidden({ token })}
      <button type="submit" name="decision" value="confirm">確認 Confirm</button>
      <button type="submit" name="decision" value="revoke" class="secondary">自分ではない — 停止する This was not me — stop it</button>
    </form>` : ''}`);
}

/** The signed-in holder's wallet links, each with one-click confirm (when unconfirmed) and stop. */
function linksPage(bank: SeededBank, session: HolderSessionRow, links: LinkRow[], notice?: string): string {
  const rows: Html[] = links.map((l) => html`<tr><td>${dateTime(l.created_at)}</td><td>${l.wallet_ref}</td>
    <td>${METHOD_LABEL[l.method] ?? l.method}</td><td>${linkStatus(l)}</td><td>${l.revoked_at === null ? html`
      <form method="post" action="/banks/${bank.code}/links/${l.id}">${hidden({ csrf: session.csrf_token })}
        ${l.holder_confirmed_at === null ? html`<button type="submit" name="decision" value="confirm">確認 Confirm</button>` : ''}
        <button type="submit" name="decision" value="revoke" class="secondary">停止 Stop</button></form>` : ''}</td></tr>`);
  return page(bank, 'ウォレット連携 Wallet links', html`
    ${notice ? html`<p class="note">${notice}</p>` : ''}
    ${links.length === 0 ? html`<p>連携はありません。 No wallet links.</p>` : html`
    <table><thead><tr><th>連携日時 Linked (JST)</th><th>ウォレット Wallet</th><th>方法 Method</th><th>状態 Status</th><th></th></tr></thead>
    <tbody>${rows}</tbody></table>`}`, { signedIn: true });
}

export function renderHolderError(ctx: SandboxContext, bankCode: string, message: string): string | null {
  const bank = ctx.banks.get(bankCode);
  return bank ? page(bank, 'エラー Error', html`<p class="error">${message}</p><p><a href="/banks/${bank.code}/">戻る Back</a></p>`) : null;
}

export function registerHolderPages(app: SandboxApp, ctx: SandboxContext): void {
  const Params = Type.Object({ bank_code: BankCode });
  const tags = ['holder pages'];
  const Csrf = Type.String({ minLength: 1, maxLength: 64 });
  const NextQuery = Type.Object({ next: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false });

  /** A page for the signed-in holder; anyone else is sent to sign in first, and comes back here after. */
  async function holderPage(
    request: FastifyRequest<{ Params: { bank_code: string } }>, reply: FastifyReply,
    render: (env: BankEnv, signedIn: { session: HolderSessionRow; account: AccountRow }) => Promise<string>,
  ): Promise<FastifyReply> {
    const env = bankEnv(ctx, request.params.bank_code);
    const signedIn = await signedInAccount(ctx, request, reply, env);
    return signedIn ? sendPage(reply, await render(env, signedIn)) : reply;
  }

  app.get('/banks/:bank_code/', { schema: { tags, summary: 'Bank home: passbook when signed in', params: Params } },
    async (request, reply) => {
      const env = bankEnv(ctx, request.params.bank_code);
      const session = await currentSession(ctx, request, env);
      return reply.redirect(`/banks/${env.bank.code}/${session?.stage === 'signed_in' ? 'passbook' : 'sign-in'}`, 303);
    });

  app.get('/banks/:bank_code/sign-in', {
    schema: { tags, summary: 'Online-banking sign-in page', params: Params, querystring: NextQuery },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const session = await ensureSession(ctx, request, reply, env);
    return sendPage(reply, signInForm(env.bank, session, safeNext(env.bank.code, request.query.next)));
  });

  app.post('/banks/:bank_code/sign-in', {
    schema: {
      tags, summary: 'Sign in with the online-banking ID and password; the bank then texts a code to the registered phone',
      params: Params,
      body: Type.Object({
        csrf: Csrf, online_id: Type.String({ maxLength: 64 }), password: Type.String({ maxLength: 128 }),
        next: Type.Optional(Type.String({ maxLength: 2000 })),
      }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const session = await postedSession(ctx, request, env, request.body.csrf);
    const next = safeNext(env.bank.code, request.body.next);
    const outcome = await ctx.db.transaction(async (tx) => {
      const account = await findAccountByOnlineId(tx, env.bank.code, request.body.online_id.trim());
      if (!account || account.closed_at !== null) return 'wrong';
      const verdict = await checkCredential(tx, env, account, 'password', request.body.password);
      if (verdict === 'ok') await sendBankOtp(tx, env, account, 'sign_in', session.id);
      return verdict === 'ok' ? account : verdict;
    });
    if (outcome === 'wrong' || outcome === 'locked') {
      const message = outcome === 'locked'
        ? 'パスワードの誤入力が続いたため、ご利用を停止しています。 Online banking is blocked after too many wrong passwords.'
        : 'ログインIDまたはパスワードが違います。 The ID or password is not right.';
      return sendPage(reply, signInForm(env.bank, session, next, message), 401);
    }
    await promote(ctx, reply, env, session, 'otp', outcome.id);
    return reply.redirect(`/banks/${env.bank.code}/otp?next=${encodeURIComponent(next)}`, 303);
  });

  app.get('/banks/:bank_code/otp', {
    schema: { tags, summary: 'Enter the code the bank texted to the registered phone', params: Params, querystring: NextQuery },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const session = await currentSession(ctx, request, env);
    if (session?.stage !== 'otp' || !session.account_id) return reply.redirect(`/banks/${env.bank.code}/sign-in`, 303);
    const account = (await getAccount(ctx.db, session.account_id))!;
    return sendPage(reply, otpForm(env.bank, session, account, safeNext(env.bank.code, request.query.next)));
  });

  app.post('/banks/:bank_code/otp', {
    schema: {
      tags, summary: 'Verify the sign-in code', params: Params,
      body: Type.Object({ csrf: Csrf, otp: Type.String({ maxLength: 16 }), next: Type.Optional(Type.String({ maxLength: 2000 })) },
        { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const session = await postedSession(ctx, request, env, request.body.csrf);
    if (session.stage !== 'otp' || !session.account_id) return reply.redirect(`/banks/${env.bank.code}/sign-in`, 303);
    const next = safeNext(env.bank.code, request.body.next);
    const verdict = await ctx.db.transaction((tx) => checkOtp(tx, env, session.id, request.body.otp.trim()));
    if (verdict === 'ok') {
      await promote(ctx, reply, env, session, 'signed_in', session.account_id);
      return reply.redirect(next, 303);
    }
    if (verdict === 'exhausted') {
      await updateHolderSession(ctx.db, session.id, { stage: 'anonymous', accountId: null });
      return sendPage(reply, signInForm(env.bank, session, next,
        '確認コードが無効になりました。もう一度ログインしてください。 The code is no longer valid; please sign in again.'), 401);
    }
    const account = (await getAccount(ctx.db, session.account_id))!;
    return sendPage(reply, otpForm(env.bank, session, account, next, '確認コードが違います。 The code is not right.'), 401);
  });

  app.get('/banks/:bank_code/authorize', {
    schema: {
      tags, summary: 'Where koza sends the customer for a redirect link: sign in at the bank, then consent',
      params: Params, querystring: Type.Object({ request_uri: Type.String({ maxLength: 200 }) }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const linkRequest = await openRedirectRequest(ctx.db, env, request.query.request_uri);
    const signedIn = await signedInAccount(ctx, request, reply, env);
    if (!signedIn) return reply;
    return sendPage(reply, consentPage(env.bank, signedIn.session, signedIn.account, linkRequest));
  });

  app.post('/banks/:bank_code/consent', {
    schema: {
      tags, summary: 'Approve or deny a link; back to the wallet\'s redirect_uri with code (or error), state and iss',
      params: Params,
      body: Type.Object({
        csrf: Csrf, request_uri: Type.String({ maxLength: 200 }),
        decision: Type.Union([Type.Literal('approve'), Type.Literal('deny')]),
      }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const accountId = await postedAccountId(ctx, request, env, request.body.csrf);
    const target = await ctx.db.transaction(async (tx) => {
      const linkRequest = await openRedirectRequest(tx, env, request.body.request_uri);
      if (request.body.decision === 'deny') {
        await updateLinkRequest(tx, linkRequest.id, { status: 'denied' });
        return redirectBack(linkRequest, env, { error: 'access_denied' });
      }
      const { code } = await authorizeLinkRequest(tx, env, linkRequest, accountId);
      return redirectBack(linkRequest, env, { code });
    });
    return reply.redirect(target, 303);
  });

  app.get('/banks/:bank_code/passbook', {
    schema: { tags, summary: 'The passbook: every debit and credit with its descriptor and the balance after it', params: Params },
  }, async (request, reply) => holderPage(request, reply, async (env, signedIn) => {
    const lines = await listPassbook(ctx.db, signedIn.account.id);
    const base = `/banks/${env.bank.code}`;
    const rows: Html[] = lines.map((line) => html`<tr><td>${dateTime(line.booked_at)}</td><td>${line.descriptor}</td>
      <td class="num">${line.withdrawal ? yen(line.withdrawal) : ''}</td><td class="num">${line.deposit ? yen(line.deposit) : ''}</td>
      <td class="num">${yen(line.balance_after)}</td>
      <td>${line.withdrawal ? html`<a href="${base}/report?line=${line.seq}">心当たりがない Don't recognise</a>` : ''}</td></tr>`);
    return page(env.bank, '通帳 Passbook', html`
      <p>${signedIn.account.holder_name_kanji ?? ''} 様 — 支店 ${signedIn.account.branch_code} 普通 ${signedIn.account.account_number}</p>
      <p>残高 Balance: <strong>${yen(signedIn.account.balance)}</strong></p>
      <table><thead><tr><th>日時 Date (JST)</th><th>お取引内容 Description</th><th>お引出し Withdrawal</th><th>お預入れ Deposit</th>
      <th>残高 Balance</th><th></th></tr></thead><tbody>${rows}</tbody></table>
      <p><a href="${base}/transfer">振込 Transfer</a></p>
      <form method="post" action="${base}/sign-out">${hidden({ csrf: signedIn.session.csrf_token })}
        <button type="submit" class="secondary">ログアウト Sign out</button></form>`, { signedIn: true });
  }));

  app.get('/banks/:bank_code/inbox', {
    schema: { tags, summary: 'The holder\'s inbox: messages from the bank and, through it, from wallets', params: Params },
  }, async (request, reply) => holderPage(request, reply, async (env, signedIn) => {
    const messages = await listNotifications(ctx.db, signedIn.account.id);
    const items: Html[] = messages.map((m) => html`<tr><td>${dateTime(m.created_at)}</td>
      <td>${m.sender === 'bank' ? env.bank.name : 'koza（当行経由 via the bank）'}</td><td>${m.message}</td></tr>`);
    return page(env.bank, 'お知らせ Inbox', messages.length === 0
      ? html`<p>お知らせはありません。 No messages.</p>`
      : html`<table><thead><tr><th>日時 Date</th><th>差出人 From</th><th>内容 Message</th></tr></thead><tbody>${items}</tbody></table>`,
    { signedIn: true });
  }));

  app.get('/banks/:bank_code/report', {
    schema: {
      tags, summary: 'Report a debit you do not recognise', params: Params,
      querystring: Type.Object({ line: Type.String({ pattern: '^[0-9]{1,15}$' }) }, { additionalProperties: false }),
    },
  }, async (request, reply) => holderPage(request, reply, async (env, signedIn) => {
    const line = await getPassbookLine(ctx.db, signedIn.account.id, Number(request.query.line));
    if (!line || line.withdrawal === 0) throw new HolderPageError(404, 'この明細は見つかりません。 No such withdrawal.');
    return page(env.bank, '心当たりのない引き落とし Report a debit', html`
      <p>${dateTime(line.booked_at)} — <strong>${line.descriptor}</strong> — ${yen(line.withdrawal)}</p>
      <form method="post" action="/banks/${env.bank.code}/report">
        ${hidden({ csrf: signedIn.session.csrf_token, line: String(line.seq) })}
        <label for="note">ご状況 What happened?</label>
        <textarea id="note" name="note" rows="4" maxlength="2000">このウォレットを使ったことがありません。 I have never used this wallet.</textarea>
        <button type="submit">報告する Report</button>
      </form>`, { signedIn: true });
  }));

  app.post('/banks/:bank_code/report', {
    schema: {
      tags, summary: 'Record the report of an unrecognised debit', params: Params,
      body: Type.Object({ csrf: Csrf, line: Type.String({ pattern: '^[0-9]{1,15}$' }), note: Type.String({ maxLength: 2000 }) },
        { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const accountId = await postedAccountId(ctx, request, env, request.body.csrf);
    const report = await ctx.db.transaction(async (tx) => {
      const line = await getPassbookLine(tx, accountId, Number(request.body.line));
      if (!line || line.withdrawal === 0) throw new HolderPageError(404, 'この明細は見つかりません。 No such withdrawal.');
      const saved = await insertHolderReport(tx, {
        bank_code: env.bank.code, account_id: accountId, passbook_seq: line.seq, reference: line.reference,
        note: request.body.note.trim() || '(no note)', created_at: env.now,
      });
      await notifyHolder(tx, {
        bankCode: env.bank.code, accountId, sender: 'bank', kind: 'report_received', now: env.now,
        message: `ご報告を受け付けました（受付番号 ${saved.id}）。${line.descriptor} ${yen(line.withdrawal)} `
          + `We received your report (${saved.id}) about ${line.descriptor}.`,
      });
      return saved;
    });
    return sendPage(reply, page(env.bank, '受け付けました Report received', html`
      <p>受付番号 Reference: <strong>${report.id}</strong></p>
      <p>当行とウォレット事業者で調査します。 The bank and the wallet operator will look into it.</p>
      <p><a href="/banks/${env.bank.code}/passbook">通帳に戻る Back to the passbook</a></p>`, { signedIn: true }));
  });

  const transferForm = (env: BankEnv, session: HolderSessionRow, account: AccountRow, error?: string) => page(env.bank, '振込 Transfer', html`
    ${error ? html`<p class="error">${error}</p>` : ''}
    <p>お振込元 From: 支店 ${account.branch_code} 普通 ${account.account_number} — 残高 Balance ${yen(account.balance)}</p>
    <p>ご依頼人名は当行にご登録のお名前です。 The sender name is your name as the bank holds it.</p>
    <form method="post" action="/banks/${env.bank.code}/transfer">
      ${hidden({ csrf: session.csrf_token })}
      <label for="to_bank_code">振込先金融機関コード Bank code (4 digits)</label>
      <input id="to_bank_code" name="to_bank_code" inputmode="numeric" pattern="[0-9]{4}" required>
      <label for="to_branch_code">支店番号 Branch (3 digits)</label>
      <input id="to_branch_code" name="to_branch_code" inputmode="numeric" pattern="[0-9]{3}" required>
      <label for="to_account_number">口座番号（普通） Account number (7 digits)</label>
      <input id="to_account_number" name="to_account_number" inputmode="numeric" pattern="[0-9]{7}" required>
      <label for="amount">金額（円） Amount (yen)</label>
      <input id="amount" name="amount" inputmode="numeric" pattern="[0-9]{1,8}" required>
      <button type="submit">振り込む Send</button>
    </form>
    <p>ウォレットへの入金は、ウォレットに表示された振込先（支店 ${KOZA_PAY_IN_BRANCH}）へ。 To fund a wallet, use the account it shows
      you (branch ${KOZA_PAY_IN_BRANCH}).</p>`, { signedIn: true });

  app.get('/banks/:bank_code/transfer', {
    schema: { tags, summary: 'Send a transfer (振込) from the signed-in holder\'s account', params: Params },
  }, async (request, reply) => holderPage(request, reply, async (env, signedIn) => transferForm(env, signedIn.session, signedIn.account)));

  app.post('/banks/:bank_code/transfer', {
    schema: {
      tags, summary: 'Book a transfer from the signed-in holder\'s account; a transfer to a koza virtual account is reported to koza',
      params: Params,
      body: Type.Object({
        csrf: Csrf, to_bank_code: Type.String({ maxLength: 8 }), to_branch_code: Type.String({ maxLength: 8 }),
        to_account_number: Type.String({ maxLength: 16 }), amount: Type.String({ maxLength: 16 }),
      }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const accountId = await postedAccountId(ctx, request, env, request.body.csrf);
    const account = (await getAccount(ctx.db, accountId))!;
    const session = (await currentSession(ctx, request, env))!;
    const digits = (value: string) => value.normalize('NFKC').replace(/[\s-]/g, '');
    const to = { bank_code: digits(request.body.to_bank_code), branch_code: digits(request.body.to_branch_code), account_number: digits(request.body.to_account_number) };
    const amount = Number(digits(request.body.amount).replace(/[,¥円]/g, ''));
    if (!/^[0-9]{4}$/.test(to.bank_code) || !/^[0-9]{3}$/.test(to.branch_code) || !/^[0-9]{7}$/.test(to.account_number)
        || !Number.isSafeInteger(amount) || amount < 1) {
      return sendPage(reply, transferForm(env, session, account,
        '金融機関コード4桁・支店番号3桁・口座番号7桁・金額（1円以上）を入力してください。 Enter a 4-digit bank code, 3-digit branch, 7-digit account number and an amount of at least ¥1.'), 400);
    }
    const sent = await ctx.db.transaction((tx) => sendFurikomi(tx, env, new Set(ctx.banks.keys()), accountId, to, amount));
    if (!sent.ok) return sendPage(reply, transferForm(env, session, account, FURIKOMI_REFUSAL_TEXT[sent.reason]), 422);
    // The receiving bank tells koza now; a notice that does not arrive is in the next statement (§10).
    const notified = sent.furikomi.to_virtual ? await ctx.payInNotices.deliver(ctx, sent.furikomi) : false;
    return sendPage(reply, page(env.bank, '振込を受け付けました Transfer sent', html`
      <p>受付番号 Reference: <strong id="furikomi-id">${sent.furikomi.id}</strong></p>
      <p>振込先 To: ${to.bank_code} / ${to.branch_code} / ${to.account_number} ${sent.receiverName}</p>
      <p>金額 Amount: <strong>${yen(amount)}</strong></p>
      <p>ご依頼人 Sender: ${sent.furikomi.sender_name_kana}</p>
      ${sent.furikomi.to_virtual ? html`<p>受取人へ通知${notified ? '済み' : '中'} The receiver ${notified ? 'has been' : 'will be'} told.</p>` : ''}
      <p><a href="/banks/${env.bank.code}/passbook">通帳 Passbook</a></p>`, { signedIn: true }));
  });

  app.post('/banks/:bank_code/sign-out', {
    schema: { tags, summary: 'Sign out', params: Params, body: Type.Object({ csrf: Csrf }, { additionalProperties: false }) },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const session = await postedSession(ctx, request, env, request.body.csrf);
    await updateHolderSession(ctx.db, session.id, { stage: 'anonymous', accountId: null, expiresAt: env.now });
    return reply.redirect(`/banks/${env.bank.code}/sign-in`, 303);
  });

  app.get('/banks/:bank_code/confirm-link', {
    schema: {
      tags, summary: 'The one-tap link confirmation the bank e-mailed: shows the link with Confirm and "This was not me — stop it"',
      params: Params, querystring: Type.Object({ token: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const found = await confirmationOf(ctx.db, env, request.query.token);
    return sendPage(reply, confirmationPage(env.bank, found.account, found.link, request.query.token));
  });

  app.post('/banks/:bank_code/confirm-link', {
    schema: {
      tags, summary: 'Confirm the link, or stop it (debits through it are refused at once)', params: Params,
      body: Type.Object({
        token: Type.String({ minLength: 1, maxLength: 128 }), decision: Type.Union([Type.Literal('confirm'), Type.Literal('revoke')]),
      }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    // The unguessable token in the e-mail is the capability (and the form's CSRF defence): only its reader can post it.
    const done = await ctx.db.transaction(async (tx) => {
      const found = await confirmationOf(tx, env, request.body.token, true);
      await holderDecides(tx, env, found.link, request.body.decision, 'email');
      await useLinkConfirmation(tx, hashToken(request.body.token), env.now, request.body.decision === 'confirm' ? 'confirmed' : 'revoked');
      return { ...found, link: (await getLinkById(tx, env.bank.code, found.link.id))! };
    });
    return sendPage(reply, page(env.bank, request.body.decision === 'confirm' ? '確認しました Confirmed' : '停止しました Stopped', html`
      <p>${request.body.decision === 'confirm'
        ? 'ご確認ありがとうございます。 Thank you: the link is confirmed.'
        : '連携を停止しました。この連携による引き落としはできません。当行またはウォレット事業者にご連絡ください。 '
          + 'The link is stopped: no debit can be made through it. Please contact us or the wallet operator.'}</p>
      <p>状態 Status: <strong>${linkStatus(done.link)}</strong></p>`));
  });

  app.get('/banks/:bank_code/links', {
    schema: { tags, summary: 'The signed-in holder\'s wallet links, with one-click confirm and stop', params: Params },
  }, async (request, reply) => holderPage(request, reply, async (env, signedIn) =>
    linksPage(env.bank, signedIn.session, await listLinks(ctx.db, { accountId: signedIn.account.id, bankCode: env.bank.code }))));

  app.post('/banks/:bank_code/links/:link_id', {
    schema: {
      tags, summary: 'Confirm or stop one of the signed-in holder\'s links (one click)',
      params: Type.Object({ bank_code: BankCode, link_id: Type.String({ maxLength: 64 }) }),
      body: Type.Object({ csrf: Csrf, decision: Type.Union([Type.Literal('confirm'), Type.Literal('revoke')]) }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const accountId = await postedAccountId(ctx, request, env, request.body.csrf);
    await ctx.db.transaction(async (tx) => {
      const link = await getLinkById(tx, env.bank.code, request.params.link_id);
      if (!link || link.account_id !== accountId) throw new HolderPageError(404, 'この連携は見つかりません。 No such link.');
      // Signed in with the bank's password and code: a confirmation the phone alone could not give.
      await holderDecides(tx, env, link, request.body.decision, 'bank_sign_in');
    });
    return reply.redirect(`/banks/${env.bank.code}/links`, 303);
  });

  app.get('/banks/:bank_code/mailbox', {
    schema: {
      tags: ['sandbox'], summary: 'Sandbox mailbox: the e-mail this bank sent to an address, newest first', params: Params,
      querystring: Type.Object({ address: Type.String({ minLength: 3, maxLength: 254 }) }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const messages = await listEmails(ctx.db, { address: request.query.address, bankCode: env.bank.code, limit: 20 });
    const items: Html[] = messages.map((m) => html`<tr><td>${dateTime(m.created_at)}</td><td><strong>${m.subject}</strong><br>
      <pre style="white-space:pre-wrap">${m.body}</pre></td></tr>`);
    return sendPage(reply, page(env.bank, `E-mail → ${request.query.address}`, html`
      <p class="note">サンドボックスのメールボックス — the sandbox's stand-in for the holder's e-mail.</p>
      <table><tbody>${items}</tbody></table>`));
  });

  app.get('/banks/:bank_code/sms', {
    schema: {
      tags: ['sandbox'], summary: 'Sandbox phone: the SMS this bank sent to a number, newest first', params: Params,
      querystring: Type.Object({ phone: Type.String({ pattern: '^\\+[0-9]{6,15}$' }) }, { additionalProperties: false }),
    },
  }, async (request, reply) => {
    const env = bankEnv(ctx, request.params.bank_code);
    const messages = await listSms(ctx.db, { phone: request.query.phone, bankCode: env.bank.code, limit: 20 });
    const items: Html[] = messages.map((m) => html`<tr><td>${dateTime(m.created_at)}</td><td>${m.body}</td></tr>`);
    return sendPage(reply, page(env.bank, `SMS → ${request.query.phone}`, html`
      <p class="note">サンドボックスの携帯電話 — the sandbox's stand-in for the holder's phone.</p>
      <table><tbody>${items}</tbody></table>`));
  });
}
