// A holder at a sandbox bank's own pages, driven with fetch and cookies on both storage backends: the redirect link
// (sign in, the bank's OTP, consent, back to the wallet with code, state and iss), the code's single use, 60 s life and
// PKCE, CSRF refusals, then the passbook showing KOZA, the inbox and the report of a debit the holder does not recognise.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { forEachBackend } from '../../../test-support/backends.js';
import {
  TestBrowser, answered, consentAtBank, hiddenFields, pkcePair, refusedCode, startTestBankSandbox, testBankClient,
} from '../../../test-support/bank-client-for-tests.js';
import type { BankClient } from '../../banks/client.js';
import type { LinkCompleted } from '../../banks/protocol.js';
import type { SandboxHolderAccount } from './admin.js';
import type { RunningBankSandbox } from './server.js';

const REDIRECT_URI = 'https://wallet.example/links/callback';

forEachBackend('bank sandbox holder pages', (_db, backend) => {
  let sandbox: RunningBankSandbox;
  let client: BankClient;
  let clockOffsetMs = 0;
  const used = new Set<string>();

  before(async () => {
    sandbox = await startTestBankSandbox(backend, { now: () => new Date(Date.now() + clockOffsetMs) });
    client = testBankClient(sandbox.url);
  });
  after(async () => {
    await sandbox.close();
  });

  async function freshHolder(): Promise<SandboxHolderAccount> {
    const holder = (await sandbox.admin.holders({ link_method: 'redirect' }))
      .find((h) => !used.has(`${h.bank_code}/${h.account_number}`));
    assert.ok(holder);
    used.add(`${holder.bank_code}/${holder.account_number}`);
    return holder;
  }

  /** koza's side: push the authorization request, with PKCE and state. */
  async function pushRequest(holder: SandboxHolderAccount, walletRef = 'wal_redirect') {
    const pkce = pkcePair();
    const state = randomUUID();
    const created = answered(await client.createLinkRequest(holder.bank_code, {
      method: 'redirect', wallet_ref: walletRef, claims: { name_kana: holder.name_kana, date_of_birth: holder.date_of_birth },
      redirect_uri: REDIRECT_URI, code_challenge: pkce.challenge, code_challenge_method: 'S256', state,
    }, randomUUID()));
    return { created, pkce, state };
  }

  async function consent(holder: SandboxHolderAccount, authorizationUrl: string, decision: 'approve' | 'deny' = 'approve') {
    return consentAtBank(new TestBrowser(sandbox.url), authorizationUrl, holder,
      () => sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code), decision);
  }

  async function linkByRedirect(holder: SandboxHolderAccount): Promise<LinkCompleted> {
    const { created, pkce } = await pushRequest(holder);
    const back = await consent(holder, created.authorization_url!);
    return answered(await client.completeLinkRequest(holder.bank_code, created.link_request_id,
      { code: back.searchParams.get('code')!, code_verifier: pkce.verifier }, randomUUID()));
  }

  describe('redirect linking', () => {
    it('signs the holder in at the bank with its own OTP, asks consent, and returns code, state and iss to the wallet', async () => {
      const holder = await freshHolder();
      const { created, pkce, state } = await pushRequest(holder);
      assert.equal(created.method, 'redirect');
      const authorizationUrl = new URL(created.authorization_url!);
      assert.equal(authorizationUrl.origin + authorizationUrl.pathname, `${sandbox.url}/banks/${holder.bank_code}/authorize`);

      const browser = new TestBrowser(sandbox.url);
      const toSignIn = await browser.get(created.authorization_url!);
      assert.equal(toSignIn.status, 303);
      const signIn = await browser.follow(toSignIn);
      assert.match(signIn.html, /ログイン Sign in/);
      assert.match(signIn.setCookie ?? '', /^bank_session=hst_[^;]+; Path=\/banks\/\d{4}; HttpOnly; SameSite=Lax$/);
      const signInPath = `/banks/${holder.bank_code}/sign-in`;
      const wrong = await browser.post(signInPath, {
        ...hiddenFields(signIn.html), online_id: holder.online_banking.user_id, password: 'not-the-password',
      });
      assert.equal(wrong.status, 401);
      assert.match(wrong.html, /ID or password is not right/);
      const toOtp = await browser.post(signInPath, {
        ...hiddenFields(wrong.html), online_id: holder.online_banking.user_id, password: holder.online_banking.password,
      });
      assert.equal(toOtp.status, 303);
      const otpPage = await browser.follow(toOtp);
      assert.match(otpPage.html, new RegExp(`\\*\\*\\*-\\*\\*\\*\\*-${holder.registered_phone.slice(-4)}`));
      // The sandbox phone shows what the bank texted.
      const phone = await browser.get(`/banks/${holder.bank_code}/sms?phone=${encodeURIComponent(holder.registered_phone)}`);
      const code = /】(\d{6}) /.exec(phone.html)?.[1];
      assert.ok(code);
      assert.equal(code, await sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code));
      const toConsent = await browser.post(`/banks/${holder.bank_code}/otp`, { ...hiddenFields(otpPage.html), otp: code });
      assert.equal(toConsent.status, 303);
      const consentPage = await browser.follow(toConsent);
      assert.match(consentPage.html, /wal_redirect/);
      assert.match(consentPage.html, /take money from this account/);
      // A consent page must not be framed (clickjacking) nor run scripts.
      assert.match(consentPage.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
      assert.equal(consentPage.headers.get('x-frame-options'), 'DENY');
      const back = await browser.post(`/banks/${holder.bank_code}/consent`, { ...hiddenFields(consentPage.html), decision: 'approve' });
      assert.equal(back.status, 303);
      const callback = new URL(back.location!);
      assert.equal(callback.origin + callback.pathname, REDIRECT_URI);
      assert.equal(callback.searchParams.get('state'), state);
      assert.equal(callback.searchParams.get('iss'), `${sandbox.url}/banks/${holder.bank_code}`);

      const linked = answered(await client.completeLinkRequest(holder.bank_code, created.link_request_id,
        { code: callback.searchParams.get('code')!, code_verifier: pkce.verifier }, randomUUID()));
      assert.equal(linked.iss, callback.searchParams.get('iss'));
      assert.equal(linked.account.account_ref, holder.account_ref);
      assert.deepEqual(linked.holder, { name_kana: holder.name_kana, date_of_birth: holder.date_of_birth });
      assert.deepEqual((await sandbox.admin.links(holder)).map((l) => l.method), ['redirect']);
    });

    it('takes a code once: a replayed code is refused and revokes the link made with it', async () => {
      const holder = await freshHolder();
      const { created, pkce } = await pushRequest(holder);
      const back = await consent(holder, created.authorization_url!);
      const exchange = { code: back.searchParams.get('code')!, code_verifier: pkce.verifier };
      const linked = answered(await client.completeLinkRequest(holder.bank_code, created.link_request_id, exchange, randomUUID()));
      assert.equal(refusedCode(await client.completeLinkRequest(holder.bank_code, created.link_request_id, exchange, randomUUID())),
        'invalid_grant');
      const debit = answered(await client.debit(holder.bank_code, {
        link_token: linked.link_token, amount: 100, descriptor: 'KOZA X', reference: `chg_${randomUUID()}`,
      }, randomUUID()));
      assert.equal(debit.reason, 'link_revoked');
    });

    it('refuses a code after 60 seconds', async () => {
      const holder = await freshHolder();
      const { created, pkce } = await pushRequest(holder);
      const back = await consent(holder, created.authorization_url!);
      clockOffsetMs = 61_000;
      try {
        assert.equal(refusedCode(await client.completeLinkRequest(holder.bank_code, created.link_request_id,
          { code: back.searchParams.get('code')!, code_verifier: pkce.verifier }, randomUUID())), 'invalid_grant');
      } finally {
        clockOffsetMs = 0;
      }
    });

    it('refuses a wrong PKCE verifier and burns the code, so the right verifier comes too late', async () => {
      const holder = await freshHolder();
      const { created, pkce } = await pushRequest(holder);
      const back = await consent(holder, created.authorization_url!);
      const code = back.searchParams.get('code')!;
      assert.equal(refusedCode(await client.completeLinkRequest(holder.bank_code, created.link_request_id,
        { code, code_verifier: pkcePair().verifier }, randomUUID())), 'invalid_grant');
      assert.equal(refusedCode(await client.completeLinkRequest(holder.bank_code, created.link_request_id,
        { code, code_verifier: pkce.verifier }, randomUUID())), 'invalid_grant');
      assert.deepEqual(await sandbox.admin.links(holder), []);
    });

    it('sends a holder who denies back with error=access_denied and links nothing', async () => {
      const holder = await freshHolder();
      const { created, state } = await pushRequest(holder, 'wal_not_mine');
      const back = await consent(holder, created.authorization_url!, 'deny');
      assert.equal(back.searchParams.get('error'), 'access_denied');
      assert.equal(back.searchParams.get('state'), state);
      assert.equal(back.searchParams.get('code'), null);
      assert.deepEqual(await sandbox.admin.links(holder), []);
    });

    it('refuses a redirect request without PKCE S256 or with an unusable redirect_uri', async () => {
      const holder = await freshHolder();
      const base = { method: 'redirect' as const, wallet_ref: 'wal_x', claims: null, redirect_uri: REDIRECT_URI };
      assert.equal(refusedCode(await client.createLinkRequest(holder.bank_code, base, randomUUID())), 'invalid_request');
      assert.equal(refusedCode(await client.createLinkRequest(holder.bank_code, {
        ...base, redirect_uri: 'javascript:alert(1)', code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
      }, randomUUID())), 'invalid_request');
    });
  });

  describe('holder pages', () => {
    it('refuses forms without the session\'s CSRF token, and never redirects off the bank after sign-in', async () => {
      const holder = await freshHolder();
      const browser = new TestBrowser(sandbox.url);
      const signIn = await browser.get(`/banks/${holder.bank_code}/sign-in?next=${encodeURIComponent('https://evil.example/')}`);
      const fields = hiddenFields(signIn.html);
      const credentials = { online_id: holder.online_banking.user_id, password: holder.online_banking.password };
      const forged = await browser.post(`/banks/${holder.bank_code}/sign-in`, { ...fields, ...credentials, csrf: 'forged' });
      assert.equal(forged.status, 403);
      const stranger = await new TestBrowser(sandbox.url).post(`/banks/${holder.bank_code}/sign-in`, { ...fields, ...credentials });
      assert.equal(stranger.status, 403);
      const toOtp = await browser.post(`/banks/${holder.bank_code}/sign-in`, { ...fields, ...credentials });
      assert.equal(toOtp.status, 303);
      // Signing in rotates the session and its CSRF token: the old token is refused.
      const otpPage = await browser.follow(toOtp);
      assert.notEqual(hiddenFields(otpPage.html).csrf, fields.csrf);
      assert.equal((await browser.post(`/banks/${holder.bank_code}/otp`, { ...fields, otp: '000000' })).status, 403);
      const otp = (await sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code))!;
      const done = await browser.post(`/banks/${holder.bank_code}/otp`, { ...hiddenFields(otpPage.html), otp });
      assert.equal(done.status, 303);
      assert.equal(done.location, `/banks/${holder.bank_code}/passbook`);
    });

    it('shows KOZA debits in the passbook, koza\'s message in the inbox, and records a report of an unrecognised debit', async () => {
      const holder = await freshHolder();
      const linked = await linkByRedirect(holder);
      const reference = `chg_${randomUUID()}`;
      answered(await client.debit(holder.bank_code, {
        link_token: linked.link_token, amount: 30_000, descriptor: `KOZA ${reference.slice(4, 16)}`, reference,
      }, randomUUID()));
      answered(await client.notifyHolder(holder.bank_code, {
        link_token: linked.link_token, kind: 'debit', message: `koza charged ¥30,000 (${reference}).`,
      }, randomUUID()));

      const browser = new TestBrowser(sandbox.url);
      const signIn = await browser.follow(await browser.get(`/banks/${holder.bank_code}/passbook`));
      const toOtp = await browser.post(`/banks/${holder.bank_code}/sign-in`, {
        ...hiddenFields(signIn.html), online_id: holder.online_banking.user_id, password: holder.online_banking.password,
      });
      const otpPage = await browser.follow(toOtp);
      const otp = (await sandbox.admin.lastOtp(holder.registered_phone, holder.bank_code))!;
      const passbook = await browser.follow(await browser.post(`/banks/${holder.bank_code}/otp`, { ...hiddenFields(otpPage.html), otp }));
      assert.equal(passbook.status, 200);
      assert.match(passbook.html, new RegExp(`KOZA ${reference.slice(4, 16)}`));
      assert.match(passbook.html, /¥30,000/);
      assert.match(passbook.html, new RegExp(`¥${(holder.balance - 30_000).toLocaleString('en-US')}`));

      const inbox = await browser.get(`/banks/${holder.bank_code}/inbox`);
      assert.match(inbox.html, new RegExp(`koza charged ¥30,000 \\(${reference}\\)`));

      const reportLink = /href="(\/banks\/\d{4}\/report\?line=\d+)"/.exec(passbook.html)?.[1];
      assert.ok(reportLink);
      const form = await browser.get(reportLink);
      assert.match(form.html, /Report a debit/);
      const received = await browser.post(`/banks/${holder.bank_code}/report`, {
        ...hiddenFields(form.html), note: 'I have never heard of koza.',
      });
      assert.equal(received.status, 200);
      const reports = (await sandbox.admin.reports({ bank_code: holder.bank_code })).filter((r) => r.reference === reference);
      assert.equal(reports.length, 1);
      assert.deepEqual(reports[0]!.account, { bank_code: holder.bank_code, branch_code: holder.branch_code, account_number: holder.account_number });
      assert.equal(reports[0]!.note, 'I have never heard of koza.');
      assert.ok(received.html.includes(reports[0]!.id));
      // A report without the CSRF token is not recorded.
      const forged = await browser.post(`/banks/${holder.bank_code}/report`, { csrf: 'x', line: reportLink.split('=')[1]!, note: 'x' });
      assert.equal(forged.status, 403);

      const signOut = await browser.post(`/banks/${holder.bank_code}/sign-out`, hiddenFields(passbook.html));
      assert.equal(signOut.status, 303);
      assert.equal((await browser.get(`/banks/${holder.bank_code}/passbook`)).status, 303);
    });

    it('locks online banking after 5 wrong passwords and tells the holder', async () => {
      const holder = await freshHolder();
      const browser = new TestBrowser(sandbox.url);
      let page = await browser.get(`/banks/${holder.bank_code}/sign-in`);
      for (let i = 0; i < 5; i++) {
        page = await browser.post(`/banks/${holder.bank_code}/sign-in`, {
          ...hiddenFields(page.html), online_id: holder.online_banking.user_id, password: `wrong-${i}`,
        });
        assert.equal(page.status, 401);
      }
      const locked = await browser.post(`/banks/${holder.bank_code}/sign-in`, {
        ...hiddenFields(page.html), online_id: holder.online_banking.user_id, password: holder.online_banking.password,
      });
      assert.equal(locked.status, 401);
      assert.match(locked.html, /blocked/);
      assert.equal((await sandbox.admin.inbox(holder))[0]?.kind, 'password_locked');
    });

    it('serves its OpenAPI document with every protocol path', async () => {
      const doc = await (await fetch(`${sandbox.url}/openapi.json`)).json() as { openapi: string; paths: Record<string, unknown> };
      assert.equal(doc.openapi, '3.1.0');
      for (const path of ['/directory', '/banks/{bank_code}/v2/link-requests', '/banks/{bank_code}/v2/link-requests/{link_request_id}/complete',
        '/banks/{bank_code}/v2/links/{link_token}/revoke', '/banks/{bank_code}/v2/notifications', '/banks/{bank_code}/v2/debits',
        '/banks/{bank_code}/v2/credits', '/banks/{bank_code}/v2/transfers/{reference}', '/banks/{bank_code}/v2/statements/{date}']) {
        assert.ok(path in doc.paths, path);
      }
    });
  });
});
