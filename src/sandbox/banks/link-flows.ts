// Owns account linking as a sandbox bank carries it out (SPEC §5.3, §6.2): pushed authorization requests for redirect,
// PIN checks with a lock after 5 failures, the bank's OTP to the phone it has on file, code exchange with PKCE.
// Must never say which of account, PIN or OTP was wrong, nor link an account whose holder did not prove control of it.
import type {
  HolderChannel, HolderNotified, LinkCompleteBody, LinkCompleted, LinkRequestBody, LinkRequestCreated, LinkRevoked, LinkState,
  HolderNotificationBody,
} from '../../banks/protocol.js';
import type { Queryable } from '../../store/db.js';
import { hashToken } from '../../identity/secrets.js';
import type { BankEnv } from './context.js';
import { BankError } from './errors.js';
import {
  AUTHORIZATION_CODE_TTL_MS, MAX_CREDENTIAL_FAILURES, OTP_MAX_ATTEMPTS, OTP_TTL_MS, credentialMatches, maskAccountNumber,
  newBankSecret, newOtpCode, otpHash, otpMatches, pkceMatches,
} from './credentials.js';
import {
  findAuthorizationCode, findLinkByTokenHash, getLinkRequest, insertAuthorizationCode, insertLink, insertLinkRequest,
  insertOtp, latestOtp, markAuthorizationCodeUsed, markPinFailureCounted, recordLinkRequestTry, recordOtpAttempt,
  revokeLink, updateLinkRequest, type LinkRequestRow, type LinkRow, type PinVerdict, confirmLink,
  insertLinkConfirmation,
} from './link-store.js';
import { notifyHolder, sendEmail, sendSms } from './holder-store.js';
import {
  findHolderAccount, getAccount, recordCredentialFailure, resetCredentialFailures, sandboxId, type AccountRow,
} from './store.js';

/** The customer has this long to sign in at the bank and consent. */
export const REDIRECT_REQUEST_TTL_MS = 10 * 60_000;
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

function refuseCredentials(): BankError {
  return new BankError('invalid_credentials', undefined, { keepWrites: true });
}

/** Checks a PIN (or online-banking password); counts failures on the account whichever wallet or session tried. */
export async function checkCredential(
  tx: Queryable, env: BankEnv, account: AccountRow, kind: 'pin' | 'password', given: string,
): Promise<'ok' | 'wrong' | 'locked'> {
  if ((kind === 'pin' ? account.pin_locked_at : account.password_locked_at) !== null) return 'locked';
  if (credentialMatches(account.secret_salt, kind === 'pin' ? account.pin_hash : account.password_hash, given)) {
    await resetCredentialFailures(tx, account.id, kind);
    return 'ok';
  }
  const lockedNow = await recordCredentialFailure(tx, account.id, kind, MAX_CREDENTIAL_FAILURES, env.now);
  if (lockedNow) await notifyLocked(tx, env, account, kind);
  return 'wrong';
}

/** The holder hears of a lock through the bank's own channel: credential testing is visible on day one. */
async function notifyLocked(tx: Queryable, env: BankEnv, account: AccountRow, kind: 'pin' | 'password'): Promise<void> {
  await notifyHolder(tx, {
    bankCode: env.bank.code, accountId: account.id, sender: 'bank', kind: `${kind}_locked`, now: env.now,
    message: kind === 'pin'
      ? '暗証番号の誤入力が続いたため、口座連携を停止しました。お心当たりがない場合は当行までご連絡ください。 '
        + 'Your PIN was entered wrongly too many times; linking this account is blocked. If this was not you, contact us.'
      : 'パスワードの誤入力が続いたため、インターネットバンキングを停止しました。 '
        + 'Your online-banking password was entered wrongly too many times; online banking is blocked.',
  });
}

/** Sends the bank's own one-time code to the phone registered at the bank, saying what it is for. */
export async function sendBankOtp(
  tx: Queryable, env: BankEnv, account: AccountRow, purpose: 'link' | 'sign_in', subjectId: string, walletRef?: string,
): Promise<void> {
  const id = sandboxId('otp');
  const code = newOtpCode();
  await insertOtp(tx, {
    id, bank_code: env.bank.code, account_id: account.id, purpose, subject_id: subjectId, code_hash: otpHash(id, code),
    created_at: env.now, expires_at: new Date(env.now.getTime() + OTP_TTL_MS),
  });
  const what = purpose === 'link'
    ? `ウォレット（${walletRef ?? ''}）との口座連携の確認コードです。 Code to link your account to wallet ${walletRef ?? ''}.`
    : 'ログイン確認コードです。 Your sign-in code.';
  await sendSms(tx, {
    bankCode: env.bank.code, phone: account.registered_phone, now: env.now,
    body: `【${env.bank.name}】${code} ${what} 他人に教えないでください。 Never share it.`,
  });
}

/** Checks the newest OTP of a subject. 'exhausted': the fifth wrong try, or a code past its time: ask for a new one. */
export async function checkOtp(tx: Queryable, env: BankEnv, subjectId: string, given: string): Promise<'ok' | 'wrong' | 'exhausted'> {
  const otp = await latestOtp(tx, subjectId);
  if (!otp || otp.used_at !== null || otp.expires_at <= env.now || otp.attempts >= OTP_MAX_ATTEMPTS) return 'exhausted';
  const right = otpMatches(otp.id, otp.code_hash, given);
  const attempts = await recordOtpAttempt(tx, otp.id, right, env.now);
  if (right) return 'ok';
  return attempts >= OTP_MAX_ATTEMPTS ? 'exhausted' : 'wrong';
}

function assertRedirectUri(uri: string): void {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new BankError('invalid_request', 'redirect_uri must be an absolute URL.');
  }
  if (!['http:', 'https:'].includes(parsed.protocol) || parsed.hash !== '' || parsed.username !== '' || parsed.password !== '') {
    throw new BankError('invalid_request', 'redirect_uri must be an http(s) URL without a fragment or credentials.');
  }
}

export async function createLinkRequest(tx: Queryable, env: BankEnv, body: LinkRequestBody): Promise<LinkRequestCreated> {
  if (!env.bank.linkMethods.includes(body.method)) {
    throw new BankError('method_not_supported', `This bank offers ${env.bank.linkMethods.join(', ')}.`);
  }
  const base = { bank_code: env.bank.code, method: body.method, wallet_ref: body.wallet_ref, claims: body.claims, created_at: env.now };
  if (body.method === 'redirect') {
    if (body.account !== undefined || body.pin !== undefined) {
      throw new BankError('invalid_request', 'A redirect link request carries no account or PIN: the holder signs in at the bank.');
    }
    if (!body.redirect_uri || !body.code_challenge || body.code_challenge_method !== 'S256') {
      throw new BankError('invalid_request', 'redirect needs redirect_uri, code_challenge and code_challenge_method S256.');
    }
    assertRedirectUri(body.redirect_uri);
    const request = await insertLinkRequest(tx, {
      ...base, redirect_uri: body.redirect_uri, code_challenge: body.code_challenge, state: body.state ?? null,
      account_id: null, pin_verdict: null, status: 'pending', expires_at: new Date(env.now.getTime() + REDIRECT_REQUEST_TTL_MS),
    });
    return {
      link_request_id: request.id, method: 'redirect', expires_at: request.expires_at.toISOString(),
      authorization_url: `${env.issuer}/authorize?request_uri=${encodeURIComponent(REQUEST_URI_PREFIX + request.id)}`,
    };
  }
  if (!body.account || body.pin === undefined) throw new BankError('invalid_request', `${body.method} needs account and pin.`);
  // v2: no oracle. The answer below is the same whether the account exists, is closed or locked, and the PIN is
  // right or not; the verdict is kept on the request and judged with the one-time code at completion.
  const account = await findHolderAccount(tx, env.bank.code, body.account.branch_code, body.account.account_number);
  const verdict = pinVerdict(account, body.pin);
  const request = await insertLinkRequest(tx, {
    ...base, redirect_uri: null, code_challenge: null, state: null,
    account_id: verdict === 'no_account' ? null : account!.id, pin_verdict: verdict,
    status: body.method === 'pin_otp' ? 'otp_sent' : 'pending', expires_at: new Date(env.now.getTime() + OTP_TTL_MS),
  });
  // Only the holder's own phone, and only for a right PIN: a wrong PIN bothers nobody. A locked account still gets
  // its code (the lock is told only to whoever can read it: credentials_locked answers a right code).
  if (body.method === 'pin_otp' && verdict === 'right') await sendBankOtp(tx, env, account!, 'link', request.id, body.wallet_ref);
  return { link_request_id: request.id, method: body.method, expires_at: request.expires_at.toISOString() };
}

/** Stands in for an unknown account's PIN, so that every start hashes a PIN once (the same work, the same time). */
const NO_ACCOUNT = { salt: '00'.repeat(16), hash: '' };

/** The PIN's verdict without counting anything: counting happens at completion, once per request. */
function pinVerdict(account: AccountRow | null, pin: string): PinVerdict {
  const open = account !== null && account.closed_at === null;
  const right = credentialMatches(open ? account.secret_salt : NO_ACCOUNT.salt, open ? account.pin_hash : NO_ACCOUNT.hash, pin);
  if (!open) return 'no_account';
  return right ? 'right' : 'wrong';
}

async function exchangeCode(tx: Queryable, env: BankEnv, request: LinkRequestRow, body: LinkCompleteBody): Promise<string | null> {
  if (!body.code || !body.code_verifier) throw new BankError('invalid_grant', 'redirect completes with code and code_verifier.');
  const codeHash = hashToken(body.code);
  const code = await findAuthorizationCode(tx, codeHash);
  if (!code || code.link_request_id !== request.id) throw new BankError('invalid_grant');
  if (code.used_at !== null) {
    // A code presented twice was intercepted (RFC 6749 §4.1.2): the link made from it is revoked too.
    if (code.link_id !== null) await revokeLink(tx, code.link_id, env.now, 'bank');
    throw new BankError('invalid_grant', 'The code was already used; the link made with it is revoked.', { keepWrites: true });
  }
  if (code.expires_at <= env.now) throw new BankError('invalid_grant', 'The code has expired.');
  if (request.status !== 'authorized' || !request.code_challenge || !pkceMatches(body.code_verifier, request.code_challenge)) {
    // Burnt: whoever holds a code without its verifier gets no second guess.
    await markAuthorizationCodeUsed(tx, codeHash, env.now, null);
    throw new BankError('invalid_grant', 'The code verifier does not match.', { keepWrites: true });
  }
  return codeHash;
}

export async function completeLinkRequest(
  tx: Queryable, env: BankEnv, linkRequestId: string, body: LinkCompleteBody,
): Promise<LinkCompleted> {
  const request = await getLinkRequest(tx, env.bank.code, linkRequestId);
  if (!request) throw new BankError('link_request_expired', 'There is no such link request.', { status: 404 });
  // For redirect the code is looked at first, so that a replayed code is caught even on a completed request.
  const codeHash = request.method === 'redirect' ? await exchangeCode(tx, env, request, body) : null;
  if (request.status === 'completed' || request.status === 'failed' || request.status === 'denied' || request.expires_at <= env.now) {
    throw new BankError('link_request_expired');
  }
  if (request.method !== 'redirect') await judgePinRequest(tx, env, request, body);
  if (request.account_id === null) throw new BankError('invalid_grant', 'The holder has not consented.');
  const account = (await getAccount(tx, request.account_id))!;
  const linkToken = newBankSecret('blt');
  // A redirect link's holder signed in at the bank and consented: confirmed at creation. A PIN and a text prove only
  // the phone (a SIM swap passes both), so those links wait for the holder's word on the other contact.
  const signedIn = request.method === 'redirect';
  const link = await insertLink(tx, {
    bank_code: env.bank.code, token_hash: hashToken(linkToken), account_id: account.id, wallet_ref: request.wallet_ref,
    method: request.method, link_request_id: request.id, created_at: env.now,
    holder_confirmed_at: signedIn ? env.now : null, holder_confirmed_via: signedIn ? 'bank_sign_in' : null,
  });
  if (codeHash !== null) await markAuthorizationCodeUsed(tx, codeHash, env.now, link.id);
  await updateLinkRequest(tx, request.id, { status: 'completed', completedAt: env.now });
  if (!signedIn) await sendLinkConfirmation(tx, env, account, link);
  const claimedPhone = request.claims?.phone;
  return {
    link_token: linkToken,
    iss: env.issuer,
    account: {
      branch_code: account.branch_code, account_number_masked: maskAccountNumber(account.account_number),
      account_ref: account.account_ref,
    },
    holder: { name_kana: account.holder_name_kana, date_of_birth: account.date_of_birth },
    // Whether the wallet's verified phone is the one on file, never the number itself.
    phone_matches: claimedPhone === undefined ? null : claimedPhone === account.registered_phone,
    holder_confirmed: signedIn,
  };
}

/**
 * v2: a pin_otp or pin_only completion judges the PIN given at the start and the code together. Wrong PIN, wrong
 * code, unknown or locked account: the same invalid_credentials, and the request stays open for OTP_MAX_ATTEMPTS tries
 * in every case. A wrong PIN counts one failure against the account per request (the lock stays at
 * MAX_CREDENTIAL_FAILURES); credentials_locked answers only a right code on a locked account. Returns when the holder
 * proved both (pin_only: the PIN), with the account's failures reset.
 */
async function judgePinRequest(tx: Queryable, env: BankEnv, request: LinkRequestRow, body: LinkCompleteBody): Promise<void> {
  if (request.method === 'pin_otp' && (!body.otp || request.status !== 'otp_sent')) {
    throw new BankError('invalid_request', 'pin_otp completes with the otp.');
  }
  if (request.method === 'pin_only' && (body.otp !== undefined || body.code !== undefined)) {
    throw new BankError('invalid_request', 'pin_only completes with an empty body.');
  }
  const tries = await recordLinkRequestTry(tx, request.id);
  const account = request.account_id === null ? null : await getAccount(tx, request.account_id, true);
  const open = account !== null && account.closed_at === null;
  if (open && request.pin_verdict === 'wrong' && !request.pin_failure_counted) {
    await markPinFailureCounted(tx, request.id);
    await countPinFailure(tx, env, account);
  }
  // The code is only looked at for a right PIN (no code was sent otherwise); pin_only has none to look at.
  const code = request.method === 'pin_only' ? 'ok' : request.pin_verdict === 'right' && open
    ? await checkOtp(tx, env, request.id, body.otp!) : 'wrong';
  const proved = open && request.pin_verdict === 'right' && code === 'ok';
  if (proved && account.pin_locked_at !== null) {
    await updateLinkRequest(tx, request.id, { status: 'failed' });
    throw new BankError('credentials_locked', undefined, { keepWrites: true });
  }
  if (proved) {
    await resetCredentialFailures(tx, account.id, 'pin');
    return;
  }
  if (tries >= OTP_MAX_ATTEMPTS || code === 'exhausted') await updateLinkRequest(tx, request.id, { status: 'failed' });
  throw refuseCredentials();
}

/** One wrong PIN against the account, whichever wallet tried; the fifth locks it and the holder is told. */
async function countPinFailure(tx: Queryable, env: BankEnv, account: AccountRow): Promise<void> {
  const lockedNow = await recordCredentialFailure(tx, account.id, 'pin', MAX_CREDENTIAL_FAILURES, env.now);
  if (lockedNow && account.pin_locked_at === null) await notifyLocked(tx, env, account, 'pin');
}

/** How long the e-mailed one-tap confirmation works; afterwards the holder confirms by signing in to the bank. */
export const LINK_CONFIRMATION_TTL_MS = 30 * 86_400_000;

/**
 * The one-tap confirmation, e-mailed to the contact the bank holds besides the phone: a page with "confirm" and "this
 * was not me — stop it". A holder with no e-mail on file confirms by signing in (the links page).
 */
async function sendLinkConfirmation(tx: Queryable, env: BankEnv, account: AccountRow, link: LinkRow): Promise<void> {
  if (account.registered_email === null) return;
  const token = newBankSecret('blc');
  await insertLinkConfirmation(tx, {
    tokenHash: hashToken(token), linkId: link.id, now: env.now, expiresAt: new Date(env.now.getTime() + LINK_CONFIRMATION_TTL_MS),
  });
  const url = `${env.issuer}/confirm-link?token=${encodeURIComponent(token)}`;
  await sendEmail(tx, {
    bankCode: env.bank.code, accountId: account.id, address: account.registered_email, now: env.now,
    subject: `【${env.bank.name}】口座連携のご確認 Please confirm a new link to your account`,
    body: `支店 ${account.branch_code} 普通 ${maskAccountNumber(account.account_number)} の口座が、ウォレット（${link.wallet_ref}）と`
      + '連携されました。ご自身の手続きであれば「確認」を、お心当たりがなければ「自分ではない — 停止する」を押してください。\n'
      + `Your account was linked to the wallet ${link.wallet_ref}. If this was you, tap Confirm; if not, tap "This was not me — stop it".\n`
      + `${url}`,
  });
}

/** The holder's word on a link (the e-mailed page, or the links page after signing in). Revoking stops debits at once. */
export async function holderDecides(
  tx: Queryable, env: BankEnv, link: LinkRow, decision: 'confirm' | 'revoke', via: 'bank_sign_in' | 'email',
): Promise<void> {
  if (decision === 'revoke') {
    await revokeLink(tx, link.id, env.now, 'holder');
    await notifyHolder(tx, {
      bankCode: env.bank.code, accountId: link.account_id, sender: 'bank', kind: 'link_revoked_by_holder', now: env.now,
      message: `ウォレット（${link.wallet_ref}）との口座連携を停止しました。以後この連携による引き落としはできません。 `
        + `You stopped the link to wallet ${link.wallet_ref}; no debit can be made through it any more.`,
    });
    return;
  }
  if (await confirmLink(tx, link.id, env.now, via)) {
    await notifyHolder(tx, {
      bankCode: env.bank.code, accountId: link.account_id, sender: 'bank', kind: 'link_confirmed', now: env.now,
      message: `ウォレット（${link.wallet_ref}）との口座連携を確認しました。 You confirmed the link to wallet ${link.wallet_ref}.`,
    });
  }
}

export function linkStateOf(link: LinkRow): LinkState {
  return {
    status: link.revoked_at === null ? 'active' : 'revoked', method: link.method, created_at: link.created_at.toISOString(),
    holder_confirmed_at: link.holder_confirmed_at?.toISOString() ?? null, holder_confirmed_via: link.holder_confirmed_via,
    revoked_at: link.revoked_at?.toISOString() ?? null, revoked_by: link.revoked_by,
  };
}

export async function linkStateByToken(q: Queryable, env: BankEnv, linkToken: string): Promise<LinkState> {
  return linkStateOf(await findLink(q, env, linkToken));
}

/** The holder consented on the bank's page: the request is bound to their account and a code is issued. */
export async function authorizeLinkRequest(
  tx: Queryable, env: BankEnv, request: LinkRequestRow, accountId: string,
): Promise<{ code: string }> {
  const code = newBankSecret('bac');
  await updateLinkRequest(tx, request.id, { status: 'authorized', accountId });
  await insertAuthorizationCode(tx, {
    codeHash: hashToken(code), linkRequestId: request.id, expiresAt: new Date(env.now.getTime() + AUTHORIZATION_CODE_TTL_MS),
  });
  return { code };
}

export async function findLink(tx: Queryable, env: BankEnv, linkToken: string): Promise<LinkRow> {
  const link = await findLinkByTokenHash(tx, env.bank.code, hashToken(linkToken));
  if (!link) throw new BankError('link_not_found');
  return link;
}

export async function revokeLinkByToken(tx: Queryable, env: BankEnv, linkToken: string): Promise<LinkRevoked> {
  const link = await findLink(tx, env, linkToken);
  await revokeLink(tx, link.id, env.now, 'koza');
  return { revoked: true };
}

/**
 * koza's message to the holder, through each channel asked for that the bank has for the holder (inbox always; e-mail
 * when one is on file; SMS to the registered phone). A revoked link can still carry news of its end.
 */
export async function deliverNotification(tx: Queryable, env: BankEnv, body: HolderNotificationBody): Promise<HolderNotified> {
  const link = await findLink(tx, env, body.link_token);
  const account = (await getAccount(tx, link.account_id))!;
  const asked = new Set<HolderChannel>(body.channels ?? ['inbox']);
  const used: HolderChannel[] = [];
  if (asked.has('inbox')) used.push('inbox');
  if (asked.has('email') && account.registered_email !== null) {
    await sendEmail(tx, {
      bankCode: env.bank.code, accountId: account.id, address: account.registered_email, now: env.now,
      subject: `【${env.bank.name}】ウォレットからのお知らせ A message from a wallet linked to your account`,
      body: `${body.message}\nお心当たりがない場合は ${env.issuer}/links で連携を停止できます。 `
        + `If this was not you, stop the link at ${env.issuer}/links.`,
    });
    used.push('email');
  }
  if (asked.has('sms')) {
    await sendSms(tx, { bankCode: env.bank.code, phone: account.registered_phone, now: env.now, body: `【${env.bank.name}】${body.message}` });
    used.push('sms');
  }
  // The inbox keeps a record of every notice, whichever channels carried it.
  await notifyHolder(tx, {
    bankCode: env.bank.code, accountId: link.account_id, sender: 'koza', kind: body.kind, message: body.message, now: env.now, channels: used,
  });
  return { notified: true, channels: used };
}
